/** Fresh realms of embedded zones as real processes on free loopback ports, in a temp dir. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from '../src/net.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { registerTempDir, removeTempDir, startCli, ProcSampler, type Proc, type ProcStats } from './procs.js';

export interface Creds { accessKey: string; secretKey: string }


export interface ZoneProc { name: string; url: string; proc: Proc; sampler: ProcSampler }

export interface Realm {
  dir: string;
  realmFile: string;
  sys: Creds;
  zones: Record<string, ZoneProc>;
  /** Writes an agent config (radosgw-agent key names) into the realm dir. */
  agentConfig(name: string, destination: string, extra: Record<string, string | number | boolean>): { file: string; config: Record<string, string | number | boolean> };
  zoneStats(): Record<string, ProcStats>;
  /** Starts a zone of the realm that is not running yet (a fresh data dir, or the one stopZone(name, true) kept). */
  startZone(name: string): Promise<ZoneProc>;
  /**
   * Stops a zone (SIGTERM, SIGKILL after 3 s: a throwaway zone needs no long clean shutdown) and
   * removes its data dir. `keepData`: the zone is to be opened again (in-process or by startZone),
   * so it gets up to 30 s to close its database and its data dir stays.
   */
  stopZone(name: string, keepData?: boolean): Promise<void>;
  close(): Promise<void>;
}

/**
 * The first zone is the master (the sync source). Only `startNow` zones are started at once (all by
 * default); the others stay in the realm file (and region map) until `startZone`.
 */
export async function startRealm(label: string, zoneNames: string[], startNow: string[] = zoneNames): Promise<Realm> {
  const dir = mkdtempSync(join(tmpdir(), `rgw-agent-bench-${label}-`));
  registerTempDir(dir);
  const sys = { accessKey: `BENCH${randomBytes(6).toString('hex').toUpperCase()}`, secretKey: randomBytes(24).toString('base64url') };
  const ports: number[] = [];
  for (const _ of zoneNames) ports.push(await freePort());
  const realmFile = join(dir, 'realm.yaml');
  writeFileSync(realmFile, [
    'zonegroup: bench',
    `master_zone: ${zoneNames[0]}`,
    'zones:',
    ...zoneNames.map((z, i) => `  ${z}: { endpoint: "http://127.0.0.1:${ports[i]}" }`),
    `system_user: { uid: sync-agent, access_key: "${sys.accessKey}", secret_key: "${sys.secretKey}" }`,
    'data_log_window: 0',
    '',
  ].join('\n'), { mode: 0o600 });
  const zones: Record<string, ZoneProc> = {};
  const realm: Realm = {
    dir, realmFile, sys, zones,
    agentConfig(name, destination, extra) {
      const config: Record<string, string | number | boolean> = {
        src_access_key: sys.accessKey, src_secret_key: sys.secretKey,
        dest_access_key: sys.accessKey, dest_secret_key: sys.secretKey,
        destination,
        rgw_data_log_window: 0,
        ...extra,
      };
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, Object.entries(config).map(([k, v]) => `${k}: ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`).join('\n') + '\n', { mode: 0o600 });
      const shown = { ...config, src_secret_key: '***', dest_secret_key: '***', src_access_key: '***', dest_access_key: '***' };
      return { file, config: shown };
    },
    zoneStats() {
      return Object.fromEntries(Object.values(zones).map((z) => [z.name, { ...z.sampler.stats }]));
    },
    async startZone(z) {
      const i = zoneNames.indexOf(z);
      if (i < 0 || zones[z]) throw new Error(`zone ${z} is not in the realm or already running`);
      const proc = startCli(`zone ${z}`, ['zone', 'serve', '--realm', realmFile, '--zone', z, '--data-dir', join(dir, z), '--log-format', 'text', '--log-level', 'warn']);
      zones[z] = { name: z, url: `http://127.0.0.1:${ports[i]}`, proc, sampler: new ProcSampler(proc.pid, 250) };
      // The "listening" line is logged at info, which --log-level warn hides: poll the port instead.
      await waitListening(ports[i], proc, 20_000);
      return zones[z];
    },
    async stopZone(z, keepData = false) {
      const zp = zones[z];
      if (!zp) return;
      zp.sampler.stop();
      await zp.proc.kill('SIGTERM', keepData ? 30_000 : 3000);
      delete zones[z];
      if (!keepData) rmSync(join(dir, z), { recursive: true, force: true });
    },
    async close() {
      await Promise.all(Object.values(zones).map(async (z) => {
        z.sampler.stop();
        await z.proc.kill('SIGTERM', 5000);
      }));
      removeTempDir(dir);
    },
  };
  try {
    await Promise.all(startNow.map((z) => realm.startZone(z)));
  } catch (e) {
    await realm.close();
    throw e;
  }
  return realm;
}

async function waitListening(port: number, proc: Proc, deadlineMs: number): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited (${proc.child.exitCode}): ${proc.tail().slice(-2000)}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      return; // any HTTP answer (403 without credentials) means it serves
    } catch {
      if (Date.now() > end) throw new Error(`${proc.name} did not listen on ${port} within ${deadlineMs} ms: ${proc.tail().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
