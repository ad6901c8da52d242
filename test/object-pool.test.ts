/**
 * The one object pool: AIMD decisions as tables, the pool's limits across callers, and against
 * real zones behind a proxy: one bucket keeps the pool full across pages (no barrier per page),
 * two buckets share one limit, and 503/SlowDown from the destination shrinks the pool without
 * losing an object.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CUT_QUIET_MS, initialLimit, isSlowDown, onSlowDown, onSuccess, type LimitState } from '../src/worker/adaptive.js';
import { ObjectPool, Stopped } from '../src/worker/pool.js';
import { putObj, startRig, userAndBucket, type Rig } from './helpers/copyrig.js';
import { fullSyncBucket } from '../src/sync/bucketsync.js';
import type { ShardLock } from '../src/worker/lock.js';
import { compareZones } from '../src/sync/compare.js';
import type { IncomingMessage } from 'node:http';
import { call } from './helpers/http.js';
import { objPath } from './helpers/pair.js';

const st = (limit: number, streak = 0, cutAtMs = -Infinity): LimitState => ({ limit, streak, cutAtMs });

describe('adaptive object concurrency (AIMD)', () => {
  const slow: [string, LimitState, number, LimitState][] = [
    ['a 503 halves the limit', st(64, 5), 10_000, st(32, 0, 10_000)],
    ['odd limits round down', st(5), 10_000, st(2, 0, 10_000)],
    ['never below one', st(1), 10_000, st(1, 0, 10_000)],
    ['503s of the same burst count once', st(32, 0, 10_000), 10_000 + CUT_QUIET_MS - 1, st(32, 0, 10_000)],
    ['a 503 after the quiet time halves again', st(32, 0, 10_000), 10_000 + CUT_QUIET_MS, st(16, 0, 10_000 + CUT_QUIET_MS)],
  ];
  for (const [name, s, now, want] of slow) it(name, () => assert.deepEqual(onSlowDown(s, now), want));
  const ok: [string, LimitState, number, LimitState][] = [
    ['a success counts toward growth', st(8, 3), 64, st(8, 4)],
    ['after as many successes as the limit: one more slot', st(8, 7), 64, st(9, 0)],
    ['at the maximum it stays', st(64, 63), 64, st(64, 63)],
    ['one slot grows after one success', st(1, 0), 64, st(2, 0)],
  ];
  for (const [name, s, max, want] of ok) it(name, () => assert.deepEqual(onSuccess(s, max), want));
  it('a pool starts at its maximum (at least one)', () => {
    assert.deepEqual(initialLimit(16), st(16));
    assert.deepEqual(initialLimit(0), st(1));
  });
  it('503 and 429 ask to slow down; other errors do not', () => {
    assert.deepEqual([503, 429, 500, 404, 200, undefined].map(isSlowDown), [true, true, false, false, false, false]);
  });
});

describe('ObjectPool', () => {
  it('callers of many buckets share one limit', async () => {
    const pool = new ObjectPool(() => 3);
    let running = 0;
    let peak = 0;
    const job = async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
    };
    await Promise.all([...Array(20).keys()].map(() => pool.run(job)));
    assert.equal(peak, 3);
  });

  it('a stop before a copy starts is Stopped and the copy never runs; a running copy finishes', async () => {
    const pool = new ObjectPool(() => 1);
    const ac = new AbortController();
    let release!: () => void;
    const first = pool.run(() => new Promise<string>((r) => { release = () => r('done'); }), ac.signal);
    let ran = false;
    const second = pool.run(async () => { ran = true; }, ac.signal);
    ac.abort();
    release();
    assert.equal(await first, 'done');
    await assert.rejects(second, Stopped);
    assert.equal(ran, false);
    await assert.rejects(pool.run(async () => 1, ac.signal), Stopped);
  });

  it('slowDown halves the limit for copies not yet started; a reload of the maximum applies at once', async () => {
    let max = 8;
    let now = 0;
    const changes: string[] = [];
    const pool = new ObjectPool(() => max, () => now, (limit, m, cause) => changes.push(`${limit}/${m} ${cause}`));
    pool.slowDown();
    assert.equal(pool.limit, 4);
    pool.slowDown(); // same burst
    assert.equal(pool.limit, 4);
    now += CUT_QUIET_MS;
    pool.slowDown();
    assert.equal(pool.limit, 2);
    for (let i = 0; i < 2; i++) await pool.run(async () => undefined);
    assert.equal(pool.limit, 3, 'grown by one after two successes at 2');
    max = 32;
    await pool.run(async () => undefined);
    assert.equal(pool.limit, 32);
    assert.deepEqual(changes, ['4/8 slowdown', '2/8 slowdown', '3/8 keeping-up', '32/32 reloaded']);
  });
});

describe('full sync through the object pool (real zones)', () => {
  let r: Rig;
  let alice: { accessKey: string; secretKey: string };
  const lock = { signal: new AbortController().signal, valid: () => true } as unknown as ShardLock;
  const isCopy = (req: IncomingMessage) => req.method === 'PUT' && req.headers['x-amz-copy-source'] !== undefined && String(req.headers['user-agent'] ?? '').startsWith('rgw-agent');
  before(async () => {
    r = await startRig();
    alice = await userAndBucket(r, 'alice', 'big');
    const other = await userAndBucket(r, 'olga', 'small');
    for (let i = 0; i < 60; i++) await putObj(r.east.url, alice, 'big', `k${String(i).padStart(3, '0')}`, `body ${i}`);
    for (let i = 0; i < 20; i++) await putObj(r.east.url, other, 'small', `s${i}`, `small ${i}`);
  });
  after(async () => { await r?.close(); });

  /** Holds every remote copy a moment and counts how many the destination sees at once. */
  function watchCopies(holdMs: number) {
    const w = { active: 0, peak: 0 };
    r.dstProxy.before = async (req) => {
      if (!isCopy(req)) return undefined;
      w.active++;
      w.peak = Math.max(w.peak, w.active);
      await new Promise((res) => setTimeout(res, holdMs));
      w.active--;
      return undefined;
    };
    return w;
  }

  it('one bucket of 60 keys, pages of 10: the pool stays full across pages (up to object_concurrency in flight, not one page)', async () => {
    const s = await r.context({ copy_mode: 'remote', max_entries: 10, object_concurrency: 24 });
    const w = watchCopies(60);
    const res = await fullSyncBucket(s.ctx, 'big', lock);
    r.dstProxy.before = undefined;
    assert.notEqual(res, 'gone');
    assert.equal(res !== 'gone' && res.failed, 0);
    assert.ok(w.peak > 10, `more copies at once than one page holds (peak ${w.peak})`);
    assert.ok(w.peak <= 24, `never more than object_concurrency (peak ${w.peak})`);
    const cmp = await compareZones({ admin: s.ctx.src, s3: s.ctx.srcS3 }, { admin: s.ctx.dst, s3: s.ctx.dstS3 }, { bucket: 'big' });
    assert.deepEqual(cmp.differences, []);
  });

  it('two buckets synced at once share one limit', async () => {
    const s = await r.context({ copy_mode: 'remote', object_concurrency: 5 });
    // Fresh copies: the destination must not already have them.
    for (const b of ['big', 'small']) for (const o of await listKeys(r, b)) await deleteWest(r, b, o);
    const w = watchCopies(30);
    const [a, b] = await Promise.all([fullSyncBucket(s.ctx, 'big', lock), fullSyncBucket(s.ctx, 'small', lock)]);
    r.dstProxy.before = undefined;
    assert.ok(a !== 'gone' && a.failed === 0 && b !== 'gone' && b.failed === 0);
    assert.equal(w.peak, 5, `the limit is shared (peak ${w.peak})`);
  });

  it('503 SlowDown from the destination: the pool shrinks, the failed copies become retries, nothing is lost', async () => {
    const s = await r.context({ copy_mode: 'remote', object_concurrency: 16 });
    for (const o of await listKeys(r, 'big')) await deleteWest(r, 'big', o);
    let refused = 0;
    r.dstProxy.before = (req) => {
      // Every third copy is refused, until twelve were.
      if (!isCopy(req) || refused >= 12 || Math.floor(Math.random() * 3) !== 0) return undefined;
      refused++;
      return { status: 503, code: 'SlowDown' };
    };
    const res = await fullSyncBucket(s.ctx, 'big', lock);
    r.dstProxy.before = undefined;
    assert.ok(refused > 0);
    assert.ok(s.log.lines.some((l) => l.startsWith('warn object copies in parallel: now 8 of at most 16 (the destination asked to slow down')), s.log.lines.filter((l) => l.includes('parallel')).join('\n'));
    assert.ok(s.ctx.objects.limit < 16, `limit ${s.ctx.objects.limit}`);
    assert.notEqual(res, 'gone');
    // A refused copy is a retry item (the http client's own retries may have succeeded meanwhile).
    const again = await fullSyncBucket(s.ctx, 'big', lock);
    assert.ok(again !== 'gone' && again.failed === 0);
    const cmp = await compareZones({ admin: s.ctx.src, s3: s.ctx.srcS3 }, { admin: s.ctx.dst, s3: s.ctx.dstS3 }, { bucket: 'big' });
    assert.deepEqual(cmp.differences, []);
  });
});

async function listKeys(r: Rig, bucket: string): Promise<string[]> {
  const res = await call(r.west.url, 'GET', `/${bucket}?list-type=2&max-keys=1000`, r.sys);
  return [...res.text.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]);
}

async function deleteWest(r: Rig, bucket: string, key: string): Promise<void> {
  const res = await call(r.west.url, 'DELETE', objPath(bucket, key), r.sys);
  assert.ok(res.status === 204 || res.status === 200, `delete ${bucket}/${key}: ${res.status}`);
}
