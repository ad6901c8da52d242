/** A zone's clock as its answers reveal it. */

/**
 * The zone's clock minus ours, from an answer's Date header (whole seconds) and the local time
 * the answer arrived. The zone read its clock before answering and truncated it to the second,
 * so this is the earliest offset consistent with the header: window decisions made with it err
 * on the safe side (an entry looks younger, never older, than it is).
 */
export function sourceClockOffsetMs(dateHeader: string | undefined, answeredMs: number): number | undefined {
  if (!dateHeader) return undefined;
  const d = Date.parse(dateHeader);
  return Number.isNaN(d) ? undefined : d - answeredMs;
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
