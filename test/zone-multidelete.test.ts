/**
 * DeleteObjects (POST ?delete) and GET ?versioning on the embedded zone, by hand-built requests and
 * with the AWS SDK; each delete lands in the bucket-index log like a single DELETE.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { DeleteObjectsCommand, GetBucketVersioningCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { makeRealm, type TestRealm } from './helpers/realm.js';
import { call } from './helpers/http.js';
import { startZone, type RunningZone } from '../src/zone/server.js';
import { parseDeleteRequest } from '../src/zone/multidelete.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const deleteDoc = (keys: string[], quiet = false) => `<Delete>${quiet ? '<Quiet>true</Quiet>' : ''}${keys.map((k) => `<Object><Key>${esc(k)}</Key></Object>`).join('')}</Delete>`;
const md5b64 = (s: string) => createHash('md5').update(s).digest('base64');

describe('parseDeleteRequest', () => {
  it('keys byte for byte (spaces, entities, digits), Quiet', () => {
    assert.deepEqual(parseDeleteRequest(deleteDoc([' lead', 'a&b<c>', '007', 'ü/文件'], true)), { objects: [' lead', 'a&b<c>', '007', 'ü/文件'].map((key) => ({ key })), quiet: true });
  });
  for (const [name, body] of [
    ['not XML', 'nope<'], ['no Object', '<Delete></Delete>'], ['an Object without Key', '<Delete><Object></Object></Delete>'],
    ['1,001 keys', deleteDoc(Array.from({ length: 1001 }, (_, i) => `k${i}`))], ['another document', '<Other><Object><Key>k</Key></Object></Other>'],
  ] as const) {
    it(`refuses ${name}`, () => assert.throws(() => parseDeleteRequest(body), (e: { code?: string }) => e.code === 'MalformedXML'));
  }
});

describe('DeleteObjects and GET ?versioning on a running zone', () => {
  let t: TestRealm;
  let zone: RunningZone;
  let alice: { accessKey: string; secretKey: string };
  const lines: string[] = [];

  before(async () => {
    t = await makeRealm();
    const z = t.realm.zones[0];
    zone = await startZone({ realm: t.realm, zoneName: z.name, dataDir: join(t.dir, z.name), log: (level, msg) => lines.push(`${level} ${msg}`) });
    const r = await call(zone.url, 'PUT', '/admin/user?uid=alice&display-name=Alice', t);
    const k = r.json<{ keys: { access_key: string; secret_key: string }[] }>().keys[0];
    alice = { accessKey: k.access_key, secretKey: k.secret_key };
    assert.equal((await call(zone.url, 'PUT', '/mdel', alice)).status, 200);
  });
  after(async () => {
    await zone?.close();
    t?.cleanup();
  });

  const put = async (key: string) => assert.equal((await call(zone.url, 'PUT', `/mdel/${encodeURIComponent(key).replace(/%2F/g, '/')}`, alice, { body: key })).status, 200);
  const keys = async () => {
    const r = await call(zone.url, 'GET', '/mdel?list-type=2', alice);
    return [...r.text.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]);
  };

  it('verbose: every key answered Deleted (a missing one too, as S3 does), each logged as a delete in the bucket-index log', async () => {
    for (const k of ['a', 'b c', 'd&e', 'keep']) await put(k);
    const body = deleteDoc(['a', 'b c', 'd&e', 'never existed']);
    const r = await call(zone.url, 'POST', '/mdel?delete', alice, { body, headers: { 'content-md5': md5b64(body), 'content-type': 'application/xml' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([...r.text.matchAll(/<Deleted><Key>([^<]*)<\/Key><\/Deleted>/g)].map((m) => m[1]), ['a', 'b c', 'd&amp;e', 'never existed']);
    assert.deepEqual(await keys(), ['keep']);
    const meta = await call(zone.url, 'GET', '/admin/metadata/bucket?key=mdel', t);
    const id = meta.json<{ data: { bucket: { bucket_id: string } } }>().data.bucket.bucket_id;
    const log = await call(zone.url, 'GET', `/admin/log?type=bucket-index&bucket-instance=${encodeURIComponent(`mdel:${id}`)}`, t);
    const dels = log.json<{ op: string; object: string }[]>().filter((e) => e.op === 'del').map((e) => e.object).sort();
    assert.deepEqual(dels, ['a', 'b c', 'd&e'], 'one log entry per key that existed');
  });

  it('quiet: only failures are answered; a bad Content-MD5 deletes nothing', async () => {
    await put('q1');
    const body = deleteDoc(['q1', 'x'.repeat(1100)], true);
    const r = await call(zone.url, 'POST', '/mdel?delete', alice, { body });
    assert.equal(r.status, 200, r.text);
    assert.doesNotMatch(r.text, /<Deleted>/);
    assert.match(r.text, /<Error><Key>x+<\/Key><Code>KeyTooLongError<\/Code>/);
    await put('kept');
    const bad = await call(zone.url, 'POST', '/mdel?delete', alice, { body: deleteDoc(['kept']), headers: { 'content-md5': md5b64('something else') } });
    assert.equal(bad.status, 400);
    assert.match(bad.text, /BadDigest/);
    assert.ok((await keys()).includes('kept'));
  });

  it('another user\'s bucket: 403; GET is not DeleteObjects', async () => {
    const r = await call(zone.url, 'PUT', '/admin/user?uid=bob&display-name=Bob', t);
    const k = r.json<{ keys: { access_key: string; secret_key: string }[] }>().keys[0];
    const bob = { accessKey: k.access_key, secretKey: k.secret_key };
    assert.equal((await call(zone.url, 'POST', '/mdel?delete', bob, { body: deleteDoc(['keep']) })).status, 403);
    assert.equal((await call(zone.url, 'GET', '/mdel?delete', alice)).status, 405);
    assert.ok((await keys()).includes('keep'));
  });

  it('GET ?versioning: never enabled; PUT ?versioning with MFA delete: 501 naming the feature, logged in one line at warn', async () => {
    const g = await call(zone.url, 'GET', '/mdel?versioning', alice);
    assert.equal(g.status, 200);
    assert.match(g.text, /<VersioningConfiguration xmlns="http:\/\/s3.amazonaws.com\/doc\/2006-03-01\/"\/>/);
    lines.length = 0;
    // Versioning itself is built (test/zone-versioning.test.ts); MFA delete is not.
    const p = await call(zone.url, 'PUT', '/mdel?versioning', alice, { body: '<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Enabled</MfaDelete></VersioningConfiguration>' });
    assert.equal(p.status, 501);
    assert.match(p.text, /NotImplemented.*MFA delete/s);
    assert.equal((await call(zone.url, 'GET', '/mdel?versioning', alice)).text, g.text, 'nothing changed');
    const logged = lines.filter((l) => l.includes('?versioning'));
    assert.equal(logged.length, 1, lines.join('\n'));
    assert.match(logged[0], /^warn PUT \/mdel\?versioning: 501 .*versioning/);
    assert.ok(!logged[0].includes('\n') && !logged[0].includes('    at '), 'no stack');
  });

  it('the AWS SDK: DeleteObjects (its default checksum) and GetBucketVersioning', async () => {
    const s3 = new S3Client({ endpoint: zone.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: alice.accessKey, secretAccessKey: alice.secretKey } });
    try {
      for (const k of ['sdk/1', 'sdk/2', 'sdk/3']) await s3.send(new PutObjectCommand({ Bucket: 'mdel', Key: k, Body: k }));
      const out = await s3.send(new DeleteObjectsCommand({ Bucket: 'mdel', Delete: { Objects: [{ Key: 'sdk/1' }, { Key: 'sdk/2' }] } }));
      assert.deepEqual(out.Deleted?.map((d) => d.Key), ['sdk/1', 'sdk/2']);
      const left = await s3.send(new ListObjectsV2Command({ Bucket: 'mdel', Prefix: 'sdk/' }));
      assert.deepEqual(left.Contents?.map((c) => c.Key), ['sdk/3']);
      const v = await s3.send(new GetBucketVersioningCommand({ Bucket: 'mdel' }));
      assert.equal(v.Status, undefined, 'never enabled');
    } finally {
      s3.destroy();
    }
  });
});
