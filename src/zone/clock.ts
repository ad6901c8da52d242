/**
 * A strictly increasing microsecond clock. Log markers embed it, so two changes must never share a
 * time and a wall clock stepping backwards must not make a new marker sort before an old one.
 */
export class MonotonicClock {
  constructor(private lastUs = 0) {}

  nowUs(): number {
    const wall = Date.now() * 1000;
    this.lastUs = wall > this.lastUs ? wall : this.lastUs + 1;
    return this.lastUs;
  }

  get last(): number {
    return this.lastUs;
  }
}

/** RGW prints times as ISO 8601 with sub-second digits and a Z. */
export function isoFromUs(us: number): string {
  const ms = Math.floor(us / 1000);
  const frac = String(us % 1_000_000).padStart(6, '0');
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${frac}Z`);
}

/** "<sec>.<usec>": the form RGW uses in log ids and for the Rgwx-Mtime header. */
export function secUsec(us: number): string {
  return `${Math.floor(us / 1_000_000)}.${String(us % 1_000_000).padStart(6, '0')}`;
}

/** Parses "<sec>.<frac>" (any number of fraction digits) back to microseconds. */
export function usFromSecFrac(s: string): number | undefined {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(s.trim());
  if (!m) return undefined;
  const frac = (m[2] ?? '').padEnd(6, '0').slice(0, 6);
  return Number(m[1]) * 1_000_000 + Number(frac);
}
