/** Runs shard work under the destination lock; 423 means another agent owns it (skip, no error). */
import type { LogType } from '../rgw/wire.js';
import { ShardLock } from '../worker/lock.js';
import { Stopped } from '../worker/pool.js';
import type { SyncContext } from './context.js';
import type { ShardStatus } from './replay.js';
import { interrupted } from './shardrun.js';

export async function withShardLock(ctx: SyncContext, type: LogType, shard: number, work: (lock: ShardLock) => Promise<Exclude<ShardStatus, 'busy'>>): Promise<ShardStatus> {
  const lock = type === 'data' && !ctx.dataLocks ? ShardLock.none(type, shard, ctx.stop) : await ShardLock.acquire(ctx.dst, type, shard, ctx.zones.destination.id, ctx.lockerId, ctx.cfg.lockTimeout, (reason) => {
    ctx.acct.lockLost();
    ctx.log.warn(`${type} shard ${shard}: ${reason}; stopping work on it without writing its bound`);
  }, ctx.stop);
  if (lock === 'busy') {
    ctx.acct.lockContended();
    ctx.log.debug(`${type} shard ${shard} is locked by another agent; skipping it this pass`);
    return 'busy';
  }
  try {
    return await work(lock);
  } catch (e) {
    // The unfinished part was not recorded; the next run picks it up again.
    if (e instanceof Stopped) return interrupted(ctx, lock);
    throw e;
  } finally {
    await lock.release();
  }
}
