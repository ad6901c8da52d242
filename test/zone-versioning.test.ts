/**
 * Bucket versioning on the embedded zone: the pure decisions as tables, then real HTTP against two
 * zones (us-east, us-west) on ephemeral ports: states, versions and delete markers, listing,
 * the system user's rgwx-version-id / rgwx-versioned-epoch, the bucket-index log, metadata sync
 * of the state, remote copy of a version, a restart, and Debian's aws-cli.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeRealm, type TestRealm } from './helpers/realm.js';
import { call, type Reply } from './helpers/http.js';
import Database from 'better-sqlite3';
import { startZone, type RunningZone } from '../src/zone/server.js';
import { compareNewestFirst, currentOf, flagsFor, newVersionId, parseVersioningStatus, planVersion, stateFromFlags, type VersionPos } from '../src/zone/versions.js';

type Creds = { accessKey: string; secretKey: string };

const pos = (version_id: string, epoch: number, seq: number, delete_marker = 0): VersionPos => ({ version_id, epoch, seq, delete_marker });

describe('versions.ts decisions', () => {
  it('flags <-> state', () => {
    const table: [number, string][] = [[0, 'off'], [0x2, 'enabled'], [0x6, 'suspended'], [0x4, 'off'], [0x1 | 0x2, 'enabled'], [0x1 | 0x6, 'suspended']];
    for (const [flags, state] of table) assert.equal(stateFromFlags(flags), state, `flags ${flags}`);
    assert.equal(flagsFor('enabled', 0x6 | 0x1), 0x3);
    assert.equal(flagsFor('suspended', 0x1), 0x7);
  });

  it('the current version: highest epoch, ties to the later write', () => {
    const table: [VersionPos[], string | undefined][] = [
      [[], undefined],
      [[pos('a', 1, 1)], 'a'],
      [[pos('a', 1, 1), pos('b', 2, 2)], 'b'],
      [[pos('a', 5, 1), pos('b', 2, 2)], 'a'],
      [[pos('a', 3, 1), pos('b', 3, 2)], 'b'],
      [[pos('a', 3, 9), pos('m', 3, 2, 1)], 'a'],
      [[pos('null', 0, 0), pos('m', 1, 5, 1)], 'm'],
    ];
    for (const [vs, want] of table) assert.equal(currentOf(vs)?.version_id, want, JSON.stringify(vs));
    assert.deepEqual([pos('a', 1, 1), pos('b', 3, 2), pos('c', 3, 3)].sort(compareNewestFirst).map((v) => v.version_id), ['c', 'b', 'a']);
  });

  it('what a write does in each state', () => {
    const id = () => 'NEW';
    const stack = [pos('null', 0, 0), pos('v1', 1, 3), pos('v2', 4, 4)];
    const table: [string, Parameters<typeof planVersion>[0], VersionPos[], { versionId?: string; epoch?: number }, ReturnType<typeof planVersion>][] = [
      ['off, no versions: plain', 'off', [], {}, 'plain'],
      ['enabled after removals: above the OLH epoch', 'enabled', [pos('v1', 1, 1)], {}, { versionId: 'NEW', epoch: 8 }],
      ['off, agent params ignored', 'off', [], { versionId: 'x', epoch: 3 }, 'plain'],
      ['off but the key has versions: as suspended', 'off', stack, {}, { versionId: 'null', epoch: 5, replaces: 'null' }],
      ['enabled: a new id above the highest epoch', 'enabled', stack, {}, { versionId: 'NEW', epoch: 5 }],
      ['enabled, first version', 'enabled', [], {}, { versionId: 'NEW', epoch: 1 }],
      ['enabled, asked id and epoch', 'enabled', stack, { versionId: 'v9', epoch: 2 }, { versionId: 'v9', epoch: 2 }],
      ['enabled, asked id that exists: replaced', 'enabled', stack, { versionId: 'v1' }, { versionId: 'v1', epoch: 5, replaces: 'v1' }],
      ['suspended: the null version replaced', 'suspended', stack, {}, { versionId: 'null', epoch: 5, replaces: 'null' }],
      ['suspended, no null yet', 'suspended', [pos('v1', 1, 1)], {}, { versionId: 'null', epoch: 2 }],
      ['suspended, an agent recreates an old version', 'suspended', stack, { versionId: 'old', epoch: 2 }, { versionId: 'old', epoch: 2 }],
    ];
    for (const [name, state, existing, ask, want] of table) assert.deepEqual(planVersion(state, existing, ask, { newId: id, olhEpoch: name.includes('OLH') ? 7 : 0 }), want, name);
  });

  it('version ids and VersioningConfiguration bodies', () => {
    const ids = new Set(Array.from({ length: 200 }, newVersionId));
    assert.equal(ids.size, 200);
    for (const v of ids) assert.match(v, /^[A-Za-z0-9_-]{32}$/);
    assert.deepEqual(parseVersioningStatus({ VersioningConfiguration: { Status: 'Enabled' } }), { status: 'Enabled' });
    assert.deepEqual(parseVersioningStatus({ VersioningConfiguration: { Status: 'Suspended', MfaDelete: 'Enabled' } }), { status: 'Suspended', mfaDelete: 'Enabled' });
    assert.deepEqual(parseVersioningStatus({ VersioningConfiguration: '' }), {});
    assert.equal(parseVersioningStatus({ VersioningConfiguration: { Status: 'On' } }), undefined);
    assert.equal(parseVersioningStatus({ Other: {} }), undefined);
  });
});

interface Listed { kind: 'Version' | 'DeleteMarker'; key: string; id: string; latest: boolean; etag?: string }

function parseVersions(xml: string): { items: Listed[]; prefixes: string[]; truncated: boolean; nextKey?: string; nextVersion?: string } {
  const tag = (s: string, name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(s)?.[1];
  const items = [...xml.matchAll(/<(Version|DeleteMarker)>(.*?)<\/\1>/g)].map((m) => ({
    kind: m[1] as Listed['kind'], key: tag(m[2], 'Key')!, id: tag(m[2], 'VersionId')!, latest: tag(m[2], 'IsLatest') === 'true',
    ...(m[1] === 'Version' ? { etag: tag(m[2], 'ETag')!.replace(/&quot;/g, '') } : {}),
  }));
  const prefixes = [...xml.matchAll(/<CommonPrefixes><Prefix>([^<]*)<\/Prefix><\/CommonPrefixes>/g)].map((m) => m[1]);
  return { items, prefixes, truncated: tag(xml, 'IsTruncated') === 'true', nextKey: tag(xml, 'NextKeyMarker'), nextVersion: tag(xml, 'NextVersionIdMarker') };
}

const ENABLED = '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>';
const SUSPENDED = '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Suspended</Status></VersioningConfiguration>';

interface BilogRow { op: string; object: string; instance: string; versioned: boolean; ver: { epoch: number }; bilog_flags: number }

describe('embedded zone: bucket versioning', () => {
  let t: TestRealm;
  let east: RunningZone;
  let west: RunningZone;
  let alice: Creds;
  let bob: Creds;
  const sys = (): Creds => ({ accessKey: t.accessKey, secretKey: t.secretKey });
  const enc = (key: string) => key.split('/').map(encodeURIComponent).join('/');
  const put = (base: string, bucket: string, key: string, body: string | Buffer, creds: Creds = alice, query = '', headers: Record<string, string> = {}) =>
    call(base, 'PUT', `/${bucket}/${enc(key)}${query}`, creds, { body, headers });
  const get = (base: string, bucket: string, key: string, query = '', creds: Creds = alice, headers: Record<string, string> = {}) =>
    call(base, 'GET', `/${bucket}/${enc(key)}${query}`, creds, { headers });
  const setVersioning = (base: string, bucket: string, body: string, creds: Creds = alice) => call(base, 'PUT', `/${bucket}?versioning`, creds, { body });
  const versions = async (base: string, bucket: string, q = '', creds: Creds = alice) => {
    const r = await call(base, 'GET', `/${bucket}?versions${q}`, creds);
    assert.equal(r.status, 200, r.text);
    return parseVersions(r.text);
  };
  const plainKeys = async (base: string, bucket: string) => [...(await call(base, 'GET', `/${bucket}?list-type=2`, alice)).text.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]);
  const instanceOf = async (base: string, bucket: string) => {
    const doc = await call(base, 'GET', `/admin/metadata/bucket?key=${bucket}`, sys());
    return `${bucket}:${doc.json<{ data: { bucket: { bucket_id: string } } }>().data.bucket.bucket_id}`;
  };
  const bilog = async (base: string, bucket: string) => (await call(base, 'GET', `/admin/log?type=bucket-index&bucket-instance=${encodeURIComponent(await instanceOf(base, bucket))}&max-entries=1000`, sys())).json<BilogRow[]>();
  const objectFiles = (zoneDir: string) => readdirSync(join(zoneDir, 'objects')).flatMap((d) => readdirSync(join(zoneDir, 'objects', d)));
  const big = (c: string) => Buffer.alloc(200 * 1024, c);

  /** The user, bucket and bucket instance metadata of `bucket` from east to west, as metadata sync does. */
  async function replicateBucket(bucket: string): Promise<void> {
    const inst = await instanceOf(east.url, bucket);
    const doc = await call(east.url, 'GET', `/admin/metadata/bucket.instance?key=${encodeURIComponent(inst)}`, sys());
    assert.equal((await call(west.url, 'PUT', `/admin/metadata/bucket.instance?key=${encodeURIComponent(inst)}`, sys(), { body: doc.body })).status, 200);
    const b = await call(east.url, 'GET', `/admin/metadata/bucket?key=${bucket}`, sys());
    assert.equal((await call(west.url, 'PUT', `/admin/metadata/bucket?key=${bucket}`, sys(), { body: b.body })).status, 200);
  }

  before(async () => {
    t = await makeRealm();
    east = await startZone({ realm: t.realm, zoneName: 'us-east', dataDir: join(t.dir, 'east') });
    west = await startZone({ realm: t.realm, zoneName: 'us-west', dataDir: join(t.dir, 'west') });
    for (const uid of ['alice', 'bob']) {
      const r = await call(east.url, 'PUT', `/admin/user?uid=${uid}&display-name=${uid}`, sys());
      const k = r.json<{ keys: { access_key: string; secret_key: string }[] }>().keys[0];
      const creds = { accessKey: k.access_key, secretKey: k.secret_key };
      if (uid === 'alice') alice = creds; else bob = creds;
      const doc = await call(east.url, 'GET', `/admin/metadata/user?key=${uid}`, sys());
      assert.equal((await call(west.url, 'PUT', `/admin/metadata/user?key=${uid}`, sys(), { body: doc.body })).status, 200);
    }
  });

  after(async () => {
    await Promise.all([east?.close(), west?.close()]);
    t?.cleanup();
  });

  it('enable, suspend, resume: GET ?versioning, bad bodies, the flags and the metadata log', async () => {
    assert.equal((await call(east.url, 'PUT', '/vb-b', alice)).status, 200);
    const unset = await call(east.url, 'GET', '/vb-b?versioning', alice);
    assert.equal(unset.status, 200);
    assert.doesNotMatch(unset.text, /<Status>/);
    assert.equal((await setVersioning(east.url, 'vb-b', '<VersioningConfiguration><Status>Sideways</Status></VersioningConfiguration>')).status, 400);
    assert.match((await setVersioning(east.url, 'vb-b', '<VersioningConfiguration><Status>')).text, /MalformedXML/);
    assert.equal((await setVersioning(east.url, 'vb-b', '<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Enabled</MfaDelete></VersioningConfiguration>')).status, 501);
    assert.equal((await setVersioning(east.url, 'vb-b', ENABLED, bob)).status, 403);
    const inst = await instanceOf(east.url, 'vb-b');
    const before = (await call(east.url, 'GET', `/admin/metadata/bucket.instance?key=${encodeURIComponent(inst)}`, sys())).json<{ ver: { ver: number } }>();
    assert.equal((await setVersioning(east.url, 'vb-b', ENABLED)).status, 200);
    assert.match((await call(east.url, 'GET', '/vb-b?versioning', alice)).text, /<Status>Enabled<\/Status>/);
    const doc = (await call(east.url, 'GET', `/admin/metadata/bucket.instance?key=${encodeURIComponent(inst)}`, sys())).json<{ ver: { ver: number }; data: { bucket_info: { flags: number } } }>();
    assert.equal(doc.data.bucket_info.flags, 0x2);
    assert.equal(doc.ver.ver, before.ver.ver + 1);
    const mdlog = (await call(east.url, 'GET', '/admin/log?type=metadata', sys())).json<{ num_objects: number }>();
    assert.ok(mdlog.num_objects > 0);
    // The instance change is in its metadata shard's log.
    let found = false;
    for (let shard = 0; shard < mdlog.num_objects && !found; shard++) {
      const entries = (await call(east.url, 'GET', `/admin/log?type=metadata&id=${shard}&max-entries=1000`, sys())).json<{ entries?: { section: string; name: string; data: { write_version: { ver: number } } }[] }>();
      found = (entries.entries ?? []).some((e) => e.section === 'bucket.instance' && e.name === inst && e.data.write_version.ver === doc.ver.ver);
    }
    assert.ok(found, 'the flags change is logged as a bucket.instance change');
    assert.equal((await setVersioning(east.url, 'vb-b', SUSPENDED)).status, 200);
    assert.match((await call(east.url, 'GET', '/vb-b?versioning', alice)).text, /<Status>Suspended<\/Status>/);
    const suspended = (await call(east.url, 'GET', `/admin/metadata/bucket.instance?key=${encodeURIComponent(inst)}`, sys())).json<{ data: { bucket_info: { flags: number } } }>();
    assert.equal(suspended.data.bucket_info.flags, 0x6);
    assert.equal((await setVersioning(east.url, 'vb-b', ENABLED, sys())).status, 200, 'a system user may set it too');
    assert.match((await call(east.url, 'GET', '/vb-b?versioning', alice)).text, /<Status>Enabled<\/Status>/);
  });

  it('versions of a key: the old object is the null version, GET by id, headers on every GET/HEAD', async () => {
    assert.equal((await call(east.url, 'PUT', '/vk-b', alice)).status, 200);
    const pre = await put(east.url, 'vk-b', 'k', 'v0');
    assert.equal(pre.headers['x-amz-version-id'], undefined, 'an unversioned bucket answers no version id');
    assert.equal((await get(east.url, 'vk-b', 'k')).headers['x-amz-version-id'], undefined);
    assert.equal((await setVersioning(east.url, 'vk-b', ENABLED)).status, 200);
    assert.equal((await get(east.url, 'vk-b', 'k')).headers['x-amz-version-id'], 'null');
    const p1 = await put(east.url, 'vk-b', 'k', 'v1');
    const p2 = await put(east.url, 'vk-b', 'k', 'v2');
    const id1 = String(p1.headers['x-amz-version-id']);
    const id2 = String(p2.headers['x-amz-version-id']);
    assert.match(id1, /^[A-Za-z0-9_-]{32}$/);
    assert.notEqual(id1, id2);
    const cur = await get(east.url, 'vk-b', 'k');
    assert.equal(cur.text, 'v2');
    assert.equal(cur.headers['x-amz-version-id'], id2);
    for (const [id, body] of [[id1, 'v1'], [id2, 'v2'], ['null', 'v0']]) {
      const r = await get(east.url, 'vk-b', 'k', `?versionId=${id}`);
      assert.equal(r.status, 200);
      assert.equal(r.text, body);
      assert.equal(r.headers['x-amz-version-id'], id);
      const h = await call(east.url, 'HEAD', `/vk-b/k?versionId=${id}`, alice);
      assert.equal(h.headers['x-amz-version-id'], id);
      assert.equal(h.headers['content-length'], String(body.length));
    }
    assert.equal((await get(east.url, 'vk-b', 'k', '?versionId=NoSuchVersionIdAtAllxxxxxxxxxxxx')).status, 404);
    assert.match((await get(east.url, 'vk-b', 'k', '?versionId=NoSuchVersionIdAtAllxxxxxxxxxxxx')).text, /NoSuchVersion/);
    // Conditionals, prepended metadata and ?tagging/?acl read the named version.
    const etag1 = String((await get(east.url, 'vk-b', 'k', `?versionId=${id1}`)).headers.etag);
    assert.equal((await get(east.url, 'vk-b', 'k', `?versionId=${id1}`, alice, { 'if-match': etag1 })).status, 200);
    assert.equal((await get(east.url, 'vk-b', 'k', '', alice, { 'if-match': etag1 })).status, 412);
    assert.equal((await get(east.url, 'vk-b', 'k', `?versionId=${id1}`, alice, { 'if-none-match': etag1 })).status, 304);
    const pre1 = await get(east.url, 'vk-b', 'k', `?rgwx-prepend-metadata=true&versionId=${id1}`, sys());
    const len = Number(pre1.headers['rgwx-embedded-metadata-len']);
    assert.equal(pre1.body.subarray(len).toString(), 'v1');
    assert.equal((await call(east.url, 'PUT', `/vk-b/k?tagging&versionId=${id1}`, alice, { body: '<Tagging><TagSet><Tag><Key>old</Key><Value>yes</Value></Tag></TagSet></Tagging>' })).status, 200);
    assert.match((await get(east.url, 'vk-b', 'k', `?tagging&versionId=${id1}`)).text, /<Key>old<\/Key>/);
    assert.doesNotMatch((await get(east.url, 'vk-b', 'k', '?tagging')).text, /<Key>old<\/Key>/, 'the current version keeps its own tags');
    assert.equal((await call(east.url, 'PUT', `/vk-b/k?acl&versionId=${id1}`, alice, { headers: { 'x-amz-acl': 'public-read' } })).status, 200);
    assert.match((await get(east.url, 'vk-b', 'k', `?acl&versionId=${id1}`)).text, /AllUsers/);
    assert.doesNotMatch((await get(east.url, 'vk-b', 'k', '?acl')).text, /AllUsers/);
    assert.equal((await get(east.url, 'vk-b', 'k', `?versionId=${id1}`)).text, 'v1', 'a tag change keeps the bytes');
    assert.equal((await get(east.url, 'vk-b', 'k')).text, 'v2', 'and the current version');
    // A copy of an old version by x-amz-copy-source ?versionId.
    const copied = await put(east.url, 'vk-b', 'copy', '', alice, '', { 'x-amz-copy-source': `vk-b/k?versionId=${id1}` });
    assert.equal(copied.status, 200, copied.text);
    assert.equal(copied.headers['x-amz-copy-source-version-id'], id1);
    assert.ok(copied.headers['x-amz-version-id']);
    assert.equal((await get(east.url, 'vk-b', 'copy')).text, 'v1');
  });

  it('delete markers: 404 with headers, 405 by id, then removing versions rolls back', async () => {
    assert.equal((await call(east.url, 'PUT', '/vd-b', alice)).status, 200);
    assert.equal((await setVersioning(east.url, 'vd-b', ENABLED)).status, 200);
    const id1 = String((await put(east.url, 'vd-b', 'k', 'one')).headers['x-amz-version-id']);
    const id2 = String((await put(east.url, 'vd-b', 'k', 'two')).headers['x-amz-version-id']);
    const del = await call(east.url, 'DELETE', '/vd-b/k', alice);
    assert.equal(del.status, 204);
    assert.equal(del.headers['x-amz-delete-marker'], 'true');
    const dm = String(del.headers['x-amz-version-id']);
    assert.ok(dm && dm !== id2);
    const g = await get(east.url, 'vd-b', 'k');
    assert.equal(g.status, 404);
    assert.match(g.text, /NoSuchKey/);
    assert.equal(g.headers['x-amz-delete-marker'], 'true');
    assert.equal(g.headers['x-amz-version-id'], dm);
    const h = await call(east.url, 'HEAD', '/vd-b/k', alice);
    assert.equal(h.status, 404);
    assert.equal(h.headers['x-amz-delete-marker'], 'true');
    const byId = await get(east.url, 'vd-b', 'k', `?versionId=${dm}`);
    assert.equal(byId.status, 405);
    assert.equal(byId.headers['x-amz-delete-marker'], 'true');
    assert.equal((await call(east.url, 'HEAD', `/vd-b/k?versionId=${dm}`, alice)).status, 405);
    assert.deepEqual(await plainKeys(east.url, 'vd-b'), [], 'a deleted key is not listed');
    // The old versions are still there.
    assert.equal((await get(east.url, 'vd-b', 'k', `?versionId=${id1}`)).text, 'one');
    // Removing the marker brings v2 back; removing v2 then brings v1 back.
    const rm = await call(east.url, 'DELETE', `/vd-b/k?versionId=${dm}`, alice);
    assert.equal(rm.status, 204);
    assert.equal(rm.headers['x-amz-delete-marker'], 'true');
    assert.equal(rm.headers['x-amz-version-id'], dm);
    assert.equal((await get(east.url, 'vd-b', 'k')).text, 'two');
    assert.deepEqual(await plainKeys(east.url, 'vd-b'), ['k']);
    assert.equal((await call(east.url, 'DELETE', `/vd-b/k?versionId=${id2}`, alice)).status, 204);
    const back = await get(east.url, 'vd-b', 'k');
    assert.equal(back.text, 'one');
    assert.equal(back.headers['x-amz-version-id'], id1);
    assert.equal((await get(east.url, 'vd-b', 'k', `?versionId=${id2}`)).status, 404);
    assert.equal((await call(east.url, 'DELETE', `/vd-b/k?versionId=${id1}`, alice)).status, 204);
    assert.equal((await get(east.url, 'vd-b', 'k')).status, 404);
    assert.deepEqual((await versions(east.url, 'vd-b')).items, []);
    assert.equal((await call(east.url, 'DELETE', '/vd-b', alice)).status, 204, 'an empty versioned bucket can go');
  });

  it('suspended: writes replace the null version (its bytes freed), a DELETE makes the null marker', async () => {
    const dir = join(t.dir, 'east');
    assert.equal((await call(east.url, 'PUT', '/vs-b', alice)).status, 200);
    const filesBefore = objectFiles(dir).length;
    await put(east.url, 'vs-b', 'k', big('0'));
    assert.equal((await setVersioning(east.url, 'vs-b', ENABLED)).status, 200);
    const id1 = String((await put(east.url, 'vs-b', 'k', big('1'))).headers['x-amz-version-id']);
    assert.equal(objectFiles(dir).length, filesBefore + 2);
    assert.equal((await setVersioning(east.url, 'vs-b', SUSPENDED)).status, 200);
    const n1 = await put(east.url, 'vs-b', 'k', big('n'));
    assert.equal(n1.headers['x-amz-version-id'], 'null');
    assert.equal(objectFiles(dir).length, filesBefore + 2, 'the null version written before versioning was replaced and its file freed');
    assert.equal((await get(east.url, 'vs-b', 'k')).body[0], 'n'.charCodeAt(0));
    const n2 = await put(east.url, 'vs-b', 'k', big('m'));
    assert.equal(n2.headers['x-amz-version-id'], 'null');
    assert.equal(objectFiles(dir).length, filesBefore + 2);
    let l = await versions(east.url, 'vs-b');
    assert.deepEqual(l.items.map((i) => [i.id, i.latest]), [['null', true], [id1, false]]);
    const del = await call(east.url, 'DELETE', '/vs-b/k', alice);
    assert.equal(del.headers['x-amz-version-id'], 'null');
    assert.equal(del.headers['x-amz-delete-marker'], 'true');
    assert.equal(objectFiles(dir).length, filesBefore + 1, 'the null marker replaced the null version');
    l = await versions(east.url, 'vs-b');
    assert.deepEqual(l.items.map((i) => [i.kind, i.id, i.latest]), [['DeleteMarker', 'null', true], ['Version', id1, false]]);
    // Resumed: new versions stack on top again.
    assert.equal((await setVersioning(east.url, 'vs-b', ENABLED)).status, 200);
    const id3 = String((await put(east.url, 'vs-b', 'k', 'three')).headers['x-amz-version-id']);
    assert.notEqual(id3, 'null');
    assert.equal((await get(east.url, 'vs-b', 'k')).text, 'three');
    assert.equal((await call(east.url, 'DELETE', '/vs-b', alice)).status, 409, 'BucketNotEmpty while versions remain');
    for (const id of [id3, 'null', id1]) assert.equal((await call(east.url, 'DELETE', `/vs-b/k?versionId=${id}`, alice)).status, 204);
    assert.equal(objectFiles(dir).length, filesBefore, 'every version file freed');
    assert.equal((await call(east.url, 'DELETE', '/vs-b', alice)).status, 204);
  });

  it('BucketNotEmpty while only a delete marker remains', async () => {
    assert.equal((await call(east.url, 'PUT', '/vm-b', alice)).status, 200);
    assert.equal((await setVersioning(east.url, 'vm-b', ENABLED)).status, 200);
    const dm = String((await call(east.url, 'DELETE', '/vm-b/never-was', alice)).headers['x-amz-version-id']);
    assert.deepEqual(await plainKeys(east.url, 'vm-b'), []);
    const r = await call(east.url, 'DELETE', '/vm-b', alice);
    assert.equal(r.status, 409);
    assert.match(r.text, /BucketNotEmpty/);
    assert.equal((await call(east.url, 'DELETE', `/vm-b/never-was?versionId=${dm}`, alice)).status, 204);
    assert.equal((await call(east.url, 'DELETE', '/vm-b', alice)).status, 204);
  });

  it('ListObjectVersions: order, IsLatest, paging by key and version-id markers, prefix and delimiter', async () => {
    assert.equal((await call(east.url, 'PUT', '/vl-b', alice)).status, 200);
    await put(east.url, 'vl-b', 'a', 'a-null');
    assert.equal((await setVersioning(east.url, 'vl-b', ENABLED)).status, 200);
    const ids: Record<string, string[]> = { a: ['null'], b: [], 'd/x': [], 'd/y': [] };
    for (const [key, n] of [['a', 2], ['b', 3], ['d/x', 1], ['d/y', 1]] as [string, number][]) {
      for (let i = 0; i < n; i++) ids[key].push(String((await put(east.url, 'vl-b', key, `${key}${i}`)).headers['x-amz-version-id']));
    }
    const dm = String((await call(east.url, 'DELETE', '/vl-b/b', alice)).headers['x-amz-version-id']);
    ids.b.push(dm);
    const all = await versions(east.url, 'vl-b');
    const expected = (['a', 'b', 'd/x', 'd/y'] as const).flatMap((k) => [...ids[k]].reverse().map((id, i) => [k, id, i === 0]));
    assert.deepEqual(all.items.map((i) => [i.key, i.id, i.latest]), expected);
    assert.equal(all.items.find((i) => i.id === dm)?.kind, 'DeleteMarker');
    assert.equal(all.truncated, false);
    // Pages of 2, resumed by NextKeyMarker + NextVersionIdMarker: the same sequence, no IsLatest inside a resumed key.
    const paged: [string, string, boolean][] = [];
    let q = '&max-keys=2';
    for (let pages = 0; pages < 20; pages++) {
      const page = await versions(east.url, 'vl-b', q);
      paged.push(...page.items.map((i): [string, string, boolean] => [i.key, i.id, i.latest]));
      if (!page.truncated) break;
      assert.ok(page.nextKey !== undefined && page.nextVersion !== undefined);
      q = `&max-keys=2&key-marker=${encodeURIComponent(page.nextKey)}&version-id-marker=${encodeURIComponent(page.nextVersion)}`;
    }
    assert.deepEqual(paged, expected);
    // key-marker alone starts after that key.
    assert.deepEqual((await versions(east.url, 'vl-b', '&key-marker=b')).items.map((i) => i.key), ['d/x', 'd/y']);
    const pre = await versions(east.url, 'vl-b', '&prefix=d/');
    assert.deepEqual(pre.items.map((i) => i.key), ['d/x', 'd/y']);
    const delim = await versions(east.url, 'vl-b', '&delimiter=/');
    assert.deepEqual(delim.prefixes, ['d/']);
    assert.deepEqual([...new Set(delim.items.map((i) => i.key))], ['a', 'b']);
    const trunc = await versions(east.url, 'vl-b', '&delimiter=/&max-keys=6');
    assert.equal(trunc.items.length, 6);
    assert.equal(trunc.truncated, true);
    const rest = await versions(east.url, 'vl-b', `&delimiter=/&key-marker=${trunc.nextKey}&version-id-marker=${trunc.nextVersion}`);
    assert.deepEqual(rest.prefixes, ['d/']);
    assert.deepEqual(rest.items.map((i) => [i.key, i.latest]), [['b', false]], 'the rest of b, then the prefix');
    // Plain listings show current versions only: b's current is a marker.
    assert.deepEqual(await plainKeys(east.url, 'vl-b'), ['a', 'd/x', 'd/y']);
    // An unversioned bucket lists its objects as null versions.
    assert.equal((await call(east.url, 'PUT', '/vu-b', alice)).status, 200);
    await put(east.url, 'vu-b', 'only', 'x');
    assert.deepEqual((await versions(east.url, 'vu-b')).items.map((i) => [i.key, i.id, i.latest]), [['only', 'null', true]]);
  });

  it('multipart complete makes a new version; DeleteObjects honours VersionId', async () => {
    assert.equal((await call(east.url, 'PUT', '/vmp', alice)).status, 200);
    assert.equal((await setVersioning(east.url, 'vmp', ENABLED)).status, 200);
    const first = String((await put(east.url, 'vmp', 'mp', 'before')).headers['x-amz-version-id']);
    const init = await call(east.url, 'POST', '/vmp/mp?uploads', alice);
    const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(init.text)![1];
    const part = await call(east.url, 'PUT', `/vmp/mp?partNumber=1&uploadId=${uploadId}`, alice, { body: 'multipart body' });
    const done = await call(east.url, 'POST', `/vmp/mp?uploadId=${uploadId}`, alice, { body: `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${String(part.headers.etag)}</ETag></Part></CompleteMultipartUpload>` });
    assert.equal(done.status, 200, done.text);
    const mpId = String(done.headers['x-amz-version-id']);
    assert.ok(mpId && mpId !== first);
    assert.equal((await get(east.url, 'vmp', 'mp')).text, 'multipart body');
    assert.equal((await get(east.url, 'vmp', 'mp', `?versionId=${first}`)).text, 'before');

    await put(east.url, 'vmp', 'other', 'o');
    const body = `<Delete><Object><Key>mp</Key><VersionId>${first}</VersionId></Object><Object><Key>other</Key></Object></Delete>`;
    const r = await call(east.url, 'POST', '/vmp?delete', alice, { body });
    assert.equal(r.status, 200, r.text);
    assert.match(r.text, new RegExp(`<Deleted><Key>mp</Key><VersionId>${first}</VersionId></Deleted>`));
    const marker = /<Deleted><Key>other<\/Key><DeleteMarker>true<\/DeleteMarker><DeleteMarkerVersionId>([^<]+)<\/DeleteMarkerVersionId><\/Deleted>/.exec(r.text);
    assert.ok(marker, r.text);
    assert.equal((await get(east.url, 'vmp', 'mp', `?versionId=${first}`)).status, 404);
    assert.equal((await get(east.url, 'vmp', 'other')).headers['x-amz-delete-marker'], 'true');
    const r2 = await call(east.url, 'POST', '/vmp?delete', alice, { body: `<Delete><Object><Key>other</Key><VersionId>${marker[1]}</VersionId></Object></Delete>` });
    assert.match(r2.text, new RegExp(`<VersionId>${marker[1]}</VersionId><DeleteMarker>true</DeleteMarker><DeleteMarkerVersionId>${marker[1]}</DeleteMarkerVersionId>`));
    assert.equal((await get(east.url, 'vmp', 'other')).text, 'o');
  });

  it('system rgwx-version-id / rgwx-versioned-epoch: ids kept, an older epoch stays non-current; refused for others', async () => {
    assert.equal((await call(east.url, 'PUT', '/vx-b', alice)).status, 200);
    assert.equal((await setVersioning(east.url, 'vx-b', ENABLED)).status, 200);
    const a = await put(east.url, 'vx-b', 'k', 'epoch5', sys(), '?rgwx-version-id=srcVersionA&rgwx-versioned-epoch=5');
    assert.equal(a.status, 200, a.text);
    assert.equal(a.headers['x-amz-version-id'], 'srcVersionA');
    const b = await put(east.url, 'vx-b', 'k', 'epoch3', sys(), '?rgwx-version-id=srcVersionB&rgwx-versioned-epoch=3');
    assert.equal(b.headers['x-amz-version-id'], 'srcVersionB');
    const cur = await get(east.url, 'vx-b', 'k');
    assert.equal(cur.text, 'epoch5', 'the highest epoch is current even when written first');
    assert.equal(cur.headers['x-amz-version-id'], 'srcVersionA');
    // Without an epoch: above the highest.
    const c = await put(east.url, 'vx-b', 'k', 'next');
    assert.equal((await get(east.url, 'vx-b', 'k')).headers['x-amz-version-id'], c.headers['x-amz-version-id']);
    // The same id again replaces that version.
    await put(east.url, 'vx-b', 'k', 'B again', sys(), '?rgwx-version-id=srcVersionB&rgwx-versioned-epoch=3');
    assert.equal((await get(east.url, 'vx-b', 'k', '?versionId=srcVersionB')).text, 'B again');
    assert.equal((await versions(east.url, 'vx-b')).items.filter((i) => i.id === 'srcVersionB').length, 1);
    // A delete marker with a given id and epoch; below the current it changes nothing current.
    const d = await call(east.url, 'DELETE', '/vx-b/k?rgwx-version-id=srcMarker&rgwx-versioned-epoch=4', sys());
    assert.equal(d.headers['x-amz-version-id'], 'srcMarker');
    assert.equal((await get(east.url, 'vx-b', 'k')).text, 'next');
    const listed = (await versions(east.url, 'vx-b')).items.map((i) => i.id);
    assert.deepEqual(listed, [String(c.headers['x-amz-version-id']), 'srcVersionA', 'srcMarker', 'srcVersionB']);
    // Suspended buckets take them too (an agent recreating old versions).
    assert.equal((await setVersioning(east.url, 'vx-b', SUSPENDED)).status, 200);
    assert.equal((await put(east.url, 'vx-b', 'k', 'old one', sys(), '?rgwx-version-id=srcOld&rgwx-versioned-epoch=1')).headers['x-amz-version-id'], 'srcOld');
    assert.equal((await get(east.url, 'vx-b', 'k')).text, 'next');
    assert.equal((await put(east.url, 'vx-b', 'k', 'x', sys(), '?rgwx-versioned-epoch=abc')).status, 400);
    // Not for normal users: refused as every rgwx-* parameter, nothing written.
    for (const q of ['?rgwx-version-id=planted', '?rgwx-versioned-epoch=99']) {
      const r = await put(east.url, 'vx-b', 'k', 'planted', alice, q);
      assert.equal(r.status, 403, q);
      assert.equal((await call(east.url, 'DELETE', `/vx-b/k${q}`, alice)).status, 403);
    }
    assert.equal((await get(east.url, 'vx-b', 'k', '?versionId=planted')).status, 404);
  });

  it('the bucket-index log: link_olh, link_olh_del, unlink_instance with instance and OLH epoch; unversioned unchanged', async () => {
    assert.equal((await call(east.url, 'PUT', '/vbl', alice)).status, 200);
    await put(east.url, 'vbl', 'k', 'plain');
    await call(east.url, 'DELETE', '/vbl/k', alice);
    await put(east.url, 'vbl', 'k', 'plain again');
    assert.equal((await setVersioning(east.url, 'vbl', ENABLED)).status, 200);
    const v1 = String((await put(east.url, 'vbl', 'k', 'v1')).headers['x-amz-version-id']);
    const dm = String((await call(east.url, 'DELETE', '/vbl/k', alice)).headers['x-amz-version-id']);
    await call(east.url, 'DELETE', `/vbl/k?versionId=${v1}`, alice);
    const v2 = String((await put(east.url, 'vbl', 'k', 'v2')).headers['x-amz-version-id']);
    await put(east.url, 'vbl', 'k', 'x', sys(), '?rgwx-version-id=given&rgwx-versioned-epoch=9');
    const log = await bilog(east.url, 'vbl');
    assert.deepEqual(log.map((e) => [e.op, e.instance, e.versioned, e.versioned ? e.ver.epoch : 'n/a']), [
      ['write', '', false, 'n/a'],
      ['del', '', false, 'n/a'],
      ['write', '', false, 'n/a'],
      ['link_olh', v1, true, 1],
      ['link_olh_del', dm, true, 2],
      ['unlink_instance', v1, true, 3],
      ['link_olh', v2, true, 4],
      ['link_olh', 'given', true, 9],
    ]);
    assert.ok(log.every((e) => e.object === 'k'));
    assert.ok(log.filter((e) => e.versioned).every((e) => e.bilog_flags === 1));
    // Every change reached the data log too.
    const inst = await instanceOf(east.url, 'vbl');
    let dataEntries = 0;
    const shards = (await call(east.url, 'GET', '/admin/log?type=data', sys())).json<{ num_objects: number }>().num_objects;
    for (let s = 0; s < shards; s++) {
      const page = (await call(east.url, 'GET', `/admin/log?type=data&id=${s}&max-entries=1000`, sys())).json<{ entries?: { key: string }[] } | { key: string }[]>();
      const entries = Array.isArray(page) ? page : page.entries ?? [];
      dataEntries += entries.filter((e) => e.key === inst).length;
    }
    assert.ok(dataEntries >= log.length, `data log has ${dataEntries} entries for ${log.length} changes`);
  });

  it('a metadata PUT of the bucket instance with the flags sets the state on another zone; remote copy keeps the source version id', async () => {
    assert.equal((await call(east.url, 'PUT', '/vr-b', alice)).status, 200);
    assert.equal((await setVersioning(east.url, 'vr-b', ENABLED)).status, 200);
    await replicateBucket('vr-b');
    assert.match((await call(west.url, 'GET', '/vr-b?versioning', alice)).text, /<Status>Enabled<\/Status>/);
    const s1 = String((await put(east.url, 'vr-b', 'k', 'first')).headers['x-amz-version-id']);
    const s2 = String((await put(east.url, 'vr-b', 'k', 'second')).headers['x-amz-version-id']);
    const copy = (q: string, source: string) => call(west.url, 'PUT', `/vr-b/k?rgwx-source-zone=us-east&rgwx-client-id=t&rgwx-op-id=${Math.random()}${q}`, sys(), { headers: { 'x-amz-copy-source': source } });
    const c1 = await copy('&rgwx-versioned-epoch=1', `vr-b/k?versionId=${s1}`);
    assert.equal(c1.status, 200, c1.text);
    assert.equal(c1.headers['x-amz-version-id'], s1, 'the source version id is kept');
    const c2 = await copy('&rgwx-versioned-epoch=2', 'vr-b/k');
    assert.equal(c2.headers['x-amz-version-id'], s2);
    const again = await copy('&rgwx-versioned-epoch=2&rgwx-copy-if-newer=true', 'vr-b/k');
    assert.equal(again.status, 304, 'the same version with the same ETag is not written again');
    const againOld = await copy('&rgwx-versioned-epoch=1', `vr-b/k?versionId=${s1}`);
    assert.equal(againOld.status, 304);
    const named = await copy('&rgwx-version-id=agentNamed&rgwx-versioned-epoch=0', `vr-b/k?versionId=${s1}`);
    assert.equal(named.headers['x-amz-version-id'], 'agentNamed');
    assert.deepEqual((await versions(west.url, 'vr-b')).items.map((i) => [i.id, i.latest]), [[s2, true], [s1, false], ['agentNamed', false]]);
    assert.equal((await get(west.url, 'vr-b', 'k')).text, 'second');
    assert.equal((await get(west.url, 'vr-b', 'k', `?versionId=${s1}`)).text, 'first');
    // Suspended on the source: the flags follow by metadata again.
    assert.equal((await setVersioning(east.url, 'vr-b', SUSPENDED)).status, 200);
    await replicateBucket('vr-b');
    assert.match((await call(west.url, 'GET', '/vr-b?versioning', alice)).text, /<Status>Suspended<\/Status>/);
    // A DELETE while suspended turns "null" into a delete marker: a remote copy of that version
    // answers 404 (nothing to copy; the agent lists again), not 502 as a failed transfer would.
    assert.equal((await call(east.url, 'DELETE', '/vr-b/k', alice)).status, 204);
    const marker = await copy('&rgwx-version-id=null', 'vr-b/k?versionId=null');
    assert.equal(marker.status, 404, marker.text);
    assert.match(marker.text, /NoSuchVersion/);
    // Unversioned buckets keep copy-if-newer as before.
    assert.equal((await call(east.url, 'PUT', '/vrp', alice)).status, 200);
    await replicateBucket('vrp');
    await put(east.url, 'vrp', 'p', 'plain');
    const p1 = await call(west.url, 'PUT', '/vrp/p?rgwx-source-zone=us-east&rgwx-client-id=t&rgwx-op-id=p1&rgwx-copy-if-newer=true', sys(), { headers: { 'x-amz-copy-source': 'vrp/p' } });
    assert.equal(p1.status, 200);
    assert.equal(p1.headers['x-amz-version-id'], undefined);
    const p2 = await call(west.url, 'PUT', '/vrp/p?rgwx-source-zone=us-east&rgwx-client-id=t&rgwx-op-id=p2&rgwx-copy-if-newer=true', sys(), { headers: { 'x-amz-copy-source': 'vrp/p' } });
    assert.equal(p2.status, 304);
  });

  it('a restart keeps states, versions, markers and the current view', async () => {
    assert.equal((await call(west.url, 'PUT', '/vrs', alice)).status, 200);
    assert.equal((await setVersioning(west.url, 'vrs', ENABLED)).status, 200);
    const ids = [];
    for (const body of ['r1', big('2'), 'r3']) ids.push(String((await put(west.url, 'vrs', 'k', body)).headers['x-amz-version-id']));
    const dm = String((await call(west.url, 'DELETE', '/vrs/gone', alice)).headers['x-amz-version-id']);
    const before = await versions(west.url, 'vrs');
    await west.close();
    west = await startZone({ realm: t.realm, zoneName: 'us-west', dataDir: join(t.dir, 'west') });
    assert.match((await call(west.url, 'GET', '/vrs?versioning', alice)).text, /<Status>Enabled<\/Status>/);
    assert.deepEqual(await versions(west.url, 'vrs'), before);
    assert.equal((await get(west.url, 'vrs', 'k')).text, 'r3');
    assert.equal((await get(west.url, 'vrs', 'k', `?versionId=${ids[1]}`)).body.length, 200 * 1024, 'an old version file survived the orphan sweep');
    assert.equal((await get(west.url, 'vrs', 'gone')).headers['x-amz-version-id'], dm);
  });

  it('a data dir from before versioning (no versions table, old bilog columns) is migrated at start', async () => {
    const dir = join(t.dir, 'old-east');
    let z = await startZone({ realm: t.realm, zoneName: 'us-east', dataDir: dir, port: 0 });
    assert.equal((await call(z.url, 'PUT', '/admin/user?uid=carol&display-name=carol', sys())).status, 200);
    assert.equal((await call(z.url, 'PUT', '/old-b?rgwx-uid=carol', sys())).status, 200);
    assert.equal((await put(z.url, 'old-b', 'k', 'from before', sys())).status, 200);
    await z.close();
    const db = new Database(join(dir, 'zone.db'));
    db.exec('DROP TABLE versions; ALTER TABLE bilog DROP COLUMN obj_instance; ALTER TABLE bilog DROP COLUMN versioned; ALTER TABLE bilog DROP COLUMN olh_epoch;');
    db.close();
    z = await startZone({ realm: t.realm, zoneName: 'us-east', dataDir: dir, port: 0 });
    try {
      assert.equal((await setVersioning(z.url, 'old-b', ENABLED, sys())).status, 200);
      const v = await put(z.url, 'old-b', 'k', 'after', sys());
      assert.ok(v.headers['x-amz-version-id']);
      assert.equal((await get(z.url, 'old-b', 'k', '?versionId=null', sys())).text, 'from before');
      const log = await bilog(z.url, 'old-b');
      assert.deepEqual(log.map((e) => [e.op, e.instance, e.versioned]), [['write', '', false], ['link_olh', v.headers['x-amz-version-id'], true]]);
    } finally {
      await z.close();
    }
  });

  it("Debian's aws-cli: put-bucket-versioning, list-object-versions, get-object and delete-object by --version-id", async (tc) => {
    if (!existsSync('/usr/bin/aws')) return tc.skip('/usr/bin/aws is missing (Debian awscli)');
    const dir = join(t.dir, 'awscli');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config'), '[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n');
    writeFileSync(join(dir, 'body'), 'from aws-cli');
    const env = { PATH: '/usr/bin:/bin', HOME: dir, LANG: 'C.UTF-8', AWS_ACCESS_KEY_ID: alice.accessKey, AWS_SECRET_ACCESS_KEY: alice.secretKey, AWS_CONFIG_FILE: join(dir, 'config'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'), AWS_PAGER: '' };
    const aws = (...args: string[]) => new Promise<string>((resolve, reject) => {
      execFile('/usr/bin/aws', ['--endpoint-url', east.url, ...args], { env, timeout: 120_000 }, (err, stdout, stderr) => (err ? reject(new Error(`aws ${args.join(' ')}: ${stderr}${stdout}`)) : resolve(String(stdout))));
    });
    await aws('s3api', 'create-bucket', '--bucket', 'vcli');
    await aws('s3api', 'put-bucket-versioning', '--bucket', 'vcli', '--versioning-configuration', 'Status=Enabled');
    assert.equal((JSON.parse(await aws('s3api', 'get-bucket-versioning', '--bucket', 'vcli')) as { Status: string }).Status, 'Enabled');
    const p1 = JSON.parse(await aws('s3api', 'put-object', '--bucket', 'vcli', '--key', 'f', '--body', join(dir, 'body'))) as { VersionId: string };
    const p2 = JSON.parse(await aws('s3api', 'put-object', '--bucket', 'vcli', '--key', 'f', '--body', join(dir, 'body'))) as { VersionId: string };
    assert.ok(p1.VersionId && p2.VersionId && p1.VersionId !== p2.VersionId);
    const del = JSON.parse(await aws('s3api', 'delete-object', '--bucket', 'vcli', '--key', 'f')) as { DeleteMarker: boolean; VersionId: string };
    assert.equal(del.DeleteMarker, true);
    const listed = JSON.parse(await aws('s3api', 'list-object-versions', '--bucket', 'vcli')) as { Versions: { VersionId: string; IsLatest: boolean }[]; DeleteMarkers: { VersionId: string; IsLatest: boolean }[] };
    assert.deepEqual(listed.Versions.map((v) => v.VersionId), [p2.VersionId, p1.VersionId]);
    assert.deepEqual(listed.DeleteMarkers.map((v) => [v.VersionId, v.IsLatest]), [[del.VersionId, true]]);
    const got = JSON.parse(await aws('s3api', 'get-object', '--bucket', 'vcli', '--key', 'f', '--version-id', p1.VersionId, join(dir, 'out'))) as { VersionId: string };
    assert.equal(got.VersionId, p1.VersionId);
    for (const id of [del.VersionId, p2.VersionId, p1.VersionId]) await aws('s3api', 'delete-object', '--bucket', 'vcli', '--key', 'f', '--version-id', id);
    const empty = await aws('s3api', 'list-object-versions', '--bucket', 'vcli');
    assert.doesNotMatch(empty, /VersionId/);
    await aws('s3api', 'delete-bucket', '--bucket', 'vcli');
  });
});
