/**
 * Full sync: snapshot every log shard's marker first, then list and copy everything, then store
 * the snapshots as bounds (with whatever failed as retry items). Incremental sync then replays
 * only what changed since the snapshot: nothing written during the listing is missed.
 */
import { isStateBucket, recordFailure, type SyncContext } from './context.js';
import { mdlogShard, syncMetadataKeys } from './metadata.js';
import { syncKeys } from './data.js';
import { dataShard } from '../rgw/shard.js';
import { withShardLock } from './shardlock.js';
import { forEachLimit, Stopped } from '../worker/pool.js';
import type { ShardLock } from '../worker/lock.js';
import type { BoundType, LogType } from '../client/admin.js';
import { laterMarker, shardMarkers } from '../rgw/markers.js';

export interface FullSyncSummary {
  failedMetadata: string[];
  failedBuckets: string[];
  failedObjects: number;
  busyShards: number;
}

async function snapshot(ctx: SyncContext, type: LogType, shards: number): Promise<string[]> {
  const markers = new Array<string>(shards).fill('');
  await forEachLimit(markers.keys(), 16, async (i) => {
    markers[i] = await ctx.src.shardMarker(type, i);
  });
  return markers;
}

export async function fullSyncMetadata(ctx: SyncContext, summary: FullSyncSummary, only?: Set<number>): Promise<void> {
  const shards = await ctx.src.shardCount('metadata');
  const snap = await snapshot(ctx, 'metadata', shards);
  const sections = new Set(await ctx.src.metadataSections());
  const byShard = new Map<number, [string, string][]>();
  for (const section of ['user', 'bucket.instance', 'bucket']) {
    if (!sections.has(section)) continue;
    for await (const key of ctx.src.metadataKeys(section)) {
      const s = mdlogShard(section, key, shards);
      if (only && !only.has(s)) continue;
      if (!byShard.has(s)) byShard.set(s, []);
      byShard.get(s)!.push([section, key]);
    }
  }
  ctx.log.info(`full sync: ${[...byShard.values()].reduce((n, v) => n + v.length, 0)} metadata entries in ${byShard.size} of ${shards} shards`);
  await forEachLimit([...Array(shards).keys()].filter((i) => !only || only.has(i)), ctx.cfg.numWorkers, async (shard) => {
    const outcome = await withShardLock(ctx, 'metadata', shard, async (lock) => {
      const failed = await syncMetadataKeys(ctx, byShard.get(shard) ?? [], lock.signal);
      summary.failedMetadata.push(...failed);
      if (lock.valid()) await storeSnapshotBound(ctx, 'metadata', String(shard), snap[shard], failed);
    });
    if (outcome === 'busy') summary.busyShards++;
  }, ctx.stop);
}

async function fullSyncBucket(ctx: SyncContext, bucket: string, lock: ShardLock, summary: FullSyncSummary): Promise<string | undefined> {
  const doc = await ctx.src.getMetadata('bucket', bucket);
  if (!doc) return undefined; // removed since it was listed
  const id = (JSON.parse(doc.toString('utf8')) as { data?: { bucket?: { bucket_id?: string } } }).data?.bucket?.bucket_id;
  if (!id) throw new Error(`bucket ${bucket} has no bucket_id in its metadata`);
  const instance = `${bucket}:${id}`;
  // Snapshot before listing: changes made while we list are replayed from the bucket-index log.
  const snap = await ctx.src.bilogMaxMarker(instance);
  const failed = new Set<string>();
  let batch: string[] = [];
  const flush = async () => {
    for (const f of await syncKeys(ctx, bucket, batch, lock.signal)) failed.add(f);
    batch = [];
  };
  for await (const o of ctx.srcS3.allObjects(bucket)) {
    batch.push(o.key);
    if (batch.length >= ctx.cfg.maxEntries) await flush();
    if (lock.signal.aborted) throw new Error(`lost the lock during full sync of ${bucket}`);
  }
  await flush();
  summary.failedObjects += failed.size;
  if (!lock.valid()) throw new Error(`lost the lock during full sync of ${bucket}`);
  const perShard = shardMarkers(snap);
  if (perShard.length === 0) return storeSnapshotBound(ctx, 'bucket-index', instance, snap, failed);
  // A sharded index: one bound per index shard, named as the data log names them ("b:id:N").
  // Failed keys are owed by shard 0's bound; a retry syncs a key by name, whatever its shard.
  let owed: string | undefined;
  for (const [shard, marker] of perShard) {
    // Stored as "N#marker", the form the per-shard listing returns as op ids.
    const r = await storeSnapshotBound(ctx, 'bucket-index', `${instance}:${shard}`, marker ? `${shard}#${marker}` : '', shard === perShard[0][0] ? failed : new Set());
    owed ??= r;
  }
  return owed;
}

/**
 * Stores a full sync's snapshot as a bound, never behind what is already stored, keeping the
 * stored retry items and adding the failures. Returns the entity when it still owes retries.
 */
async function storeSnapshotBound(ctx: SyncContext, type: BoundType, entity: string, snap: string, failed: Set<string>): Promise<string | undefined> {
  const existing = await ctx.bounds.get(type, entity);
  const keep = new Set([...(existing?.items ?? []).map((i) => i.name), ...failed]);
  await ctx.bounds.set(type, entity, { marker: laterMarker(snap, existing?.marker ?? ''), items: [...keep].map((name) => ({ name, timestamp: new Date().toISOString() })) });
  return keep.size > 0 ? entity : undefined;
}

export async function fullSyncData(ctx: SyncContext, summary: FullSyncSummary, only?: Set<number>): Promise<void> {
  const shards = await ctx.src.shardCount('data');
  const snap = await snapshot(ctx, 'data', shards);
  const byShard = new Map<number, string[]>();
  let buckets = 0;
  for await (const b of ctx.src.metadataKeys('bucket')) {
    if (isStateBucket(ctx, b)) continue;
    const s = dataShard(b, shards);
    if (only && !only.has(s)) continue;
    if (!byShard.has(s)) byShard.set(s, []);
    byShard.get(s)!.push(b);
    buckets++;
  }
  ctx.log.info(`full sync: ${buckets} buckets in ${byShard.size} of ${shards} data shards`);
  ctx.stats.bucketsTotal += [...byShard.values()].reduce((n, v) => n + v.length, 0);
  await forEachLimit([...Array(shards).keys()].filter((i) => !only || only.has(i)), ctx.cfg.numWorkers, async (shard) => {
    const outcome = await withShardLock(ctx, 'data', shard, async (lock) => {
      const failed = new Set<string>();
      for (const bucket of byShard.get(shard) ?? []) {
        try {
          const owed = await fullSyncBucket(ctx, bucket, lock, summary);
          if (owed) failed.add(owed);
          ctx.stats.bucketsDone++;
        } catch (e) {
          if (e instanceof Stopped) throw e;
          failed.add(bucket);
          recordFailure(ctx.stats, 'bucket');
          ctx.log.warn(`full sync of bucket ${bucket}: ${(e as Error).message} (kept as a retry)`);
        }
      }
      summary.failedBuckets.push(...failed);
      if (lock.valid()) await storeSnapshotBound(ctx, 'data', String(shard), snap[shard], failed);
    });
    if (outcome === 'busy') summary.busyShards++;
  }, ctx.stop);
}

/** Full sync of every shard, or only of the shards in `only` (those that never completed one). */
export async function fullSync(ctx: SyncContext, only?: { metadata?: Set<number>; data?: Set<number> }): Promise<FullSyncSummary> {
  const summary: FullSyncSummary = { failedMetadata: [], failedBuckets: [], failedObjects: 0, busyShards: 0 };
  // Data shards of another agent (the shards setting) are not ours to full-sync either.
  let data = only?.data;
  if (ctx.dataShards) data = new Set([...(data ?? ctx.dataShards)].filter((s) => ctx.dataShards!.has(s)));
  if (!only?.metadata || only.metadata.size > 0) await fullSyncMetadata(ctx, summary, only?.metadata);
  if (!ctx.cfg.metadataOnly && (!data || data.size > 0)) await fullSyncData(ctx, summary, data);
  return summary;
}
