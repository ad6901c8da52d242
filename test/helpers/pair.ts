/**
 * Two embedded zones as real processes, with a recording proxy owning the destination's advertised
 * endpoint, plus the comparisons end-to-end tests assert on.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { XMLParser } from 'fast-xml-parser';
import { freePort } from './realm.js';
import { call } from './http.js';
import { startProc, startZoneProc, type Proc } from './procs.js';
import { startProxy, type Proxy } from './proxy.js';
import { s3Encode } from '../../src/rgw/sign.js';

export interface Creds { accessKey: string; secretKey: string }

export interface Pair {
  dir: string;
  east: string;
  west: string; // the advertised destination endpoint (the proxy)
  westDirect: string;
  /** A third zone (us-central, no proxy) when startPair was asked for one. */
  central?: string;
  proxy: Proxy;
  /** A proxy owning the source's advertised endpoint, when startPair was asked for one (`east` stays direct). */
  sourceProxy?: Proxy;
  sys: Creds;
  zones: Proc[];
  configFile(extra?: Record<string, string | number | boolean>): string;
  agent(args: string[], extra?: Record<string, string | number | boolean>, env?: NodeJS.ProcessEnv): Proc;
  /**
   * Stops the source zone, adds a zone to the realm file and starts the source again: the
   * embedded zone commits a new period when its realm changed (like `period update --commit`).
   */
  commitPeriod(): Promise<void>;
  /** Stops the source zone, lets `edit` change its data dir, starts it again. */
  restartSource(edit?: (dataDir: string) => void): Promise<void>;
  close(): Promise<void>;
}

export async function startPair(opts: { mdShards?: number; dataShards?: number; dataLogWindow?: number; thirdZone?: boolean; sourceProxy?: boolean } = {}): Promise<Pair> {
  const dir = mkdtempSync(join(tmpdir(), 'rgw-agent-e2e-'));
  const [eastPort, westPort, proxyPort] = [await freePort(), await freePort(), await freePort()];
  const centralPort = opts.thirdZone ? await freePort() : undefined;
  const srcProxyPort = opts.sourceProxy ? await freePort() : undefined;
  const sys = { accessKey: `SYS${randomBytes(6).toString('hex').toUpperCase()}`, secretKey: randomBytes(24).toString('base64url') };
  const realmFile = join(dir, 'realm.yaml');
  writeFileSync(realmFile, [
    'zonegroup: us',
    'master_zone: us-east',
    'zones:',
    `  us-east: { endpoint: "http://127.0.0.1:${srcProxyPort ?? eastPort}" }`,
    `  us-west: { endpoint: "http://127.0.0.1:${proxyPort}" }`,
    ...(centralPort ? [`  us-central: { endpoint: "http://127.0.0.1:${centralPort}" }`] : []),
    `system_user: { uid: sync-agent, access_key: "${sys.accessKey}", secret_key: "${sys.secretKey}" }`,
    `metadata_log_shards: ${opts.mdShards ?? 8}`,
    `data_log_shards: ${opts.dataShards ?? 8}`,
    ...(opts.dataLogWindow ? [`data_log_window: ${opts.dataLogWindow}`] : []),
    '',
  ].join('\n'));
  const zones = [
    await startZoneProc(realmFile, 'us-east', join(dir, 'east'), srcProxyPort ? `127.0.0.1:${eastPort}` : undefined),
    await startZoneProc(realmFile, 'us-west', join(dir, 'west'), `127.0.0.1:${westPort}`),
    ...(centralPort ? [await startZoneProc(realmFile, 'us-central', join(dir, 'central'))] : []),
  ];
  const proxy = await startProxy(westPort, proxyPort);
  const sourceProxy = srcProxyPort ? await startProxy(eastPort, srcProxyPort) : undefined;
  const agents: Proc[] = [];
  let n = 0;
  let periods = 0;
  const pair: Pair = {
    dir,
    east: `http://127.0.0.1:${eastPort}`,
    west: proxy.url,
    westDirect: `http://127.0.0.1:${westPort}`,
    ...(centralPort ? { central: `http://127.0.0.1:${centralPort}` } : {}),
    proxy,
    ...(sourceProxy ? { sourceProxy } : {}),
    sys,
    zones,
    configFile(extra = {}) {
      const file = join(dir, `agent-${++n}.yaml`);
      const cfg: Record<string, string | number | boolean> = {
        src_access_key: sys.accessKey, src_secret_key: sys.secretKey, dest_access_key: sys.accessKey, dest_secret_key: sys.secretKey,
        destination: proxy.url, rgw_data_log_window: 0, incremental_sync_delay: 0, lock_timeout: 6, prepare_error_delay: 1, object_sync_timeout: 10,
        ...extra,
      };
      writeFileSync(file, Object.entries(cfg).map(([k, v]) => `${k}: ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`).join('\n'));
      return file;
    },
    agent(args, extra = {}, env = {}) {
      const p = startProc([...args, '-c', pair.configFile(extra), '--log-format', 'text', '--log-level', 'debug'], env);
      agents.push(p);
      return p;
    },
    async commitPeriod() {
      const extra = `us-extra-${++periods}`;
      const port = await freePort();
      await pair.restartSource(() => {
        writeFileSync(realmFile, readFileSync(realmFile, 'utf8').replace('zones:\n', `zones:\n  ${extra}: { endpoint: "http://127.0.0.1:${port}" }\n`));
      });
    },
    async restartSource(edit) {
      await zones[0].kill('SIGTERM');
      edit?.(join(dir, 'east'));
      zones[0] = await startZoneProc(realmFile, 'us-east', join(dir, 'east'), srcProxyPort ? `127.0.0.1:${eastPort}` : undefined);
    },
    async close() {
      await Promise.all(agents.map((a) => a.kill('SIGKILL')));
      await Promise.all(zones.map((z) => z.kill('SIGTERM')));
      await proxy.close();
      await sourceProxy?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return pair;
}

export async function createUser(base: string, sys: Creds, uid: string): Promise<Creds> {
  const r = await call(base, 'PUT', `/admin/user?uid=${uid}&display-name=${uid}`, sys);
  if (r.status !== 200) throw new Error(`create user ${uid}: ${r.status} ${r.text}`);
  const k = r.json<{ keys: { access_key: string; secret_key: string }[] }>().keys[0];
  return { accessKey: k.access_key, secretKey: k.secret_key };
}

export function objPath(bucket: string, key: string): string {
  return `/${s3Encode(bucket, false)}/${s3Encode(key, true)}`;
}

export async function put(base: string, who: Creds, bucket: string, key: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<void> {
  const r = await call(base, 'PUT', objPath(bucket, key), who, { body, headers });
  if (r.status !== 200) throw new Error(`PUT ${bucket}/${key}: ${r.status} ${r.text}`);
}

export async function del(base: string, who: Creds, bucket: string, key: string): Promise<void> {
  const r = await call(base, 'DELETE', objPath(bucket, key), who);
  if (r.status !== 204) throw new Error(`DELETE ${bucket}/${key}: ${r.status}`);
}

const xml = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (n) => n === 'Contents' });

/** Everything a user would compare: users, buckets with owners, objects with size and ETag. */
export async function zoneState(base: string, sys: Creds): Promise<Record<string, unknown>> {
  const users = (await call(base, 'GET', '/admin/metadata/user', sys)).json<string[]>().sort();
  const state: Record<string, unknown> = { users };
  // The agent's state bucket (state_store bucket) is bookkeeping, not replicated data.
  for (const b of (await call(base, 'GET', '/admin/metadata/bucket', sys)).json<string[]>().sort().filter((x) => x !== 'rgw-agent-state')) {
    const meta = (await call(base, 'GET', `/admin/metadata/bucket?key=${encodeURIComponent(b)}`, sys)).json<{ data: { owner: string } }>();
    const objects: string[] = [];
    let marker = '';
    for (;;) {
      const r = await call(base, 'GET', `/${b}?max-keys=1000${marker ? `&marker=${s3Encode(marker, false)}` : ''}`, sys);
      const doc = xml.parse(r.text) as { ListBucketResult: { IsTruncated: string; Contents?: { Key: string; ETag: string; Size: string }[] } };
      const cs = doc.ListBucketResult.Contents ?? [];
      objects.push(...cs.map((c) => `${c.Key} ${c.ETag} ${c.Size}`));
      if (doc.ListBucketResult.IsTruncated !== 'true' || cs.length === 0) break;
      marker = cs[cs.length - 1].Key;
    }
    state[`bucket:${b}`] = { owner: meta.data.owner, objects };
  }
  return state;
}

/** Two zones hold the same users, buckets, owners and objects (zoneState). */
export async function sameZoneState(a: string, b: string, sys: Creds): Promise<boolean> {
  return JSON.stringify(await zoneState(a, sys)) === JSON.stringify(await zoneState(b, sys));
}

/** Remote copies the destination was asked for (as the proxy saw them), since a time. */
export function remoteCopies(p: Pair, since = 0): number {
  return p.proxy.seen.filter((s) => s.t >= since && s.method === 'PUT' && s.url.includes('rgwx-source-zone')).length;
}
