/**
 * Evidence for copy_mode defaults: do a release's gateways survive remote copies? Starts a
 * two-zone cluster through ceph-release.sh (side-by-side ports, so it can run beside test:ceph),
 * writes COPIES objects on us-east, full-syncs them with copy_mode remote, then runs the sync
 * daemon with copy_mode remote for SECONDS while a writer adds an object every 2 s, and checks
 * every 2 s that both gateways still answer. Prints one JSON line; the gateway logs' crash lines
 * (SIGSEGV, "Caught signal") are included.
 *
 *   [SOAK_PORTS=1|2] node dist/bench/soak-remote-copy.js RELEASE [COPIES=1000] [SECONDS=3600]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ZoneClient } from '../src/client/http.js';
import { S3Api } from '../src/client/s3.js';
import { forEachLimit } from '../src/worker/pool.js';
import { startProc } from '../test/helpers/procs.js';
import { gatewayAnswers } from '../test/helpers/http.js';

const [release = 'reef', copiesArg = '1000', secondsArg = '3600'] = process.argv.slice(2);
const copies = Number(copiesArg);
const seconds = Number(secondsArg);
const scripts = process.env.CEPH_SCRIPTS ?? join(process.cwd(), '../shared/ceph');
// SOAK_PORTS=1 (default): ports 1xxxx; 2: 2xxxx, so two soaks and test:ceph can run side by side.
const b = Number(process.env.SOAK_PORTS ?? '1') * 10000;
const ports = { MON_V2_PORT: `${b + 3300}`, MON_V1_PORT: `${b + 6789}`, MS_PORT_MIN: `${b + 6800}`, MS_PORT_MAX: `${b + 7300}`, EAST_PORT: `${b + 8000}`, WEST_PORT: `${b + 8001}` };
const east = `http://127.0.0.1:${ports.EAST_PORT}`;
const west = `http://127.0.0.1:${ports.WEST_PORT}`;
const dir = mkdtempSync(join(tmpdir(), `rgw-agent-soak-${release}-`));
const testDir = release === 'pacific' ? join(dir, 'ceph') : `/tmp/rgw-agent-soak-${randomBytes(4).toString('hex')}`;
const env = { ...process.env, ...ports, CEPH_TEST_DIR: testDir, CEPH_ENV_OUT: join(dir, 'ceph.env') };
const t0 = Date.now();
const since = () => Math.round((Date.now() - t0) / 1000);

function cluster(action: string[]): void {
  const r = spawnSync('bash', [join(scripts, 'ceph-release.sh'), release, ...action], { env, encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`ceph-release.sh ${release} ${action.join(' ')}: exit ${r.status}\n${(r.stdout + r.stderr).slice(-2000)}`);
}

async function main(): Promise<void> {
  cluster(['up']);
  const envText = readFileSync(join(dir, 'ceph.env'), 'utf8');
  const v = (name: string) => new RegExp(`${name}=(\\S+)`).exec(envText)?.[1] ?? '';
  const sys = { accessKey: v('SYSTEM_AK'), secretKey: v('SYSTEM_SK') };
  const hostDir = v('CEPH_HOST_DIR') || testDir;
  const src = new S3Api(new ZoneClient({ endpoint: east, credentials: sys }));
  const result: Record<string, unknown> = { release, copies, seconds };
  const down: { zone: string; atSeconds: number }[] = [];
  try {
    await src.createBucket('soak');
    await forEachLimit([...Array(copies).keys()], 16, (i) => src.putObject('soak', `obj-${i}`, `soak object ${i} ${'x'.repeat(i % 4096)}`, 'text/plain'));
    const cfg = join(dir, 'agent.yaml');
    writeFileSync(cfg, Object.entries({
      src_access_key: sys.accessKey, src_secret_key: sys.secretKey, dest_access_key: sys.accessKey, dest_secret_key: sys.secretKey,
      destination: west, copy_mode: 'remote', object_sync_timeout: 180, state_file: join(dir, 'state.json'), incremental_sync_delay: 1,
    }).map(([k, val]) => `${k}: ${JSON.stringify(val)}`).join('\n'));
    const full = startProc(['full-sync', '-c', cfg, '--log-format', 'text']);
    result.fullSyncExit = await full.exited;
    result.fullSync = /full sync finished[^\n]*/.exec(full.output())?.[0] ?? full.output().slice(-500);
    result.afterFullSync = { east: await gatewayAnswers(east), west: await gatewayAnswers(west), atSeconds: since() };
    const daemon = startProc(['sync', '-c', cfg, '--log-format', 'text']);
    const end = Date.now() + seconds * 1000;
    let written = 0;
    let lastWrite = 0;
    while (Date.now() < end) {
      if (Date.now() - lastWrite >= 2000) {
        lastWrite = Date.now();
        await src.putObject('soak', `later-${written}`, `written at ${since()}s`, 'text/plain').then(() => { written++; }, () => undefined);
      }
      for (const [zone, url] of [['us-east', east], ['us-west', west]] as const) {
        if (!down.some((d) => d.zone === zone) && !(await gatewayAnswers(url))) down.push({ zone, atSeconds: since() });
      }
      if (down.length === 2) break;
      await new Promise((r) => setTimeout(r, 2000));
    }
    result.incrementalWrites = written;
    result.daemonExit = await daemon.kill('SIGTERM');
  } finally {
    await src.client.close();
    result.gatewaysDown = down;
    const logDir = join(hostDir, 'log');
    const crashes: string[] = [];
    if (existsSync(logDir)) {
      for (const f of readdirSync(logDir).filter((n) => n.includes('rgw'))) {
        for (const line of readFileSync(join(logDir, f), 'utf8').split('\n')) if (/SIGSEGV|Caught signal|Segmentation fault/.test(line)) crashes.push(`${f}: ${line.slice(0, 300)}`);
      }
    }
    result.crashLogLines = crashes.slice(0, 20);
    result.elapsedSeconds = since();
    process.stdout.write(`${JSON.stringify(result)}\n`);
    cluster(['down', '--wipe']);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`soak: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
