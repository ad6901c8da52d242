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

/**
 * Index shards of one bucket RGW places side by side: index shard k of bucket b is logged in data
 * shard (hash(b) + k) mod n. Pacific and later give a new bucket 11 index shards.
 */
export const BUCKET_INDEX_SPAN = 11;

/**
 * The data-log shards worth asking next pass because `shard` moved: the ones the same bucket's
 * other index shards may log to (up to `span - 1` either side, wrapping). Writes to one bucket
 * land on several of its index shards, so when one moved the others usually follow; without this
 * they would wait out their quiet interval, up to `idle_poll_max`, each.
 */
export function dataShardNeighbours(shard: number, shards: number, span = BUCKET_INDEX_SPAN): number[] {
  const out = new Set<number>();
  const reach = Math.min(span - 1, shards - 1);
  for (let d = 1; d <= reach; d++) {
    out.add((shard + d) % shards);
    out.add((shard - d + shards) % shards);
  }
  out.delete(shard);
  return [...out].sort((a, b) => a - b);
}
