/**
 * Sync bounds: for each metadata shard, data shard and bucket instance, the log marker up to which
 * everything is synced or recorded, plus the retry items still owed. A bound never moves backwards
 * and " " never replaces a real marker, whichever backend keeps it:
 *   - replica-log: /admin/replica_log on the destination (embedded zone, Hammer/Jewel RGW);
 *   - bucket: one JSON object per bound in a dedicated bucket on the destination (Pacific);
 *   - file: one local JSON file, replaced atomically.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AdminApi, Bound, BoundType, PeriodRef, RetryItem } from '../client/admin.js';
import { forEachLimit } from '../worker/pool.js';
import { AgentError, NotFound } from '../client/errors.js';
import type { S3Api } from '../client/s3.js';
import { isStartMarker, laterMarker } from '../rgw/markers.js';

export type { Bound, BoundType, PeriodRef };

export interface BoundStore extends BoundReader {
  set(type: BoundType, entity: string, bound: Bound): Promise<void>;
}

/** What a read-only command (status, verify) may do with bounds. */
export interface BoundReader {
  readonly kind: string;
  get(type: BoundType, entity: string): Promise<Bound | undefined>;
  /**
   * The entities of `type` that have a record now, where the store can say so in a listing
   * (undefined: ask get for each). A snapshot for planning: a record written after it is read by
   * the get that comes before any write.
   */
  recorded?(type: BoundType): Promise<Set<string> | undefined>;
}

/** Where bounds are kept; MonotonicBounds adds the never-regress rule on top. */
export interface BoundBackend {
  readonly kind: string;
  /** One record may not hold an unbounded retry list (a request body limit): see SpillingBackend. */
  readonly recordLimited?: boolean;
  read(type: BoundType, entity: string): Promise<Bound | undefined>;
  write(type: BoundType, entity: string, bound: Bound): Promise<void>;
  /** Entities of `type` with a record, from one listing (see BoundReader.recorded). */
  recorded?(type: BoundType): Promise<Set<string>>;
}

/**
 * The floor for a write, by the rule above, where markers of one period's log compare and a newer
 * period starts a new log (its markers say nothing about the old one's). A write never moves a
 * bound to an older period; one without a period keeps the period already known.
 */
export function boundFloor(known: { marker: string; period?: PeriodRef } | undefined, write: Bound): { floor: string; period?: PeriodRef } {
  const period = write.period ?? known?.period;
  if (!known) return { floor: '', period };
  if (known.period && period && period.realmEpoch < known.period.realmEpoch) {
    throw new AgentError(`refusing to move a sync bound back from period ${known.period.id} (realm epoch ${known.period.realmEpoch}) to ${period.id} (realm epoch ${period.realmEpoch})`);
  }
  if (known.period && period && period.realmEpoch > known.period.realmEpoch) return { floor: '', period };
  if (known.period && period && period.id !== known.period.id) {
    throw new AgentError(`two periods with realm epoch ${period.realmEpoch}: ${known.period.id} and ${period.id}`);
  }
  return { floor: known.marker, period };
}

/**
 * The bounds of many entities of one type: one listing where the store has one, then a read of
 * each entity it lists (a fresh destination: no reads at all), `limit` at a time; otherwise a
 * read of each.
 */
export async function readBounds(store: BoundReader, type: BoundType, entities: readonly string[], limit: number): Promise<Map<string, Bound | undefined>> {
  const recorded = await store.recorded?.(type);
  const out = new Map<string, Bound | undefined>();
  await forEachLimit([...entities], limit, async (e) => {
    out.set(e, recorded && !recorded.has(e) ? undefined : await store.get(type, e));
  });
  return out;
}

export class MonotonicBounds implements BoundStore {
  /** The newest position this process has seen per entity: the floor for any write. */
  private readonly known = new Map<string, { marker: string; period?: PeriodRef }>();
  private readonly backend: BoundBackend;

  constructor(backend: BoundBackend) {
    this.backend = backend.recordLimited ? new SpillingBackend(backend) : backend;
  }

  get kind(): string {
    return this.backend.kind;
  }

  async recorded(type: BoundType): Promise<Set<string> | undefined> {
    return this.backend.recorded ? this.backend.recorded(type) : undefined;
  }

  async get(type: BoundType, entity: string): Promise<Bound | undefined> {
    const b = await this.backend.read(type, entity);
    if (b) this.remember(type, entity, b);
    return b;
  }

  async set(type: BoundType, entity: string, bound: Bound): Promise<void> {
    const { floor, period } = boundFloor(this.known.get(`${type}/${entity}`), bound);
    const marker = laterMarker(bound.marker, floor);
    // The replica log refuses an empty marker; " " is only written where no real marker exists.
    const stored: Bound = { marker: isStartMarker(marker) ? ' ' : marker, items: bound.items, ...(period ? { period } : {}) };
    await this.backend.write(type, entity, stored);
    this.remember(type, entity, stored);
  }

  private remember(type: BoundType, entity: string, b: Bound): void {
    const k = `${type}/${entity}`;
    const known = this.known.get(k);
    // What another process stored in an older period than we know of moves nothing back.
    if (known?.period && b.period && b.period.realmEpoch < known.period.realmEpoch) return;
    const newPeriod = !known || (b.period !== undefined && b.period.realmEpoch > (known.period?.realmEpoch ?? -1));
    this.known.set(k, { marker: newPeriod ? b.marker : laterMarker(b.marker, known.marker), period: b.period ?? known?.period });
  }
}

/**
 * Retry items one bound record holds. Real RGW reads a replica_log POST body of at most
 * rgw_max_put_param_size (1 MiB), the embedded zone 16 MiB; a retry name is at most ~1.1 KB (an
 * object key of 1024 bytes plus the bucket instance), so both caps keep a record near a quarter of
 * the smallest limit.
 */
export const RETRY_ITEMS_PER_RECORD = 500;
export const RECORD_BYTES = 256 << 10;

/**
 * The last item of a bound whose retries spilled: which generation of extra records holds the rest
 * and how many there are. The epoch timestamp is what tells it from a real item (real items carry
 * the time they failed) while still parsing as a time on gateways that check it.
 */
const SPILL_PREFIX = 'rgw-agent:spilled-retries:';
const SPILL_TIME = '1970-01-01T00:00:00.000Z';

function spillNote(item: RetryItem): { gen: number; chunks: number } | undefined {
  if (item.timestamp !== SPILL_TIME || !item.name.startsWith(SPILL_PREFIX)) return undefined;
  const m = /^(\d+):(\d+)$/.exec(item.name.slice(SPILL_PREFIX.length));
  return m ? { gen: Number(m[1]), chunks: Number(m[2]) } : undefined;
}

/** Items in order, cut into records of at most RETRY_ITEMS_PER_RECORD items and RECORD_BYTES of JSON. */
export function chunkRetries(items: readonly RetryItem[], perRecord = RETRY_ITEMS_PER_RECORD, bytes = RECORD_BYTES): RetryItem[][] {
  const out: RetryItem[][] = [];
  let cur: RetryItem[] = [];
  let size = 0;
  // The first record also carries the spill note; keep room for it.
  let room = { n: perRecord - 1, bytes: bytes - 256 };
  for (const item of items) {
    const b = Buffer.byteLength(JSON.stringify(item)) + 1;
    if (cur.length > 0 && (cur.length >= room.n || size + b > room.bytes)) {
      out.push(cur);
      cur = [];
      size = 0;
      room = { n: perRecord, bytes };
    }
    cur.push(item);
    size += b;
  }
  out.push(cur);
  return out;
}

/**
 * A bound with more retries than one record may hold: the first chunk stays in the bound record,
 * the rest go into extra records of type bucket-index named "<type>/<entity>#retries-<gen>-<k>"
 * (bucket-index, because the replica log takes only shard numbers as metadata and data ids). The
 * extras are written first, into the generation the bound does not point at, and the bound record
 * last: a crash in between leaves the previous bound and its extras whole. Writes to one entity are
 * serialized, since two in flight could pick the same generation.
 */
export class SpillingBackend implements BoundBackend {
  /** Generation the stored bound points at, per entity, where this process knows it. */
  private readonly gens = new Map<string, number>();
  private readonly queues = new Map<string, Promise<void>>();

  /** Where the inner store can list: the bound records themselves (a spilled list's extras are bucket-index records named "...#retries-..."). */
  readonly recorded?: (type: BoundType) => Promise<Set<string>>;

  constructor(private readonly inner: BoundBackend) {
    const list = inner.recorded?.bind(inner);
    if (list) {
      this.recorded = async (type) => {
        const all = await list(type);
        return type === 'bucket-index' ? new Set([...all].filter((e) => !e.includes('#retries-'))) : all;
      };
    }
  }

  get kind(): string {
    return this.inner.kind;
  }

  static extra(type: BoundType, entity: string, gen: number, k: number): string {
    return `${type}/${entity}#retries-${gen}-${k}`;
  }

  async read(type: BoundType, entity: string): Promise<Bound | undefined> {
    const b = await this.inner.read(type, entity);
    const note = b?.items.length ? spillNote(b.items[b.items.length - 1]) : undefined;
    if (!b || !note) return b;
    this.gens.set(`${type}/${entity}`, note.gen);
    const extras = new Array<RetryItem[]>(note.chunks - 1);
    await forEachLimit([...extras.keys()], 4, async (i) => {
      const name = SpillingBackend.extra(type, entity, note.gen, i + 1);
      const r = await this.inner.read('bucket-index', name);
      // Never a silently shorter retry list: a missing extra record is an error to report.
      if (!r) throw new Error(`the bound of ${type} ${entity} names ${note.chunks - 1} extra retry records, but ${name} is missing`);
      extras[i] = r.items;
    });
    return { ...b, items: [...b.items.slice(0, -1), ...extras.flat()] };
  }

  write(type: BoundType, entity: string, bound: Bound): Promise<void> {
    const key = `${type}/${entity}`;
    const step = (this.queues.get(key) ?? Promise.resolve()).then(() => this.writeNow(type, entity, bound));
    const settled = step.catch(() => undefined);
    this.queues.set(key, settled);
    void settled.then(() => { if (this.queues.get(key) === settled) this.queues.delete(key); });
    return step;
  }

  private async writeNow(type: BoundType, entity: string, bound: Bound): Promise<void> {
    const chunks = chunkRetries(bound.items);
    if (chunks.length === 1) return this.inner.write(type, entity, bound);
    const key = `${type}/${entity}`;
    let current = this.gens.get(key);
    if (current === undefined) {
      const stored = await this.inner.read(type, entity);
      const note = stored?.items.length ? spillNote(stored.items[stored.items.length - 1]) : undefined;
      current = note?.gen ?? 1;
    }
    const gen = 1 - current;
    await forEachLimit([...chunks.keys()].slice(1), 4, (k) => this.inner.write('bucket-index', SpillingBackend.extra(type, entity, gen, k), { marker: bound.marker, items: chunks[k] }));
    await this.inner.write(type, entity, { ...bound, items: [...chunks[0], { name: `${SPILL_PREFIX}${gen}:${chunks.length}`, timestamp: SPILL_TIME }] });
    this.gens.set(key, gen);
  }
}

const PERIOD_PREFIX = 'rgw-agent:period:';

/**
 * The replica log keeps a marker and retry items, nothing else: a bound's period travels as a
 * last item "rgw-agent:period:<realm epoch>:<id>", taken off again when read.
 */
export class ReplicaLogBackend implements BoundBackend {
  readonly kind = 'replica-log';
  readonly recordLimited = true;
  constructor(private readonly dest: AdminApi) {}
  async read(type: BoundType, entity: string): Promise<Bound | undefined> {
    const b = await this.dest.getBound(type, entity);
    const last = b?.items.at(-1);
    const m = last && last.timestamp === SPILL_TIME && last.name.startsWith(PERIOD_PREFIX) ? /^(\d+):(.+)$/.exec(last.name.slice(PERIOD_PREFIX.length)) : null;
    if (!b || !m) return b;
    return { marker: b.marker, items: b.items.slice(0, -1), period: { realmEpoch: Number(m[1]), id: m[2] } };
  }
  write(type: BoundType, entity: string, bound: Bound): Promise<void> {
    const items = bound.period ? [...bound.items, { name: `${PERIOD_PREFIX}${bound.period.realmEpoch}:${bound.period.id}`, timestamp: SPILL_TIME }] : bound.items;
    return this.dest.setBound(type, entity, { marker: bound.marker, items });
  }
}

function parsePeriod(v: unknown): PeriodRef | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const p = v as { id?: unknown; realmEpoch?: unknown };
  return typeof p.id === 'string' && typeof p.realmEpoch === 'number' ? { id: p.id, realmEpoch: p.realmEpoch } : undefined;
}

function parseBound(text: string, where: string): Bound {
  const j = JSON.parse(text) as { marker?: unknown; items?: unknown; period?: unknown };
  if (typeof j.marker !== 'string' || !Array.isArray(j.items)) throw new Error(`${where} is not a sync bound`);
  const period = parsePeriod(j.period);
  return { marker: j.marker, items: (j.items as { name: string; timestamp: string }[]).map((i) => ({ name: String(i.name), timestamp: String(i.timestamp) })), ...(period ? { period } : {}) };
}

/**
 * Bounds as objects in a bucket on the destination, one per shard and per bucket instance. A PUT
 * replaces an object atomically, which is all a bound needs.
 */
export class BucketBackend implements BoundBackend {
  readonly kind = 'bucket';
  /** S3 takes big objects, but rewriting megabytes per batch and parsing them back does not scale either. */
  readonly recordLimited = true;
  /** One creation for all writers: on a secondary zone each create is forwarded to the master. */
  private creating: Promise<void> | undefined;

  constructor(private readonly s3: S3Api, readonly bucket: string) {}

  static key(type: BoundType, entity: string): string {
    return `bounds/${type}/${encodeURIComponent(entity)}.json`;
  }

  /** One listing of bounds/TYPE/ (a page per 1,000 records) instead of a GET per shard; no state bucket yet: none. */
  async recorded(type: BoundType): Promise<Set<string>> {
    const prefix = `bounds/${type}/`;
    const out = new Set<string>();
    for await (const o of this.s3.allObjects(this.bucket, 1000, prefix)) {
      if (o.key.endsWith('.json')) out.add(decodeURIComponent(o.key.slice(prefix.length, -'.json'.length)));
    }
    return out;
  }

  async read(type: BoundType, entity: string): Promise<Bound | undefined> {
    const body = await this.s3.getObject(this.bucket, BucketBackend.key(type, entity));
    return body === undefined ? undefined : parseBound(body.toString('utf8'), `${this.bucket}/${BucketBackend.key(type, entity)}`);
  }

  async write(type: BoundType, entity: string, bound: Bound): Promise<void> {
    const body = JSON.stringify({ marker: bound.marker, items: bound.items, ...(bound.period ? { period: bound.period } : {}), updated: new Date().toISOString() });
    try {
      await this.s3.putObject(this.bucket, BucketBackend.key(type, entity), body, 'application/json');
    } catch (e) {
      // Created on demand: the first write into a destination that has never had a bound.
      if (!(e instanceof NotFound)) throw e;
      this.creating ??= this.s3.createBucket(this.bucket).catch((err: unknown) => {
        this.creating = undefined;
        throw err;
      });
      await this.creating;
      await this.s3.putObject(this.bucket, BucketBackend.key(type, entity), body, 'application/json');
    }
  }
}

/**
 * All bounds in one local JSON file, rewritten with write-to-temp, fsync, rename. Reads answer
 * what is on disk: a write that failed (disk full) fails alone, changes nothing that reads see,
 * and the next write tries again with everything saved so far.
 */
export class FileBackend implements BoundBackend {
  readonly kind = 'file';
  private saved: Record<string, Bound>;
  private chain: Promise<void> = Promise.resolve();

  /** `readOnly`: for status and verify, which must not even create the file's folder. */
  constructor(readonly path: string, private readonly o: { readOnly?: boolean } = {}) {
    let text: string | undefined;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      if (!o.readOnly) mkdirSync(dirname(path), { recursive: true });
    }
    this.saved = text ? (JSON.parse(text) as { bounds: Record<string, Bound> }).bounds : {};
  }

  async read(type: BoundType, entity: string): Promise<Bound | undefined> {
    const b = this.saved[`${type}/${entity}`];
    return b ? { marker: b.marker, items: [...b.items], ...(b.period ? { period: { ...b.period } } : {}) } : undefined;
  }

  write(type: BoundType, entity: string, bound: Bound): Promise<void> {
    if (this.o.readOnly) return Promise.reject(new AgentError(`the state file ${this.path} was opened read-only`));
    // Serialized, and each write starts from what was saved, whether the one before it failed or not.
    const run = this.chain.catch(() => undefined).then(async () => {
      const next = { ...this.saved, [`${type}/${entity}`]: { marker: bound.marker, items: [...bound.items], ...(bound.period ? { period: { ...bound.period } } : {}) } };
      await this.flush(next);
      this.saved = next;
    });
    this.chain = run;
    return run;
  }

  private async flush(bounds: Record<string, Bound>): Promise<void> {
    const tmp = `${this.path}.tmp`;
    try {
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(JSON.stringify({ bounds }));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw new AgentError(`cannot save sync bounds to ${this.path}: ${(e as Error).message}`);
    }
  }
}
