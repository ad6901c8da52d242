/**
 * `npm run chaos`: the promise that nothing is lost, under a mix of faults. Two embedded zones and
 * the agent daemon as real processes; every sync path goes through a fault proxy (agent → source,
 * agent → destination, destination → source for remote copies) that injects errors, resets,
 * stalls, truncated bodies and late answers at CHAOS_RATE; a writer keeps changing the source
 * (puts, overwrites, deletes, buckets and users created and removed, awkward keys; versioned
 * buckets with delete markers, removed specific versions, versioning suspended and resumed) and
 * records what it did; crash events hit at random moments (kill -9 of the agent or of the destination zone,
 * SIGTERM and SIGHUP of the agent). Then the faults stop, `status` must say caught up, and the
 * zones are compared twice: `verify`, and an independent listing + GET of every object on both
 * sides (and of every bucket's version list). Prints one JSON document (progress on stderr); exit 0 only with zero differences.
 *
 *   CHAOS_MINUTES (default 2), CHAOS_RATE (0.05), CHAOS_SEED (random; printed), CHAOS_COPY_MODE
 *   (remote | stream; default: remote when the seed is even), CHAOS_STATE_STORE (replica-log | file,
 *   the file on the destination's fillable disk; default: by the seed's second bit), CHAOS_CRASH_EVERY_S (20), CHAOS_CRASH_KINDS
 *   (a comma-separated subset of the crash kinds; default all that this machine allows)
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../src/net.js';
import { call, type Reply } from '../test/helpers/http.js';
import { cleanupAll, registerTempDir, removeTempDir, startCli, type Proc } from './procs.js';
import { FAULT_KINDS, seededRandom, startFaultProxy, type FaultKind, type FaultProxy } from './faultproxy.js';

type Creds = { accessKey: string; secretKey: string };

const MINUTES = Number(process.env.CHAOS_MINUTES ?? 2);
const RATE = Number(process.env.CHAOS_RATE ?? 0.05);
const SEED = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
const COPY_MODE = process.env.CHAOS_COPY_MODE ?? (SEED % 2 === 0 ? 'remote' : 'stream');
const CRASH_EVERY_S = Number(process.env.CHAOS_CRASH_EVERY_S ?? 20);
/** Where the agent keeps its bounds: the destination's replica log, or a file on the destination's (fillable) disk. */
const STATE_STORE = process.env.CHAOS_STATE_STORE ?? (Math.floor(SEED / 2) % 2 === 1 ? 'file' : 'replica-log');
const CONVERGE_DEADLINE_MS = Number(process.env.CHAOS_CONVERGE_DEADLINE_MS ?? 10 * 60_000);
const OBJECT_TIMEOUT_S = 5;
const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
/** The destination's disk: a tmpfs this small fills at once when the ballast is written. */
const DEST_DISK_BYTES = 1024 * 1024 * 1024;
const STATE_BUCKET = 'rgw-agent-state';
const AWKWARD = ['plain', 'dir/sub/with space', 'plus+sign', 'tilde~', 'percent%20', 'ünïcødé/文件', 'a//double', ' lead', 'trail ', 'q?uestion', 'hash#', 'amp&er', '..x', '(paren)', 'semi;colon', 'eq=ual'];

const t0 = Date.now();
const progress = (msg: string) => process.stderr.write(`[chaos ${((Date.now() - t0) / 1000).toFixed(0)}s] ${msg}\n`);
const rnd = seededRandom(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
const enc = (key: string) => key.split('/').map((s) => encodeURIComponent(s)).join('/');
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

interface World {
  dir: string;
  realmFile: string;
  sys: Creds;
  inner: Record<'east' | 'west', number>;
  proxies: Record<'east' | 'west', FaultProxy>;
  zones: Partial<Record<'east' | 'west', Proc>>;
  agent?: Proc;
  agentCfg: string;
  secrets: string[];
  leaks: string[];
  /** Where the destination zone keeps its data: a tmpfs of its own when one could be mounted. */
  westData: string;
  westDisk?: string;
  /** The agent's clock offset in seconds for its current run (0: the real clock). */
  skewS: number;
  /** The last warn/error lines of each process's log (debug lines would push them out of its tail). */
  problems: Record<string, string[]>;
}

/** Scans every log line for a secret or a signature; keeps the first few leaks found. */
function scanner(w: World, who: string) {
  return (line: string) => {
    const hit = w.secrets.find((s) => line.includes(s)) ?? (/(?:X-Amz-)?Signature=[0-9a-fA-F]{16,}/.exec(line)?.[0]) ?? (/Signature=[A-Za-z0-9+/]{20,}={0,2}/.exec(line)?.[0]);
    if (hit && w.leaks.length < 10) w.leaks.push(`${who}: ${line.slice(0, 300).split(hit).join('<SECRET>')}`);
    else if (/\b(WARN|ERROR)\b/i.test(line)) {
      const kept = (w.problems[who] ??= []);
      kept.push(line.slice(0, 600));
      if (kept.length > 20) kept.shift();
    }
  };
}

async function startZoneProc(w: World, zone: 'east' | 'west'): Promise<void> {
  const p = startCli(`zone ${zone}`, ['zone', 'serve', '--realm', w.realmFile, '--zone', zone, '--data-dir', zone === 'west' ? w.westData : join(w.dir, zone), '--listen', `127.0.0.1:${w.inner[zone]}`, '--log-format', 'text', '--log-level', 'debug'], scanner(w, `zone ${zone}`));
  w.zones[zone] = p;
  await p.waitForLine(/listening on/, 30_000);
}

/** Starts the agent daemon; with `skewS`, its clock is that many seconds off (libfaketime). */
function startAgent(w: World, skewS = 0): void {
  w.skewS = skewS;
  const env = skewS !== 0 ? { LD_PRELOAD: FAKETIME_LIB, FAKETIME: `${skewS > 0 ? '+' : ''}${skewS}s`, DONT_FAKE_MONOTONIC: '1' } : undefined;
  w.agent = startCli('agent', ['sync', '-c', w.agentCfg, '--log-format', 'text', '--log-level', 'info'], scanner(w, 'agent'), env);
}

/** A tmpfs for the destination's data, so its disk can be filled for a moment; undefined where mounting is not allowed. */
function mountDestinationDisk(dir: string): { path?: string; why?: string } {
  const path = join(dir, 'west-disk');
  mkdirSync(path, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${DEST_DISK_BYTES}`, 'tmpfs', path], { encoding: 'utf8' });
  return r.status === 0 ? { path } : { why: `mount -t tmpfs failed: ${(r.stderr || r.error?.message || '').trim()}` };
}

/** Fills the destination's disk to the last byte, holds it full for `ms`, then frees it. */
async function fillDisk(disk: string, ms: number): Promise<number> {
  const ballast = join(disk, 'ballast');
  const fd = openSync(ballast, 'w');
  const chunk = Buffer.alloc(4 * 1024 * 1024);
  let written = 0;
  try {
    for (;;) {
      try {
        written += writeSync(fd, chunk);
      } catch {
        // ENOSPC: the rest byte by byte is not needed; a few KiB left is full enough for SQLite and files.
        break;
      }
    }
  } finally {
    closeSync(fd);
  }
  await new Promise((r) => setTimeout(r, ms));
  rmSync(ballast, { force: true });
  return written;
}

const direct = (w: World, zone: 'east' | 'west') => `http://127.0.0.1:${w.inner[zone]}`;

/** The writer: users as real clients on the source, straight to it (faults are for sync paths). */
class Writer {
  readonly ops: Record<string, number> = { put: 0, overwrite: 0, multipart: 0, presigned_get: 0, delete: 0, version_delete: 0, versioning_change: 0, bucket_create: 0, bucket_remove: 0, user_create: 0, failed: 0 };
  private readonly keys = new Map<string, Set<string>>();
  /** Buckets with versioning (enabled or suspended now): never removed (their versions would have to go first). */
  readonly versioned = new Map<string, 'Enabled' | 'Suspended'>();
  /** Version ids the writer was given, per "bucket/key". */
  private readonly versionIds = new Map<string, string[]>();
  private readonly owners = new Map<string, Creds>();
  private readonly users: Creds[] = [];
  private n = 0;
  constructor(private readonly w: World) {}

  private async ok(r: Promise<Reply>, what: string): Promise<boolean> {
    const a = await r.catch((e: Error) => ({ status: 0, text: e.message }) as Reply);
    if (a.status >= 200 && a.status < 300) return true;
    this.ops.failed++;
    progress(`writer: ${what} answered ${a.status} ${a.text.slice(0, 200)}`);
    return false;
  }

  async user(): Promise<void> {
    const uid = `chaos-user-${this.users.length}`;
    const r = await call(direct(this.w, 'east'), 'PUT', `/admin/user?uid=${uid}&display-name=${uid}`, this.w.sys);
    if (r.status !== 200) throw new Error(`creating ${uid}: ${r.status} ${r.text}`);
    const k = r.json<{ keys: { access_key: string; secret_key: string }[] }>().keys[0];
    const c = { accessKey: k.access_key, secretKey: k.secret_key };
    this.w.secrets.push(c.secretKey);
    this.users.push(c);
    this.ops.user_create++;
  }

  async bucket(): Promise<void> {
    const name = `chaos-b${this.n++}`;
    const who = pick(this.users);
    if (await this.ok(call(direct(this.w, 'east'), 'PUT', `/${name}`, who), `create ${name}`)) {
      this.keys.set(name, new Set());
      this.owners.set(name, who);
      this.ops.bucket_create++;
      if (rnd() < 0.4) await this.versioning(name, who, 'Enabled');
    }
  }

  private async versioning(b: string, who: Creds, status: 'Enabled' | 'Suspended'): Promise<void> {
    const body = `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>${status}</Status></VersioningConfiguration>`;
    if (await this.ok(call(direct(this.w, 'east'), 'PUT', `/${b}?versioning`, who, { body }), `versioning ${status} ${b}`)) {
      this.versioned.set(b, status);
      this.ops.versioning_change++;
    }
  }

  private noteVersion(b: string, key: string, r: Reply): void {
    const id = r.headers['x-amz-version-id'];
    if (typeof id !== 'string' || !this.versioned.has(b)) return;
    const k = `${b}/${key}`;
    this.versionIds.set(k, [...(this.versionIds.get(k) ?? []), id]);
  }

  /** A versioned bucket: a specific version removed (a rollback when it is the current one), or versioning suspended / resumed. */
  private async versionStep(b: string, who: Creds, have: Set<string>): Promise<boolean> {
    const r = rnd();
    if (r < 0.005) {
      await this.versioning(b, who, this.versioned.get(b) === 'Enabled' ? 'Suspended' : 'Enabled');
      return true;
    }
    if (r < 0.1 && have.size > 0) {
      const key = pick([...have]);
      const ids = this.versionIds.get(`${b}/${key}`) ?? [];
      if (ids.length === 0) return false;
      const id = pick(ids);
      if (await this.ok(call(direct(this.w, 'east'), 'DELETE', `/${b}/${enc(key)}?versionId=${encodeURIComponent(id)}`, who), `delete version ${b}/${key}`)) {
        this.versionIds.set(`${b}/${key}`, ids.filter((x) => x !== id));
        this.ops.version_delete++;
      }
      return true;
    }
    return false;
  }

  /**
   * A SigV2 presigned GET, of a key that exists or one that does not (a 404, which the zone logs
   * with its URL): the signature in the query must never reach a log.
   */
  private async presignedGet(b: string, who: Creds, have: Set<string>): Promise<void> {
    const key = have.size > 0 && rnd() < 0.5 ? pick([...have]) : `missing-${this.n++}`;
    const path = `/${b}/${enc(key)}`;
    const expires = Math.floor(Date.now() / 1000) + 300;
    const sig = createHmac('sha1', who.secretKey).update(`GET\n\n\n${expires}\n${path}`).digest('base64');
    this.w.secrets.push(sig);
    const r = await fetch(`${direct(this.w, 'east')}${path}?AWSAccessKeyId=${who.accessKey}&Expires=${expires}&Signature=${encodeURIComponent(sig)}`).catch(() => undefined);
    await r?.arrayBuffer();
    if (!r || (r.status !== 200 && r.status !== 404)) { this.ops.failed++; progress(`writer: presigned GET ${b}/${key} answered ${r?.status}`); return; }
    this.ops.presigned_get++;
  }

  /** A multipart upload of two parts (5 MiB and a tail), new key or overwrite. */
  private async multipart(b: string, who: Creds, have: Set<string>): Promise<void> {
    const key = have.size > 0 && rnd() < 0.3 ? pick([...have]) : `mp ${pick(AWKWARD)}-${this.n++}`;
    const path = `/${b}/${enc(key)}`;
    const init = await call(direct(this.w, 'east'), 'POST', `${path}?uploads`, who, { headers: { 'content-type': 'application/x-mp', 'x-amz-meta-writer': String(this.n) } });
    const id = /<UploadId>([^<]+)<\/UploadId>/.exec(init.text)?.[1];
    if (init.status !== 200 || !id) { this.ops.failed++; progress(`writer: initiate ${b}/${key} answered ${init.status}`); return; }
    const etags: string[] = [];
    for (const [n, size] of [[1, 5 * 1024 * 1024], [2, 1 + Math.floor(rnd() * 300_000)]] as const) {
      const part = await call(direct(this.w, 'east'), 'PUT', `${path}?partNumber=${n}&uploadId=${encodeURIComponent(id)}`, who, { body: randomBytes(size) });
      if (part.status !== 200) { this.ops.failed++; progress(`writer: part ${n} of ${b}/${key} answered ${part.status}`); return; }
      etags.push(String(part.headers.etag));
    }
    const doc = `<CompleteMultipartUpload>${etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
    if (await this.ok(call(direct(this.w, 'east'), 'POST', `${path}?uploadId=${encodeURIComponent(id)}`, who, { body: doc }), `complete ${b}/${key}`)) {
      have.add(key);
      this.ops.multipart++;
    }
  }

  async step(): Promise<void> {
    const buckets = [...this.keys.keys()];
    const r = rnd();
    if (this.users.length < 3 && r < 0.01) return this.user();
    if (buckets.length < 2 || (r < 0.006 && buckets.length < 12)) return this.bucket();
    const b = pick(buckets);
    const who = this.owners.get(b)!;
    const have = this.keys.get(b)!;
    if (this.versioned.has(b) && await this.versionStep(b, who, have)) return;
    if (r < 0.009 && buckets.length > 3 && !this.versioned.has(b)) {
      // A removed bucket: its objects first, then the bucket.
      for (const k of have) await this.ok(call(direct(this.w, 'east'), 'DELETE', `/${b}/${enc(k)}`, who), `delete ${b}/${k}`);
      if (await this.ok(call(direct(this.w, 'east'), 'DELETE', `/${b}`, who), `remove ${b}`)) {
        this.keys.delete(b);
        this.ops.bucket_remove++;
      }
      return;
    }
    if (r < 0.25 && have.size > 0) {
      const k = pick([...have]);
      if (await this.ok(call(direct(this.w, 'east'), 'DELETE', `/${b}/${enc(k)}`, who), `delete ${b}/${k}`)) {
        // Versioned: a delete marker; the key's versions stay (and may be removed one by one).
        if (!this.versioned.has(b)) have.delete(k);
        this.ops.delete++;
      }
      return;
    }
    // A versioned bucket keeps every version's bytes: small ones only, so the destination's disk
    // (a 1 GiB tmpfs) fills only when a crash fills it.
    const versioned = this.versioned.has(b);
    if (r < 0.254 && !versioned) return this.multipart(b, who, have);
    if (r < 0.26) return this.presignedGet(b, who, have);
    const overwrite = r < 0.5 && have.size > 0;
    const key = overwrite ? pick([...have]) : `${pick(AWKWARD)}-${this.n++}`;
    const size = pick(versioned ? [0, 1, 100, 4096, 30_000] : [0, 1, 100, 4096, 4096, 30_000, 200_000, 1_500_000]);
    const headers: Record<string, string> = { 'content-type': pick(['text/plain', 'application/octet-stream', 'image/x-chaos']), 'x-amz-meta-writer': String(this.n) };
    if (rnd() < 0.1) headers['x-amz-tagging'] = `t=${this.n}`;
    if (rnd() < 0.1) headers['x-amz-acl'] = 'public-read';
    const put = await call(direct(this.w, 'east'), 'PUT', `/${b}/${enc(key)}`, who, { body: randomBytes(size), headers }).catch((e: Error) => ({ status: 0, text: e.message, headers: {} }) as unknown as Reply);
    if (await this.ok(Promise.resolve(put), `put ${b}/${key}`)) {
      this.noteVersion(b, key, put);
      have.add(key);
      this.ops[overwrite ? 'overwrite' : 'put']++;
    }
  }
}

/** Lists a bucket with the system user, every page. */
async function listAll(base: string, sys: Creds, bucket: string): Promise<Map<string, { size: number; etag: string }>> {
  const out = new Map<string, { size: number; etag: string }>();
  let token: string | undefined;
  for (;;) {
    const r = await call(base, 'GET', `/${bucket}?list-type=2&encoding-type=url${token ? `&continuation-token=${encodeURIComponent(token)}` : ''}`, sys);
    if (r.status !== 200) throw new Error(`listing ${bucket} on ${base}: ${r.status}`);
    for (const m of r.text.matchAll(/<Contents><Key>([^<]*)<\/Key>.*?<ETag>([^<]*)<\/ETag><Size>(\d+)<\/Size>/g)) {
      out.set(decodeURIComponent(m[1]), { etag: m[2].replace(/&quot;|"/g, ''), size: Number(m[3]) });
    }
    token = /<NextContinuationToken>([^<]*)</.exec(r.text)?.[1];
    if (!token) return out;
  }
}

/** Every version and delete marker, in listing order (an unversioned bucket lists its objects as null versions). */
async function versionList(base: string, sys: Creds, bucket: string): Promise<string[]> {
  const out: string[] = [];
  let marker = '';
  const field = (xml: string, n: string) => new RegExp(`<${n}>(.*?)</${n}>`, 's').exec(xml)?.[1] ?? '';
  for (;;) {
    const r = await call(base, 'GET', `/${bucket}?versions&encoding-type=url${marker}`, sys);
    if (r.status !== 200) throw new Error(`listing versions of ${bucket} on ${base}: ${r.status}`);
    for (const m of r.text.matchAll(/<(Version|DeleteMarker)>(.*?)<\/\1>/gs)) {
      out.push(`${field(m[2], 'Key')} ${field(m[2], 'VersionId')} ${m[1] === 'DeleteMarker' ? 'marker' : field(m[2], 'ETag')} ${field(m[2], 'IsLatest')}`);
    }
    if (field(r.text, 'IsTruncated') !== 'true') return out;
    marker = `&key-marker=${field(r.text, 'NextKeyMarker')}&version-id-marker=${encodeURIComponent(field(r.text, 'NextVersionIdMarker'))}`;
  }
}

async function metadataKeys(base: string, sys: Creds, section: string): Promise<string[]> {
  const r = await call(base, 'GET', `/admin/metadata/${section}`, sys);
  return (r.json<string[]>()).sort();
}

/** The independent comparison: key sets, then every object's bytes and attributes by GET. */
async function compareIndependently(w: World): Promise<{ differences: string[]; objects: number }> {
  const [east, west] = [direct(w, 'east'), direct(w, 'west')];
  const differences: string[] = [];
  const [eu, wu] = await Promise.all([metadataKeys(east, w.sys, 'user'), metadataKeys(west, w.sys, 'user')]);
  const only = (a: string[], b: string[]) => a.filter((x) => !b.includes(x)).join(',') || '(none)';
  if (eu.join() !== wu.join()) differences.push(`users differ: only on the source ${only(eu, wu)}; only on the destination ${only(wu, eu)}`);
  let [eb, wb] = await Promise.all([metadataKeys(east, w.sys, 'bucket'), metadataKeys(west, w.sys, 'bucket')]);
  // The state bucket is the agent's own on both sides (bounds on the destination, the trim registry on the source).
  const wbs = wb.filter((b) => b !== STATE_BUCKET);
  eb = eb.filter((b) => b !== STATE_BUCKET);
  if (eb.join() !== wbs.join()) differences.push(`buckets differ: only on the source ${only(eb, wbs)}; only on the destination ${only(wbs, eb)}`);
  let objects = 0;
  for (const b of eb.filter((x) => wbs.includes(x))) {
    const [sv, dv] = await Promise.all([versionList(east, w.sys, b), versionList(west, w.sys, b)]);
    if (sv.join('\n') !== dv.join('\n')) {
      const i = sv.findIndex((x, n) => x !== dv[n]);
      differences.push(`${b}: version lists differ (${sv.length} on the source, ${dv.length} on the destination; first at ${i < 0 ? sv.length : i}: ${sv[i] ?? '(none)'} / ${dv[i] ?? '(none)'})`);
    }
    const [s, d] = await Promise.all([listAll(east, w.sys, b), listAll(west, w.sys, b)]);
    for (const k of new Set([...s.keys(), ...d.keys()])) {
      objects++;
      if (!d.has(k)) { differences.push(`${b}/${k}: missing on the destination`); continue; }
      if (!s.has(k)) { differences.push(`${b}/${k}: only on the destination`); continue; }
      const [gs, gd] = await Promise.all([call(east, 'GET', `/${b}/${enc(k)}`, w.sys), call(west, 'GET', `/${b}/${enc(k)}`, w.sys)]);
      if (gs.status !== 200 || gd.status !== 200) { differences.push(`${b}/${k}: GET ${gs.status} / ${gd.status}`); continue; }
      if (md5(gs.body) !== md5(gd.body)) differences.push(`${b}/${k}: bytes differ (${gs.body.length} / ${gd.body.length})`);
      for (const h of ['content-type', 'x-amz-meta-writer', 'x-amz-tagging-count']) {
        if (gs.headers[h] !== gd.headers[h]) differences.push(`${b}/${k}: ${h} ${String(gs.headers[h])} / ${String(gd.headers[h])}`);
      }
    }
  }
  return { differences, objects };
}

async function waitFor(what: string, fn: () => Promise<boolean>, deadlineMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await fn().catch(() => false)) return Date.now() - start;
    if (Date.now() - start > deadlineMs) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function runCli(w: World, args: string[]): Promise<{ code: number | string; out: string }> {
  const p = startCli(args[0], args, scanner(w, args[0]));
  const code = await p.exited;
  return { code, out: p.tail() };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'rgw-agent-chaos-'));
  registerTempDir(dir);
  const sys = { accessKey: `CHAOS${randomBytes(6).toString('hex').toUpperCase()}`, secretKey: randomBytes(24).toString('base64url') };
  const inner = { east: await freePort(), west: await freePort() };
  const proxyOpts = (name: string, target: number) => ({ name, target, rate: RATE, random: seededRandom(SEED ^ target), stallMs: 2000, lateMs: (OBJECT_TIMEOUT_S + 3) * 1000, notCopies: STATE_BUCKET });
  const proxies = { east: await startFaultProxy(proxyOpts('source', inner.east)), west: await startFaultProxy(proxyOpts('destination', inner.west)) };
  const realmFile = join(dir, 'realm.yaml');
  // The realm names the proxies: the agent and the destination's remote copies reach the source through one.
  writeFileSync(realmFile, [
    'zonegroup: chaos', 'master_zone: east', 'zones:',
    `  east: { endpoint: "${proxies.east.url}" }`, `  west: { endpoint: "${proxies.west.url}" }`,
    `system_user: { uid: sync-agent, access_key: "${sys.accessKey}", secret_key: "${sys.secretKey}" }`, 'data_log_window: 0', '',
  ].join('\n'), { mode: 0o600 });
  const disk = mountDestinationDisk(dir);
  const westData = disk.path ? join(disk.path, 'west') : join(dir, 'west');
  const stateFile = join(disk.path ?? dir, 'agent-state', 'bounds.json');
  mkdirSync(join(stateFile, '..'), { recursive: true });
  const agentCfg = join(dir, 'agent.yaml');
  writeFileSync(agentCfg, [
    `src_access_key: "${sys.accessKey}"`, `src_secret_key: "${sys.secretKey}"`, `dest_access_key: "${sys.accessKey}"`, `dest_secret_key: "${sys.secretKey}"`,
    `destination: "${proxies.west.url}"`, 'rgw_data_log_window: 0', 'incremental_sync_delay: 0.5', 'lock_timeout: 10', `object_sync_timeout: ${OBJECT_TIMEOUT_S}`,
    `copy_mode: ${COPY_MODE}`, `state_store: ${STATE_STORE}`, ...(STATE_STORE === 'file' ? [`state_file: "${stateFile}"`] : []), '',
  ].join('\n'), { mode: 0o600 });
  const w: World = { dir, realmFile, sys, inner, proxies, zones: {}, agentCfg, secrets: [sys.secretKey], leaks: [], westData, westDisk: disk.path, skewS: 0, problems: {} };
  const crashes: Record<string, number> = { kill9_agent: 0, kill9_destination: 0, sigterm_agent: 0, sighup_agent: 0, skewed_agent_clock: 0, destination_disk_full: 0 };
  const unavailable: string[] = [];
  if (!disk.path) unavailable.push(`destination disk full: ${disk.why}`);
  if (!existsSync(FAKETIME_LIB)) unavailable.push(`skewed agent clock: ${FAKETIME_LIB} is missing (Debian's faketime; .ci/run installs it)`);
  const available = ['kill9_agent', 'kill9_destination', 'sigterm_agent', 'sighup_agent', ...(existsSync(FAKETIME_LIB) ? ['skewed_agent_clock'] : []), ...(disk.path ? ['destination_disk_full'] : [])];
  const asked = process.env.CHAOS_CRASH_KINDS?.split(',').map((k) => k.trim()).filter(Boolean);
  const kinds = asked ? available.filter((k) => asked.includes(k)) : available;
  if (kinds.length === 0) throw new Error(`CHAOS_CRASH_KINDS names none of the available kinds (${available.join(', ')})`);
  const report: Record<string, unknown> = { seed: SEED, minutes: MINUTES, rate: RATE, copy_mode: COPY_MODE, state_store: STATE_STORE, unavailable };
  try {
    await Promise.all([startZoneProc(w, 'east'), startZoneProc(w, 'west')]);
    const writer = new Writer(w);
    await writer.user();
    await writer.user();
    for (let i = 0; i < 3; i++) await writer.bucket();
    progress(`seed ${SEED}, copy mode ${COPY_MODE}, state store ${STATE_STORE}, ${MINUTES} min at ${RATE * 100}% faults`);
    startAgent(w);
    const end = Date.now() + MINUTES * 60_000;
    let nextCrash = Date.now() + CRASH_EVERY_S * 1000 * (0.5 + rnd());
    let agentRuns = 1;
    while (Date.now() < end) {
      await writer.step();
      if (Date.now() >= nextCrash) {
        const kind = pick(kinds);
        crashes[kind]++;
        progress(`crash: ${kind}`);
        if (kind === 'kill9_destination') {
          await w.zones.west?.kill('SIGKILL', 0);
          await new Promise((r) => setTimeout(r, 500 + rnd() * 1500));
          await startZoneProc(w, 'west');
        } else if (kind === 'sighup_agent') {
          w.agent?.child.kill('SIGHUP');
        } else if (kind === 'destination_disk_full') {
          const bytes = await fillDisk(w.westDisk!, 2000 + rnd() * 3000);
          progress(`the destination's disk was full (${Math.round(bytes / 1048576)} MiB of ballast), now freed`);
        } else if (kind === 'skewed_agent_clock') {
          await w.agent?.kill('SIGTERM', 30_000);
          const skew = Math.round((rnd() < 0.5 ? -1 : 1) * (30 + rnd() * 570));
          progress(`the agent restarts with its clock ${skew} s off`);
          startAgent(w, skew);
          agentRuns++;
        } else {
          const code = await w.agent?.kill(kind === 'kill9_agent' ? 'SIGKILL' : 'SIGTERM', 30_000);
          if (kind === 'sigterm_agent' && code !== 0) progress(`agent exited ${String(code)} on SIGTERM: ${w.agent?.tail().slice(-1500)}`);
          await new Promise((r) => setTimeout(r, 300 + rnd() * 1500));
          startAgent(w);
          agentRuns++;
        }
        nextCrash = Date.now() + CRASH_EVERY_S * 1000 * (0.5 + rnd());
      }
      if (w.agent && w.agent.child.exitCode !== null) {
        progress(`the agent exited by itself (${w.agent.child.exitCode}); restarting: ${w.agent.tail().slice(-1500)}`);
        startAgent(w, w.skewS);
        agentRuns++;
      }
    }
    const writtenAt = Date.now();
    proxies.east.enabled = false;
    proxies.west.enabled = false;
    progress(`writes and faults stopped (${JSON.stringify(writer.ops)}); waiting for status caught up`);
    const caughtUpMs = await waitFor('status caught up', async () => (await runCli(w, ['status', '-c', agentCfg])).code === 0, CONVERGE_DEADLINE_MS);
    const verify = await runCli(w, ['verify', '-c', agentCfg, '--json']);
    let verified: { equal?: boolean; differenceCount?: number; differences?: unknown[]; objects?: number } = {};
    try { verified = JSON.parse(verify.out.trim().split('\n').filter((l) => l.startsWith('{')).at(-1) ?? '{}') as typeof verified; } catch { /* reported below */ }
    const independent = await compareIndependently(w);
    const agentOutput = w.agent?.tail() ?? '';
    await w.agent?.kill('SIGTERM', 30_000);
    const injected: Record<string, number> = Object.fromEntries(FAULT_KINDS.map((k: FaultKind) => [k, proxies.east.injected[k] + proxies.west.injected[k]]));
    const written = writer.ops.put + writer.ops.overwrite + writer.ops.multipart;
    Object.assign(report, {
      seconds: Math.round((Date.now() - t0) / 1000),
      objects_written: written, writer_ops: writer.ops, versioned_buckets: writer.versioned.size,
      agent_runs: agentRuns, crashes,
      faults_injected: injected, faults_total: Object.values(injected).reduce((a, b) => a + b, 0),
      requests_forwarded: { agent_to_source_and_destination_to_source: proxies.east.forwarded, agent_to_destination: proxies.west.forwarded },
      // Repeated writes of one key collapse into one copy; copies beyond the writes would be repeated work.
      copies_written_to_destination: proxies.west.objectPuts,
      copies_per_write: written > 0 ? Number((proxies.west.objectPuts / written).toFixed(3)) : null,
      // A copy whose answer carries the ETag the key already had from the previous copy: work done twice.
      recopied_objects: proxies.west.repeatedPuts,
      seconds_to_converge: Math.round((Date.now() - writtenAt) / 1000), seconds_to_caught_up: Math.round(caughtUpMs / 1000),
      verify: { exit: verify.code, equal: verified.equal ?? false, differences: verified.differenceCount ?? null, first: verified.differences?.slice(0, 10) ?? verify.out.slice(-1000) },
      independent: { objects_compared: independent.objects, differences: independent.differences.length, first: independent.differences.slice(0, 20) },
      secrets_in_logs: w.leaks.length, leaks: w.leaks,
      agent_log_tail: verify.code === 0 && independent.differences.length === 0 ? undefined : agentOutput.slice(-3000),
      last_problems: verify.code === 0 && independent.differences.length === 0 ? undefined : w.problems,
    });
    const ok = verify.code === 0 && independent.differences.length === 0 && w.leaks.length === 0;
    report.ok = ok;
    // Last in the report, so the tail of a CI log says why a run failed.
    if (!ok) {
      report.failed_because = [
        ...(verify.code !== 0 ? [`verify exited ${String(verify.code)} with ${String(verified.differenceCount ?? '?')} differences; first: ${JSON.stringify(verified.differences?.slice(0, 3) ?? verify.out.slice(-500))}`] : []),
        ...(independent.differences.length > 0 ? [`the independent comparison found ${independent.differences.length} differences; first: ${JSON.stringify(independent.differences.slice(0, 5))}`] : []),
        ...(w.leaks.length > 0 ? [`${w.leaks.length} secrets in logs`] : []),
      ];
      progress(`FAILED (seed ${SEED}): ${(report.failed_because as string[]).join(' | ')}`);
    }
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    process.exitCode = ok ? 0 : 1;
  } catch (e) {
    report.ok = false;
    report.agent_log_tail = w.agent?.tail().slice(-3000);
    // What the zones said last (errors of a 500 are logged there, not sent to the client).
    report.last_problems = w.problems;
    report.error = (e as Error).message;
    progress(`FAILED (seed ${SEED}): ${(e as Error).message}`);
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    process.exitCode = 1;
  } finally {
    await w.agent?.kill('SIGKILL', 0);
    await Promise.all(Object.values(w.zones).map((z) => z?.kill('SIGTERM', 5000)));
    await Promise.all(Object.values(proxies).map((p) => p.close()));
    if (w.westDisk) spawnSync('umount', ['-l', w.westDisk]);
    removeTempDir(dir);
  }
}

process.on('SIGINT', () => { cleanupAll(); process.exit(130); });
await main();
