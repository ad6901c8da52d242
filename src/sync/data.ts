/**
 * The data log as a ShardLog: each entry names a bucket instance (or index shard) that changed;
 * syncing a name brings that instance up to its bucket-index log (bucketsync.ts). A plain bucket
 * name (a full sync of that bucket that failed, or a retry of the original agent) owes a full sync
 * of the bucket. The marker moves past an entry only once the data-log window has passed.
 */
import type { DataLogEntry } from '../rgw/wire.js';
import { isStateBucket, retryLater, type SyncContext } from './context.js';
import { forEachLimit, Stopped } from '../worker/pool.js';
import type { ShardLock } from '../worker/lock.js';
import { settledCount } from './replay.js';
import type { PageView, ShardLog } from './shardrun.js';
import { fullSyncBucket, instanceName, parseInstanceName, syncInstance } from './bucketsync.js';

export function bucketOfInstance(instance: string): string {
  return instance.split(':')[0];
}

interface DataPage extends PageView { entries: DataLogEntry[] }

/** What a data-log entry asks to sync: its instance (index shard), in its bucket-index log generation. */
export function dataLogName(e: DataLogEntry): string {
  if (!e.gen) return e.key;
  const inst = parseInstanceName(e.key);
  return inst ? instanceName(inst.bucket, inst.id, inst.shard, e.gen) : e.key;
}

/** The marker after the first k entries of a data-log page that was read from `marker`. */
export async function markerAfter(ctx: SyncContext, shard: number, marker: string, page: { marker: string; entries: DataLogEntry[] }, k: number): Promise<string> {
  if (k === 0) return marker;
  if (k === page.entries.length) return page.marker || marker;
  const id = page.entries[k - 1].id;
  if (id) return id;
  // Entries without ids (Pacific's FIFO log): ask for exactly that prefix to learn where it ends.
  const prefix = await ctx.src.listDataLog(shard, marker, k);
  return prefix.entries.length === k ? prefix.marker : marker;
}

/**
 * Syncs one data-log name; answers what it still owes: itself (object retries pending), other
 * names (a bucket's full sync owes its instances' retries), or nothing. Throws Stopped on a stop
 * or a lost lock.
 */
async function syncDataName(ctx: SyncContext, name: string, lock: ShardLock): Promise<string[]> {
  const inst = parseInstanceName(name);
  if (!inst) {
    const r = await fullSyncBucket(ctx, name, lock);
    return r === 'gone' ? [] : r.owed;
  }
  const run = await syncInstance(ctx, inst, lock);
  if (run.status !== 'done') throw new Stopped(run.status);
  return run.pending === 0 ? [] : [name];
}

/** `now` is the source's clock (tests move it forward). */
export function dataShardLog(ctx: SyncContext, shard: number, lock: ShardLock, now: () => number = () => ctx.src.client.now()): ShardLog<DataPage> {
  return {
    type: 'data',
    entity: String(shard),
    now,
    async read(marker, max) {
      const page = await ctx.src.listDataLog(shard, marker, max);
      return {
        entries: page.entries,
        names: page.entries.map(dataLogName).filter((k) => !isStateBucket(ctx, bucketOfInstance(k))),
        size: page.entries.length,
        end: page.entries.length > 0 ? page.marker : '',
        truncated: page.truncated,
      };
    },
    async sync(names, signal) {
      const failed = new Set<string>();
      const owed = new Set<string>();
      const also = new Set<string>();
      await forEachLimit(names, Math.max(1, Math.ceil(ctx.cfg.numWorkers / 2)), async (name) => {
        try {
          for (const n of await syncDataName(ctx, name, lock)) (n === name ? owed : also).add(n);
        } catch (e) {
          if (e instanceof Stopped) throw e;
          failed.add(name);
          retryLater(ctx, 'bucket', name, e);
        }
      }, signal);
      return { failed, owed, also };
    },
    settle(marker, page, syncStartMs) {
      const k = settledCount(page.entries.map((e) => Date.parse(e.timestamp)), ctx.cfg.rgwDataLogWindow * 1000, syncStartMs);
      return markerAfter(ctx, shard, marker, { marker: page.end, entries: page.entries }, k);
    },
  };
}
