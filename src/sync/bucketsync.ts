/**
 * One bucket instance brought level with the source: by its bucket-index log (incremental) or by
 * its listing (full), and only into the instance the source's logs name (a bucket deleted and
 * re-created has a new instance; objects of the new one must never land in the old one).
 */
import type { BilogEntry, PeriodRef } from '../rgw/wire.js';
import { bucketIndexShard } from '../rgw/shard.js';
import { laterMarker, shardMarkers } from '../rgw/markers.js';
import { AgentError, NotFound } from '../client/errors.js';
import type { KeyVersions, ListedObject } from '../client/s3.js';
import { Stopped, forEachLimit, forEachLimitAsync } from '../worker/pool.js';
import type { ShardLock } from '../worker/lock.js';
import { isStateBucket, retryLater, type ReadContext, type SyncContext } from './context.js';
import { syncMetadataKey } from './metadata.js';
import { syncObject } from './objectsync.js';
import { runShard, type ShardLog, type ShardRun } from './shardrun.js';
import { mergeWalk } from './march.js';
import { listingVerdict } from './equality.js';
import { groupNeedsSync, syncKeyVersions } from './versionsync.js';

/** "bucket:instance-id[:index-shard]" as the data log names it; tenanted buckets are "tenant/bucket". */
/**
 * A bucket instance, or one index shard of it, as logs name it: "bucket:id[:shard]", plus
 * ":g<generation>" for a bucket-index log generation after the first (a resharded bucket on Reef
 * and later). Generation 0 keeps the plain name, so bounds from before generations still apply.
 */
export interface InstanceName { bucket: string; id: string; shard?: string; gen?: number; name: string }

export function instanceName(bucket: string, id: string, shard?: string, gen?: number): string {
  const base = `${bucket}:${id}${shard !== undefined ? `:${shard}` : ''}`;
  return gen ? `${shard !== undefined ? base : `${base}:`}:g${gen}` : base;
}

export function parseInstanceName(name: string): InstanceName | undefined {
  const parts = name.split(':');
  let gen: number | undefined;
  if (parts.length === 4) {
    const m = /^g(\d+)$/.exec(parts[3]);
    if (!m) return undefined;
    gen = Number(m[1]);
    parts.pop();
  }
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) return undefined;
  const shard = parts[2] === '' ? undefined : parts[2];
  return { bucket: parts[0], id: parts[1], ...(shard !== undefined ? { shard } : {}), ...(gen ? { gen } : {}), name };
}

/** The instance (with index shard) a bilog listing or trim takes: the name without its generation. */
export function listedInstance(inst: InstanceName): string {
  return instanceName(inst.bucket, inst.id, inst.shard);
}

function bucketId(doc: Buffer | undefined): string | undefined {
  if (!doc) return undefined;
  return (JSON.parse(doc.toString('utf8')) as { data?: { bucket?: { bucket_id?: string } } }).data?.bucket?.bucket_id;
}

/** The source's current instance id of a bucket, or undefined when the bucket is gone. */
export async function currentInstance(ctx: Pick<ReadContext, 'src'>, bucket: string): Promise<string | undefined> {
  return bucketId(await ctx.src.getMetadata('bucket', bucket));
}

/** Every bucket on the source (the agent's own aside) with its current instance id; a bucket removed meanwhile is left out. */
export async function sourceInstances(ctx: Pick<ReadContext, 'src' | 'cfg'>): Promise<Map<string, string>> {
  const buckets: string[] = [];
  for await (const b of ctx.src.metadataKeys('bucket')) if (!isStateBucket(ctx, b)) buckets.push(b);
  const out = new Map<string, string>();
  await forEachLimit(buckets, 16, async (b) => {
    const id = await currentInstance(ctx, b);
    if (id) out.set(b, id);
  });
  return out;
}

/**
 * Whether objects of `inst` may be written to the destination now: 'ready' when the destination's
 * bucket is that instance, 'stale' when the source has moved on (the bucket was removed or
 * re-created since the entry was logged, so nothing of this instance is visible any more), and
 * otherwise the instance's metadata is synced first; if that fails the instance stays owed.
 */
export async function ensureInstance(ctx: SyncContext, inst: InstanceName): Promise<'ready' | 'stale'> {
  if (bucketId(await ctx.dst.getMetadata('bucket', inst.bucket)) === inst.id) return 'ready';
  if (await currentInstance(ctx, inst.bucket) !== inst.id) return 'stale';
  // The metadata log has not been replayed this far yet (its shard busy, a failed PUT, or a
  // change between the two phases): bring this bucket's metadata forward now.
  await syncMetadataKey(ctx, 'bucket.instance', `${inst.bucket}:${inst.id}`);
  await syncMetadataKey(ctx, 'bucket', inst.bucket);
  if (bucketId(await ctx.dst.getMetadata('bucket', inst.bucket)) === inst.id) return 'ready';
  throw new AgentError(`bucket ${inst.bucket}: the destination does not have instance ${inst.id} yet`);
}

/**
 * One key through the process-wide object pool; a failure is counted, logged and added to
 * `failed` (a retry item). `listed`: the source's listing entry where the listings already show
 * the destination lacks this version (copied straight from the GET, no HEADs). Throws Stopped when
 * a stop or a lost lock came before the copy started.
 */
async function syncOne(ctx: SyncContext, inst: Pick<InstanceName, 'bucket' | 'name'>, key: string, signal: AbortSignal, failed: Set<string>, listed?: ListedObject | Versioned): Promise<void> {
  try {
    await ctx.objects.run(() => {
      if (listed && 'versioned' in listed) return syncKeyVersions(ctx, inst.bucket, listed.instanceId, key, listed.lists);
      return syncObject(ctx, inst.bucket, key, signal, inst.name, listed);
    }, signal);
  } catch (e) {
    if (e instanceof Stopped) throw e;
    failed.add(key);
    retryLater(ctx, 'object', `${inst.bucket}/${key}`, e);
  }
}

/** A key of a versioned bucket: its whole version list is synced (with both sides' lists when a full sync listed them). */
interface Versioned { versioned: true; instanceId: string; lists?: { src: KeyVersions['versions']; dst: KeyVersions['versions'] } }

/**
 * Syncs objects of a bucket instance; returns the keys that failed (retry items). Keys of a
 * versioned source bucket, and keys whose log entries say they were versioned writes (versioning
 * may have been enabled a moment ago), are synced version by version.
 */
export async function syncKeys(ctx: SyncContext, inst: Pick<InstanceName, 'bucket' | 'name'> & { id?: string }, keys: Iterable<string>, signal: AbortSignal, versionedKeys?: ReadonlySet<string>): Promise<Set<string>> {
  const failed = new Set<string>();
  const id = inst.id ?? parseInstanceName(inst.name)?.id;
  const bucketVersioned = id !== undefined && await ctx.versioning.check(inst.bucket, `${inst.bucket}:${id}`);
  await forEachLimit(keys, ctx.cfg.objectConcurrency, (key) => {
    const versioned = id !== undefined && (bucketVersioned || versionedKeys?.has(key) === true);
    return syncOne(ctx, inst, key, signal, failed, versioned ? { versioned: true, instanceId: id } : undefined);
  }, signal);
  return failed;
}

/** A bucket-index log (one index shard, or the whole index) as a ShardLog: entries name object keys. */
export function bucketIndexLog(ctx: SyncContext, inst: InstanceName): ShardLog {
  // Keys named by versioned entries of the pages read: synced version by version whatever the
  // bucket's flags said when they were last read. Only grows within one run.
  const versionedKeys = new Set<string>();
  return {
    type: 'bucket-index',
    entity: inst.name,
    pipelined: true,
    async read(marker, max) {
      let page: BilogEntry[];
      try {
        page = await ctx.src.listBilog(listedInstance(inst), marker, max, inst.gen ?? 0);
      } catch (e) {
        if (e instanceof NotFound) return 'gone';
        throw e;
      }
      for (const e of page) if (e.versioned === true && e.object !== '') versionedKeys.add(e.object);
      return {
        names: page.filter((e) => e.op !== 'cancel' && e.object !== '').map((e) => e.object),
        size: page.length,
        end: page.length > 0 ? page[page.length - 1].op_id : '',
        truncated: page.length >= max,
      };
    },
    sync: (names, signal) => syncKeys(ctx, inst, names, signal, versionedKeys),
  };
}

/** Brings one instance (or index shard) up to its bucket-index log, under the data shard's lock. */
export async function syncInstance(ctx: SyncContext, inst: InstanceName, lock: ShardLock): Promise<ShardRun> {
  if (await ensureInstance(ctx, inst) === 'stale') {
    ctx.log.debug(`bucket instance ${inst.name} is no longer current on the source: nothing to copy`);
    return { status: 'done', marker: '', pending: 0, unsettled: false };
  }
  return runShard(ctx, bucketIndexLog(ctx, inst), lock);
}

/**
 * Full sync of one bucket: snapshot its bucket-index log, then walk the source and destination
 * listings side by side and make every key equal (keys only on the destination are removed unless
 * `delete` is off), then store the snapshot as the bound(s), failures as retry items of the index
 * shard that holds the key. Returns the instance names (as the data log names them) that owe
 * retries, and the number of failed objects. Throws Stopped on a stop or a lost lock.
 */
export async function fullSyncBucket(ctx: SyncContext, bucket: string, lock: ShardLock): Promise<{ owed: string[]; failed: number } | 'gone'> {
  const id = await currentInstance(ctx, bucket);
  if (!id) return 'gone';
  const inst: InstanceName = { bucket, id, name: `${bucket}:${id}` };
  // Objects go only into this instance on the destination.
  await ensureInstance(ctx, inst);
  const versioned = await ctx.versioning.check(bucket, inst.name);
  // Snapshot before listing: whatever changes while we list is replayed from the bucket-index log.
  const { maxMarker: snap, latestGen } = await ctx.src.bilogInfo(inst.name);
  const failed = new Set<string>();
  const dstListed = ctx.cfg.delete;
  const dstListing = dstListed ? ctx.dstS3.allObjects(bucket) : emptyListing();
  // No barrier per page: keys stream from the listings into the object pool as slots free up.
  async function* work(): AsyncGenerator<[string, ListedObject | Versioned | undefined]> {
    for await (const [key, onSource, onDest] of mergeWalk(ctx.srcS3.allObjects(bucket), dstListing)) {
      // A key only on the destination is synced too: the source says it is gone, so it is removed.
      if (onSource || ctx.cfg.delete) yield [key, onSource && copyWithoutHeads(onSource, onDest, dstListed) ? onSource : undefined];
    }
  }
  // A versioned bucket: both sides' version lists, key by key; keys whose lists differ, or whose current version's attributes need a HEAD to compare, are synced.
  async function* versionWork(): AsyncGenerator<[string, Versioned]> {
    for await (const [key, s, d] of mergeWalk(ctx.srcS3.versionGroups(bucket), ctx.dstS3.versionGroups(bucket))) {
      if (groupNeedsSync(ctx, s, d)) yield [key, { versioned: true, instanceId: id!, lists: { src: s?.versions ?? [], dst: d?.versions ?? [] } }];
    }
  }
  await forEachLimitAsync<[string, ListedObject | Versioned | undefined]>(versioned ? versionWork() : work(), ctx.cfg.objectConcurrency, ([key, listed]) => syncOne(ctx, inst, key, lock.signal, failed, listed), lock.signal);
  if (!lock.valid()) throw new Stopped('lost the lock');
  const perShard = shardMarkers(snap);
  // Bounds of the generation the snapshot is in; older generations hold nothing the listing missed.
  if (perShard.length === 0) {
    const name = instanceName(bucket, id, undefined, latestGen);
    await storeSnapshotBound(ctx, 'bucket-index', name, snap, failed);
    return { owed: failed.size > 0 ? [name] : [], failed: failed.size };
  }
  // A sharded index: one bound per index shard, named as the data log names them ("b:id:N"),
  // each owing the failed keys that shard holds, so a retry and the key's own log entries are
  // synced by the same run and never race.
  const shards = perShard.length;
  const owed: string[] = [];
  for (const [shard, marker] of perShard) {
    const mine = new Set([...failed].filter((k) => String(bucketIndexShard(k, shards)) === shard));
    const name = instanceName(bucket, id, shard, latestGen);
    await storeSnapshotBound(ctx, 'bucket-index', name, marker ? `${shard}#${marker}` : '', mine);
    if (mine.size > 0) owed.push(name);
  }
  return { owed, failed: failed.size };
}

async function* emptyListing(): AsyncGenerator<ListedObject> { /* additive sync: the destination is not listed */ }

/**
 * Whether the listings alone show that the destination lacks this version: missing there (when
 * the destination was listed) or different in size or plain-MD5 ETag. Such a key is copied
 * straight from its GET, without the HEADs that decide "unchanged"; anything the listings cannot
 * tell (same ETag, or a multipart ETag that a note may match) is compared by HEAD as before.
 */
export function copyWithoutHeads(src: ListedObject, dst: ListedObject | undefined, dstListed: boolean): boolean {
  if (!dst) return dstListed;
  return listingVerdict(src, dst) === 'different';
}

/**
 * Stores a full sync's snapshot as a bound, never behind what is already stored, keeping the
 * stored retry items and adding the failures.
 */
export async function storeSnapshotBound(ctx: SyncContext, type: 'metadata' | 'data' | 'bucket-index', entity: string, snap: string, failed: Set<string>, period?: PeriodRef): Promise<void> {
  const existing = await ctx.bounds.get(type, entity);
  const now = new Date().toISOString();
  const items = new Map((existing?.items ?? []).map((i) => [i.name, i]));
  for (const f of failed) if (!items.has(f)) items.set(f, { name: f, timestamp: now });
  // A stored marker of another period's log says nothing about this one.
  const samePeriod = !period || !existing?.period || existing.period.id === period.id;
  await ctx.bounds.set(type, entity, { marker: samePeriod ? laterMarker(snap, existing?.marker ?? '') : snap, items: [...items.values()], ...(period ? { period } : {}) });
}
