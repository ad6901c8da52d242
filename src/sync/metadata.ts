/**
 * Metadata sync: users, bucket instances and buckets named by the metadata log (or listed by full
 * sync) are copied verbatim from source to destination; gone on the source means removed on the
 * destination. Instances go before buckets, users before both.
 */
import type { MdLogEntry } from '../client/admin.js';
import { metadataShard } from '../rgw/shard.js';
import { isStateBucket, retryLater, type SyncContext } from './context.js';
import type { ShardLock } from '../worker/lock.js';
import { forEachLimit } from '../worker/pool.js';

export const SECTION_ORDER = ['user', 'bucket.instance', 'bucket'];

/** The shard RGW logs a metadata key in: a bucket instance goes with its bucket. */
export function mdlogShard(section: string, key: string, shards: number): number {
  return section === 'bucket.instance' ? metadataShard('bucket', key.split(':')[0], shards) : metadataShard(section, key, shards);
}

export function retryName(section: string, key: string): string {
  return `${section}/${key}`;
}

export function parseRetryName(name: string): [string, string] | undefined {
  const i = name.indexOf('/');
  return i > 0 ? [name.slice(0, i), name.slice(i + 1)] : undefined;
}

export async function syncMetadataKey(ctx: SyncContext, section: string, key: string): Promise<void> {
  const doc = await ctx.src.getMetadata(section, key);
  if (doc === undefined) {
    await ctx.dst.deleteMetadata(section, key);
    ctx.stats.metadataRemoved++;
    ctx.log.info(`metadata ${section}/${key} removed on the source: removed on the destination`);
    return;
  }
  await ctx.dst.putMetadata(section, key, doc);
  ctx.stats.metadataSynced++;
}

/** Syncs keys in section order; returns the retry names of those that failed. */
export async function syncMetadataKeys(ctx: SyncContext, keys: Iterable<[string, string]>, signal: AbortSignal): Promise<Set<string>> {
  const bySection = new Map<string, Set<string>>();
  for (const [s, k] of keys) {
    // Only users and buckets are replicated (Pacific logs other sections too, e.g. otp, roles).
    if (!SECTION_ORDER.includes(s)) continue;
    if (s !== 'user' && isStateBucket(ctx, k.split(':')[0])) continue;
    if (!bySection.has(s)) bySection.set(s, new Set());
    bySection.get(s)!.add(k);
  }
  const sections = [...bySection.keys()].sort((a, b) => (SECTION_ORDER.indexOf(a) + 1 || 99) - (SECTION_ORDER.indexOf(b) + 1 || 99));
  const failed = new Set<string>();
  for (const section of sections) {
    await forEachLimit(bySection.get(section)!, ctx.cfg.objectConcurrency, async (key) => {
      const name = retryName(section, key);
      try {
        await syncMetadataKey(ctx, section, key);
        ctx.backoff.succeeded(name);
      } catch (e) {
        failed.add(name);
        retryLater(ctx, 'metadata', name, e);
      }
    }, signal);
  }
  return failed;
}

/**
 * One incremental pass over a metadata shard, under its lock: pages of log entries after the
 * bound, each page's keys synced, then the bound moved to the page's last entry with the failures
 * (and the retries not yet due) as retry items.
 */
export interface ShardState { marker: string; pending: number; unsettled: boolean }

export async function syncMetadataShard(ctx: SyncContext, shard: number, lock: ShardLock): Promise<ShardState> {
  const bound = await ctx.bounds.get('metadata', shard.toString());
  let marker = bound?.marker ?? '';
  let pending = new Set((bound?.items ?? []).map((i) => i.name));
  for (let first = true; ; first = false) {
    const page = await ctx.src.listLog<MdLogEntry>('metadata', shard, marker, ctx.cfg.maxEntries);
    const keys = new Map<string, [string, string]>();
    for (const e of page.entries) keys.set(retryName(e.section, e.name), [e.section, e.name]);
    if (first) {
      for (const name of pending) {
        const parsed = parseRetryName(name);
        if (parsed && ctx.backoff.due(name)) keys.set(name, parsed);
      }
    }
    if (keys.size === 0 && !first) break;
    const failed = await syncMetadataKeys(ctx, keys.values(), lock.signal);
    const next = new Set([...pending].filter((n) => !keys.has(n)));
    for (const f of failed) next.add(f);
    const newMarker = page.entries.length > 0 ? page.marker : marker;
    if (!lock.valid()) return { marker, pending: pending.size, unsettled: false };
    if (newMarker !== marker || !sameSet(next, pending)) {
      await ctx.bounds.set('metadata', shard.toString(), { marker: newMarker, items: [...next].map((name) => ({ name, timestamp: new Date().toISOString() })) });
    }
    marker = newMarker;
    pending = next;
    if (!page.truncated) break;
  }
  return { marker, pending: pending.size, unsettled: false };
}

export function sameSet(a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}
