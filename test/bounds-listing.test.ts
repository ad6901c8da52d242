/**
 * Where the bound store can list its records (state_store: bucket), an agent learns which shards
 * have a bound from one listing instead of a GET per shard: 192 GETs against RGW on every start,
 * most of them 404 on a fresh destination.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeRealm, startZones, type TestRealm } from './helpers/realm.js';
import { AdminApi } from '../src/client/admin.js';
import { ZoneClient } from '../src/client/http.js';
import { S3Api } from '../src/client/s3.js';
import { BucketBackend, FileBackend, MonotonicBounds, ReplicaLogBackend, RETRY_ITEMS_PER_RECORD } from '../src/sync/bounds.js';
import type { RunningZone } from '../src/zone/server.js';
import { createUser, put, sameZoneState, startPair, type Pair } from './helpers/pair.js';
import { call } from './helpers/http.js';

describe('BoundStore.recorded', () => {
  let realm: TestRealm;
  let zones: RunningZone[];
  let client: ZoneClient;
  let dir: string;
  before(async () => {
    realm = await makeRealm({ zones: ['us-east'] });
    zones = await startZones(realm);
    client = new ZoneClient({ endpoint: zones[0].url, credentials: { accessKey: realm.accessKey, secretKey: realm.secretKey }, retries: 0 });
    dir = mkdtempSync(join(tmpdir(), 'bounds-listing-'));
  });
  after(async () => {
    await client.close();
    for (const z of zones) await z.close();
    realm.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('bucket store: the entities with a record, one listing, without a spilled list\'s extras; no state bucket yet: none', async () => {
    const store = new MonotonicBounds(new BucketBackend(new S3Api(client), 'listed-state'));
    assert.deepEqual(await store.recorded('data'), new Set());
    const many = Array.from({ length: RETRY_ITEMS_PER_RECORD * 2 }, (_, i) => ({ name: `b:inst.1:${i}`, timestamp: '2026-12-04T00:00:00.000Z' }));
    await store.set('data', '3', { marker: '1_1.1', items: [] });
    await store.set('data', '17', { marker: '1_2.1', items: many });
    await store.set('metadata', '0', { marker: '1_3.1', items: [] });
    await store.set('bucket-index', 'b:inst.1:4', { marker: '00000000001.1.1', items: many });
    assert.deepEqual(await store.recorded('data'), new Set(['3', '17']));
    assert.deepEqual(await store.recorded('metadata'), new Set(['0']));
    assert.deepEqual(await store.recorded('bucket-index'), new Set(['b:inst.1:4']));
  });

  it('stores without a listing say so (undefined): each shard is read', async () => {
    assert.equal(await new MonotonicBounds(new ReplicaLogBackend(new AdminApi(client))).recorded('data'), undefined);
    assert.equal(await new MonotonicBounds(new FileBackend(join(dir, 'state.json'))).recorded('data'), undefined);
  });
});

describe('an agent starting against a destination with the bucket store', () => {
  let p: Pair;
  afterEach(async () => { await p?.close(); });

  it('reads no data-shard bound before the full sync wrote the metadata bounds (fresh destination: nothing to read)', async () => {
    p = await startPair({ mdShards: 4, dataShards: 8 });
    const alice = await createUser(p.east, p.sys, 'alice');
    assert.equal((await call(p.east, 'PUT', '/listed', alice)).status, 200);
    await put(p.east, alice, 'listed', 'k', 'x');
    const once = p.agent(['sync', '--once'], { state_store: 'bucket' });
    assert.equal(await once.exited, 0, once.output());
    assert.equal(await sameZoneState(p.east, p.westDirect, p.sys), true);
    const seen = p.proxy.seen.filter((s) => s.agent.startsWith('rgw-agent'));
    const firstMetadataPut = seen.findIndex((s) => s.method === 'PUT' && /\/bounds\/metadata\//.test(s.url));
    assert.ok(firstMetadataPut > 0, 'the full sync stored metadata bounds');
    const early = seen.slice(0, firstMetadataPut).filter((s) => s.method === 'GET' && /\/bounds\/data\//.test(s.url));
    assert.deepEqual(early.map((s) => s.url), [], 'data bounds read one by one at start-up');
    assert.ok(seen.some((s) => s.method === 'GET' && /prefix=bounds%2Fdata%2F/.test(s.url)), 'the data bounds were listed');
  });
});
