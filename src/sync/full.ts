/**
 * Full sync: snapshot every log shard's marker first, then make the destination equal the source
 * (users, buckets and objects copied; what the source no longer has removed), then store the
 * snapshots as bounds with whatever failed as retry items. Incremental sync then replays only what
 * changed since the snapshot. A shard whose full sync did not finish (busy, lost lock, stop) gets
 * no bound and stays owed.
 */
import { isStateBucket, type SyncContext } from './context.js';
import { mdlogShard, syncMetadataKeys, SECTION_ORDER } from './metadata.js';
import { dataShard } from '../rgw/shard.js';
import { withShardLock } from './shardlock.js';
import { forEachLimit, Stopped } from '../worker/pool.js';
import type { LogType, DataLogEntry, PeriodRef } from '../rgw/wire.js';
import type { ShardStatus } from './replay.js';
import { settledCount } from './replay.js';
import { compareMarkers, isStartMarker } from '../rgw/markers.js';
import { fullSyncBucket, storeSnapshotBound } from './bucketsync.js';
import { markerAfter } from './data.js';

export interface FullSyncSummary {
  failedMetadata: string[];
  failedBuckets: string[];
  failedObjects: number;
  busyShards: number;
  /** Shards whose full sync did not finish (busy, lost lock, stop): still owed. */
  unfinished: Record<LogType, Set<number>>;
}

function note(summary: FullSyncSummary, type: LogType, shard: number, status: ShardStatus): void {
  if (status === 'done') return;
  summary.unfinished[type].add(shard);
  if (status === 'busy') summary.busyShards++;
}

async function snapshot(ctx: SyncContext, type: LogType, shards: number[], period?: PeriodRef): Promise<Map<number, { marker: string; lastUpdateMs: number }>> {
  const out = new Map<number, { marker: string; lastUpdateMs: number }>();
  // One small admin read per shard, 192 in all against RGW: asked wide, they take a few round trips.
  await forEachLimit(shards, 64, async (i) => {
    out.set(i, await ctx.src.shardInfo(type, i, period?.id));
  });
  return out;
}

/**
 * Shards with the most work first (ties in shard order): the copies start at once and the empty
 * shards' bookkeeping (a lock and a bound each) overlaps them instead of coming before them.
 */
export function busiestFirst(shards: readonly number[], work: (shard: number) => number): number[] {
  return [...shards].sort((a, b) => work(b) - work(a) || a - b);
}

/** Shards with nothing to copy cost a lock and a bound each: this many at once, beside the busy ones. */
export const IDLE_SHARD_CONCURRENCY = 32;

/**
 * Runs `fn` for every shard: those with work `num_workers` at a time, busiest first; those without
 * (just a lock and a bound) alongside, more at once, so their round trips do not hold the phase up.
 */
async function eachShard(ctx: SyncContext, shards: readonly number[], work: (shard: number) => number, fn: (shard: number) => Promise<void>): Promise<void> {
  const busy = busiestFirst(shards.filter((s) => work(s) > 0), work);
  const idle = shards.filter((s) => work(s) === 0);
  const runs = await Promise.allSettled([
    forEachLimit(busy, ctx.cfg.numWorkers, fn, ctx.stop),
    forEachLimit(idle, IDLE_SHARD_CONCURRENCY, fn, ctx.stop),
  ]);
  const failed = runs.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
  if (failed.length > 0) throw failed.find((e) => !(e instanceof Stopped)) ?? failed[0];
}

async function isSystemUser(ctx: SyncContext, uid: string): Promise<boolean> {
  const doc = await ctx.dst.getMetadata('user', uid);
  if (!doc) return false;
  const data = (JSON.parse(doc.toString('utf8')) as { data?: { system?: unknown } }).data;
  return data?.system === 'true' || data?.system === true;
}

async function allKeys(gen: AsyncGenerator<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const k of gen) out.push(k);
  return out;
}

export async function fullSyncMetadata(ctx: SyncContext, summary: FullSyncSummary, only?: Set<number>): Promise<void> {
  const n = await ctx.src.shardCount('metadata');
  const shards = [...Array(n).keys()].filter((i) => !only || only.has(i));
  // Markers of the period current now: if a new one is committed during the listing, the
  // incremental passes read this period's log to its end before the new one's.
  const period = await ctx.periods.current();
  const snap = await snapshot(ctx, 'metadata', shards, period);
  const srcSections = new Set(await ctx.src.metadataSections());
  const copy = new Map<number, [string, string][]>();
  const remove = new Map<number, [string, string][]>();
  const add = (m: Map<number, [string, string][]>, section: string, key: string) => {
    const s = mdlogShard(section, key, n);
    if (only && !only.has(s)) return;
    if (!m.has(s)) m.set(s, []);
    m.get(s)!.push([section, key]);
  };
  for (const section of SECTION_ORDER) {
    const src = srcSections.has(section) ? await allKeys(ctx.src.metadataKeys(section)) : [];
    for (const key of src) add(copy, section, key);
    if (!ctx.cfg.delete) continue;
    // What the destination has and the source does not is removed (syncing it finds it gone).
    const known = new Set(src);
    for (const key of await allKeys(ctx.dst.metadataKeys(section))) {
      if (known.has(key)) continue;
      // A zone's own system users (the agent's keys among them) are infrastructure, not data.
      if (section === 'user' && await isSystemUser(ctx, key)) {
        ctx.log.info(`full sync: system user ${key} exists only on the destination; kept`);
        continue;
      }
      add(remove, section, key);
    }
  }
  const count = (m: Map<number, unknown[]>) => [...m.values()].reduce((k, v) => k + v.length, 0);
  ctx.log.info(`full sync: ${count(copy)} metadata entries in ${copy.size} of ${n} shards${count(remove) ? `; ${count(remove)} only on the destination, to remove` : ''}`);
  await eachShard(ctx, shards, (s) => (copy.get(s)?.length ?? 0) + (remove.get(s)?.length ?? 0), async (shard) => {
    const status = await withShardLock(ctx, 'metadata', shard, async (lock) => {
      const failed = await syncMetadataKeys(ctx, copy.get(shard) ?? [], lock.signal);
      // Removals go buckets first, users last: a user is removed once its buckets are.
      for (const f of await syncMetadataKeys(ctx, remove.get(shard) ?? [], lock.signal, true)) failed.add(f);
      summary.failedMetadata.push(...failed);
      if (!lock.valid()) return 'lost';
      await storeSnapshotBound(ctx, 'metadata', String(shard), snap.get(shard)!.marker, failed, period);
      return 'done';
    });
    note(summary, 'metadata', shard, status);
  });
}

/**
 * The data-log marker a full sync may store for a shard. The source logs a bucket at most once per
 * window and later changes in the window only in its bucket-index log; an entry younger than a
 * window at the start of the full sync may stand for a change made after that bucket's snapshot,
 * so the bound stays before it and the incremental pass replays it.
 */
async function settledSnapshot(ctx: SyncContext, shard: number, head: { marker: string; lastUpdateMs: number }, startMs: number): Promise<string> {
  const windowMs = ctx.cfg.rgwDataLogWindow * 1000;
  if (isStartMarker(head.marker) || head.lastUpdateMs + windowMs <= startMs) return head.marker;
  // Never past the snapshot, whatever entries were logged after it.
  const m = await settledBefore(ctx, shard, head, windowMs, startMs);
  return compareMarkers(m, head.marker) > 0 ? head.marker : m;
}

async function settledBefore(ctx: SyncContext, shard: number, head: { marker: string }, windowMs: number, startMs: number): Promise<string> {
  const from = (await ctx.bounds.get('data', String(shard)))?.marker ?? '';
  let marker = from;
  for (;;) {
    const page = await ctx.src.listDataLog(shard, marker, ctx.cfg.maxEntries);
    const entries = page.entries.filter((e) => !e.id || compareMarkers(e.id, head.marker) <= 0);
    const k = settledCount(entries.map((e) => Date.parse(e.timestamp)), windowMs, startMs);
    if (k < page.entries.length || !page.truncated) return markerAfter(ctx, shard, marker, page, k);
    marker = page.marker;
  }
}

export async function fullSyncData(ctx: SyncContext, summary: FullSyncSummary, only?: Set<number>): Promise<void> {
  const n = await ctx.src.shardCount('data');
  const shards = [...Array(n).keys()].filter((i) => !only || only.has(i));
  // The source's clock: window decisions never use ours (it may be ahead).
  const startMs = ctx.src.client.now();
  const snap = await snapshot(ctx, 'data', shards);
  const byShard = new Map<number, string[]>();
  let buckets = 0;
  for await (const b of ctx.src.metadataKeys('bucket')) {
    if (isStateBucket(ctx, b)) continue;
    const s = dataShard(b, n);
    if (only && !only.has(s)) continue;
    if (!byShard.has(s)) byShard.set(s, []);
    byShard.get(s)!.push(b);
    buckets++;
  }
  ctx.log.info(`full sync: ${buckets} buckets in ${byShard.size} of ${n} data shards`);
  ctx.acct.bucketsPlanned(buckets);
  await eachShard(ctx, shards, (s) => byShard.get(s)?.length ?? 0, async (shard) => {
    const status = await withShardLock(ctx, 'data', shard, async (lock) => {
      const failed = new Set<string>();
      for (const bucket of byShard.get(shard) ?? []) {
        if (lock.signal.aborted) throw new Stopped();
        try {
          const r = await fullSyncBucket(ctx, bucket, lock);
          if (r !== 'gone') {
            summary.failedObjects += r.failed;
            // The bucket's bounds owe the failed objects; the data shard owes their instances.
            for (const n of r.owed) failed.add(n);
          }
          ctx.acct.bucketDone();
        } catch (e) {
          if (e instanceof Stopped) throw e;
          // A plain bucket name owes a full sync of that bucket (retried as such).
          failed.add(bucket);
          ctx.acct.failed('bucket');
          ctx.log.warn(`full sync of bucket ${bucket}: ${(e as Error).message} (kept as a retry)`);
        }
      }
      summary.failedBuckets.push(...failed);
      const marker = await settledSnapshot(ctx, shard, snap.get(shard)!, startMs);
      if (!lock.valid()) return 'lost';
      await storeSnapshotBound(ctx, 'data', String(shard), marker, failed);
      return 'done';
    });
    note(summary, 'data', shard, status);
  });
}

/** Full sync of every shard, or only of the shards in `only` (those that never completed one). */
export async function fullSync(ctx: SyncContext, only?: { metadata?: Set<number>; data?: Set<number> }): Promise<FullSyncSummary> {
  const summary: FullSyncSummary = { failedMetadata: [], failedBuckets: [], failedObjects: 0, busyShards: 0, unfinished: { metadata: new Set(), data: new Set() } };
  // Data shards of another agent (the shards setting) are not ours to full-sync either.
  let data = only?.data;
  if (ctx.dataShards) data = new Set([...(data ?? ctx.dataShards)].filter((s) => ctx.dataShards!.has(s)));
  if (!only?.metadata || only.metadata.size > 0) await fullSyncMetadata(ctx, summary, only?.metadata);
  if (!ctx.cfg.metadataOnly && (!data || data.size > 0)) await fullSyncData(ctx, summary, data);
  return summary;
}
