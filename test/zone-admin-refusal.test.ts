/**
 * Every admin route and every rgwx-* parameter refuse a user who is not a system user: a table over
 * all of them (the admin resources are checked against the zone's router, so a new one cannot be
 * left out), each answered 403 AccessDenied, and the zone's state is the same afterwards. Path
 * spellings that might reach the admin API by another name do not either.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { makeRealm, type TestRealm } from './helpers/realm.js';
import { call } from './helpers/http.js';
import { startZone, type RunningZone } from '../src/zone/server.js';

type Creds = { accessKey: string; secretKey: string };

const ADMIN_CALLS: [string, string, string?][] = [
  ['GET', '/admin/config'],
  ['GET', '/admin/log?type=metadata'],
  ['GET', '/admin/log?type=metadata&heads'],
  ['GET', '/admin/log?type=data&id=0'],
  ['GET', '/admin/log?type=data&id=0&info'],
  ['GET', '/admin/log?type=bucket-index&bucket-instance=refb:1'],
  ['GET', '/admin/log?type=bucket-index&bucket-instance=refb:1&info'],
  ['DELETE', '/admin/log?type=metadata&id=0&marker=9'],
  ['DELETE', '/admin/log?type=data&id=0&end-marker=9'],
  ['DELETE', '/admin/log?type=bucket-index&bucket-instance=refb:1&end-marker=9'],
  ['POST', '/admin/log?type=data&id=0&lock&length=30&zone-id=z&locker-id=l'],
  ['POST', '/admin/log?type=data&id=0&unlock&zone-id=z&locker-id=l'],
  ['POST', '/admin/log?type=data&notify'],
  ['GET', '/admin/replica_log?type=data&id=0&bounds'],
  ['POST', '/admin/replica_log?type=data&id=0&work_bound&marker=1&daemon_id=d', '[]'],
  ['DELETE', '/admin/replica_log?type=data&id=0&work_bound&daemon_id=d'],
  ['GET', '/admin/metadata'],
  ['GET', '/admin/metadata/user'],
  ['GET', '/admin/metadata/user?key=victim'],
  ['GET', '/admin/metadata/bucket?max-entries=10'],
  ['PUT', '/admin/metadata/user?key=intruder', '{"key":"user:intruder","data":{"user_id":"intruder","display_name":"x","keys":[],"system":"true"}}'],
  ['DELETE', '/admin/metadata/user?key=victim'],
  ['DELETE', '/admin/metadata/bucket?key=refb'],
  ['GET', '/admin/opstate?client-id=c&op-id=o'],
  ['POST', '/admin/opstate?client-id=c&op-id=o&object=refb/k&state=complete'],
  ['DELETE', '/admin/opstate?client-id=c&op-id=o'],
  ['GET', '/admin/realm'],
  ['GET', '/admin/realm/period'],
  ['GET', '/admin/user?uid=victim'],
  ['PUT', '/admin/user?uid=intruder&display-name=x&system=true'],
  ['DELETE', '/admin/user?uid=victim'],
  ['GET', '/admin'],
  ['GET', '/admin/'],
  ['GET', '/admin/no-such-resource'],
];

/** rgwx-* parameters on S3 requests: acting as another user, pulling from a zone, reading attributes. */
const RGWX_CALLS: [string, string, string?][] = [
  ['PUT', '/refb/planted?rgwx-uid=victim', 'x'],
  ['PUT', '/victim-bucket?rgwx-uid=victim'],
  ['GET', '/?rgwx-uid=victim'],
  ['GET', '/refb/k?rgwx-prepend-metadata=true'],
  ['PUT', '/refb/pulled?rgwx-source-zone=us-east&rgwx-client-id=c&rgwx-op-id=o'],
  ['DELETE', '/refb/k?rgwx-uid=bob'],
  ['GET', '/refb?rgwx-zonegroup=zg'],
  ['PUT', '/refb/planted?rgwx-version-id=planted', 'x'],
  ['PUT', '/refb/planted?rgwx-versioned-epoch=99', 'x'],
  ['DELETE', '/refb/k?rgwx-version-id=planted'],
  ['DELETE', '/refb/k?rgwx-versioned-epoch=99'],
];

/** Other spellings of the admin path: none may act as the admin API for a normal user. */
const SPELLINGS: [string, string][] = [
  ['PUT', '/Admin/user?uid=intruder2&system=true'],
  ['PUT', '/%61dmin/user?uid=intruder3&system=true'],
  ['PUT', '//admin/user?uid=intruder4&system=true'],
  ['PUT', '/admin/./user?uid=intruder5&system=true'],
  ['PUT', '/refb/../admin/user?uid=intruder6&system=true'],
  ['PUT', '/admin%2Fuser?uid=intruder7&system=true'],
];

describe('admin API and rgwx-* refuse non-system users', () => {
  let t: TestRealm;
  let zone: RunningZone;
  let bob: Creds;
  before(async () => {
    t = await makeRealm();
    const z = t.realm.zones[0];
    zone = await startZone({ realm: t.realm, zoneName: z.name, dataDir: join(t.dir, z.name) });
    const mk = async (uid: string) => {
      const r = await call(zone.url, 'PUT', `/admin/user?uid=${uid}&display-name=${uid}`, t);
      assert.equal(r.status, 200, r.text);
      const k = r.json<{ keys: { access_key: string; secret_key: string }[] }>().keys[0];
      return { accessKey: k.access_key, secretKey: k.secret_key };
    };
    bob = await mk('bob');
    const victim = await mk('victim');
    assert.equal((await call(zone.url, 'PUT', '/refb', bob)).status, 200);
    assert.equal((await call(zone.url, 'PUT', '/refb/k', bob, { body: 'kept' })).status, 200);
    assert.equal((await call(zone.url, 'PUT', '/victims', victim)).status, 200);
  });
  after(async () => {
    await zone?.close();
    t?.cleanup();
  });

  /** What a normal user must not be able to change, read as the system user. */
  const state = async () => {
    const parts = await Promise.all([
      call(zone.url, 'GET', '/admin/metadata/user', t), call(zone.url, 'GET', '/admin/metadata/bucket', t),
      call(zone.url, 'GET', '/admin/metadata/user?key=victim', t), call(zone.url, 'GET', '/admin/metadata/user?key=bob', t),
      call(zone.url, 'GET', '/admin/log?type=metadata', t), call(zone.url, 'GET', '/admin/log?type=data&id=0&info', t),
      call(zone.url, 'GET', '/refb?list-type=2', t), call(zone.url, 'GET', '/refb/k', t),
    ]);
    return parts.map((p) => `${p.status} ${p.text.replace(/<LastModified>[^<]*<\/LastModified>/g, '')}`);
  };

  it('the table names every admin resource the router has', () => {
    const server = readFileSync(fileURLToPath(new URL('../src/zone/server.js', import.meta.url)), 'utf8');
    const routed = [...server.matchAll(/case '([a-z_]+)':/g)].map((m) => m[1]);
    assert.ok(routed.length >= 7, `found the router's resources: ${routed.join(', ')}`);
    const tabled = new Set(ADMIN_CALLS.map(([, p]) => p.split('?')[0].split('/')[2]));
    for (const r of routed) assert.ok(tabled.has(r), `/admin/${r} is missing from the table`);
  });

  it('every admin call and every rgwx-* parameter: 403 AccessDenied, nothing changed', async () => {
    const before = await state();
    for (const [method, path, body] of [...ADMIN_CALLS, ...RGWX_CALLS]) {
      const r = await call(zone.url, method, path, bob, body !== undefined ? { body, headers: { 'content-type': 'application/json' } } : {});
      assert.equal(r.status, 403, `${method} ${path}: ${r.status} ${r.text.slice(0, 300)}`);
      if (method !== 'HEAD') assert.match(r.text, /AccessDenied/, `${method} ${path}`);
    }
    assert.deepEqual(await state(), before, 'the zone is as it was');
    for (const uid of ['intruder']) assert.equal((await call(zone.url, 'GET', `/admin/user?uid=${uid}`, t)).status, 404, `${uid} was not created`);
  });

  it('other spellings of /admin never act as the admin API', async () => {
    for (const [method, path] of SPELLINGS) {
      const r = await call(zone.url, method, path, bob);
      assert.ok(r.status >= 400, `${method} ${path}: ${r.status}`);
      const uid = /uid=(\w+)/.exec(path)![1];
      assert.equal((await call(zone.url, 'GET', `/admin/user?uid=${uid}`, t)).status, 404, `${path} created ${uid}`);
    }
  });

  it('the system user is let through the same gate (the table is not refused for everyone)', async () => {
    for (const [method, path] of [['GET', '/admin/config'], ['GET', '/admin/metadata/user'], ['GET', '/refb/k?rgwx-prepend-metadata=true']]) {
      const r = await call(zone.url, method, path, t);
      assert.equal(r.status, 200, `${method} ${path}: ${r.text.slice(0, 200)}`);
    }
  });
});
