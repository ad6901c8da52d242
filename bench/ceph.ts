/**
 * `npm run bench:ceph`: how fast us-west is level with us-east on real Ceph, per release in
 * CEPH_RELEASES (default pacific,reef,tentacle), for two workloads (small: 4 buckets × 500 × 4 KiB;
 * large: 1 bucket × 8 × 32 MiB) and four ways of getting there:
 *
 *   agent_full_sync  writes on us-east first, then `rgw-agent full-sync` into us-west
 *   agent_daemon     `rgw-agent sync` running (its start-up full sync of the empty zone done) while the writes happen
 *   rclone           writes first, then `rclone sync SRC:bucket DST:bucket` per bucket
 *   builtin_sync     Ceph's own multisite sync (cluster started with BUILTIN_SYNC=1)
 *
 * Each (workload, mode) gets a fresh cluster (`ceph-release.sh RELEASE up`, `down --wipe` after)
 * on its own ports and CEPH_TEST_DIR, so it never meets a `npm run test:ceph` cluster on the
 * default ports. The figure is `equal_after_writes_sec`: from the end of the writes until every
 * bucket's us-west listing (keys, sizes, ETags) equals us-east's, polled every 250 ms. One JSON
 * document goes to stdout, progress to stderr (`npm run -s bench:ceph` for clean stdout).
 *
 * Knobs (environment): CEPH_RELEASES  BENCH_CEPH_ONLY=small,large
 * BENCH_CEPH_MODES=agent_full_sync,agent_daemon,rclone,builtin_sync  BENCH_CEPH_COPY_MODE=remote|stream
 * BENCH_CEPH_DEADLINE_MS (whole run, default 30 min)  BENCH_CEPH_EQUAL_DEADLINE_MS (per mode, default 300 s)
 * BENCH_CEPH_PORT_BASE (default 20000: mon 23300/26789, messenger 26800-27300, gateways 28000/28001; below the kernel's ephemeral range)
 * BENCH_CEPH_TEST_DIR (default /tmp/rgw-agent-bench-ceph)  CEPH_SCRIPTS (default ../shared/ceph of the checkout)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, release as osRelease, platform, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { cleanupAll, gitRevision, RCLONE_ARGS, rcloneVersion, ContentionMonitor, ProcSampler, registerTempDir, removeTempDir, startCli, type Proc } from './procs.js';
import { BenchClient, pool, type Listed } from './s3.js';
import type { Creds } from './zones.js';

const T0 = performance.now();
const CHECKOUT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPTS = process.env.CEPH_SCRIPTS ?? join(CHECKOUT, '../shared/ceph');
const RELEASE_SCRIPT = join(SCRIPTS, 'ceph-release.sh');
const KNOWN_RELEASES = ['pacific', 'reef', 'tentacle'];
const RELEASES = (process.env.CEPH_RELEASES ?? 'pacific,reef,tentacle').split(',').map((r) => r.trim()).filter(Boolean);

const MODE_NAMES = ['agent_full_sync', 'agent_daemon', 'rclone', 'builtin_sync'] as const;
type ModeName = (typeof MODE_NAMES)[number];
const MODES = (process.env.BENCH_CEPH_MODES ?? MODE_NAMES.join(',')).split(',').map((m) => m.trim()).filter(Boolean);
const ONLY = (process.env.BENCH_CEPH_ONLY ?? 'small,large').split(',').map((s) => s.trim()).filter(Boolean);

const GLOBAL_DEADLINE_MS = Number(process.env.BENCH_CEPH_DEADLINE_MS ?? 30 * 60_000);
const EQUAL_DEADLINE_MS = Number(process.env.BENCH_CEPH_EQUAL_DEADLINE_MS ?? 300_000);
const WRITE_DEADLINE_MS = 300_000;
const EQUAL_POLL_MS = 250;
const UP_TIMEOUT_MS = 300_000;
const UP_ATTEMPTS = 3;
const DOWN_TIMEOUT_MS = 180_000;
/** The daemon's start-up full sync of an empty zone (users only) plus its first pass. */
const DAEMON_READY_MS = 120_000;
const VERIFY_DEADLINE_MS = 180_000;
/** After full-sync or rclone exits, how long us-west may take to show what they wrote before that is an error. */
const AFTER_EXIT_GRACE_MS = 10_000;
/** Seconds between TERM and KILL in `down`: the cluster is wiped anyway, and Tentacle's gateways ignore TERM. */
const STOP_TIMEOUT = process.env.STOP_TIMEOUT ?? '3';
const CONTENDED_PERCENT = 10;
const TEST_DIR = process.env.BENCH_CEPH_TEST_DIR ?? '/tmp/rgw-agent-bench-ceph';
const PORT_BASE = Number(process.env.BENCH_CEPH_PORT_BASE ?? 20000);
/** test-ceph's SIDE_PORTS at the default base 20000. */
const PORTS = {
  MON_V2_PORT: String(PORT_BASE + 3300), MON_V1_PORT: String(PORT_BASE + 6789),
  MS_PORT_MIN: String(PORT_BASE + 6800), MS_PORT_MAX: String(PORT_BASE + 7300),
  EAST_PORT: String(PORT_BASE + 8000), WEST_PORT: String(PORT_BASE + 8001),
};
const COPY_MODE = process.env.BENCH_CEPH_COPY_MODE;

/** The measured agents' log level (BENCH_CEPH_AGENT_LOG_LEVEL=debug logs every request with its time; with BENCH_LOG_DIR, kept). */
const AGENT_LOG_LEVEL = process.env.BENCH_CEPH_AGENT_LOG_LEVEL || 'info';

interface Workload { name: 'small' | 'large'; buckets: number; perBucket: number; size: number; concurrency: number }
const WORKLOADS: Workload[] = [
  { name: 'small', buckets: 4, perBucket: 500, size: 4096, concurrency: 16 },
  { name: 'large', buckets: 1, perBucket: 8, size: 32 * 1024 * 1024, concurrency: 4 },
];

const RCLONE = rcloneVersion();

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const round = (n: number, d = 2): number | null => (Number.isFinite(n) ? Math.round(n * 10 ** d) / 10 ** d : null);
const secSince = (t: number) => (performance.now() - t) / 1000;

function progress(msg: string): void {
  process.stderr.write(`[bench:ceph ${secSince(T0).toFixed(1).padStart(6)}s] ${msg}\n`);
}

/** Known secrets are masked in anything copied from Ceph's scripts into the report (ceph-up.sh prints the keys). */
const secrets = new Set<string>();
function redact(s: string): string {
  let out = s.replace(/(secret=|_SK=|secret_key["=: ]+)\S+/g, '$1***');
  for (const k of secrets) if (k) out = out.split(k).join('***');
  return out;
}

class Timeout extends Error {}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, rej) => { t = setTimeout(() => rej(new Timeout(`${what}: timed out after ${ms / 1000} s`)), ms); })]).finally(() => clearTimeout(t));
}

// ---------------------------------------------------------------- clusters

/** Children that are not `node dist/src/cli.js` (rclone, ceph-release.sh): killed with the rest on exit. */
const otherChildren = new Set<ChildProcess>();

function killOthers(): void {
  for (const c of otherChildren) {
    try {
      // ceph-release.sh runs in its own process group (detached) so that its children go too.
      if (c.pid !== undefined) process.kill(-c.pid, 'SIGKILL');
    } catch {
      try { c.kill('SIGKILL'); } catch { /* gone */ }
    }
  }
  otherChildren.clear();
}

/**
 * The environment for ceph-release.sh: ours always wins over the caller's, because a shell that
 * sourced a test:ceph env file (EAST_PORT=8000, CEPH_TEST_DIR=/tmp/ceph-test) must never make this
 * bench start or stop that cluster.
 */
function scriptEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...PORTS, CEPH_TEST_DIR: TEST_DIR, STOP_TIMEOUT, ...extra };
  delete env.CEPH_CONF;
  delete env.CEPH_ENV_OUT;
  if (extra.CEPH_ENV_OUT) env.CEPH_ENV_OUT = extra.CEPH_ENV_OUT;
  return env;
}

function script(releaseName: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | string; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', [RELEASE_SCRIPT, releaseName, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    otherChildren.add(child);
    let out = '';
    const add = (d: Buffer) => { out = (out + d.toString('utf8')).slice(-16_384); };
    child.stdout.on('data', add);
    child.stderr.on('data', add);
    const timer = setTimeout(() => {
      out += `\n(ceph-release.sh ${args.join(' ')} killed after ${timeoutMs / 1000} s)`;
      try { if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    }, timeoutMs);
    child.on('exit', (code, sig) => {
      clearTimeout(timer);
      otherChildren.delete(child);
      resolve({ code: code ?? sig ?? 'unknown', out });
    });
  });
}

interface Cluster {
  release: string;
  hostDir: string;
  tmp: string;
  east: string;
  west: string;
  sys: Creds;
  tester: Creds;
  version: string;
  /** Pid file name (client.rgw.east, osd.0, ...) -> pid. */
  daemons: Map<string, number>;
}

/** The cluster that may be running (set before `up` starts, so an interrupted `up` is brought down as well). */
let current: { release: string } | undefined;

function chrootOf(releaseName: string): string {
  return process.env.CEPH_CHROOT ?? `/srv/ceph-${releaseName}`;
}

function hostDirOf(releaseName: string): string {
  return releaseName === 'pacific' ? TEST_DIR : `${chrootOf(releaseName)}${TEST_DIR}`;
}

/** Why a release cannot run here, or undefined. Installs nothing (like test:ceph): building a chroot is a separate step. */
function notReady(releaseName: string): string | undefined {
  if (!KNOWN_RELEASES.includes(releaseName)) return `unknown release (known: ${KNOWN_RELEASES.join(', ')})`;
  if (!existsSync(RELEASE_SCRIPT)) return `${RELEASE_SCRIPT} not found (set CEPH_SCRIPTS)`;
  if (releaseName === 'pacific') {
    const r = spawnSync('bash', ['-c', 'command -v radosgw && command -v ceph-mon'], { stdio: 'ignore' });
    return r.status === 0 ? undefined : `Ceph Pacific is not installed; run: ${RELEASE_SCRIPT} pacific ensure`;
  }
  return existsSync(`${chrootOf(releaseName)}/usr/bin/radosgw`) ? undefined : `the ${releaseName} chroot is not built (${chrootOf(releaseName)}); run: ${RELEASE_SCRIPT} ${releaseName} ensure`;
}

async function clusterUp(releaseName: string, builtinSync: boolean): Promise<{ cluster: Cluster; sec: number }> {
  const tmp = mkdtempSync(join(tmpdir(), `rgw-agent-bench-ceph-${releaseName}-`));
  registerTempDir(tmp);
  const envOut = join(tmp, 'ceph.env');
  current = { release: releaseName };
  const failures: string[] = [];
  let sec = 0;
  for (let attempt = 1; ; attempt++) {
    await waitPortsFree();
    const t = performance.now();
    const r = await script(releaseName, ['up'], scriptEnv({ BUILTIN_SYNC: builtinSync ? '1' : '0', CEPH_ENV_OUT: envOut }), UP_TIMEOUT_MS);
    sec = secSince(t);
    if (r.code === 0) break;
    const holders = portHolders();
    failures.push(`attempt ${attempt}: exit ${r.code}: ${redact(r.out.slice(-600))}${startupErrors(releaseName)}${holders ? `; sockets on our ports now: ${holders}` : ''}`);
    // Seen: a daemon that cannot bind a port some other process holds for a moment (the default
    // ports lie in the kernel's ephemeral range, where other tests' connections come and go).
    if (attempt >= UP_ATTEMPTS) throw new Error(`ceph-release.sh ${releaseName} up failed ${attempt} times: ${failures.join(' || ')}`);
    progress(`  up failed (attempt ${attempt}); trying again: ${failures.at(-1)?.slice(-300)}`);
    await clusterDown(releaseName);
    current = { release: releaseName };
    await sleep(5000);
  }
  const envText = readFileSync(envOut, 'utf8');
  const v = (name: string) => new RegExp(`${name}=(\\S+)`).exec(envText)?.[1] ?? '';
  const sys = { accessKey: v('SYSTEM_AK'), secretKey: v('SYSTEM_SK') };
  const tester = { accessKey: v('TEST_AK'), secretKey: v('TEST_SK') };
  secrets.add(sys.secretKey);
  secrets.add(tester.secretKey);
  const hostDir = v('CEPH_HOST_DIR') || hostDirOf(releaseName);
  const daemons = new Map<string, number>();
  const run = join(hostDir, 'run');
  for (const f of readdirSync(run)) {
    if (!f.endsWith('.pid')) continue;
    const pid = Number(readFileSync(join(run, f), 'utf8').trim());
    if (pid > 0) daemons.set(f.slice(0, -4), pid);
  }
  return {
    sec,
    cluster: { release: releaseName, hostDir, tmp, east: v('EAST_URL'), west: v('WEST_URL'), sys, tester, version: v('CEPH_VERSION'), daemons },
  };
}

/**
 * Sockets of other processes on our fixed ports (listening, or a client connection whose ephemeral
 * local port is one of ours: that also makes the daemon's bind fail), as `ss` shows them. TIME-WAIT
 * is left out: our own previous cluster leaves those, and the daemons bind over them.
 */
function portHolders(): string {
  const ports = [PORTS.MON_V2_PORT, PORTS.MON_V1_PORT, PORTS.EAST_PORT, PORTS.WEST_PORT];
  const r = spawnSync('ss', ['-Htanp', 'exclude', 'time-wait', `( ${ports.map((p) => `sport = :${p}`).join(' or ')} )`], { encoding: 'utf8' });
  return (r.stdout ?? '').trim().split('\n').filter(Boolean).slice(0, 5).map((l) => l.replace(/\s+/g, ' ')).join(' | ');
}

/** Up to 30 s for our ports to be free before `up`, which would otherwise fail on a taken one. */
async function waitPortsFree(): Promise<void> {
  const end = performance.now() + 30_000;
  let said = false;
  for (let h = portHolders(); h; h = portHolders()) {
    if (performance.now() > end) return;
    if (!said) progress(`  waiting for our ports to be free: ${h}`);
    said = true;
    await sleep(1000);
  }
}

/** What the daemons' logs say went wrong in a failed `up` (read before `down --wipe` removes them). */
function startupErrors(releaseName: string): string {
  const dir = join(hostDirOf(releaseName), 'log');
  const lines: string[] = [];
  try {
    for (const f of readdirSync(dir)) {
      const text = readFileSync(join(dir, f), 'utf8');
      for (const l of text.split('\n')) if (/bind|in use|ERROR|error|failed|unable/i.test(l)) lines.push(`${f}: ${l.slice(0, 240)}`);
    }
  } catch { /* no logs */ }
  return lines.length ? `; logs: ${redact(lines.slice(-6).join(' | '))}` : '';
}

async function clusterDown(releaseName: string): Promise<{ sec: number; error?: string }> {
  const t = performance.now();
  const r = await script(releaseName, ['down', '--wipe'], scriptEnv({}), DOWN_TIMEOUT_MS);
  current = undefined;
  return { sec: round(secSince(t)) ?? 0, ...(r.code !== 0 ? { error: `down exited ${r.code}: ${redact(r.out.slice(-500))}` } : {}) };
}

/**
 * One bench:ceph per CEPH_TEST_DIR: `up` starts by stopping whatever runs in that dir, so a second
 * run would kill the first one's clusters mid-measurement. The pid file names the holder.
 */
const LOCK_FILE = `${TEST_DIR}.bench.pid`;
let lockHeld = false;
function takeRunLock(): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(LOCK_FILE, `${process.pid}\n`, { flag: 'wx' });
      lockHeld = true;
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const pid = Number(readFileSync(LOCK_FILE, 'utf8').trim());
    let cmd = '';
    try { cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { /* not running */ }
    if (pid > 0 && alive(pid) && cmd.includes('ceph.js')) {
      throw new Error(`another bench:ceph (pid ${pid}) is using ${TEST_DIR} and its ports; run one at a time, or give this one its own BENCH_CEPH_TEST_DIR and BENCH_CEPH_PORT_BASE`);
    }
    rmSync(LOCK_FILE, { force: true }); // left by a run that was killed
  }
  throw new Error(`cannot take ${LOCK_FILE}`);
}

/** Last resort on exit, failure or a signal: everything we started, then our cluster (our CEPH_TEST_DIR only). */
let finalCleanupDone = false;
function finalCleanup(): void {
  if (finalCleanupDone) return;
  finalCleanupDone = true;
  killOthers();
  cleanupAll();
  if (current) {
    process.stderr.write(`[bench:ceph] bringing the ${current.release} cluster in ${TEST_DIR} down\n`);
    spawnSync('bash', [RELEASE_SCRIPT, current.release, 'down', '--wipe'], { env: scriptEnv({}), stdio: 'ignore', timeout: DOWN_TIMEOUT_MS });
    current = undefined;
  }
  if (lockHeld) {
    rmSync(LOCK_FILE, { force: true });
    lockHeld = false;
  }
}

/** Whether a daemon of the cluster still runs: a crashed radosgw leaves no process (or a zombie). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function crashLines(c: Cluster, daemon: string): string[] {
  try {
    const log = readFileSync(join(c.hostDir, 'log', `${daemon}.log`), 'utf8');
    // The crash dump repeats its lines with a " -N>" prefix; one copy each is enough.
    const hits = log.split('\n').filter((l) => /Caught signal|Segmentation fault|SIGSEGV|terminate called|Aborted|FAILED ceph_assert/.test(l)).map((l) => l.replace(/^\s*-?\d+>\s*/, '').slice(0, 300));
    return [...new Set(hits)].slice(-5);
  } catch {
    return [];
  }
}

/** A Ceph daemon died: the mode ends with this error instead of waiting for its deadline. */
function deadDaemons(c: Cluster): string | undefined {
  const dead = [...c.daemons].filter(([, pid]) => !alive(pid));
  if (dead.length === 0) return undefined;
  return dead.map(([name, pid]) => {
    const lines = crashLines(c, name);
    return `${name} (pid ${pid}) is no longer running${lines.length ? `; its log: ${lines.join(' | ')}` : ''}`;
  }).join('; ');
}

// ---------------------------------------------------------------- workload

function bucketNames(w: Workload): string[] {
  return Array.from({ length: w.buckets }, (_, b) => `bench-${w.name}-${b}`);
}

/** Random bytes 1 MiB at a time, so a 32 MiB object never sits in memory whole. */
async function* randomBody(size: number): AsyncGenerator<Uint8Array> {
  const CHUNK = 1024 * 1024;
  for (let left = size; left > 0; left -= CHUNK) yield randomBytes(Math.min(CHUNK, left));
}

/** The timed writes, as the tester user, with the workload's concurrency; a PUT that fails is tried twice more. */
async function writeObjects(w: Workload, east: BenchClient): Promise<{ sec: number; retries: number }> {
  const buckets = bucketNames(w);
  const n = w.buckets * w.perBucket;
  let retries = 0;
  let done = 0;
  const t = performance.now();
  await withTimeout(pool(Array.from({ length: n }, (_, i) => i), w.concurrency, async (i) => {
    const bucket = buckets[i % w.buckets];
    const key = `obj-${String(i).padStart(5, '0')}`;
    for (let attempt = 1; ; attempt++) {
      try {
        if (w.size <= 64 * 1024) await east.put(bucket, key, randomBytes(w.size));
        else await east.put(bucket, key, { stream: randomBody(w.size), length: w.size });
        break;
      } catch (e) {
        if (attempt >= 3) throw e;
        retries++;
        await sleep(200 * attempt);
      }
    }
    if (++done % Math.max(1, Math.floor(n / 4)) === 0) progress(`    written ${done}/${n}`);
  }), WRITE_DEADLINE_MS, 'writes to us-east');
  return { sec: secSince(t), retries };
}

async function listing(c: BenchClient, buckets: string[]): Promise<Map<string, Listed[]>> {
  const out = new Map<string, Listed[]>();
  for (const b of buckets) out.set(b, await c.listAll(b));
  return out;
}

/** How many of the expected objects us-west lists with the same size and ETag, and whether it lists nothing else. */
function compare(expected: Map<string, Listed[]>, got: Map<string, Listed[]>): { matching: number; total: number; equal: boolean } {
  let matching = 0;
  let total = 0;
  let equal = true;
  for (const [bucket, objs] of expected) {
    const have = new Map((got.get(bucket) ?? []).map((o) => [o.key, o]));
    total += objs.length;
    for (const o of objs) {
      const g = have.get(o.key);
      if (g && g.size === o.size && g.etag === o.etag) matching++;
      else equal = false;
      have.delete(o.key);
    }
    if (have.size > 0) equal = false;
  }
  return { matching, total, equal };
}

interface PollResult { sec: number; polls: number; mean_poll_ms: number | null }

/**
 * Polls us-west until it equals `expected`; seconds from `t0` (the end of the writes) to the end
 * of the first poll that saw it equal. Ends early when a Ceph daemon died or `gaveUp` says the
 * syncer is finished and nothing more will arrive.
 */
async function pollEqual(c: Cluster, west: BenchClient, expected: Map<string, Listed[]>, t0: number, gaveUp: () => string | undefined): Promise<PollResult> {
  const deadline = t0 + EQUAL_DEADLINE_MS;
  let polls = 0;
  let pollMs = 0;
  let lastErr = '';
  let last = { matching: 0, total: 0, equal: false };
  let lastReport = performance.now();
  for (;;) {
    const dead = deadDaemons(c);
    if (dead) throw new Error(`Ceph daemon died: ${dead}`);
    const p0 = performance.now();
    try {
      last = compare(expected, await listing(west, [...expected.keys()]));
      lastErr = '';
    } catch (e) {
      lastErr = (e as Error).message;
    }
    polls++;
    pollMs += performance.now() - p0;
    if (last.equal) return { sec: secSince(t0), polls, mean_poll_ms: round(pollMs / polls, 1) };
    const why = gaveUp();
    if (why) throw new Error(`${why}; us-west lists ${last.matching}/${last.total} objects equal${lastErr ? `; last listing error: ${lastErr}` : ''}`);
    if (performance.now() > deadline) throw new Timeout(`us-west not equal ${EQUAL_DEADLINE_MS / 1000} s after the writes: ${last.matching}/${last.total} objects equal${lastErr ? `; last listing error: ${lastErr}` : ''}`);
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      progress(`    ${secSince(t0).toFixed(0)} s after the writes: ${last.matching}/${last.total} objects equal on us-west`);
    }
    await sleep(EQUAL_POLL_MS);
  }
}

// ---------------------------------------------------------------- agent, rclone

function agentConfig(c: Cluster, extra: Record<string, string | number>): string {
  const file = join(c.tmp, `agent-${randomBytes(3).toString('hex')}.yaml`);
  const cfg: Record<string, string | number> = {
    src_access_key: c.sys.accessKey, src_secret_key: c.sys.secretKey,
    dest_access_key: c.sys.accessKey, dest_secret_key: c.sys.secretKey,
    destination: c.west,
    ...(COPY_MODE ? { copy_mode: COPY_MODE } : {}),
    ...extra,
  };
  writeFileSync(file, Object.entries(cfg).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join('\n') + '\n', { mode: 0o600 });
  return file;
}

/** The agent process's figures; peak RSS is the kernel's high-water mark where it is larger than any sample. */
function agentStats(s: ProcSampler): { peak_rss_mb: number | null; cpu_sec: number | null } {
  const st = s.stop();
  return { peak_rss_mb: round(Math.max(st.hwmMb, st.peakRssMb), 1), cpu_sec: round(st.cpuUserSec + st.cpuSysSec) };
}

async function runVerify(cfg: string): Promise<Record<string, unknown>> {
  let doc: { equal?: boolean; differenceCount?: number; objects?: number; error?: string } | undefined;
  const t = performance.now();
  const v = startCli('agent verify', ['verify', '-c', cfg, '--json', '--log-format', 'text', '--log-level', 'warn'], (line) => {
    if (line.startsWith('{')) {
      try { doc = JSON.parse(line) as typeof doc; } catch { /* a line cut at the tail limit */ }
    }
  });
  let code: number | string;
  try {
    code = await withTimeout(v.exited, VERIFY_DEADLINE_MS, 'verify');
  } catch (e) {
    await v.kill('SIGKILL');
    return { verify_ok: false, verify_error: (e as Error).message };
  }
  return {
    verify_ok: code === 0,
    verify_exit_code: code,
    verify_sec: round(secSince(t)),
    ...(doc ? { verify_objects: doc.objects ?? null, verify_differences: doc.differenceCount ?? null } : {}),
    ...(code !== 0 ? { verify_output_tail: redact(v.tail().slice(-1500)) } : {}),
  };
}

interface Syncer {
  /** Set once the syncer has finished and nothing more will arrive on us-west. */
  gaveUp(): string | undefined;
  /** Called once us-west is equal (or the mode failed): figures for the report; stops what still runs. */
  finish(): Promise<Record<string, unknown>>;
}

function startFullSync(cfg: string, t0: number): Syncer {
  let internal: number | null = null;
  const agent = startCli('agent full-sync', ['full-sync', '-c', cfg, '--log-format', 'text', '--log-level', AGENT_LOG_LEVEL], (line) => {
    const m = /full sync finished in ([\d.]+)s/.exec(line);
    if (m) internal = Number(m[1]);
  });
  const sampler = new ProcSampler(agent.pid, 100);
  let exit: { code: number | string; sec: number } | undefined;
  void agent.exited.then((code) => { exit = { code, sec: secSince(t0) }; });
  return {
    gaveUp: () => (exit && performance.now() > t0 + exit.sec * 1000 + AFTER_EXIT_GRACE_MS ? `full-sync exited (${exit.code}) ${exit.sec.toFixed(1)} s after the writes` : undefined),
    async finish() {
      let code: number | string;
      try {
        code = await withTimeout(agent.exited, 60_000, 'full-sync exit after us-west was equal');
      } catch {
        code = `killed: still running 60 s after us-west was equal (${await agent.kill('SIGKILL')})`;
      }
      return {
        full_sync_exit_code: code,
        full_sync_exit_after_writes_sec: exit ? round(exit.sec) : null,
        full_sync_logged_sec: internal,
        ...agentStats(sampler),
        ...(code !== 0 ? { agent_output_tail: agent.tail().slice(-2000) } : {}),
      };
    },
  };
}

function rcloneEnv(c: Cluster): NodeJS.ProcessEnv {
  const remote = (prefix: string, url: string): Record<string, string> => ({
    [`RCLONE_CONFIG_${prefix}_TYPE`]: 's3', [`RCLONE_CONFIG_${prefix}_PROVIDER`]: 'Ceph', [`RCLONE_CONFIG_${prefix}_ENDPOINT`]: url,
    [`RCLONE_CONFIG_${prefix}_ACCESS_KEY_ID`]: c.sys.accessKey, [`RCLONE_CONFIG_${prefix}_SECRET_ACCESS_KEY`]: c.sys.secretKey,
    [`RCLONE_CONFIG_${prefix}_REGION`]: 'us-east-1',
  });
  const env: NodeJS.ProcessEnv = { ...process.env, ...remote('SRC', c.east), ...remote('DST', c.west) };
  // A CA bundle meant for HTTPS elsewhere makes rclone's S3 client refuse its plain-HTTP transport.
  delete env.AWS_CA_BUNDLE;
  return env;
}

/**
 * One `rclone sync` per bucket, one after another: the buckets belong to the tester user, so the
 * system user's bucket list (`rclone sync SRC: DST:`) is empty. The buckets exist on us-west
 * already (created there before the writes), hence --s3-no-check-bucket.
 */
function startRclone(c: Cluster, buckets: string[], t0: number): Syncer {
  const env = rcloneEnv(c);
  const codes: (number | string)[] = [];
  let cpu = 0;
  let rss = 0;
  let stderr = '';
  let done: { sec: number } | undefined;
  let stopped = false;
  const runAll = async () => {
    for (const b of buckets) {
      if (stopped) return;
      const child = spawn('rclone', ['sync', ...RCLONE_ARGS, '--s3-no-check-bucket', `SRC:${b}`, `DST:${b}`], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      otherChildren.add(child);
      const sampler = child.pid !== undefined ? new ProcSampler(child.pid, 100) : undefined;
      child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString('utf8')).slice(-4000); });
      const code = await new Promise<number | string>((resolve) => {
        child.on('error', (e) => resolve(e.message));
        child.on('exit', (cd, sig) => resolve(cd ?? sig ?? 'unknown'));
      });
      otherChildren.delete(child);
      if (sampler) {
        const st = sampler.stop();
        cpu += st.cpuUserSec + st.cpuSysSec;
        rss = Math.max(rss, st.hwmMb, st.peakRssMb);
      }
      codes.push(code);
    }
  };
  const all = runAll().finally(() => { done = { sec: secSince(t0) }; });
  return {
    gaveUp: () => (done && performance.now() > t0 + done.sec * 1000 + AFTER_EXIT_GRACE_MS ? `rclone exited (${codes.join(', ')}) ${done.sec.toFixed(1)} s after the writes` : undefined),
    async finish() {
      try {
        await withTimeout(all, 60_000, 'rclone exit after us-west was equal');
      } catch {
        stopped = true;
        killOthers();
      }
      return {
        rclone_exit_codes: codes,
        rclone_exit_after_writes_sec: done ? round(done.sec) : null,
        rclone_peak_rss_mb: round(rss, 1),
        rclone_cpu_sec: round(cpu),
        ...(codes.some((x) => x !== 0) ? { rclone_stderr_tail: redact(stderr.slice(-1500)) } : {}),
      };
    },
  };
}

/** The daemon, started on the empty zone; resolves once its start-up full sync and a first incremental pass are done. */
async function startDaemon(cfg: string): Promise<{ agent: Proc; sampler: ProcSampler; readySec: number }> {
  const t = performance.now();
  const agent = startCli('agent sync', ['sync', '-c', cfg, '--log-format', 'text', '--log-level', AGENT_LOG_LEVEL]);
  const sampler = new ProcSampler(agent.pid, 100);
  try {
    // metrics_port 0: the daemon picks a free port and logs it. /healthz says "last pass …" only in
    // the incremental phase after a completed pass, which no log line states as directly.
    const line = await agent.waitForLine(/metrics on http:\/\/\S+\/metrics/, DAEMON_READY_MS);
    const url = /metrics on (http:\/\/\S+)\/metrics/.exec(line)?.[1] ?? '';
    const end = t + DAEMON_READY_MS;
    for (;;) {
      if (agent.child.exitCode !== null) throw new Error(`the daemon exited (${agent.child.exitCode}): ${agent.tail().slice(-1500)}`);
      try {
        const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
        if (/^ok: last pass/.test(await r.text())) break;
      } catch { /* not serving yet */ }
      if (performance.now() > end) throw new Timeout(`the daemon did not finish its start-up full sync within ${DAEMON_READY_MS / 1000} s: ${agent.tail().slice(-1500)}`);
      await sleep(100);
    }
  } catch (e) {
    sampler.stop();
    await agent.kill('SIGKILL');
    throw e;
  }
  return { agent, sampler, readySec: secSince(t) };
}

// ---------------------------------------------------------------- one mode

type ModeRecord = Record<string, unknown> & { equal_after_writes_sec?: number | null; error?: string; timed_out?: boolean; skipped?: string; write_sec?: number | null };

function skipReason(mode: ModeName, releaseName: string): string | undefined {
  if (mode === 'rclone' && !RCLONE) return 'rclone not installed';
  if ((mode === 'agent_full_sync' || mode === 'agent_daemon') && COPY_MODE === 'remote' && releaseName === 'pacific') {
    return 'BENCH_CEPH_COPY_MODE=remote: Pacific\'s remote copy answers 403 (README, Real Ceph)';
  }
  return undefined;
}

/** Gateway and OSD CPU (every daemon of the cluster) between two snapshots. */
function daemonCpu(samplers: Map<string, ProcSampler>): Map<string, number> {
  return new Map([...samplers].map(([name, s]) => { s.sample(); return [name, s.stats.cpuUserSec + s.stats.cpuSysSec]; }));
}

async function runMode(releaseName: string, w: Workload, mode: ModeName): Promise<ModeRecord> {
  const rec: ModeRecord = {};
  const buckets = bucketNames(w);
  progress(`${releaseName} ${w.name} ${mode}: cluster up${mode === 'builtin_sync' ? ' with BUILTIN_SYNC=1' : ''}`);
  let cluster: Cluster | undefined;
  const clients: BenchClient[] = [];
  let daemon: { agent: Proc; sampler: ProcSampler } | undefined;
  let syncer: Syncer | undefined;
  let daemonSamplers = new Map<string, ProcSampler>();
  try {
    const up = await clusterUp(releaseName, mode === 'builtin_sync');
    cluster = up.cluster;
    const c = cluster;
    rec.cluster_up_sec = round(up.sec);
    rec.ceph_version = c.version;
    daemonSamplers = new Map([...c.daemons].map(([name, pid]) => [name, new ProcSampler(pid, 500)]));
    const east = new BenchClient(c.east, c.tester, 32);
    const west = new BenchClient(c.west, c.sys, 8);
    clients.push(east, west);
    const cfg = mode.startsWith('agent') ? agentConfig(c, mode === 'agent_daemon' ? { metrics_port: 0 } : {}) : '';

    if (mode === 'agent_daemon') {
      const d = await startDaemon(cfg);
      daemon = d;
      rec.daemon_ready_sec = round(d.readySec);
      progress(`  daemon in its incremental phase after ${d.readySec.toFixed(1)} s`);
    }
    // rclone, like a user of it, needs the buckets on us-west: created there (RGW forwards the
    // creation to the master, so they exist on us-east too). Elsewhere us-east gets them and the
    // agent or Ceph's own sync carries them over.
    const creator = mode === 'rclone' ? new BenchClient(c.west, c.tester, 4) : east;
    if (creator !== east) clients.push(creator);
    for (const b of buckets) await creator.createBucket(b);

    progress(`  writing ${w.buckets * w.perBucket} × ${w.size} bytes into ${w.buckets} bucket(s), ${w.concurrency} in flight`);
    const mon = new ContentionMonitor();
    const cpu0 = daemonCpu(daemonSamplers);
    const agentCpu0 = daemon ? (daemon.sampler.sample(), daemon.sampler.stats.cpuUserSec + daemon.sampler.stats.cpuSysSec) : 0;
    const wr = await writeObjects(w, east);
    const t0 = performance.now();
    rec.write_sec = round(wr.sec);
    if (wr.retries) rec.write_retries = wr.retries;
    progress(`  writes done in ${wr.sec.toFixed(1)} s`);

    if (mode === 'agent_full_sync') syncer = startFullSync(cfg, t0);
    else if (mode === 'rclone') syncer = startRclone(c, buckets, t0);
    const expected = await listing(east, buckets);
    const listed = [...expected.values()].reduce((n, l) => n + l.length, 0);
    if (listed !== w.buckets * w.perBucket) throw new Error(`us-east lists ${listed} objects after the writes, expected ${w.buckets * w.perBucket}`);

    let daemonGone: string | undefined;
    if (daemon) void daemon.agent.exited.then((code) => { daemonGone = `the daemon exited (${code})`; });
    const poll = await pollEqual(c, west, expected, t0, () => syncer?.gaveUp() ?? daemonGone);
    rec.equal_after_writes_sec = round(poll.sec);
    rec.polls = poll.polls;
    rec.mean_poll_ms = poll.mean_poll_ms;
    const cpu1 = daemonCpu(daemonSamplers);
    rec.ceph_daemon_cpu_sec_writes_to_equal = Object.fromEntries([...cpu1].map(([name, s]) => [name, round(s - (cpu0.get(name) ?? 0))]));
    const cont = mon.finish(cpus().length);
    rec.machine_contention = { ...cont, contended: cont.foreign_cpu_percent_of_machine > CONTENDED_PERCENT };
    progress(`  us-west equal ${poll.sec.toFixed(2)} s after the writes (${poll.polls} polls)`);

    if (syncer) {
      const s = syncer;
      syncer = undefined;
      Object.assign(rec, await s.finish());
    }
    if (daemon) {
      daemon.sampler.sample();
      rec.cpu_sec_writes_to_equal = round(daemon.sampler.stats.cpuUserSec + daemon.sampler.stats.cpuSysSec - agentCpu0);
      const code = await daemon.agent.kill('SIGTERM', 15_000);
      rec.daemon_exit_on_sigterm = code;
      Object.assign(rec, agentStats(daemon.sampler));
      if (code !== 0) rec.agent_output_tail = daemon.agent.tail().slice(-2000);
      daemon = undefined;
    }
    if (cfg) {
      progress('  rgw-agent verify');
      Object.assign(rec, await runVerify(cfg));
    }
    const dead = deadDaemons(c);
    if (dead) throw new Error(`Ceph daemon died: ${dead}`);
  } catch (e) {
    rec.error = (e as Error).message;
    if (e instanceof Timeout) rec.timed_out = true;
    // A write or listing that failed because a gateway crashed should say so, not only "fetch failed".
    const dead = cluster ? deadDaemons(cluster) : undefined;
    if (dead && !rec.error.includes('Ceph daemon died')) rec.error += `; Ceph daemon died: ${dead}`;
    if (dead || rec.error.includes('Ceph daemon died')) rec.ceph_daemon_died = true;
    rec.equal_after_writes_sec ??= null;
    progress(`  ${mode} FAILED: ${rec.error.slice(0, 500)}`);
    if (syncer) Object.assign(rec, await syncer.finish().catch((x: Error) => ({ finish_error: x.message })));
  } finally {
    if (daemon) {
      await daemon.agent.kill('SIGKILL');
      Object.assign(rec, agentStats(daemon.sampler));
      rec.agent_output_tail ??= daemon.agent.tail().slice(-2000);
    }
    for (const s of daemonSamplers.values()) s.stop();
    await Promise.all(clients.map((x) => x.close().catch(() => undefined)));
    const down = await clusterDown(releaseName);
    rec.cluster_down_sec = down.sec;
    if (down.error) rec.cluster_down_error = down.error;
    if (cluster) removeTempDir(cluster.tmp);
  }
  return rec;
}

// ---------------------------------------------------------------- ratios and targets

type Outcome = { sec: number } | { timedOutAfter: number } | undefined;

function outcome(r: ModeRecord | undefined): Outcome {
  if (!r) return undefined;
  if (typeof r.equal_after_writes_sec === 'number') return { sec: r.equal_after_writes_sec };
  if (r.timed_out) return { timedOutAfter: EQUAL_DEADLINE_MS / 1000 };
  return undefined;
}

/** agent ≤ factor × other, or null when a side has no figure; a timed-out side counts as slower than the deadline. */
function atMost(agent: Outcome, other: Outcome, factor: number): boolean | null {
  if (!agent || !other) return null;
  if ('timedOutAfter' in agent) return 'timedOutAfter' in other ? null : false;
  if ('sec' in other) return agent.sec <= factor * other.sec;
  return agent.sec <= factor * other.timedOutAfter ? true : null;
}

function ratio(agent: Outcome, other: Outcome): number | null {
  return agent && other && 'sec' in agent && 'sec' in other && other.sec > 0 ? round(agent.sec / other.sec, 3) : null;
}

function best(a: Outcome, b: Outcome): Outcome {
  const secs = [a, b].filter((x): x is { sec: number } => !!x && 'sec' in x).map((x) => x.sec);
  if (secs.length) return { sec: Math.min(...secs) };
  return a ?? b;
}

function ratios(res: Partial<Record<ModeName, ModeRecord>>): Record<string, number | null> {
  const [fs, dm, rc, bi] = [outcome(res.agent_full_sync), outcome(res.agent_daemon), outcome(res.rclone), outcome(res.builtin_sync)];
  const ag = best(fs, dm);
  return {
    agent_full_sync_vs_builtin: ratio(fs, bi), agent_daemon_vs_builtin: ratio(dm, bi),
    agent_full_sync_vs_rclone: ratio(fs, rc), agent_daemon_vs_rclone: ratio(dm, rc),
    best_agent_vs_builtin: ratio(ag, bi), best_agent_vs_rclone: ratio(ag, rc),
  };
}

function workloadTargets(res: Partial<Record<ModeName, ModeRecord>>): Record<string, boolean | null> {
  const [fs, dm, rc, bi] = [outcome(res.agent_full_sync), outcome(res.agent_daemon), outcome(res.rclone), outcome(res.builtin_sync)];
  const ag = best(fs, dm);
  return {
    agent_full_sync_at_most_half_of_builtin: atMost(fs, bi, 0.5), agent_daemon_at_most_half_of_builtin: atMost(dm, bi, 0.5), best_agent_at_most_half_of_builtin: atMost(ag, bi, 0.5),
    agent_full_sync_at_most_rclone: atMost(fs, rc, 1), agent_daemon_at_most_rclone: atMost(dm, rc, 1), best_agent_at_most_rclone: atMost(ag, rc, 1),
  };
}

/** All workloads met: true; any missed: false; otherwise (a side without figures) null. */
function allMet(xs: (boolean | null)[]): boolean | null {
  if (xs.some((x) => x === false)) return false;
  return xs.length > 0 && xs.every((x) => x === true) ? true : null;
}

// ---------------------------------------------------------------- main

const out: Record<string, unknown> = {};
const errors: string[] = [];

async function main(): Promise<number> {
  for (const m of MODES) if (!(MODE_NAMES as readonly string[]).includes(m)) throw new Error(`BENCH_CEPH_MODES names ${m}; known: ${MODE_NAMES.join(', ')}`);
  for (const o of ONLY) if (!WORKLOADS.some((w) => w.name === o)) throw new Error(`BENCH_CEPH_ONLY names ${o}; known: small, large`);
  if (COPY_MODE && COPY_MODE !== 'remote' && COPY_MODE !== 'stream') throw new Error(`BENCH_CEPH_COPY_MODE must be remote or stream, not ${COPY_MODE}`);
  if (!(PORT_BASE >= 1000 && PORT_BASE <= 50000)) throw new Error(`BENCH_CEPH_PORT_BASE must be 1000-50000 (0 would be test:ceph's default ports), not ${PORT_BASE}`);
  takeRunLock();
  Object.assign(out, {
    bench: 'rgw-agent bench:ceph',
    started_at: new Date().toISOString(),
    revision: gitRevision(),
    machine: { node: process.version, cpus: cpus().length, cpu_model: cpus()[0]?.model ?? null, mem_total_mb: Math.round(totalmem() / 2 ** 20), platform: `${platform()} ${osRelease()}` },
    config: {
      releases: RELEASES, modes: MODES,
      workloads: Object.fromEntries(WORKLOADS.filter((w) => ONLY.includes(w.name)).map((w) => [w.name, { buckets: w.buckets, objects_per_bucket: w.perBucket, object_bytes: w.size, write_concurrency: w.concurrency }])),
      writes: 'as the tester user on us-east, buckets created before the timed writes (on us-west for rclone; RGW forwards that to the master)',
      equal: `every bucket's us-west listing (keys, sizes, ETags) equals us-east's, polled every ${EQUAL_POLL_MS} ms; equal_after_writes_sec = end of the writes to the end of the first equal poll`,
      equal_deadline_sec: EQUAL_DEADLINE_MS / 1000,
      agent: `system keys, destination us-west, the agent's defaults${COPY_MODE ? `, copy_mode ${COPY_MODE}` : ' (copy_mode auto)'}; the daemon also metrics_port 0 (its /healthz tells when the start-up full sync is done)`,
      rclone: RCLONE ? { version: RCLONE, command: `rclone sync ${RCLONE_ARGS.join(' ')} --s3-no-check-bucket SRC:<bucket> DST:<bucket>, one bucket after another, system keys on both sides` } : 'not installed',
      ceph_test_dir: TEST_DIR, ports: PORTS, stop_timeout: STOP_TIMEOUT,
      units: 'seconds; MB = MiB of RSS; cpu_sec = user + system',
    },
  });
  const releases: Record<string, unknown> = {};
  out.releases = releases;
  const targets: Record<string, unknown> = {
    definition: 'per release, over every workload run: the faster agent mode reaches equal in at most half the time of Ceph\'s own multisite sync, and in at most rclone\'s time. null = a side has no figure (error, skipped, or both timed out); a timeout counts as slower than the deadline',
  };
  out.targets = targets;
  const contended: string[] = [];
  for (const rel of RELEASES) {
    const why = notReady(rel);
    if (why) {
      releases[rel] = { error: why };
      errors.push(`${rel}: ${why}`);
      progress(`${rel}: skipped: ${why}`);
      continue;
    }
    // A cluster a killed earlier run left behind in our own CEPH_TEST_DIR would hold our ports.
    if (existsSync(hostDirOf(rel))) {
      progress(`${rel}: bringing down what an earlier run left in ${hostDirOf(rel)}`);
      await clusterDown(rel);
    }
    const relOut: Record<string, unknown> = {};
    releases[rel] = relOut;
    const relTargets: Record<string, Record<string, boolean | null>> = {};
    for (const w of WORKLOADS) {
      if (!ONLY.includes(w.name)) continue;
      const wOut: Record<string, unknown> = { objects: w.buckets * w.perBucket, total_mb: round((w.buckets * w.perBucket * w.size) / 2 ** 20, 1) };
      relOut[w.name] = wOut;
      const res: Partial<Record<ModeName, ModeRecord>> = {};
      for (const mode of MODE_NAMES) {
        if (!MODES.includes(mode)) continue;
        const skip = skipReason(mode, rel);
        if (skip) {
          res[mode] = { skipped: skip };
        } else if (performance.now() - T0 > GLOBAL_DEADLINE_MS - 90_000) {
          res[mode] = { skipped: `not started: less than 90 s left of BENCH_CEPH_DEADLINE_MS (${GLOBAL_DEADLINE_MS} ms)` };
        } else {
          res[mode] = await runMode(rel, w, mode);
        }
        const r = res[mode];
        if (r?.error) errors.push(`${rel}/${w.name}/${mode}: ${r.error.slice(0, 300)}`);
        if ((r?.machine_contention as { contended?: boolean } | undefined)?.contended) contended.push(`${rel}/${w.name}/${mode}`);
        wOut[mode] = r;
        // The agent_full_sync writes run with nothing else going on: the clean write time.
        if (mode === 'agent_full_sync' && typeof r?.write_sec === 'number') wOut.write_sec = r.write_sec;
      }
      wOut.write_sec ??= Object.values(res).map((r) => r?.write_sec).find((x) => typeof x === 'number') ?? null;
      wOut.ratios = ratios(res);
      relTargets[w.name] = workloadTargets(res);
    }
    const ws = Object.values(relTargets);
    targets[rel] = {
      agent_at_most_half_of_builtin: allMet(ws.map((t) => t.best_agent_at_most_half_of_builtin)),
      agent_at_most_rclone: allMet(ws.map((t) => t.best_agent_at_most_rclone)),
      agent_daemon_at_most_half_of_builtin: allMet(ws.map((t) => t.agent_daemon_at_most_half_of_builtin)),
      agent_full_sync_at_most_rclone: allMet(ws.map((t) => t.agent_full_sync_at_most_rclone)),
      by_workload: relTargets,
    };
  }
  out.errors = errors;
  out.contended_modes = contended;
  if (contended.length) out.warning = `other processes used more than ${CONTENDED_PERCENT}% of the machine during: ${contended.join(', ')}; those figures are not comparable with a quiet run`;
  out.ok = errors.length === 0;
  out.total_sec = round(secSince(T0), 1);
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  return errors.length === 0 ? 0 : 1;
}

process.on('exit', finalCleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    progress(`${sig}: killing children and bringing our cluster down`);
    finalCleanup();
    process.stdout.write(`${JSON.stringify({ ...out, ok: false, errors: [...errors, `interrupted by ${sig}; only the modes above finished`], total_sec: round(secSince(T0), 1) }, null, 2)}\n`);
    process.exit(130);
  });
}
const watchdog = setTimeout(() => {
  progress(`global deadline of ${GLOBAL_DEADLINE_MS} ms reached: giving up`);
  finalCleanup();
  process.stdout.write(`${JSON.stringify({ ...out, ok: false, errors: [...errors, `global deadline ${GLOBAL_DEADLINE_MS} ms reached; only the modes above finished`], total_sec: round(secSince(T0), 1) }, null, 2)}\n`);
  process.exit(1);
}, GLOBAL_DEADLINE_MS);
watchdog.unref();

main().then((code) => {
  finalCleanup();
  process.exit(code);
}, (e: Error) => {
  progress(`bench:ceph failed: ${e.stack ?? String(e)}`);
  finalCleanup();
  process.exit(1);
});
