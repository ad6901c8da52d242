/** Test realms: two (or more) zones on free loopback ports, data in a temp dir. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from '../../src/net.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseRealm, type Realm } from '../../src/zone/realm.js';
import { startZone, type RunningZone } from '../../src/zone/server.js';

export { freePort };

export interface TestRealm {
  dir: string;
  realmFile: string;
  realm: Realm;
  accessKey: string;
  secretKey: string;
  cleanup(): void;
}

export async function makeRealm(opts: { zones?: string[]; extra?: string } = {}): Promise<TestRealm> {
  const names = opts.zones ?? ['us-east', 'us-west'];
  const dir = mkdtempSync(join(tmpdir(), 'rgw-agent-test-'));
  const accessKey = `SYS${randomBytes(6).toString('hex').toUpperCase()}`;
  const secretKey = randomBytes(24).toString('base64url');
  const lines = ['zonegroup: us', `master_zone: ${names[0]}`, 'zones:'];
  for (const n of names) lines.push(`  ${n}: { endpoint: "http://127.0.0.1:${await freePort()}" }`);
  lines.push(`system_user: { uid: sync-agent, access_key: "${accessKey}", secret_key: "${secretKey}" }`);
  if (opts.extra) lines.push(opts.extra);
  const realmFile = join(dir, 'realm.yaml');
  const text = `${lines.join('\n')}\n`;
  writeFileSync(realmFile, text);
  return { dir, realmFile, realm: parseRealm(text), accessKey, secretKey, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function startZones(t: TestRealm): Promise<RunningZone[]> {
  const out: RunningZone[] = [];
  for (const z of t.realm.zones) out.push(await startZone({ realm: t.realm, zoneName: z.name, dataDir: join(t.dir, z.name) }));
  return out;
}
