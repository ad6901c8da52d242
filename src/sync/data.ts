/**
 * Data sync: data-log shards name bucket instances; each instance's bucket-index log is paged in
 * bounded batches after its bound; the keys of a batch (repeated ops collapsed to one "make the
 * destination match the source now") are synced in parallel; a bound is posted after each batch.
 * Failed objects become retry items of their instance, failed instances of their data shard; the
 * markers move on either way.
 */
import type { DataLogEntry, RetryItem } from '../client/admin.js';
import { NotFound } from '../client/errors.js';
import { isStateBucket, retryLater, type SyncContext } from './context.js';
import { syncObject } from './objectsync.js';
import { forEachLimit, Stopped } from '../worker/pool.js';
import type { ShardLock } from '../worker/lock.js';
import { sameSet, type ShardState } from './metadata.js';

export function bucketOfInstance(instance: string): string {
  return instance.split(':')[0];
}

function items(names: Iterable<string>, previous: RetryItem[] = []): RetryItem[] {
  const since = new Map(previous.map((i) => [i.name, i.timestamp]));
  const now = new Date().toISOString();
  return [...names].map((name) => ({ name, timestamp: since.get(name) ?? now }));
}

/** Syncs objects; returns the keys that failed (retry items). */
export async function syncKeys(ctx: SyncContext, bucket: string, keys: Iterable<string>, signal: AbortSignal): Promise<Set<string>> {
  const failed = new Set<string>();
  await forEachLimit(keys, ctx.cfg.objectConcurrency, async (key) => {
    const name = `${bucket}/${key}`;
    try {
      await syncObject(ctx, bucket, key, signal);
      ctx.backoff.succeeded(name);
    } catch (e) {
      failed.add(key);
      retryLater(ctx, 'object', name, e);
    }
  }, signal);
  return failed;
}

/**
 * Brings one bucket instance up to its bucket-index log. Returns true when nothing is owed
 * (no failed or not-yet-due object retries), false when the instance must be revisited.
 */
export async function syncBucketInstance(ctx: SyncContext, instance: string, lock: ShardLock): Promise<boolean> {
  const bucket = bucketOfInstance(instance);
  const bound = await ctx.bounds.get('bucket-index', instance);
  let marker = bound?.marker ?? '';
  let pending = new Set((bound?.items ?? []).map((i) => i.name));
  for (let first = true; ; first = false) {
    let page;
    try {
      page = await ctx.src.listBilog(instance, marker, ctx.cfg.maxEntries);
    } catch (e) {
      // The instance is gone on the source (bucket removed): metadata sync removes it here too.
      if (e instanceof NotFound) return true;
      throw e;
    }
    const keys = new Set<string>();
    for (const e of page) if (e.op !== 'cancel' && e.object !== '') keys.add(e.object);
    if (first) for (const k of pending) if (ctx.backoff.due(`${bucket}/${k}`)) keys.add(k);
    if (keys.size === 0 && page.length === 0) break;
    const failed = await syncKeys(ctx, bucket, keys, lock.signal);
    const next = new Set([...pending].filter((k) => !keys.has(k)));
    for (const f of failed) next.add(f);
    const newMarker = page.length > 0 ? page[page.length - 1].op_id : marker;
    if (!lock.valid()) throw new Error(`lost the lock while syncing ${instance}`);
    if (newMarker !== marker || !sameSet(next, pending)) {
      await ctx.bounds.set('bucket-index', instance, { marker: newMarker, items: items(next, bound?.items) });
    }
    marker = newMarker;
    pending = next;
    if (page.length < ctx.cfg.maxEntries) break;
  }
  return pending.size === 0;
}

/** Instance names in the data log carry an index shard on Pacific ("b:id:3"); keep them as they are. */
async function resolveInstance(ctx: SyncContext, name: string): Promise<string | undefined> {
  if (name.includes(':')) return name;
  // The original agent stored plain bucket names as retries: map to the bucket's current instance.
  const doc = await ctx.src.getMetadata('bucket', name);
  if (!doc) return undefined;
  const id = (JSON.parse(doc.toString('utf8')) as { data?: { bucket?: { bucket_id?: string } } }).data?.bucket?.bucket_id;
  return id ? `${name}:${id}` : undefined;
}

/**
 * Finds how far the data-log marker may move: past an entry only once a pass that started after
 * entry time + window has synced its instance, since the source logs a bucket at most once per
 * window and later changes inside the window appear only in the bucket-index log.
 */
async function settledMarker(ctx: SyncContext, shard: number, marker: string, page: { marker: string; entries: DataLogEntry[] }, passStartMs: number): Promise<string> {
  const windowMs = ctx.cfg.rgwDataLogWindow * 1000;
  const settled = (e: DataLogEntry) => Date.parse(e.timestamp) + windowMs <= passStartMs;
  const k = page.entries.findIndex((e) => !settled(e));
  if (k < 0) return page.marker || marker;
  if (k === 0) return marker;
  if (page.entries[k - 1].id) return page.entries[k - 1].id!;
  // Data-log entries carry no ids: ask for exactly the settled prefix to learn its last marker.
  const prefix = await ctx.src.listLog<DataLogEntry>('data', shard, marker, k);
  return prefix.marker || marker;
}

/** One incremental pass over a data shard, under its lock. */
export async function syncDataShard(ctx: SyncContext, shard: number, lock: ShardLock, passStartMs: number): Promise<ShardState> {
  const bound = await ctx.bounds.get('data', shard.toString());
  let marker = bound?.marker ?? '';
  let pending = new Set((bound?.items ?? []).map((i) => i.name));
  let unsettled = false;
  for (let first = true; ; first = false) {
    const page = await ctx.src.listLog<DataLogEntry>('data', shard, marker, ctx.cfg.maxEntries);
    const instances = new Set<string>();
    for (const e of page.entries) if (!isStateBucket(ctx, bucketOfInstance(e.key))) instances.add(e.key);
    if (first) for (const n of pending) if (ctx.backoff.due(n)) instances.add(n);
    if (instances.size === 0 && !first) break;
    const failed = new Set<string>();
    await forEachLimit(instances, Math.max(1, Math.ceil(ctx.cfg.numWorkers / 2)), async (name) => {
      try {
        const instance = await resolveInstance(ctx, name);
        const clean = instance === undefined ? true : await syncBucketInstance(ctx, instance, lock);
        if (clean) ctx.backoff.succeeded(name);
        else {
          failed.add(name);
          ctx.backoff.failed(name);
        }
      } catch (e) {
        if (e instanceof Stopped) throw e;
        failed.add(name);
        retryLater(ctx, 'bucket', name, e);
      }
    }, lock.signal);
    const next = new Set([...pending].filter((n) => !instances.has(n)));
    for (const f of failed) next.add(f);
    const newMarker = page.entries.length > 0 ? await settledMarker(ctx, shard, marker, page, passStartMs) : marker;
    if (page.entries.length > 0 && newMarker !== page.marker) unsettled = true;
    if (!lock.valid()) return { marker, pending: pending.size, unsettled };
    if (newMarker !== marker || !sameSet(next, pending)) {
      await ctx.bounds.set('data', shard.toString(), { marker: newMarker, items: items(next, bound?.items) });
    }
    pending = next;
    const advanced = newMarker !== marker;
    marker = newMarker;
    if (!page.truncated || !advanced) break;
  }
  return { marker, pending: pending.size, unsettled };
}
