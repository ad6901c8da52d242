/** Runs shard work under the destination lock; 423 means another agent owns it (skip, no error). */
import type { LogType } from '../client/admin.js';
import { ShardLock } from '../worker/lock.js';
import { Stopped } from '../worker/pool.js';
import type { SyncContext } from './context.js';

export type ShardOutcome = 'done' | 'busy' | 'lost';

export async function withShardLock(ctx: SyncContext, type: LogType, shard: number, work: (lock: ShardLock) => Promise<void>): Promise<ShardOutcome> {
  const lock = type === 'data' && !ctx.dataLocks ? ShardLock.none(type, shard, ctx.stop) : await ShardLock.acquire(ctx.dst, type, shard, ctx.zones.destination.id, ctx.lockerId, ctx.cfg.lockTimeout, (reason) => {
    ctx.stats.locksLost++;
    ctx.log.warn(`${type} shard ${shard}: ${reason}; stopping work on it without writing its bound`);
  }, ctx.stop);
  if (lock === 'busy') {
    ctx.stats.lockBusy++;
    ctx.log.debug(`${type} shard ${shard} is locked by another agent; skipping it this pass`);
    return 'busy';
  }
  try {
    await work(lock);
  } catch (e) {
    // Stopped: the unfinished part was not recorded and is picked up again by the next run.
    if (!(e instanceof Stopped)) throw e;
  } finally {
    await lock.release();
  }
  return lock.lost && lock.lost !== 'released' ? 'lost' : 'done';
}
