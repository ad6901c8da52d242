/**
 * Adaptive polling of shard heads on sources that answer them one request per shard (RGW): the
 * schedule as a table, then a daemon against a source that refuses one-call heads.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dataShardNeighbours, nextPollInterval, pollDue } from '../src/sync/polling.js';
import { dataShard } from '../src/rgw/shard.js';
import { call } from './helpers/http.js';
import { createUser, put, sameZoneState, startPair, type Pair } from './helpers/pair.js';
import { until } from './helpers/procs.js';

describe('poll schedule', () => {
  const cases: [string, number, boolean, number][] = [
    ['a head that moved: every pass', 8000, true, 0],
    ['first quiet ask: the pass spacing', 0, false, 1000],
    ['quiet again: doubles', 1000, false, 2000],
    ['keeps doubling', 4000, false, 8000],
    ['never past the maximum', 16000, false, 20000],
    ['at the maximum it stays', 20000, false, 20000],
  ];
  for (const [name, prev, moved, want] of cases) it(name, () => assert.equal(nextPollInterval(prev, moved, 1000, 20000), want));
  it('due when never asked or once the interval has passed', () => {
    assert.equal(pollDue(undefined, 5000, 0), true);
    assert.equal(pollDue(1000, 5000, 5999), false);
    assert.equal(pollDue(1000, 5000, 6000), true);
    assert.equal(pollDue(1000, 0, 1000), true);
  });
});

describe('data shards asked early because a neighbour moved', () => {
  const cases: [string, number, number, number[]][] = [
    ['RGW\'s 128 shards: 10 either side', 64, 128, [...Array(21).keys()].map((k) => 54 + k).filter((x) => x !== 64)],
    ['wraps at the ends', 0, 128, [...[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], ...[118, 119, 120, 121, 122, 123, 124, 125, 126, 127]]],
    ['fewer shards than the span: each other shard once', 2, 8, [0, 1, 3, 4, 5, 6, 7]],
    ['one shard: none', 0, 1, []],
  ];
  for (const [name, shard, n, want] of cases) it(name, () => assert.deepEqual(dataShardNeighbours(shard, n), [...want].sort((a, b) => a - b)));
});

describe('a source without one-call heads (as RGW)', () => {
  let p: Pair;
  afterEach(async () => { await p?.close(); });

  it('an idle daemon asks quiet shards less and less often, and still finds a change within idle_poll_max', async () => {
    p = await startPair({ sourceProxy: true, mdShards: 4, dataShards: 8 });
    const proxy = p.sourceProxy!;
    // Answered as RGW does not know ?heads: the agent asks shard by shard.
    proxy.fault = (req) => (/[?&]heads(&|$)/.test(req.url ?? '') ? 400 : undefined);
    const alice = await createUser(p.east, p.sys, 'alice');
    assert.equal((await call(p.east, 'PUT', '/quiet', alice)).status, 200);
    const daemon = p.agent(['sync'], { idle_poll_max: 2 });
    await until('the initial sync', () => sameZoneState(p.east, p.westDirect, p.sys), 30_000, 200);
    const headCalls = () => proxy.seen.filter((s) => /^\/admin\/log\?info&type=(data|metadata)&id=/.test(s.url)).length;
    // Past the ramp (0.1 s doubling to 2 s), count the asks over 4 s of rest.
    await new Promise((r) => setTimeout(r, 5000));
    const before = headCalls();
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 4000));
    const asked = headCalls() - before;
    const seconds = (Date.now() - t0) / 1000;
    // 12 shards asked at most every 2 s, plus one pass of slack per shard; every pass (10/s) would be ~480.
    assert.ok(asked <= 12 * (Math.ceil(seconds / 2) + 1), `${asked} head requests in ${seconds.toFixed(1)} s of rest`);
    assert.ok(asked > 0, 'quiet shards are still asked');
    // A change on a quiet shard is found within idle_poll_max (and a pass).
    const t1 = Date.now();
    await put(p.east, alice, 'quiet', 'late', 'x');
    await until('the change synced', async () => (await call(p.westDirect, 'GET', '/quiet/late', alice)).status === 200, 10_000, 50);
    assert.ok(Date.now() - t1 < 5000, `found ${Date.now() - t1} ms after the write`);
    await daemon.kill('SIGTERM');
  });

  it('a data shard next to one that moved is asked at once, not after its quiet interval', async () => {
    p = await startPair({ sourceProxy: true, mdShards: 4, dataShards: 8 });
    const proxy = p.sourceProxy!;
    proxy.fault = (req) => (/[?&]heads(&|$)/.test(req.url ?? '') ? 400 : undefined);
    // Two buckets logged in neighbouring data shards, as two index shards of one RGW bucket are.
    assert.equal(dataShard('bravo', 8) + 1, dataShard('alpha', 8));
    const alice = await createUser(p.east, p.sys, 'alice');
    for (const b of ['alpha', 'bravo']) assert.equal((await call(p.east, 'PUT', `/${b}`, alice)).status, 200);
    const daemon = p.agent(['sync'], { idle_poll_max: 4 });
    await until('the initial sync', () => sameZoneState(p.east, p.westDirect, p.sys), 30_000, 200);
    // Every quiet shard's interval ramps to idle_poll_max together (0.1 s doubling to 4 s).
    await new Promise((r) => setTimeout(r, 7000));
    await put(p.east, alice, 'bravo', 'first', 'x');
    await until('bravo/first synced', async () => (await call(p.westDirect, 'GET', '/bravo/first', alice)).status === 200, 10_000, 25);
    // alpha's shard was asked in the same pass that found bravo's change: left alone, it would
    // wait its whole 4 s interval now.
    const t0 = Date.now();
    await put(p.east, alice, 'alpha', 'second', 'x');
    await until('alpha/second synced', async () => (await call(p.westDirect, 'GET', '/alpha/second', alice)).status === 200, 10_000, 25);
    const ms = Date.now() - t0;
    assert.ok(ms < 1500, `alpha/second found ${ms} ms after the write`);
    await daemon.kill('SIGTERM');
  });
});
