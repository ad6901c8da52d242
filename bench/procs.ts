/**
 * Child processes for the bench: zones and agents run as `node dist/src/cli.js ...`. Every child is
 * registered so that it is killed when the bench exits or fails; output is kept as a bounded tail.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

const TAIL_CHARS = 64 * 1024;
/** Extra node flags for every child, e.g. BENCH_CHILD_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (not allowed in NODE_OPTIONS). */
const CHILD_NODE_ARGS = (process.env.BENCH_CHILD_NODE_ARGS ?? '').split(' ').filter(Boolean);
/**
 * BENCH_LOG_DIR=dir keeps every child's whole output in dir/NAME-PID.log, each line prefixed with
 * the milliseconds since spawn: where an agent's time went, beside the figures.
 */
const LOG_DIR = process.env.BENCH_LOG_DIR || undefined;

export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  /** The last 64 KiB of stdout+stderr. */
  tail(): string;
  exited: Promise<number | string>;
  /** Resolves when a line matching `re` has been printed (checked line by line, so no unbounded buffer). */
  waitForLine(re: RegExp, deadlineMs: number): Promise<string>;
  /** SIGTERM (or `signal`), then SIGKILL after `graceMs`; resolves with the exit code or signal. */
  kill(signal?: NodeJS.Signals, graceMs?: number): Promise<number | string>;
}

const live = new Set<Proc>();
const tempDirs = new Set<string>();

export function registerTempDir(dir: string): void {
  tempDirs.add(dir);
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Synchronous last-resort cleanup: SIGKILL every child still running, remove every temp dir. */
export function cleanupAll(): void {
  for (const p of live) {
    try { p.child.kill('SIGKILL'); } catch { /* already gone */ }
  }
  live.clear();
  for (const d of tempDirs) {
    try { rmSync(d, { recursive: true, force: true }); } catch { /* best effort */ }
  }
  tempDirs.clear();
}

export function startCli(name: string, args: string[], onLine?: (line: string) => void, env?: NodeJS.ProcessEnv): Proc {
  const child = spawn(process.execPath, [...CHILD_NODE_ARGS, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env: { ...process.env, ...env } } : {}) });
  let tail = '';
  const t0 = performance.now();
  let keep: ReturnType<typeof createWriteStream> | undefined;
  if (LOG_DIR) {
    mkdirSync(LOG_DIR, { recursive: true });
    keep = createWriteStream(join(LOG_DIR, `${name.replace(/[^\w.-]+/g, '-')}-${child.pid ?? 'x'}.log`));
    child.on('exit', () => keep?.end());
  }
  const waiters = new Set<{ re: RegExp; resolve: (l: string) => void }>();
  const partial = { out: '', err: '' };
  const onChunk = (which: 'out' | 'err') => (d: Buffer) => {
    const s = d.toString('utf8');
    tail = (tail + s).slice(-TAIL_CHARS);
    const lines = (partial[which] + s).split('\n');
    partial[which] = lines.pop() ?? '';
    if (partial[which].length > TAIL_CHARS) partial[which] = partial[which].slice(-TAIL_CHARS);
    for (const line of lines) {
      keep?.write(`${Math.round(performance.now() - t0)} ${line}\n`);
      onLine?.(line);
      for (const w of waiters) {
        if (w.re.test(line)) {
          waiters.delete(w);
          w.resolve(line);
        }
      }
    }
  };
  child.stdout!.on('data', onChunk('out'));
  child.stderr!.on('data', onChunk('err'));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig ?? 'unknown')));
  const p: Proc = {
    name,
    child,
    pid: child.pid ?? -1,
    tail: () => tail,
    exited,
    waitForLine(re, deadlineMs) {
      return new Promise<string>((resolve, reject) => {
        const w = {
          re,
          resolve: (l: string) => { clearTimeout(timer); resolve(l); },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`${name}: timed out after ${deadlineMs} ms waiting for ${String(re)}; output tail:\n${tail.slice(-3000)}`));
        }, deadlineMs);
        waiters.add(w);
        void exited.then((code) => {
          if (!waiters.has(w)) return;
          waiters.delete(w);
          clearTimeout(timer);
          reject(new Error(`${name}: exited (${code}) before printing ${String(re)}; output tail:\n${tail.slice(-3000)}`));
        });
      });
    },
    async kill(signal = 'SIGTERM', graceMs = 5000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
        const r = await exited;
        clearTimeout(t);
        return r;
      }
      return exited;
    },
  };
  live.add(p);
  void exited.then(() => live.delete(p));
  return p;
}

/** Clock ticks per second for /proc/<pid>/stat; 100 on every Linux we run on. */
const CLK_TCK = 100;

export interface ProcStats { peakRssMb: number; hwmMb: number; cpuUserSec: number; cpuSysSec: number; samples: number }

/**
 * Samples /proc/<pid>/status (VmHWM, VmRSS) and /proc/<pid>/stat (utime, stime) every `everyMs`.
 * VmHWM is the kernel's own peak, so the last sample before exit is the peak of the whole run.
 */
const allSamplers = new Set<ProcSampler>();

/** CPU seconds of every child the bench has sampled so far (exited ones keep their last sample). */
export function sampledChildrenCpuSec(): number {
  let n = 0;
  for (const s of allSamplers) n += s.stats.cpuUserSec + s.stats.cpuSysSec;
  return n;
}

export class ProcSampler {
  private timer: NodeJS.Timeout;
  readonly stats: ProcStats = { peakRssMb: 0, hwmMb: 0, cpuUserSec: 0, cpuSysSec: 0, samples: 0 };

  constructor(readonly pid: number, everyMs = 100) {
    allSamplers.add(this);
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  sample(): void {
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
      const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
      this.stats.hwmMb = Math.max(this.stats.hwmMb, kb('VmHWM') / 1024);
      this.stats.peakRssMb = Math.max(this.stats.peakRssMb, kb('VmRSS') / 1024);
      const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields[0] is field 3 (state); utime is field 14, stime field 15.
      this.stats.cpuUserSec = Number(fields[11]) / CLK_TCK;
      this.stats.cpuSysSec = Number(fields[12]) / CLK_TCK;
      this.stats.samples++;
    } catch {
      // the process has exited (or is a zombie without status): keep the last values
    }
  }

  stop(): ProcStats {
    this.sample();
    clearInterval(this.timer);
    return this.stats;
  }
}

/** CPU seconds so far from /proc/stat: process-context busy time (user+nice+system) and steal. */
function machineCpu(): { busy: number; steal: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , , , steal] = f;
  return { busy: (user + nice + system) / CLK_TCK, steal: (steal ?? 0) / CLK_TCK };
}

/** CPU seconds of kernel threads (children of kthreadd: writeback, journal, ...), which our fsyncs keep busy. */
function kernelThreadsCpuSec(): number {
  let n = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (f[1] === '2' || d === '2') n += (Number(f[11]) + Number(f[12])) / CLK_TCK;
    } catch { /* gone */ }
  }
  return n;
}

function loadavg1(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/**
 * How busy the machine was with other processes during a phase: process-context CPU of the whole
 * machine minus this process, every sampled child and kernel threads (interrupt time and steal are
 * left out: loopback traffic and the hypervisor). Other sessions running tests on the same cores
 * make every figure of that phase unreliable; this says when it happened.
 */
export class ContentionMonitor {
  private readonly t0 = Date.now();
  private readonly cpu0 = machineCpu();
  private readonly kthreads0 = kernelThreadsCpuSec();
  private readonly self0 = process.cpuUsage();
  private readonly kids0 = sampledChildrenCpuSec();
  private readonly load0 = loadavg1();

  finish(ncpu: number): Record<string, number> {
    const wall = (Date.now() - this.t0) / 1000;
    const cpu = machineCpu();
    const busy = cpu.busy - this.cpu0.busy;
    const kthreads = kernelThreadsCpuSec() - this.kthreads0;
    const self = process.cpuUsage(this.self0);
    const ours = (self.user + self.system) / 1e6 + (sampledChildrenCpuSec() - this.kids0);
    const foreign = Math.max(0, busy - ours - kthreads);
    const r2 = (n: number) => Math.round(n * 100) / 100;
    return {
      wall_sec: r2(wall),
      loadavg_1m_start: this.load0,
      loadavg_1m_end: loadavg1(),
      machine_busy_cpu_sec: r2(busy),
      bench_cpu_sec: r2(ours),
      kernel_threads_cpu_sec: r2(kthreads),
      steal_cpu_sec: r2(cpu.steal - this.cpu0.steal),
      foreign_cpu_sec: r2(foreign),
      foreign_cpu_percent_of_machine: r2((100 * foreign) / Math.max(0.001, wall * ncpu)),
    };
  }
}

/** The checkout's short revision, marked when tracked files have uncommitted changes; null outside git. */
export function gitRevision(): string | null {
  const cwd = fileURLToPath(new URL('../..', import.meta.url));
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return `${rev}${dirty ? ' (with uncommitted changes)' : ''}`;
  } catch {
    return null;
  }
}

/** How every bench runs rclone: what a user would pick instead of the agent. */
export const RCLONE_ARGS = ['--transfers', '32', '--checkers', '32'];

/** Debian's rclone version line, or undefined when it is not installed. */
export function rcloneVersion(): string | undefined {
  try {
    return execFileSync('rclone', ['version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0].trim();
  } catch {
    return undefined;
  }
}
