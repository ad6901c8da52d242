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
