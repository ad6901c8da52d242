/**
 * How often a pass asks an idle shard for its head, where each head is one request (RGW). A
 * shard whose head moved, or that has work, is asked every pass; one that stayed put is asked
 * after an interval that doubles from the pass spacing up to `idle_poll_max`, so a source at rest
 * costs a few requests a second instead of one per shard per pass. The first change on a shard
 * idle that long is seen at most `idle_poll_max` late; after that it is asked every pass again.
 */

/** The wait before asking a shard again, after it was asked and its head `moved` or not. */
export function nextPollInterval(previousMs: number, moved: boolean, baseMs: number, maxMs: number): number {
  if (moved) return 0;
  return Math.min(maxMs, Math.max(baseMs, previousMs * 2));
}

/** Whether a shard last asked at `lastMs` (undefined: never) is to be asked at `nowMs`. */
export function pollDue(lastMs: number | undefined, intervalMs: number, nowMs: number): boolean {
  return lastMs === undefined || nowMs - lastMs >= intervalMs;
}
