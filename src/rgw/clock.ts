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
