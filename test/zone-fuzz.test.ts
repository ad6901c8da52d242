/**
 * Random signed S3 requests against a running zone (fast-check): awkward paths (dot segments,
 * encoded slashes and NULs, unicode, long names), random sub-resources and headers, random bodies.
 * Whatever arrives, the zone answers with a 2xx–4xx or a 501 (never a 500 or a dropped
 * connection), keeps answering, and writes nothing outside its data directory.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { makeRealm, type TestRealm } from './helpers/realm.js';
import { call } from './helpers/http.js';
import { startZone, type RunningZone } from '../src/zone/server.js';

const segment = fc.oneof(
  fc.constantFrom('..', '.', '', '%2e%2e', '%2F', '%00', '%2f..%2f', 'fuzzb', 'fuzzc', 'zone.db', 'objects', 'tmp', '~', '%C3%BC', '%FF', 'a b'.replace(' ', '%20')),
  fc.stringMatching(/^[A-Za-z0-9._~-]{1,12}$/),
  fc.string({ unit: 'grapheme', maxLength: 6 }).map((s) => encodeURIComponent(s)),
);
const path = fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => `/${s.join('/')}`);
const sub = fc.option(fc.constantFrom('acl', 'tagging', 'versioning', 'delete', 'uploads', 'location', 'list-type=2', 'max-keys=0', 'max-keys=-1', 'prefix=%00',
  'marker=..', 'continuation-token=%%%', 'encoding-type=xml', 'partNumber=1', 'uploadId=x', 'cors', 'versions', 'versionId=null'), { nil: undefined });
const headerArb = fc.dictionary(
  fc.constantFrom('content-type', 'content-md5', 'range', 'if-match', 'if-none-match', 'if-modified-since', 'x-amz-acl', 'x-amz-tagging',
    'x-amz-grant-read', 'x-amz-copy-source', 'x-amz-metadata-directive', 'x-amz-storage-class', 'x-amz-meta-k', 'cache-control', 'expires'),
  fc.oneof(fc.constantFrom('bytes=0-', 'bytes=-1', 'bytes=5-2', '"x"', '*', 'public-read', 'bogus', 'a=1&b', 'uri="x"', '/fuzzb/obj', '/fuzzb/../../etc/passwd',
    'REPLACE', 'GLACIER', 'Sun, 06 Nov 1994 08:49:37 GMT', 'AAAA'), fc.stringMatching(/^[ -~]{0,20}$/)),
  { maxKeys: 4 },
);
const req = fc.record({
  method: fc.constantFrom('GET', 'HEAD', 'PUT', 'POST', 'DELETE'),
  path, sub, headers: headerArb,
  body: fc.option(fc.oneof(fc.constant('<Delete><Object><Key>k</Key></Object></Delete>'), fc.constant('<Tagging><TagSet/></Tagging>'), fc.string({ maxLength: 200 })), { nil: undefined }),
});

describe('random S3 requests (fast-check)', () => {
  let t: TestRealm;
  let zone: RunningZone;
  let alice: { accessKey: string; secretKey: string };
  const dataDir = () => join(t.dir, t.realm.zones[0].name);
  before(async () => {
    t = await makeRealm();
    zone = await startZone({ realm: t.realm, zoneName: t.realm.zones[0].name, dataDir: dataDir(), log: () => undefined });
    const r = await call(zone.url, 'PUT', '/admin/user?uid=alice&display-name=Alice', t);
    const k = r.json<{ keys: { access_key: string; secret_key: string }[] }>().keys[0];
    alice = { accessKey: k.access_key, secretKey: k.secret_key };
    assert.equal((await call(zone.url, 'PUT', '/fuzzb', alice)).status, 200);
    assert.equal((await call(zone.url, 'PUT', '/fuzzb/obj', alice, { body: 'object' })).status, 200);
  });
  after(async () => {
    await zone?.close();
    t?.cleanup();
  });

  it('never a 500, always still answering, nothing written outside the data dir', async () => {
    const outside = () => readdirSync(t.dir).sort().join(',');
    const before = outside();
    let sent = 0;
    await fc.assert(fc.asyncProperty(req, async (r) => {
      const full = r.sub === undefined ? r.path : `${r.path}?${r.sub}`;
      let status: number;
      try {
        status = (await call(zone.url, r.method, full, alice, { headers: r.headers, ...(r.body !== undefined && r.method !== 'GET' && r.method !== 'HEAD' ? { body: r.body } : {}) })).status;
      } catch (e) {
        // The client itself refusing to send (an invalid header value or URL) is not the zone's doing.
        const code = (e as { code?: string }).code ?? '';
        if (code === 'UND_ERR_INVALID_ARG' || e instanceof TypeError || e instanceof URIError || /^signRequest:/.test((e as Error).message)) return;
        throw new Error(`${r.method} ${full} ${JSON.stringify(r.headers)}: the connection failed (${code} ${(e as Error).message})`);
      }
      sent++;
      assert.ok(status < 500 || status === 501, `${r.method} ${full} ${JSON.stringify(r.headers)}: ${status}`);
      assert.equal((await call(zone.url, 'GET', '/fuzzb/obj', alice)).status, 200, `still answering after ${r.method} ${full}`);
    }), { numRuns: 400 });
    assert.equal(outside(), before, 'nothing new beside the data dir');
    assert.ok(sent >= 200, `most requests reached the zone (${sent} of 400)`);
  });
});
