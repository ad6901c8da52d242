/**
 * Trimming the source's logs, and the registry that makes it safe. With Ceph's own sync off
 * nothing trims the metadata, data and bucket-index logs, so they grow forever. Every agent
 * registers on the source what it still needs of each log (trim/<destination id>/<scope>.json in
 * the state bucket there); an agent with trim_source_logs on removes only entries that every
 * registered destination has read (trimpoints.ts decides how far).
 *
 * A new agent's first registration races a trim round that read the registry just before it:
 * the newcomer therefore waits the longest fence a trimming agent declares before it reads any
 * log position, and a trimmer sends no trim call later than its fence after reading the registry
 * (it reads it again instead).
 */
import { performance } from 'node:perf_hooks';
import type { MdLogEntry, PeriodRef } from '../rgw/wire.js';
import { compareMarkers, isStartMarker, markerPosition, shardMarkers } from '../rgw/markers.js';
import { NotFound } from '../client/errors.js';
import { forEachLimit, Stopped } from '../worker/pool.js';
import { readBounds } from './bounds.js';
import { sleep } from '../worker/sleep.js';
import type { ReadContext, SyncContext } from './context.js';
import { instanceName, listedInstance, parseInstanceName, sourceInstances } from './bucketsync.js';
import { fenceWait, metadataHoldIn, parseRegistration, sameHolds, trimPoint, type MetadataHold, type Registration } from './trimpoints.js';

const PREFIX = 'trim/';
/** A registration whose holds did not change is still rewritten this often: "last seen". */
const REFRESH_MS = 3600_000;

type Holds = Pick<Registration, 'metadata' | 'data' | 'bilog'>;

/** "all", "metadata" or the configured data shards as ranges ("0-63,96-127"). */
export function scopeOf(cfg: ReadContext['cfg']): string {
  if (cfg.metadataOnly) return 'metadata';
  if (!cfg.shards) return 'all';
  const s = [...new Set(cfg.shards)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < s.length;) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j] + 1) j++;
    parts.push(i === j ? String(s[i]) : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

export function registrationKey(destinationId: string, scope: string): string {
  return `${PREFIX}${encodeURIComponent(destinationId)}/${encodeURIComponent(scope)}.json`;
}

/** Trim rounds re-read the registry after `round` ms; newcomers wait `fence` ms. */
export function fenceFor(trimIntervalSeconds: number): { round: number; fence: number } {
  const half = trimIntervalSeconds * 500;
  const round = Math.min(30_000, half);
  // Beyond the round, time for a trim call already sent to reach the source.
  return { round, fence: round + Math.min(10_000, half) };
}

/** The registrations on the source, by key; none when its registry bucket does not exist. */
export async function readRegistry(ctx: ReadContext): Promise<Map<string, Registration>> {
  const out = new Map<string, Registration>();
  const keys: string[] = [];
  try {
    for await (const o of ctx.srcS3.allObjects(ctx.cfg.stateBucket, 1000, PREFIX)) keys.push(o.key);
  } catch (e) {
    if (e instanceof NotFound) return out;
    throw e;
  }
  await forEachLimit(keys, 8, async (key) => {
    const body = await ctx.srcS3.getObject(ctx.cfg.stateBucket, key);
    if (!body) return;
    let raw: unknown;
    try {
      raw = JSON.parse(body.toString('utf8'));
    } catch {
      return;
    }
    const r = parseRegistration(raw);
    if (r) out.set(key, r);
  });
  return out;
}

/** Bucket-index log names (as bounds name them) of the source's current bucket instances. */
async function bilogNames(ctx: ReadContext, instances: Map<string, string>): Promise<string[]> {
  const names: string[] = [];
  await forEachLimit([...instances], 16, async ([b, id]) => {
    const { maxMarker, latestGen } = await ctx.src.bilogInfo(`${b}:${id}`);
    const shards = shardMarkers(maxMarker);
    if (shards.length === 0) names.push(instanceName(b, id, undefined, latestGen));
    for (const [shard] of shards) names.push(instanceName(b, id, shard, latestGen));
  });
  return names.sort();
}

/**
 * What this agent still needs of each log it reads, from its bounds: a shard without a bound
 * holds the whole log (its full sync has not finished). Bucket-index logs are named only where a
 * bound exists; a destination that names none holds that log whole anyway. `instances`: the
 * source's buckets and current instances, where the caller has listed them already.
 */
export async function collectHolds(ctx: ReadContext, instances?: Map<string, string>): Promise<Holds> {
  const metadata: Record<string, MetadataHold> = {};
  const data: Record<string, string> = {};
  const bilog: Record<string, string> = {};
  // The three logs at once: against RGW each is a listing or a round trip per record.
  await Promise.all([
    (async () => {
      const mdShards = await ctx.src.shardCount('metadata');
      for (const [s, b] of await readBounds(ctx.bounds, 'metadata', [...Array(mdShards).keys()].map(String), 32)) {
        metadata[s] = b && !isStartMarker(b.marker) ? { marker: b.marker, ...(b.period ? { period: b.period } : {}) } : { marker: '' };
      }
    })(),
    ...(ctx.cfg.metadataOnly ? [] : [
      (async () => {
        const dataShards = await ctx.src.shardCount('data');
        const mine = ctx.cfg.shards ? new Set(ctx.cfg.shards) : undefined;
        for (const [s, b] of await readBounds(ctx.bounds, 'data', [...Array(dataShards).keys()].filter((s) => !mine || mine.has(s)).map(String), 32)) {
          data[s] = b && !isStartMarker(b.marker) ? b.marker : '';
        }
      })(),
      (async () => {
        for (const [name, b] of await readBounds(ctx.bounds, 'bucket-index', await bilogNames(ctx, instances ?? await sourceInstances(ctx)), 16)) {
          if (b && !isStartMarker(b.marker)) bilog[name] = b.marker;
        }
      })(),
    ]),
  ]);
  return { metadata: sorted(metadata), data: sorted(data), bilog: sorted(bilog) };
}

function sorted<T>(r: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a.length - b.length) || (a < b ? -1 : a > b ? 1 : 0)));
}

/** Entries the source's logs still hold at or before this agent's bounds (what trimming would free). */
export interface BehindBounds { metadata: number; data: number; bucket_index: number; /** Counting stopped at the cap. */ capped: boolean }

/**
 * Counts, for status, the entries each log holds up to `holds` (at most `cap` in all). A read:
 * no log is changed.
 */
export async function countBehind(ctx: ReadContext, holds: Holds, current: PeriodRef | undefined, cap = 100_000): Promise<BehindBounds> {
  const out: BehindBounds = { metadata: 0, data: 0, bucket_index: 0, capped: false };
  const total = () => out.metadata + out.data + out.bucket_index;
  const count = async (upTo: string, page: (marker: string) => Promise<{ ids: (string | undefined)[]; end: string; truncated: boolean }>): Promise<number> => {
    let n = 0;
    let marker = '';
    for (;;) {
      if (total() + n >= cap) {
        out.capped = true;
        return n;
      }
      const p = await page(marker);
      for (const id of p.ids) {
        // An entry without an id (Tentacle's data log) counts where its page ends within the bound.
        const at = id ?? p.end;
        if (isStartMarker(at) || compareMarkers(at, upTo) > 0) return n;
        n++;
      }
      if (!p.truncated || p.ids.length === 0 || isStartMarker(p.end) || compareMarkers(p.end, upTo) >= 0) return n;
      marker = p.end;
    }
  };
  for (const [shard, h] of Object.entries(holds.metadata)) {
    const upTo = metadataHoldIn(h, current);
    if (!upTo) continue;
    out.metadata += await count(upTo, async (m) => {
      const p = await ctx.src.listLog<MdLogEntry>('metadata', Number(shard), m, 1000, current?.id);
      return { ids: p.entries.map((e) => e.id), end: p.marker, truncated: p.truncated };
    });
  }
  for (const [shard, upTo] of Object.entries(holds.data)) {
    if (!upTo) continue;
    out.data += await count(upTo, async (m) => {
      const p = await ctx.src.listDataLog(Number(shard), m, 1000);
      return { ids: p.entries.map((e) => e.id), end: p.marker, truncated: p.truncated };
    });
  }
  for (const [name, upTo] of Object.entries(holds.bilog)) {
    const inst = parseInstanceName(name);
    if (!inst) continue;
    out.bucket_index += await count(upTo, async (m) => {
      let page;
      try {
        page = await ctx.src.listBilog(listedInstance(inst), m, 1000, inst.gen ?? 0);
      } catch (e) {
        if (e instanceof NotFound) return { ids: [], end: '', truncated: false };
        throw e;
      }
      return { ids: page.map((e) => e.op_id), end: page.at(-1)?.op_id ?? '', truncated: page.length >= 1000 };
    });
  }
  return out;
}

/** The agent's side: its registration, kept current, and (with trim_source_logs) trim rounds. */
export class SourceLogTrim {
  private registered = false;
  private written?: Registration;
  private writtenAt = 0;
  private lastTick = -Infinity;
  /** Per log: the point last trimmed to, so an unchanged point costs no call. */
  private readonly trimmed = new Map<string, string>();

  constructor(private readonly ctx: SyncContext) {}

  private get key(): string {
    return registrationKey(this.ctx.zones.destination.id, scopeOf(this.ctx.cfg));
  }

  private registration(holds: Holds): Registration {
    const { cfg, zones } = this.ctx;
    return {
      version: 1, source: zones.source.id, destination: { id: zones.destination.id, name: zones.destination.name }, scope: scopeOf(cfg),
      locker: this.ctx.lockerId, at: Date.now(), trims: cfg.trimSourceLogs, fenceMs: fenceFor(cfg.trimInterval).fence, ...holds,
    };
  }

  private async write(r: Registration): Promise<void> {
    const bucket = this.ctx.cfg.stateBucket;
    if (!this.written) await this.ctx.srcS3.createBucket(bucket);
    await this.ctx.srcS3.putObject(bucket, this.key, JSON.stringify(r), 'application/json');
    this.written = r;
    this.writtenAt = performance.now();
  }

  /**
   * Registers this agent before it reads any log position (a full sync's snapshot, the first
   * pass). The first registration of this destination and scope waits out the fence of every
   * trimming agent; later calls do nothing. Without trim_source_logs a failure is a warning (the
   * agent syncs on; a trimming agent would not see it), with it the start fails and is retried.
   */
  async register(): Promise<void> {
    if (this.registered) return;
    try {
      const before = await readRegistry(this.ctx);
      const existed = before.has(this.key);
      await this.write(this.registration(await collectHolds(this.ctx)));
      this.registered = true;
      before.delete(this.key);
      const wait = existed ? 0 : fenceWait([...before.values()]);
      if (wait > 0) {
        this.ctx.log.info(`registered on the source for log trimming; waiting ${(wait / 1000).toFixed(1)}s so that no trim round another agent started before this registration can remove entries this agent needs`);
        await sleep(wait, this.ctx.stop);
        if (this.ctx.stop.aborted) throw new Stopped();
      } else {
        this.ctx.log.debug(`registered on the source for log trimming as ${this.key}`);
      }
    } catch (e) {
      if (e instanceof Stopped || this.ctx.cfg.trimSourceLogs) throw e;
      this.ctx.log.warn(`cannot register in ${this.ctx.cfg.stateBucket} on the source (${(e as Error).message}): an agent that trims this source's logs will not know what this one still needs; retrying every trim_interval`);
    }
  }

  /**
   * Between passes: every trim_interval, refresh the registration (when its holds changed, or an
   * hour went by) and, with trim_source_logs, trim (not while stopping). `force` (the end of a
   * run) does it now. A failure is logged and tried again next interval; it never fails a pass.
   */
  async tick(force = false): Promise<void> {
    const now = performance.now();
    if (!force && now - this.lastTick < this.ctx.cfg.trimInterval * 1000) return;
    this.lastTick = now;
    try {
      const mine = this.registration(await collectHolds(this.ctx));
      if (!this.written || !sameHolds(mine, this.written) || now - this.writtenAt > REFRESH_MS) await this.write(mine);
      this.registered = true;
      if (this.ctx.cfg.trimSourceLogs && !this.ctx.stop.aborted) await this.round(mine);
    } catch (e) {
      if (e instanceof Stopped) return;
      this.ctx.log.warn(`log trimming: ${(e as Error).message}; trying again in ${this.ctx.cfg.trimInterval}s`);
    }
  }

  /** One trim round: each log up to the lowest hold of every registered destination. */
  private async round(mine: Registration): Promise<void> {
    const current = await this.ctx.periods.current();
    const [mdShards, dataShards] = await Promise.all([this.ctx.src.shardCount('metadata'), this.ctx.cfg.metadataOnly ? 0 : this.ctx.src.shardCount('data')]);
    const { round } = fenceFor(this.ctx.cfg.trimInterval);
    type Log = { kind: 'metadata' | 'data' | 'bilog'; name: string };
    const hold = (log: Log, r: Registration): string | undefined => log.kind === 'metadata' ? metadataHoldIn(r.metadata[log.name], current) : r[log.kind][log.name];
    let pending: Log[] | undefined;
    const done = { metadata: 0, data: 0, bilog: 0 };
    let agents = 0;
    let destinations = 0;
    while (!pending || pending.length > 0) {
      const registry = await readRegistry(this.ctx);
      registry.set(this.key, mine);
      const regs = [...registry.values()];
      agents = regs.length;
      destinations = new Set(regs.map((r) => r.destination.id)).size;
      const listedAt = performance.now();
      pending ??= [
        ...[...Array(mdShards).keys()].map((s): Log => ({ kind: 'metadata', name: String(s) })),
        ...[...Array(dataShards).keys()].map((s): Log => ({ kind: 'data', name: String(s) })),
        ...[...new Set(regs.flatMap((r) => Object.keys(r.bilog)))].sort().map((name): Log => ({ kind: 'bilog', name })),
      ];
      while (pending.length > 0) {
        if (this.ctx.stop.aborted) return;
        // A registration written after the registry was read must not be trimmed past: past the
        // round's time, read the registry again before the next call.
        if (performance.now() - listedAt > round) break;
        const log = pending.shift() as Log;
        const key = `${log.kind}/${log.name}`;
        const point = trimPoint(regs, (r) => hold(log, r));
        if (point === undefined || this.trimmed.get(key) === point) continue;
        if (log.kind === 'bilog') {
          const inst = parseInstanceName(log.name);
          if (!inst) continue;
          try {
            await this.ctx.src.trimBilog(listedInstance(inst), markerPosition(point), inst.gen ?? 0);
          } catch (e) {
            if (!(e instanceof NotFound)) throw e;
          }
        } else {
          await this.ctx.src.trimLog(log.kind, Number(log.name), point, log.kind === 'metadata' ? current?.id : undefined);
        }
        this.trimmed.set(key, point);
        done[log.kind]++;
      }
    }
    const n = done.metadata + done.data + done.bilog;
    this.ctx.log.debug(`trim round done: ${n} log shards trimmed; ${agents} registered agent(s) for ${destinations} destination(s)`);
    if (n > 0) this.ctx.log.info(`trimmed the source's logs: ${done.metadata} metadata, ${done.data} data and ${done.bilog} bucket-index log shards, each up to the lowest bound of ${destinations} destination(s) (${agents} registered agent(s))`);
  }
}
