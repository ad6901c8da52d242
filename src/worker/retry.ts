/**
 * Backoff for retry items. A failed item stays in its bound (so it survives a restart and shows up
 * in status); this only decides when a pass tries it again. After a restart every item is due once.
 */
export class RetryBackoff {
  private readonly state = new Map<string, { attempts: number; nextAtMs: number }>();

  constructor(private readonly baseMs = 1000, private readonly maxMs = 5 * 60_000) {}

  due(name: string, nowMs = Date.now()): boolean {
    const s = this.state.get(name);
    return !s || s.nextAtMs <= nowMs;
  }

  failed(name: string, nowMs = Date.now()): number {
    const attempts = (this.state.get(name)?.attempts ?? 0) + 1;
    const delay = Math.min(this.baseMs * 2 ** (attempts - 1), this.maxMs) * (0.75 + Math.random() / 2);
    this.state.set(name, { attempts, nextAtMs: nowMs + delay });
    return attempts;
  }

  succeeded(name: string): void {
    this.state.delete(name);
  }

  attempts(name: string): number {
    return this.state.get(name)?.attempts ?? 0;
  }
}
