/**
 * `BENCH_ONLY=scale`: the agent at scale. Not among the default phases: it takes minutes. Zones and
 * the agent run as real processes (zones.ts, procs.ts), as in the other phases.
 *
 *  1. full_sync: one bucket of BENCH_SCALE_OBJECTS (100,000) 1 KiB objects, populated over HTTP
 *     (~2.5k PUT/s here, so under a minute: fast enough that the source is written the way users
 *     write it), then `full-sync` into a fresh destination zone.
 *  2. bilog_drain: on that fully synced pair (the agent now has bounds, so it is incremental),
 *     BENCH_SCALE_BILOG_ENTRIES (1,000,000) bucket-index log entries are written on the source
 *     while the agent is stopped, then `sync --once` drains them. HTTP would take ~7 minutes for
 *     1M writes and deletes, so they go through the zone's own store module in this process while
 *     the zone is stopped: Store.commitObject / deleteObject, the calls a PUT or DELETE makes, so
 *     the object rows, the bucket-index log and the data log are written exactly as by real writes.
 *
 * Progress is sampled every SAMPLE_MS from the destination's SQLite file over a read-only
 * connection (objects in the bucket, the agent's bucket-index bound): listing 100k keys over S3
 * every few seconds would load the zone being measured. Each step has a deadline
 * (BENCH_SCALE_DEADLINE_MS); one that hits it is recorded as that part's error, and the part's
 * children are killed (run.ts removes temp dirs and kills whatever is left on exit).
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ContentionMonitor, ProcSampler, startCli, type ProcStats } from './procs.js';
import { startRealm, type Realm } from './zones.js';
import { BenchClient, pool, type Listed } from './s3.js';
import { Store, type BucketRow } from '../src/zone/store.js';
import { ObjectFiles } from '../src/zone/objectfiles.js';
import { findZone, loadRealm, periodConfig } from '../src/zone/realm.js';
import { requestAttrs, userMetadata } from '../src/zone/objectattrs.js';

const BUCKET = 'bench-scale';

/** One part's peak RSS per process: the agent's and each zone's, named by its role. */
function peakRss(agent: number | null, zones: Record<string, unknown>): Record<string, number | null> {
  const zone = (name: string) => (zones[name] as { peak_rss_mb: number | null }).peak_rss_mb;
  return { agent, [`${DST}_destination`]: zone(DST), [`${SRC}_source`]: zone(SRC) };
}
const OBJECT_BYTES = 1024;
const SRC = 'us-east';
const DST = 'us-west';
const SAMPLE_MS = 2000;
const POPULATE_CONCURRENCY = 32;
const RSS_TARGET_MB = 150;
/** Flat: objects/s over the last third of the work is at least this share of the first third's. */
const FLAT_RATIO = 0.8;
/** Part 2 writes over this many times as many keys as part 1 created: creates as well as overwrites and deletes. */
const KEY_SPACE_FACTOR = 1.5;
/** Consecutive entries are this many keys apart (a prime, so i*STRIDE mod keySpace visits every key once per keySpace entries). */
const STRIDE = 7919;
/** In-process writes per store transaction: the zone's group commit batches its writes the same way. */
const WRITE_BATCH = 2000;
/** Every fourth visit to an existing key deletes it: the log holds deletes as well as writes. */
const DELETE_EVERY = 4;

const MB = 2 ** 20;
const round = (n: number, d = 2): number | null => (Number.isFinite(n) ? Math.round(n * 10 ** d) / 10 ** d : null);

function envInt(name: string, dflt: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer (got "${raw}")`);
  return n;
}

interface Knobs { objects: number; bilogEntries: number; stepDeadlineMs: number; copyMode?: string }

function knobs(): Knobs {
  return {
    objects: envInt('BENCH_SCALE_OBJECTS', 100_000),
    bilogEntries: envInt('BENCH_SCALE_BILOG_ENTRIES', 1_000_000),
    stepDeadlineMs: envInt('BENCH_SCALE_DEADLINE_MS', 60 * 60_000),
    copyMode: process.env.BENCH_COPY_MODE || undefined,
  };
}

/**
 * What the whole phase may take, for run.ts's global watchdog: the longest steps (full sync, the
 * drain, two verifies) each up to their deadline. A hung step is caught by its own deadline first.
 */
export function scaleBudgetMs(): number {
  return 4 * knobs().stepDeadlineMs;
}

export interface ScaleHooks {
  progress(msg: string): void;
  /** run.ts's machine_contention record for a part (it also lists contended parts in contended_phases). */
  contention(mon: ContentionMonitor, phase: string): Record<string, unknown>;
}

class StepTimeout extends Error {}

/** A step's deadline: awaited child processes race it, in-process loops check it between batches. */
class Deadline {
  private readonly end: number;
  constructor(readonly step: string, readonly ms: number) {
    this.end = performance.now() + ms;
  }

  get leftMs(): number {
    return Math.max(0, this.end - performance.now());
  }

  check(): void {
    if (performance.now() > this.end) throw new StepTimeout(`step "${this.step}" timed out after ${this.ms} ms`);
  }

  /** `graceMs`: how long past the deadline before giving up on `p` (so work inside it can clean up and say why first). */
  race<T>(p: Promise<T>, graceMs = 0): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StepTimeout(`step "${this.step}" timed out after ${this.ms} ms`)), this.leftMs + graceMs);
    });
    return Promise.race([p, t]).finally(() => clearTimeout(timer));
  }
}

/** Steps of one part, each timed and bounded. */
class Steps {
  readonly seconds: Record<string, number | null> = {};
  constructor(private readonly ms: number, private readonly progress: (m: string) => void) {}

  async run<T>(name: string, fn: (d: Deadline) => Promise<T>): Promise<T> {
    const d = new Deadline(name, this.ms);
    const t0 = performance.now();
    try {
      // The step's own races (a child killed, its output kept) go first; this one catches the rest.
      return await d.race(fn(d), 10_000);
    } finally {
      this.seconds[name] = round((performance.now() - t0) / 1000, 2);
      this.progress(`  scale: step ${name} ${this.seconds[name]} s`);
    }
  }
}

/** The destination's (or source's) SQLite file, read-only: counting rows there costs the zone nothing it would notice. */
class ZoneDb {
  private readonly db: Database.Database;
  private readonly countStmt: Database.Statement;
  private readonly boundStmt: Database.Statement;

  constructor(readonly file: string) {
    this.db = new Database(file, { readonly: true, fileMustExist: true });
    this.countStmt = this.db.prepare('SELECT COUNT(*) AS n FROM objects WHERE instance = ?');
    this.boundStmt = this.db.prepare('SELECT marker, items FROM replica_log WHERE type = ? AND entity = ?');
  }

  /** "bucket:bucket_id", as the zone keys objects and the agent names bucket-index bounds. */
  instance(bucket: string): string | undefined {
    const r = this.db.prepare('SELECT bucket_id FROM buckets WHERE name = ?').get(bucket) as { bucket_id: string } | undefined;
    return r ? `${bucket}:${r.bucket_id}` : undefined;
  }

  objects(instance: string): number {
    return (this.countStmt.get(instance) as { n: number }).n;
  }

  bound(type: string, entity: string): { marker: string; items: number } | undefined {
    const r = this.boundStmt.get(type, entity) as { marker: string; items: string } | undefined;
    return r ? { marker: r.marker, items: (JSON.parse(r.items) as unknown[]).length } : undefined;
  }

  close(): void {
    this.db.close();
  }
}

function zoneDbFile(realm: Realm, zone: string): string {
  return join(realm.dir, zone, 'zone.db');
}

/** The embedded zone's bucket-index op ids start with the index version (markers.ts bilogOpId); " " is before all. */
function bilogVersion(marker: string | undefined): number {
  const v = Number((marker ?? '').trim().split('.')[0]);
  return Number.isFinite(v) ? v : 0;
}

function rssMb(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? round(Number(m[1]) / 1024, 1) : null;
  } catch {
    return null;
  }
}

function peakMb(s: ProcStats): number | null {
  return round(Math.max(s.hwmMb, s.peakRssMb), 1);
}

function dbMb(file: string): number | null {
  let bytes = 0;
  for (const f of [file, `${file}-wal`]) {
    try { bytes += statSync(f).size; } catch { /* no WAL right now */ }
  }
  return round(bytes / MB, 1);
}

/** Samples taken every SAMPLE_MS while a run goes on, plus one at the start and one at the end. */
class Sampling<T extends { t_s: number }> {
  readonly samples: T[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly t0 = performance.now();

  constructor(private readonly take: (tSec: number) => T) {
    this.tick();
    this.timer = setInterval(() => this.tick(), SAMPLE_MS);
    this.timer.unref();
  }

  private tick(): void {
    try {
      this.samples.push(this.take(round((performance.now() - this.t0) / 1000, 2) ?? 0));
    } catch {
      // the zone is (re)starting or checkpointing: the next sample will do
    }
  }

  stop(): T[] {
    clearInterval(this.timer);
    this.tick();
    return this.samples;
  }
}

interface Point { t: number; n: number }

/** When the count first reached `x`, interpolated between the samples either side. */
function timeAt(points: Point[], x: number): number | undefined {
  for (let j = 0; j < points.length; j++) {
    if (points[j].n < x) continue;
    if (j === 0) return points[0].t;
    const a = points[j - 1];
    const b = points[j];
    return a.t + ((x - a.n) / Math.max(1, b.n - a.n)) * (b.t - a.t);
  }
  return undefined;
}

/**
 * Rates over the first, middle and last third of the work (by count, not time: "as the bucket
 * grows"). The first and last 1% are left out, so start-up (node, metadata, first listing page)
 * and the final bounds do not count as throughput.
 */
function flatness(points: Point[], total: number): Record<string, unknown> {
  const marks = [0.01, 1 / 3, 2 / 3, 0.99].map((f) => f * total);
  const times = marks.map((m) => timeAt(points, m));
  const rate = (i: number): number | null => {
    const [a, b] = [times[i], times[i + 1]];
    return a === undefined || b === undefined || b <= a ? null : round((marks[i + 1] - marks[i]) / (b - a), 1);
  };
  const [first, middle, last] = [rate(0), rate(1), rate(2)];
  const ratio = first && last ? round(last / first, 3) : null;
  return {
    definition: `rate = items per second between reaching 1%, 33.3%, 66.7% and 99% of ${total} (times interpolated between ${SAMPLE_MS / 1000} s samples); flat = last-third rate >= ${FLAT_RATIO} x first-third rate`,
    first_third_per_s: first, middle_third_per_s: middle, last_third_per_s: last,
    ratio_last_to_first: ratio,
    flat: ratio !== null && ratio >= FLAT_RATIO,
  };
}

/** Per-sample rate since the previous sample, for reading the series by eye. */
function withRates<T extends { t_s: number }>(samples: T[], count: (s: T) => number): (T & { per_s: number | null })[] {
  return samples.map((s, i) => {
    const p = samples[i - 1];
    return { ...s, per_s: p && s.t_s > p.t_s ? round((count(s) - count(p)) / (s.t_s - p.t_s), 0) : null };
  });
}

function compareListings(src: Listed[], dst: Listed[]): Record<string, unknown> & { ok: boolean } {
  const got = new Map(dst.map((o) => [o.key, o]));
  let missing = 0;
  let etagMismatch = 0;
  let sizeMismatch = 0;
  const bad: string[] = [];
  for (const o of src) {
    const g = got.get(o.key);
    if (!g) { missing++; if (bad.length < 5) bad.push(`${o.key}: missing`); continue; }
    if (g.etag !== o.etag) { etagMismatch++; if (bad.length < 5) bad.push(`${o.key}: ETag ${g.etag}, source ${o.etag}`); }
    if (g.size !== o.size) sizeMismatch++;
    got.delete(o.key);
  }
  const extra = got.size;
  const ok = missing === 0 && etagMismatch === 0 && sizeMismatch === 0 && extra === 0;
  return { ok, source_objects: src.length, destination_objects: dst.length, missing, etag_mismatch: etagMismatch, size_mismatch: sizeMismatch, extra, ...(bad.length ? { first_bad: bad } : {}) };
}

interface CliRun { exit_code: number | string; wall_sec: number; peak_rss_mb: number | null; cpu_sec: number | null; output_tail?: string }

/**
 * One agent command as a child process, until it exits or the deadline passes (then it is killed
 * and the timeout thrown). `onLine` sees every output line with the seconds since spawn.
 */
async function runAgent(name: string, args: string[], d: Deadline, onLine?: (line: string, atSec: number) => void, onStart?: (pid: number) => void): Promise<CliRun> {
  const t0 = performance.now();
  const proc = startCli(name, args, (line) => onLine?.(line, (performance.now() - t0) / 1000));
  const sampler = new ProcSampler(proc.pid, 250);
  onStart?.(proc.pid);
  let code: number | string;
  try {
    code = await d.race(proc.exited);
  } catch (e) {
    sampler.stop();
    await proc.kill('SIGKILL');
    throw new StepTimeout(`${(e as Error).message}; ${name} killed; output tail:\n${proc.tail().slice(-1500)}`);
  }
  const st = sampler.stop();
  return {
    exit_code: code,
    wall_sec: round((performance.now() - t0) / 1000, 2) ?? 0,
    peak_rss_mb: peakMb(st),
    cpu_sec: round(st.cpuUserSec + st.cpuSysSec),
    ...(code !== 0 ? { output_tail: proc.tail().slice(-2000) } : {}),
  };
}

/** `rgw-agent verify --json` (its exit code is the verdict: 0 equal, 1 differences, 2 error). */
async function agentVerify(cfgFile: string, d: Deadline): Promise<Record<string, unknown>> {
  let doc: Record<string, unknown> | undefined;
  const run = await runAgent('agent verify', ['verify', '-c', cfgFile, '--json', '--log-format', 'text', '--log-level', 'warn'], d, (line) => {
    if (!line.startsWith('{')) return;
    try { doc = JSON.parse(line) as Record<string, unknown>; } catch { /* a line cut by the output tail: the exit code still says it */ }
  });
  const diffs = Array.isArray(doc?.differences) ? (doc.differences as unknown[]).slice(0, 5) : undefined;
  return {
    command: 'rgw-agent verify -c CFG --json (metadata compared by HEAD on both zones, the default)',
    exit_code: run.exit_code, ok: run.exit_code === 0, wall_sec: run.wall_sec, peak_rss_mb: run.peak_rss_mb,
    ...(doc ? { equal: doc.equal, objects: doc.objects, difference_count: doc.differenceCount, ...(diffs?.length ? { first_differences: diffs } : {}), ...(doc.error ? { error: doc.error } : {}) } : { output_unparsed: true }),
    ...(run.output_tail ? { output_tail: run.output_tail } : {}),
  };
}

async function agentStatus(cfgFile: string, d: Deadline): Promise<{ caught_up: boolean; exit_code: number | string }> {
  const run = await runAgent('agent status', ['status', '-c', cfgFile, '--json', '--log-format', 'text', '--log-level', 'warn'], d);
  return { caught_up: run.exit_code === 0, exit_code: run.exit_code };
}

async function listingCheck(realm: Realm, d: Deadline): Promise<Record<string, unknown> & { ok: boolean }> {
  const src = new BenchClient(realm.zones[SRC].url, realm.sys, 2);
  const dst = new BenchClient(realm.zones[DST].url, realm.sys, 2);
  try {
    const [s, t] = await d.race(Promise.all([src.listAll(BUCKET), dst.listAll(BUCKET)]));
    return { method: 'both buckets listed over S3; every key compared by ETag and size', ...compareListings(s, t) };
  } finally {
    await Promise.all([src.close(), dst.close()]);
  }
}

function targets(agentPeakMb: number | null, flat: Record<string, unknown>): Record<string, unknown> {
  return {
    rss_le_150mb: agentPeakMb !== null && agentPeakMb <= RSS_TARGET_MB,
    throughput_flat: flat.flat === true,
    definitions: {
      rss_le_150mb: `the agent's peak RSS (kernel VmHWM of the agent process) <= ${RSS_TARGET_MB} MB`,
      throughput_flat: `last-third rate >= ${FLAT_RATIO} x first-third rate (see flatness)`,
    },
  };
}

function cpuOf(s: ProcStats | undefined): number {
  return s ? s.cpuUserSec + s.cpuSysSec : 0;
}

function zoneFigures(realm: Realm, before: Record<string, ProcStats>): Record<string, unknown> {
  for (const z of Object.values(realm.zones)) z.sampler.sample();
  const after = realm.zoneStats();
  return Object.fromEntries(Object.entries(after).map(([z, s]) => [z, {
    peak_rss_mb: peakMb(s), cpu_sec_during_run: round(cpuOf(s) - cpuOf(before[z])), db_mb: dbMb(zoneDbFile(realm, z)),
  }]));
}

function agentConfig(realm: Realm, name: string, k: Knobs): { file: string; config: Record<string, string | number | boolean> } {
  return realm.agentConfig(name, realm.zones[DST].url, { rgw_data_log_window: 0, ...(k.copyMode ? { copy_mode: k.copyMode } : {}) });
}

// ---------- part 1 ----------

interface FullSyncOutcome { result: Record<string, unknown>; ok: boolean; synced: boolean; populatePutsPerS: number | null }

async function fullSyncPart(h: ScaleHooks, realm: Realm, k: Knobs): Promise<FullSyncOutcome> {
  const steps = new Steps(k.stepDeadlineMs, h.progress);
  const result: Record<string, unknown> = { objects: k.objects, object_bytes: OBJECT_BYTES, bucket: BUCKET, step_seconds: steps.seconds };
  let synced = false;
  let ok = false;
  let populatePutsPerS: number | null = null;
  try {
    const src = new BenchClient(realm.zones[SRC].url, realm.sys, POPULATE_CONCURRENCY + 4);
    try {
      await src.createBucket(BUCKET);
      h.progress(`  scale: populating ${SRC} with ${k.objects} x ${OBJECT_BYTES} B over HTTP, ${POPULATE_CONCURRENCY} in flight`);
      const p0 = performance.now();
      let done = 0;
      await steps.run('populate', (d) => pool((function* () { for (let i = 0; i < k.objects; i++) yield i; })(), POPULATE_CONCURRENCY, async (i) => {
        d.check();
        await src.put(BUCKET, keyName(i), randomBytes(OBJECT_BYTES));
        if (++done % Math.max(1, Math.floor(k.objects / 5)) === 0) h.progress(`  scale: populated ${done}/${k.objects}`);
      }));
      const sec = (performance.now() - p0) / 1000;
      populatePutsPerS = round(k.objects / sec, 0);
      result.populate = { method: 'HTTP PUT (bench client, SigV4 signed payload)', concurrency: POPULATE_CONCURRENCY, sec: round(sec), puts_per_s: populatePutsPerS };
    } finally {
      await src.close();
    }

    const { file, config } = agentConfig(realm, 'scale-full-sync', k);
    result.agent_config = config;
    const db = new ZoneDb(zoneDbFile(realm, DST));
    let agentPid = -1;
    let logged: number | null = null;
    let instance: string | undefined;
    const sampling = new Sampling((t_s) => {
      instance ??= db.instance(BUCKET);
      return { t_s, objects: instance ? db.objects(instance) : 0, agent_logged_objects: logged, agent_rss_mb: agentPid > 0 ? rssMb(agentPid) : null };
    });
    const zonesBefore = realm.zoneStats();
    const marks: Record<string, number | null> = {};
    let internal: number | null = null;
    let copyMode: string | undefined;
    h.progress(`  scale: agent full-sync ${SRC} -> ${DST} (destination sampled every ${SAMPLE_MS / 1000} s)`);
    let run: CliRun;
    try {
      run = await steps.run('full_sync', (d) => runAgent('agent full-sync', ['full-sync', '-c', file, '--log-format', 'text', '--log-level', 'info'], d, (line, at) => {
        const prog = /full sync: buckets \d+\/\d+, objects (\d+)/.exec(line);
        if (prog) logged = Number(prog[1]);
        const eff = /using state store \S+.*, copy mode (\S+)/.exec(line);
        if (eff) copyMode = eff[1];
        if (/full sync: \d+ buckets in/.test(line)) marks.data_phase_started ??= round(at);
        const fin = /full sync finished in ([\d.]+)s/.exec(line);
        if (fin) { internal = Number(fin[1]); marks.finished_logged = round(at); }
      }, (pid) => { agentPid = pid; }));
    } finally {
      sampling.stop();
      db.close();
    }
    const samples = withRates(sampling.samples, (s) => s.objects);
    const flat = flatness(samples.map((s) => ({ t: s.t_s, n: s.objects })), k.objects);
    const zones = zoneFigures(realm, zonesBefore);
    synced = run.exit_code === 0;
    result.agent = {
      exit_code: run.exit_code, copy_mode: copyMode ?? null,
      total_sec: run.wall_sec, objects_per_s: round(k.objects / run.wall_sec, 1),
      internal_full_sync_sec: internal, log_line_times_sec: marks,
      peak_rss_mb: run.peak_rss_mb, cpu_sec: run.cpu_sec,
      ...(run.output_tail ? { output_tail: run.output_tail } : {}),
    };
    result.zones = zones;
    result.peak_rss_mb = peakRss(run.peak_rss_mb, zones);
    result.flatness = flat;
    result.throughput_series = {
      what: `objects in the destination bucket (COUNT over a read-only SQLite connection to ${DST}'s zone.db), the agent's own progress count (logged every 5 s) and the agent's RSS, every ${SAMPLE_MS / 1000} s from spawn`,
      samples,
    };
    h.progress(`  scale: full sync ${run.wall_sec} s (${round(k.objects / run.wall_sec, 1)} obj/s), exit ${run.exit_code}, agent peak RSS ${run.peak_rss_mb} MB, flat ratio ${String(flat.ratio_last_to_first)}`);

    const verify = await steps.run('verify', (d) => agentVerify(file, d));
    const listing = await steps.run('listing_check', (d) => listingCheck(realm, d));
    result.verify = { agent_verify: verify, listings: listing, ok: verify.ok === true && listing.ok };
    result.targets = targets(run.peak_rss_mb, flat);
    ok = synced && verify.ok === true && listing.ok;
    h.progress(`  scale: full-sync verify exit ${String(verify.exit_code)}, listings ${listing.ok ? 'equal' : 'DIFFER'}`);
  } catch (e) {
    result.error = (e as Error).message;
    if (e instanceof StepTimeout) result.timed_out = true;
    h.progress(`  scale: full_sync failed: ${(e as Error).message}`);
  }
  return { result, ok, synced, populatePutsPerS };
}

function keyName(i: number): string {
  return `k${String(i).padStart(7, '0')}`;
}

// ---------- part 2 ----------

interface Generated { entries: number; creates: number; overwrites: number; deletes: number; sec: number; headBefore: number; headAfter: number; expectedObjects: number }

/**
 * Writes `n` bucket-index log entries into the stopped source zone through its store, as the zone's
 * PUT and DELETE handlers do (ObjectFiles.write for the body, Store.commitObject / deleteObject in
 * a transaction, the replaced body removed after the commit). Key i*STRIDE mod keySpace for entry
 * i: consecutive entries name different keys and each page of the log holds distinct keys.
 */
async function generateBilog(realm: Realm, n: number, keySpace: number, d: Deadline, progress: (m: string) => void): Promise<Generated> {
  const zr = loadRealm(realm.realmFile);
  const zone = findZone(zr, SRC);
  const dataDir = join(realm.dir, SRC);
  // The options server.ts opens the store with: a different period config would commit a new period.
  const store = new Store({
    dataDir, zoneName: zone.name, zonegroup: zr.zonegroup,
    metadataLogShards: zr.metadataLogShards, dataLogShards: zr.dataLogShards,
    dataLogWindowSeconds: zr.dataLogWindowSeconds, period: periodConfig(zr),
  });
  try {
    if (store.periodAtOpen !== 'kept') throw new Error(`opening ${SRC}'s store in-process ${store.periodAtOpen} a period: its options differ from the zone's`);
    const files = new ObjectFiles(dataDir, (f) => store.inlineBody(f));
    const bucket: BucketRow | undefined = store.getBucket(BUCKET);
    if (!bucket) throw new Error(`bucket ${BUCKET} is not on ${SRC}`);
    // The bench writes as the system user, with these headers: the rows come out as its PUTs' do.
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(OBJECT_BYTES) };
    const attrs = JSON.stringify(requestAttrs(headers, zr.systemUser.uid, bucket.owner));
    const meta = JSON.stringify(userMetadata(headers));
    const exists = new Uint8Array(keySpace);
    let live = 0;
    for (let k = 0; k < keySpace; k++) if (store.getObject(bucket.instance, keyName(k))) { exists[k] = 1; live++; }
    const headBefore = bilogVersion(store.bilogInfo(bucket.instance)?.max_marker);
    const t0 = performance.now();
    const counts = { creates: 0, overwrites: 0, deletes: 0 };
    for (let i = 0; i < n;) {
      d.check();
      const batch: { key: string; body?: Buffer }[] = [];
      for (; batch.length < WRITE_BATCH && i < n; i++) {
        const k = (i * STRIDE) % keySpace;
        // A delete of a key that is not there logs nothing, so only existing keys are deleted.
        if (exists[k] && (Math.imul(i, 2654435761) >>> 0) % DELETE_EVERY === 0) {
          exists[k] = 0; live--; counts.deletes++;
          batch.push({ key: keyName(k) });
        } else {
          if (exists[k]) counts.overwrites++; else { counts.creates++; live++; }
          exists[k] = 1;
          batch.push({ key: keyName(k), body: randomBytes(OBJECT_BYTES) });
        }
      }
      const written = await Promise.all(batch.map((b) => (b.body ? files.write(Readable.from([b.body]), b.body.length) : undefined)));
      const gone = store.tx(() => batch.map((b, j) => {
        const w = written[j];
        if (!w) return store.deleteObject(bucket, b.key).file;
        return store.commitObject(bucket, { key: b.key, size: w.size, etag: w.md5, file: w.file, inline: w.inline, content_type: headers['content-type'], meta, attrs }).replaced;
      }));
      for (const f of gone) await files.remove(f);
      if (i % 100_000 < WRITE_BATCH) progress(`  scale: ${i}/${n} bucket-index log entries written`);
      await nextTurn(); // lets the deadline timer and the bench's signal handlers run
    }
    const headAfter = bilogVersion(store.bilogInfo(bucket.instance)?.max_marker);
    if (headAfter - headBefore !== n) throw new Error(`wrote ${n} changes but the bucket-index log grew by ${headAfter - headBefore} entries`);
    return { entries: n, ...counts, sec: (performance.now() - t0) / 1000, headBefore, headAfter, expectedObjects: live };
  } finally {
    store.close();
  }
}

async function bilogDrainPart(h: ScaleHooks, realm: Realm, k: Knobs, httpPutsPerS: number | null): Promise<{ result: Record<string, unknown>; ok: boolean }> {
  const steps = new Steps(k.stepDeadlineMs, h.progress);
  const keySpace = Math.ceil(k.objects * KEY_SPACE_FACTOR);
  const result: Record<string, unknown> = { entries: k.bilogEntries, key_space: keySpace, bucket: BUCKET, step_seconds: steps.seconds };
  let ok = false;
  try {
    // Both zones restart, so their peak RSS (VmHWM) is this part's alone.
    await Promise.all([realm.stopZone(SRC, true), realm.stopZone(DST, true)]);
    h.progress(`  scale: writing ${k.bilogEntries} bucket-index log entries into ${SRC}'s store in-process (zone stopped), over ${keySpace} keys`);
    const g = await steps.run('generate_bilog', (d) => generateBilog(realm, k.bilogEntries, keySpace, d, h.progress));
    result.generate = {
      method: `in-process, through the zone's store module while ${SRC} was stopped (ObjectFiles.write + Store.commitObject / Store.deleteObject, ${WRITE_BATCH} per transaction as the zone's group commit does)${httpPutsPerS ? `; over HTTP at full_sync.populate's ${httpPutsPerS} PUT/s it would take ${round(k.bilogEntries / httpPutsPerS / 60, 1)} min` : ''}`,
      order: `entry i names key (i x ${STRIDE}) mod ${keySpace}: consecutive entries name different keys, each key is named ~${round(k.bilogEntries / keySpace, 1)} times; an existing key is deleted on every ${DELETE_EVERY}th visit (by a hash of i), otherwise overwritten; a missing key is created`,
      creates: g.creates, overwrites: g.overwrites, deletes: g.deletes,
      sec: round(g.sec), entries_per_s: round(g.entries / g.sec, 0),
      source_bilog_versions: { before: g.headBefore, after: g.headAfter },
      source_objects_after: g.expectedObjects,
    };
    await Promise.all([realm.startZone(SRC), realm.startZone(DST)]);

    const { file, config } = agentConfig(realm, 'scale-sync', k);
    result.agent_config = config;
    const db = new ZoneDb(zoneDbFile(realm, DST));
    const instance = db.instance(BUCKET);
    if (!instance) throw new Error(`bucket ${BUCKET} is not on ${DST}`);
    const startVer = bilogVersion(db.bound('bucket-index', instance)?.marker);
    const toDrain = g.headAfter - startVer;
    result.bound_before = { version: startVer, source_head_version: g.headAfter, entries_behind: toDrain };
    let agentPid = -1;
    const sampling = new Sampling((t_s) => {
      const b = db.bound('bucket-index', instance);
      return { t_s, drained: bilogVersion(b?.marker) - startVer, retry_items: b?.items ?? 0, destination_objects: db.objects(instance), agent_rss_mb: agentPid > 0 ? rssMb(agentPid) : null };
    });
    const zonesBefore = realm.zoneStats();
    const marks: Record<string, number | null> = {};
    let pass: string | undefined;
    h.progress(`  scale: agent sync --once: ${toDrain} entries behind (the agent's bound on ${DST} sampled every ${SAMPLE_MS / 1000} s)`);
    let run: CliRun;
    try {
      run = await steps.run('drain', (d) => runAgent('agent sync --once', ['sync', '--once', '-c', file, '--log-format', 'text', '--log-level', 'info'], d, (line, at) => {
        const m = /pass done: (.*)$/.exec(line);
        if (m) { pass = m[1]; marks.pass_done_logged = round(at); }
      }, (pid) => { agentPid = pid; }));
    } finally {
      sampling.stop();
    }
    const samples = withRates(sampling.samples, (s) => s.drained);
    const atHead = samples.find((s) => s.drained >= toDrain);
    const finalBound = db.bound('bucket-index', instance);
    db.close();
    const flat = flatness(samples.map((s) => ({ t: s.t_s, n: s.drained })), toDrain);
    const zones = zoneFigures(realm, zonesBefore);
    result.agent = {
      command: 'rgw-agent sync --once -c CFG', exit_code: run.exit_code, pass_summary: pass ?? null,
      drain_sec: run.wall_sec, entries_per_s: round(toDrain / run.wall_sec, 0),
      bound_at_source_head_by_sample_s: atHead?.t_s ?? null, log_line_times_sec: marks,
      final_bound: finalBound ? { version: bilogVersion(finalBound.marker), retry_items: finalBound.items, at_source_head: bilogVersion(finalBound.marker) >= g.headAfter } : null,
      peak_rss_mb: run.peak_rss_mb, cpu_sec: run.cpu_sec,
      ...(run.output_tail ? { output_tail: run.output_tail } : {}),
    };
    result.zones = zones;
    result.peak_rss_mb = peakRss(run.peak_rss_mb, zones);
    result.flatness = flat;
    result.throughput_series = {
      what: `entries drained = the agent's bucket-index bound on ${DST} (read-only SQLite, replica_log) minus where it started; objects in the destination bucket; the agent's RSS; every ${SAMPLE_MS / 1000} s from spawn`,
      samples,
    };
    h.progress(`  scale: drain ${run.wall_sec} s (${round(toDrain / run.wall_sec, 0)} entries/s), exit ${run.exit_code}, agent peak RSS ${run.peak_rss_mb} MB, flat ratio ${String(flat.ratio_last_to_first)}`);

    const status = await steps.run('status', (d) => agentStatus(file, d));
    const verify = await steps.run('verify', (d) => agentVerify(file, d));
    const listing = await steps.run('listing_check', (d) => listingCheck(realm, d));
    const countOk = listing.source_objects === g.expectedObjects;
    result.verify = {
      agent_verify: verify, listings: listing, status_caught_up: status.caught_up,
      source_objects_as_generated: countOk,
      ok: verify.ok === true && listing.ok && countOk,
    };
    result.targets = targets(run.peak_rss_mb, flat);
    ok = run.exit_code === 0 && verify.ok === true && listing.ok && countOk && status.caught_up;
    h.progress(`  scale: drain verify exit ${String(verify.exit_code)}, listings ${listing.ok ? 'equal' : 'DIFFER'}, status ${status.caught_up ? 'caught up' : 'NOT caught up'}`);
  } catch (e) {
    result.error = (e as Error).message;
    if (e instanceof StepTimeout) result.timed_out = true;
    h.progress(`  scale: bilog_drain failed: ${(e as Error).message}`);
  }
  return { result, ok };
}

/** Both parts on one realm; part 2 needs part 1's synced pair (it is the "agent in incremental mode"). */
export async function runScale(h: ScaleHooks): Promise<{ result: Record<string, unknown>; ok: boolean }> {
  const k = knobs();
  h.progress(`scale: ${k.objects} objects, ${k.bilogEntries} bucket-index log entries, ${k.stepDeadlineMs} ms per step; zones ${SRC} (source), ${DST} (destination)`);
  const result: Record<string, unknown> = {
    config: {
      objects: k.objects, object_bytes: OBJECT_BYTES, bilog_entries: k.bilogEntries, step_deadline_ms: k.stepDeadlineMs, sample_ms: SAMPLE_MS,
      agent_defaults_in_effect: { num_workers: 4, object_concurrency: 64, max_entries: 1000 }, copy_mode: k.copyMode ?? 'agent default (auto)',
      zones: 'embedded zones as separate processes, realm data_log_window 0 (every change logged in the data log too)',
      units: { rss_and_db_mb: 'MiB (2^20 bytes)', rates: 'objects or bucket-index log entries per second, wall clock' },
    },
  };
  const realm = await startRealm('scale', [SRC, DST]);
  let ok = false;
  try {
    const m1 = new ContentionMonitor();
    const p1 = await fullSyncPart(h, realm, k);
    p1.result.machine_contention = h.contention(m1, 'scale full_sync');
    result.full_sync = p1.result;
    if (p1.synced) {
      const m2 = new ContentionMonitor();
      const p2 = await bilogDrainPart(h, realm, k, p1.populatePutsPerS);
      p2.result.machine_contention = h.contention(m2, 'scale bilog_drain');
      result.bilog_drain = p2.result;
      ok = p1.ok && p2.ok;
    } else {
      result.bilog_drain = { skipped: 'needs the pair part 1 synced (its full sync did not finish)' };
    }
  } finally {
    await realm.close();
  }
  return { result, ok };
}
