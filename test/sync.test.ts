/**
 * Sync internals against real in-process zones: bounds never regress, a lost lock writes no bound,
 * the data-log window keeps young entries unsettled, retry backoff.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { freePort, makeRealm, type TestRealm } from './helpers/realm.js';
import { startProxy, type Proxy } from './helpers/proxy.js';
import { call } from './helpers/http.js';
import { startZone, type RunningZone } from '../src/zone/server.js';
import { parseRealm } from '../src/zone/realm.js';
import { buildConfig } from '../src/config.js';
import { createSyncContext, type SyncSetup } from '../src/sync/setup.js';
import { laterMarker } from '../src/rgw/markers.js';
import { ShardLock } from '../src/worker/lock.js';
import { metadataShardLog, mdlogShard } from '../src/sync/metadata.js';
import { dataShardLog } from '../src/sync/data.js';
import { runShard } from '../src/sync/shardrun.js';
import { dataShard } from '../src/rgw/shard.js';
import { RetryBackoff } from '../src/worker/retry.js';

const quiet = { info() {}, warn() {}, error() {}, debug() {} };

describe('sync internals', () => {
  let t: TestRealm;
  let east: RunningZone;
  let west: RunningZone;
  let proxy: Proxy;
  let setup: SyncSetup;
  const sys = () => ({ accessKey: t.accessKey, secretKey: t.secretKey });

  before(async () => {
    // us-west's advertised endpoint is a proxy, so tests can fail calls to the destination for real.
    const proxyPort = await freePort();
    t = await makeRealm({ extra: 'metadata_log_shards: 4\ndata_log_shards: 4' });
    const text = (await import('node:fs')).readFileSync(t.realmFile, 'utf8').replace(/us-west: \{ endpoint: "http:\/\/127\.0\.0\.1:\d+" \}/, `us-west: { endpoint: "http://127.0.0.1:${proxyPort}" }`);
    t.realm = parseRealm(text);
    east = await startZone({ realm: t.realm, zoneName: 'us-east', dataDir: join(t.dir, 'east') });
    west = await startZone({ realm: t.realm, zoneName: 'us-west', dataDir: join(t.dir, 'west'), port: 0 });
    proxy = await startProxy(west.port, proxyPort);
    const cfg = buildConfig({
      src_access_key: t.accessKey, src_secret_key: t.secretKey, dest_access_key: t.accessKey, dest_secret_key: t.secretKey,
      destination: proxy.url, rgw_data_log_window: 30, lock_timeout: 3, object_sync_timeout: 5,
    }, {}, {});
    setup = await createSyncContext(cfg, quiet);
  });

  after(async () => {
    await setup?.close();
    await proxy?.close();
    await Promise.all([east?.close(), west?.close()]);
    t?.cleanup();
  });

  it('laterMarker: markers never move back and " " never wins over a real marker', () => {
    assert.equal(laterMarker('1_00002', '1_00001'), '1_00002');
    assert.equal(laterMarker('1_00001', '1_00002'), '1_00002');
    assert.equal(laterMarker(' ', '1_00001'), '1_00001');
    assert.equal(laterMarker('1_00001', ' '), '1_00001');
    assert.equal(laterMarker('', ' '), '');
  });

  it('a bound write never regresses what this process saw', async () => {
    const { bounds } = setup.ctx;
    await bounds.set('bucket-index', 'x:1', { marker: '00000000005.5.1', items: [] });
    await bounds.set('bucket-index', 'x:1', { marker: '00000000003.3.1', items: [{ name: 'k', timestamp: 't' }] });
    const b = await bounds.get('bucket-index', 'x:1');
    assert.equal(b?.marker, '00000000005.5.1');
    assert.deepEqual(b?.items.map((i) => i.name), ['k'], 'retry items are still updated');
    await bounds.set('bucket-index', 'x:1', { marker: ' ', items: [] });
    assert.equal((await bounds.get('bucket-index', 'x:1'))?.marker, '00000000005.5.1', '" " never replaces a real marker');
  });

  it('a worker that loses its lock stops and writes no bound', async () => {
    const { ctx } = setup;
    const r = await call(east.url, 'PUT', '/admin/user?uid=lockloss&display-name=L', sys());
    assert.equal(r.status, 200);
    const shard = mdlogShard('user', 'lockloss', 4);
    const before = await call(west.url, 'GET', `/admin/replica_log?bounds&type=metadata&id=${shard}`, sys());
    assert.equal(before.status, 404);

    const lock = await ShardLock.acquire(ctx.dst, 'metadata', shard, ctx.zones.destination.id, ctx.lockerId, 3);
    assert.ok(lock !== 'busy');
    // Renewals (every second) now fail at the destination: the lock is lost.
    proxy.fault = (req) => ((req.url ?? '').includes('lock&') ? 503 : undefined);
    await new Promise<void>((resolve) => lock.signal.addEventListener('abort', () => resolve(), { once: true }));
    proxy.fault = undefined;
    assert.equal(lock.valid(), false);
    assert.equal((await runShard(ctx, metadataShardLog(ctx, shard), lock)).status, 'lost');
    const afterSync = await call(west.url, 'GET', `/admin/replica_log?bounds&type=metadata&id=${shard}`, sys());
    assert.equal(afterSync.status, 404, 'no bound written without the lock');
    await lock.release();
  });

  it('another agent holding the shard makes acquire answer busy', async () => {
    const { ctx } = setup;
    assert.equal((await call(west.url, 'POST', `/admin/log?lock&type=data&id=2&length=30&zone-id=${ctx.zones.destination.id}&locker-id=someone-else`, sys())).status, 200);
    assert.equal(await ShardLock.acquire(ctx.dst, 'data', 2, ctx.zones.destination.id, ctx.lockerId, 3), 'busy');
  });

  it('data-log entries younger than the window are synced but not passed', async () => {
    const { ctx } = setup;
    const r = await call(east.url, 'PUT', '/admin/user?uid=win&display-name=W', sys());
    const k = r.json<{ keys: { access_key: string; secret_key: string }[] }>().keys[0];
    const win = { accessKey: k.access_key, secretKey: k.secret_key };
    assert.equal((await call(east.url, 'PUT', '/window-bucket', win)).status, 200);
    // The destination needs the bucket before objects can be copied into it.
    for (const [section, key] of [['user', 'win'], ['bucket', 'window-bucket']]) {
      const doc = await call(east.url, 'GET', `/admin/metadata/${section}?key=${key}`, sys());
      if (section === 'bucket') {
        const id = doc.json<{ data: { bucket: { bucket_id: string } } }>().data.bucket.bucket_id;
        const inst = await call(east.url, 'GET', `/admin/metadata/bucket.instance?key=window-bucket%3A${id}`, sys());
        assert.equal((await call(west.url, 'PUT', `/admin/metadata/bucket.instance?key=window-bucket%3A${id}`, sys(), { body: inst.body })).status, 200);
      }
      assert.equal((await call(west.url, 'PUT', `/admin/metadata/${section}?key=${key}`, sys(), { body: doc.body })).status, 200);
    }
    assert.equal((await call(east.url, 'PUT', '/window-bucket/young', win, { body: 'fresh' })).status, 200);
    const shard = dataShard('window-bucket', 4);

    const lock1 = await ShardLock.acquire(ctx.dst, 'data', shard, ctx.zones.destination.id, ctx.lockerId, 3);
    assert.ok(lock1 !== 'busy');
    const young = await runShard(ctx, dataShardLog(ctx, shard, lock1, () => Date.now()), lock1);
    await lock1.release();
    assert.equal(young.unsettled, true);
    assert.equal(young.marker, '', 'the marker did not pass an entry younger than the window');
    assert.equal((await call(west.url, 'GET', '/window-bucket/young', win)).text, 'fresh', 'but the object was synced');

    // A pass that starts after entry time + window may pass it.
    const lock2 = await ShardLock.acquire(ctx.dst, 'data', shard, ctx.zones.destination.id, ctx.lockerId, 3);
    assert.ok(lock2 !== 'busy');
    const settled = await runShard(ctx, dataShardLog(ctx, shard, lock2, () => Date.now() + 31_000), lock2);
    await lock2.release();
    assert.equal(settled.unsettled, false);
    const head = (await call(east.url, 'GET', `/admin/log?info&type=data&id=${shard}`, sys())).json<{ marker: string }>().marker;
    assert.equal(settled.marker, head);
    const bound = (await call(west.url, 'GET', `/admin/replica_log?bounds&type=data&id=${shard}`, sys())).json<{ marker: string }>();
    assert.equal(bound.marker, head);
  });
});

describe('retry backoff', () => {
  it('delays a failed item exponentially and forgets it on success', () => {
    const b = new RetryBackoff(1000, 8000);
    const t0 = 1_000_000;
    assert.equal(b.due('x', t0), true);
    b.failed('x', t0);
    assert.equal(b.due('x', t0 + 100), false);
    assert.equal(b.due('x', t0 + 1300), true);
    b.failed('x', t0);
    assert.equal(b.due('x', t0 + 1300), false);
    assert.equal(b.due('x', t0 + 2600), true);
    for (let i = 0; i < 10; i++) b.failed('x', t0);
    assert.equal(b.due('x', t0 + 10_001), true, 'capped at the maximum');
    b.succeeded('x');
    assert.equal(b.attempts('x'), 0);
    assert.equal(b.due('x', t0), true);
  });
});
