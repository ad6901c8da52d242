/**
 * Review item 19a: a retry list larger than what one bound record may hold. 20,000 retry names of
 * ~900 bytes (an 18 MB list) against a real embedded zone, whose replica_log takes at most 16 MiB
 * per POST (real RGW: rgw_max_put_param_size, 1 MiB); and against the bucket store and the file store.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeRealm, startZones, type TestRealm } from './helpers/realm.js';
import { AdminApi } from '../src/client/admin.js';
import { ZoneClient } from '../src/client/http.js';
import { S3Api } from '../src/client/s3.js';
import { BucketBackend, chunkRetries, FileBackend, MonotonicBounds, RECORD_BYTES, ReplicaLogBackend, RETRY_ITEMS_PER_RECORD, type BoundBackend, type Bound } from '../src/sync/bounds.js';
import type { RunningZone } from '../src/zone/server.js';

function retries(n: number, tag: string): Bound['items'] {
  return Array.from({ length: n }, (_, i) => ({ name: `${tag}-${String(i).padStart(5, '0')}/${'k'.repeat(900)}`, timestamp: `2026-12-01T00:00:${String(i % 60).padStart(2, '0')}.000Z` }));
}

describe('chunkRetries: how a retry list is cut into records', () => {
  const item = (name: string) => ({ name, timestamp: '2026-12-01T00:00:00.000Z' });
  const sizes = (items: Bound['items'], per: number, bytes: number) => chunkRetries(items, per, bytes).map((c) => c.length);
  const short = (n: number) => Array.from({ length: n }, (_, i) => item(`k${i}`));
  const table: [string, Bound['items'], number, number, number[]][] = [
    ['no items: one empty record', [], 10, 1 << 20, [0]],
    ['fits, with room for the spill note', short(9), 10, 1 << 20, [9]],
    ['one over: the first record keeps a slot for the note', short(10), 10, 1 << 20, [9, 1]],
    ['by count', short(25), 10, 1 << 20, [9, 10, 6]],
    // Each item is 53-54 bytes of JSON and a separator; 256 bytes are kept back in the first record.
    ['by bytes', short(20), 100, 256 + 200, [3, 8, 8, 1]],
    ['an item bigger than a record goes alone', [item('x'.repeat(500)), item('y')], 100, 256 + 100, [1, 1]],
  ];
  for (const [name, items, per, bytes, want] of table) it(name, () => assert.deepEqual(sizes(items, per, bytes), want));
  it('keeps every item, in order', () => {
    const items = retries(2_000, 'order');
    assert.deepEqual(chunkRetries(items).flat(), items);
    assert.ok(chunkRetries(items).every((c) => c.length <= RETRY_ITEMS_PER_RECORD && Buffer.byteLength(JSON.stringify(c)) <= RECORD_BYTES));
  });
});

describe('item 19a: retry lists over the bound body limit', () => {
  let realm: TestRealm;
  let zones: RunningZone[];
  let client: ZoneClient;
  let fileDir: string;
  const backends: Record<string, () => BoundBackend> = {};
  before(async () => {
    realm = await makeRealm({ zones: ['us-east'] });
    zones = await startZones(realm);
    client = new ZoneClient({ endpoint: zones[0].url, credentials: { accessKey: realm.accessKey, secretKey: realm.secretKey }, retries: 0 });
    fileDir = mkdtempSync(join(tmpdir(), 'bounds-spill-'));
    backends['replica-log'] = () => new ReplicaLogBackend(new AdminApi(client));
    backends.bucket = () => new BucketBackend(new S3Api(client), 'spill-state');
    backends.file = () => new FileBackend(join(fileDir, 'state.json'));
  });
  after(async () => {
    await client.close();
    for (const z of zones) await z.close();
    realm.cleanup();
    rmSync(fileDir, { recursive: true, force: true });
  });

  for (const kind of ['replica-log', 'bucket', 'file']) {
    it(`${kind}: set() of 20,000 long retry names succeeds, get() returns every one; shrinking leaves no stale item`, async () => {
      const big = retries(20_000, 'big');
      for (const [type, entity] of [['data', '7'], ['bucket-index', 'spill-bucket:inst.1']] as const) {
        const store = new MonotonicBounds(backends[kind]());
        await store.set(type, entity, { marker: '00000000002.2.2', items: big });
        // A fresh store: nothing cached in this process, everything read back from where it is kept.
        const got = await new MonotonicBounds(backends[kind]()).get(type, entity);
        assert.equal(got?.marker, '00000000002.2.2');
        assert.equal(got.items.length, big.length);
        assert.deepEqual(got.items, big);

        const mid = retries(1_500, 'mid');
        await store.set(type, entity, { marker: '00000000003.3.3', items: mid });
        assert.deepEqual((await new MonotonicBounds(backends[kind]()).get(type, entity))?.items, mid);
        await new MonotonicBounds(backends[kind]()).set(type, entity, { marker: '00000000004.4.4', items: big.slice(0, 3) });
        assert.deepEqual(await new MonotonicBounds(backends[kind]()).get(type, entity), { marker: '00000000004.4.4', items: big.slice(0, 3) });
      }
    });
  }
});
