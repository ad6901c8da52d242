/**
 * The zone's index: users, buckets, objects and every log, in one SQLite database. Each change and
 * the log entries it produces are written in one transaction, so the logs never disagree with the
 * index, even after a crash. Object bytes live in files (see objectfiles.ts); a row only ever names
 * a file that was fully written and fsynced before the transaction that references it.
 */
import Database from 'better-sqlite3';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { MonotonicClock, isoFromUs } from './clock.js';
import { bilogOpId, logEntryId } from './markers.js';
import { isInlineFile } from './objectfiles.js';
import { currentOf, flagsFor, NULL_VERSION, planVersion, stateFromFlags, type VersionAsk, type VersioningState, type VersionPlan } from './versions.js';
import type { PeriodConfig } from './realm.js';
import { isStartMarker } from '../rgw/markers.js';
import { dataShard, metadataShard } from '../rgw/shard.js';

export type Section = 'user' | 'bucket' | 'bucket.instance';
export const SECTIONS: Section[] = ['bucket', 'bucket.instance', 'user'];
export type LogType = 'metadata' | 'data';

export interface StoreOptions {
  dataDir: string;
  zoneName: string;
  zonegroup: string;
  metadataLogShards: number;
  dataLogShards: number;
  dataLogWindowSeconds: number;
  /** The realm config of this start (realm.ts periodConfig): a change commits a new period. */
  period: PeriodConfig;
}

export interface UserKey { user: string; access_key: string; secret_key: string }
export interface UserData {
  user_id: string;
  display_name: string;
  email: string;
  suspended: number;
  max_buckets: number;
  keys: UserKey[];
  system: 'true' | 'false';
  [k: string]: unknown;
}

export interface MetadataDoc { key: string; ver: { tag: string; ver: number }; mtime: string; data: Record<string, unknown> }

export interface BucketRow { name: string; owner: string; bucket_id: string; instance: string; creation_us: number }

export interface ObjectRow {
  instance: string;
  key: string;
  size: number;
  etag: string;
  content_type: string;
  meta: string; // JSON object of x-amz-meta-* (lower-case names without the prefix)
  mtime_us: number;
  file: string;
  /** JSON of the other attributes (objectattrs.ts StoredAttrs): headers, storage class, tags, ACL. */
  attrs: string;
}

/** One version of a versioned key (table versions); a delete marker has no bytes (file ''). */
export interface VersionRow extends ObjectRow {
  version_id: string;
  epoch: number;
  seq: number;
  delete_marker: number;
}

/** Where a ListObjectVersions page resumes: from a key, after a key, or after one version of a key. */
export type VersionScanStart =
  | { from: string }
  | { afterKey: string }
  | { afterVersion: { key: string; epoch: number; seq: number } }
  | Record<string, never>;

/** What a versioned change writes to the bucket-index log beside the key. */
interface BilogVersion { instance: string; epoch: number }

/** The bilog spells the null version's instance '' (as RGW does). */
function bilogInstance(versionId: string): string {
  return versionId === NULL_VERSION ? '' : versionId;
}

/** A key's versions as stored, or its pre-versioning object as the null version not yet moved in. */
interface KeyStack { versions: VersionRow[]; adoptable: boolean }

/** A committed period, as RGW's `period update --commit` makes one. */
export interface Period {
  id: string;
  realm_epoch: number;
  /** The previous period's id; '' for the first. */
  predecessor: string;
  config: PeriodConfig;
  committed_us: number;
}

/** What opening the store did to the period: made the first, committed a new one, or kept it. */
export type PeriodChange = 'created' | 'committed' | 'kept';

export interface MdLogEntry { id: string; section: string; name: string; timestamp: string; data: Record<string, unknown> }
export interface DataLogEntry { entity_type: 'bucket'; key: string; timestamp: string }
export interface BilogEntry {
  op_id: string; op_tag: string; op: string; object: string; instance: string; state: string;
  index_ver: number; timestamp: string; ver: { pool: number; epoch: number }; bilog_flags: number;
  versioned: boolean; owner: string; owner_display_name: string;
}

/** A multipart upload in progress: the object's attributes, taken at initiate, wait here for complete. */
export interface UploadRow {
  upload_id: string;
  instance: string;
  key: string;
  /** Who initiated it (the acting user), shown as Initiator and Owner in listings. */
  owner: string;
  content_type: string;
  meta: string;
  attrs: string;
  initiated_us: number;
}

/** One uploaded part: always a file of its own (never inline), so complete can stream it. */
export interface PartRow { upload_id: string; part: number; size: number; etag: string; file: string; mtime_us: number }

export interface ReplicaBound { daemon_id: string; marker: string; time: string; items: { name: string; timestamp: string }[] }
export interface OpState { client_id: string; op_id: string; object: string; state: string; timestamp: string }

export class StoreError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS users (uid TEXT PRIMARY KEY, data TEXT NOT NULL, ver INTEGER NOT NULL, tag TEXT NOT NULL, mtime_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS access_keys (access_key TEXT PRIMARY KEY, uid TEXT NOT NULL, secret_key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, owner TEXT NOT NULL, bucket_id TEXT NOT NULL, data TEXT NOT NULL, ver INTEGER NOT NULL, tag TEXT NOT NULL, mtime_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bucket_instances (key TEXT PRIMARY KEY, name TEXT NOT NULL, bucket_id TEXT NOT NULL, owner TEXT NOT NULL, data TEXT NOT NULL, ver INTEGER NOT NULL, tag TEXT NOT NULL, mtime_us INTEGER NOT NULL, index_ver INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS objects (instance TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL, content_type TEXT NOT NULL, meta TEXT NOT NULL, mtime_us INTEGER NOT NULL, file TEXT NOT NULL, attrs TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (instance, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mdlog (shard INTEGER NOT NULL, id TEXT NOT NULL, section TEXT NOT NULL, name TEXT NOT NULL, time_us INTEGER NOT NULL, status TEXT NOT NULL, ver INTEGER NOT NULL, tag TEXT NOT NULL, period TEXT NOT NULL, PRIMARY KEY (shard, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS periods (realm_epoch INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, predecessor TEXT NOT NULL, config TEXT NOT NULL, committed_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS datalog (shard INTEGER NOT NULL, id TEXT NOT NULL, key TEXT NOT NULL, time_us INTEGER NOT NULL, PRIMARY KEY (shard, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bilog (instance TEXT NOT NULL, op_id TEXT NOT NULL, op TEXT NOT NULL, object TEXT NOT NULL, index_ver INTEGER NOT NULL, time_us INTEGER NOT NULL, op_tag TEXT NOT NULL, PRIMARY KEY (instance, op_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS olh (instance TEXT NOT NULL, key TEXT NOT NULL, epoch INTEGER NOT NULL, PRIMARY KEY (instance, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS versions (instance TEXT NOT NULL, key TEXT NOT NULL, version_id TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL, delete_marker INTEGER NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL, content_type TEXT NOT NULL, meta TEXT NOT NULL, mtime_us INTEGER NOT NULL, file TEXT NOT NULL, attrs TEXT NOT NULL, PRIMARY KEY (instance, key, version_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS locks (type TEXT NOT NULL, shard INTEGER NOT NULL, zone_id TEXT NOT NULL, locker_id TEXT NOT NULL, expires_ms INTEGER NOT NULL, PRIMARY KEY (type, shard));
CREATE TABLE IF NOT EXISTS inline_bodies (file TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS replica_log (type TEXT NOT NULL, entity TEXT NOT NULL, daemon_id TEXT NOT NULL, marker TEXT NOT NULL, time TEXT NOT NULL, items TEXT NOT NULL, PRIMARY KEY (type, entity));
CREATE TABLE IF NOT EXISTS uploads (upload_id TEXT PRIMARY KEY, instance TEXT NOT NULL, key TEXT NOT NULL, owner TEXT NOT NULL, content_type TEXT NOT NULL, meta TEXT NOT NULL, attrs TEXT NOT NULL, initiated_us INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads (instance, key, upload_id);
CREATE TABLE IF NOT EXISTS upload_parts (upload_id TEXT NOT NULL, part INTEGER NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL, file TEXT NOT NULL, mtime_us INTEGER NOT NULL, PRIMARY KEY (upload_id, part)) WITHOUT ROWID;
`;

function tag(): string {
  return `_${randomBytes(12).toString('base64url')}`;
}

/** JSON with object keys sorted: two configs are the same period whatever order their keys came in. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

interface PeriodRow { realm_epoch: number; id: string; predecessor: string; config: string; committed_us: number }

function periodOf(r: PeriodRow): Period {
  return { id: r.id, realm_epoch: r.realm_epoch, predecessor: r.predecessor, config: JSON.parse(r.config) as PeriodConfig, committed_us: r.committed_us };
}

/** One version's bytes and every stored attribute equal (what a remote copy of that version would write). */
export function sameVersionContent(have: { etag: string; content_type: string; meta: string; attrs: string }, want: { etag: string; content_type: string; meta: string; attrs?: string }): boolean {
  return have.etag === want.etag && have.content_type === want.content_type && have.meta === want.meta && have.attrs === (want.attrs ?? '{}');
}

export class Store {
  readonly db: Database.Database;
  private readonly clock: MonotonicClock;
  /** Last data-log entry time per bucket instance, for the data-log window. Memory only: after a
   * restart the first change of every bucket is logged again, which is safe. */
  private readonly lastDataLogUs = new Map<string, number>();
  /** Fixed for the life of the store: only a restart with another realm config commits a period. */
  private readonly current: Period;
  readonly periodAtOpen: PeriodChange;

  constructor(readonly opts: StoreOptions) {
    this.db = new Database(join(opts.dataDir, 'zone.db'));
    this.db.pragma('journal_mode = WAL');
    // FULL: a transaction the client was told about survives power loss, not just a process crash.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    // Data dirs from before the zone kept every attribute: add the column, empty for old objects.
    const cols = this.db.prepare('PRAGMA table_info(objects)').all() as { name: string }[];
    if (!cols.some((c) => c.name === 'attrs')) this.db.exec("ALTER TABLE objects ADD COLUMN attrs TEXT NOT NULL DEFAULT '{}'");
    // Data dirs from before versioning: their bilog entries are all unversioned.
    const bilogCols = new Set((this.db.prepare('PRAGMA table_info(bilog)').all() as { name: string }[]).map((c) => c.name));
    if (!bilogCols.has('obj_instance')) this.db.exec("ALTER TABLE bilog ADD COLUMN obj_instance TEXT NOT NULL DEFAULT ''");
    if (!bilogCols.has('versioned')) this.db.exec('ALTER TABLE bilog ADD COLUMN versioned INTEGER NOT NULL DEFAULT 0');
    if (!bilogCols.has('olh_epoch')) this.db.exec('ALTER TABLE bilog ADD COLUMN olh_epoch INTEGER NOT NULL DEFAULT 0');
    this.clock = new MonotonicClock(this.counter('clock_us'));
    // One transaction: a crash between adding the column and assigning the old rows to the first
    // period would otherwise leave entries in no period's log.
    const opened = this.tx(() => this.openPeriod(opts.period));
    this.current = opened.period;
    this.periodAtOpen = opened.change;
  }

  private openPeriod(config: PeriodConfig): { period: Period; change: PeriodChange } {
    // Data dirs from before periods: their metadata log becomes the first period's.
    const mdCols = this.db.prepare('PRAGMA table_info(mdlog)').all() as { name: string }[];
    const migrate = !mdCols.some((c) => c.name === 'period');
    if (migrate) this.db.exec("ALTER TABLE mdlog ADD COLUMN period TEXT NOT NULL DEFAULT ''");
    this.db.exec('CREATE INDEX IF NOT EXISTS mdlog_period ON mdlog (period, shard, id)');
    const latest = this.stmt('SELECT * FROM periods ORDER BY realm_epoch DESC LIMIT 1').get() as PeriodRow | undefined;
    let out: { period: Period; change: PeriodChange };
    if (!latest) out = { period: this.insertPeriod(1, '', config), change: 'created' };
    else if (canonicalJson(JSON.parse(latest.config)) !== canonicalJson(config)) out = { period: this.insertPeriod(latest.realm_epoch + 1, latest.id, config), change: 'committed' };
    else out = { period: periodOf(latest), change: 'kept' };
    if (migrate) {
      this.stmt("UPDATE mdlog SET period = (SELECT id FROM periods ORDER BY realm_epoch LIMIT 1) WHERE period = ''").run();
    }
    return out;
  }

  private insertPeriod(realmEpoch: number, predecessor: string, config: PeriodConfig): Period {
    const row: PeriodRow = { realm_epoch: realmEpoch, id: randomUUID(), predecessor, config: canonicalJson(config), committed_us: this.tick() };
    this
      .stmt('INSERT INTO periods (realm_epoch, id, predecessor, config, committed_us) VALUES (?, ?, ?, ?, ?)')
      .run(row.realm_epoch, row.id, row.predecessor, row.config, row.committed_us);
    return periodOf(row);
  }

  close(): void {
    this.db.close();
  }

  /** Prepared once per SQL text: compiling statements on every call cost ~10% of a busy zone. */
  private readonly statements = new Map<string, Database.Statement>();

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  // ---------- periods ----------

  currentPeriod(): Period {
    return this.current;
  }

  getPeriod(id: string): Period | undefined {
    const row = this.stmt('SELECT * FROM periods WHERE id = ?').get(id) as PeriodRow | undefined;
    return row ? periodOf(row) : undefined;
  }

  /** Every period this zone committed, oldest first. */
  periods(): Period[] {
    return (this.stmt('SELECT * FROM periods ORDER BY realm_epoch').all() as PeriodRow[]).map(periodOf);
  }

  /** The named period, or the current one when none is named; an unknown id is a 404. */
  resolvePeriod(id?: string): Period {
    if (id === undefined || id === '') return this.current;
    const p = this.getPeriod(id);
    if (!p) throw new StoreError(404, 'NoSuchKey', `period ${id} is not a period of this zone's realm`);
    return p;
  }

  // ---------- counters and time ----------

  private counter(name: string): number {
    const row = this.stmt('SELECT v FROM kv WHERE k = ?').get(name) as { v: number } | undefined;
    return row?.v ?? 0;
  }

  private bump(name: string): number {
    const row = this
      .stmt('INSERT INTO kv (k, v) VALUES (?, 1) ON CONFLICT(k) DO UPDATE SET v = v + 1 RETURNING v')
      .get(name) as { v: number };
    return row.v;
  }

  /** A fresh, strictly increasing time, persisted so it keeps increasing across restarts. */
  private tick(): number {
    const us = this.clock.nowUs();
    this.stmt('INSERT INTO kv (k, v) VALUES (\'clock_us\', ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v').run(us);
    return us;
  }

  tx<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  private pending: { fn: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];

  /**
   * Group commit: `fn` runs in the next shared transaction, with the other writes that arrive in
   * the same turn of the event loop, each in its own savepoint (one failing undoes only itself).
   * The promise settles after that transaction committed: one fsync for the group, and nothing is
   * acknowledged before it is durable.
   */
  grouped<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.pending.length === 0) setImmediate(() => this.commitGroup());
      this.pending.push({ fn, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  private commitGroup(): void {
    const jobs = this.pending;
    this.pending = [];
    const results: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      this.tx(() => {
        for (const j of jobs) {
          try {
            results.push({ ok: true, value: this.tx(j.fn) });
          } catch (error) {
            results.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      // The commit itself failed (disk full, I/O error): none of the group is durable.
      for (const j of jobs) j.reject(error);
      return;
    }
    jobs.forEach((j, i) => {
      const r = results[i];
      if (r.ok) j.resolve(r.value);
      else j.reject(r.error);
    });
  }

  /** The body of a small object kept with its row (ObjectFiles reads it). */
  inlineBody(file: string): Buffer | undefined {
    return (this.stmt('SELECT data FROM inline_bodies WHERE file = ?').get(file) as { data: Buffer } | undefined)?.data;
  }

  newBucketId(): string {
    return this.tx(() => `${this.opts.zoneName}.${4099 + this.bump('bucket_seq')}.1`);
  }

  // ---------- logs (called inside the transaction of the change) ----------

  private appendMdlog(section: Section, name: string, status: 'write' | 'remove', ver: number, verTag: string): void {
    // RGW hashes a bucket instance under its bucket, so an entrypoint and its instance share a shard
    // and the agent sees them in order.
    const hashKey = section === 'bucket.instance' ? name.split(':')[0] : name;
    const hashSection = section === 'bucket.instance' ? 'bucket' : section;
    const shard = metadataShard(hashSection, hashKey, this.opts.metadataLogShards);
    const us = this.tick();
    const id = logEntryId(us, this.bump('mdlog_seq'));
    this
      .stmt('INSERT INTO mdlog (shard, id, section, name, time_us, status, ver, tag, period) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(shard, id, section, name, us, status, ver, verTag, this.current.id);
  }

  private appendDatalog(bucket: string, instance: string, us: number): void {
    const windowUs = this.opts.dataLogWindowSeconds * 1_000_000;
    const last = this.lastDataLogUs.get(instance);
    if (windowUs > 0 && last !== undefined && us - last < windowUs) return;
    this.lastDataLogUs.set(instance, us);
    const shard = dataShard(bucket, this.opts.dataLogShards);
    const id = logEntryId(us, this.bump('datalog_seq'));
    this.stmt('INSERT INTO datalog (shard, id, key, time_us) VALUES (?, ?, ?, ?)').run(shard, id, instance, us);
  }

  private appendBilog(bucket: string, instance: string, op: 'write' | 'del' | 'link_olh' | 'link_olh_del' | 'unlink_instance', object: string, v?: BilogVersion): void {
    const row = this
      .stmt('UPDATE bucket_instances SET index_ver = index_ver + 1 WHERE key = ? RETURNING index_ver')
      .get(instance) as { index_ver: number } | undefined;
    if (!row) throw new StoreError(404, 'NoSuchBucket', `bucket instance ${instance} does not exist`);
    const us = this.tick();
    this
      .stmt('INSERT INTO bilog (instance, op_id, op, object, index_ver, time_us, op_tag, obj_instance, versioned, olh_epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(instance, bilogOpId(row.index_ver), op, object, row.index_ver, us, tag(), v?.instance ?? '', v ? 1 : 0, v?.epoch ?? 0);
    this.appendDatalog(bucket, instance, us);
  }

  // ---------- users ----------

  getUser(uid: string): { data: UserData; ver: number; tag: string; mtime_us: number } | undefined {
    const row = this.stmt('SELECT data, ver, tag, mtime_us FROM users WHERE uid = ?').get(uid) as
      | { data: string; ver: number; tag: string; mtime_us: number }
      | undefined;
    return row ? { ...row, data: JSON.parse(row.data) as UserData } : undefined;
  }

  lookupKey(accessKey: string): { uid: string; secretKey: string; system: boolean } | undefined {
    const row = this
      .stmt('SELECT k.uid, k.secret_key, u.data FROM access_keys k JOIN users u ON u.uid = k.uid WHERE k.access_key = ?')
      .get(accessKey) as { uid: string; secret_key: string; data: string } | undefined;
    if (!row) return undefined;
    const data = JSON.parse(row.data) as UserData;
    if (data.suspended) return undefined;
    return { uid: row.uid, secretKey: row.secret_key, system: data.system === 'true' };
  }

  /** Creates or replaces a user (and its keys) and logs the change. */
  putUser(data: UserData, ver?: { ver: number; tag: string; mtime_us?: number }): void {
    this.tx(() => {
      for (const k of data.keys) {
        const owner = this.stmt('SELECT uid FROM access_keys WHERE access_key = ?').get(k.access_key) as { uid: string } | undefined;
        if (owner && owner.uid !== data.user_id) {
          throw new StoreError(409, 'KeyExists', `access key is already used by another user`);
        }
      }
      const prev = this.getUser(data.user_id);
      const v = ver ?? { ver: (prev?.ver ?? 0) + 1, tag: prev?.tag ?? tag() };
      const us = this.tick();
      this
        .stmt('INSERT INTO users (uid, data, ver, tag, mtime_us) VALUES (?, ?, ?, ?, ?) ON CONFLICT(uid) DO UPDATE SET data = excluded.data, ver = excluded.ver, tag = excluded.tag, mtime_us = excluded.mtime_us')
        .run(data.user_id, JSON.stringify(data), v.ver, v.tag, v.mtime_us ?? us);
      this.stmt('DELETE FROM access_keys WHERE uid = ?').run(data.user_id);
      const ins = this.stmt('INSERT INTO access_keys (access_key, uid, secret_key) VALUES (?, ?, ?)');
      for (const k of data.keys) ins.run(k.access_key, data.user_id, k.secret_key);
      this.appendMdlog('user', data.user_id, 'write', v.ver, v.tag);
    });
  }

  deleteUser(uid: string): boolean {
    return this.tx(() => {
      const prev = this.getUser(uid);
      if (!prev) return false;
      this.stmt('DELETE FROM access_keys WHERE uid = ?').run(uid);
      this.stmt('DELETE FROM users WHERE uid = ?').run(uid);
      this.appendMdlog('user', uid, 'remove', prev.ver, prev.tag);
      return true;
    });
  }

  userOwnsBuckets(uid: string): boolean {
    return this.stmt('SELECT 1 FROM buckets WHERE owner = ? LIMIT 1').get(uid) !== undefined;
  }

  // ---------- buckets ----------

  getBucket(name: string): BucketRow | undefined {
    const row = this.stmt('SELECT name, owner, bucket_id, data FROM buckets WHERE name = ?').get(name) as
      | { name: string; owner: string; bucket_id: string; data: string }
      | undefined;
    if (!row) return undefined;
    const data = JSON.parse(row.data) as { creation_us?: number };
    return { name: row.name, owner: row.owner, bucket_id: row.bucket_id, instance: `${row.name}:${row.bucket_id}`, creation_us: data.creation_us ?? 0 };
  }

  listBuckets(owner?: string): BucketRow[] {
    const rows = (owner === undefined
      ? this.stmt('SELECT name FROM buckets ORDER BY name').all()
      : this.stmt('SELECT name FROM buckets WHERE owner = ? ORDER BY name').all(owner)) as { name: string }[];
    return rows.map((r) => this.getBucket(r.name)).filter((b): b is BucketRow => b !== undefined);
  }

  /** S3 CreateBucket: a new instance and an entrypoint, instance logged first. */
  createBucket(name: string, owner: string): BucketRow {
    return this.tx(() => {
      if (this.getBucket(name)) throw new StoreError(409, 'BucketAlreadyExists', `bucket ${name} exists`);
      const bucketId = this.newBucketId();
      const us = this.tick();
      const created = isoFromUs(us);
      const bucket = { name, marker: bucketId, bucket_id: bucketId, tenant: '', explicit_placement: { data_pool: '', data_extra_pool: '', index_pool: '' } };
      this.putInstanceDoc(`${name}:${bucketId}`, {
        bucket_info: {
          bucket, creation_time: created, owner, flags: 0, zonegroup: this.opts.zonegroup,
          placement_rule: 'default-placement', has_instance_obj: 'true', num_shards: 0, bi_shard_hash_type: 0,
          requester_pays: 'false', has_website: 'false', swift_versioning: 'false', swift_ver_location: '', index_type: 0,
        },
        attrs: [],
      });
      this.putBucketDoc(name, { bucket, owner, creation_time: created, linked: 'true', has_bucket_info: 'false' });
      return this.getBucket(name)!;
    });
  }

  /**
   * S3 DeleteBucket: refuses a non-empty bucket; removes entrypoint and instance. Returns the files
   * of the uploads in progress it dropped, to unlink after the commit.
   */
  deleteBucket(name: string): string[] {
    return this.tx(() => {
      const b = this.getBucket(name);
      if (!b) throw new StoreError(404, 'NoSuchBucket', `no bucket ${name}`);
      // A bucket holding only old versions or delete markers is not empty either (S3).
      if (this.stmt('SELECT 1 FROM objects WHERE instance = ? LIMIT 1').get(b.instance) || this.stmt('SELECT 1 FROM versions WHERE instance = ? LIMIT 1').get(b.instance)) {
        throw new StoreError(409, 'BucketNotEmpty', `bucket ${name} is not empty`);
      }
      this.removeMetadata('bucket', name);
      return this.removeMetadata('bucket.instance', b.instance).files;
    });
  }

  private putBucketDoc(name: string, data: Record<string, unknown>, ver?: { ver: number; tag: string; mtime_us?: number }): void {
    const bucket = data.bucket as { bucket_id?: unknown } | undefined;
    const owner = data.owner;
    if (typeof bucket?.bucket_id !== 'string' || typeof owner !== 'string') {
      throw new StoreError(400, 'InvalidArgument', 'bucket metadata needs data.bucket.bucket_id and data.owner');
    }
    const prev = this.stmt('SELECT ver, tag FROM buckets WHERE name = ?').get(name) as { ver: number; tag: string } | undefined;
    const v = ver ?? { ver: (prev?.ver ?? 0) + 1, tag: prev?.tag ?? tag() };
    const us = this.tick();
    const stored = { ...data, creation_us: (data.creation_us as number | undefined) ?? us };
    this
      .stmt('INSERT INTO buckets (name, owner, bucket_id, data, ver, tag, mtime_us) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET owner = excluded.owner, bucket_id = excluded.bucket_id, data = excluded.data, ver = excluded.ver, tag = excluded.tag, mtime_us = excluded.mtime_us')
      .run(name, owner, bucket.bucket_id, JSON.stringify(stored), v.ver, v.tag, v.mtime_us ?? us);
    this.appendMdlog('bucket', name, 'write', v.ver, v.tag);
  }

  private putInstanceDoc(key: string, data: Record<string, unknown>, ver?: { ver: number; tag: string; mtime_us?: number }): void {
    const info = data.bucket_info as { bucket?: { name?: unknown; bucket_id?: unknown }; owner?: unknown } | undefined;
    const name = info?.bucket?.name;
    const bucketId = info?.bucket?.bucket_id;
    if (typeof name !== 'string' || typeof bucketId !== 'string' || typeof info?.owner !== 'string' || key !== `${name}:${bucketId}`) {
      throw new StoreError(400, 'InvalidArgument', 'bucket.instance metadata needs data.bucket_info.bucket.{name,bucket_id} matching the key, and an owner');
    }
    const prev = this.stmt('SELECT ver, tag FROM bucket_instances WHERE key = ?').get(key) as { ver: number; tag: string } | undefined;
    const v = ver ?? { ver: (prev?.ver ?? 0) + 1, tag: prev?.tag ?? tag() };
    const us = this.tick();
    this
      .stmt('INSERT INTO bucket_instances (key, name, bucket_id, owner, data, ver, tag, mtime_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET owner = excluded.owner, data = excluded.data, ver = excluded.ver, tag = excluded.tag, mtime_us = excluded.mtime_us')
      .run(key, name, bucketId, info.owner, JSON.stringify(data), v.ver, v.tag, v.mtime_us ?? us);
    this.appendMdlog('bucket.instance', key, 'write', v.ver, v.tag);
  }

  instanceExists(instance: string): boolean {
    return this.stmt('SELECT 1 FROM bucket_instances WHERE key = ?').get(instance) !== undefined;
  }

  // ---------- generic metadata (the /admin/metadata API) ----------

  metadataKeys(section: Section, marker: string | undefined, max: number): { keys: string[]; truncated: boolean } {
    const table = section === 'user' ? 'users' : section === 'bucket' ? 'buckets' : 'bucket_instances';
    const col = section === 'user' ? 'uid' : section === 'bucket' ? 'name' : 'key';
    const rows = this
      .stmt(`SELECT ${col} AS k FROM ${table} WHERE ${col} > ? ORDER BY ${col} LIMIT ?`)
      .all(marker ?? '', max + 1) as { k: string }[];
    return { keys: rows.slice(0, max).map((r) => r.k), truncated: rows.length > max };
  }

  getMetadata(section: Section, key: string): MetadataDoc | undefined {
    const q = section === 'user'
      ? 'SELECT data, ver, tag, mtime_us FROM users WHERE uid = ?'
      : section === 'bucket'
        ? 'SELECT data, ver, tag, mtime_us FROM buckets WHERE name = ?'
        : 'SELECT data, ver, tag, mtime_us FROM bucket_instances WHERE key = ?';
    const row = this.stmt(q).get(key) as { data: string; ver: number; tag: string; mtime_us: number } | undefined;
    if (!row) return undefined;
    const data = JSON.parse(row.data) as Record<string, unknown>;
    delete data.creation_us;
    return { key: `${section}:${key}`, ver: { tag: row.tag, ver: row.ver }, mtime: isoFromUs(row.mtime_us), data };
  }

  /** Stores a metadata document as another zone sent it (keeping its version), and logs it. */
  putMetadata(section: Section, key: string, doc: { data?: unknown; ver?: unknown; mtime?: unknown }): void {
    if (typeof doc.data !== 'object' || doc.data === null || Array.isArray(doc.data)) {
      throw new StoreError(400, 'InvalidArgument', 'metadata body needs a "data" object');
    }
    const data = doc.data as Record<string, unknown>;
    const verIn = doc.ver as { tag?: unknown; ver?: unknown } | undefined;
    const ver = typeof verIn?.ver === 'number' && typeof verIn.tag === 'string' ? { ver: verIn.ver, tag: verIn.tag } : undefined;
    this.tx(() => {
      if (section === 'user') {
        const u = data as Partial<UserData>;
        if (typeof u.user_id !== 'string' || u.user_id !== key) throw new StoreError(400, 'InvalidArgument', 'user metadata needs data.user_id equal to the key');
        const keys = Array.isArray(u.keys) ? u.keys.filter((k): k is UserKey => typeof k?.access_key === 'string' && typeof k?.secret_key === 'string') : [];
        this.putUser({
          ...u, user_id: key, display_name: String(u.display_name ?? key), email: String(u.email ?? ''),
          suspended: Number(u.suspended ?? 0), max_buckets: Number(u.max_buckets ?? 1000), keys,
          // Pacific writes "true", Reef and later a JSON boolean.
          system: u.system === 'true' || (u.system as unknown) === true ? 'true' : 'false',
        }, ver);
      } else if (section === 'bucket') {
        this.putBucketDoc(key, data, ver);
      } else {
        this.putInstanceDoc(key, data, ver);
      }
    });
  }

  /** Removes a metadata entry; for a bucket instance also its objects (returned so files can go). */
  removeMetadata(section: Section, key: string): { found: boolean; files: string[] } {
    return this.tx(() => {
      if (section === 'user') return { found: this.deleteUser(key), files: [] };
      const table = section === 'bucket' ? 'buckets' : 'bucket_instances';
      const col = section === 'bucket' ? 'name' : 'key';
      const prev = this.stmt(`SELECT ver, tag FROM ${table} WHERE ${col} = ?`).get(key) as { ver: number; tag: string } | undefined;
      if (!prev) return { found: false, files: [] };
      let files: string[] = [];
      if (section === 'bucket.instance') {
        // A current version's file is named by its version row and by objects: listed once.
        files = (this.stmt("SELECT file FROM objects WHERE instance = ? UNION SELECT file FROM versions WHERE instance = ? AND file != ''").all(key, key) as { file: string }[]).map((r) => r.file);
        this.stmt('DELETE FROM inline_bodies WHERE file IN (SELECT file FROM objects WHERE instance = ? UNION SELECT file FROM versions WHERE instance = ?)').run(key, key);
        this.stmt('DELETE FROM objects WHERE instance = ?').run(key);
        this.stmt('DELETE FROM versions WHERE instance = ?').run(key);
        this.stmt('DELETE FROM olh WHERE instance = ?').run(key);
        // Uploads in progress go with their bucket (RGW aborts them too): nothing could complete them.
        for (const u of this.stmt('SELECT upload_id FROM uploads WHERE instance = ?').all(key) as { upload_id: string }[]) files.push(...this.dropUpload(u.upload_id).files);
      }
      this.stmt(`DELETE FROM ${table} WHERE ${col} = ?`).run(key);
      this.appendMdlog(section, key, 'remove', prev.ver, prev.tag);
      return { found: true, files };
    });
  }

  // ---------- objects ----------

  getObject(instance: string, key: string): ObjectRow | undefined {
    return this.stmt('SELECT * FROM objects WHERE instance = ? AND key = ?').get(instance, key) as ObjectRow | undefined;
  }

  /**
   * Installs an object. In a versioned bucket it is a new version of the key (versions.ts
   * planVersion decides its id, epoch and what it replaces); otherwise it replaces the object.
   * Returns the file it freed (to unlink after the commit). mtime defaults to now; a remote copy
   * passes the source's mtime. `keepIfNewer` (remote copy with copy-if-newer, unversioned) and
   * `ask.skipSameEtag` (remote copy of a version this zone already has) decide in the same
   * transaction, so a slow copy never replaces what arrived meanwhile: they answer `skipped`.
   */
  commitObject(bucket: BucketRow, o: Omit<ObjectRow, 'instance' | 'mtime_us' | 'attrs'> & { mtime_us?: number; attrs?: string; inline?: Buffer }, keepIfNewer?: (current: ObjectRow) => boolean, ask: VersionAsk & { skipSameEtag?: boolean } = {}): { replaced?: string; mtime_us: number; skipped?: boolean; versionId?: string } {
    return this.tx(() => {
      if (!this.instanceExists(bucket.instance)) throw new StoreError(404, 'NoSuchBucket', `bucket ${bucket.name} does not exist`);
      const planned = this.plan(bucket.instance, o.key, ask);
      if (planned) return this.commitVersion(bucket, o, planned.stack, planned.plan, ask.skipSameEtag === true);
      const prev = this.getObject(bucket.instance, o.key);
      if (prev && keepIfNewer?.(prev)) return { mtime_us: prev.mtime_us, skipped: true };
      if (isInlineFile(o.file)) {
        if (!o.inline) throw new Error(`commitObject: inline body ${o.file} without its data`);
        this.stmt('INSERT INTO inline_bodies (file, data) VALUES (?, ?)').run(o.file, o.inline);
      }
      if (prev && isInlineFile(prev.file)) this.stmt('DELETE FROM inline_bodies WHERE file = ?').run(prev.file);
      const mtime = o.mtime_us ?? this.tick();
      this
        .stmt('INSERT INTO objects (instance, key, size, etag, content_type, meta, mtime_us, file, attrs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(instance, key) DO UPDATE SET size = excluded.size, etag = excluded.etag, content_type = excluded.content_type, meta = excluded.meta, mtime_us = excluded.mtime_us, file = excluded.file, attrs = excluded.attrs')
        .run(bucket.instance, o.key, o.size, o.etag, o.content_type, o.meta, mtime, o.file, o.attrs ?? '{}');
      this.appendBilog(bucket.name, bucket.instance, 'write', o.key);
      return { replaced: prev?.file, mtime_us: mtime };
    });
  }

  private commitVersion(bucket: BucketRow, o: Parameters<Store['commitObject']>[1], stack: KeyStack, plan: VersionPlan, skipSameEtag: boolean): { replaced?: string; mtime_us: number; skipped?: boolean; versionId: string } {
    const same = plan.replaces !== undefined ? stack.versions.find((v) => v.version_id === plan.replaces) : undefined;
    // The same id with the same ETag and attributes: already here. A tag or ACL change of the
    // version on the source comes as the same ETag with other attributes: written again.
    if (skipSameEtag && same && !same.delete_marker && sameVersionContent(same, o)) return { mtime_us: same.mtime_us, skipped: true, versionId: same.version_id };
    this.adopt(stack);
    if (isInlineFile(o.file)) {
      if (!o.inline) throw new Error(`commitObject: inline body ${o.file} without its data`);
      this.stmt('INSERT INTO inline_bodies (file, data) VALUES (?, ?)').run(o.file, o.inline);
    }
    const replaced = same ? this.dropVersionRow(bucket.instance, o.key, same) : undefined;
    const mtime = o.mtime_us ?? this.tick();
    this.insertVersion({ instance: bucket.instance, key: o.key, version_id: plan.versionId, epoch: plan.epoch, seq: this.bump('version_seq'), delete_marker: 0, size: o.size, etag: o.etag, content_type: o.content_type, meta: o.meta, mtime_us: mtime, file: o.file, attrs: o.attrs ?? '{}' });
    this.relink(bucket.instance, o.key);
    this.logVersioned(bucket, 'link_olh', o.key, plan.versionId, plan.epoch);
    return { replaced, mtime_us: mtime, versionId: plan.versionId };
  }

  /**
   * Changes an object's tags or ACL (of one version, when named). It is a change of the object
   * like any write: logged, and its mtime moves, so a zone pulling it with copy-if-newer sees
   * something newer to copy.
   */
  updateObjectAttrs(bucket: BucketRow, key: string, attrs: string, versionId?: string): boolean {
    return this.tx(() => {
      const versions = this.keyVersions(bucket.instance, key);
      if (versions.length === 0) {
        if (versionId !== undefined && versionId !== NULL_VERSION) return false;
        if (!this.getObject(bucket.instance, key)) return false;
        this.stmt('UPDATE objects SET attrs = ?, mtime_us = ? WHERE instance = ? AND key = ?').run(attrs, this.tick(), bucket.instance, key);
        this.appendBilog(bucket.name, bucket.instance, 'write', key);
        return true;
      }
      const v = versionId === undefined ? currentOf(versions) : versions.find((x) => x.version_id === versionId);
      if (!v || v.delete_marker) return false;
      this.stmt('UPDATE versions SET attrs = ?, mtime_us = ? WHERE instance = ? AND key = ? AND version_id = ?').run(attrs, this.tick(), bucket.instance, key, v.version_id);
      this.relink(bucket.instance, key);
      this.logVersioned(bucket, 'link_olh', key, v.version_id, v.epoch);
      return true;
    });
  }

  /**
   * DELETE without a version id: removes the object, or in a versioned bucket adds a delete
   * marker (suspended: the null marker, replacing the null version). Returns the file freed.
   */
  deleteObject(bucket: BucketRow, key: string, ask: VersionAsk = {}): { file?: string; versionId?: string; deleteMarker?: boolean } {
    return this.tx(() => {
      const planned = this.plan(bucket.instance, key, ask);
      if (planned) {
        const { stack, plan } = planned;
        if (!this.instanceExists(bucket.instance)) throw new StoreError(404, 'NoSuchBucket', `bucket ${bucket.name} does not exist`);
        this.adopt(stack);
        const same = plan.replaces !== undefined ? stack.versions.find((v) => v.version_id === plan.replaces) : undefined;
        const file = same ? this.dropVersionRow(bucket.instance, key, same) : undefined;
        this.insertVersion({ instance: bucket.instance, key, version_id: plan.versionId, epoch: plan.epoch, seq: this.bump('version_seq'), delete_marker: 1, size: 0, etag: '', content_type: '', meta: '{}', mtime_us: this.tick(), file: '', attrs: '{}' });
        this.relink(bucket.instance, key);
        this.logVersioned(bucket, 'link_olh_del', key, plan.versionId, plan.epoch);
        return { file, versionId: plan.versionId, deleteMarker: true };
      }
      const prev = this.getObject(bucket.instance, key);
      if (!prev) return {};
      this.stmt('DELETE FROM objects WHERE instance = ? AND key = ?').run(bucket.instance, key);
      this.appendBilog(bucket.name, bucket.instance, 'del', key);
      if (isInlineFile(prev.file)) this.stmt('DELETE FROM inline_bodies WHERE file = ?').run(prev.file);
      return { file: prev.file };
    });
  }

  /**
   * DELETE ?versionId=V: that version or marker goes for good; the next newest becomes current.
   * `found` false when the key has no such version (S3 answers 204 all the same).
   */
  deleteVersion(bucket: BucketRow, key: string, versionId: string): { found: boolean; file?: string; deleteMarker?: boolean } {
    return this.tx(() => {
      const stack = this.stackFor(bucket.instance, key);
      const v = stack.versions.find((x) => x.version_id === versionId);
      if (!v) return { found: false };
      if (stack.adoptable && this.versioningState(bucket.instance) === 'off') {
        // An unversioned bucket's object is its null version: removed as a plain delete.
        return { found: true, file: this.deleteObject(bucket, key).file };
      }
      this.adopt(stack);
      const file = this.dropVersionRow(bucket.instance, key, v);
      this.relink(bucket.instance, key);
      // As RGW: a removal is a change of the key's OLH too, logged with its next epoch.
      const epoch = Math.max(this.olhEpoch(bucket.instance, key), ...stack.versions.map((x) => x.epoch)) + 1;
      this.logVersioned(bucket, 'unlink_instance', key, v.version_id, epoch);
      return { found: true, file, deleteMarker: v.delete_marker === 1 };
    });
  }

  /** A version of a key (the current one when `versionId` is undefined); may be a delete marker. */
  getVersion(instance: string, key: string, versionId?: string): VersionRow | undefined {
    const { versions } = this.stackFor(instance, key);
    return versionId === undefined ? currentOf(versions) : versions.find((v) => v.version_id === versionId);
  }

  /** The bucket's versioning state, read from the flags of its instance document (the one source of truth). */
  versioningState(instance: string): VersioningState {
    const row = this.stmt("SELECT json_extract(data, '$.bucket_info.flags') AS flags FROM bucket_instances WHERE key = ?").get(instance) as { flags: number | null } | undefined;
    return stateFromFlags(Number(row?.flags ?? 0));
  }

  /** PUT ?versioning: a metadata change of the bucket instance (new ver, metadata log entry). */
  setVersioning(bucket: BucketRow, state: Exclude<VersioningState, 'off'>): void {
    this.tx(() => {
      const row = this.stmt('SELECT data FROM bucket_instances WHERE key = ?').get(bucket.instance) as { data: string } | undefined;
      if (!row) throw new StoreError(404, 'NoSuchBucket', `bucket ${bucket.name} does not exist`);
      const data = JSON.parse(row.data) as { bucket_info?: { flags?: unknown } } & Record<string, unknown>;
      if (!data.bucket_info) throw new StoreError(500, 'InternalError', `bucket instance ${bucket.instance} has no bucket_info`);
      data.bucket_info.flags = flagsFor(state, Number(data.bucket_info.flags ?? 0));
      this.putInstanceDoc(bucket.instance, data);
    });
  }

  /** An unversioned bucket's object is no stack: only real version rows make a write versioned there. */
  /**
   * The versioned change a write or delete makes, or undefined for the plain one. An unversioned
   * bucket's object is no stack: only real version rows make a change versioned there, and
   * without any the plain path costs one extra lookup.
   */
  private plan(instance: string, key: string, ask: VersionAsk): { stack: KeyStack; plan: VersionPlan } | undefined {
    const state = this.versioningState(instance);
    if (state === 'off' && this.stmt('SELECT 1 FROM versions WHERE instance = ? AND key = ? LIMIT 1').get(instance, key) === undefined) return undefined;
    const stack = this.stackFor(instance, key);
    const plan = planVersion(state, stack.versions, ask, { olhEpoch: this.olhEpoch(instance, key) });
    return plan === 'plain' ? undefined : { stack, plan };
  }

  /** The highest OLH epoch a key's changes were logged with (0 before any versioned change). */
  private olhEpoch(instance: string, key: string): number {
    return (this.stmt('SELECT epoch FROM olh WHERE instance = ? AND key = ?').get(instance, key) as { epoch: number } | undefined)?.epoch ?? 0;
  }

  /** Logs a versioned change and moves the key's OLH epoch up to its epoch (never down). */
  private logVersioned(bucket: BucketRow, op: 'link_olh' | 'link_olh_del' | 'unlink_instance', key: string, versionId: string, epoch: number): void {
    this.stmt('INSERT INTO olh (instance, key, epoch) VALUES (?, ?, ?) ON CONFLICT(instance, key) DO UPDATE SET epoch = MAX(epoch, excluded.epoch)').run(bucket.instance, key, epoch);
    this.appendBilog(bucket.name, bucket.instance, op, key, { instance: bilogInstance(versionId), epoch });
  }

  private keyVersions(instance: string, key: string): VersionRow[] {
    return this.stmt('SELECT * FROM versions WHERE instance = ? AND key = ?').all(instance, key) as VersionRow[];
  }

  /**
   * A key's versions. An object written before versioning has no row there: it is the null
   * version (epoch 0, below every later one), `adoptable` until a versioned change moves it in.
   */
  private stackFor(instance: string, key: string): KeyStack {
    const versions = this.keyVersions(instance, key);
    if (versions.length > 0) return { versions, adoptable: false };
    const o = this.getObject(instance, key);
    if (!o) return { versions: [], adoptable: false };
    return { versions: [{ ...o, version_id: NULL_VERSION, epoch: 0, seq: 0, delete_marker: 0 }], adoptable: true };
  }

  /** Moves a pre-versioning object into the versions table; its file and inline body stay as they are. */
  private adopt(stack: KeyStack): void {
    if (!stack.adoptable) return;
    this.insertVersion(stack.versions[0]);
    stack.adoptable = false;
  }

  private insertVersion(v: VersionRow): void {
    this
      .stmt('INSERT INTO versions (instance, key, version_id, epoch, seq, delete_marker, size, etag, content_type, meta, mtime_us, file, attrs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(v.instance, v.key, v.version_id, v.epoch, v.seq, v.delete_marker, v.size, v.etag, v.content_type, v.meta, v.mtime_us, v.file, v.attrs);
  }

  /** Removes a version row and its inline body; returns its file to unlink after the commit. */
  private dropVersionRow(instance: string, key: string, v: VersionRow): string | undefined {
    this.stmt('DELETE FROM versions WHERE instance = ? AND key = ? AND version_id = ?').run(instance, key, v.version_id);
    if (isInlineFile(v.file)) this.stmt('DELETE FROM inline_bodies WHERE file = ?').run(v.file);
    return v.file === '' ? undefined : v.file;
  }

  /**
   * objects is the current view of a versioned key: the current version when it is not a delete
   * marker, else no row. It shares the version's file, so plain GET and listing need no change.
   */
  private relink(instance: string, key: string): void {
    const cur = currentOf(this.keyVersions(instance, key));
    if (!cur || cur.delete_marker) {
      this.stmt('DELETE FROM objects WHERE instance = ? AND key = ?').run(instance, key);
      return;
    }
    this
      .stmt('INSERT INTO objects (instance, key, size, etag, content_type, meta, mtime_us, file, attrs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(instance, key) DO UPDATE SET size = excluded.size, etag = excluded.etag, content_type = excluded.content_type, meta = excluded.meta, mtime_us = excluded.mtime_us, file = excluded.file, attrs = excluded.attrs')
      .run(instance, key, cur.size, cur.etag, cur.content_type, cur.meta, cur.mtime_us, cur.file, cur.attrs);
  }

  /**
   * Every version of the bucket's keys from `start` on, in ListObjectVersions order: key byte
   * order, within a key newest first. Keys never versioned appear as their null version.
   */
  scanVersions(instance: string, prefix: string, start: VersionScanStart, limit: number): VersionRow[] {
    // Written once per table: objects has no epoch or seq columns (its rows are null versions, 0 and 0).
    const conds: ((epoch: string, seq: string) => string)[] = [];
    const args: (string | number)[] = [];
    if ('from' in start) { conds.push(() => 'key >= ?'); args.push(start.from); }
    if ('afterKey' in start) { conds.push(() => 'key > ?'); args.push(start.afterKey); }
    if ('afterVersion' in start) {
      const a = start.afterVersion;
      conds.push((epoch, seq) => `(key > ? OR (key = ? AND (${epoch} < ? OR (${epoch} = ? AND ${seq} < ?))))`);
      args.push(a.key, a.key, a.epoch, a.epoch, a.seq);
    }
    if (prefix) { conds.push(() => 'key >= ?'); args.push(prefix); }
    const where = (epoch: string, seq: string) => conds.map((c) => ` AND ${c(epoch, seq)}`).join('');
    const rows = this.stmt(
      `SELECT instance, key, version_id, epoch, seq, delete_marker, size, etag, content_type, meta, mtime_us, file, attrs FROM versions WHERE instance = ?${where('epoch', 'seq')}`
      + ` UNION ALL SELECT instance, key, '${NULL_VERSION}', 0, 0, 0, size, etag, content_type, meta, mtime_us, file, attrs FROM objects o WHERE instance = ?${where('0', '0')}`
      + ' AND NOT EXISTS (SELECT 1 FROM versions v WHERE v.instance = o.instance AND v.key = o.key)'
      + ' ORDER BY key, epoch DESC, seq DESC LIMIT ?',
    ).all(instance, ...args, instance, ...args, limit) as VersionRow[];
    const out: VersionRow[] = [];
    for (const r of rows) {
      if (!r.key.startsWith(prefix)) break;
      out.push(r);
    }
    return out;
  }

  /** Keys in [from, ...) with the prefix, in byte order, for ListObjects. */
  scanObjects(instance: string, prefix: string, after: string | undefined, fromInclusive: string | undefined, limit: number): ObjectRow[] {
    const conds = ['instance = ?'];
    const args: (string | number)[] = [instance];
    if (after !== undefined) { conds.push('key > ?'); args.push(after); }
    if (fromInclusive !== undefined) { conds.push('key >= ?'); args.push(fromInclusive); }
    if (prefix) { conds.push('key >= ?'); args.push(prefix); }
    args.push(limit);
    const rows = this.stmt(`SELECT * FROM objects WHERE ${conds.join(' AND ')} ORDER BY key LIMIT ?`).all(...args) as ObjectRow[];
    // Rows past the prefix range end the scan; checked here because a LIKE would need escaping.
    const out: ObjectRow[] = [];
    for (const r of rows) {
      if (!r.key.startsWith(prefix)) break;
      out.push(r);
    }
    return out;
  }

  /** Files the index names: objects' and the parts of uploads in progress (kept across a restart). */
  allObjectFiles(): Set<string> {
    return new Set((this.stmt("SELECT file FROM objects UNION ALL SELECT file FROM versions WHERE file != '' UNION ALL SELECT file FROM upload_parts").all() as { file: string }[]).map((r) => r.file));
  }

  // ---------- multipart uploads ----------

  /**
   * Records a new upload. Its id starts with the initiation time in fixed-width hex, so ids of one
   * key sort in initiation order, the order ListMultipartUploads gives them in.
   */
  createUpload(bucket: BucketRow, u: Omit<UploadRow, 'upload_id' | 'instance' | 'initiated_us'>): UploadRow {
    return this.tx(() => {
      if (!this.instanceExists(bucket.instance)) throw new StoreError(404, 'NoSuchBucket', `bucket ${bucket.name} does not exist`);
      const us = this.tick();
      const row: UploadRow = { ...u, upload_id: `${us.toString(16).padStart(14, '0')}${randomBytes(12).toString('hex')}`, instance: bucket.instance, initiated_us: us };
      this
        .stmt('INSERT INTO uploads (upload_id, instance, key, owner, content_type, meta, attrs, initiated_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(row.upload_id, row.instance, row.key, row.owner, row.content_type, row.meta, row.attrs, row.initiated_us);
      return row;
    });
  }

  getUpload(uploadId: string): UploadRow | undefined {
    return this.stmt('SELECT * FROM uploads WHERE upload_id = ?').get(uploadId) as UploadRow | undefined;
  }

  /** Records a durable part file; returns the file of the part it replaced, to unlink after the commit. */
  putPart(uploadId: string, part: number, p: { size: number; etag: string; file: string }): { replaced?: string; mtime_us: number } {
    return this.tx(() => {
      if (!this.getUpload(uploadId)) throw new StoreError(404, 'NoSuchUpload', `no upload ${uploadId}`);
      const prev = this.stmt('SELECT file FROM upload_parts WHERE upload_id = ? AND part = ?').get(uploadId, part) as { file: string } | undefined;
      const us = this.tick();
      this
        .stmt('INSERT INTO upload_parts (upload_id, part, size, etag, file, mtime_us) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(upload_id, part) DO UPDATE SET size = excluded.size, etag = excluded.etag, file = excluded.file, mtime_us = excluded.mtime_us')
        .run(uploadId, part, p.size, p.etag, p.file, us);
      return { replaced: prev?.file, mtime_us: us };
    });
  }

  /** Parts after `afterPart`, in part order; `limit` undefined means all of them. */
  listParts(uploadId: string, afterPart = 0, limit = -1): PartRow[] {
    return this.stmt('SELECT * FROM upload_parts WHERE upload_id = ? AND part > ? ORDER BY part LIMIT ?').all(uploadId, afterPart, limit) as PartRow[];
  }

  /**
   * Uploads of a bucket in (key, upload id) order, after the marker pair: with an id marker, the
   * uploads of the marker key after that id come first; without one the marker key is skipped.
   */
  listUploads(instance: string, prefix: string, keyMarker: string, uploadIdMarker: string, limit: number): UploadRow[] {
    const rows = (uploadIdMarker !== ''
      ? this.stmt('SELECT * FROM uploads WHERE instance = ? AND key >= ? AND (key > ? OR (key = ? AND upload_id > ?)) ORDER BY key, upload_id LIMIT ?').all(instance, prefix, keyMarker, keyMarker, uploadIdMarker, limit)
      : this.stmt('SELECT * FROM uploads WHERE instance = ? AND key >= ? AND key > ? ORDER BY key, upload_id LIMIT ?').all(instance, prefix, keyMarker, limit)) as UploadRow[];
    // As scanObjects: the rows past the prefix end the listing (no LIKE to escape).
    const out: UploadRow[] = [];
    for (const r of rows) {
      if (!r.key.startsWith(prefix)) break;
      out.push(r);
    }
    return out;
  }

  /** Forgets an upload (abort, sweep); returns its parts' files to unlink after the commit. */
  dropUpload(uploadId: string): { found: boolean; files: string[] } {
    return this.tx(() => {
      if (!this.getUpload(uploadId)) return { found: false, files: [] };
      const files = (this.stmt('SELECT file FROM upload_parts WHERE upload_id = ?').all(uploadId) as { file: string }[]).map((r) => r.file);
      this.stmt('DELETE FROM upload_parts WHERE upload_id = ?').run(uploadId);
      this.stmt('DELETE FROM uploads WHERE upload_id = ?').run(uploadId);
      return { found: true, files };
    });
  }

  /**
   * Complete: the assembled object is committed as any PUT is (index, bucket-index log, data log)
   * and the upload is forgotten, in one transaction, so the object and its upload never coexist.
   */
  completeUpload(bucket: BucketRow, uploadId: string, o: Parameters<Store['commitObject']>[1], ask: VersionAsk = {}): { replaced?: string; mtime_us: number; partFiles: string[]; versionId?: string } {
    return this.tx(() => {
      const { found, files } = this.dropUpload(uploadId);
      if (!found) throw new StoreError(404, 'NoSuchUpload', `no upload ${uploadId}`);
      const r = this.commitObject(bucket, o, undefined, ask);
      return { replaced: r.replaced, mtime_us: r.mtime_us, partFiles: files, versionId: r.versionId };
    });
  }

  /** Uploads initiated before `us` (abandoned ones, for the sweep). */
  uploadsInitiatedBefore(us: number, limit: number): UploadRow[] {
    return this.stmt('SELECT * FROM uploads WHERE initiated_us < ? ORDER BY initiated_us LIMIT ?').all(us, limit) as UploadRow[];
  }

  // ---------- log reads ----------

  logShards(type: LogType): number {
    return type === 'metadata' ? this.opts.metadataLogShards : this.opts.dataLogShards;
  }

  /** One shard of a period's metadata log (default: the current period). */
  listMdlog(shard: number, marker: string | undefined, max: number, period?: string): { entries: MdLogEntry[]; truncated: boolean } {
    const p = this.resolvePeriod(period).id;
    const rows = this
      .stmt('SELECT * FROM mdlog WHERE period = ? AND shard = ? AND id > ? ORDER BY id LIMIT ?')
      .all(p, shard, isStartMarker(marker) ? '' : marker, max + 1) as { id: string; section: string; name: string; time_us: number; status: string; ver: number; tag: string }[];
    return {
      truncated: rows.length > max,
      entries: rows.slice(0, max).map((r) => ({
        id: r.id, section: r.section, name: r.name, timestamp: isoFromUs(r.time_us),
        data: { read_version: { tag: '', ver: 0 }, write_version: { tag: r.tag, ver: r.ver }, status: { status: r.status } },
      })),
    };
  }

  listDatalog(shard: number, marker: string | undefined, max: number): { entries: (DataLogEntry & { id: string })[]; truncated: boolean } {
    const rows = this
      .stmt('SELECT * FROM datalog WHERE shard = ? AND id > ? ORDER BY id LIMIT ?')
      .all(shard, isStartMarker(marker) ? '' : marker, max + 1) as { id: string; key: string; time_us: number }[];
    return {
      truncated: rows.length > max,
      entries: rows.slice(0, max).map((r) => ({ id: r.id, entity_type: 'bucket' as const, key: r.key, timestamp: isoFromUs(r.time_us) })),
    };
  }

  /** `period` names a metadata log (default: the current period); the data log has none, as in RGW. */
  logShardInfo(type: LogType, shard: number, period?: string): { marker: string; last_update: string } {
    const row = (type === 'metadata'
      ? this.stmt('SELECT id, time_us FROM mdlog WHERE period = ? AND shard = ? ORDER BY id DESC LIMIT 1').get(this.resolvePeriod(period).id, shard)
      : this.stmt('SELECT id, time_us FROM datalog WHERE shard = ? ORDER BY id DESC LIMIT 1').get(shard)) as { id: string; time_us: number } | undefined;
    return row ? { marker: row.id, last_update: isoFromUs(row.time_us) } : { marker: '', last_update: '0.000000' };
  }

  /**
   * Every shard's head at once (marker '' for an empty shard), for agents that would otherwise
   * ask each of the shards in turn every pass. `period` as for logShardInfo.
   */
  logHeads(type: LogType, period?: string): { marker: string; last_update: string }[] {
    // SQLite takes a bare column (time_us) from the row that holds the MAX.
    const rows = (type === 'metadata'
      ? this.stmt('SELECT shard, MAX(id) AS id, time_us FROM mdlog WHERE period = ? GROUP BY shard').all(this.resolvePeriod(period).id)
      : this.stmt('SELECT shard, MAX(id) AS id, time_us FROM datalog GROUP BY shard').all()) as { shard: number; id: string; time_us: number }[];
    const out = Array.from({ length: this.logShards(type) }, () => ({ marker: '', last_update: '0.000000' }));
    for (const r of rows) if (r.shard < out.length) out[r.shard] = { marker: r.id, last_update: isoFromUs(r.time_us) };
    return out;
  }

  /** `period` as for logShardInfo: trimming one period's metadata log leaves the others alone. */
  trimLog(type: LogType, shard: number, upTo: string, period?: string): void {
    if (type === 'metadata') this.stmt('DELETE FROM mdlog WHERE period = ? AND shard = ? AND id <= ?').run(this.resolvePeriod(period).id, shard, upTo);
    else this.stmt('DELETE FROM datalog WHERE shard = ? AND id <= ?').run(shard, upTo);
  }

  listBilog(instance: string, marker: string | undefined, max: number): BilogEntry[] {
    const rows = this
      .stmt('SELECT * FROM bilog WHERE instance = ? AND op_id > ? ORDER BY op_id LIMIT ?')
      .all(instance, isStartMarker(marker) ? '' : marker, max) as { op_id: string; op: string; object: string; index_ver: number; time_us: number; op_tag: string; obj_instance: string; versioned: number; olh_epoch: number }[];
    // A versioned entry carries the key's OLH epoch and flag 1 (RGW's versioned op); pool -1 as RGW's OLH ops.
    return rows.map((r) => ({
      op_id: r.op_id, op_tag: r.op_tag, op: r.op, object: r.object, instance: r.obj_instance, state: 'complete', index_ver: r.index_ver,
      timestamp: isoFromUs(r.time_us), ver: r.versioned ? { pool: -1, epoch: r.olh_epoch } : { pool: 1, epoch: r.index_ver },
      bilog_flags: r.versioned ? 1 : 0, versioned: r.versioned === 1, owner: '', owner_display_name: '',
    }));
  }

  bilogInfo(instance: string): { bucket_ver: string; master_ver: string; max_marker: string; syncstopped: string } | undefined {
    const inst = this.stmt('SELECT index_ver FROM bucket_instances WHERE key = ?').get(instance) as { index_ver: number } | undefined;
    if (!inst) return undefined;
    const last = this.stmt('SELECT op_id FROM bilog WHERE instance = ? ORDER BY op_id DESC LIMIT 1').get(instance) as { op_id: string } | undefined;
    return { bucket_ver: String(inst.index_ver), master_ver: '0', max_marker: last?.op_id ?? '', syncstopped: 'false' };
  }

  trimBilog(instance: string, upTo: string): void {
    this.stmt('DELETE FROM bilog WHERE instance = ? AND op_id <= ?').run(instance, upTo);
  }

  // ---------- shard locks ----------

  /** Exclusive lease; the same locker renews it. Returns false when another locker holds it. */
  lock(type: string, shard: number, zoneId: string, lockerId: string, seconds: number, nowMs = Date.now()): boolean {
    return this.tx(() => {
      const cur = this.stmt('SELECT zone_id, locker_id, expires_ms FROM locks WHERE type = ? AND shard = ?').get(type, shard) as
        | { zone_id: string; locker_id: string; expires_ms: number }
        | undefined;
      if (cur && cur.expires_ms > nowMs && (cur.locker_id !== lockerId || cur.zone_id !== zoneId)) return false;
      this
        .stmt('INSERT INTO locks (type, shard, zone_id, locker_id, expires_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT(type, shard) DO UPDATE SET zone_id = excluded.zone_id, locker_id = excluded.locker_id, expires_ms = excluded.expires_ms')
        .run(type, shard, zoneId, lockerId, nowMs + seconds * 1000);
      return true;
    });
  }

  /** Releases a lock this locker holds; false when it does not hold it (expired or another's). */
  unlock(type: string, shard: number, zoneId: string, lockerId: string, nowMs = Date.now()): boolean {
    const r = this
      .stmt('DELETE FROM locks WHERE type = ? AND shard = ? AND zone_id = ? AND locker_id = ? AND expires_ms > ?')
      .run(type, shard, zoneId, lockerId, nowMs);
    return r.changes > 0;
  }

  // ---------- replica log (sync bounds) ----------

  getBound(type: string, entity: string): ReplicaBound | undefined {
    const row = this.stmt('SELECT daemon_id, marker, time, items FROM replica_log WHERE type = ? AND entity = ?').get(type, entity) as
      | { daemon_id: string; marker: string; time: string; items: string }
      | undefined;
    return row ? { ...row, items: JSON.parse(row.items) as ReplicaBound['items'] } : undefined;
  }

  /** One entity per record, as cls_replica_log: another daemon id gets a conflict. */
  setBound(type: string, entity: string, b: ReplicaBound): void {
    this.tx(() => {
      const cur = this.getBound(type, entity);
      if (cur && cur.daemon_id !== b.daemon_id) throw new StoreError(409, 'BucketAlreadyExists', `bound is held by daemon ${cur.daemon_id}`);
      this
        .stmt('INSERT INTO replica_log (type, entity, daemon_id, marker, time, items) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(type, entity) DO UPDATE SET daemon_id = excluded.daemon_id, marker = excluded.marker, time = excluded.time, items = excluded.items')
        .run(type, entity, b.daemon_id, b.marker, b.time, JSON.stringify(b.items));
    });
  }

  deleteBound(type: string, entity: string, daemonId: string): void {
    this.tx(() => {
      const cur = this.getBound(type, entity);
      if (cur && cur.daemon_id !== daemonId) throw new StoreError(409, 'BucketAlreadyExists', `bound is held by daemon ${cur.daemon_id}`);
      this.stmt('DELETE FROM replica_log WHERE type = ? AND entity = ?').run(type, entity);
    });
  }

  // ---------- op state ----------

  /**
   * Op state lives in memory: it only answers an agent polling a copy it just sent, and keeping
   * it durable cost two fsynced commits per remote copy. After a restart it is gone (the agent
   * then records the object as a retry).
   */
  private readonly opStates = new Map<string, { client_id: string; op_id: string; object: string; state: string; time_us: number }>();

  setOpState(clientId: string, opId: string, object: string, state: string): void {
    this.opStates.set(JSON.stringify([clientId, opId, object]), { client_id: clientId, op_id: opId, object, state, time_us: Date.now() * 1000 });
    if (this.opStates.size > 100_000) this.pruneOpState(3600_000);
  }

  getOpState(clientId?: string, opId?: string, object?: string): OpState[] {
    const out: OpState[] = [];
    for (const r of this.opStates.values()) {
      if ((clientId !== undefined && r.client_id !== clientId) || (opId !== undefined && r.op_id !== opId) || (object !== undefined && r.object !== object)) continue;
      out.push({ client_id: r.client_id, op_id: r.op_id, object: r.object, state: r.state, timestamp: isoFromUs(r.time_us) });
      if (out.length >= 1000) break;
    }
    return out;
  }

  deleteOpState(clientId: string, opId: string, object: string): boolean {
    return this.opStates.delete(JSON.stringify([clientId, opId, object]));
  }

  /** Op state is only useful while an agent may still poll it; old records are dropped. */
  pruneOpState(olderThanMs: number): void {
    const limit = (Date.now() - olderThanMs) * 1000;
    for (const [k, r] of this.opStates) if (r.time_us < limit) this.opStates.delete(k);
  }

}
