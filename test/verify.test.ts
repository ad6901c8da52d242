/** verify: compareZones (users, buckets, objects, metadata by HEAD) and runVerify against real zone processes. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call } from './helpers/http.js';
import { createUser, del, put, startPair, type Creds, type Pair } from './helpers/pair.js';
import { buildConfig, readConfigFile, type AgentConfig } from '../src/config.js';
import { runVerify, type VerifyReport } from '../src/verify.js';
import { compareZones, type ZoneApis } from '../src/sync/compare.js';
import { createSyncContext } from '../src/sync/setup.js';
import { AgentError } from '../src/client/errors.js';
import type { AdminApi } from '../src/client/admin.js';
import type { ListedObject, ObjectHead, S3Api } from '../src/client/s3.js';
import type { SyncLogger } from '../src/sync/context.js';

const AWKWARD = ['plain', 'dir/sub/with space.txt', 'plus+sign', 'tilde~', 'percent%41', 'ünïcødé/文件.bin', 'a//b', 'trailing/',
  ' leading space', 'trailing space ', 'quote"and\'apos', 'amp&lt;not-an-entity', 'emoji 🚀+', '\uFEFFbom', 'tab\tkey'];

function logger(): SyncLogger & { lines: string[] } {
  const lines: string[] = [];
  const add = (lvl: string) => (m: string) => { lines.push(`${lvl} ${m}`); };
  return { lines, info: add('info'), warn: add('warn'), error: add('error'), debug: add('debug') };
}

interface Run { code: number; out: string[]; log: string[]; json?: VerifyReport & { error?: string } }

async function verify(cfg: AgentConfig, o: { bucket?: string; json?: boolean; checkMetadata?: boolean; maxDifferences?: number } = {}): Promise<Run> {
  const out: string[] = [];
  const log = logger();
  const code = await runVerify(cfg, { bucket: o.bucket, json: o.json ?? true, log, out: (s) => out.push(s), checkMetadata: o.checkMetadata, maxDifferences: o.maxDifferences });
  const run: Run = { code, out, log: log.lines };
  if (o.json ?? true) {
    assert.equal(out.length, 1, `one JSON document: ${out.join('\n')}`);
    run.json = JSON.parse(out[0]) as Run['json'];
  }
  return run;
}

/** kind name -> detail, for exact assertions. */
function diffs(r: Run): Record<string, string> {
  return Object.fromEntries(r.json!.differences.map((d) => [`${d.kind} ${d.name}`, d.detail]));
}

async function editUser(base: string, sys: Creds, uid: string, change: Record<string, string>): Promise<void> {
  const doc = (await call(base, 'GET', `/admin/metadata/user?key=${uid}`, sys)).json<{ data: Record<string, unknown> }>();
  Object.assign(doc.data, change);
  const r = await call(base, 'PUT', `/admin/metadata/user?key=${uid}`, sys, { body: JSON.stringify(doc), headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 200, r.text);
}

describe('verify against real zones', () => {
  let p: Pair;
  let cfg: AgentConfig;
  let alice: Creds;
  let bob: Creds;
  const t0 = Date.now();
  before(async () => {
    p = await startPair();
    cfg = buildConfig(readConfigFile(p.configFile()), {}, {});
    alice = await createUser(p.east, p.sys, 'alice');
    bob = await createUser(p.east, p.sys, 'bob');
    for (const [who, bucket] of [[alice, 'alice-docs'], [alice, 'alice-pics'], [bob, 'bob-data']] as [Creds, string][]) {
      assert.equal((await call(p.east, 'PUT', `/${bucket}`, who)).status, 200);
    }
    for (const k of AWKWARD) await put(p.east, alice, 'alice-docs', k, `alice-docs:${k}`, { 'content-type': 'text/x-awkward', 'x-amz-meta-origin': 'east', 'x-amz-meta-key-len': String(k.length) });
    await put(p.east, alice, 'alice-docs', 'meta-obj', 'same body', { 'x-amz-meta-color': 'red', 'x-amz-meta-shape': 'round' });
    for (let i = 0; i < 7; i++) await put(p.east, alice, 'alice-pics', `img/${i}.jpg`, Buffer.alloc(100 * i, i));
    await put(p.east, bob, 'bob-data', 'only', 'bob');
    const run = p.agent(['full-sync']);
    assert.equal(await run.exited, 0, run.output());
  });
  after(async () => {
    await p?.close();
    process.stderr.write(`# verify e2e: ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
  });

  it('after a full sync: exit 0, equal, counts of what was compared', async () => {
    const r = await verify(cfg);
    assert.equal(r.code, 0, r.out.join('\n'));
    const j = r.json!;
    assert.equal(j.equal, true);
    assert.deepEqual(j.differences, []);
    assert.equal(j.differenceCount, 0);
    assert.deepEqual([j.users, j.buckets, j.objects], [3, 3, AWKWARD.length + 1 + 7 + 1]); // alice, bob, sync-agent
    const bytes = AWKWARD.reduce((n, k) => n + Buffer.byteLength(`alice-docs:${k}`), 0) + 'same body'.length + 2100 + 3;
    assert.equal(j.bytes, bytes);
    assert.deepEqual(j.source, { zone: 'us-east', endpoint: p.east });
    assert.deepEqual(j.destination, { zone: 'us-west', endpoint: p.west });
    assert.ok(!r.log.some((l) => l.startsWith('info syncing')), 'verify does not announce syncing');

    const human = await verify(cfg, { json: false });
    assert.equal(human.code, 0);
    assert.deepEqual(human.out, [`verify: 3 users, 3 buckets, ${AWKWARD.length + 9} objects compared; 0 differences`]);
  });

  it('listing pages of two keys walk the same way (awkward keys across page boundaries)', async () => {
    const setup = await createSyncContext(cfg, logger());
    try {
      const { ctx } = setup;
      const cmp = await compareZones({ admin: ctx.src, s3: ctx.srcS3 }, { admin: ctx.dst, s3: ctx.dstS3 }, { pageSize: 2, concurrency: 3, ignoreBuckets: [cfg.stateBucket] });
      assert.deepEqual(cmp.differences, []);
      assert.equal(cmp.objects, AWKWARD.length + 9);
      assert.equal(cmp.metadataChecked, AWKWARD.length + 9);
      const fast = await compareZones({ admin: ctx.src, s3: ctx.srcS3 }, { admin: ctx.dst, s3: ctx.dstS3 }, { checkMetadata: false, ignoreBuckets: [cfg.stateBucket] });
      assert.equal(fast.metadataChecked, 0);
      assert.equal(fast.objects, AWKWARD.length + 9);
    } finally {
      await setup.close();
    }
  });

  it('changes on the source show as differences, and pass after "sync --once"', async () => {
    await put(p.east, alice, 'alice-docs', 'plain', 'new bytes on the source');
    await del(p.east, alice, 'alice-docs', 'tilde~');
    await put(p.east, alice, 'alice-docs', 'new key ü', 'new');
    await put(p.east, alice, 'alice-docs', 'meta-obj', 'same body', { 'x-amz-meta-color': 'green', 'x-amz-meta-shape': 'round' });
    await put(p.east, alice, 'alice-docs', 'dir/sub/with space.txt', 'alice-docs:dir/sub/with space.txt', { 'content-type': 'text/plain', 'x-amz-meta-origin': 'east', 'x-amz-meta-key-len': '22' });
    const carol = await createUser(p.east, p.sys, 'carol');
    assert.equal((await call(p.east, 'PUT', '/carol-new', carol)).status, 200);
    await put(p.east, carol, 'carol-new', 'c', 'carol');
    await editUser(p.east, p.sys, 'bob', { email: 'bob@example.com' });

    const r = await verify(cfg);
    assert.equal(r.code, 1);
    assert.equal(r.json!.equal, false);
    const plainEtag = r.json!.differences.find((d) => d.name === 'alice-docs/plain')!.detail;
    assert.deepEqual(diffs(r), {
      'user bob': 'email "bob@example.com" on the source, "" on the destination',
      'user carol': 'missing on the destination',
      'bucket carol-new': 'missing on the destination',
      'object alice-docs/dir/sub/with space.txt': 'metadata differs: Content-Type "text/plain" on the source, "text/x-awkward" on the destination',
      'object alice-docs/meta-obj': 'metadata differs: x-amz-meta-color "green" on the source, "red" on the destination',
      'object alice-docs/new key ü': 'missing on the destination',
      'object alice-docs/plain': plainEtag,
      'object alice-docs/tilde~': 'only on the destination',
    });
    assert.match(plainEtag, /^source 23 bytes ETag [0-9a-f]{32}, destination 16 bytes ETag [0-9a-f]{32}$/);
    assert.equal(r.json!.differenceCount, 8);
    assert.deepEqual([r.json!.users, r.json!.buckets], [4, 4]);

    const sync = p.agent(['sync', '--once']);
    assert.equal(await sync.exited, 0, sync.output());
    const again = await verify(cfg);
    assert.equal(again.code, 0, JSON.stringify(again.json!.differences));
    assert.deepEqual([again.json!.users, again.json!.buckets, again.json!.objects], [4, 4, AWKWARD.length + 9 + 1]);
  });

  it('differences planted on the destination: each found by name and kind, exit 1; --bucket restricts', async () => {
    const w = p.westDirect;
    await put(w, p.sys, 'alice-docs', 'plain', 'other bytes on the destination!');
    await del(w, p.sys, 'alice-docs', 'a//b');
    await put(w, p.sys, 'alice-docs', 'extra only on west', 'x');
    await put(w, p.sys, 'alice-docs', 'meta-obj', 'same body', { 'x-amz-meta-color': 'blue', 'x-amz-meta-shape': 'round', 'x-amz-meta-new': 'n' });
    assert.equal((await call(w, 'PUT', '/west-extra', p.sys)).status, 200);
    await editUser(w, p.sys, 'alice', { display_name: 'Alice W.' });

    const r = await verify(cfg);
    assert.equal(r.code, 1);
    const expected = {
      'user alice': 'display name "alice" on the source, "Alice W." on the destination',
      'bucket west-extra': 'only on the destination',
      'object alice-docs/a//b': 'missing on the destination',
      'object alice-docs/extra only on west': 'only on the destination',
      'object alice-docs/meta-obj': 'metadata differs: x-amz-meta-color "green" on the source, "blue" on the destination; x-amz-meta-new (none) on the source, "n" on the destination',
      'object alice-docs/plain': r.json!.differences.find((d) => d.name === 'alice-docs/plain')?.detail ?? 'missing',
    };
    assert.deepEqual(diffs(r), expected);
    assert.match(expected['object alice-docs/plain'], /^source 23 bytes ETag \w+, destination 31 bytes ETag \w+$/);
    // Sorted: users, buckets, objects; names in byte order.
    assert.deepEqual(r.json!.differences.map((d) => `${d.kind} ${d.name}`), Object.keys(expected).sort((a, b) => {
      const rank = (s: string) => ['user', 'bucket', 'object'].indexOf(s.split(' ')[0]);
      return rank(a) - rank(b) || Buffer.compare(Buffer.from(a), Buffer.from(b));
    }));

    const human = await verify(cfg, { json: false });
    assert.equal(human.code, 1);
    assert.equal(human.out.length, 7);
    assert.equal(human.out[0], 'user alice: display name "alice" on the source, "Alice W." on the destination');
    assert.ok(human.out.includes('object "alice-docs/extra only on west": only on the destination'), human.out.join('\n'));
    assert.equal(human.out[6], `verify: 4 users, 4 buckets, ${AWKWARD.length + 10} objects compared; 6 differences`);

    const capped = await verify(cfg, { json: false, maxDifferences: 2 });
    assert.equal(capped.code, 1);
    assert.deepEqual(capped.out.slice(2), ['... and 4 more differences', `verify: 4 users, 4 buckets, ${AWKWARD.length + 10} objects compared; 6 differences`]);
    const cappedJson = await verify(cfg, { maxDifferences: 2 });
    assert.equal(cappedJson.json!.differences.length, 2);
    assert.equal(cappedJson.json!.differenceCount, 6);

    const fast = await verify(cfg, { checkMetadata: false });
    assert.equal(fast.json!.differenceCount, 5);
    assert.equal(diffs(fast)['object alice-docs/meta-obj'], undefined, 'no HEADs: metadata not compared');

    const one = await verify(cfg, { bucket: 'alice-docs' });
    assert.equal(one.code, 1);
    assert.deepEqual(Object.keys(diffs(one)).sort(), ['object alice-docs/a//b', 'object alice-docs/extra only on west', 'object alice-docs/meta-obj', 'object alice-docs/plain']);
    assert.deepEqual([one.json!.users, one.json!.buckets, one.json!.objects], [0, 1, AWKWARD.length + 1]);
    const oneHuman = await verify(cfg, { bucket: 'alice-docs', json: false });
    assert.equal(oneHuman.out.at(-1), `verify: 1 bucket, ${AWKWARD.length + 1} objects compared; 4 differences`);

    const clean = await verify(cfg, { bucket: 'alice-pics' });
    assert.equal(clean.code, 0);
    assert.equal(clean.json!.objects, 7);
    const extra = await verify(cfg, { bucket: 'west-extra' });
    assert.equal(extra.code, 1);
    assert.deepEqual(diffs(extra), { 'bucket west-extra': 'only on the destination' });

    const none = await verify(cfg, { bucket: 'no-such-bucket' });
    assert.equal(none.code, 2);
    assert.equal(none.json!.error, 'bucket no-such-bucket exists on neither zone');
    assert.ok(none.log.includes('error verify: bucket no-such-bucket exists on neither zone'), none.log.join('\n'));
  });

  it('an unreachable destination is one error line and exit 2', async () => {
    const bad = { ...cfg, destination: 'http://127.0.0.1:1' };
    const out: string[] = [];
    const log = logger();
    assert.equal(await runVerify(bad, { json: false, log, out: (s) => out.push(s) }), 2);
    assert.deepEqual(out, []);
    assert.equal(log.lines.filter((l) => l.startsWith('error')).length, 1, log.lines.join('\n'));
    assert.match(log.lines.find((l) => l.startsWith('error'))!, /^error verify: cannot reach http:\/\/127\.0\.0\.1:1/);
  });
});

/** Zones in memory, for what real zones cannot show: how many HEADs run at once and how far the listing runs ahead. */
function fakeZone(objects: ListedObject[], track: { inflight: number; max: number; heads: number; listedAhead: number; listed: number }, failKey?: string): ZoneApis {
  const admin = {
    client: { endpoint: 'fake' },
    async *metadataKeys(section: string) { if (section === 'bucket') yield 'b'; },
    async getMetadata(section: string) { return Buffer.from(JSON.stringify({ data: section === 'bucket' ? { owner: 'o' } : {} })); },
  } as unknown as AdminApi;
  const s3 = {
    async *allObjects() {
      for (const o of objects) {
        track.listed++;
        track.listedAhead = Math.max(track.listedAhead, track.listed / 2 - track.heads / 2);
        yield o;
      }
    },
    async headObject(_b: string, key: string): Promise<ObjectHead> {
      track.inflight++;
      track.max = Math.max(track.max, track.inflight);
      try {
        await new Promise((r) => setTimeout(r, 2));
        if (key === failKey) throw new AgentError(`HEAD ${key} failed`);
        return { size: 1, etag: 'e', contentType: 'c', meta: {} };
      } finally {
        track.inflight--;
        track.heads++;
      }
    },
  } as unknown as S3Api;
  return { admin, s3 };
}

describe('compareZones bounds', () => {
  const objects = Array.from({ length: 300 }, (_, i) => ({ key: `k${String(i).padStart(4, '0')}`, etag: 'e', size: 1 }));

  it('at most 16 HEAD pairs in flight, and the listing never runs more than that ahead', async () => {
    const track = { inflight: 0, max: 0, heads: 0, listedAhead: 0, listed: 0 };
    const cmp = await compareZones(fakeZone(objects, track), fakeZone(objects, track), { bucket: 'b' });
    assert.equal(cmp.differenceCount, 0);
    assert.equal(cmp.metadataChecked, 300);
    assert.equal(track.max, 32, 'two HEADs per pair, 16 pairs');
    assert.ok(track.listedAhead <= 18, `listing ran ${track.listedAhead} objects ahead`);
    assert.equal(track.inflight, 0);
  });

  it('a failing HEAD fails the comparison, with nothing left in flight', async () => {
    const track = { inflight: 0, max: 0, heads: 0, listedAhead: 0, listed: 0 };
    await assert.rejects(compareZones(fakeZone(objects, track, 'k0100'), fakeZone(objects, track), {}), /HEAD k0100 failed/);
    assert.equal(track.inflight, 0);
    assert.ok(track.listed < 2 * 150, `listing stopped soon after the failure (listed ${track.listed / 2} per zone)`);
  });
});
