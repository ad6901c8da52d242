/**
 * Review findings where the destination silently differed from the source, each made to happen on
 * purpose (real zones, real agent processes, a proxy that acts at an exact request), then checked
 * with the zones' own listings and `verify`.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { call } from './helpers/http.js';
import { createUser, del, objPath, put, startPair, zoneState, type Creds, type Pair } from './helpers/pair.js';
import { startProc, until } from './helpers/procs.js';
import { freePort } from './helpers/realm.js';
import { dataShard } from '../src/rgw/shard.js';
import { mdlogShard } from '../src/sync/metadata.js';

async function equalZones(p: Pair, what: string, deadlineMs = 30_000): Promise<void> {
  let last: [unknown, unknown] = [undefined, undefined];
  try {
    await until(what, async () => {
      const [e, w] = [await zoneState(p.east, p.sys), await zoneState(p.westDirect, p.sys)];
      last = [e, w];
      return JSON.stringify(e) === JSON.stringify(w);
    }, deadlineMs, 200);
  } catch (err) {
    assert.deepEqual(last[1], last[0], (err as Error).message);
    throw err;
  }
}

async function verifyEqual(p: Pair): Promise<void> {
  const v = startProc(['verify', '-c', p.configFile()]);
  assert.equal(await v.exited, 0, v.output());
}

async function instanceOf(base: string, p: Pair, bucket: string): Promise<string | undefined> {
  const r = await call(base, 'GET', `/admin/metadata/bucket?key=${encodeURIComponent(bucket)}`, p.sys);
  return r.status === 200 ? r.json<{ data: { bucket: { bucket_id: string } } }>().data.bucket.bucket_id : undefined;
}

/** Another agent's lock on a destination log shard, for `seconds`. */
async function holdLock(p: Pair, type: 'metadata' | 'data', shard: number, seconds: number): Promise<void> {
  const r = await call(p.westDirect, 'POST', `/admin/log?lock&type=${type}&id=${shard}&length=${seconds}&zone-id=us-west&locker-id=another-agent`, p.sys);
  assert.equal(r.status, 200);
}

/** Trims the source's data log (and metadata log) and a bucket's index log: what happened before is in no log any more. */
async function trimSourceLogs(p: Pair, shards: number, buckets: string[], types: ('data' | 'metadata')[] = ['data']): Promise<void> {
  for (const type of types) {
    for (let i = 0; i < shards; i++) {
      const head = (await call(p.east, 'GET', `/admin/log?info&type=${type}&id=${i}`, p.sys)).json<{ marker: string }>().marker;
      if (head) assert.equal((await call(p.east, 'DELETE', `/admin/log?type=${type}&id=${i}&end-marker=${encodeURIComponent(head)}`, p.sys)).status, 200);
    }
  }
  for (const b of buckets) {
    const inst = `${b}:${await instanceOf(p.east, p, b)}`;
    const max = (await call(p.east, 'GET', `/admin/log?info&type=bucket-index&bucket-instance=${encodeURIComponent(inst)}`, p.sys)).json<{ max_marker: string }>().max_marker;
    if (max) assert.equal((await call(p.east, 'DELETE', `/admin/log?type=bucket-index&bucket-instance=${encodeURIComponent(inst)}&end-marker=${encodeURIComponent(max)}`, p.sys)).status, 200);
  }
}

describe('faithful copies (review findings)', () => {
  let p: Pair;
  afterEach(async () => { await p?.close(); });

  it('1: a bucket deleted and re-created while its metadata shard is busy: new objects land in the new instance', async () => {
    p = await startPair({ mdShards: 4, dataShards: 4 });
    const alice = await createUser(p.east, p.sys, 'alice');
    assert.equal((await call(p.east, 'PUT', '/phoenix', alice)).status, 200);
    await put(p.east, alice, 'phoenix', 'old', 'first life');
    const daemon = p.agent(['sync']);
    await equalZones(p, 'first life synced');
    const oldId = await instanceOf(p.westDirect, p, 'phoenix');
    // Another agent holds the metadata shard: this agent cannot replay the bucket's metadata.
    await holdLock(p, 'metadata', mdlogShard('bucket', 'phoenix', 4), 8);
    await del(p.east, alice, 'phoenix', 'old');
    assert.equal((await call(p.east, 'DELETE', '/phoenix', alice)).status, 204);
    assert.equal((await call(p.east, 'PUT', '/phoenix', alice)).status, 200);
    await put(p.east, alice, 'phoenix', 'fresh', 'second life');
    const newId = await instanceOf(p.east, p, 'phoenix');
    assert.notEqual(newId, oldId);
    await until('the object arrives in the new instance', async () => (await call(p.westDirect, 'GET', objPath('phoenix', 'fresh'), alice)).text === 'second life' && await instanceOf(p.westDirect, p, 'phoenix') === newId);
    // After the lock frees, the metadata pass must not take the object away with the old instance.
    await equalZones(p, 'zones equal after the metadata shard freed', 30_000);
    assert.equal((await call(p.westDirect, 'GET', objPath('phoenix', 'fresh'), alice)).text, 'second life');
    await daemon.kill('SIGTERM');
    await verifyEqual(p);
  });

  it('5: a full sync after downtime removes what the source deleted meanwhile (and --no-delete keeps it)', async () => {
    p = await startPair({ mdShards: 4, dataShards: 4 });
    const alice = await createUser(p.east, p.sys, 'alice');
    await createUser(p.east, p.sys, 'bob');
    for (const b of ['keep', 'doomed']) assert.equal((await call(p.east, 'PUT', `/${b}`, alice)).status, 200);
    for (const k of ['k1', 'k2', 'k3']) await put(p.east, alice, 'keep', k, k);
    const first = p.agent(['full-sync']);
    assert.equal(await first.exited, 0, first.output());
    await equalZones(p, 'after the first full sync', 1);
    // Downtime: deletes on the source, and the logs that recorded them trimmed away.
    await del(p.east, alice, 'keep', 'k2');
    assert.equal((await call(p.east, 'DELETE', '/doomed', alice)).status, 204);
    assert.equal((await call(p.east, 'DELETE', '/admin/user?uid=bob', p.sys)).status, 200);
    await trimSourceLogs(p, 4, ['keep']);
    const again = p.agent(['full-sync']);
    assert.equal(await again.exited, 0, again.output());
    await equalZones(p, 'the second full sync applied the deletes', 1);
    assert.equal((await call(p.westDirect, 'GET', objPath('keep', 'k2'), alice)).status, 404);
    assert.equal((await call(p.westDirect, 'GET', '/admin/metadata/user?key=bob', p.sys)).status, 404);
    assert.equal(await instanceOf(p.westDirect, p, 'doomed'), undefined);
    await verifyEqual(p);
    // Additive: a delete the logs no longer hold is not applied by a --no-delete full sync.
    await del(p.east, alice, 'keep', 'k3');
    await trimSourceLogs(p, 4, ['keep']);
    const additive = p.agent(['full-sync', '--no-delete']);
    assert.equal(await additive.exited, 0, additive.output());
    assert.equal((await call(p.westDirect, 'GET', objPath('keep', 'k3'), alice)).status, 200, '--no-delete keeps what the source removed');
    // A system user only the destination has is the zone's own, never removed.
    assert.equal((await call(p.westDirect, 'PUT', '/admin/user?uid=west-ops&display-name=ops&system=true', p.sys)).status, 200);
    const last = p.agent(['full-sync']);
    assert.equal(await last.exited, 0, last.output());
    assert.equal((await call(p.westDirect, 'GET', objPath('keep', 'k3'), alice)).status, 404);
    assert.equal((await call(p.westDirect, 'GET', '/admin/metadata/user?key=west-ops', p.sys)).status, 200, 'the destination\'s system user is kept');
  });

  it('7: a graceful stop during full sync leaves the unfinished shards owed; a restart finishes them', async () => {
    p = await startPair({ mdShards: 2, dataShards: 2 });
    const alice = await createUser(p.east, p.sys, 'alice');
    assert.equal((await call(p.east, 'PUT', '/big', alice)).status, 200);
    for (let i = 0; i < 60; i++) await put(p.east, alice, 'big', `o${String(i).padStart(3, '0')}`, `v${i}`);
    const shard = dataShard('big', 2);
    const run = p.agent(['full-sync'], { object_concurrency: 2, max_entries: 10 });
    let stopped = false;
    // Stop the agent at the last copy of a listing page (all of the page's copies started): the
    // bucket is part done and the stop lands between two pages.
    let copies = 0;
    p.proxy.fault = (req) => {
      if (req.method === 'PUT' && (req.url ?? '').includes('rgwx-source-zone') && ++copies === 10 && !stopped) {
        stopped = true;
        run.child.kill('SIGTERM');
      }
      return undefined;
    };
    assert.equal(await run.exited, 0, run.output());
    assert.ok(stopped, 'the stop landed during the copies');
    p.proxy.fault = undefined;
    const bound = await call(p.westDirect, 'GET', `/admin/replica_log?bounds&type=data&id=${shard}`, p.sys);
    assert.equal(bound.status, 404, `the stopped shard has no bound (it is not done): ${bound.text}`);
    const west = (await call(p.westDirect, 'GET', '/big?max-keys=1000', alice)).text.match(/<Key>/g)?.length ?? 0;
    assert.ok(west < 60, `the stop left objects to copy (${west} of 60 copied)`);
    // Trimmed logs: only a full sync of that shard can bring the rest.
    await trimSourceLogs(p, 2, ['big']);
    const daemon = p.agent(['sync']);
    await equalZones(p, 'the restart full-synced the owed shard');
    await daemon.kill('SIGTERM');
  });

  it('8: a shard busy during the start-up full sync is full-synced once its lock frees', async () => {
    p = await startPair({ mdShards: 2, dataShards: 2 });
    const alice = await createUser(p.east, p.sys, 'alice');
    const buckets = ['busy-a', 'busy-b', 'busy-c', 'busy-d'];
    for (const b of buckets) {
      assert.equal((await call(p.east, 'PUT', `/${b}`, alice)).status, 200);
      await put(p.east, alice, b, 'obj', `in ${b}`);
    }
    const shard = dataShard('busy-a', 2);
    await trimSourceLogs(p, 2, buckets);
    // As after a crash: the old process's lock still holds for a few seconds.
    await holdLock(p, 'data', shard, 6);
    const daemon = p.agent(['sync']);
    await daemon.waitFor('full sync');
    await equalZones(p, 'the busy shard was full-synced when its lock freed', 40_000);
    assert.match(daemon.output(), /locked by another agent/);
    await daemon.kill('SIGTERM');
  });

  it('9: status is not "caught up" for shards that were never synced, even with empty source logs', async () => {
    p = await startPair({ mdShards: 2, dataShards: 2 });
    const alice = await createUser(p.east, p.sys, 'alice');
    assert.equal((await call(p.east, 'PUT', '/never', alice)).status, 200);
    await put(p.east, alice, 'never', 'k', 'v');
    await trimSourceLogs(p, 2, ['never'], ['data', 'metadata']);
    const before = startProc(['status', '-c', p.configFile()]);
    assert.equal(await before.exited, 1, before.output());
    assert.match(before.output(), /never synced/);
    assert.match(before.output(), /status: behind/);
    const full = p.agent(['full-sync']);
    assert.equal(await full.exited, 0, full.output());
    const after = startProc(['status', '-c', p.configFile()]);
    assert.equal(await after.exited, 0, after.output());
    assert.match(after.output(), /status: caught up/);
  });

  it('read-only commands: status and verify send the destination nothing but GET and HEAD', async () => {
    p = await startPair({ mdShards: 2, dataShards: 2 });
    const alice = await createUser(p.east, p.sys, 'alice');
    assert.equal((await call(p.east, 'PUT', '/ro-bucket', alice)).status, 200);
    await put(p.east, alice, 'ro-bucket', 'k', 'v');
    const full = p.agent(['full-sync']);
    assert.equal(await full.exited, 0, full.output());
    for (const extra of [{}, { state_store: 'bucket' }, { state_store: 'file', state_file: `${p.dir}/missing/state.json` }] as Record<string, string>[]) {
      const since = Date.now();
      for (const args of [['status'], ['status', '--json'], ['verify'], ['verify', '--json', '--acl']]) {
        const run = startProc([...args, '-c', p.configFile(extra)]);
        await run.exited;
      }
      const writes = p.proxy.seen.filter((x) => x.t >= since && x.method !== 'GET' && x.method !== 'HEAD');
      assert.deepEqual(writes.map((x) => `${x.method} ${x.url}`), [], `no writes with ${JSON.stringify(extra)}`);
    }
    assert.equal((await import('node:fs')).existsSync(`${p.dir}/missing`), false, 'not even the state file\'s folder is created');
  });

  it('20: a versioned source bucket is named (a log line, a status line, a metric) and synced version by version', async () => {
    p = await startPair({ mdShards: 2, dataShards: 2 });
    const alice = await createUser(p.east, p.sys, 'alice');
    assert.equal((await call(p.east, 'PUT', '/vers-bucket', alice)).status, 200);
    // The source's instance says "versioned", as RGW's bucket_info flags do (0x2).
    const id = await instanceOf(p.east, p, 'vers-bucket');
    const key = `/admin/metadata/bucket.instance?key=${encodeURIComponent(`vers-bucket:${id}`)}`;
    const doc = (await call(p.east, 'GET', key, p.sys)).json<{ data: { bucket_info: { flags: number } } }>();
    doc.data.bucket_info.flags = 2;
    assert.equal((await call(p.east, 'PUT', key, p.sys, { body: JSON.stringify(doc) })).status, 200);
    await put(p.east, alice, 'vers-bucket', 'k', 'v');
    const port = await freePort();
    const daemon = p.agent(['sync'], { metrics_port: port });
    await daemon.waitFor('bucket vers-bucket is versioned on the source', 30_000);
    const metrics = await until('the metric', async () => {
      const r = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
      const text = r ? await r.text() : '';
      return /rgw_agent_versioned_source_buckets 1/.test(text) ? text : undefined;
    });
    assert.match(metrics, /rgw_agent_versioned_source_buckets 1/);
    const status = startProc(['status', '-c', p.configFile()]);
    await status.exited;
    assert.match(status.output(), /versioned: 1 source bucket \(every version and delete marker synced\): vers-bucket/);
    await daemon.kill('SIGTERM');
  });

  it('18: metadata logged in earlier periods is synced after new periods are committed', async () => {
    p = await startPair({ mdShards: 2, dataShards: 2 });
    await createUser(p.east, p.sys, 'alice');
    const full = p.agent(['full-sync']);
    assert.equal(await full.exited, 0, full.output());
    const epoch = async () => (await call(p.east, 'GET', '/admin/log?type=metadata', p.sys)).json<{ realm_epoch: number }>().realm_epoch;
    const first = await epoch();
    // The agent is down while the source logs a user, commits a period, logs another, commits again.
    await createUser(p.east, p.sys, 'in-first-period');
    await p.commitPeriod();
    await createUser(p.east, p.sys, 'in-second-period');
    await p.commitPeriod();
    await createUser(p.east, p.sys, 'in-current-period');
    assert.equal(await epoch(), first + 2, 'two periods were committed');
    const before = p.agent(['status', '--json']);
    await before.exited;
    const report = JSON.parse(before.stdout()) as { caught_up: boolean; behind_shards: { older_period?: string }[] };
    assert.equal(report.caught_up, false);
    assert.ok(report.behind_shards.some((b) => b.older_period), `status names the older period: ${before.stdout()}`);
    const once = p.agent(['sync', '--once']);
    assert.equal(await once.exited, 0, once.output());
    assert.match(once.output(), /read to its end; reading period/);
    const users = (await call(p.westDirect, 'GET', '/admin/metadata/user', p.sys)).json<string[]>();
    for (const u of ['in-first-period', 'in-second-period', 'in-current-period']) assert.ok(users.includes(u), `${u} synced (destination users: ${users.join(', ')})`);
    const after = p.agent(['status', '--json']);
    await after.exited;
    assert.equal((JSON.parse(after.stdout()) as { caught_up: boolean }).caught_up, true, after.stdout());
    // Later changes in the current period keep syncing from the bounds now in that period.
    await createUser(p.east, p.sys, 'later');
    const again = p.agent(['sync', '--once']);
    assert.equal(await again.exited, 0, again.output());
    assert.doesNotMatch(again.output(), /read to its end/);
    assert.ok((await call(p.westDirect, 'GET', '/admin/metadata/user', p.sys)).json<string[]>().includes('later'));
  });

  it('18: a period missing from the source\'s history makes that shard full-sync, and the other shards go on', async () => {
    p = await startPair({ mdShards: 2, dataShards: 2 });
    await createUser(p.east, p.sys, 'alice');
    const full = p.agent(['full-sync']);
    assert.equal(await full.exited, 0, full.output());
    await createUser(p.east, p.sys, 'before-the-gap');
    await p.commitPeriod();
    await p.commitPeriod();
    // The middle period goes from the source's history (a realm rebuilt by hand, say).
    await p.restartSource((dataDir) => {
      const db = new Database(join(dataDir, 'zone.db'));
      try {
        const epochs = (db.prepare('SELECT realm_epoch FROM periods ORDER BY realm_epoch').all() as { realm_epoch: number }[]).map((r) => r.realm_epoch);
        assert.equal(epochs.length, 3);
        db.prepare('DELETE FROM periods WHERE realm_epoch = ?').run(epochs[1]);
      } finally {
        db.close();
      }
    });
    await createUser(p.east, p.sys, 'after-the-gap');
    const daemon = p.agent(['sync']);
    await until('both users on the destination', async () => {
      const users = (await call(p.westDirect, 'GET', '/admin/metadata/user', p.sys)).json<string[]>();
      return users.includes('before-the-gap') && users.includes('after-the-gap');
    }, 30_000);
    assert.match(daemon.output(), /does not know period .*; full-syncing the shard/);
    await until('status caught up', async () => {
      const st = p.agent(['status', '--json']);
      await st.exited;
      return (JSON.parse(st.stdout()) as { caught_up: boolean }).caught_up;
    }, 30_000, 500);
    await daemon.kill('SIGTERM');
  });

  it('accounting: a failed pass moves rgw_agent_errors_total{kind="pass"}', async () => {
    p = await startPair({ mdShards: 2, dataShards: 2 });
    const alice = await createUser(p.east, p.sys, 'alice');
    assert.equal((await call(p.east, 'PUT', '/acct-bucket', alice)).status, 200);
    const port = await freePort();
    const daemon = p.agent(['sync'], { metrics_port: port, prepare_error_delay: 1 });
    await equalZones(p, 'initial sync');
    // Incremental passes have started (zones can be equal while the start-up full sync still holds locks).
    await until('the daemon passes', async () => {
      const r = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
      return /rgw_agent_passes_total [1-9]/.test(r ? await r.text() : '');
    }, 30_000);
    // The destination refuses every shard lock: the next pass with work fails as a whole.
    p.proxy.fault = (req) => ((req.url ?? '').includes('lock&') ? 503 : undefined);
    await put(p.east, alice, 'acct-bucket', 'k', 'v');
    await until('the pass failure is counted', async () => {
      const r = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
      return /rgw_agent_errors_total\{kind="pass"\} [1-9]/.test(r ? await r.text() : '');
    }, 30_000);
    p.proxy.fault = undefined;
    await equalZones(p, 'synced once the destination recovers');
    await daemon.kill('SIGTERM');
  });

  it('accounting: a start-up full sync that keeps failing counts as failed passes', async () => {
    p = await startPair({ mdShards: 2, dataShards: 2 });
    const alice = await createUser(p.east, p.sys, 'alice');
    assert.equal((await call(p.east, 'PUT', '/acct-start', alice)).status, 200);
    p.proxy.fault = (req) => ((req.url ?? '').includes('lock&') ? 503 : undefined);
    const port = await freePort();
    const daemon = p.agent(['sync'], { metrics_port: port, prepare_error_delay: 1 });
    await until('the start-up failure is counted', async () => {
      const r = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
      return /rgw_agent_errors_total\{kind="pass"\} [1-9]/.test(r ? await r.text() : '');
    }, 30_000);
    assert.match(daemon.output(), /cannot start syncing/);
    p.proxy.fault = undefined;
    await equalZones(p, 'synced once the destination recovers');
    await daemon.kill('SIGTERM');
  });

  it('11: a change inside the data-log window after a bucket\'s snapshot is synced after a full sync', async () => {
    p = await startPair({ mdShards: 2, dataShards: 2, dataLogWindow: 8 });
    const alice = await createUser(p.east, p.sys, 'alice');
    assert.equal((await call(p.east, 'PUT', '/win', alice)).status, 200);
    await put(p.east, alice, 'win', 'a', 'logged');
    // The change lands after the listing (at the first copy): the source logs no new data-log
    // entry for it, since the bucket was logged less than a window ago.
    let landed = false;
    p.proxy.fault = (req) => {
      if (!landed && req.method === 'PUT' && (req.url ?? '').startsWith('/win/a?')) {
        landed = true;
        void put(p.east, alice, 'win', 'b', 'inside the window');
      }
      return undefined;
    };
    const full = p.agent(['full-sync'], { rgw_data_log_window: 8 });
    assert.equal(await full.exited, 0, full.output());
    assert.ok(landed);
    p.proxy.fault = undefined;
    await until('the write landed on the source', async () => (await call(p.east, 'GET', objPath('win', 'b'), alice)).status === 200);
    const daemon = p.agent(['sync'], { rgw_data_log_window: 8 });
    await until('b synced by the incremental pass', async () => (await call(p.westDirect, 'GET', objPath('win', 'b'), alice)).text === 'inside the window', 30_000);
    await daemon.kill('SIGTERM');
  });

  it('12: an agent clock ahead of the source does not pass data-log entries early', async () => {
    p = await startPair({ mdShards: 2, dataShards: 2, dataLogWindow: 10 });
    const alice: Creds = await createUser(p.east, p.sys, 'alice');
    assert.equal((await call(p.east, 'PUT', '/skew', alice)).status, 200);
    // The agent's clock runs a minute ahead of the zones'.
    const skew = { NODE_OPTIONS: '--import=data:text/javascript,const%20o=Date.now;Date.now=()=>o()+60000;' };
    const daemon = p.agent(['sync'], { rgw_data_log_window: 10 }, skew);
    await equalZones(p, 'initial sync');
    await put(p.east, alice, 'skew', 'first', 'logged in the data log');
    await until('first synced', async () => (await call(p.westDirect, 'GET', objPath('skew', 'first'), alice)).status === 200);
    // Inside the window: only the bucket-index log has it.
    await put(p.east, alice, 'skew', 'second', 'only in the bucket-index log');
    await until('second synced', async () => (await call(p.westDirect, 'GET', objPath('skew', 'second'), alice)).status === 200, 20_000);
    await daemon.kill('SIGTERM');
  });
});
