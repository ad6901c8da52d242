/**
 * Incremental sync. A pass asks the source for every shard's head marker (one cheap call each)
 * and works only on shards that moved past their bound, owe retries, or hold data-log entries
 * younger than the window; only those are locked. The daemon repeats passes after a short delay.
 */
import type { LogType, PeriodRef } from '../rgw/wire.js';
import { compareMarkers } from '../rgw/markers.js';
import type { SyncContext } from './context.js';
import { runMetadataShard } from './metadata.js';
import { PeriodGap, headsPeriod, shardHead, shardPeriodPlan } from './periods.js';
import { dataShardLog } from './data.js';
import { withShardLock } from './shardlock.js';
import { runShard, type ShardRun } from './shardrun.js';
import { forEachLimit, Stopped } from '../worker/pool.js';
import { fullSync, type FullSyncSummary } from './full.js';
import { AgentRegistry } from './agents.js';
import { SourceLogTrim } from './trim.js';
import { dataShardNeighbours, nextPollInterval, pollDue } from './polling.js';
import { readBounds } from './bounds.js';
import { performance } from 'node:perf_hooks';

export interface PassSummary { metadataShards: number; dataShards: number; busy: number; lost: number; pendingRetries: number; durationMs: number; fullSynced: number }

interface ShardState { marker: string; pending: number; unsettled: boolean; period?: PeriodRef }

import { sleep } from '../worker/sleep.js';
import { setTimeout as delay } from 'node:timers/promises';

/** An idle pass rests at least this long, even with no configured delay. */
const IDLE_REST_MS = 100;

export class Syncer {
  private readonly state: Record<LogType, ShardState[]> = { metadata: [], data: [] };
  /** Per shard ("type/shard"): time of the oldest source change not yet synced, for lag gauges. */
  private readonly behindSince = new Map<string, number>();
  private readonly heads: Record<LogType, string[]> = { metadata: [], data: [] };
  /** Shards with no bound on the destination: their full sync never completed. */
  private readonly unsynced: Record<LogType, Set<number>> = { metadata: new Set(), data: new Set() };
  /** Per shard ("type/shard"), where heads are asked one by one: when last asked, and the wait before the next. */
  private readonly polls = new Map<string, { lastMs: number; intervalMs: number }>();

  /** This agent's registration on the source, and trimming of the source's logs. */
  readonly trim: SourceLogTrim;

  constructor(readonly ctx: SyncContext) {
    this.trim = new SourceLogTrim(ctx);
  }

  /** Reads shard counts and every shard's bound once; later passes keep this view current. */
  async init(): Promise<void> {
    // Registered before any log position is read, so that no trimming agent removes what we need.
    await this.trim.register();
    // Both logs at once: against RGW each step is a round trip or a listing.
    await Promise.all(this.types().map(async (type) => {
      const n = await this.ctx.src.shardCount(type);
      const states: ShardState[] = new Array(n);
      this.unsynced[type].clear();
      const bounds = await readBounds(this.ctx.bounds, type, [...Array(n).keys()].filter((i) => this.mine(type, i)).map(String), 32);
      for (let i = 0; i < n; i++) {
        if (!this.mine(type, i)) {
          states[i] = { marker: '', pending: 0, unsettled: false };
          continue;
        }
        const b = bounds.get(String(i));
        if (!b) this.unsynced[type].add(i);
        states[i] = { marker: b?.marker ?? '', pending: b?.items.length ?? 0, unsettled: false, ...(b?.period ? { period: b.period } : {}) };
      }
      this.state[type] = states;
    }));
  }

  /** Data shards outside the configured `shards` belong to another agent. */
  private mine(type: LogType, shard: number): boolean {
    return type === 'metadata' || !this.ctx.dataShards || this.ctx.dataShards.has(shard);
  }

  private types(): LogType[] {
    return this.ctx.cfg.metadataOnly ? ['metadata'] : ['metadata', 'data'];
  }

  /**
   * Shards without a bound have never completed a full sync (a new pair, or a full sync that was
   * stopped part way): they are full-synced before incremental passes start.
   */
  get needsFullSync(): boolean {
    return this.unsynced.metadata.size + this.unsynced.data.size > 0;
  }

  /** `all`: every shard; otherwise only the shards that never completed one. */
  async fullSync(all = true): Promise<FullSyncSummary> {
    await this.trim.register();
    const summary = await fullSync(this.ctx, all ? undefined : { metadata: new Set(this.unsynced.metadata), data: new Set(this.unsynced.data) });
    await this.init();
    // A shard stays owed until its full sync finished, whatever its bound says meanwhile.
    for (const type of this.types()) for (const s of summary.unfinished[type]) this.unsynced[type].add(s);
    return summary;
  }

  /** Shards whose full sync is still owed (busy, stopped or lost at the time). */
  get owedFullSync(): number {
    return this.unsynced.metadata.size + this.unsynced.data.size;
  }

  /** `current`: the source's metadata period this pass (metadata shards in an older one have work). */
  private async shardsWithWork(type: LogType, current: PeriodRef | undefined): Promise<number[]> {
    const states = this.state[type];
    const work: number[] = [];
    // One call for every head where the source offers it: an idle pass then costs one request.
    const heads = await this.ctx.src.shardHeads(type, headsPeriod(type, current));
    const now = performance.now();
    const baseMs = Math.max(this.ctx.cfg.incrementalSyncDelay * 1000, IDLE_REST_MS);
    // A shard that still owes its full sync is not replayed: its log alone may not hold everything.
    const shards = [...states.keys()].filter((i) => this.mine(type, i) && !this.unsynced[type].has(i));
    // Without one-call heads, a shard with nothing owed whose head has not moved lately waits its turn.
    const asked = heads ? shards : shards.filter((i) => {
      const s = states[i];
      const p = this.polls.get(`${type}/${i}`);
      return s.pending > 0 || s.unsettled || this.behindSince.has(`${type}/${i}`) || pollDue(p?.lastMs, p?.intervalMs ?? 0, now);
    });
    const movedNow: number[] = [];
    await forEachLimit(asked, 16, async (i) => {
      const s = states[i];
      const plan = shardPeriodPlan(type, s.period, current);
      const head = await shardHead(this.ctx.src, heads, type, i, plan, current);
      const wasKnown = this.heads[type][i] !== undefined;
      const moved = head !== this.heads[type][i];
      this.heads[type][i] = head;
      const behind = compareMarkers(head, s.marker) > 0 || !plan.final;
      if (!heads) {
        const key = `${type}/${i}`;
        const p = this.polls.get(key);
        this.polls.set(key, { lastMs: now, intervalMs: nextPollInterval(p?.intervalMs ?? 0, moved || behind, baseMs, this.ctx.cfg.idlePollMax * 1000) });
      }
      if (behind && !this.behindSince.has(`${type}/${i}`)) {
        // Newly behind: the oldest unsynced change is the first entry after the bound.
        const first = (await this.ctx.src.listLog(type, i, s.marker, 1, plan.read?.id)).entries[0];
        const ts = first ? Date.parse(first.timestamp) : NaN;
        this.behindSince.set(`${type}/${i}`, Number.isNaN(ts) ? Date.now() : ts);
      }
      if (behind || s.pending > 0 || s.unsettled) work.push(i);
      if (!heads && type === 'data' && moved && wasKnown) movedNow.push(i);
    });
    // A bucket written to now is likely written on its other index shards too: their data shards
    // are asked next pass instead of after their quiet interval.
    for (const i of movedNow) {
      for (const n of dataShardNeighbours(i, states.length)) {
        const p = this.polls.get(`${type}/${n}`);
        if (p && p.intervalMs > 0) this.polls.set(`${type}/${n}`, { lastMs: p.lastMs, intervalMs: 0 });
      }
    }
    return work.sort((a, b) => a - b);
  }

  /** Seconds each shard is behind (0 when caught up), and retry items owed, from the last pass. */
  lag(): { type: LogType; shard: number; seconds: number }[] {
    const now = Date.now();
    return this.types().flatMap((type) => this.state[type].map((_, shard) => {
      const since = this.behindSince.get(`${type}/${shard}`);
      return { type, shard, seconds: since === undefined ? 0 : Math.max(0, (now - since) / 1000) };
    }).filter((l) => this.mine(l.type, l.shard)));
  }

  get pendingRetries(): number {
    return this.types().reduce((n, t) => n + this.state[t].reduce((m, s) => m + (s?.pending ?? 0), 0), 0);
  }

  async pass(): Promise<PassSummary> {
    const summary: PassSummary = { metadataShards: 0, dataShards: 0, busy: 0, lost: 0, pendingRetries: 0, durationMs: 0, fullSynced: 0 };
    const passStart = Date.now();
    if (this.owedFullSync > 0) {
      const before = this.owedFullSync;
      const fs = await this.fullSync(false);
      summary.fullSynced = before - this.owedFullSync;
      summary.busy += fs.busyShards;
    }
    const current = await this.ctx.periods.current();
    for (const type of this.types()) {
      const work = await this.shardsWithWork(type, current);
      if (type === 'metadata') summary.metadataShards = work.length;
      else summary.dataShards = work.length;
      await forEachLimit(work, this.ctx.cfg.numWorkers, async (shard) => {
        const outcome = await withShardLock(this.ctx, type, shard, async (lock) => {
          let run: ShardRun;
          try {
            run = type === 'metadata' ? await runMetadataShard(this.ctx, shard, lock, current) : await runShard(this.ctx, dataShardLog(this.ctx, shard, lock), lock);
          } catch (e) {
            if (!(e instanceof PeriodGap)) throw e;
            // Its log cannot be followed any further: a full sync of this shard takes over, and
            // the other shards go on.
            this.unsynced.metadata.add(shard);
            this.ctx.log.error(`metadata shard ${shard}: ${e.message}; full-syncing the shard`);
            return 'done';
          }
          if (run.status !== 'done') return run.status;
          this.state[type][shard] = run;
          const caughtUp = type === 'data' || run.period?.id === current?.id;
          if (caughtUp && compareMarkers(run.marker, this.heads[type][shard] ?? '') >= 0 && !run.unsettled) this.behindSince.delete(`${type}/${shard}`);
          return 'done';
        });
        if (outcome === 'busy') summary.busy++;
        if (outcome === 'lost') summary.lost++;
      }, this.ctx.stop);
    }
    summary.pendingRetries = this.pendingRetries;
    summary.durationMs = Date.now() - passStart;
    return summary;
  }

  /** The daemon: passes until the signal aborts. A failed pass is logged and retried after a delay. */
  async run(signal: AbortSignal, onPass?: (s: PassSummary) => void, onFailure?: (e: Error) => void): Promise<void> {
    const registry = new AgentRegistry(this.ctx);
    let lastBeat = 0;
    while (!signal.aborted) {
      try {
        if (Date.now() - lastBeat > 60_000) {
          lastBeat = Date.now();
          await registry.heartbeat();
        }
        const s = await this.pass();
        onPass?.(s);
        await this.trim.tick();
        // Even with no configured delay, an idle pass rests a moment: polling every shard head
        // back to back costs the source a core for nothing.
        const idle = s.metadataShards + s.dataShards === 0;
        await sleep(Math.max(this.ctx.cfg.incrementalSyncDelay * 1000, idle ? IDLE_REST_MS : 0), signal);
      } catch (e) {
        if (e instanceof Stopped) break;
        this.ctx.acct.failed('pass');
        onFailure?.(e as Error);
        this.ctx.log.error(`sync pass failed: ${(e as Error).message}; trying again in ${this.ctx.cfg.prepareErrorDelay}s`);
        await sleep(this.ctx.cfg.prepareErrorDelay * 1000, signal);
      }
    }
    await registry.leave();
    // The bounds this run reached become visible to trimming agents (the registration stays: a
    // stopped agent still needs what it has not read).
    // A source that does not answer must not hold up the stop.
    await Promise.race([this.trim.tick(true), delay(5000, undefined, { ref: false })]);
  }
}
