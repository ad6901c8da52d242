/** Admin API of two running zones: remote copy, op state, locks, logs written with the change. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { makeRealm, startZones, type TestRealm } from './helpers/realm.js';
import { call, type Reply } from './helpers/http.js';
import type { RunningZone } from '../src/zone/server.js';

interface Keys { accessKey: string; secretKey: string }

async function until<T>(what: string, fn: () => Promise<T | undefined>, deadlineMs = 10_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function md5(b: Buffer | string): string {
  return createHash('md5').update(b).digest('hex');
}

describe('embedded zone admin API', () => {
  let t: TestRealm;
  let east: RunningZone;
  let west: RunningZone;
  let alice: Keys;
  const sys = () => ({ accessKey: t.accessKey, secretKey: t.secretKey });

  /** Copies a metadata entry from us-east to us-west the way the agent does: GET, then PUT verbatim. */
  async function replicateMeta(section: string, key: string): Promise<void> {
    const got = await call(east.url, 'GET', `/admin/metadata/${section}?key=${encodeURIComponent(key)}`, sys());
    assert.equal(got.status, 200, got.text);
    const put = await call(west.url, 'PUT', `/admin/metadata/${section}?key=${encodeURIComponent(key)}`, sys(), { body: got.body, headers: { 'content-type': 'application/json' } });
    assert.equal(put.status, 200, put.text);
  }

  function remoteCopy(bucket: string, key: string, opId: string, ifNewer = true): Promise<Reply> {
    const enc = encodeURIComponent(key).replace(/%2F/g, '/');
    return call(west.url, 'PUT', `/${bucket}/${enc}?rgwx-source-zone=us-east&rgwx-client-id=test-agent&rgwx-op-id=${encodeURIComponent(opId)}${ifNewer ? '&rgwx-copy-if-newer=true' : ''}`, sys(), {
      headers: { 'x-amz-copy-source': `${bucket}/${enc}` },
    });
  }

  before(async () => {
    t = await makeRealm();
    [east, west] = await startZones(t);
    const r = await call(east.url, 'PUT', '/admin/user?uid=alice&display-name=Alice&email=a%40example.com', sys());
    assert.equal(r.status, 200, r.text);
    const k = r.json<{ keys: { access_key: string; secret_key: string }[] }>().keys[0];
    alice = { accessKey: k.access_key, secretKey: k.secret_key };
    assert.equal((await call(east.url, 'PUT', '/docs', alice)).status, 200);
  });

  after(async () => {
    await Promise.all([east?.close(), west?.close()]);
    t?.cleanup();
  });

  it('manages users over /admin/user and logs them in the metadata log', async () => {
    const got = await call(east.url, 'GET', '/admin/user?uid=alice', sys());
    assert.equal(got.status, 200);
    const u = got.json<{ user_id: string; display_name: string; email: string; keys: unknown[] }>();
    assert.equal(u.user_id, 'alice');
    assert.equal(u.display_name, 'Alice');
    assert.equal(u.email, 'a@example.com');
    assert.equal((await call(east.url, 'PUT', '/admin/user?uid=alice&display-name=Again', sys())).status, 409);

    const tmp = await call(east.url, 'PUT', '/admin/user?uid=temp&display-name=T&access-key=TEMPKEY&secret-key=tempsecret', sys());
    assert.equal(tmp.status, 200);
    assert.equal((await call(east.url, 'GET', '/', { accessKey: 'TEMPKEY', secretKey: 'tempsecret' })).status, 200);
    assert.equal((await call(east.url, 'DELETE', '/admin/user?uid=temp', sys())).status, 200);
    assert.equal((await call(east.url, 'GET', '/admin/user?uid=temp', sys())).status, 404);
    const gone = await call(east.url, 'GET', '/', { accessKey: 'TEMPKEY', secretKey: 'tempsecret' });
    assert.equal(gone.status, 403, 'a removed user\'s key no longer works');

    // Both the creation and the removal of "temp" are in the metadata log, in that order.
    const shards = (await call(east.url, 'GET', '/admin/log?type=metadata', sys())).json<{ num_objects: number }>().num_objects;
    const statuses: string[] = [];
    for (let id = 0; id < shards; id++) {
      const page = (await call(east.url, 'GET', `/admin/log?type=metadata&id=${id}&max-entries=1000`, sys())).json<{ entries: { section: string; name: string; data: { status: { status: string } } }[] }>();
      for (const e of page.entries) if (e.section === 'user' && e.name === 'temp') statuses.push(e.data.status.status);
    }
    assert.deepEqual(statuses, ['write', 'remove']);
  });

  it('user metadata from Reef and later (JSON booleans) keeps a system user a system user', async () => {
    for (const [uid, system, admin] of [['reef-sys', true, 200], ['pacific-sys', 'true', 200], ['reef-plain', false, 403]] as const) {
      const key = `KEY${uid.replace('-', '').toUpperCase()}`;
      const doc = { key: `user:${uid}`, ver: { tag: '_t', ver: 1 }, data: { user_id: uid, display_name: uid, keys: [{ user: uid, access_key: key, secret_key: `${uid}-secret` }], system, suspended: false } };
      const put = await call(west.url, 'PUT', `/admin/metadata/user?key=${uid}`, sys(), { body: JSON.stringify(doc) });
      assert.ok(put.status < 300, `${uid}: ${put.status} ${put.text}`);
      assert.equal((await call(west.url, 'GET', '/admin/metadata/user', { accessKey: key, secretKey: `${uid}-secret` })).status, admin, `${uid} (system: ${JSON.stringify(system)})`);
    }
  });

  it('writes a bucket-index and a data-log entry with every object change', async () => {
    const inst = (await call(east.url, 'GET', '/admin/metadata/bucket?key=docs', sys())).json<{ data: { bucket: { bucket_id: string } } }>().data.bucket.bucket_id;
    const instance = `docs:${inst}`;
    const before = (await call(east.url, 'GET', `/admin/log?info&type=bucket-index&bucket-instance=${encodeURIComponent(instance)}`, sys())).json<{ max_marker: string }>().max_marker;
    assert.equal((await call(east.url, 'PUT', '/docs/logged', alice, { body: 'x' })).status, 200);
    assert.equal((await call(east.url, 'DELETE', '/docs/logged', alice)).status, 204);
    const list = await call(east.url, 'GET', `/admin/log?type=bucket-index&bucket-instance=${encodeURIComponent(instance)}&marker=${encodeURIComponent(before || ' ')}`, sys());
    const ops = list.json<{ op: string; object: string; op_id: string }[]>();
    assert.deepEqual(ops.map((o) => [o.op, o.object]), [['write', 'logged'], ['del', 'logged']]);
    assert.ok(ops[0].op_id < ops[1].op_id, 'op ids sort in order as strings');
    assert.ok(before < ops[0].op_id);

    const shards = (await call(east.url, 'GET', '/admin/log?type=data', sys())).json<{ num_objects: number }>().num_objects;
    let mentions = 0;
    for (let id = 0; id < shards; id++) {
      const page = (await call(east.url, 'GET', `/admin/log?type=data&id=${id}`, sys())).json<{ entries: { key: string }[] }>();
      mentions += page.entries.filter((e) => e.key === instance).length;
    }
    assert.ok(mentions >= 2, `data log names the instance for each change (window 0), saw ${mentions}`);
  });

  it('remote copy pulls an object with identical bytes, ETag, content type, metadata and mtime', async () => {
    await replicateMeta('user', 'alice');
    const inst = (await call(east.url, 'GET', '/admin/metadata/bucket?key=docs', sys())).json<{ data: { bucket: { bucket_id: string } } }>().data.bucket.bucket_id;
    await replicateMeta('bucket.instance', `docs:${inst}`);
    await replicateMeta('bucket', 'docs');

    const body = randomBytes(3 * 1024 * 1024 + 17);
    const key = 'reports/2026 q4+final~ü.bin';
    const enc = encodeURIComponent(key).replace(/%2F/g, '/');
    const put = await call(east.url, 'PUT', `/docs/${enc}`, alice, { body, headers: { 'content-type': 'application/x-report', 'x-amz-meta-author': 'alice', 'x-amz-meta-rev': '7' } });
    assert.equal(put.status, 200, put.text);

    const copy = await remoteCopy('docs', key, 'host:1:abc:1');
    assert.equal(copy.status, 200, copy.text);
    const src = await call(east.url, 'HEAD', `/docs/${enc}`, sys());
    const dst = await call(west.url, 'GET', `/docs/${enc}`, alice);
    assert.equal(dst.status, 200);
    assert.ok(dst.body.equals(body), 'byte-identical body');
    assert.equal(dst.headers.etag, `"${md5(body)}"`);
    assert.equal(dst.headers.etag, src.headers.etag);
    assert.equal(dst.headers['content-type'], 'application/x-report');
    assert.equal(dst.headers['x-amz-meta-author'], 'alice');
    assert.equal(dst.headers['x-amz-meta-rev'], '7');
    assert.equal(dst.headers['last-modified'], src.headers['last-modified']);

    // Not asked to drop it (radosgw-agent reads it after every copy): the record says complete.
    assert.equal(copy.headers['rgwx-op-state'], undefined);
    const state = await call(west.url, 'GET', `/admin/opstate?client-id=test-agent&op-id=${encodeURIComponent('host:1:abc:1')}&object=${encodeURIComponent(`docs/${key}`)}`, sys());
    assert.equal(state.status, 200);
    assert.equal(state.json<{ state: string }[]>()[0].state, 'complete');

    // Asked to drop it (rgw-agent): gone once the answer is delivered, for a 304 as for a 200.
    const enc2 = encodeURIComponent(key).replace(/%2F/g, '/');
    const dropped = await call(west.url, 'PUT', `/docs/${enc2}?rgwx-source-zone=us-east&rgwx-client-id=test-agent&rgwx-op-id=drop-1&rgwx-copy-if-newer=true`, sys(), {
      headers: { 'x-amz-copy-source': `docs/${enc2}`, 'rgwx-op-state': 'dropped-when-delivered' },
    });
    assert.equal(dropped.status, 304);
    assert.equal(dropped.headers['rgwx-op-state'], 'dropped-when-delivered');
    assert.equal((await call(west.url, 'GET', '/admin/opstate?client-id=test-agent&op-id=drop-1', sys())).status, 404);

    // Same source again with copy-if-newer: nothing to transfer.
    const again = await remoteCopy('docs', key, 'host:1:abc:2');
    assert.equal(again.status, 304);

    // An overwrite within the same second is still "newer" (sub-second mtimes travel in Rgwx-Mtime).
    const body2 = Buffer.from('second version');
    assert.equal((await call(east.url, 'PUT', `/docs/${enc}`, alice, { body: body2 })).status, 200);
    assert.equal((await remoteCopy('docs', key, 'host:1:abc:3')).status, 200);
    assert.ok((await call(west.url, 'GET', `/docs/${enc}`, alice)).body.equals(body2));

    // The remote copy is logged on the destination like any write.
    const bilog = await call(west.url, 'GET', `/admin/log?type=bucket-index&bucket-instance=${encodeURIComponent(`docs:${inst}`)}`, sys());
    assert.equal(bilog.json<{ object: string }[]>().filter((e) => e.object === key).length, 2);
  });

  it('remote copy of a missing source object answers 404 and records an error', async () => {
    const r = await remoteCopy('docs', 'never-existed', 'host:1:abc:9');
    assert.equal(r.status, 404);
    assert.equal((await call(west.url, 'GET', '/docs/never-existed', alice)).status, 404);
    const state = await call(west.url, 'GET', `/admin/opstate?client-id=test-agent&op-id=${encodeURIComponent('host:1:abc:9')}`, sys());
    assert.equal(state.json<{ state: string }[]>()[0].state, 'error');
    assert.equal((await call(west.url, 'DELETE', `/admin/opstate?client-id=test-agent&op-id=${encodeURIComponent('host:1:abc:9')}&object=docs/never-existed`, sys())).status, 200);
    assert.equal((await call(west.url, 'GET', `/admin/opstate?client-id=test-agent&op-id=${encodeURIComponent('host:1:abc:9')}`, sys())).status, 404);
  });

  it('remote copy is for system users only', async () => {
    const r = await call(west.url, 'PUT', '/docs/x?rgwx-source-zone=us-east', alice, { headers: { 'x-amz-copy-source': 'docs/x' } });
    assert.equal(r.status, 403);
  });

  it('locks: lease, renewal by the same locker, 423 for another, release, expiry', async () => {
    const lock = (locker: string, length = 30, id = 3) => call(west.url, 'POST', `/admin/log?lock&type=metadata&id=${id}&length=${length}&zone-id=us-west&locker-id=${locker}`, sys());
    const unlock = (locker: string, id = 3) => call(west.url, 'POST', `/admin/log?unlock&type=metadata&id=${id}&zone-id=us-west&locker-id=${locker}`, sys());
    assert.equal((await lock('agent-a')).status, 200);
    assert.equal((await lock('agent-a')).status, 200, 'the same locker renews');
    const busy = await lock('agent-b');
    assert.equal(busy.status, 423);
    assert.equal(busy.json<{ Code: string }>().Code, 'Locked');
    assert.equal((await unlock('agent-b')).status, 404, 'only the holder unlocks');
    assert.equal((await unlock('agent-a')).status, 200);
    assert.equal((await lock('agent-b')).status, 200);
    assert.equal((await unlock('agent-b')).status, 200);

    const missing = await call(west.url, 'POST', '/admin/log?lock&type=metadata&id=3&length=30&locker-id=x', sys());
    assert.equal(missing.status, 400);

    // A one-second lease lapses: another locker gets the shard without an unlock.
    assert.equal((await lock('short', 1, 5)).status, 200);
    assert.equal((await lock('other', 30, 5)).status, 423);
    const t0 = Date.now();
    await until('the lease to expire', async () => ((await lock('other', 30, 5)).status === 200 ? true : undefined), 5000);
    assert.ok(Date.now() - t0 >= 500, 'not before the lease ran out');
    assert.equal((await unlock('short', 5)).status, 404, 'an expired holder cannot unlock');
    // Data-log shards lock independently of metadata shards.
    assert.equal((await call(west.url, 'POST', '/admin/log?lock&type=data&id=5&length=30&zone-id=us-west&locker-id=short', sys())).status, 200);
  });

  it('replica_log keeps one bound per entity and refuses another daemon', async () => {
    const q = '/admin/replica_log?work_bound&type=bucket-index&bucket-instance=docs%3Aus-east.4100.1';
    assert.equal((await call(west.url, 'GET', '/admin/replica_log?bounds&type=bucket-index&bucket-instance=docs%3Aus-east.4100.1', sys())).status, 404);
    const set = await call(west.url, 'POST', `${q}&marker=00000000003.3.1&time=1970-01-01%2000%3A00%3A00&daemon_id=radosgw-agent`, sys(), { body: JSON.stringify([{ name: 'dir/o 2', time: '1970-01-01 00:00:00' }]) });
    assert.equal(set.status, 200, set.text);
    const got = (await call(west.url, 'GET', '/admin/replica_log?bounds&type=bucket-index&bucket-instance=docs%3Aus-east.4100.1', sys())).json<{ marker: string; markers: { entity: string; items_in_progress: { name: string }[] }[] }>();
    assert.equal(got.marker, '00000000003.3.1');
    assert.equal(got.markers[0].entity, 'radosgw-agent');
    assert.deepEqual(got.markers[0].items_in_progress.map((i) => i.name), ['dir/o 2']);
    const other = await call(west.url, 'POST', `${q}&marker=00000000004.4.1&time=1970-01-01%2000%3A00%3A00&daemon_id=someone-else`, sys(), { body: '[]' });
    assert.equal(other.status, 409);
    assert.equal((await call(west.url, 'POST', `${q}&time=1970-01-01%2000%3A00%3A00&daemon_id=radosgw-agent`, sys(), { body: '[]' })).status, 400, 'marker is required');
    assert.equal((await call(west.url, 'DELETE', `${q}&daemon_id=radosgw-agent`, sys())).status, 200);
    assert.equal((await call(west.url, 'GET', '/admin/replica_log?bounds&type=bucket-index&bucket-instance=docs%3Aus-east.4100.1', sys())).status, 404);
  });

  it('log listing pages strictly after the marker and trims', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await call(east.url, 'PUT', `/docs/page-${i}`, alice, { body: String(i) })).status, 200);
    const shards = (await call(east.url, 'GET', '/admin/log?type=data', sys())).json<{ num_objects: number }>().num_objects;
    let shard = -1;
    for (let id = 0; id < shards && shard < 0; id++) {
      if ((await call(east.url, 'GET', `/admin/log?info&type=data&id=${id}`, sys())).json<{ marker: string }>().marker !== '') shard = id;
    }
    assert.ok(shard >= 0);
    const ids: string[] = [];
    let marker = ' ';
    for (;;) {
      const page = (await call(east.url, 'GET', `/admin/log?type=data&id=${shard}&marker=${encodeURIComponent(marker)}&max-entries=2`, sys())).json<{ marker: string; truncated: boolean; entries: unknown[] }>();
      if (page.entries.length === 0) {
        assert.equal(page.marker, '');
        break;
      }
      assert.ok(page.marker > marker);
      ids.push(page.marker);
      marker = page.marker;
      if (!page.truncated) break;
    }
    assert.ok(ids.length >= 3);
    assert.deepEqual([...ids].sort(), ids);
    const info = (await call(east.url, 'GET', `/admin/log?info&type=data&id=${shard}`, sys())).json<{ marker: string }>();
    assert.equal(info.marker, ids.at(-1));
    assert.equal((await call(east.url, 'DELETE', `/admin/log?type=data&id=${shard}&marker=${encodeURIComponent(ids[1])}`, sys())).status, 200);
    const rest = (await call(east.url, 'GET', `/admin/log?type=data&id=${shard}&max-entries=1000`, sys())).json<{ entries: unknown[] }>();
    assert.ok(rest.entries.length > 0);
    const first = (await call(east.url, 'GET', `/admin/log?type=data&id=${shard}&max-entries=1`, sys())).json<{ marker: string }>();
    assert.ok(first.marker > ids[1], 'entries up to the trim marker are gone');
  });

  it('?heads gives every shard\'s head in one call, the same as asking each shard', async () => {
    assert.equal((await call(east.url, 'PUT', '/docs/heads-probe', alice, { body: 'h' })).status, 200);
    for (const type of ['data', 'metadata']) {
      const shards = (await call(east.url, 'GET', `/admin/log?type=${type}`, sys())).json<{ num_objects: number }>().num_objects;
      const heads = (await call(east.url, 'GET', `/admin/log?type=${type}&heads`, sys())).json<{ heads: { marker: string; last_update: string }[] }>().heads;
      assert.equal(heads.length, shards, type);
      const one = await Promise.all([...Array(shards).keys()].map(async (id) => (await call(east.url, 'GET', `/admin/log?info&type=${type}&id=${id}`, sys())).json<{ marker: string; last_update: string }>()));
      assert.deepEqual(heads, one, type);
      assert.ok(heads.some((h) => h.marker !== ''), `${type}: some shard has entries`);
    }
  });
});

describe('data log window', () => {
  it('logs a bucket at most once per window', async () => {
    const t = await makeRealm({ extra: 'data_log_window: 30\ndata_log_shards: 4' });
    const [east, west] = await startZones(t);
    try {
      const sys = { accessKey: t.accessKey, secretKey: t.secretKey };
      assert.equal((await call(east.url, 'PUT', '/win', sys)).status, 200);
      for (let i = 0; i < 5; i++) assert.equal((await call(east.url, 'PUT', `/win/k${i}`, sys, { body: 'x' })).status, 200);
      let entries = 0;
      for (let id = 0; id < 4; id++) entries += (await call(east.url, 'GET', `/admin/log?type=data&id=${id}`, sys)).json<{ entries: unknown[] }>().entries.length;
      assert.equal(entries, 1);
    } finally {
      await Promise.all([east.close(), west.close()]);
      t.cleanup();
    }
  });
});
