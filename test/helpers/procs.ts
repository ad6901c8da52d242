/** Real processes for end-to-end tests: zones (`zone serve`) and the agent. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export interface Proc {
  child: ChildProcess;
  /** stdout and stderr interleaved. */
  output(): string;
  stdout(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  waitFor(text: string | RegExp, deadlineMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

export function startProc(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let stdout = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, sig) => {
    for (const l of listeners) l();
    resolve(code ?? sig ?? 'unknown');
  }));
  return {
    child,
    output: () => out,
    stdout: () => stdout,
    exited,
    waitFor(text, deadlineMs = 15_000) {
      const hit = () => (typeof text === 'string' ? out.includes(text) : text.test(out));
      return new Promise((resolve, reject) => {
        if (hit()) return resolve();
        const timer = setTimeout(() => { listeners.delete(check); reject(new Error(`timed out waiting for ${String(text)}; output:\n${out.slice(-3000)}`)); }, deadlineMs);
        const check = () => {
          if (hit()) { clearTimeout(timer); listeners.delete(check); resolve(); }
          else if (child.exitCode !== null || child.signalCode !== null) { clearTimeout(timer); listeners.delete(check); reject(new Error(`process exited before ${String(text)}; output:\n${out.slice(-3000)}`)); }
        };
        listeners.add(check);
      });
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export async function startZoneProc(realmFile: string, zone: string, dataDir: string, listen?: string): Promise<Proc> {
  const p = startProc(['zone', 'serve', '--realm', realmFile, '--zone', zone, '--data-dir', dataDir, '--log-format', 'text', ...(listen ? ['--listen', listen] : [])]);
  await p.waitFor('listening on');
  return p;
}

export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, deadlineMs = 30_000, everyMs = 100): Promise<T> {
  const end = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
