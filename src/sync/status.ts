/**
 * Sync status, like `radosgw-admin sync status`: for every metadata and data shard, the bound on
 * the destination against the source log's head, the age of the oldest change not yet synced, and
 * the retry items still owed (down to objects, through the bucket-instance bounds).
 */
import type { DataLogEntry, LogType, MdLogEntry, PeriodRef } from '../client/admin.js';
import { compareMarkers } from '../rgw/markers.js';
import { describePeriod, headsPeriod, shardHead, shardPeriodPlan } from './periods.js';
import type { ReadContext } from './context.js';
import { forEachLimit } from '../worker/pool.js';
import { isVersionedInstance } from './versioning.js';
import { sourceInstances } from './bucketsync.js';
import { bucketOfInstance } from './data.js';
import { isStateBucket } from './context.js';
import { collectHolds, countBehind, readRegistry, registrationKey, scopeOf, type BehindBounds } from './trim.js';

/** A registration older than this (and two trim intervals) belongs to an agent that no longer runs. */
const STALE_REGISTRATION_S = 2 * 3600;

export interface SourceLogsStatus {
  /** Entries the source's logs still hold at or before this agent's bounds. */
  behind_bounds: BehindBounds;
  trim_source_logs: boolean;
  registered: { key: string; destination: string; scope: string; trims: boolean; age_seconds: number; mine: boolean; stale: boolean }[];
}

/** `period`: a metadata shard whose bound is in an older period than the source's current one. */
export interface ShardStatus { shard: number; marker: string; head: string; behind: boolean; retries: string[]; oldestUnsyncedAgeSeconds: number | null; olderPeriod?: string }
export interface LogStatus { shards: number; caught_up: number; behind: number; with_retries: number; no_bound: number }
export interface StatusReport {
  source: string;
  destination: string;
  metadata: LogStatus;
  data?: LogStatus;
  oldest_unsynced_age_seconds: number | null;
  retry_items: number;
  retries: { type: string; entity: string; name: string }[];
  behind_shards: { type: LogType; shard: number; age_seconds: number | null; older_period?: string }[];
  /** The source's current metadata-log period, where it has periods. */
  metadata_period?: string;
  /** Versioned source buckets (synced version by version). */
  versioned_buckets: string[];
  source_logs: SourceLogsStatus;
  caught_up: boolean;
}

async function sourceLogs(ctx: ReadContext, current: PeriodRef | undefined, now: number, instances: Map<string, string>): Promise<SourceLogsStatus> {
  const behind = await countBehind(ctx, await collectHolds(ctx, instances), current);
  const mineKey = registrationKey(ctx.zones.destination.id, scopeOf(ctx.cfg));
  const staleAfter = Math.max(STALE_REGISTRATION_S, 2 * ctx.cfg.trimInterval);
  const registered = [...(await readRegistry(ctx)).entries()].map(([key, r]) => {
    const age = Math.max(0, (now - r.at) / 1000);
    return { key, destination: r.destination.name, scope: r.scope, trims: r.trims, age_seconds: age, mine: key === mineKey, stale: age > staleAfter };
  }).sort((a, b) => (a.key < b.key ? -1 : 1));
  return { behind_bounds: behind, trim_source_logs: ctx.cfg.trimSourceLogs, registered };
}

/** Source buckets whose current instance holds versions (one more metadata GET a bucket). */
async function versionedBuckets(ctx: ReadContext, instances: Map<string, string>): Promise<string[]> {
  const out: string[] = [];
  await forEachLimit([...instances], 16, async ([b, id]) => {
    const doc = await ctx.src.getMetadata('bucket.instance', `${b}:${id}`);
    if (doc && isVersionedInstance(JSON.parse(doc.toString('utf8')))) out.push(b);
  });
  return out.sort();
}



async function shardStatuses(ctx: ReadContext, type: LogType, now: number, current: PeriodRef | undefined): Promise<ShardStatus[]> {
  const n = await ctx.src.shardCount(type);
  const out: ShardStatus[] = new Array(n);
  const heads = await ctx.src.shardHeads(type, headsPeriod(type, current));
  await forEachLimit([...Array(n).keys()], 16, async (shard) => {
    const bound = await ctx.bounds.get(type, String(shard));
    // A metadata bound in an older period is behind whatever the current log's head says.
    const plan = shardPeriodPlan(type, bound?.period, current);
    const head = await shardHead(ctx.src, heads, type, shard, plan, current);
    const marker = bound?.marker ?? '';
    let behind = compareMarkers(head, marker) > 0 || !plan.final;
    let age: number | null = null;
    if (behind) {
      // The agent's own bookkeeping (its registration on the source) is logged like any write
      // but is nothing to sync: a shard holding only that is not behind.
      const page = await ctx.src.listLog<MdLogEntry | DataLogEntry>(type, shard, marker, type === 'data' ? 100 : 1, plan.read?.id);
      const owed = type === 'data' ? page.entries.filter((e) => !('key' in e && isStateBucket(ctx, bucketOfInstance(e.key)))) : page.entries;
      if (type === 'data' && plan.final && owed.length === 0 && !page.truncated && page.entries.length > 0) behind = false;
      const ts = owed[0] ? Date.parse(owed[0].timestamp) : NaN;
      age = behind && !Number.isNaN(ts) ? Math.max(0, (now - ts) / 1000) : null;
    }
    out[shard] = { shard, marker, head, behind, retries: (bound?.items ?? []).map((i) => i.name), oldestUnsyncedAgeSeconds: age, ...(!plan.final && plan.read ? { olderPeriod: describePeriod(plan.read) } : {}) };
    if (!bound) out[shard].marker = '(none)';
  });
  return out;
}

function summarize(list: ShardStatus[]): LogStatus {
  return {
    shards: list.length,
    caught_up: list.filter((s) => !s.behind && s.marker !== '(none)').length,
    behind: list.filter((s) => s.behind).length,
    with_retries: list.filter((s) => s.retries.length > 0).length,
    no_bound: list.filter((s) => s.marker === '(none)').length,
  };
}

export async function collectStatus(ctx: ReadContext, maxListed = 100): Promise<StatusReport> {
  const now = Date.now();
  const current = await ctx.periods.current();
  const md = await shardStatuses(ctx, 'metadata', now, current);
  const data = ctx.cfg.metadataOnly ? [] : await shardStatuses(ctx, 'data', now, current);
  // Listed once for both the versioned buckets and the bucket-index holds.
  const instances = ctx.cfg.metadataOnly ? undefined : await sourceInstances(ctx);
  const retries: StatusReport['retries'] = [];
  let retryItems = 0;
  for (const s of md) for (const name of s.retries) { retryItems++; if (retries.length < maxListed) retries.push({ type: 'metadata', entity: String(s.shard), name }); }
  for (const s of data) {
    for (const instance of s.retries) {
      // A bucket instance owed by a data shard: its own bound says which objects are owed.
      const b = instance.includes(':') ? await ctx.bounds.get('bucket-index', instance) : undefined;
      const objects = b?.items ?? [];
      if (objects.length === 0) {
        retryItems++;
        if (retries.length < maxListed) retries.push({ type: 'data', entity: String(s.shard), name: instance });
      }
      for (const o of objects) { retryItems++; if (retries.length < maxListed) retries.push({ type: 'bucket-index', entity: instance, name: o.name }); }
    }
  }
  const behindShards = [...md.map((s) => ({ type: 'metadata' as const, s })), ...data.map((s) => ({ type: 'data' as const, s }))]
    .filter(({ s }) => s.behind)
    .map(({ type, s }) => ({ type, shard: s.shard, age_seconds: s.oldestUnsyncedAgeSeconds, ...(s.olderPeriod ? { older_period: s.olderPeriod } : {}) }));
  const ages = behindShards.map((b) => b.age_seconds).filter((a): a is number => a !== null);
  const report: StatusReport = {
    source: `${ctx.zones.source.name} (${ctx.zones.sourceEndpoint})`,
    destination: `${ctx.zones.destination.name} (${ctx.cfg.destination})`,
    metadata: summarize(md),
    oldest_unsynced_age_seconds: ages.length ? Math.max(...ages) : null,
    retry_items: retryItems,
    retries,
    behind_shards: behindShards,
    ...(current ? { metadata_period: describePeriod(current) } : {}),
    versioned_buckets: instances ? await versionedBuckets(ctx, instances) : [],
    source_logs: await sourceLogs(ctx, current, now, instances ?? new Map()),
    // No bound = never synced, whatever the source log holds (an empty or trimmed log says nothing).
    caught_up: behindShards.length === 0 && retryItems === 0 && md.every((x) => x.marker !== '(none)') && data.every((x) => x.marker !== '(none)'),
  };
  if (!ctx.cfg.metadataOnly) report.data = summarize(data);
  return report;
}

function ago(seconds: number): string {
  return seconds < 120 ? `${seconds.toFixed(0)}s ago` : seconds < 7200 ? `${(seconds / 60).toFixed(0)}m ago` : seconds < 172800 ? `${(seconds / 3600).toFixed(0)}h ago` : `${(seconds / 86400).toFixed(0)}d ago`;
}

function line(name: string, s: LogStatus): string {
  return `${name}: ${s.shards} shards, ${s.caught_up} caught up, ${s.behind} behind, ${s.with_retries} with retries${s.no_bound ? `, ${s.no_bound} never synced (no bound: run a full sync)` : ''}`;
}

export function formatStatus(r: StatusReport): string {
  const out = [
    `          source: ${r.source}`,
    `     destination: ${r.destination}`,
    `   ${line('metadata sync', r.metadata)}`,
  ];
  if (r.metadata_period) out.push(`   source period: ${r.metadata_period}`);
  if (r.data) out.push(`       ${line('data sync', r.data)}`);
  out.push(`  oldest unsynced: ${r.oldest_unsynced_age_seconds === null ? 'none' : `${r.oldest_unsynced_age_seconds.toFixed(0)}s ago`}`);
  out.push(`     retry items: ${r.retry_items}`);
  for (const x of r.retries) out.push(`                  ${x.type} ${x.entity}: ${x.name}`);
  if (r.retry_items > r.retries.length) out.push(`                  ... and ${r.retry_items - r.retries.length} more`);
  for (const b of r.behind_shards.slice(0, 20)) out.push(`          behind: ${b.type} shard ${b.shard}${b.age_seconds === null ? '' : ` (oldest change ${b.age_seconds.toFixed(0)}s ago)`}${b.older_period ? `, still reading period ${b.older_period}` : ''}`);
  if (r.versioned_buckets.length) out.push(`       versioned: ${r.versioned_buckets.length} source bucket${r.versioned_buckets.length === 1 ? '' : 's'} (every version and delete marker synced): ${r.versioned_buckets.slice(0, 20).join(', ')}${r.versioned_buckets.length > 20 ? ', ...' : ''}`);
  const sl = r.source_logs;
  const bb = sl.behind_bounds;
  out.push(`     source logs: ${bb.metadata + bb.data + bb.bucket_index}${bb.capped ? '+' : ''} entries at or before this agent's bounds (metadata ${bb.metadata}, data ${bb.data}, bucket-index ${bb.bucket_index}); trim_source_logs ${sl.trim_source_logs ? 'on' : 'off'}`);
  out.push(`   trim registry: ${sl.registered.length === 0 ? 'nobody registered (an agent registers when sync or full-sync starts)' : sl.registered.map((x) => `${x.destination} ${x.scope}${x.mine ? ' (this agent)' : ''}${x.trims ? ', trims' : ''}, ${ago(x.age_seconds)}`).join('; ')}`);
  for (const x of sl.registered.filter((y) => y.stale)) out.push(`         warning: the agent for ${x.destination} (${x.scope}) last registered ${ago(x.age_seconds)} and holds log trimming back; if it is gone for good, remove ${x.key} from the state bucket on the source`);
  out.push(`          status: ${r.caught_up ? 'caught up' : 'behind'}`);
  return out.join('\n');
}
