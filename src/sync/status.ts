/**
 * Sync status, like `radosgw-admin sync status`: for every metadata and data shard, the bound on
 * the destination against the source log's head, the age of the oldest change not yet synced, and
 * the retry items still owed (down to objects, through the bucket-instance bounds).
 */
import type { DataLogEntry, LogType, MdLogEntry, PeriodRef } from '../client/admin.js';
import { compareMarkers } from '../rgw/markers.js';
import { describePeriod, shardPeriodPlan } from './periods.js';
import type { ReadContext } from './context.js';
import { forEachLimit } from '../worker/pool.js';
import { isVersionedInstance, versionedNote } from './versioning.js';
import { currentInstance } from './bucketsync.js';

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
  /** Versioned source buckets: only their current versions are synced. */
  versioned_buckets: string[];
  caught_up: boolean;
}

/** Source buckets whose current instance holds versions (two metadata GETs a bucket). */
async function versionedBuckets(ctx: ReadContext): Promise<string[]> {
  const out: string[] = [];
  const buckets: string[] = [];
  for await (const b of ctx.src.metadataKeys('bucket')) buckets.push(b);
  await forEachLimit(buckets, 16, async (b) => {
    const id = await currentInstance(ctx, b);
    if (!id) return;
    const doc = await ctx.src.getMetadata('bucket.instance', `${b}:${id}`);
    if (doc && isVersionedInstance(JSON.parse(doc.toString('utf8')))) out.push(b);
  });
  return out.sort();
}



async function shardStatuses(ctx: ReadContext, type: LogType, now: number, current: PeriodRef | undefined): Promise<ShardStatus[]> {
  const n = await ctx.src.shardCount(type);
  const out: ShardStatus[] = new Array(n);
  await forEachLimit([...Array(n).keys()], 16, async (shard) => {
    const bound = await ctx.bounds.get(type, String(shard));
    // A metadata bound in an older period is behind whatever the current log's head says.
    const plan = shardPeriodPlan(type, bound?.period, current);
    const head = await ctx.src.shardMarker(type, shard, plan.read?.id);
    const marker = bound?.marker ?? '';
    const behind = compareMarkers(head, marker) > 0 || !plan.final;
    let age: number | null = null;
    if (behind) {
      const page = await ctx.src.listLog<MdLogEntry | DataLogEntry>(type, shard, marker, 1, plan.read?.id);
      const ts = page.entries[0] ? Date.parse(page.entries[0].timestamp) : NaN;
      age = Number.isNaN(ts) ? null : Math.max(0, (now - ts) / 1000);
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
    versioned_buckets: ctx.cfg.metadataOnly ? [] : await versionedBuckets(ctx),
    // No bound = never synced, whatever the source log holds (an empty or trimmed log says nothing).
    caught_up: behindShards.length === 0 && retryItems === 0 && md.every((x) => x.marker !== '(none)') && data.every((x) => x.marker !== '(none)'),
  };
  if (!ctx.cfg.metadataOnly) report.data = summarize(data);
  return report;
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
  for (const b of r.versioned_buckets) out.push(`         warning: ${versionedNote(b)}`);
  out.push(`          status: ${r.caught_up ? 'caught up' : 'behind'}`);
  return out.join('\n');
}
