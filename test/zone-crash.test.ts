/**
 * Crash safety of the embedded zone as a real process: `zone serve` is killed with SIGKILL in the
 * middle of a stream of concurrent PUTs and DELETEs, restarted on the same data dir, and then
 * - every acknowledged write (or delete) is there byte for byte, with its MD5 as ETag;
 * - a write that was in flight at the kill left either the old or the new object, never a torn one;
 * - the bucket-index log replays to exactly the listed keys, and the data log names the bucket;
 * - no stray object files or inline bodies are left (orphans are removed at start), tmp/ is empty.
 * The cycle is repeated, killing at different points (early, late, while a body is half sent,
 * right after the restart). Decisions come from a seeded PRNG: set CRASH_SEED to replay a run.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { XMLParser } from 'fast-xml-parser';
import { makeRealm, type TestRealm } from './helpers/realm.js';
import { s3Encode, signRequest } from '../src/rgw/sign.js';
import { INLINE_MAX_BYTES } from '../src/zone/objectfiles.js';
import Database from 'better-sqlite3';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const ZONE = 'us-east';
const BUCKET = 'crashbkt';
const WRITERS = 4;
const KEYS = Array.from({ length: 16 }, (_, i) => (i % 5 === 4 ? `dir/ünï cødé ${i}` : `k/${String(i).padStart(2, '0')}`));
const HALF = 1 << 20;

type Creds = { accessKey: string; secretKey: string };

// ---------- seeded randomness (decisions only; object bytes come from randomBytes) ----------

const SEED = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
function mulberry32(a: number): () => number {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rng = mulberry32(SEED);
const randInt = (lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
/** Log-uniform between 1 KiB and 2 MiB, so most objects are small and some are large. */
const randSize = (): number => Math.floor(1024 * 2 ** (rng() * 11));

function md5(b: Buffer): string {
  return createHash('md5').update(b).digest('hex');
}
function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

// ---------- the zone as a child process ----------

class ZoneProcess {
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly agent = new Agent({ connections: WRITERS + 2, keepAliveTimeout: 30_000 });
  url = '';
  private alive = true;

  private constructor(readonly child: ChildProcess) {
    child.stderr!.on('data', (d: Buffer) => { this.stderr += d.toString(); });
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => { this.alive = false; resolve({ code, signal }); }));
  }

  get running(): boolean {
    return this.alive;
  }

  static async start(t: TestRealm, dataDir: string, timeoutMs = 15_000): Promise<ZoneProcess> {
    const child = spawn(process.execPath, [CLI, 'zone', 'serve', '--realm', t.realmFile, '--zone', ZONE, '--data-dir', dataDir, '--log-format', 'json'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const z = new ZoneProcess(child);
    live.add(z);
    z.url = await new Promise<string>((resolve, reject) => {
      const done = (err: Error | undefined, url?: string) => {
        clearTimeout(timer);
        child.stderr!.off('data', check);
        child.off('exit', onExit);
        if (err) reject(err); else resolve(url!);
      };
      const check = () => {
        const m = /listening on (http:\/\/[^\s"]+)/.exec(z.stderr);
        if (m) done(undefined, m[1]);
      };
      const onExit = (code: number | null, signal: string | null) => done(new Error(`zone exited (${code ?? signal}) before it was ready:\n${z.stderr}`));
      const timer = setTimeout(() => done(new Error(`zone not ready within ${timeoutMs} ms:\n${z.stderr}`)), timeoutMs);
      child.stderr!.on('data', check);
      child.once('exit', onExit);
      check();
    }).catch(async (e: unknown) => {
      await z.kill9();
      throw e;
    });
    return z;
  }

  /** SIGKILL; resolves when the process is gone. */
  async kill9(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await this.exited;
    live.delete(this);
    await this.agent.destroy().catch(() => undefined);
  }

  /** Graceful stop; resolves with the exit status. */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.alive) this.child.kill('SIGTERM');
    const r = await this.exited;
    live.delete(this);
    await this.agent.destroy().catch(() => undefined);
    return r;
  }
}

const live = new Set<ZoneProcess>();

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

/** A SigV4-signed request over this process's own connection pool (none is reused across a kill). */
async function send(z: ZoneProcess, method: string, path: string, creds: Creds, body?: Buffer | { stream: () => AsyncIterable<Buffer>; length: number; sha256: string }): Promise<Reply> {
  const url = new URL(z.url);
  const isBuf = Buffer.isBuffer(body);
  const headers = signRequest({
    method, host: url.host, path,
    headers: body && !isBuf ? { 'content-length': String(body.length) } : {},
    bodySha256: body === undefined ? undefined : isBuf ? sha256(body) : body.sha256,
  }, creds, 'v4');
  const r = await request(`${z.url}${path}`, {
    method: method as 'GET', headers, dispatcher: z.agent,
    body: body === undefined ? undefined : isBuf ? body : Readable.from(body.stream()),
  });
  const buf = Buffer.from(await r.body.arrayBuffer());
  return { status: r.statusCode, headers: r.headers, body: buf };
}

const objPath = (key: string): string => `/${BUCKET}/${s3Encode(key, true)}`;

// ---------- the model ----------

interface Version { data: Buffer; md5: string }
type State = { present: false } | { present: true; v: Version };
type InFlight = { op: 'put'; v: Version } | { op: 'del' };

const ABSENT: State = { present: false };

function describeState(s: State): string {
  return s.present ? `${s.v.data.length} bytes md5 ${s.v.md5}` : 'absent';
}

interface Totals { sentPuts: number; ackedPuts: number; sentDels: number; ackedDels: number }

type Trigger =
  | { kind: 'acks'; n: number }
  | { kind: 'midbody'; after: number };

interface CycleReport { acks: number; inFlightAtKill: number; tmpAtKill: string[]; orphansRemoved: number; resolvedNew: number; resolvedOld: number }

// ---------- checks ----------

const xml = new XMLParser({ parseTagValue: false, isArray: (name) => name === 'Contents' });

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(join(e.parentPath, e.name));
  }
  return out;
}

describe('embedded zone survives kill -9 during concurrent uploads', () => {
  let t: TestRealm;
  let dataDir: string;
  let zone: ZoneProcess | undefined;
  let user: Creds;
  const model = new Map<string, State>(KEYS.map((k) => [k, ABSENT]));
  const sent = new Map<string, Set<string>>(KEYS.map((k) => [k, new Set()])); // md5s of every version sent, per key
  const totals: Totals = { sentPuts: 0, ackedPuts: 0, sentDels: 0, ackedDels: 0 };
  const started = Date.now();

  before(async () => {
    t = await makeRealm();
    // With no data-log window every bucket-index entry has a data-log entry of the same time.
    assert.equal(t.realm.dataLogWindowSeconds, 0);
    dataDir = join(t.dir, ZONE);
    zone = await ZoneProcess.start(t, dataDir);
    const r = await send(zone, 'PUT', '/admin/user?uid=crasher&display-name=Crasher', t);
    assert.equal(r.status, 200, r.body.toString());
    const k = (JSON.parse(r.body.toString()) as { keys: { access_key: string; secret_key: string }[] }).keys[0];
    user = { accessKey: k.access_key, secretKey: k.secret_key };
    const b = await send(zone, 'PUT', `/${BUCKET}`, user);
    assert.equal(b.status, 200, b.body.toString());
  });

  after(async () => {
    await Promise.all([...live].map((z) => z.kill9()));
    t?.cleanup();
  });

  /**
   * Runs WRITERS concurrent writers until the trigger fires, then SIGKILLs the zone. A key is only
   * ever used by one writer at a time, so "the last acknowledged op of a key" is well defined and
   * at most one op per key is in flight at the kill.
   */
  async function workloadThenKill(z: ZoneProcess, trigger: Trigger): Promise<{ inflight: Map<string, InFlight>; report: CycleReport }> {
    const inflight = new Map<string, InFlight>();
    const busy = new Set<string>();
    let acks = 0;
    let killed = false;
    let paused = false;
    const errors: Error[] = [];
    let tmpAtKill: string[] = [];
    let killDone: Promise<void> | undefined;
    const kill = (): Promise<void> => {
      if (!killed) {
        killed = true;
        z.child.kill('SIGKILL');
        killDone = z.exited.then(async () => { tmpAtKill = await listFiles(join(dataDir, 'tmp')); });
      }
      return killDone!;
    };
    const pickKey = (): string | undefined => {
      const free = KEYS.filter((k) => !busy.has(k));
      return free.length ? free[Math.floor(rng() * free.length)] : undefined;
    };

    let reachedAfter!: () => void;
    const afterReached = new Promise<void>((resolve) => { reachedAfter = resolve; });
    const onAck = () => {
      acks++;
      if (trigger.kind === 'acks' && acks >= trigger.n) void kill();
      if (trigger.kind === 'midbody' && acks >= trigger.after) reachedAfter();
    };

    async function one(key: string): Promise<void> {
      const isDel = rng() < 0.2;
      const op: InFlight = isDel ? { op: 'del' } : (() => {
        const data = randomBytes(randSize());
        return { op: 'put' as const, v: { data, md5: md5(data) } };
      })();
      if (op.op === 'put') { sent.get(key)!.add(op.v.md5); totals.sentPuts++; } else totals.sentDels++;
      inflight.set(key, op);
      let r: Reply;
      try {
        r = await send(z, op.op === 'put' ? 'PUT' : 'DELETE', objPath(key), user, op.op === 'put' ? op.v.data : undefined);
      } catch (e) {
        if (killed) return; // unacknowledged: stays in flight
        throw e;
      }
      if (op.op === 'put') {
        assert.equal(r.status, 200, `PUT ${key}: ${r.body.toString()}`);
        assert.equal(r.headers.etag, `"${op.v.md5}"`);
        totals.ackedPuts++;
        model.set(key, { present: true, v: op.v });
      } else {
        assert.equal(r.status, 204, `DELETE ${key}: ${r.body.toString()}`);
        totals.ackedDels++;
        model.set(key, ABSENT);
      }
      inflight.delete(key);
      onAck();
    }

    async function writer(): Promise<void> {
      while (!killed) {
        if (paused) return;
        const key = pickKey();
        if (key === undefined) return;
        busy.add(key);
        try {
          await one(key);
        } finally {
          busy.delete(key);
        }
      }
    }

    /** One 2 MiB upload whose body stalls at 1 MiB; the zone is killed once tmp/ holds that 1 MiB. */
    async function stalledUpload(): Promise<void> {
      const present = KEYS.filter((k) => model.get(k)!.present);
      const key = present.length ? present[Math.floor(rng() * present.length)] : KEYS[0];
      const data = randomBytes(2 * HALF);
      const v = { data, md5: md5(data) };
      sent.get(key)!.add(v.md5);
      totals.sentPuts++;
      inflight.set(key, { op: 'put', v });
      const tmpDir = join(dataDir, 'tmp');
      async function* body(): AsyncGenerator<Buffer> {
        for (let off = 0; off < HALF; off += 64 << 10) yield data.subarray(off, off + (64 << 10));
        const deadline = Date.now() + 10_000;
        for (;;) {
          const files = await listFiles(tmpDir);
          const sizes = await Promise.all(files.map(async (f) => (await stat(f).catch(() => ({ size: -1 }))).size));
          if (sizes.includes(HALF)) break;
          if (Date.now() > deadline) throw new Error(`the zone never wrote the first half of the stalled upload to tmp/ (sizes ${sizes.join(',')})`);
          await new Promise((r) => setTimeout(r, 2));
        }
        await kill();
        yield data.subarray(HALF);
      }
      try {
        const r = await send(z, 'PUT', objPath(key), user, { stream: body, length: data.length, sha256: sha256(data) });
        assert.fail(`the stalled upload was answered ${r.status} although the zone was killed`);
      } catch (e) {
        if (!killed) throw e;
      }
    }

    const writers = Array.from({ length: WRITERS }, () => writer().catch((e: Error) => { errors.push(e); void kill(); }));
    if (trigger.kind === 'midbody') {
      // Let the writers run, then quiesce them so the stalled upload is the only one in flight.
      await Promise.race([afterReached, Promise.all(writers)]);
      paused = true;
      await Promise.all(writers);
      if (!killed) await stalledUpload().catch((e: Error) => { errors.push(e); return kill(); });
    }
    await Promise.all(writers);
    await kill();
    await z.kill9();
    if (errors.length) throw errors[0];
    return { inflight, report: { acks, inFlightAtKill: inflight.size, tmpAtKill, orphansRemoved: 0, resolvedNew: 0, resolvedOld: 0 } };
  }

  /** Reads the bucket back and checks it against the model and the logs; adopts what it sees for in-flight keys. */
  async function verify(z: ZoneProcess, inflight: Map<string, InFlight>, report: CycleReport): Promise<void> {
    // 1. Every key: acknowledged state exactly; in-flight keys old or new, never torn.
    const observed = new Map<string, State>();
    for (const key of KEYS) {
      const r = await send(z, 'GET', objPath(key), user);
      assert.ok(r.status === 200 || r.status === 404, `GET ${key}: ${r.status} ${r.body.toString()}`);
      let s: State = ABSENT;
      if (r.status === 200) {
        const got = md5(r.body);
        assert.equal(r.headers.etag, `"${got}"`, `ETag of ${key} is the MD5 of its bytes`);
        assert.ok(sent.get(key)!.has(got), `${key} holds ${r.body.length} bytes (md5 ${got}) that were never sent for it: a torn object`);
        s = { present: true, v: { data: r.body, md5: got } };
      }
      const before = model.get(key)!;
      const fl = inflight.get(key);
      const allowed: State[] = [before];
      if (fl) allowed.push(fl.op === 'put' ? { present: true, v: fl.v } : ABSENT);
      const ok = allowed.some((a) => a.present === s.present && (!a.present || (s.present && a.v.data.equals(s.v.data))));
      assert.ok(ok, `${key}: found ${describeState(s)}, expected ${allowed.map(describeState).join(' or ')}${fl ? ` (${fl.op} in flight)` : ''}`);
      if (fl) {
        const isNew = fl.op === 'put' ? s.present && s.v.md5 === fl.v.md5 : !s.present;
        const isOld = before.present === s.present && (!before.present || (s.present && before.v.md5 === s.v.md5));
        if (isNew && !isOld) report.resolvedNew++; else report.resolvedOld++;
      }
      observed.set(key, s);
    }
    for (const [k, s] of observed) model.set(k, s);

    // 2. ListObjectsV2 (paged) names exactly the present keys, with their sizes and ETags.
    const listed = new Map<string, { size: number; etag: string }>();
    let token: string | undefined;
    for (let page = 0; ; page++) {
      assert.ok(page < 100, 'listing does not end');
      const q = `list-type=2&max-keys=5${token ? `&continuation-token=${encodeURIComponent(token)}` : ''}`;
      const r = await send(z, 'GET', `/${BUCKET}?${q}`, user);
      assert.equal(r.status, 200, r.body.toString());
      const doc = xml.parse(r.body.toString()) as { ListBucketResult: { Contents?: { Key: string; Size: string; ETag: string }[]; IsTruncated: string; NextContinuationToken?: string } };
      for (const c of doc.ListBucketResult.Contents ?? []) {
        assert.ok(!listed.has(c.Key), `${c.Key} listed twice`);
        listed.set(c.Key, { size: Number(c.Size), etag: c.ETag });
      }
      if (doc.ListBucketResult.IsTruncated !== 'true') break;
      token = doc.ListBucketResult.NextContinuationToken;
      assert.ok(token, 'a truncated listing has a continuation token');
    }
    const present = KEYS.filter((k) => model.get(k)!.present).sort();
    assert.deepEqual([...listed.keys()].sort(), present, 'the listing names exactly the readable keys');
    for (const k of present) {
      const s = model.get(k) as { present: true; v: Version };
      assert.deepEqual(listed.get(k), { size: s.v.data.length, etag: `"${s.v.md5}"` }, `listing entry of ${k}`);
    }

    // 3. The bucket-index log replays to the listing.
    const meta = await send(z, 'GET', `/admin/metadata/bucket?key=${BUCKET}`, t);
    assert.equal(meta.status, 200, meta.body.toString());
    const bucketId = (JSON.parse(meta.body.toString()) as { data: { bucket: { bucket_id: string } } }).data.bucket.bucket_id;
    const instance = `${BUCKET}:${bucketId}`;
    const bilog: { op_id: string; op: string; object: string; timestamp: string }[] = [];
    let marker = '';
    for (;;) {
      const r = await send(z, 'GET', `/admin/log?type=bucket-index&bucket-instance=${encodeURIComponent(instance)}&max-entries=1000${marker ? `&marker=${encodeURIComponent(marker)}` : ''}`, t);
      assert.equal(r.status, 200, r.body.toString());
      const page = JSON.parse(r.body.toString()) as typeof bilog;
      bilog.push(...page);
      if (page.length < 1000) break;
      marker = page.at(-1)!.op_id;
    }
    for (let i = 1; i < bilog.length; i++) assert.ok(bilog[i - 1].op_id < bilog[i].op_id, `bilog op ids increase: ${bilog[i - 1].op_id} then ${bilog[i].op_id}`);
    const replay = new Map<string, boolean>();
    for (const e of bilog) {
      assert.ok(e.op === 'write' || e.op === 'del', `bilog op ${e.op}`);
      replay.set(e.object, e.op === 'write');
    }
    const replayed = [...replay].filter(([, p]) => p).map(([k]) => k).sort();
    assert.deepEqual(replayed, [...listed.keys()].sort(), 'bilog replay equals the listing');
    const writes = bilog.filter((e) => e.op === 'write').length;
    const dels = bilog.length - writes;
    assert.ok(writes >= totals.ackedPuts && writes <= totals.sentPuts, `bilog has ${writes} writes; ${totals.ackedPuts} PUTs were acknowledged of ${totals.sentPuts} sent`);
    assert.ok(dels <= totals.sentDels, `bilog has ${dels} deletes; only ${totals.sentDels} were sent`);

    // 4. The data log names the instance for every change (the realm's data-log window is 0).
    const info = await send(z, 'GET', '/admin/log?type=data', t);
    assert.equal(info.status, 200, info.body.toString());
    const shards = (JSON.parse(info.body.toString()) as { num_objects: number }).num_objects;
    assert.ok(Number.isInteger(shards) && shards > 0, `num_objects ${shards}`);
    const dataLog: { key: string; timestamp: string }[] = [];
    for (let shard = 0; shard < shards; shard++) {
      let m = '';
      for (;;) {
        const r = await send(z, 'GET', `/admin/log?type=data&id=${shard}&max-entries=1000${m ? `&marker=${encodeURIComponent(m)}` : ''}`, t);
        assert.equal(r.status, 200, r.body.toString());
        const page = JSON.parse(r.body.toString()) as { marker: string; truncated: boolean; entries: { key: string; timestamp: string }[] };
        dataLog.push(...page.entries);
        if (!page.truncated) break;
        m = page.marker;
      }
    }
    const forInstance = new Set(dataLog.filter((e) => e.key === instance).map((e) => e.timestamp));
    if (bilog.length > 0) assert.ok(forInstance.size > 0, `the data log names ${instance}`);
    assert.deepEqual(dataLog.filter((e) => e.key !== instance), [], 'the data log names no other bucket instance');
    const uncovered = bilog.filter((e) => !forInstance.has(e.timestamp));
    assert.deepEqual(uncovered, [], 'every bilog entry has a data-log entry for its instance and time');

    // 5. No stray bodies: one file per listed object above the inline limit, one inline body per
    // listed object up to it, nothing in tmp/.
    const inlineListed = [...listed.values()].filter((o) => o.size <= INLINE_MAX_BYTES).length;
    assert.equal((await listFiles(join(dataDir, 'objects'))).length, listed.size - inlineListed, 'object files = listed objects above the inline limit');
    const db = new Database(join(dataDir, 'zone.db'), { readonly: true, fileMustExist: true });
    try {
      assert.equal((db.prepare('SELECT COUNT(*) AS n FROM inline_bodies').get() as { n: number }).n, inlineListed, 'inline bodies = listed objects up to the inline limit');
    } finally {
      db.close();
    }
    assert.deepEqual(await listFiles(join(dataDir, 'tmp')), [], 'tmp/ is empty');
  }

  async function cycle(trigger: Trigger, diag: (s: string) => void): Promise<void> {
    assert.ok(zone?.running, 'the zone runs at the start of the cycle');
    const { inflight, report } = await workloadThenKill(zone, trigger);
    zone = await ZoneProcess.start(t, dataDir);
    const m = /removed (\d+) object file/.exec(zone.stderr);
    report.orphansRemoved = m ? Number(m[1]) : 0;
    await verify(zone, inflight, report);
    diag(`${JSON.stringify(trigger)}: ${report.acks} acks before the kill, ${report.inFlightAtKill} op(s) in flight ` +
      `(${report.resolvedNew} landed, ${report.resolvedOld} did not), tmp/ at kill: ${report.tmpAtKill.length} file(s), ` +
      `orphans removed at restart: ${report.orphansRemoved}, totals ${JSON.stringify(totals)}`);
  }

  it('kill early, after a few acknowledgements', async (tc) => {
    tc.diagnostic(`CRASH_SEED=${SEED}`);
    await cycle({ kind: 'acks', n: randInt(3, 12) }, (s) => tc.diagnostic(s));
  });

  it('kill later, after many acknowledgements', async (tc) => {
    await cycle({ kind: 'acks', n: randInt(30, 60) }, (s) => tc.diagnostic(s));
  });

  it('kill while an upload body is half sent (tmp/ holds a partial file)', async (tc) => {
    const trigger: Trigger = { kind: 'midbody', after: randInt(5, 15) };
    assert.ok(zone?.running);
    const { inflight, report } = await workloadThenKill(zone, trigger);
    assert.equal(report.tmpAtKill.length, 1, `exactly the stalled upload is in tmp/ at the kill: ${report.tmpAtKill.join(', ')}`);
    assert.equal((await stat(report.tmpAtKill[0])).size, HALF, 'and it holds the first half');
    zone = await ZoneProcess.start(t, dataDir);
    await verify(zone, inflight, report);
    assert.equal(report.resolvedNew, 0, 'the half-sent upload did not land');
    tc.diagnostic(`${JSON.stringify(trigger)}: ${report.acks} acks, then a 2 MiB PUT killed at 1 MiB; totals ${JSON.stringify(totals)}`);
  });

  it('kill on the first acknowledgement after a restart', async (tc) => {
    await cycle({ kind: 'acks', n: 1 }, (s) => tc.diagnostic(s));
  });

  it('kill once more mid-stream, then stop cleanly with SIGTERM', async (tc) => {
    await cycle({ kind: 'acks', n: randInt(10, 40) }, (s) => tc.diagnostic(s));
    const r = await zone!.stop();
    assert.deepEqual(r, { code: 0, signal: null }, `SIGTERM exits 0:\n${zone!.stderr}`);
    tc.diagnostic(`total ${Date.now() - started} ms`);
  });
});
