/**
 * Wire replay: every request the ORIGINAL Python radosgw-agent sent to a two-zone test server
 * (test/fixtures/radosgw-agent-wire/*.jsonl, digest in summary.txt) is sent again, byte for byte
 * (method, raw path + query, body, Content-Type, x-amz-copy-source), to two embedded zones with the
 * same names, signed SigV2 by the realm's system user. The zones are seeded at the points where the
 * recording's harness seeded its server (`/_ctl/*` lines). Every answer is checked against the
 * recorded status and against the shapes of shared/PROTOCOL.md; state the agent relies on (sync
 * bounds, shard locks, op state, copied objects) is modelled here and checked as it evolves.
 *
 * Numbering in messages (#N) is the 0-based line of the .jsonl file, which is the number summary.txt
 * shows.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { request } from 'undici';
import { makeRealm, startZones, type TestRealm } from './helpers/realm.js';
import { call, type Reply } from './helpers/http.js';
import { s3Encode, v2Signature } from '../src/rgw/sign.js';
import type { RunningZone } from '../src/zone/server.js';

// ---------------------------------------------------------------- fixtures

interface Rec {
  t: number;
  zone: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  sig_ok: boolean | null;
  status: number;
  string_to_sign?: string;
}

const FIXTURES = new URL('../../test/fixtures/radosgw-agent-wire/', import.meta.url);

function loadTrace(name: string): Rec[] {
  return readFileSync(new URL(name, FIXTURES), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Rec);
}

function recHeader(rec: Rec, name: string): string | undefined {
  const k = Object.keys(rec.headers).find((h) => h.toLowerCase() === name);
  return k === undefined ? undefined : rec.headers[k];
}

// ---------------------------------------------------------------- small helpers

type Json = Record<string, unknown>;
type Creds = { accessKey: string; secretKey: string };

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: unknown, what: string): Json {
  assert.ok(isObj(v), `${what}: expected a JSON object, got ${JSON.stringify(v)}`);
  return v;
}

function str(v: unknown, what: string): string {
  assert.equal(typeof v, 'string', `${what}: expected a string, got ${JSON.stringify(v)}`);
  return v as string;
}

function parseJson(r: Reply, what: string): unknown {
  try {
    return JSON.parse(r.text) as unknown;
  } catch {
    assert.fail(`${what}: answer is not JSON: ${r.text.slice(0, 200)}`);
  }
}

/** The query as a server sees it: order-free, percent-decoded, valueless flags map to ''. */
function parseQuery(raw: string): Map<string, string> {
  const q = new Map<string, string>();
  for (const part of raw.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    q.set(decodeURIComponent(eq < 0 ? part : part.slice(0, eq)), eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1)));
  }
  return q;
}

function splitUrl(raw: string): { path: string; query: Map<string, string> } {
  const i = raw.indexOf('?');
  return { path: decodeURIComponent(i < 0 ? raw : raw.slice(0, i)), query: parseQuery(i < 0 ? '' : raw.slice(i + 1)) };
}

const isStart = (m: string | undefined): boolean => m === undefined || m === '' || m === ' ';

/** An /admin error: JSON {"Code": ...}. */
function assertAdminError(r: Reply, status: number, code: string | undefined, what: string): void {
  assert.equal(r.status, status, `${what}: status (body ${r.text.slice(0, 200)})`);
  const body = obj(parseJson(r, what), what);
  const c = str(body.Code, `${what}: Code`);
  assert.ok(c.length > 0, `${what}: empty Code`);
  if (code !== undefined) assert.equal(c, code, `${what}: Code`);
}

function xmlCode(r: Reply): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(r.text)?.[1];
}

/** asctime(gmtime()) as Python prints it: "Sat Nov 21 22:43:51 2026" (day padded with a space). */
function asctime(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

const LOCK_SECONDS_MARGIN_MS = 9_000; // the agent locks for length=10 s; closer than this to expiry we accept either answer

// ---------------------------------------------------------------- the two-zone environment

interface ObjState { status: number; etag?: string; mtime?: string; body: Buffer }

class Env {
  readonly zones = new Map<string, RunningZone>();
  /** Raw request targets each zone received, in order (to prove the replay is byte for byte). */
  readonly seen = new Map<string, string[]>();
  readonly users = new Map<string, Creds>();
  /** Model of us-east: bucket -> key -> bytes, and bucket -> instance id. */
  readonly eastObjects = new Map<string, Map<string, Buffer>>();
  readonly eastBucketIds = new Map<string, string>();
  readonly eastUsers = new Set<string>();
  /** Every key ever written per bucket (bilog entries may name deleted ones). */
  readonly everWritten = new Map<string, Set<string>>();

  private constructor(readonly t: TestRealm, running: RunningZone[]) {
    for (const z of running) {
      const name = t.realm.zones[running.indexOf(z)]!.name;
      this.zones.set(name, z);
      const seen: string[] = [];
      this.seen.set(name, seen);
      z.server.on('request', (req: { url?: string }) => seen.push(req.url ?? ''));
    }
    this.eastUsers.add(t.realm.systemUser.uid);
  }

  static async start(): Promise<Env> {
    // The recording's server had 4 metadata and 4 data log shards.
    const t = await makeRealm({ extra: 'metadata_log_shards: 4\ndata_log_shards: 4' });
    return new Env(t, await startZones(t));
  }

  get sys(): Creds {
    return { accessKey: this.t.accessKey, secretKey: this.t.secretKey };
  }

  url(zone: string): string {
    const z = this.zones.get(zone);
    assert.ok(z, `no zone ${zone}`);
    return z.url;
  }

  async close(): Promise<void> {
    await Promise.all([...this.zones.values()].map((z) => z.close()));
    this.t.cleanup();
  }

  async getObj(zone: string, bucket: string, key: string): Promise<ObjState> {
    const r = await call(this.url(zone), 'GET', `/${s3Encode(bucket, false)}/${s3Encode(key, true)}`, this.sys);
    const etag = r.headers.etag;
    const mtime = r.headers['rgwx-mtime'];
    return {
      status: r.status,
      etag: typeof etag === 'string' ? etag.replace(/"/g, '') : undefined,
      mtime: typeof mtime === 'string' ? mtime : undefined,
      body: r.body,
    };
  }

  // ----- seeding on us-east through the public APIs: users via /admin/user, objects via S3 SigV4 as
  // the owner, buckets via /admin/metadata (see createBucket)

  async createUser(uid: string): Promise<void> {
    const r = await call(this.url('us-east'), 'PUT', `/admin/user?uid=${uid}&display-name=${uid}`, this.sys);
    assert.equal(r.status, 200, `create user ${uid}: ${r.text}`);
    const k = (r.json<{ keys: { access_key: string; secret_key: string }[] }>().keys)[0];
    assert.ok(k, `user ${uid} has no keys`);
    this.users.set(uid, { accessKey: k.access_key, secretKey: k.secret_key });
    this.eastUsers.add(uid);
  }

  private owner(uid: string): Creds {
    const c = this.users.get(uid);
    assert.ok(c, `no user ${uid}`);
    return c;
  }

  /**
   * b1 and b2 are shorter than the 3 characters S3 (and RGW) allow for a new bucket, so CreateBucket
   * refuses them. They are seeded the way a bucket arrives from another zone instead: the metadata
   * the original source zone had (the bodies the agent copied to us-west in the recording) is PUT
   * through /admin/metadata, instance first.
   */
  async createBucket(uid: string, bucket: string, expectedId: string): Promise<void> {
    const east = this.url('us-east');
    const refused = await call(east, 'PUT', `/${bucket}`, this.owner(uid));
    assert.equal(refused.status, 400, `create bucket ${bucket}: ${refused.text}`);
    assert.equal(xmlCode(refused), 'InvalidBucketName');
    const trace = loadTrace('run1-full-then-incremental.jsonl');
    const doc = (path: string): string => {
      const rec = trace.find((r) => r.method === 'PUT' && r.zone === 'us-west' && r.path === path);
      assert.ok(rec, `no recorded metadata PUT ${path}`);
      return rec.body;
    };
    const instPath = `/admin/metadata/bucket.instance?key=${bucket}%3A${expectedId}`;
    const entPath = `/admin/metadata/bucket?key=${bucket}`;
    for (const p of [instPath, entPath]) {
      const r = await call(east, 'PUT', p, this.sys, { body: doc(p), headers: { 'content-type': 'application/json' } });
      assert.equal(r.status, 200, `seed ${p}: ${r.text}`);
    }
    const md = await call(east, 'GET', entPath, this.sys);
    assert.equal(md.status, 200, md.text);
    const got = md.json<{ data: { owner: string; bucket: { bucket_id: string } } }>().data;
    // The recording's instance ids; the recorded metadata PUT bodies carry them to us-west.
    assert.equal(got.bucket.bucket_id, expectedId, `instance id of ${bucket}`);
    assert.equal(got.owner, uid);
    this.eastBucketIds.set(bucket, expectedId);
    this.eastObjects.set(bucket, new Map());
    this.everWritten.set(bucket, new Set());
  }

  async putObject(uid: string, bucket: string, key: string, body: Buffer): Promise<void> {
    const r = await call(this.url('us-east'), 'PUT', `/${bucket}/${s3Encode(key, true)}`, this.owner(uid), { body, headers: { 'content-type': 'text/plain' } });
    assert.equal(r.status, 200, `put ${bucket}/${key}: ${r.text}`);
    this.eastObjects.get(bucket)!.set(key, body);
    this.everWritten.get(bucket)!.add(key);
  }

  async deleteObject(uid: string, bucket: string, key: string): Promise<void> {
    const r = await call(this.url('us-east'), 'DELETE', `/${bucket}/${s3Encode(key, true)}`, this.owner(uid));
    assert.equal(r.status, 204, `delete ${bucket}/${key}: ${r.text}`);
    this.eastObjects.get(bucket)!.delete(key);
  }
}

const content = (key: string, n = 1): Buffer => Buffer.from(`${key}\n`.repeat(50 * n));

/** What the recording harness did at each /_ctl point, redone through the zone's APIs. */
async function harness(env: Env, ctl: string): Promise<void> {
  switch (ctl) {
    case '/_ctl/seed':
    case '/_ctl/seed_clean':
      await env.createUser('alice');
      await env.createBucket('alice', 'b1', 'us-east.4100.1');
      await env.putObject('alice', 'b1', 'o1', content('o1'));
      await env.putObject('alice', 'b1', 'dir/o 2', content('dir/o 2', 3));
      await env.putObject('alice', 'b1', 'plus+sign', content('plus+sign', 2));
      // run2's "clean" seed has no `bad` (the recording never touches it there).
      if (ctl === '/_ctl/seed') await env.putObject('alice', 'b1', 'bad', content('bad'));
      return;
    case '/_ctl/mutate':
      await env.createUser('bob');
      await env.createBucket('bob', 'b2', 'us-east.4101.1');
      await env.putObject('bob', 'b2', 'x', content('x'));
      await env.putObject('alice', 'b1', 'o3', content('o3'));
      await env.deleteObject('alice', 'b1', 'o1');
      return;
    case '/_ctl/touch_b1':
      // A new change in b1 (same bytes): new bilog and data-log entries.
      await env.putObject('alice', 'b1', 'o3', content('o3'));
      return;
    case '/_ctl/dump_dest_bounds':
      return; // the harness only read state
    default:
      assert.fail(`unknown harness control ${ctl}`);
  }
}

// ---------------------------------------------------------------- replay

interface Stats {
  total: number;
  replayed: number;
  skippedVersions: number;
  harness: number;
  exact: number;
  /** remote copy answered 304 where the recording's server said 200 (or the reverse) */
  copyEquivalent: string[];
  /** the recording's harness made this fail; the embedded zone has no such fault */
  injected: string[];
  lockAmbiguous: number;
  mismatches: string[];
  failures: string[];
  byStatus: Map<string, number>;
}

interface Bound { daemon: string; marker: string; names: string[] }
interface CopyBefore { dest: ObjState; bucket: string; key: string; index: string }
interface Lock { who: string; grantedAt: number }

class Replayer {
  readonly bounds = new Map<string, Bound>(); // us-west replica_log records
  readonly locks = new Map<string, Lock>(); // us-west shard locks
  readonly opOutcome = new Map<string, 'complete' | 'error'>(); // client|op|object -> what our copy did
  readonly stats: Stats = {
    total: 0, replayed: 0, skippedVersions: 0, harness: 0, exact: 0, copyEquivalent: [], injected: [],
    lockAmbiguous: 0, mismatches: [], failures: [], byStatus: new Map(),
  };

  constructor(readonly env: Env, readonly run: string) {}

  async replay(trace: Rec[]): Promise<Stats> {
    const s = this.stats;
    for (const [i, rec] of trace.entries()) {
      s.total++;
      const label = `${this.run} #${i} ${rec.zone} ${rec.method} ${rec.path}`;
      if (rec.path.startsWith('/_ctl')) {
        s.harness++;
        await harness(this.env, rec.path);
        continue;
      }
      assert.ok(rec.zone === 'us-east' || rec.zone === 'us-west', `${label}: unexpected zone`);
      if (rec.method === 'GET' && rec.path.startsWith('/?versions')) {
        s.skippedVersions++;
        continue;
      }
      s.replayed++;
      try {
        await this.one(rec, label);
      } catch (e) {
        s.failures.push(`${label}: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    return s;
  }

  private lockExpectation(rec: Rec, q: Map<string, string>): { expect: number; ambiguous: boolean } {
    const key = `${q.get('type')}|${q.get('id')}`;
    const who = `${q.get('zone-id')}|${q.get('locker-id')}`;
    const cur = this.locks.get(key);
    const nearExpiry = cur !== undefined && Date.now() - cur.grantedAt > LOCK_SECONDS_MARGIN_MS;
    if (q.has('lock')) return { expect: cur && cur.who !== who ? 423 : 200, ambiguous: cur !== undefined && cur.who !== who && nearExpiry };
    return { expect: cur && cur.who === who ? 200 : 404, ambiguous: cur !== undefined && cur.who === who && nearExpiry };
  }

  private async one(rec: Rec, label: string): Promise<void> {
    const { env } = this;
    const { path, query: q } = splitUrl(rec.path);
    const isLock = path === '/admin/log' && rec.method === 'POST' && (q.has('lock') || q.has('unlock'));
    const isRemoteCopy = rec.method === 'PUT' && q.has('rgwx-source-zone');
    const lockExp = isLock ? this.lockExpectation(rec, q) : undefined;
    const lockSent = Date.now();
    const copyBefore = isRemoteCopy ? await this.copySnapshot(rec, path) : undefined;

    const headers: Record<string, string> = {};
    for (const h of ['content-type', 'x-amz-copy-source']) {
      const v = recHeader(rec, h);
      if (v !== undefined) headers[h] = v;
    }
    const withBody = rec.method === 'PUT' || rec.method === 'POST';
    const seen = env.seen.get(rec.zone)!;
    const n = seen.length;
    const r = await call(env.url(rec.zone), rec.method, rec.path, env.sys, { sig: 'v2', headers, body: withBody ? rec.body : undefined });
    assert.equal(seen[n], rec.path, `${label}: the zone received a different request target`);

    const st = this.stats;
    st.byStatus.set(`${rec.status}->${r.status}`, (st.byStatus.get(`${rec.status}->${r.status}`) ?? 0) + 1);

    // ----- status against the recording
    if (lockExp) {
      // The recorded statuses follow exactly from lock/unlock order (checked here), so ours must too.
      assert.equal(lockExp.expect, rec.status, `${label}: lock model disagrees with the recording`);
      if (lockExp.ambiguous) {
        st.lockAmbiguous++;
        // Our own replay came close to the 10 s lease: the holder's lease may have run out.
        assert.ok([200, q.has('lock') ? 423 : 404].includes(r.status), `${label}: got ${r.status}`);
      } else if (r.status !== rec.status) {
        st.mismatches.push(`${label}: recorded ${rec.status}, got ${r.status} ${r.text.slice(0, 120)}`);
      }
      if (r.status === rec.status) st.exact++;
      if (r.status === 200 && q.has('lock')) this.locks.set(`${q.get('type')}|${q.get('id')}`, { who: `${q.get('zone-id')}|${q.get('locker-id')}`, grantedAt: lockSent });
      if (r.status === 200 && q.has('unlock')) this.locks.delete(`${q.get('type')}|${q.get('id')}`);
    } else if (r.status === rec.status) {
      st.exact++;
    } else if (isRemoteCopy && [200, 304].includes(rec.status) && [200, 304].includes(r.status)) {
      st.copyEquivalent.push(`${label}: recorded ${rec.status}, got ${r.status}`);
    } else if (isRemoteCopy && rec.status === 403 && recHeader(rec, 'x-amz-copy-source') === 'b1/bad' && [200, 304].includes(r.status)) {
      // The recording's harness refused to serve `bad` (sig_ok was true: the agent's request was fine).
      st.injected.push(`${label}: recorded ${rec.status} (injected by the harness), got ${r.status}`);
    } else {
      st.mismatches.push(`${label}: recorded ${rec.status}, got ${r.status} ${r.text.slice(0, 160)}`);
    }

    // ----- shape against PROTOCOL.md
    await this.checkShape(rec, path, q, r, label, copyBefore);
  }

  private async copySnapshot(rec: Rec, path: string): Promise<CopyBefore> {
    const slash = path.indexOf('/', 1);
    const bucket = path.slice(1, slash);
    const key = path.slice(slash + 1);
    return { dest: await this.env.getObj(rec.zone, bucket, key), bucket, key, index: await this.indexMarker(rec.zone, bucket) };
  }

  /** The destination bucket index's last log marker: a copy that changes nothing must not move it. */
  private async indexMarker(zone: string, bucket: string): Promise<string> {
    const inst = `${bucket}:${this.env.eastBucketIds.get(bucket)}`;
    const r = await call(this.env.url(zone), 'GET', `/admin/log?info&type=bucket-index&bucket-instance=${encodeURIComponent(inst)}`, this.env.sys);
    assert.equal(r.status, 200, `bucket-index info of ${inst} on ${zone}: ${r.text}`);
    return r.json<{ max_marker: string }>().max_marker;
  }

  private async checkShape(rec: Rec, path: string, q: Map<string, string>, r: Reply, label: string, copyBefore?: CopyBefore): Promise<void> {
    const { env } = this;
    const m = rec.method;
    if (path === '/admin/config') return checkRegionMap(env, parseJson(r, label), label);
    if (path === '/admin/log') {
      const type = q.get('type');
      if (m === 'POST' && (q.has('lock') || q.has('unlock'))) {
        if (r.status === 200) assert.equal(r.body.length, 0, `${label}: lock answers carry no body`);
        else assertAdminError(r, r.status, undefined, label);
        return;
      }
      assert.equal(m, 'GET', label);
      assert.equal(r.status, 200, label);
      const body = parseJson(r, label);
      if (type === 'bucket-index') {
        const inst = q.get('bucket-instance')!;
        if (q.has('info')) {
          const b = obj(body, label);
          str(b.max_marker, `${label}: max_marker`);
          const page = await call(env.url(rec.zone), 'GET', `/admin/log?type=bucket-index&bucket-instance=${encodeURIComponent(inst)}&marker=%20&max-entries=1000`, env.sys);
          const all = page.json<{ op_id: string }[]>();
          assert.equal(b.max_marker, all.at(-1)?.op_id ?? '', `${label}: max_marker is the last op id`);
          return;
        }
        return checkBilog(env, inst, q, body, label);
      }
      assert.ok(type === 'metadata' || type === 'data', `${label}: type`);
      if (!q.has('id')) {
        const b = obj(body, label);
        assert.equal(b.num_objects, type === 'metadata' ? env.t.realm.metadataLogShards : env.t.realm.dataLogShards, `${label}: num_objects`);
        return;
      }
      if (q.has('info')) {
        const b = obj(body, label);
        str(b.marker, `${label}: marker`);
        str(b.last_update, `${label}: last_update`);
        return;
      }
      return checkLogList(env, type, q, body, label);
    }
    if (path === '/admin/replica_log') return this.checkReplicaLog(rec, q, r, label);
    if (path === '/admin/metadata' || path.startsWith('/admin/metadata/')) return checkMetadata(env, rec, path, q, r, label);
    if (path === '/admin/opstate') return this.checkOpState(rec, q, r, label);
    assert.ok(!path.startsWith('/admin'), `${label}: unexpected admin path`);

    // ----- S3
    const slash = path.indexOf('/', 1);
    const bucket = slash < 0 ? path.slice(1) : path.slice(1, slash);
    const key = slash < 0 ? '' : path.slice(slash + 1);
    if (key === '') {
      assert.equal(r.status, 200, label);
      if (m === 'HEAD') return;
      assert.equal(m, 'GET', label);
      assert.equal(rec.zone, 'us-east', label);
      assert.match(r.text, new RegExp(`<Name>${bucket}</Name>`), label);
      const keys = [...r.text.matchAll(/<Key>([^<]*)<\/Key>/g)].map((x) => x[1]);
      assert.deepEqual(keys, [...env.eastObjects.get(bucket)!.keys()].sort(), `${label}: listed keys`);
      return;
    }
    if (m === 'DELETE') {
      assert.equal(r.status, 204, label);
      const after = await env.getObj(rec.zone, bucket, key);
      assert.equal(after.status, 404, `${label}: object still there after DELETE`);
      return;
    }
    assert.equal(m, 'PUT', label);
    assert.ok(copyBefore, label);
    return this.checkRemoteCopy(rec, q, r, label, copyBefore);
  }

  private async checkRemoteCopy(rec: Rec, q: Map<string, string>, r: Reply, label: string, before: CopyBefore): Promise<void> {
    const { env } = this;
    const srcZone = q.get('rgwx-source-zone')!;
    const cs = decodeURIComponent(recHeader(rec, 'x-amz-copy-source')!);
    const cut = cs.indexOf('/');
    const src = { bucket: cs.slice(0, cut), key: cs.slice(cut + 1) };
    const opKey = `${q.get('rgwx-client-id')}|${q.get('rgwx-op-id')}|${before.bucket}/${before.key}`;
    const srcNow = await env.getObj(srcZone, src.bucket, src.key);
    const destNow = await env.getObj(rec.zone, before.bucket, before.key);
    if (r.status === 200 || r.status === 304) {
      assert.equal(srcNow.status, 200, `${label}: copy succeeded but the source has no object`);
      assert.equal(destNow.status, 200, `${label}: no object on the destination after the copy`);
      assert.ok(destNow.body.equals(srcNow.body), `${label}: copied bytes differ from the source`);
      assert.equal(destNow.etag, srcNow.etag, `${label}: ETag differs from the source`);
      if (r.status === 200) assert.ok(r.text.includes(`&quot;${srcNow.etag}&quot;`) || r.text.includes(`"${srcNow.etag}"`), `${label}: CopyObjectResult without the ETag: ${r.text}`);
      if (r.status === 304) assert.equal(before.dest.status, 200, `${label}: 304 although the destination had no object`);
      if (before.dest.status === 200 && before.dest.etag === srcNow.etag) {
        // Already up to date: an identical copy must leave the object alone.
        assert.equal(destNow.mtime, before.dest.mtime, `${label}: an identical copy changed the object's mtime`);
        assert.ok(destNow.body.equals(before.dest.body), `${label}: an identical copy changed the bytes`);
        assert.equal(await this.indexMarker(rec.zone, before.bucket), before.index, `${label}: an identical copy wrote to the destination index`);
      }
      this.opOutcome.set(opKey, 'complete');
      return;
    }
    if (r.status === 404) {
      assert.equal(srcNow.status, 404, `${label}: 404 although the source has the object`);
      assert.equal(xmlCode(r), 'NoSuchKey', `${label}: ${r.text}`);
      this.opOutcome.set(opKey, 'error');
      return;
    }
    assert.fail(`${label}: remote copy answered ${r.status}: ${r.text.slice(0, 200)}`);
  }

  private checkOpState(rec: Rec, q: Map<string, string>, r: Reply, label: string): void {
    assert.equal(rec.zone, 'us-west', label);
    const k = `${q.get('client-id')}|${q.get('op-id')}|${q.get('object')}`;
    const outcome = this.opOutcome.get(k);
    assert.ok(outcome, `${label}: the replay made no copy with these ids`);
    if (rec.method === 'DELETE') {
      assert.equal(r.status, 200, label);
      this.opOutcome.delete(k);
      return;
    }
    assert.equal(r.status, 200, label);
    const rows = parseJson(r, label);
    assert.ok(Array.isArray(rows) && rows.length > 0, `${label}: expected a non-empty array`);
    for (const row of rows) {
      const o = obj(row, label);
      assert.equal(o.client_id, q.get('client-id'), `${label}: client_id`);
      assert.equal(o.op_id, q.get('op-id'), `${label}: op_id`);
      assert.equal(o.object, q.get('object'), `${label}: object`);
      str(o.timestamp, `${label}: timestamp`);
      assert.equal(o.state, outcome, `${label}: state`);
    }
  }

  private checkReplicaLog(rec: Rec, q: Map<string, string>, r: Reply, label: string): void {
    assert.equal(rec.zone, 'us-west', label);
    const type = q.get('type')!;
    const entity = type === 'bucket-index' ? q.get('bucket-instance')! : q.get('id')!;
    const key = `${type}|${entity}`;
    if (rec.method === 'POST') {
      assert.ok(q.has('work_bound'), label);
      assert.equal(r.status, 200, label);
      const items = JSON.parse(rec.body || '[]') as { name: string }[];
      this.bounds.set(key, { daemon: q.get('daemon_id')!, marker: q.get('marker')!, names: items.map((i) => i.name) });
      return;
    }
    assert.equal(rec.method, 'GET', label);
    assert.ok(q.has('bounds'), label);
    const want = this.bounds.get(key);
    if (!want) return assertAdminError(r, 404, undefined, `${label} (no bound written yet)`);
    assert.equal(r.status, 200, label);
    const b = obj(parseJson(r, label), label);
    assert.equal(b.marker, want.marker, `${label}: marker`);
    str(b.oldest_time, `${label}: oldest_time`);
    assert.ok(Array.isArray(b.markers) && b.markers.length === 1, `${label}: one entity per record`);
    const mk = obj(b.markers[0], label);
    assert.equal(mk.entity, want.daemon, `${label}: entity`);
    assert.equal(mk.position_marker, want.marker, `${label}: position_marker`);
    str(mk.position_time, `${label}: position_time`);
    assert.ok(Array.isArray(mk.items_in_progress), `${label}: items_in_progress`);
    const names = (mk.items_in_progress as unknown[]).map((it) => {
      const o = obj(it, `${label}: item`);
      str(o.timestamp, `${label}: item timestamp`);
      return str(o.name, `${label}: item name`);
    });
    assert.deepEqual(names, want.names, `${label}: retry items retained`);
  }
}

// ---------------------------------------------------------------- shape checks

function checkRegionMap(env: Env, body: unknown, label: string): void {
  const b = obj(body, label);
  assert.ok(Array.isArray(b.regions) && b.regions.length === 1, `${label}: regions`);
  const reg = obj(b.regions[0], label);
  assert.equal(reg.key, env.t.realm.zonegroup, `${label}: region key`);
  const v = obj(reg.val, label);
  assert.equal(v.name, env.t.realm.zonegroup);
  assert.equal(v.is_master, 'true', `${label}: is_master must be the string "true"`);
  assert.equal(v.master_zone, env.t.realm.masterZone);
  assert.ok(Array.isArray(v.zones), `${label}: zones`);
  const zones = (v.zones as unknown[]).map((z) => obj(z, label));
  assert.deepEqual(zones.map((z) => z.name).sort(), env.t.realm.zones.map((z) => z.name).sort(), `${label}: zone names`);
  for (const z of zones) {
    const rz = env.t.realm.zones.find((x) => x.name === z.name)!;
    assert.deepEqual(z.endpoints, [rz.endpoint], `${label}: endpoints of ${rz.name}`);
    assert.deepEqual(z.endpoints, [env.url(rz.name)], `${label}: endpoint of ${rz.name} is where it listens`);
    assert.ok(z.log_meta === 'true' || z.log_meta === 'false', `${label}: log_meta must be a string boolean`);
    assert.ok(z.log_data === 'true' || z.log_data === 'false', `${label}: log_data must be a string boolean`);
    if (z.name === env.t.realm.masterZone) assert.ok(z.log_meta === 'true' && z.log_data === 'true', `${label}: the source must log`);
  }
  assert.equal(b.master_region, env.t.realm.zonegroup);
}

const MD_SECTIONS = new Set(['user', 'bucket', 'bucket.instance']);

function checkLogList(env: Env, type: 'metadata' | 'data', q: Map<string, string>, body: unknown, label: string): void {
  const b = obj(body, label);
  assert.deepEqual(Object.keys(b).sort(), ['entries', 'marker', 'truncated'], `${label}: keys`);
  const marker = str(b.marker, `${label}: marker`);
  assert.equal(typeof b.truncated, 'boolean', `${label}: truncated must be a JSON boolean`);
  assert.ok(Array.isArray(b.entries), `${label}: entries`);
  const entries = b.entries as unknown[];
  const max = Number(q.get('max-entries') ?? 1000);
  const reqMarker = q.get('marker');
  assert.ok(entries.length <= max, `${label}: ${entries.length} entries > max-entries ${max}`);
  if (b.truncated) assert.equal(entries.length, max, `${label}: truncated with a short page`);
  if (entries.length === 0) assert.equal(marker, '', `${label}: an empty page answers marker ""`);
  else assert.ok(isStart(reqMarker) || marker > reqMarker!, `${label}: marker ${marker} not after ${reqMarker}`);
  const instances = new Set([...env.eastBucketIds].map(([bk, id]) => `${bk}:${id}`));
  let prev = isStart(reqMarker) ? '' : reqMarker!;
  for (const e of entries) {
    const o = obj(e, label);
    str(o.timestamp, `${label}: timestamp`);
    if (type === 'metadata') {
      const id = str(o.id, `${label}: id`);
      assert.ok(id > prev, `${label}: entry ${id} not strictly after ${prev}`);
      prev = id;
      assert.ok(MD_SECTIONS.has(str(o.section, `${label}: section`)), `${label}: section ${String(o.section)}`);
      assert.ok(str(o.name, `${label}: name`).length > 0, `${label}: name`);
      const status = obj(obj(o.data, `${label}: data`).status, `${label}: data.status`).status;
      assert.ok(status === 'write' || status === 'remove', `${label}: data.status.status ${String(status)}`);
    } else {
      assert.equal(o.entity_type, 'bucket', `${label}: entity_type`);
      const key = str(o.key, `${label}: key`);
      assert.match(key, /^[^:]+:[^:]+(:\d+)?$/, `${label}: key`);
      assert.ok(instances.has(key.split(':').slice(0, 2).join(':')), `${label}: key ${key} is no bucket instance of us-east`);
    }
  }
  if (type === 'metadata' && entries.length > 0) assert.equal(marker, prev, `${label}: marker is the last id returned`);
}

const BILOG_OPS = new Set(['write', 'del', 'cancel', 'unknown', 'link_olh', 'link_olh_del', 'unlink_instance', 'syncstop', 'resync']);

function checkBilog(env: Env, inst: string, q: Map<string, string>, body: unknown, label: string): void {
  assert.ok(Array.isArray(body), `${label}: the bucket-index log is a bare array`);
  const max = Number(q.get('max-entries') ?? 1000);
  assert.ok(body.length <= max, `${label}: ${body.length} > max-entries ${max}`);
  const reqMarker = q.get('marker');
  let prev = isStart(reqMarker) ? '' : reqMarker!;
  const written = env.everWritten.get(inst.split(':')[0]!)!;
  for (const e of body) {
    const o = obj(e, label);
    const opId = str(o.op_id, `${label}: op_id`);
    assert.ok(opId > prev, `${label}: op_id ${opId} not strictly after ${prev}`);
    prev = opId;
    assert.ok(BILOG_OPS.has(str(o.op, `${label}: op`)), `${label}: op ${String(o.op)}`);
    assert.ok(written.has(str(o.object, `${label}: object`)), `${label}: object ${String(o.object)} was never written`);
    str(o.instance, `${label}: instance`);
    assert.ok(o.state === 'pending' || o.state === 'complete', `${label}: state`);
    str(o.timestamp, `${label}: timestamp`);
    const ver = obj(o.ver, `${label}: ver`);
    assert.equal(typeof ver.pool, 'number', `${label}: ver.pool`);
    assert.equal(typeof ver.epoch, 'number', `${label}: ver.epoch`);
    assert.equal(typeof o.versioned, 'boolean', `${label}: versioned must be a JSON boolean`);
  }
}

async function checkMetadata(env: Env, rec: Rec, path: string, q: Map<string, string>, r: Reply, label: string): Promise<void> {
  assert.equal(r.status, 200, label);
  const section = path === '/admin/metadata' ? '' : path.slice('/admin/metadata/'.length);
  if (rec.method === 'PUT') {
    assert.equal(rec.zone, 'us-west', label);
    const sent = JSON.parse(rec.body) as { data: Json; ver: unknown };
    const back = await call(env.url(rec.zone), 'GET', rec.path, env.sys);
    assert.equal(back.status, 200, `${label}: read back`);
    const doc = obj(parseJson(back, label), label);
    const data = obj(doc.data, label);
    for (const [k, v] of Object.entries(sent.data)) assert.deepEqual(data[k], v, `${label}: data.${k} not stored as sent`);
    assert.deepEqual(doc.ver, sent.ver, `${label}: ver not kept`);
    return;
  }
  assert.equal(rec.method, 'GET', label);
  assert.equal(rec.zone, 'us-east', label);
  const body = parseJson(r, label);
  if (section === '') {
    assert.ok(Array.isArray(body), label);
    for (const s of MD_SECTIONS) assert.ok((body as unknown[]).includes(s), `${label}: section ${s}`);
    return;
  }
  const key = q.get('key');
  if (key === undefined) {
    assert.ok(Array.isArray(body) && body.every((k) => typeof k === 'string'), `${label}: a bare array of keys`);
    const want = section === 'user' ? [...env.eastUsers]
      : section === 'bucket' ? [...env.eastBucketIds.keys()]
        : [...env.eastBucketIds].map(([bk, id]) => `${bk}:${id}`);
    assert.deepEqual([...(body as string[])].sort(), want.sort(), `${label}: keys`);
    return;
  }
  const doc = obj(body, label);
  assert.equal(doc.key, `${section}:${key}`, `${label}: key`);
  const ver = obj(doc.ver, `${label}: ver`);
  str(ver.tag, `${label}: ver.tag`);
  assert.equal(typeof ver.ver, 'number', `${label}: ver.ver`);
  assert.ok(doc.mtime !== undefined, `${label}: mtime`);
  const data = obj(doc.data, `${label}: data`);
  if (section === 'bucket') {
    assert.equal(obj(data.bucket, label).bucket_id, env.eastBucketIds.get(key), `${label}: data.bucket.bucket_id`);
    str(data.owner, `${label}: owner`);
  } else if (section === 'bucket.instance') {
    const info = obj(data.bucket_info, label);
    assert.equal(`${obj(info.bucket, label).name as string}:${obj(info.bucket, label).bucket_id as string}`, key, `${label}: instance`);
  } else {
    assert.equal(data.user_id, key, `${label}: user_id`);
  }
}

// ---------------------------------------------------------------- summary

function summarize(name: string, s: Stats): string[] {
  const agree = s.exact;
  const lines = [
    `${name}: ${s.total} recorded lines, ${s.harness} harness controls, ${s.skippedVersions} GET /?versions skipped, ${s.replayed} replayed`,
    `  status equal to the recording: ${agree}/${s.replayed}; remote copy 200<->304: ${s.copyEquivalent.length}; harness-injected failures: ${s.injected.length}; mismatches: ${s.mismatches.length}; lock answers near expiry: ${s.lockAmbiguous}`,
    `  recorded->ours: ${[...s.byStatus].sort().map(([k, v]) => `${k} x${v}`).join(', ')}`,
    ...s.copyEquivalent.map((x) => `  ~ ${x}`),
    ...s.injected.map((x) => `  ! ${x}`),
  ];
  return lines;
}

// ---------------------------------------------------------------- tests

describe('wire replay of the original radosgw-agent, run1 (full sync, then incremental)', () => {
  let env: Env;
  let stats: Stats;

  before(async () => {
    env = await Env.start();
  });
  after(async () => {
    await env?.close();
  });

  it('replays every recorded request with the recorded status and PROTOCOL.md shapes', async (t) => {
    const trace = loadTrace('run1-full-then-incremental.jsonl');
    assert.equal(trace.length, 386);
    const rp = new Replayer(env, 'run1');
    stats = await rp.replay(trace);
    for (const line of summarize('run1', stats)) t.diagnostic(line);
    assert.deepEqual(stats.failures, [], 'shape/state failures');
    assert.deepEqual(stats.mismatches, [], 'status mismatches');
    assert.equal(stats.harness, 2);
    assert.equal(stats.replayed, 382);
    assert.equal(stats.skippedVersions, 2);
    // Only the two copies of `bad` may differ: the recording's harness made them fail.
    assert.equal(stats.injected.length, 2, stats.injected.join('\n'));
    assert.equal(stats.exact + stats.copyEquivalent.length + stats.injected.length, stats.replayed);
    // After the replay us-west holds what the agent synced: b1 without o1, with o3; b2/x.
    for (const [bucket, key] of [['b1', 'o3'], ['b1', 'dir/o 2'], ['b1', 'plus+sign'], ['b2', 'x']] as const) {
      const w = await env.getObj('us-west', bucket, key);
      const e = await env.getObj('us-east', bucket, key);
      assert.equal(w.status, 200, `${bucket}/${key} on us-west`);
      assert.ok(w.body.equals(e.body) && w.etag === e.etag, `${bucket}/${key} differs between zones`);
    }
    assert.equal((await env.getObj('us-west', 'b1', 'o1')).status, 404, 'o1 was deleted on us-west');
  });

  it("answers the original agent's broken versioning probe with 403 SignatureDoesNotMatch", async () => {
    const trace = loadTrace('run1-full-then-incremental.jsonl');
    const probe = trace.find((r) => r.path === '/?versions')!;
    // What the recording shows the agent signs: just the resource, with an asctime Date.
    assert.match(probe.headers.Date!, /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
    assert.equal(probe.status, 403);
    const date = asctime(new Date());
    const sys = env.sys;
    const bad = createHmac('sha1', sys.secretKey).update('/?versions').digest('base64');
    const send = async (sig: string) => {
      const r = await request(`${env.url('us-east')}/?versions`, { method: 'GET', headers: { Date: date, Authorization: `AWS ${sys.accessKey}:${sig}`, 'User-Agent': 'Python-urllib/2.7', Connection: 'close' } });
      return { status: r.statusCode, text: await r.body.text() };
    };
    const r = await send(bad);
    assert.equal(r.status, 403, r.text);
    assert.match(r.text, /<Code>SignatureDoesNotMatch<\/Code>/);
    // Control: the same request with a real SigV2 signature is authenticated (so the asctime Date is
    // accepted and the 403 above is the signature's fault).
    const good = v2Signature(`GET\n\n\n${date}\n/?versions`, sys.secretKey);
    const ok = await send(good);
    assert.ok(ok.status !== 403 && ok.status !== 400, `a correctly signed probe got ${ok.status}: ${ok.text}`);
  });

  it('pages metadata, data and bucket-index logs: entries strictly after the marker, markers sort as strings', async () => {
    const east = env.url('us-east');
    for (const type of ['metadata', 'data'] as const) {
      for (let id = 0; id < 4; id++) {
        const full = await call(east, 'GET', `/admin/log?type=${type}&id=${id}&marker=%20&max-entries=1000`, env.sys, { sig: 'v2' });
        assert.equal(full.status, 200);
        const all = full.json<{ marker: string; truncated: boolean; entries: Json[] }>();
        assert.equal(all.truncated, false);
        const paged: Json[] = [];
        let marker = ' ';
        let prevMarker = '';
        for (let guard = 0; guard < 100; guard++) {
          const r = await call(east, 'GET', `/admin/log?type=${type}&id=${id}&marker=${encodeURIComponent(marker).replace(/%2F/g, '/')}&max-entries=1`, env.sys, { sig: 'v2' });
          assert.equal(r.status, 200, r.text);
          const p = r.json<{ marker: string; truncated: boolean; entries: Json[] }>();
          checkLogList(env, type, parseQuery(`marker=${encodeURIComponent(marker)}&max-entries=1`), p, `${type} shard ${id} page`);
          if (p.entries.length === 0) break;
          assert.ok(p.marker > prevMarker, `${type} shard ${id}: page marker ${p.marker} does not sort after ${prevMarker}`);
          prevMarker = p.marker;
          paged.push(...p.entries);
          marker = p.marker;
        }
        assert.deepEqual(paged, all.entries, `${type} shard ${id}: paging by marker loses or repeats entries`);
        if (all.entries.length > 0) {
          assert.equal(all.marker, prevMarker, `${type} shard ${id}: full listing marker`);
          const tail = await call(east, 'GET', `/admin/log?type=${type}&id=${id}&marker=${encodeURIComponent(all.marker)}&max-entries=1000`, env.sys, { sig: 'v2' });
          assert.deepEqual(tail.json(), { marker: '', truncated: false, entries: [] }, `${type} shard ${id}: nothing after the last marker`);
        }
      }
    }
    // Both buckets changed in this run, so data shard 3 (where b1 and b2 hash) is not empty.
    const d3 = await call(east, 'GET', '/admin/log?type=data&id=3&marker=%20&max-entries=1000', env.sys, { sig: 'v2' });
    assert.deepEqual([...new Set(d3.json<{ entries: { key: string }[] }>().entries.map((e) => e.key))].sort(), ['b1:us-east.4100.1', 'b2:us-east.4101.1']);

    const inst = 'b1%3Aus-east.4100.1';
    const full = (await call(east, 'GET', `/admin/log?type=bucket-index&bucket-instance=${inst}&marker=%20&max-entries=1000`, env.sys, { sig: 'v2' })).json<{ op_id: string; object: string; op: string }[]>();
    // seed: 4 writes; mutate: o3 write, o1 delete
    assert.deepEqual(full.map((e) => `${e.op} ${e.object}`), ['write o1', 'write dir/o 2', 'write plus+sign', 'write bad', 'write o3', 'del o1']);
    const paged: string[] = [];
    let marker = ' ';
    for (;;) {
      const r = await call(east, 'GET', `/admin/log?type=bucket-index&bucket-instance=${inst}&marker=${encodeURIComponent(marker)}&max-entries=2`, env.sys, { sig: 'v2' });
      const page = r.json<{ op_id: string }[]>();
      checkBilog(env, 'b1:us-east.4100.1', parseQuery(`marker=${encodeURIComponent(marker)}&max-entries=2`), page, 'bilog page');
      paged.push(...page.map((e) => e.op_id));
      if (page.length < 2) break;
      marker = page.at(-1)!.op_id;
    }
    assert.deepEqual(paged, full.map((e) => e.op_id));
    const info = (await call(east, 'GET', `/admin/log?info&type=bucket-index&bucket-instance=${inst}`, env.sys, { sig: 'v2' })).json<{ max_marker: string }>();
    assert.equal(info.max_marker, full.at(-1)!.op_id);
  });

  it('replica_log: 404 before the first write, items retained, another daemon_id gets 409', async () => {
    const west = env.url('us-west');
    // md shard 3 got no bound in run1 (the recording answered 404 there every time).
    const q = 'type=metadata&id=3';
    assertAdminError(await call(west, 'GET', `/admin/replica_log?bounds&${q}`, env.sys, { sig: 'v2' }), 404, undefined, 'bounds before a write');
    const items = [{ name: 'user/alice', time: '1970-01-01 00:00:00' }, { name: 'bucket/b1', timestamp: '2026-01-01 00:00:00.000000Z' }];
    const json = { 'content-type': 'application/json; charset=UTF-8' };
    const post = await call(west, 'POST', `/admin/replica_log?work_bound&${q}&marker=1_0000000001.000001_1.1&time=1970-01-01%2000%3A00%3A00&daemon_id=radosgw-agent&sync-type=incremental`, env.sys, { sig: 'v2', body: JSON.stringify(items), headers: json });
    assert.equal(post.status, 200, post.text);
    const read = async () => {
      const r = await call(west, 'GET', `/admin/replica_log?bounds&${q}`, env.sys, { sig: 'v2' });
      assert.equal(r.status, 200, r.text);
      return r.json<{ marker: string; markers: { entity: string; position_marker: string; items_in_progress: { name: string; timestamp: string }[] }[] }>();
    };
    let b = await read();
    assert.equal(b.marker, '1_0000000001.000001_1.1');
    assert.equal(b.markers.length, 1);
    assert.equal(b.markers[0]!.entity, 'radosgw-agent');
    assert.deepEqual(b.markers[0]!.items_in_progress.map((i) => i.name), ['user/alice', 'bucket/b1']);
    const other = await call(west, 'POST', `/admin/replica_log?work_bound&${q}&marker=1_0000000002.000002_2.1&time=1970-01-01%2000%3A00%3A00&daemon_id=someone-else`, env.sys, { sig: 'v2', body: '[]', headers: json });
    assertAdminError(other, 409, undefined, 'work_bound by another daemon');
    b = await read();
    assert.equal(b.marker, '1_0000000001.000001_1.1', 'a refused POST must not change the bound');
    assert.equal(b.markers[0]!.items_in_progress.length, 2);
    const noMarker = await call(west, 'POST', `/admin/replica_log?work_bound&${q}&time=1970-01-01%2000%3A00%3A00&daemon_id=radosgw-agent`, env.sys, { sig: 'v2', body: '[]', headers: json });
    assertAdminError(noMarker, 400, undefined, 'work_bound without marker');
    // replace: same daemon, new marker, no items
    const again = await call(west, 'POST', `/admin/replica_log?work_bound&${q}&marker=1_0000000003.000003_3.1&time=1970-01-01%2000%3A00%3A00&daemon_id=radosgw-agent`, env.sys, { sig: 'v2', body: '[]', headers: json });
    assert.equal(again.status, 200, again.text);
    b = await read();
    assert.equal(b.marker, '1_0000000003.000003_3.1');
    assert.deepEqual(b.markers[0]!.items_in_progress, []);
    const del = await call(west, 'DELETE', `/admin/replica_log?work_bound&${q}&daemon_id=radosgw-agent`, env.sys, { sig: 'v2' });
    assert.equal(del.status, 200, del.text);
    assertAdminError(await call(west, 'GET', `/admin/replica_log?bounds&${q}`, env.sys, { sig: 'v2' }), 404, undefined, 'bounds after delete');
  });

  it('metadata: a GET body from us-east PUT verbatim to us-west makes a usable bucket there', async () => {
    const east = env.url('us-east');
    const west = env.url('us-west');
    await env.createUser('carol');
    const mk = await call(east, 'PUT', '/carol-c3', env.users.get('carol')!);
    assert.equal(mk.status, 200, mk.text);
    const bucketDoc = await call(east, 'GET', '/admin/metadata/bucket?key=carol-c3', env.sys, { sig: 'v2' });
    assert.equal(bucketDoc.status, 200);
    const id = bucketDoc.json<{ data: { bucket: { bucket_id: string } } }>().data.bucket.bucket_id;
    assert.match(id, /^us-east\.\d+\.1$/);
    const json = { 'content-type': 'application/json; charset=UTF-8' };
    for (const [section, key] of [['user', 'carol'], ['bucket.instance', `carol-c3:${id}`], ['bucket', 'carol-c3']] as const) {
      const path = `/admin/metadata/${section}?key=${encodeURIComponent(key)}`;
      const got = await call(east, 'GET', path, env.sys, { sig: 'v2' });
      assert.equal(got.status, 200, got.text);
      const put = await call(west, 'PUT', path, env.sys, { sig: 'v2', body: got.body, headers: json });
      assert.ok(put.status === 200 || put.status === 204, `PUT ${section} ${key}: ${put.status} ${put.text}`);
      const back = await call(west, 'GET', path, env.sys, { sig: 'v2' });
      const a = got.json<{ key: string; ver: unknown; data: unknown }>();
      const w = back.json<{ key: string; ver: unknown; data: unknown }>();
      assert.equal(w.key, a.key);
      assert.deepEqual(w.ver, a.ver, `${section}: version kept`);
      assert.deepEqual(w.data, a.data, `${section}: data kept`);
    }
    const head = await call(west, 'HEAD', '/carol-c3/', env.sys, { sig: 'v2' });
    assert.equal(head.status, 200);
    // carol's keys came along: she can use the bucket on us-west.
    const put = await call(west, 'PUT', '/carol-c3/hello', env.users.get('carol')!, { body: 'hi' });
    assert.equal(put.status, 200, put.text);
    const keys = await call(west, 'GET', '/admin/metadata/bucket', env.sys, { sig: 'v2' });
    assert.deepEqual(keys.json<string[]>().sort(), ['b1', 'b2', 'carol-c3']);
  });

  it('remote copy: copies bytes and ETag, records op state, an identical copy changes nothing, a missing source is 404', async () => {
    const west = env.url('us-west');
    const key = 'e/copy me+ü';
    await env.putObject('alice', 'b1', key, content(key, 7));
    const enc = s3Encode(key, true); // like the agent's quote(): '/' kept, everything else escaped
    const copy = (op: string, k = enc) =>
      call(west, 'PUT', `/b1/${k}?rgwx-source-zone=us-east&rgwx-client-id=radosgw-agent&rgwx-op-id=${op}&rgwx-copy-if-newer=true`, env.sys,
        { sig: 'v2', body: '', headers: { 'content-type': 'application/json; charset=UTF-8', 'x-amz-copy-source': `b1/${k}` } });
    assert.equal((await env.getObj('us-west', 'b1', key)).status, 404);
    const r1 = await copy('host%3A1%3A1');
    assert.equal(r1.status, 200, r1.text);
    const src = await env.getObj('us-east', 'b1', key);
    const dst = await env.getObj('us-west', 'b1', key);
    assert.equal(dst.status, 200);
    assert.ok(dst.body.equals(src.body), 'bytes');
    assert.equal(dst.etag, src.etag, 'ETag');
    assert.equal(dst.mtime, src.mtime, 'the copy keeps the source mtime');

    const opq = `/admin/opstate?client-id=radosgw-agent&op-id=host%3A1%3A1&object=b1/${enc}`;
    const os = await call(west, 'GET', opq, env.sys, { sig: 'v2' });
    assert.equal(os.status, 200, os.text);
    const rows = os.json<Json[]>();
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.client_id, 'radosgw-agent');
    assert.equal(rows[0]!.op_id, 'host:1:1');
    assert.equal(rows[0]!.object, `b1/${key}`);
    assert.equal(rows[0]!.state, 'complete');
    const del = await call(west, 'DELETE', opq, env.sys, { sig: 'v2' });
    assert.equal(del.status, 200, del.text);
    const gone = await call(west, 'GET', opq, env.sys, { sig: 'v2' });
    assert.ok(gone.status === 404 || (gone.status === 200 && gone.json<unknown[]>().length === 0), `op state still there: ${gone.status} ${gone.text}`);

    const westIndex = async () => {
      const r = await call(west, 'GET', '/admin/log?info&type=bucket-index&bucket-instance=b1%3Aus-east.4100.1', env.sys, { sig: 'v2' });
      assert.equal(r.status, 200, r.text);
      return r.json<{ max_marker: string }>().max_marker;
    };
    const indexBefore = await westIndex();
    const r2 = await copy('host%3A1%3A2');
    assert.ok(r2.status === 304 || r2.status === 200, `identical copy: ${r2.status} ${r2.text}`);
    const dst2 = await env.getObj('us-west', 'b1', key);
    assert.deepEqual([dst2.etag, dst2.mtime], [dst.etag, dst.mtime], 'an identical copy changed the object');
    assert.ok(dst2.body.equals(dst.body));
    // ... and wrote nothing: no new bucket-index log entry on the destination.
    assert.equal(await westIndex(), indexBefore, 'an identical copy wrote to the destination index');

    const r3 = await copy('host%3A1%3A3', 'never%20existed');
    assert.equal(r3.status, 404, r3.text);
    assert.equal((await env.getObj('us-west', 'b1', 'never existed')).status, 404);

    // The brief's example, sent once more: `dir/o 2` is already on us-west and unchanged on us-east.
    const before2 = await env.getObj('us-west', 'b1', 'dir/o 2');
    const r4 = await call(west, 'PUT', '/b1/dir/o%202?rgwx-op-id=vm%3A1%3A9&rgwx-source-zone=us-east&rgwx-client-id=radosgw-agent&rgwx-copy-if-newer=true', env.sys,
      { sig: 'v2', body: '', headers: { 'content-type': 'application/json; charset=UTF-8', 'x-amz-copy-source': 'b1/dir/o%202' } });
    assert.ok(r4.status === 304 || r4.status === 200, `${r4.status} ${r4.text}`);
    const after2 = await env.getObj('us-west', 'b1', 'dir/o 2');
    assert.deepEqual([after2.etag, after2.mtime], [before2.etag, before2.mtime]);

    // A plain DELETE of a replicated object answers 204.
    const d = await call(west, 'DELETE', `/b1/${enc}`, env.sys, { sig: 'v2' });
    assert.equal(d.status, 204);
  });

  it('lock with a missing parameter is a 400 JSON error; an unknown admin resource is 405 MethodNotAllowed', async () => {
    const west = env.url('us-west');
    const full = { type: 'metadata', id: '1', length: '10', 'zone-id': 'us-west', 'locker-id': 'test%3A1' };
    for (const missing of Object.keys(full)) {
      const qs = Object.entries(full).filter(([k]) => k !== missing).map(([k, v]) => `${k}=${v}`).join('&');
      const r = await call(west, 'POST', `/admin/log?lock&${qs}`, env.sys, { sig: 'v2', body: '', headers: { 'content-type': 'application/json; charset=UTF-8' } });
      assertAdminError(r, 400, undefined, `lock without ${missing}`);
    }
    // unlock without locker-id, too
    assertAdminError(await call(west, 'POST', '/admin/log?unlock&type=metadata&id=1&zone-id=us-west', env.sys, { sig: 'v2', body: '' }), 400, undefined, 'unlock without locker-id');
    // the shard is still free: a complete lock works and the same locker renews; another gets 423
    const lock = (who: string) => call(west, 'POST', `/admin/log?lock&type=metadata&id=1&length=10&zone-id=us-west&locker-id=${who}`, env.sys, { sig: 'v2', body: '' });
    assert.equal((await lock('test%3A1')).status, 200);
    assert.equal((await lock('test%3A1')).status, 200);
    assertAdminError(await lock('test%3A2'), 423, undefined, 'lock held by another');
    assertAdminError(await call(west, 'POST', '/admin/log?unlock&type=metadata&id=1&zone-id=us-west&locker-id=test%3A2', env.sys, { sig: 'v2', body: '' }), 404, undefined, 'unlock by non-holder');
    assert.equal((await call(west, 'POST', '/admin/log?unlock&type=metadata&id=1&zone-id=us-west&locker-id=test%3A1', env.sys, { sig: 'v2', body: '' })).status, 200);

    for (const m of ['GET', 'POST', 'PUT', 'DELETE']) {
      const r = await call(west, m, '/admin/no-such-thing?x=1', env.sys, { sig: 'v2', body: m === 'GET' || m === 'DELETE' ? undefined : '' });
      assertAdminError(r, 405, 'MethodNotAllowed', `${m} unknown admin resource`);
    }
  });
});

describe('wire replay of the original radosgw-agent, run2 (paging with max-entries=2, two agents)', () => {
  let env: Env;

  before(async () => {
    env = await Env.start();
  });
  after(async () => {
    await env?.close();
  });

  it('replays every recorded request; locks conflict (423) exactly where they did for the two agents', async (t) => {
    const trace = loadTrace('run2-paging-and-two-agents.jsonl');
    assert.equal(trace.length, 900);
    const rp = new Replayer(env, 'run2');
    const stats = await rp.replay(trace);
    for (const line of summarize('run2', stats)) t.diagnostic(line);
    assert.deepEqual(stats.failures, [], 'shape/state failures');
    assert.deepEqual(stats.mismatches, [], 'status mismatches');
    assert.equal(stats.harness, 5);
    assert.equal(stats.replayed, 891);
    assert.equal(stats.skippedVersions, 4);
    assert.equal(stats.injected.length, 0);
    assert.equal(stats.exact + stats.copyEquivalent.length, stats.replayed);
    assert.equal(stats.byStatus.get('423->423'), 15, 'the 15 recorded lock conflicts');
  });
});
