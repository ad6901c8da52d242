/**
 * The one replay loop, for every log kind: read the bound, read a page after it, sync the names
 * the page carries (plus the retries that are due), work out the next bound, check the lock, write
 * the bound; repeat while the log has more. A ShardLog adapter per kind says how to read a page and
 * how to sync a name; the decisions are in replay.ts.
 */
import type { BoundType, PeriodRef, RetryItem } from '../rgw/wire.js';
import { AgentError } from '../client/errors.js';
import { describePeriod } from './periods.js';
import { compareMarkers } from '../rgw/markers.js';
import type { ShardLock } from '../worker/lock.js';
import { Stopped } from '../worker/pool.js';
import type { SyncContext } from './context.js';
import { boundChanged, namesToSync, nextMarker, nextRetries, type ShardStatus } from './replay.js';

export interface PageView {
  /** The name each entry asks to sync, in log order (repeats allowed; entries that need nothing give none). */
  names: string[];
  /** Log entries on the page, including those that name nothing to sync (cancelled ops, bookkeeping). */
  size: number;
  /** The marker after the last entry ('' when the page is empty). */
  end: string;
  truncated: boolean;
}

export interface ShardLog<P extends PageView = PageView> {
  readonly type: BoundType;
  readonly entity: string;
  /** The metadata-log period this log belongs to; its bound must name the same one. */
  readonly period?: PeriodRef;
  /** Page after `marker`, or 'gone' when the log itself no longer exists (a removed bucket). */
  read(marker: string, max: number): Promise<P | 'gone'>;
  /**
   * Makes the destination match the source for each name; returns those that failed (each one
   * already logged and counted) and those still owed through retries of their own (a bucket
   * instance with object retries: due again whenever its objects are, so not backed off here).
   * Throws Stopped when a stop or a lost lock left names unstarted.
   */
  sync(names: string[], signal: AbortSignal): Promise<Set<string> | SyncResult>;
  /** How far the marker may move past this page (the data-log window); the page end by default. */
  settle?(marker: string, page: P, syncStartMs: number): Promise<string>;
  /** The zone clock that settle() compares with (the source's). */
  now?(): number;
  /** Names are independent of each other (object keys): the next page may start before this one ends. */
  readonly pipelined?: boolean;
}

export interface SyncResult {
  failed: Set<string>;
  owed: Set<string>;
  /** Further names now owed in place of those synced (a bucket's full sync hands its retries to its instances). */
  also?: Set<string>;
}

export interface ShardRun {
  status: Exclude<ShardStatus, 'busy'>;
  marker: string;
  /** Retry items owed after the run. */
  pending: number;
  /** The marker stopped short of the log's end because of the window: revisit soon. */
  unsettled: boolean;
  /** The period of the log that was read (metadata shards of a source with periods). */
  period?: PeriodRef;
}

export function backoffName(type: BoundType, entity: string, name: string): string {
  return `${type} ${entity} ${name}`;
}

/** Why work under a lock ended early: the lock went (another agent may own the shard) or we stop. */
export function interrupted(ctx: SyncContext, lock: ShardLock): 'lost' | 'stopped' {
  return lock.lost && lock.lost !== 'released' ? 'lost' : ctx.stop.aborted ? 'stopped' : 'lost';
}

/**
 * Pages of a pipelined log synced at once: the next page's names fill the object pool while the
 * tail of the previous one finishes, so no page boundary leaves the pool idle. Bounds still move
 * page by page, in log order, each only once every earlier page is done (marker tracking at page
 * granularity): a bound never passes unfinished work.
 */
export const PAGES_IN_FLIGHT = 2;

type Outcome = { result: SyncResult } | { error: unknown };

interface Started<P> {
  page: P;
  names: string[];
  nameSet: Set<string>;
  /** Where the page was read from (what settle() measures from). */
  from: string;
  startMs: number;
  /** Never rejects: a later page that fails waits, unobserved, until it is the head. */
  outcome: Promise<Outcome>;
}

export async function runShard<P extends PageView>(ctx: SyncContext, log: ShardLog<P>, lock: ShardLock): Promise<ShardRun> {
  const bound = await ctx.bounds.get(log.type, log.entity);
  // A marker is a position in one period's log only: read against another, it would skip entries.
  if (log.period && bound?.period && bound.period.id !== log.period.id) {
    throw new AgentError(`${log.type} ${log.entity}: the bound is in period ${describePeriod(bound.period)}, not ${describePeriod(log.period)}`);
  }
  const period = log.period ? { period: log.period } : {};
  // A bound from before periods were recorded is taken to be in the current period: say so in it
  // now, before a period change could make that reading wrong.
  if (log.period && bound && !bound.period && lock.valid()) await ctx.bounds.set(log.type, log.entity, { ...bound, ...period });
  let marker = bound?.marker ?? '';
  let items: RetryItem[] = bound?.items ?? [];
  let unsettled = false;
  const stopped = (): ShardRun => ({ status: interrupted(ctx, lock), marker, pending: items.length, unsettled, ...period });
  const ahead = log.pipelined ? PAGES_IN_FLIGHT : 1;
  const inflight: Started<P>[] = [];
  // Work already started is let finish (its results unused) before the run returns: nothing of
  // this run is left writing to the destination after it.
  const settleRest = () => Promise.all(inflight.splice(0).map((f) => f.outcome));
  const begin = (page: P, names: string[], from: string): Started<P> => {
    const nameSet = new Set(names);
    // A name still being synced by an earlier page is synced again only after that ends: two
    // copies of one object at once could finish in the wrong order.
    const earlier = inflight.filter((f) => names.some((n) => f.nameSet.has(n))).map((f) => f.outcome);
    const started: Started<P> = { page, names, nameSet, from, startMs: 0, outcome: Promise.resolve({ error: undefined }) };
    started.outcome = (async (): Promise<Outcome> => {
      await Promise.all(earlier);
      started.startMs = log.now ? log.now() : Date.now();
      try {
        const r = await log.sync(names, lock.signal);
        return { result: r instanceof Set ? { failed: r, owed: new Set() } : r };
      } catch (e) {
        return { error: e };
      }
    })();
    return started;
  };
  let readAt = marker;
  let reading = true;
  let first = true;
  for (;;) {
    while (reading && inflight.length < ahead) {
      if (lock.signal.aborted) {
        await settleRest();
        return stopped();
      }
      const page = await log.read(readAt, ctx.cfg.maxEntries).catch(async (e: unknown) => { await settleRest(); throw e; });
      if (page === 'gone') {
        await settleRest();
        return { status: 'done', marker, pending: 0, unsettled: false, ...period };
      }
      const names = namesToSync(page.names, items, (n) => ctx.backoff.due(backoffName(log.type, log.entity, n)), first);
      first = false;
      if (names.length === 0 && page.size === 0) {
        reading = false;
        break;
      }
      inflight.push(begin(page, names, readAt));
      const next = page.size > 0 ? page.end : readAt;
      if (!page.truncated || page.size === 0 || compareMarkers(next, readAt) <= 0) reading = false;
      readAt = next;
    }
    const head = inflight.shift();
    if (!head) break;
    const { page, names } = head;
    const outcome = await head.outcome;
    if ('error' in outcome) {
      await settleRest();
      if (outcome.error instanceof Stopped) return stopped();
      throw outcome.error;
    }
    const result = outcome.result;
    for (const n of names) {
      const key = backoffName(log.type, log.entity, n);
      if (result.failed.has(n)) ctx.backoff.failed(key);
      else ctx.backoff.succeeded(key);
    }
    const failed = new Set([...result.failed, ...result.owed, ...(result.also ?? [])]);
    const settledEnd = page.size > 0 && log.settle ? await log.settle(head.from, page, head.startMs) : page.end;
    const next = { marker: nextMarker(marker, settledEnd, page.size > 0), items: nextRetries(items, names, failed, new Date().toISOString()) };
    const short = page.size > 0 && compareMarkers(next.marker, page.end) < 0;
    if (short) unsettled = true;
    // Checked after the work and before the write: a bound must never be written without the lock.
    if (!lock.valid()) {
      await settleRest();
      return stopped();
    }
    if (boundChanged({ marker, items }, next)) await ctx.bounds.set(log.type, log.entity, { ...next, ...period });
    const advanced = compareMarkers(next.marker, marker) > 0;
    marker = next.marker;
    items = next.items;
    if (short || !advanced) {
      // Pages read past here are read again from the bound next time.
      await settleRest();
      break;
    }
  }
  return { status: 'done', marker, pending: items.length, unsettled, ...period };
}
