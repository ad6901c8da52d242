/**
 * Incremental sync. A pass asks the source for every shard's head marker (one cheap call each)
 * and works only on shards that moved past their bound, owe retries, or hold data-log entries
 * younger than the window; only those are locked. The daemon repeats passes after a short delay.
 */
import type { LogType } from '../client/admin.js';
import type { SyncContext } from './context.js';
import { syncMetadataShard, type ShardState } from './metadata.js';
import { syncDataShard } from './data.js';
import { withShardLock } from './shardlock.js';
import { forEachLimit } from '../worker/pool.js';
import { fullSync, type FullSyncSummary } from './full.js';

export interface PassSummary { metadataShards: number; dataShards: number; busy: number; lost: number; pendingRetries: number }

import { sleep } from '../worker/sleep.js';

export class Syncer {
  private readonly state: Record<LogType, ShardState[]> = { metadata: [], data: [] };
  private boundsFound = 0;

  constructor(readonly ctx: SyncContext) {}

  /** Reads shard counts and every shard's bound once; later passes keep this view current. */
  async init(): Promise<void> {
    for (const type of this.types()) {
      const n = await this.ctx.src.shardCount(type);
      const states: ShardState[] = new Array(n);
      await forEachLimit([...Array(n).keys()], 16, async (i) => {
        const b = await this.ctx.bounds.get(type, i.toString());
        if (b) this.boundsFound++;
        states[i] = { marker: b?.marker ?? '', pending: b?.items.length ?? 0, unsettled: false };
      });
      this.state[type] = states;
    }
  }

  private types(): LogType[] {
    return this.ctx.cfg.metadataOnly ? ['metadata'] : ['metadata', 'data'];
  }

  /** True when the destination holds no bound at all: a new pair that needs a full sync first. */
  get needsFullSync(): boolean {
    return this.boundsFound === 0;
  }

  async fullSync(): Promise<FullSyncSummary> {
    const summary = await fullSync(this.ctx);
    await this.init();
    return summary;
  }

  private async shardsWithWork(type: LogType): Promise<number[]> {
    const states = this.state[type];
    const work: number[] = [];
    await forEachLimit([...states.keys()], 16, async (i) => {
      const s = states[i];
      if (s.pending > 0 || s.unsettled) {
        work.push(i);
        return;
      }
      const head = await this.ctx.src.shardMarker(type, i);
      if (head !== '' && head > s.marker.trim()) work.push(i);
    });
    return work.sort((a, b) => a - b);
  }

  async pass(): Promise<PassSummary> {
    const summary: PassSummary = { metadataShards: 0, dataShards: 0, busy: 0, lost: 0, pendingRetries: 0 };
    const passStart = Date.now();
    for (const type of this.types()) {
      const work = await this.shardsWithWork(type);
      if (type === 'metadata') summary.metadataShards = work.length;
      else summary.dataShards = work.length;
      await forEachLimit(work, this.ctx.cfg.numWorkers, async (shard) => {
        const outcome = await withShardLock(this.ctx, type, shard, async (lock) => {
          this.state[type][shard] = type === 'metadata'
            ? await syncMetadataShard(this.ctx, shard, lock)
            : await syncDataShard(this.ctx, shard, lock, passStart);
        });
        if (outcome === 'busy') summary.busy++;
        if (outcome === 'lost') summary.lost++;
      });
    }
    summary.pendingRetries = this.types().reduce((n, t) => n + this.state[t].reduce((m, s) => m + s.pending, 0), 0);
    return summary;
  }

  /** The daemon: passes until the signal aborts. A failed pass is logged and retried after a delay. */
  async run(signal: AbortSignal, onPass?: (s: PassSummary) => void): Promise<void> {
    while (!signal.aborted) {
      try {
        const s = await this.pass();
        onPass?.(s);
        await sleep(this.ctx.cfg.incrementalSyncDelay * 1000, signal);
      } catch (e) {
        this.ctx.log.error(`sync pass failed: ${(e as Error).message}; trying again in ${this.ctx.cfg.prepareErrorDelay}s`);
        await sleep(this.ctx.cfg.prepareErrorDelay * 1000, signal);
      }
    }
  }
}
