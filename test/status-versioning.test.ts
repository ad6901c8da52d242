/**
 * Review item 20 (status part): versioned source buckets. isVersionedInstance on the real Pacific
 * bucket.instance shape, then `status` against real zones whose source has a versioned bucket.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { call } from './helpers/http.js';
import { createUser, startPair, type Pair } from './helpers/pair.js';
import { startProc } from './helpers/procs.js';
import { isVersionedInstance } from '../src/sync/versioning.js';

/** GET /admin/metadata/bucket.instance as Ceph Pacific 16.2 answered it (flags 0). */
const pacific = () => JSON.parse(readFileSync(new URL('../../test/fixtures/ceph-pacific/metadata-bucket-instance-get.json', import.meta.url), 'utf8')) as { data: { bucket_info: { flags: unknown } } };

function withFlags(flags: unknown): unknown {
  const doc = pacific();
  doc.data.bucket_info.flags = flags;
  return doc;
}

describe('isVersionedInstance', () => {
  const table: [string, unknown, boolean][] = [
    ['Pacific fixture as captured (flags 0)', pacific(), false],
    ['BUCKET_VERSIONED (2)', withFlags(2), true],
    ['versioning suspended (VERSIONED|VERSIONS_SUSPENDED = 6): old versions remain', withFlags(6), true],
    ['BUCKET_SUSPENDED only (1: the bucket, not versioning)', withFlags(1), false],
    ['VERSIONS_SUSPENDED without VERSIONED (4)', withFlags(4), false],
    ['versioned plus other bits (0x12)', withFlags(0x12), true],
    ['flags as a numeric string', withFlags('2'), true],
    ['flags not a number', withFlags('versioned'), false],
    ['no flags field', withFlags(undefined), false],
    ['an entrypoint document (no bucket_info)', { key: 'bucket:b', data: { bucket: { name: 'b' } } }, false],
    ['null', null, false],
    ['a string', 'flags: 2', false],
  ];
  for (const [name, doc, want] of table) it(name, () => assert.equal(isVersionedInstance(doc), want));
});

describe('status and versioned source buckets', () => {
  let p: Pair;
  afterEach(async () => { await p?.close(); });

  it('names the versioned source buckets, none of the others; JSON lists them', async () => {
    p = await startPair({ mdShards: 4, dataShards: 4 });
    const alice = await createUser(p.east, p.sys, 'alice');
    for (const b of ['plain-bucket', 'versioned-bucket']) assert.equal((await call(p.east, 'PUT', `/${b}`, alice)).status, 200);
    // The flag is set the way RGW records it, as metadata sync would bring it (PUT ?versioning sets the same bits).
    const entry = (await call(p.east, 'GET', '/admin/metadata/bucket?key=versioned-bucket', p.sys)).json<{ data: { bucket: { bucket_id: string } } }>();
    const key = `versioned-bucket:${entry.data.bucket.bucket_id}`;
    const doc = (await call(p.east, 'GET', `/admin/metadata/bucket.instance?key=${encodeURIComponent(key)}`, p.sys)).json<{ data: { bucket_info: { flags: number } } }>();
    doc.data.bucket_info.flags = 2;
    const put = await call(p.east, 'PUT', `/admin/metadata/bucket.instance?key=${encodeURIComponent(key)}`, p.sys, { body: JSON.stringify(doc), headers: { 'content-type': 'application/json' } });
    assert.equal(put.status, 200, put.text);

    const cfg = p.configFile();
    const human = startProc(['status', '-c', cfg]);
    await human.exited;
    assert.match(human.stdout(), /versioned: 1 source bucket \(every version and delete marker synced\): versioned-bucket\n/);
    assert.doesNotMatch(human.stdout(), /plain-bucket/);
    const json = startProc(['status', '-c', cfg, '--json']);
    await json.exited;
    assert.deepEqual((JSON.parse(json.stdout()) as { versioned_buckets: string[] }).versioned_buckets, ['versioned-bucket']);
  });
});
