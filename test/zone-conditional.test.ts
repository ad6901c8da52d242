/** Conditional GET and HEAD on the embedded zone: the decision as a table, then real requests. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { etagListMatches, precondition, type Conditions } from '../src/zone/conditional.js';
import { makeRealm, startZones, type TestRealm } from './helpers/realm.js';
import type { RunningZone } from '../src/zone/server.js';
import { call } from './helpers/http.js';

const E = 'a'.repeat(32);
const MTIME = Date.parse('2026-06-01T12:00:00.500Z');
const before1 = 'Mon, 01 Jun 2026 11:59:59 GMT';
const sameSecond = 'Mon, 01 Jun 2026 12:00:00 GMT';
const later = 'Mon, 01 Jun 2026 12:00:01 GMT';

describe('precondition (S3 rules)', () => {
  const table: [string, Conditions, ReturnType<typeof precondition>][] = [
    ['no conditions', {}, 'ok'],
    ['If-Match names it', { 'if-match': `"${E}"` }, 'ok'],
    ['If-Match in a list, unquoted, weak', { 'if-match': `"x", W/"${E}"` }, 'ok'],
    ['If-Match *', { 'if-match': '*' }, 'ok'],
    ['If-Match names another', { 'if-match': '"b"' }, 'failed'],
    ['If-None-Match names it', { 'if-none-match': `"${E}"` }, 'not-modified'],
    ['If-None-Match names another', { 'if-none-match': '"b"' }, 'ok'],
    ['If-Modified-Since before the mtime', { 'if-modified-since': before1 }, 'ok'],
    ['If-Modified-Since in the same second: not modified (dates have whole seconds)', { 'if-modified-since': sameSecond }, 'not-modified'],
    ['If-Modified-Since later', { 'if-modified-since': later }, 'not-modified'],
    ['If-Unmodified-Since before the mtime', { 'if-unmodified-since': before1 }, 'failed'],
    ['If-Unmodified-Since in the same second', { 'if-unmodified-since': sameSecond }, 'ok'],
    ['If-Match true beats If-Unmodified-Since false (S3)', { 'if-match': `"${E}"`, 'if-unmodified-since': before1 }, 'ok'],
    ['If-None-Match false beats If-Modified-Since true (S3)', { 'if-none-match': '"b"', 'if-modified-since': later }, 'ok'],
    ['If-Match fails before If-None-Match is looked at', { 'if-match': '"b"', 'if-none-match': `"${E}"` }, 'failed'],
    ['an unparsable date is ignored', { 'if-modified-since': 'yesterday' }, 'ok'],
  ];
  for (const [name, c, want] of table) it(name, () => assert.equal(precondition(c, E, MTIME), want));
  it('ETag lists', () => {
    assert.deepEqual([etagListMatches('"a" , "b"', 'b'), etagListMatches('"ab"', 'a'), etagListMatches('*', 'z')], [true, false, true]);
  });
});

describe('conditional requests against the zone', () => {
  let t: TestRealm;
  let zones: RunningZone[];
  let etag = '';
  before(async () => {
    t = await makeRealm();
    zones = await startZones(t);
    const sys = { accessKey: t.accessKey, secretKey: t.secretKey };
    assert.equal((await call(zones[0].url, 'PUT', '/cond', sys)).status, 200);
    const put = await call(zones[0].url, 'PUT', '/cond/k', sys, { body: 'hello' });
    etag = String(put.headers.etag);
  });
  after(async () => {
    for (const z of zones ?? []) await z.close();
    t?.cleanup();
  });
  const sys = () => ({ accessKey: t.accessKey, secretKey: t.secretKey });

  it('GET: If-None-Match of the current ETag is 304 with no body; another ETag gets the object', async () => {
    const same = await call(zones[0].url, 'GET', '/cond/k', sys(), { headers: { 'if-none-match': etag } });
    assert.deepEqual([same.status, same.body.length, same.headers.etag], [304, 0, etag]);
    const other = await call(zones[0].url, 'GET', '/cond/k', sys(), { headers: { 'if-none-match': '"0123"' } });
    assert.deepEqual([other.status, other.text], [200, 'hello']);
  });

  it('GET and HEAD: If-Match of another ETag is 412 PreconditionFailed', async () => {
    const get = await call(zones[0].url, 'GET', '/cond/k', sys(), { headers: { 'if-match': '"0123"' } });
    assert.equal(get.status, 412);
    assert.match(get.text, /<Code>PreconditionFailed<\/Code>/);
    const head = await call(zones[0].url, 'HEAD', '/cond/k', sys(), { headers: { 'if-match': '"0123"' } });
    assert.equal(head.status, 412);
    assert.equal((await call(zones[0].url, 'GET', '/cond/k', sys(), { headers: { 'if-match': etag } })).text, 'hello');
  });

  it('If-Modified-Since from the Last-Modified the zone gave is 304', async () => {
    const h = await call(zones[0].url, 'HEAD', '/cond/k', sys());
    const r = await call(zones[0].url, 'GET', '/cond/k', sys(), { headers: { 'if-modified-since': String(h.headers['last-modified']) } });
    assert.equal(r.status, 304);
  });
});
