/** The agent end to end: two embedded zones and the agent, all real processes. */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call } from './helpers/http.js';
import { createUser, del, objPath, put, remoteCopies, startPair, zoneState, type Creds, type Pair } from './helpers/pair.js';
import { until } from './helpers/procs.js';
import { dataShard } from '../src/rgw/shard.js';

const AWKWARD = ['plain', 'dir/sub/with space.txt', 'plus+sign', 'tilde~', 'percent%41', 'ünïcødé/文件.bin', 'a//b', 'trailing/', 'cr\rkey', 'tab\tand<xml>&amp;'];

async function equalZones(p: Pair, what: string, deadlineMs = 30_000): Promise<Record<string, unknown>> {
  let last: [unknown, unknown] = [undefined, undefined];
  try {
    return await until(what, async () => {
      const [e, w] = [await zoneState(p.east, p.sys), await zoneState(p.westDirect, p.sys)];
      last = [e, w];
      return JSON.stringify(e) === JSON.stringify(w) ? e : undefined;
    }, deadlineMs, 200);
  } catch (err) {
    assert.deepEqual(last[1], last[0], (err as Error).message);
    throw err;
  }
}

const copies = remoteCopies;

describe('agent end to end', () => {
  let p: Pair;
  afterEach(async () => { await p?.close(); });

  it('full sync copies users, buckets and objects with awkward keys, then exits 0', async () => {
    p = await startPair();
    const alice = await createUser(p.east, p.sys, 'alice');
    const bob = await createUser(p.east, p.sys, 'bob');
    for (const [who, bucket] of [[alice, 'alice-photos'], [alice, 'alice-docs'], [bob, 'bob-data']] as [Creds, string][]) {
      assert.equal((await call(p.east, 'PUT', `/${bucket}`, who)).status, 200);
      for (const k of AWKWARD) await put(p.east, who, bucket, k, `${bucket}:${k}`, { 'content-type': 'text/x-awkward', 'x-amz-meta-origin': 'east' });
    }
    const run = p.agent(['full-sync']);
    assert.equal(await run.exited, 0, run.output());
    const state = await equalZones(p, 'zones equal after full sync', 1);
    assert.deepEqual(state.users, ['alice', 'bob', 'sync-agent']);
    const west = await call(p.westDirect, 'GET', objPath('alice-docs', 'ünïcødé/文件.bin'), alice);
    assert.equal(west.text, 'alice-docs:ünïcødé/文件.bin');
    assert.equal(west.headers['content-type'], 'text/x-awkward');
    assert.equal(west.headers['x-amz-meta-origin'], 'east');
    assert.equal((await call(p.westDirect, 'GET', '/', bob)).status, 200, 'users and their keys arrive on the destination');
    // Keys XML cannot carry byte for byte arrive exactly (listings are URL-encoded).
    assert.equal((await call(p.westDirect, 'GET', objPath('bob-data', 'cr\rkey'), bob)).text, 'bob-data:cr\rkey');
    assert.match(run.output(), /0 deleted/);
  });

  const modes: Record<string, string | number>[] = [{ state_store: 'bucket', copy_mode: 'stream' }, { state_store: 'file', copy_mode: 'stream', multipart_threshold: 1000 }];
  for (const mode of modes) {
    it(`works with state_store ${mode.state_store} and copy_mode ${mode.copy_mode}${'multipart_threshold' in mode ? ' (multipart refused: single PUTs)' : ''}`, async () => {
      p = await startPair({ mdShards: 4, dataShards: 4 });
      // The embedded zone takes multipart uploads: a destination that does not is played by the proxy.
      if ('multipart_threshold' in mode) p.proxy.fault = (req) => (req.method === 'POST' && /[?&]uploads(&|=|$)/.test(req.url ?? '') ? 501 : undefined);
      const alice = await createUser(p.east, p.sys, 'alice');
      assert.equal((await call(p.east, 'PUT', '/mode-bucket', alice)).status, 200);
      for (const k of AWKWARD) await put(p.east, alice, 'mode-bucket', k, `${k}:${'x'.repeat(3000)}`, { 'x-amz-meta-kind': 'awkward', 'content-type': 'text/x-mode' });
      const extra = mode.state_store === 'file' ? { ...mode, state_file: `${p.dir}/state/bounds.json` } : mode;
      const daemon = p.agent(['sync'], extra);
      await daemon.waitFor('full sync');
      await equalZones(p, 'after the full sync');
      await put(p.east, alice, 'mode-bucket', 'plain', 'overwritten');
      await del(p.east, alice, 'mode-bucket', 'plus+sign');
      await equalZones(p, 'after incremental changes');
      const got = await call(p.westDirect, 'GET', objPath('mode-bucket', 'tilde~'), alice);
      assert.equal(got.headers['x-amz-meta-kind'], 'awkward');
      assert.equal(got.headers['content-type'], 'text/x-mode');
      assert.match(daemon.output(), new RegExp(`using state store ${mode.state_store}.*copy mode stream`));
      assert.ok(p.proxy.seen.every((s) => !s.url.includes('rgwx-source-zone')), 'no remote copy was sent');
      if ('multipart_threshold' in mode) {
        const tries = p.proxy.seen.filter((s) => s.method === 'POST' && s.url.includes('uploads'));
        // Tried by the copies already in flight when the first refusal came back, then never again.
        assert.ok(tries.length >= 1 && tries.length <= 16 && tries.every((s) => s.status === 501), `multipart refused, then single PUTs: ${tries.length} tries`);
      }
      if (mode.state_store === 'bucket') {
        const bounds = await call(p.westDirect, 'GET', '/rgw-agent-state?prefix=bounds%2Fdata%2F', p.sys);
        assert.match(bounds.text, /<Key>bounds\/data\/\d+\.json<\/Key>/, 'data shard bounds live in the state bucket');
      } else {
        assert.match((await import('node:fs')).readFileSync(`${p.dir}/state/bounds.json`, 'utf8'), /"data\/\d+"/);
      }
      await daemon.kill('SIGTERM');
    });
  }

  it('shards splits data shards between agents: each syncs only its own, together everything', async () => {
    p = await startPair({ mdShards: 4, dataShards: 4 });
    const alice = await createUser(p.east, p.sys, 'alice');
    const buckets = ['alpha', 'beta', 'gamma', 'delta', 'three', 'four'];
    const low = buckets.filter((b) => dataShard(b, 4) <= 1);
    const high = buckets.filter((b) => dataShard(b, 4) >= 2);
    assert.ok(low.length > 0 && high.length > 0);
    for (const b of buckets) {
      assert.equal((await call(p.east, 'PUT', `/${b}`, alice)).status, 200);
      await put(p.east, alice, b, 'k', b);
    }
    const first = p.agent(['full-sync'], { shards: '0-1' });
    assert.equal(await first.exited, 0, first.output());
    for (const b of low) assert.equal((await call(p.westDirect, 'GET', `/${b}/k`, alice)).status, 200, b);
    for (const b of high) assert.equal((await call(p.westDirect, 'GET', `/${b}/k`, alice)).status, 404, `${b} belongs to the other agent`);
    const second = p.agent(['full-sync'], { shards: '2-3' });
    assert.equal(await second.exited, 0, second.output());
    await equalZones(p, 'both halves synced', 1);
  });

  it('incremental daemon follows overwrites, deletes, new users and removed buckets', async () => {
    p = await startPair();
    const alice = await createUser(p.east, p.sys, 'alice');
    assert.equal((await call(p.east, 'PUT', '/inc-bucket', alice)).status, 200);
    assert.equal((await call(p.east, 'PUT', '/doomed-bucket', alice)).status, 200);
    for (let i = 0; i < 20; i++) await put(p.east, alice, 'inc-bucket', `k${i}`, `v1-${i}`);
    const daemon = p.agent(['sync']);
    await daemon.waitFor('full sync');
    await equalZones(p, 'initial sync');

    for (let i = 0; i < 20; i += 2) await put(p.east, alice, 'inc-bucket', `k${i}`, `v2-${i}`);
    for (let i = 1; i < 20; i += 4) await del(p.east, alice, 'inc-bucket', `k${i}`);
    await put(p.east, alice, 'inc-bucket', 'k0', 'v3-0'); // repeated ops on one key
    await del(p.east, alice, 'inc-bucket', 'k2');
    await put(p.east, alice, 'inc-bucket', 'k2', 'v3-2');
    await createUser(p.east, p.sys, 'carol');
    assert.equal((await call(p.east, 'DELETE', '/doomed-bucket', alice)).status, 204);
    const state = await equalZones(p, 'incremental changes');
    assert.deepEqual(state.users, ['alice', 'carol', 'sync-agent']);
    assert.equal(state['bucket:doomed-bucket'], undefined);
    assert.equal((await call(p.westDirect, 'GET', '/inc-bucket/k0', alice)).text, 'v3-0');
    assert.equal((await call(p.westDirect, 'GET', '/inc-bucket/k2', alice)).text, 'v3-2');
    assert.equal((await call(p.westDirect, 'GET', '/inc-bucket/k1', alice)).status, 404);
    assert.equal(await daemon.kill('SIGTERM'), 0, daemon.output());
  });

  it('a failing object does not block its shard: it becomes a retry and succeeds later', async () => {
    p = await startPair({ dataShards: 2 });
    const alice = await createUser(p.east, p.sys, 'alice');
    // Buckets that share the failing bucket's data shard.
    const buckets = ['fail-a', 'fail-b', 'fail-c', 'fail-d', 'fail-e'];
    const shard0 = dataShard('fail-a', 2);
    const peers = buckets.filter((b) => b !== 'fail-a' && dataShard(b, 2) === shard0);
    assert.ok(peers.length > 0, 'some bucket shares the shard');
    for (const b of buckets) assert.equal((await call(p.east, 'PUT', `/${b}`, alice)).status, 200);
    const daemon = p.agent(['sync'], { object_sync_timeout: 2 });
    await daemon.waitFor('full sync');
    await equalZones(p, 'initial sync');

    let failing = true;
    p.proxy.fault = (req) => (failing && req.method === 'PUT' && (req.url ?? '').startsWith('/fail-a/bad-key?') ? 500 : undefined);
    await put(p.east, alice, 'fail-a', 'bad-key', 'will fail first');
    await put(p.east, alice, 'fail-a', 'good-key', 'fine');
    for (const b of peers) await put(p.east, alice, b, 'peer-key', `in ${b}`);

    // Everything else arrives while bad-key keeps failing.
    await until('peers synced', async () => {
      for (const b of peers) if ((await call(p.westDirect, 'GET', `/${b}/peer-key`, alice)).status !== 200) return undefined;
      return (await call(p.westDirect, 'GET', '/fail-a/good-key', alice)).status === 200;
    });
    const inst = (await call(p.east, 'GET', '/admin/metadata/bucket?key=fail-a', p.sys)).json<{ data: { bucket: { bucket_id: string } } }>().data.bucket.bucket_id;
    const head = (await call(p.east, 'GET', `/admin/log?info&type=bucket-index&bucket-instance=fail-a%3A${inst}`, p.sys)).json<{ max_marker: string }>().max_marker;
    // The bound moves past the failed entry (to the log's head) while keeping bad-key as a retry.
    await until('bad-key recorded as a retry, the bound at the head', async () => {
      const r = await call(p.westDirect, 'GET', `/admin/replica_log?bounds&type=bucket-index&bucket-instance=fail-a%3A${inst}`, p.sys);
      if (r.status !== 200) return undefined;
      const b = r.json<{ marker: string; markers: { items_in_progress: { name: string }[] }[] }>();
      return b.markers[0].items_in_progress.some((i) => i.name === 'bad-key') && b.marker === head ? b : undefined;
    });
    assert.equal((await call(p.westDirect, 'GET', '/fail-a/bad-key', alice)).status, 404);
    const failedAttempts = p.proxy.seen.filter((s) => s.url.startsWith('/fail-a/bad-key?') && s.status === 500).length;
    assert.ok(failedAttempts >= 1);

    failing = false;
    await until('bad-key synced by a retry', async () => (await call(p.westDirect, 'GET', '/fail-a/bad-key', alice)).text === 'will fail first', 60_000);
    await until('retry item cleared', async () => {
      const b = (await call(p.westDirect, 'GET', `/admin/replica_log?bounds&type=bucket-index&bucket-instance=fail-a%3A${inst}`, p.sys)).json<{ markers: { items_in_progress: unknown[] }[] }>();
      return b.markers[0].items_in_progress.length === 0;
    });
    await equalZones(p, 'all synced after the fault cleared');
  });

  it('a stuck copy times out and becomes a retry instead of hanging the shard', async () => {
    p = await startPair({ dataShards: 2 });
    const alice = await createUser(p.east, p.sys, 'alice');
    assert.equal((await call(p.east, 'PUT', '/stuck-bucket', alice)).status, 200);
    const daemon = p.agent(['sync'], { object_sync_timeout: 2 });
    await daemon.waitFor('full sync');
    await equalZones(p, 'initial sync');
    let hanging = true;
    p.proxy.fault = (req) => (hanging && req.method === 'PUT' && (req.url ?? '').startsWith('/stuck-bucket/stuck?') ? 'hang' : undefined);
    await put(p.east, alice, 'stuck-bucket', 'stuck', 'eventually');
    await put(p.east, alice, 'stuck-bucket', 'other', 'right away');
    await until('the other key synced', async () => (await call(p.westDirect, 'GET', '/stuck-bucket/other', alice)).status === 200);
    await daemon.waitFor(/object stuck-bucket\/stuck: .*kept as a retry/, 20_000);
    hanging = false;
    await until('the stuck key synced by a retry', async () => (await call(p.westDirect, 'GET', '/stuck-bucket/stuck', alice)).text === 'eventually', 30_000);
    await equalZones(p, 'all synced');
  });

  it('kill -9 mid-sync, restart: converges without replaying from the start', async () => {
    p = await startPair();
    const alice = await createUser(p.east, p.sys, 'alice');
    assert.equal((await call(p.east, 'PUT', '/big-bucket', alice)).status, 200);
    const first = p.agent(['sync'], { max_entries: 50, object_concurrency: 4 });
    await first.waitFor('full sync');
    await equalZones(p, 'initial sync');
    const total = 600;
    for (let i = 0; i < total; i++) await put(p.east, alice, 'big-bucket', `obj-${String(i).padStart(4, '0')}`, `payload ${i}`);
    await until('a third copied', async () => copies(p) >= total / 3, 60_000, 20);
    assert.equal(await first.kill('SIGKILL'), 'SIGKILL');
    const beforeRestart = Date.now();
    const copiedBefore = copies(p);
    assert.ok(copiedBefore < total, 'killed before it finished');
    const second = p.agent(['sync'], { max_entries: 50, object_concurrency: 4 });
    await equalZones(p, 'converged after restart', 60_000);
    const replayed = copies(p, beforeRestart);
    // Bounds are posted per batch of 50: at most the batches in flight are repeated.
    assert.ok(replayed <= total - copiedBefore + 4 * 50, `restart re-copied ${replayed} of ${total} (had copied ${copiedBefore} before the kill)`);
    assert.ok(!second.output().includes('running a full sync'), 'no full sync after a restart');
  });

  it('two agents at once converge, and each shard bound is written by its lock holder', async () => {
    p = await startPair({ mdShards: 4, dataShards: 4 });
    const alice = await createUser(p.east, p.sys, 'alice');
    const a = p.agent(['sync'], { num_workers: 2 });
    await a.waitFor('full sync');
    const b = p.agent(['sync'], { num_workers: 2 });
    for (let n = 0; n < 6; n++) {
      assert.equal((await call(p.east, 'PUT', `/two-agents-${n}`, alice)).status, 200);
      for (let i = 0; i < 15; i++) await put(p.east, alice, `two-agents-${n}`, `k${i}`, `v${i}`);
    }
    for (let n = 0; n < 6; n++) for (let i = 0; i < 15; i += 3) await del(p.east, alice, `two-agents-${n}`, `k${i}`);
    await equalZones(p, 'two agents converge', 60_000);
    await a.kill('SIGTERM');
    await b.kill('SIGTERM');

    // Replay the proxy's record: who held each shard lock when its bound was written.
    const holder = new Map<string, string>();
    const agentOf = (s: { agent: string }) => /\(([^)]+)\)/.exec(s.agent)?.[1] ?? '';
    let checked = 0;
    for (const s of p.proxy.seen) {
      const u = new URL(s.url, 'http://x');
      const shard = `${u.searchParams.get('type')}/${u.searchParams.get('id')}`;
      if (u.pathname === '/admin/log' && s.method === 'POST' && s.status === 200) {
        if (u.searchParams.has('lock')) holder.set(shard, agentOf(s));
        if (u.searchParams.has('unlock')) holder.delete(shard);
      }
      if (u.pathname === '/admin/replica_log' && s.method === 'POST' && u.searchParams.get('type') !== 'bucket-index') {
        assert.equal(holder.get(shard), agentOf(s), `bound of ${shard} written by ${agentOf(s)} while ${holder.get(shard) ?? 'nobody'} held the lock`);
        checked++;
      }
    }
    assert.ok(checked > 0);
    const agents = new Set(p.proxy.seen.map(agentOf).filter(Boolean));
    assert.equal(agents.size, 2, 'both agents talked to the destination');
  });
});
