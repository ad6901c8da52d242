/**
 * `npm run bench`: full-sync throughput (two workloads, each against a same-run GET+PUT baseline and,
 * where Debian's rclone is installed, `rclone sync --transfers 32 --checkers 32` of the same zone),
 * incremental lag under a steady write load, and the agent's peak RSS. Zones and the agent run as
 * real processes (`node dist/src/cli.js ...`) on 127.0.0.1. One JSON document goes to stdout;
 * progress goes to stderr. Every phase is bounded in time; children are killed and temp dirs
 * removed on exit or failure. Use `npm run -s bench` (or `node dist/bench/run.js`) when stdout must
 * be only the JSON: plain `npm run` prints its own banner on stdout first.
 *
 * Knobs (environment): BENCH_ONLY=small,large,inc   BENCH_REPS=3   BENCH_INC_DELAYS=0,0.5,1   BENCH_INC_RATE=20   BENCH_COPY_MODE=remote|stream
 * BENCH_OBJECT_CONCURRENCY=N (the agent's object_concurrency)
 * BENCH_ONLY=scale (bench/scale.ts; never in the default list: it takes many minutes) and its
 * BENCH_SCALE_OBJECTS=100000   BENCH_SCALE_BILOG_ENTRIES=1000000   BENCH_SCALE_DEADLINE_MS=3600000 (each step)
 * BENCH_DEADLINE_MS=540000 (+ 4 scale step deadlines with scale)   BENCH_CHILD_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (profiles
 * every zone and agent process). Each phase reports `machine_contention`: CPU used by processes
 * other than the bench's during it; a contended phase is listed in `contended_phases`.
 */
import { cpus, totalmem, release, platform } from 'node:os';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { cleanupAll, ContentionMonitor, gitRevision, ProcSampler, RCLONE_ARGS, rcloneVersion, startCli, type ProcStats } from './procs.js';
import { startRealm, type Realm } from './zones.js';
import { BenchClient, pool, type Listed } from './s3.js';
import { runScale, scaleBudgetMs } from './scale.js';

const MB = 1e6;
const T0 = performance.now();
const GLOBAL_DEADLINE_MS = Number(process.env.BENCH_DEADLINE_MS ?? 9 * 60_000 + ((process.env.BENCH_ONLY ?? '').split(',').some((p) => p.trim() === 'scale') ? scaleBudgetMs() : 0));
/** The agent's default object_concurrency: the baseline copies with the same parallelism. */
const BASELINE_CONCURRENCY = 16;
/** Full-sync repetitions per workload (fresh destination zones each time); figures are medians. */
const REPS = Math.max(1, Number(process.env.BENCH_REPS ?? 3));
/** The primary incremental run uses delay 0; the shipped default (0.5) and 1 are measured as well for comparison. */
const INC_DELAYS = (process.env.BENCH_INC_DELAYS ?? '0,0.5,1').split(',').map(Number).filter((n) => Number.isFinite(n) && n >= 0);
/** Comma list of phases to run: small, large, inc (default: these three), scale. */
const ONLY = new Set((process.env.BENCH_ONLY ?? 'small,large,inc').split(',').map((s) => s.trim()));
/** PUTs per second of the incremental load (BENCH_INC_RATE). */
const INC_RATE = Math.max(1, Number(process.env.BENCH_INC_RATE ?? 20));
const INC_SECONDS = 20;
const INC_POLL_MS = 20;
const INC_KEY_DEADLINE_MS = 30_000;
/** At most this many destination GETs in flight for the lag probe, so the observer cannot swamp the zone. */
const INC_MAX_POLLS_IN_FLIGHT = 8;
/** A phase where other processes used more than this share of the machine is flagged as contended. */
const CONTENDED_PERCENT = 10;
const NCPU = cpus().length;
/** BENCH_COPY_MODE=remote|stream forces the agent's copy_mode (default: the agent's own default, auto). */
const AGENT_EXTRA: Record<string, string | number> = {
  ...(process.env.BENCH_COPY_MODE ? { copy_mode: process.env.BENCH_COPY_MODE } : {}),
  ...(process.env.BENCH_OBJECT_CONCURRENCY ? { object_concurrency: Number(process.env.BENCH_OBJECT_CONCURRENCY) } : {}),
};

function progress(msg: string): void {
  process.stderr.write(`[bench ${((performance.now() - T0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const round = (n: number, d = 2) => (Number.isFinite(n) ? Math.round(n * 10 ** d) / 10 ** d : null);

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, rej) => { t = setTimeout(() => rej(new Error(`${what}: timed out after ${ms} ms`)), ms); })]).finally(() => clearTimeout(t));
}

interface Workload { name: string; buckets: number; objects: number; size: number; populateConcurrency: number; sample: number; deadlineMs: number }

const WORKLOADS: Workload[] = [
  { name: 'small_4KiB_x5000_10_buckets', buckets: 10, objects: 5000, size: 4096, populateConcurrency: 16, sample: 50, deadlineMs: 240_000 },
  { name: 'large_32MiB_x20_1_bucket', buckets: 1, objects: 20, size: 32 * 1024 * 1024, populateConcurrency: 4, sample: 5, deadlineMs: 180_000 },
];

function bucketName(w: Workload, b: number): string {
  return `bench-${w.size >= MB ? 'large' : 'small'}-${String(b).padStart(2, '0')}`;
}

/** Generated on the fly, 1 MiB at a time: memory stays bounded whatever the object size. */
async function* randomBody(size: number): AsyncGenerator<Uint8Array> {
  const CHUNK = 1024 * 1024;
  for (let left = size; left > 0; left -= CHUNK) yield randomBytes(Math.min(CHUNK, left));
}

async function populate(w: Workload, src: BenchClient): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  for (let b = 0; b < w.buckets; b++) await src.createBucket(bucketName(w, b));
  const jobs = function* () {
    for (let i = 0; i < w.objects; i++) yield i;
  };
  let done = 0;
  await pool(jobs(), w.populateConcurrency, async (i) => {
    const bucket = bucketName(w, i % w.buckets);
    const key = `obj-${String(i).padStart(6, '0')}`;
    if (w.size <= 64 * 1024) await src.put(bucket, key, randomBytes(w.size));
    else await src.put(bucket, key, { stream: randomBody(w.size), length: w.size });
    if (++done % Math.max(1, Math.floor(w.objects / 5)) === 0) progress(`  populated ${done}/${w.objects}`);
  });
  const sec = (performance.now() - t0) / 1000;
  return { sec: round(sec), objects_s: round(w.objects / sec, 1), mb_s: round((w.objects * w.size) / MB / sec, 1), concurrency: w.populateConcurrency };
}

async function listBuckets(w: Workload, c: BenchClient): Promise<Map<string, Listed[]>> {
  const out = new Map<string, Listed[]>();
  for (let b = 0; b < w.buckets; b++) out.set(bucketName(w, b), await c.listAll(bucketName(w, b)));
  return out;
}

/** Every object present with the source's ETag and size (from listings), plus bytes of a sample re-hashed. */
async function verify(w: Workload, expected: Map<string, Listed[]>, c: BenchClient): Promise<Record<string, unknown>> {
  let expectedCount = 0;
  let found = 0;
  let missing = 0;
  let etagMismatch = 0;
  let sizeMismatch = 0;
  let extra = 0;
  const all: [string, Listed][] = [];
  for (const [bucket, objs] of expected) {
    const got = new Map((await c.listAll(bucket)).map((o) => [o.key, o]));
    for (const o of objs) {
      expectedCount++;
      all.push([bucket, o]);
      const g = got.get(o.key);
      if (!g) { missing++; continue; }
      found++;
      if (g.etag !== o.etag) etagMismatch++;
      if (g.size !== o.size) sizeMismatch++;
      got.delete(o.key);
    }
    extra += got.size;
  }
  // Sample spread evenly over all objects; the bytes served are hashed and compared with the source ETag.
  const sample: [string, Listed][] = [];
  const n = Math.min(w.sample, all.length);
  for (let i = 0; i < n; i++) sample.push(all[Math.floor((i * all.length) / n)]);
  let sampleOk = 0;
  const sampleBad: string[] = [];
  await pool(sample, 4, async ([bucket, o]) => {
    const r = await c.bodyMd5(bucket, o.key);
    if (r.status === 200 && r.md5 === o.etag && r.etag === o.etag && r.size === o.size) sampleOk++;
    else sampleBad.push(`${bucket}/${o.key}: status ${r.status} md5 ${r.md5} etag ${r.etag} size ${r.size} (want ${o.etag} ${o.size})`);
  });
  const ok = expectedCount === w.objects && found === expectedCount && etagMismatch === 0 && sizeMismatch === 0 && extra === 0 && sampleOk === n;
  return {
    ok, expected: expectedCount, found, missing, etag_mismatch: etagMismatch, size_mismatch: sizeMismatch, extra,
    sample_body_md5_checked: n, sample_body_md5_ok: sampleOk, ...(sampleBad.length ? { sample_bad: sampleBad.slice(0, 5) } : {}),
  };
}

function cpuSec(s: ProcStats | undefined): number {
  return s ? s.cpuUserSec + s.cpuSysSec : 0;
}

function zoneCpuDelta(before: Record<string, ProcStats>, after: Record<string, ProcStats>): Record<string, number | null> {
  return Object.fromEntries(Object.keys(after).map((z) => [z, round(cpuSec(after[z]) - cpuSec(before[z]))]));
}

function snapshotZones(realm: Realm): Record<string, ProcStats> {
  for (const z of Object.values(realm.zones)) z.sampler.sample();
  return realm.zoneStats();
}

interface AgentRun {
  exit_code: number | string;
  wall_sec: number;
  internal_full_sync_sec: number | null;
  logged_summary: string | null;
  effective_modes: { state_store: string; copy_mode: string } | null;
  log_line_times_sec: Record<string, number | null>;
  peak_rss_mb: number;
  cpu_sec: number;
  zone_cpu_sec_during_run: Record<string, number | null>;
  output_tail?: string;
}

/** One `full-sync` process into the fresh zone `dstName`, timed from spawn to exit. */
async function runAgentFullSync(realm: Realm, dstName: string, w: Workload): Promise<{ run: AgentRun; config: Record<string, unknown> }> {
  const { file, config } = realm.agentConfig(`full-sync-${dstName}`, realm.zones[dstName].url, { rgw_data_log_window: 0, ...AGENT_EXTRA });
  const zBefore = snapshotZones(realm);
  let internal: number | null = null;
  let logged: string | null = null;
  let effective: { state_store: string; copy_mode: string } | null = null;
  const marks: Record<string, number> = {};
  const t0 = performance.now();
  const agent = startCli('agent full-sync', ['full-sync', '-c', file, '--log-format', 'text', '--log-level', 'info'], (line) => {
    const at = (performance.now() - t0) / 1000;
    if (/syncing .* -> /.test(line)) marks.context_ready ??= at;
    const eff = /using state store (\S+).*, copy mode (\S+)/.exec(line);
    if (eff) effective = { state_store: eff[1], copy_mode: eff[2] };
    if (/full sync: \d+ metadata entries/.test(line)) marks.metadata_listed ??= at;
    if (/full sync: \d+ buckets in/.test(line)) marks.data_phase_started ??= at;
    const m = /full sync finished in ([\d.]+)s: (.*)$/.exec(line);
    if (m) { internal = Number(m[1]); logged = m[2]; marks.finished_logged ??= at; }
  });
  const sampler = new ProcSampler(agent.pid, 50);
  let code: number | string;
  try {
    code = await withTimeout(agent.exited, w.deadlineMs, 'agent full-sync');
  } catch (e) {
    sampler.stop();
    await agent.kill('SIGKILL');
    throw new Error(`${(e as Error).message}; output tail:\n${agent.tail().slice(-2000)}`);
  }
  const wall = (performance.now() - t0) / 1000;
  const st = sampler.stop();
  const zAfter = snapshotZones(realm);
  return {
    config,
    run: {
      exit_code: code,
      wall_sec: round(wall, 3) ?? wall,
      internal_full_sync_sec: internal,
      logged_summary: logged,
      effective_modes: effective,
      log_line_times_sec: Object.fromEntries(Object.entries(marks).map(([k, v]) => [k, round(v, 3)])),
      peak_rss_mb: round(Math.max(st.hwmMb, st.peakRssMb), 1) ?? 0,
      cpu_sec: round(st.cpuUserSec + st.cpuSysSec) ?? 0,
      zone_cpu_sec_during_run: zoneCpuDelta(zBefore, zAfter),
      ...(code !== 0 ? { output_tail: agent.tail().slice(-2000) } : {}),
    },
  };
}

/** The straightforward copy: list the source, then GET each object and stream it into a PUT on `baseName`. */
async function runBaseline(realm: Realm, baseName: string, w: Workload, src: BenchClient): Promise<Record<string, unknown> & { wall_sec: number }> {
  const base = new BenchClient(realm.zones[baseName].url, realm.sys, BASELINE_CONCURRENCY + 4);
  try {
    const zb = snapshotZones(realm);
    const b0 = performance.now();
    const todo: [string, string][] = [];
    for (let b = 0; b < w.buckets; b++) {
      const bucket = bucketName(w, b);
      await base.createBucket(bucket);
      for (const o of await src.listAll(bucket)) todo.push([bucket, o.key]);
    }
    await withTimeout(pool(todo, BASELINE_CONCURRENCY, async ([bucket, key]) => {
      const g = await src.getStream(bucket, key);
      if (g.status !== 200) {
        await g.body.dump();
        throw new Error(`baseline GET ${bucket}/${key}: ${g.status}`);
      }
      const etag = await base.put(bucket, key, { stream: g.body, length: g.length });
      if (etag !== g.etag) throw new Error(`baseline PUT ${bucket}/${key}: ETag ${etag}, source ${g.etag}`);
    }), w.deadlineMs, 'baseline copy');
    const wall = (performance.now() - b0) / 1000;
    return { wall_sec: round(wall, 3) ?? wall, zone_cpu_sec_during_run: zoneCpuDelta(zb, snapshotZones(realm)) };
  } finally {
    await base.close();
  }
}

/** Debian's rclone, when installed: `rclone sync` of every bucket into `name`, as a user would pick it instead. */
const RCLONE = rcloneVersion();

async function runRclone(realm: Realm, name: string, w: Workload): Promise<Record<string, unknown> & { wall_sec: number; exit_code: number | null }> {
  const remote = (prefix: string, url: string): Record<string, string> => ({
    [`RCLONE_CONFIG_${prefix}_TYPE`]: 's3', [`RCLONE_CONFIG_${prefix}_PROVIDER`]: 'Ceph', [`RCLONE_CONFIG_${prefix}_ENDPOINT`]: url,
    [`RCLONE_CONFIG_${prefix}_ACCESS_KEY_ID`]: realm.sys.accessKey, [`RCLONE_CONFIG_${prefix}_SECRET_ACCESS_KEY`]: realm.sys.secretKey,
    [`RCLONE_CONFIG_${prefix}_REGION`]: 'us-east-1',
  });
  const env: NodeJS.ProcessEnv = { ...process.env, ...remote('SRC', realm.zones['us-east'].url), ...remote('DST', realm.zones[name].url) };
  // A CA bundle meant for HTTPS elsewhere makes rclone's S3 client refuse its plain-HTTP transport.
  delete env.AWS_CA_BUNDLE;
  const zb = snapshotZones(realm);
  const t0 = performance.now();
  let exit: number | null = 0;
  let stderr = '';
  // One `rclone sync` of the whole zone (every bucket), as a user would run it.
  await withTimeout(new Promise<void>((resolve) => {
    const child = spawn('rclone', ['sync', ...RCLONE_ARGS, 'SRC:', 'DST:'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('exit', (code) => {
      exit = code;
      resolve();
    });
  }), w.deadlineMs, 'rclone sync');
  const wall = (performance.now() - t0) / 1000;
  return { wall_sec: round(wall, 3) ?? wall, exit_code: exit, zone_cpu_sec_during_run: zoneCpuDelta(zb, snapshotZones(realm)), ...(exit !== 0 ? { stderr_tail: stderr.slice(-1500) } : {}) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * One workload: populate the source once, then REPS repetitions, each into two fresh zones (one for
 * the agent, one for the baseline), alternating which goes first. Figures are medians over the reps.
 */
async function fullSyncWorkload(w: Workload): Promise<Record<string, unknown>> {
  const bytes = w.objects * w.size;
  const label = w.size >= MB ? 'large' : 'small';
  const reps = Array.from({ length: REPS }, (_, i) => i + 1);
  const names = ['us-east', ...reps.flatMap((r) => [`us-west-${r}`, `us-base-${r}`, ...(RCLONE ? [`us-rclone-${r}`] : [])])];
  progress(`workload ${w.name}: source zone us-east; ${REPS} repetitions, each into fresh zones us-west-<n> (agent) and us-base-<n> (baseline)`);
  const realm = await startRealm(label, names, ['us-east']);
  const src = new BenchClient(realm.zones['us-east'].url, realm.sys, 32);
  const result: Record<string, unknown> = { objects: w.objects, object_bytes: w.size, buckets: w.buckets, total_mb: round(bytes / MB, 1), repetitions: REPS };
  try {
    progress(`  populating the source: ${w.objects} x ${w.size} bytes over ${w.buckets} bucket(s)`);
    result.populate = await populate(w, src);
    const expected = await listBuckets(w, src);
    const runs: Record<string, unknown>[] = [];
    const agentRuns: AgentRun[] = [];
    const baseWalls: number[] = [];
    const rcloneWalls: number[] = [];
    let allOk = true;
    for (const r of reps) {
      const [dstName, baseName] = [`us-west-${r}`, `us-base-${r}`];
      const z0 = performance.now();
      await Promise.all([realm.startZone(dstName), realm.startZone(baseName)]);
      progress(`  rep ${r}: fresh zones ${dstName}, ${baseName} up in ${((performance.now() - z0) / 1000).toFixed(1)} s`);
      const order = r % 2 === 1 ? ['agent', 'baseline'] : ['baseline', 'agent'];
      const rec: Record<string, unknown> = { rep: r, order: order.join(' then ') };
      if (RCLONE) {
        // rclone last, into its own fresh zone.
        const rcName = `us-rclone-${r}`;
        await realm.startZone(rcName);
        const rcClient = new BenchClient(realm.zones[rcName].url, realm.sys, 4);
        for (let b = 0; b < w.buckets; b++) await rcClient.createBucket(bucketName(w, b));
        await rcClient.close();
        order.push('rclone');
      }
      for (const what of order) {
        if (what === 'agent') {
          progress(`  rep ${r}: agent full-sync into ${dstName}`);
          const { run, config } = await runAgentFullSync(realm, dstName, w);
          result.agent_config ??= config;
          agentRuns.push(run);
          const dst = new BenchClient(realm.zones[dstName].url, realm.sys, 8);
          const v = await verify(w, expected, dst).finally(() => dst.close());
          if (!v.ok || run.exit_code !== 0) allOk = false;
          rec.agent = { ...run, verify: v };
          progress(`  rep ${r}: agent ${run.wall_sec} s (${round(w.objects / run.wall_sec, 1)} obj/s, ${round(bytes / MB / run.wall_sec, 1)} MB/s), exit ${run.exit_code}, peak RSS ${run.peak_rss_mb} MB, verify ${v.ok ? 'ok' : 'FAILED'}`);
        } else if (what === 'rclone') {
          const rcName = `us-rclone-${r}`;
          progress(`  rep ${r}: rclone sync ${RCLONE_ARGS.join(' ')} into ${rcName}`);
          const rc = await runRclone(realm, rcName, w);
          rcloneWalls.push(rc.wall_sec);
          const dstc = new BenchClient(realm.zones[rcName].url, realm.sys, 8);
          const v = await verify(w, expected, dstc).finally(() => dstc.close());
          if (!v.ok || rc.exit_code !== 0) allOk = false;
          rec.rclone = { ...rc, verify: v };
          progress(`  rep ${r}: rclone ${rc.wall_sec} s (${round(w.objects / rc.wall_sec, 1)} obj/s), exit ${rc.exit_code}, verify ${v.ok ? 'ok' : 'FAILED'}`);
        } else {
          progress(`  rep ${r}: baseline GET+PUT copy into ${baseName}, concurrency ${BASELINE_CONCURRENCY}`);
          const b = await runBaseline(realm, baseName, w, src);
          baseWalls.push(b.wall_sec);
          const base = new BenchClient(realm.zones[baseName].url, realm.sys, 8);
          const v = await verify(w, expected, base).finally(() => base.close());
          if (!v.ok) allOk = false;
          rec.baseline = { ...b, verify: v };
          progress(`  rep ${r}: baseline ${b.wall_sec} s (${round(w.objects / b.wall_sec, 1)} obj/s, ${round(bytes / MB / b.wall_sec, 1)} MB/s), verify ${v.ok ? 'ok' : 'FAILED'}`);
        }
      }
      const aw = (rec.agent as AgentRun).wall_sec;
      rec.ratio_agent_to_baseline = round(baseWalls[baseWalls.length - 1] / aw, 3);
      if (RCLONE) rec.ratio_agent_to_rclone = (rec.rclone as { verify: { ok: boolean } }).verify.ok ? round(rcloneWalls[rcloneWalls.length - 1] / aw, 3) : null;
      runs.push(rec);
      const s0 = performance.now();
      await Promise.all([realm.stopZone(dstName), realm.stopZone(baseName), ...(RCLONE ? [realm.stopZone(`us-rclone-${r}`)] : [])]);
      progress(`  rep ${r}: destination zones stopped and removed in ${((performance.now() - s0) / 1000).toFixed(1)} s`);
    }
    const aWall = median(agentRuns.map((a) => a.wall_sec));
    const aInternal = median(agentRuns.map((a) => a.internal_full_sync_sec ?? NaN));
    const bWall = median(baseWalls);
    const ratios = runs.map((x) => x.ratio_agent_to_baseline as number);
    result.verified = allOk;
    result.agent = {
      wall_sec_median: round(aWall, 3),
      objects_s: round(w.objects / aWall, 1),
      mb_s: round(bytes / MB / aWall, 1),
      internal_full_sync_sec_median: round(aInternal, 2),
      wall_sec_per_rep: agentRuns.map((a) => a.wall_sec),
      exit_codes: agentRuns.map((a) => a.exit_code),
      peak_rss_mb: Math.max(...agentRuns.map((a) => a.peak_rss_mb)),
      peak_rss_mb_per_rep: agentRuns.map((a) => a.peak_rss_mb),
      cpu_sec_median: round(median(agentRuns.map((a) => a.cpu_sec))),
    };
    result.baseline = {
      method: `list source, then per object GET (source) streamed into PUT (fresh zone us-base-<n>), ${BASELINE_CONCURRENCY} in flight, SigV4 UNSIGNED-PAYLOAD`,
      concurrency: BASELINE_CONCURRENCY,
      wall_sec_median: round(bWall, 3),
      objects_s: round(w.objects / bWall, 1),
      mb_s: round(bytes / MB / bWall, 1),
      wall_sec_per_rep: baseWalls,
    };
    result.ratio_agent_to_baseline = {
      mb_s: round(bWall / aWall, 3),
      objects_s: round(bWall / aWall, 3),
      per_rep: ratios,
      min: Math.min(...ratios),
      max: Math.max(...ratios),
      using_agent_internal_time: round(bWall / aInternal, 3),
    };
    if (RCLONE) {
      const rWall = median(rcloneWalls);
      result.rclone = { version: RCLONE, args: RCLONE_ARGS, method: 'one `rclone sync SRC: DST:` of every bucket into a fresh zone us-rclone-<n>', wall_sec_median: round(rWall, 3), objects_s: round(w.objects / rWall, 1), mb_s: round(bytes / MB / rWall, 1), wall_sec_per_rep: rcloneWalls };
      result.ratio_agent_to_rclone = { objects_s: round(rWall / aWall, 3), per_rep: runs.map((x) => x.ratio_agent_to_rclone) };
    } else {
      result.rclone = { skipped: 'rclone is not installed (Debian: apt-get install rclone)' };
    }
    result.runs = runs;
  } finally {
    await src.close();
    await realm.close();
  }
  return result;
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

async function waitVisible(c: BenchClient, bucket: string, key: string, etag: string, deadlineMs: number): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const r = await c.probe(bucket, key);
    if (r.status === 200 && r.etag === etag) return;
    if (Date.now() > end) throw new Error(`${bucket}/${key} did not reach the destination within ${deadlineMs} ms`);
    await sleep(50);
  }
}

async function incrementalLag(delay: number): Promise<Record<string, unknown>> {
  const BUCKETS = 4;
  progress(`incremental (incremental_sync_delay ${delay}): starting zones us-east (source), us-west (destination); ${BUCKETS} buckets`);
  const realm = await startRealm('inc', ['us-east', 'us-west']);
  const src = new BenchClient(realm.zones['us-east'].url, realm.sys, 32);
  const dst = new BenchClient(realm.zones['us-west'].url, realm.sys, 64);
  const result: Record<string, unknown> = {};
  try {
    const buckets = Array.from({ length: BUCKETS }, (_, i) => `bench-inc-${i}`);
    const seeds: [string, string][] = [];
    for (const b of buckets) {
      await src.createBucket(b);
      seeds.push([b, await src.put(b, 'seed', randomBytes(4096))]);
    }
    const { file, config } = realm.agentConfig('sync', realm.zones['us-west'].url, { rgw_data_log_window: 0, incremental_sync_delay: delay, ...AGENT_EXTRA });
    result.agent_config = config;
    let passes = 0;
    const daemon = startCli('agent sync', ['sync', '-c', file, '--log-format', 'text', '--log-level', 'info'], (line) => {
      if (/\bpass: /.test(line)) passes++;
      const eff = /using state store (\S+).*, copy mode (\S+)/.exec(line);
      if (eff) result.effective_modes = { state_store: eff[1], copy_mode: eff[2] };
    });
    const sampler = new ProcSampler(daemon.pid, 100);
    try {
      const d0 = performance.now();
      progress('  waiting for the daemon\'s initial full sync');
      await daemon.waitForLine(/full sync/, 30_000);
      for (const [b, etag] of seeds) await waitVisible(dst, b, 'seed', etag, 60_000);
      // One object through the incremental path proves the daemon is in its pass loop.
      const wEtag = await src.put(buckets[0], 'warmup', randomBytes(4096));
      await waitVisible(dst, buckets[0], 'warmup', wEtag, 60_000);
      result.initial_sync_and_warmup_sec = round((performance.now() - d0) / 1000);

      // Idle cost of the pass loop: agent and zone CPU over 3 s with no writes.
      sampler.sample();
      const idleA0cpu = cpuSec(sampler.stats);
      const idleZ0 = snapshotZones(realm);
      await sleep(3000);
      sampler.sample();
      const idleZ1 = snapshotZones(realm);
      result.idle_cpu_percent_3s = {
        agent: round(((cpuSec(sampler.stats) - idleA0cpu) / 3) * 100, 1),
        ...Object.fromEntries(Object.entries(zoneCpuDelta(idleZ0, idleZ1)).map(([z, s]) => [z, round(((s ?? 0) / 3) * 100, 1)])),
      };

      const n = INC_RATE * INC_SECONDS;
      progress(`  load: ${n} PUTs of 4 KiB at ${INC_RATE}/s over ${BUCKETS} buckets; polling the destination every ${INC_POLL_MS} ms per pending key`);
      const lagsAck: number[] = [];
      const lagsStart: number[] = [];
      const putMs: number[] = [];
      let timeouts = 0;
      let putErrors = 0;
      let polls = 0;
      let pending = 0;
      let maxPending = 0;
      let pollsInFlight = 0;
      let pollWaits = 0;
      const pollQueue: (() => void)[] = [];
      const acquirePoll = async () => {
        if (pollsInFlight < INC_MAX_POLLS_IN_FLIGHT) { pollsInFlight++; return; }
        pollWaits++;
        await new Promise<void>((r) => pollQueue.push(r));
      };
      const releasePoll = () => {
        const next = pollQueue.shift();
        if (next) next(); // the slot passes straight to the next waiter
        else pollsInFlight--;
      };
      const loadA0 = cpuSec(sampler.stats);
      const loadZ0 = snapshotZones(realm);
      const l0 = performance.now();
      const tasks: Promise<void>[] = [];
      for (let i = 0; i < n; i++) {
        const due = l0 + (i * 1000) / INC_RATE;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        tasks.push((async () => {
          const bucket = buckets[i % BUCKETS];
          const key = `inc-${String(i).padStart(5, '0')}`;
          const tStart = performance.now();
          let etag: string;
          try {
            etag = await src.put(bucket, key, randomBytes(4096));
          } catch {
            putErrors++;
            return;
          }
          const tAck = performance.now();
          putMs.push(tAck - tStart);
          pending++;
          maxPending = Math.max(maxPending, pending);
          try {
            for (;;) {
              polls++;
              await acquirePoll();
              let r: { status: number; etag: string };
              try {
                r = await dst.probe(bucket, key);
              } finally {
                releasePoll();
              }
              const now = performance.now();
              if (r.status === 200 && r.etag === etag) {
                lagsAck.push(now - tAck);
                lagsStart.push(now - tStart);
                return;
              }
              if (now - tAck > INC_KEY_DEADLINE_MS) { timeouts++; return; }
              await sleep(INC_POLL_MS);
            }
          } finally {
            pending--;
          }
        })());
      }
      const loadSec = (performance.now() - l0) / 1000;
      await Promise.all(tasks);
      const allSec = (performance.now() - l0) / 1000;
      sampler.sample();
      const loadZ1 = snapshotZones(realm);
      lagsAck.sort((a, b) => a - b);
      lagsStart.sort((a, b) => a - b);
      putMs.sort((a, b) => a - b);
      const stats = (a: number[]) => ({ p50: round(percentile(a, 50) ?? NaN, 1), p95: round(percentile(a, 95) ?? NaN, 1), p99: round(percentile(a, 99) ?? NaN, 1), max: round(a.at(-1) ?? NaN, 1), mean: round(a.reduce((s, x) => s + x, 0) / (a.length || 1), 1) });
      result.load = { puts: n, target_rate_per_s: INC_RATE, achieved_rate_per_s: round(n / loadSec, 1), seconds: round(loadSec, 1), buckets: BUCKETS, object_bytes: 4096, put_errors: putErrors };
      result.lag_ms = { samples: lagsAck.length, timeouts, measured_from: 'source PUT acknowledged -> first destination GET 200 with the same ETag', ...stats(lagsAck) };
      result.lag_from_put_start_ms = stats(lagsStart);
      result.source_put_latency_ms = stats(putMs);
      result.polling = {
        interval_ms: INC_POLL_MS, max_in_flight: INC_MAX_POLLS_IN_FLIGHT, requests: polls, per_s: round(polls / allSec, 1),
        polls_that_waited_for_a_slot: pollWaits, max_pending_keys: maxPending, per_key_deadline_ms: INC_KEY_DEADLINE_MS,
      };
      result.cpu_during_load_sec = { agent: round(cpuSec(sampler.stats) - loadA0), ...zoneCpuDelta(loadZ0, loadZ1), window_sec: round(allSec, 1) };
      result.agent_pass_lines_logged = passes;
      progress(`  lag p50 ${percentile(lagsAck, 50)?.toFixed(0)} ms, p99 ${percentile(lagsAck, 99)?.toFixed(0)} ms, ${lagsAck.length} samples, ${timeouts} timeouts`);
    } finally {
      const code = await daemon.kill('SIGTERM', 10_000);
      const st = sampler.stop();
      result.agent_exit_on_sigterm = code;
      result.agent_peak_rss_mb = round(Math.max(st.hwmMb, st.peakRssMb), 1);
      result.agent_cpu_sec_total = round(st.cpuUserSec + st.cpuSysSec);
    }
  } finally {
    await Promise.all([src.close(), dst.close()]);
    await realm.close();
  }
  return result;
}

const contendedPhases: string[] = [];

function contention(mon: ContentionMonitor, phase: string): Record<string, unknown> {
  const c = mon.finish(NCPU);
  const contended = c.foreign_cpu_percent_of_machine > CONTENDED_PERCENT;
  if (contended) {
    contendedPhases.push(phase);
    progress(`  WARNING: other processes used ${c.foreign_cpu_percent_of_machine}% of the machine during ${phase} (load ${c.loadavg_1m_end})`);
  }
  return { ...c, contended };
}

/** The report so far: the watchdog prints it (marked failed) if the global deadline hits. */
const out: Record<string, unknown> = {};

async function main(): Promise<number> {
  Object.assign(out, {
    bench: 'rgw-agent',
    started_at: new Date().toISOString(),
    git_revision: gitRevision(),
    machine: {
      node: process.version, cpus: cpus().length, cpu_model: cpus()[0]?.model ?? null,
      mem_total_mb: Math.round(totalmem() / 2 ** 20), platform: `${platform()} ${release()}`,
    },
    units: { mb: '1e6 bytes', times: 'wall clock; agent wall_sec = spawn of `full-sync` to its exit (includes node start-up)' },
    config: {
      workloads: WORKLOADS.map((w) => ({ name: w.name, objects: w.objects, object_bytes: w.size, buckets: w.buckets })),
      zones: 'embedded zones as separate processes (`zone serve`), realm data_log_window 0, default shard counts (64 metadata, 128 data), --log-level warn',
      agent_defaults_in_effect: { num_workers: 4, object_concurrency: 16, max_entries: 1000 },
      agent_config_overrides: AGENT_EXTRA,
      baseline_concurrency: BASELINE_CONCURRENCY,
      full_sync_repetitions: REPS,
      incremental: { incremental_sync_delay: INC_DELAYS, primary: 'incremental = first delay; incremental_delay_<n> = the others', rgw_data_log_window: 0, rate_per_s: INC_RATE, seconds: INC_SECONDS, poll_ms: INC_POLL_MS, buckets: 4 },
      phases: [...ONLY],
    },
  });
  let failed = false;
  const full: Record<string, unknown> = {};
  out.full_sync = full;
  for (const w of WORKLOADS) {
    if (!ONLY.has(w.size >= MB ? 'large' : 'small')) continue;
    const mon = new ContentionMonitor();
    try {
      full[w.name] = await fullSyncWorkload(w);
      (full[w.name] as Record<string, unknown>).machine_contention = contention(mon, `full sync ${w.name}`);
      if ((full[w.name] as { verified?: boolean }).verified !== true) failed = true;
    } catch (e) {
      failed = true;
      full[w.name] = { error: (e as Error).message };
      progress(`workload ${w.name} failed: ${(e as Error).message}`);
    }
  }
  for (const [i, delay] of INC_DELAYS.entries()) {
    if (!ONLY.has('inc')) break;
    const name = i === 0 ? 'incremental' : `incremental_delay_${delay}`;
    const mon = new ContentionMonitor();
    try {
      out[name] = { incremental_sync_delay: delay, ...(await incrementalLag(delay)) };
      (out[name] as Record<string, unknown>).machine_contention = contention(mon, `incremental delay ${delay}`);
      const inc = out[name] as { lag_ms?: { timeouts: number; samples: number } };
      if (!inc.lag_ms || inc.lag_ms.timeouts > 0 || inc.lag_ms.samples === 0) failed = true;
    } catch (e) {
      failed = true;
      out[name] = { incremental_sync_delay: delay, error: (e as Error).message };
      progress(`incremental phase (delay ${delay}) failed: ${(e as Error).message}`);
    }
  }
  if (ONLY.has('scale')) {
    try {
      const scale = await runScale({ progress, contention });
      out.scale = scale.result;
      if (!scale.ok) failed = true;
    } catch (e) {
      failed = true;
      out.scale = { error: (e as Error).message };
      progress(`scale phase failed: ${(e as Error).message}`);
    }
  }
  out.ok = !failed;
  out.contended_phases = contendedPhases;
  if (contendedPhases.length > 0) out.warning = `other processes used more than ${CONTENDED_PERCENT}% of the machine during: ${contendedPhases.join(', ')}; those figures are not comparable with a quiet run`;
  out.total_sec = round((performance.now() - T0) / 1000, 1);
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  return failed ? 1 : 0;
}

process.on('exit', cleanupAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    progress(`${sig}: killing children and removing temp dirs`);
    cleanupAll();
    process.exit(130);
  });
}
const watchdog = setTimeout(() => {
  progress(`global deadline of ${GLOBAL_DEADLINE_MS} ms reached: giving up`);
  process.stdout.write(`${JSON.stringify({ ...out, ok: false, error: `global deadline ${GLOBAL_DEADLINE_MS} ms reached; figures above are the phases that finished` }, null, 2)}\n`);
  cleanupAll();
  process.exit(1);
}, GLOBAL_DEADLINE_MS);
watchdog.unref();

main().then((code) => {
  cleanupAll();
  process.exit(code);
}, (e) => {
  progress(`bench failed: ${(e as Error).stack ?? String(e)}`);
  cleanupAll();
  process.exit(1);
});
