/**
 * Metadata sync: users, bucket instances and buckets named by the metadata log (or listed by full
 * sync) are copied verbatim from source to destination; gone on the source means removed on the
 * destination. Instances go before buckets, users before both.
 */
import type { MdLogEntry, PeriodRef } from '../client/admin.js';
import { metadataShard } from '../rgw/shard.js';
import { isStateBucket, retryLater, type SyncContext } from './context.js';
import { interrupted, runShard, type ShardLog, type ShardRun } from './shardrun.js';
import type { ShardLock } from '../worker/lock.js';
import { describePeriod, periodToRead } from './periods.js';
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

/** The index layout fields of a bucket instance's metadata (bucket_info). */
const LAYOUT_FIELDS = ['num_shards', 'layout', 'bi_shard_hash_type'];

/**
 * The bucket-instance document to PUT on the destination: the source's, except the index layout,
 * which stays the destination's where it has the instance. A reshard on the source (Reef and later
 * reshard in place) would otherwise re-lay the destination's index without moving its entries,
 * hiding every object the new layout hashes elsewhere. The agent reads the source's index per
 * source shard and writes objects through S3, so the two layouts never need to agree.
 */
export function instanceForDestination(source: Buffer, destination: Buffer | undefined, o: { zonegroup?: string } = {}): { doc: Buffer; kept?: string } {
  const s = JSON.parse(source.toString('utf8')) as { data?: { bucket_info?: Record<string, unknown> } };
  const si = s.data?.bucket_info;
  // From another cluster the source's zonegroup means nothing here: a bucket of a foreign
  // zonegroup answers its users 301 (seen on Reef with a Pacific source).
  const regroup = o.zonegroup !== undefined && si !== undefined && typeof si.zonegroup === 'string' && si.zonegroup !== o.zonegroup;
  if (regroup) si.zonegroup = o.zonegroup;
  const unchanged = { doc: regroup ? Buffer.from(JSON.stringify(s)) : source };
  if (!destination) return unchanged;
  const d = JSON.parse(destination.toString('utf8')) as { data?: { bucket_info?: Record<string, unknown> } };
  const di = d.data?.bucket_info;
  if (!si || !di) return unchanged;
  const differ = LAYOUT_FIELDS.filter((f) => JSON.stringify(si[f]) !== JSON.stringify(di[f]));
  if (differ.length === 0) return unchanged;
  const was = `num_shards ${String(si.num_shards)} on the source, ${String(di.num_shards)} on the destination`;
  for (const f of LAYOUT_FIELDS) {
    if (f in di) si[f] = di[f];
    else delete si[f];
  }
  return { doc: Buffer.from(JSON.stringify(s)), kept: was };
}

export async function syncMetadataKey(ctx: SyncContext, section: string, key: string): Promise<void> {
  const doc = await ctx.src.getMetadata(section, key);
  if (doc === undefined) {
    await ctx.dst.deleteMetadata(section, key);
    ctx.acct.metadataRemoved();
    ctx.log.info(`metadata ${section}/${key} removed on the source: removed on the destination`);
    return;
  }
  let put = doc;
  if (section === 'bucket.instance') {
    const r = instanceForDestination(doc, await ctx.dst.getMetadata(section, key), ctx.zones.crossCluster ? { zonegroup: ctx.zones.zonegroup.key } : {});
    if (r.kept) ctx.log.info(`bucket instance ${key}: index layouts differ (${r.kept}), e.g. after a reshard on the source; the destination keeps its own`);
    put = r.doc;
  }
  await ctx.dst.putMetadata(section, key, put);
  ctx.acct.metadataWritten();
}

/**
 * Syncs keys a section at a time: users, then instances, then buckets (creation order), or the
 * reverse (`removal`: buckets before the users who own them). Returns the retry names that failed.
 */
export async function syncMetadataKeys(ctx: SyncContext, keys: Iterable<[string, string]>, signal: AbortSignal, removal = false): Promise<Set<string>> {
  const bySection = new Map<string, Set<string>>();
  for (const [s, k] of keys) {
    // Only users and buckets are replicated (Pacific logs other sections too, e.g. otp, roles).
    if (!SECTION_ORDER.includes(s)) continue;
    if (s !== 'user' && isStateBucket(ctx, k.split(':')[0])) continue;
    if (!bySection.has(s)) bySection.set(s, new Set());
    bySection.get(s)!.add(k);
  }
  const sections = [...bySection.keys()].sort((a, b) => SECTION_ORDER.indexOf(a) - SECTION_ORDER.indexOf(b));
  if (removal) sections.reverse();
  const failed = new Set<string>();
  for (const section of sections) {
    await forEachLimit(bySection.get(section)!, ctx.cfg.objectConcurrency, async (key) => {
      const name = retryName(section, key);
      try {
        await syncMetadataKey(ctx, section, key);
      } catch (e) {
        failed.add(name);
        retryLater(ctx, 'metadata', name, e);
      }
    }, signal);
  }
  return failed;
}

/** A metadata-log shard of one period (the gateway's current one when undefined) as a ShardLog: entries name "section/key". */
export function metadataShardLog(ctx: SyncContext, shard: number, period?: PeriodRef): ShardLog {
  return {
    type: 'metadata',
    entity: String(shard),
    ...(period ? { period } : {}),
    async read(marker, max) {
      const page = await ctx.src.listLog<MdLogEntry>('metadata', shard, marker, max, period?.id);
      return { names: page.entries.map((e) => retryName(e.section, e.name)), size: page.entries.length, end: page.entries.length > 0 ? page.marker : '', truncated: page.truncated };
    },
    sync(names, signal) {
      return syncMetadataKeys(ctx, names.map(parseRetryName).filter((x): x is [string, string] => x !== undefined), signal);
    },
  };
}

/**
 * Replays a metadata shard up to the source's current period: the log of the period its bound
 * names is read to its end, then the bound moves to the next period's start (keeping its retry
 * items: they name keys, not log positions), and so on until the current period's log is done.
 */
export async function runMetadataShard(ctx: SyncContext, shard: number, lock: ShardLock, current: PeriodRef | undefined): Promise<ShardRun> {
  for (;;) {
    const bound = await ctx.bounds.get('metadata', String(shard));
    const plan = periodToRead(bound?.period, current);
    const run = await runShard(ctx, metadataShardLog(ctx, shard, plan.read), lock);
    if (run.status !== 'done' || plan.final || !plan.read || !current) return run;
    const next = await ctx.periods.successor(plan.read, current);
    if (!lock.valid()) return { ...run, status: interrupted(ctx, lock) };
    const items = (await ctx.bounds.get('metadata', String(shard)))?.items ?? [];
    await ctx.bounds.set('metadata', String(shard), { marker: '', items, period: { id: next.id, realmEpoch: next.realmEpoch } });
    ctx.log.info(`metadata shard ${shard}: period ${describePeriod(plan.read)} read to its end; reading period ${describePeriod(next)} from its start`);
  }
}
