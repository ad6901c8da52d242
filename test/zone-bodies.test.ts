/**
 * Object bodies in the embedded zone: small ones inline in the index database, larger ones as
 * files, both behind group commit. What a client sees must not depend on which: bytes, ranges,
 * overwrites between the two kinds, deletes, copies, remote copies; and nothing is left behind.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeRealm, startZones, type TestRealm } from './helpers/realm.js';
import { call } from './helpers/http.js';
import { INLINE_MAX_BYTES } from '../src/zone/objectfiles.js';
import type { RunningZone } from '../src/zone/server.js';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

function objectFiles(dataDir: string): string[] {
  const dir = join(dataDir, 'objects');
  return readdirSync(dir).flatMap((sub) => readdirSync(join(dir, sub)));
}

describe('embedded zone object bodies (inline and file, group commit)', () => {
  let t: TestRealm;
  let zones: RunningZone[];
  let sys: { accessKey: string; secretKey: string };
  let east: string;
  before(async () => {
    t = await makeRealm();
    zones = await startZones(t);
    sys = { accessKey: t.accessKey, secretKey: t.secretKey };
    east = zones[0].url;
    assert.equal((await call(east, 'PUT', '/bodies', sys)).status, 200);
  });
  after(async () => {
    for (const z of zones) await z.close();
    t.cleanup();
  });
  const inlineRows = () => (zones[0].context.store.db.prepare('SELECT COUNT(*) AS n FROM inline_bodies').get() as { n: number }).n;

  it('sizes around the inline limit read back byte for byte, whole and by range', async () => {
    for (const size of [0, 1, INLINE_MAX_BYTES - 1, INLINE_MAX_BYTES, INLINE_MAX_BYTES + 1, 3 * INLINE_MAX_BYTES]) {
      const body = randomBytes(size);
      const put = await call(east, 'PUT', `/bodies/size-${size}`, sys, { body });
      assert.equal(put.status, 200, `PUT ${size}`);
      assert.equal(put.headers.etag, `"${md5(body)}"`);
      const got = await call(east, 'GET', `/bodies/size-${size}`, sys);
      assert.ok(got.body.equals(body), `GET ${size}`);
      if (size > 10) {
        const r = await call(east, 'GET', `/bodies/size-${size}`, sys, { headers: { range: 'bytes=3-9' } });
        assert.equal(r.status, 206);
        assert.ok(r.body.equals(body.subarray(3, 10)), `range of ${size}`);
      }
    }
    // Only the bodies above the limit are files.
    assert.equal(objectFiles(join(t.dir, 'us-east')).length, 2);
  });

  it('overwrites between inline and file bodies, copies and deletes leave nothing behind', async () => {
    const rowsBefore = inlineRows();
    const filesBefore = objectFiles(join(t.dir, 'us-east')).length;
    const small = randomBytes(1000);
    const big = randomBytes(INLINE_MAX_BYTES * 2);
    assert.equal((await call(east, 'PUT', '/bodies/flip', sys, { body: small })).status, 200);
    assert.equal((await call(east, 'PUT', '/bodies/flip', sys, { body: big })).status, 200);
    assert.ok((await call(east, 'GET', '/bodies/flip', sys)).body.equals(big));
    assert.equal((await call(east, 'PUT', '/bodies/flip', sys, { body: small })).status, 200);
    assert.ok((await call(east, 'GET', '/bodies/flip', sys)).body.equals(small));
    const copy = await call(east, 'PUT', '/bodies/flip-copy', sys, { headers: { 'x-amz-copy-source': '/bodies/flip' } });
    assert.equal(copy.status, 200, copy.text);
    assert.ok((await call(east, 'GET', '/bodies/flip-copy', sys)).body.equals(small));
    assert.equal(inlineRows(), rowsBefore + 2);
    for (const k of ['flip', 'flip-copy']) assert.equal((await call(east, 'DELETE', `/bodies/${k}`, sys)).status, 204);
    assert.equal(inlineRows(), rowsBefore);
    assert.equal(objectFiles(join(t.dir, 'us-east')).length, filesBefore);
  });

  it('concurrent writes share commits and each reads back its own bytes', async () => {
    const bodies = Array.from({ length: 64 }, (_, i) => randomBytes(200 + i * 37));
    const puts = await Promise.all(bodies.map((b, i) => call(east, 'PUT', `/bodies/many-${i}`, sys, { body: b })));
    assert.deepEqual(puts.map((p) => p.status), bodies.map(() => 200));
    const gets = await Promise.all(bodies.map((_, i) => call(east, 'GET', `/bodies/many-${i}`, sys)));
    gets.forEach((g, i) => assert.ok(g.body.equals(bodies[i]), `many-${i}`));
    // One bucket-index entry per write, none lost in a group.
    const inst = zones[0].context.store.getBucket('bodies')!.instance;
    const ops = zones[0].context.store.listBilog(inst, undefined, 1000).filter((e) => e.object.startsWith('many-'));
    assert.equal(ops.length, 64);
  });

  it('a failed write in a group undoes only itself', async () => {
    const store = zones[0].context.store;
    const ok = store.grouped(() => store.tx(() => { store.db.prepare("INSERT INTO kv (k, v) VALUES ('group-ok', 1)").run(); return 'fine'; }));
    const bad = store.grouped(() => { store.db.prepare("INSERT INTO kv (k, v) VALUES ('group-bad', 1)").run(); throw new Error('boom'); });
    assert.equal(await ok, 'fine');
    await assert.rejects(bad, /boom/);
    const has = (k: string) => store.db.prepare('SELECT 1 FROM kv WHERE k = ?').get(k) !== undefined;
    assert.equal(has('group-ok'), true);
    assert.equal(has('group-bad'), false);
  });
});
