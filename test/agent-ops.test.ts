/** Operating the agent: graceful stop, status, metrics (real processes). */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call } from './helpers/http.js';
import { createUser, put, remoteCopies, sameZoneState, startPair, type Creds, type Pair } from './helpers/pair.js';
import { startProc, until } from './helpers/procs.js';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function equal(p: Pair): Promise<boolean> {
  return sameZoneState(p.east, p.westDirect, p.sys);
}

/** A pair whose bucket of alice's was full-synced; returns alice. */
async function fullySynced(p: Pair, bucket: string): Promise<Creds> {
  const alice = await createUser(p.east, p.sys, 'alice');
  assert.equal((await call(p.east, 'PUT', `/${bucket}`, alice)).status, 200);
  const full = p.agent(['full-sync']);
  assert.equal(await full.exited, 0, full.output());
  return alice;
}

describe('operations', () => {
  let p: Pair;
  afterEach(async () => { await p?.close(); });

  it('SIGTERM in the middle of a full sync exits 0 within the deadline; a restart finishes it', async () => {
    p = await startPair();
    const alice = await createUser(p.east, p.sys, 'alice');
    for (let b = 0; b < 4; b++) {
      assert.equal((await call(p.east, 'PUT', `/stop-bucket-${b}`, alice)).status, 200);
      for (let i = 0; i < 150; i++) await put(p.east, alice, `stop-bucket-${b}`, `k${i}`, `v${i}`);
    }
    const copies = () => remoteCopies(p);
    const first = p.agent(['sync'], { object_concurrency: 2, num_workers: 1, stop_timeout: 10 });
    await until('the full sync under way', async () => copies() >= 50, 30_000, 20);
    const t0 = Date.now();
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0, first.output());
    assert.ok(Date.now() - t0 < 10_000, 'stopped within the stop timeout');
    assert.match(first.output(), /stopped: finished work is recorded, locks released/);
    assert.ok(copies() < 600, 'it really stopped part way');
    assert.equal(await equal(p), false);

    const second = p.agent(['sync']);
    await until('destination equals source after the restart', () => equal(p), 60_000, 250);
    await second.kill('SIGTERM');
  });

  it('a pass asks an embedded source for all shard heads in one call per log, not shard by shard', async () => {
    p = await startPair({ mdShards: 8, dataShards: 16 });
    const alice = await fullySynced(p, 'heads-bucket');
    await put(p.east, alice, 'heads-bucket', 'after', 'x');
    const once = p.agent(['sync', '--once']);
    assert.equal(await once.exited, 0, once.output());
    const out = once.output();
    assert.equal((out.match(/GET http:\/\/127\.0\.0\.1:\d+\/admin\/log\?type=(data|metadata)&heads(&period=[^ ]*)? -> 200/g) ?? []).length, 2, 'one heads call per log');
    assert.equal((out.match(/GET http:\/\/127\.0\.0\.1:\d+\/admin\/log\?info&type=(data|metadata)&id=/g) ?? []).length, 0, 'no per-shard head calls');
    assert.equal(await equal(p), true, 'the change was still found and synced');
  });

  it('status reports behind, then caught up; exit codes 1 and 0; --json', async () => {
    p = await startPair({ mdShards: 4, dataShards: 4 });
    const alice = await fullySynced(p, 'status-bucket');
    for (let i = 0; i < 5; i++) await put(p.east, alice, 'status-bucket', `k${i}`, 'x');
    await createUser(p.east, p.sys, 'bob');

    const cfg = p.configFile();
    const behind = startProc(['status', '-c', cfg, '--json']);
    assert.equal(await behind.exited, 1, behind.output());
    const report = JSON.parse(behind.stdout()) as { caught_up: boolean; metadata: { behind: number }; data: { behind: number }; oldest_unsynced_age_seconds: number | null };
    assert.equal(report.caught_up, false);
    assert.ok(report.metadata.behind >= 1);
    assert.ok(report.data.behind >= 1);
    assert.ok(report.oldest_unsynced_age_seconds !== null && report.oldest_unsynced_age_seconds >= 0);

    const once = p.agent(['sync', '--once']);
    assert.equal(await once.exited, 0, once.output());
    const caught = startProc(['status', '-c', cfg]);
    assert.equal(await caught.exited, 0, caught.output());
    assert.match(caught.output(), /metadata sync: 4 shards, 4 caught up, 0 behind/);
    assert.match(caught.output(), /data sync: 4 shards, 4 caught up, 0 behind/);
    assert.match(caught.output(), /caught up/);

    const broken = startProc(['status', '-c', p.configFile({ destination: 'http://127.0.0.1:1' })]);
    assert.equal(await broken.exited, 2, broken.output());
  });

  it('verify finds a planted difference (exit 1, --json) and passes after sync (exit 0)', async () => {
    p = await startPair({ mdShards: 4, dataShards: 4 });
    const alice = await createUser(p.east, p.sys, 'alice');
    assert.equal((await call(p.east, 'PUT', '/verify-bucket', alice)).status, 200);
    for (let i = 0; i < 5; i++) await put(p.east, alice, 'verify-bucket', `k${i}`, `v${i}`, { 'x-amz-meta-n': String(i) });
    assert.equal(await p.agent(['full-sync']).exited, 0);
    const cfg = p.configFile();
    const clean = startProc(['verify', '-c', cfg]);
    assert.equal(await clean.exited, 0, clean.output());
    assert.match(clean.output(), /0 differences/);

    await put(p.east, alice, 'verify-bucket', 'k1', 'changed on the source');
    await put(p.east, alice, 'verify-bucket', 'k2', 'v2', { 'x-amz-meta-n': 'other' });
    const dirty = startProc(['verify', '-c', cfg, '--json']);
    assert.equal(await dirty.exited, 1, dirty.output());
    const report = JSON.parse(dirty.stdout()) as { equal: boolean; differences: { kind: string; name: string }[] };
    assert.equal(report.equal, false);
    assert.deepEqual(report.differences.map((d) => `${d.kind} ${d.name}`), ['object verify-bucket/k1', 'object verify-bucket/k2']);

    assert.equal(await p.agent(['sync', '--once']).exited, 0);
    const after = startProc(['verify', '-c', cfg, '--bucket', 'verify-bucket']);
    assert.equal(await after.exited, 0, after.output());
  });

  it('SIGHUP reopens the log file and reloads the config; debug logs hold no secrets or signatures', async () => {
    p = await startPair({ mdShards: 4, dataShards: 4 });
    const alice = await createUser(p.east, p.sys, 'alice');
    const logFile = join(p.dir, 'agent.log');
    const cfg = p.configFile({ log_file: logFile });
    const daemon = startProc(['sync', '-c', cfg, '--log-level', 'debug', '--log-format', 'json']);
    await until('requests logged to the file', async () => existsSync(logFile) && readFileSync(logFile, 'utf8').includes('/admin/log'));
    renameSync(logFile, `${logFile}.1`);
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('incremental_sync_delay: 0', 'incremental_sync_delay: 2').replace(/src_access_key: .*/, 'src_access_key: "OTHERKEY"'));
    daemon.child.kill('SIGHUP');
    await until('a new log file with the reload line', async () => existsSync(logFile) && readFileSync(logFile, 'utf8').includes('config reloaded: incrementalSyncDelay 0 -> 2'));
    assert.match(readFileSync(logFile, 'utf8'), /change only on restart: srcAccessKey/);
    assert.equal((await call(p.east, 'PUT', '/hup-bucket', alice)).status, 200);
    await put(p.east, alice, 'hup-bucket', 'after-hup', 'x');
    await until('still syncing after SIGHUP', async () => (await call(p.westDirect, 'GET', '/hup-bucket/after-hup', alice)).status === 200);
    assert.equal(await daemon.kill('SIGTERM'), 0);
    const everything = `${daemon.output()}${readFileSync(`${logFile}.1`, 'utf8')}${readFileSync(logFile, 'utf8')}`;
    assert.ok(everything.includes('"level":"debug"'), 'debug lines were written');
    assert.ok(!everything.includes(p.sys.secretKey), 'no secret key in any log');
    assert.doesNotMatch(everything, /Signature=[0-9a-f]{64}|AWS [A-Z0-9]+:[A-Za-z0-9+/=]{20,}/, 'no request signature in any log');
    for (const line of readFileSync(logFile, 'utf8').trim().split('\n')) JSON.parse(line);
  });

  it('/metrics shows counters moving and /healthz answers', async () => {
    p = await startPair({ mdShards: 4, dataShards: 4 });
    const alice = await createUser(p.east, p.sys, 'alice');
    assert.equal((await call(p.east, 'PUT', '/metrics-bucket', alice)).status, 200);
    const port = 20000 + Math.floor(Math.random() * 20000);
    const daemon = p.agent(['sync'], { metrics_port: port });
    await daemon.waitFor(`metrics on http://127.0.0.1:${port}`);
    const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const value = (text: string, name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    await until('first pass', async () => value(await scrape(), 'rgw_agent_passes_total') >= 1);
    const before = value(await scrape(), 'rgw_agent_objects_synced_total\\{result="copied"\\}');
    for (let i = 0; i < 10; i++) await put(p.east, alice, 'metrics-bucket', `m${i}`, 'metric');
    await until('objects counted', async () => value(await scrape(), 'rgw_agent_objects_synced_total\\{result="copied"\\}') >= before + 10);
    const text = await scrape();
    assert.ok(value(text, 'rgw_agent_bytes_synced_total') >= 60);
    assert.match(text, /# TYPE rgw_agent_shard_lag_seconds gauge/);
    assert.match(text, /# TYPE rgw_agent_pass_duration_seconds histogram/);
    assert.match(text, /rgw_agent_retry_items_pending 0/);
    assert.equal(value(text, 'rgw_agent_object_concurrency'), 64, 'the default pool, not cut: the destination kept up');
    assert.equal(value(text, 'rgw_agent_objects_in_flight'), 0);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(health.status, 200);
    await daemon.kill('SIGTERM');
  });
});
