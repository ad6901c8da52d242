/**
 * Metadata-log periods. RGW writes metadata changes into the log of the current period; a period
 * commit (a new master zone, a new zonegroup layout) starts a new log. A metadata shard's bound
 * names the period its marker belongs to: the agent reads that period's log to its end, then moves
 * the bound to the next period, from its start, until it reaches the current one. Entries written
 * before a period change are read, whenever the agent gets to them.
 */
import { AgentError } from '../client/errors.js';
import type { AdminApi } from '../client/admin.js';
import type { PeriodInfo, PeriodRef } from '../rgw/wire.js';

export interface PeriodPlan {
  /** The period whose log to read (undefined: the gateway's current one, without a period parameter). */
  read: PeriodRef | undefined;
  /** Reading `read` to its end finishes the shard: it is the current period, or there are none. */
  final: boolean;
}

export function describePeriod(p: PeriodRef): string {
  return `${p.id} (realm epoch ${p.realmEpoch})`;
}

/**
 * Which period's log a metadata shard reads next, given its bound's period and the source's
 * current one. A bound from before periods were recorded belongs to the current period.
 */
export function periodToRead(bound: PeriodRef | undefined, current: PeriodRef | undefined): PeriodPlan {
  if (!current) return { read: bound, final: true };
  if (!bound || bound.id === current.id) return { read: current, final: true };
  if (bound.realmEpoch < current.realmEpoch) return { read: bound, final: false };
  throw new AgentError(`a metadata bound names period ${describePeriod(bound)}, but the source's current period is ${describePeriod(current)}: `
    + 'the bounds belong to another realm or source zone (check src_zone and the state store), or the source\'s realm was rebuilt (run a full sync with fresh bounds)');
}

/** periodToRead for any log shard: only the metadata log has periods. */
export function shardPeriodPlan(type: 'metadata' | 'data', bound: PeriodRef | undefined, current: PeriodRef | undefined): PeriodPlan {
  return type === 'metadata' ? periodToRead(bound, current) : { read: undefined, final: true };
}

/** The log one-call heads (AdminApi.shardHeads) are asked of: the current period's for metadata; the data log has none. */
export function headsPeriod(type: 'metadata' | 'data', current: PeriodRef | undefined): string | undefined {
  return type === 'metadata' ? current?.id : undefined;
}

/**
 * A shard's head for `plan`: from `heads` (every shard's head in the current period, one call)
 * where the shard reads that log, else asked of the shard (a metadata shard still in an older
 * period, or a source without one-call heads).
 */
export async function shardHead(src: Pick<AdminApi, 'shardMarker'>, heads: string[] | undefined, type: 'metadata' | 'data', shard: number, plan: PeriodPlan, current: PeriodRef | undefined): Promise<string> {
  if (heads && plan.read?.id === headsPeriod(type, current)) return heads[shard] ?? '';
  return src.shardMarker(type, shard, plan.read?.id);
}

/**
 * The period after `from` on the way to `current`: the one whose predecessor is `from`, found by
 * walking back from `current`. `chain` holds the periods read so far, newest first.
 */
export function periodAfter(chain: PeriodInfo[], from: PeriodRef): PeriodInfo | 'more' | 'broken' {
  for (const p of chain) {
    if (p.predecessor === from.id) return p;
    if (p.realmEpoch <= from.realmEpoch || p.predecessor === '') return 'broken';
  }
  return 'more';
}

/**
 * The source's period history does not lead from a bound's period to the current one: the entries
 * of the periods in between cannot be read, so the shard needs a full sync.
 */
export class PeriodGap extends AgentError {}

/** Period history as the source tells it; periods never change once committed, so it is cached. */
export class PeriodHistory {
  private readonly known = new Map<string, PeriodInfo>();

  constructor(private readonly src: AdminApi) {}

  current(): Promise<PeriodRef | undefined> {
    return this.src.currentPeriod();
  }

  async successor(from: PeriodRef, current: PeriodRef): Promise<PeriodInfo> {
    const chain: PeriodInfo[] = [];
    for (let id = current.id; ;) {
      const p = this.known.get(id) ?? await this.src.period(id);
      if (!p) throw new PeriodGap(`the source does not know period ${id}, on the way from ${describePeriod(from)} to ${describePeriod(current)}`);
      this.known.set(id, p);
      chain.push(p);
      const next = periodAfter(chain, from);
      if (next === 'broken') {
        throw new PeriodGap(`the source's period history from ${describePeriod(current)} back does not reach period ${describePeriod(from)}: `
          + 'the metadata entries of the periods in between cannot be read');
      }
      if (next !== 'more') return next;
      id = p.predecessor;
    }
  }
}
