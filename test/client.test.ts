/**
 * The agent's zone client (src/client/*): exact key and query round-trips against a real embedded
 * zone with both signatures, retries/backoff and error mapping against real local HTTP servers,
 * network failures and timeouts, the typed admin API, and zone resolution from region maps.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort, makeRealm, startZones, type TestRealm } from './helpers/realm.js';
import type { RunningZone } from '../src/zone/server.js';
import { ZoneClient, type ZoneClientOptions } from '../src/client/http.js';
import { S3Api, objectPath } from '../src/client/s3.js';
import { AdminApi } from '../src/client/admin.js';
import { AccessDenied, AgentError, Conflict, HttpError, isRetryable, Locked, NetworkError, NotFound } from '../src/client/errors.js';
import { parsePeriodMap, parseRegionMap, resolveZones, sameEndpoint, ZoneMapError } from '../src/client/zonemap.js';

interface Keys { accessKey: string; secretKey: string }

/** Every request a ZoneClient reports, for counting attempts and pages. */
type Seen = Parameters<NonNullable<ZoneClientOptions['onRequest']>>[0];

/** Resolves with what `p` settles to, or rejects once `ms` have passed: no test can hang. */
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms); });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `fn`, which must throw; returns the error. */
async function failure(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return e as Error;
  }
  assert.fail('expected the call to fail');
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

// ------------------------------------------------------------------------------------------------
describe('ZoneClient + S3Api against an embedded zone: exact round-trips', () => {
  let t: TestRealm;
  let zones: RunningZone[];
  let east: RunningZone;
  let sysClient: ZoneClient;
  let alice: Keys;

  /** Keys an S3 client must send and get back byte for byte. */
  const KEYS = [
    'plain',
    'with space',
    'two  spaces and tab\tend',
    'a+b+c',
    'tilde~name',
    'literal%20percent-20',
    'percent%',
    '100%25 done',
    'ünïcödé',
    '日本語/ファイル',
    'emoji 😀',
    'dir/sub/file.txt',
    'dir//double',
    'dir///triple/',
    'trailing/',
    '/leading',
    'q?mark&amp=x#hash',
    'semi;colon,comma:at@dollar$',
    "quote'paren(star*)bang!",
    ' leading space',
    'trailing space ',
    'x',
    'x ',
    'x  ',
  ];

  before(async () => {
    t = await makeRealm({ zones: ['us-east', 'us-west'] });
    zones = await startZones(t);
    east = zones[0];
    sysClient = new ZoneClient({ endpoint: east.url, credentials: { accessKey: t.accessKey, secretKey: t.secretKey }, backoffMs: 1 });
    const u = await sysClient.json<{ keys: { access_key: string; secret_key: string }[] }>('PUT', '/admin/user', { query: [['uid', 'alice'], ['display-name', 'Alice']] });
    alice = { accessKey: u.keys[0].access_key, secretKey: u.keys[0].secret_key };
  });

  after(async () => {
    await sysClient?.close();
    await Promise.all((zones ?? []).map((z) => z.close()));
    t?.cleanup();
  });

  it('a version that became a delete marker (the null version, DELETE while suspended) reads as gone: HEAD, ?tagging and ?acl by id', async () => {
    const c = new ZoneClient({ endpoint: east.url, credentials: alice, backoffMs: 1 });
    const s3 = new S3Api(c);
    try {
      assert.equal((await c.request('PUT', '/marker-reads')).status, 200);
      const suspend = '<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>';
      assert.equal((await c.request('PUT', '/marker-reads', { query: [['versioning', undefined]], body: suspend })).status, 200);
      await c.request('PUT', objectPath('marker-reads', 'k'), { body: 'null version' });
      assert.equal((await s3.headObject('marker-reads', 'k', 'null'))?.size, 12);
      await c.request('DELETE', objectPath('marker-reads', 'k'));
      // The zone answers 405 to each (S3's answer for a named delete marker): not an error, and
      // not "this gateway has no ?acl", which would stop ACLs being compared for good.
      await assert.rejects(c.request('HEAD', objectPath('marker-reads', 'k'), { query: [['versionId', 'null']] }), (e: unknown) => e instanceof HttpError && e.status === 405);
      assert.equal(await s3.headObject('marker-reads', 'k', 'null'), undefined);
      assert.equal(await s3.getTagging('marker-reads', 'k', 'null'), '');
      assert.equal(await s3.getAcl('marker-reads', 'k', 'null'), undefined);
    } finally {
      await c.close();
    }
  });

  for (const sig of ['v4', 'v2'] as const) {
    it(`PUT, list (paged by 3) and GET keys with spaces, +, ~, %, unicode and slashes (${sig})`, async () => {
      const seen: Seen[] = [];
      const c = new ZoneClient({ endpoint: east.url, credentials: alice, signature: sig, backoffMs: 1, onRequest: (i) => seen.push(i) });
      const s3 = new S3Api(c);
      const bucket = `keys-${sig}`;
      try {
        assert.equal((await c.request('PUT', `/${bucket}`)).status, 200);
        const body = (k: string) => `body of ${JSON.stringify(k)} (${sig})`;
        for (const k of KEYS) {
          const r = await c.request('PUT', objectPath(bucket, k), { body: body(k) });
          assert.equal(r.status, 200, `PUT ${JSON.stringify(k)}`);
        }

        seen.length = 0;
        const listed = [];
        for await (const o of s3.allObjects(bucket, 3)) listed.push(o);
        assert.deepEqual(listed.map((o) => o.key), [...KEYS].sort(byteOrder), 'every key listed once, exactly, in byte order');
        for (const o of listed) {
          assert.equal(o.size, Buffer.byteLength(body(o.key)), `size of ${JSON.stringify(o.key)}`);
          assert.equal(o.etag, createHash('md5').update(body(o.key)).digest('hex'), `etag of ${JSON.stringify(o.key)}`);
        }
        const pages = seen.filter((s) => s.method === 'GET');
        assert.equal(pages.length, Math.ceil(KEYS.length / 3), `listing was paged by 3 (${pages.length} requests)`);
        assert.ok(pages.slice(1).every((p) => p.path.includes('marker=')), 'every page after the first sends a marker');

        // One key per page: every key is the next page's marker. Capped, so a marker that does not
        // move the listing on fails the test instead of looping.
        const single: string[] = [];
        for await (const o of s3.allObjects(bucket, 1)) if (single.push(o.key) > KEYS.length * 2) break;
        assert.deepEqual(single, [...KEYS].sort(byteOrder), 'paged one key at a time');

        // Each key used as a marker (a query value) returns exactly the keys after it.
        const sorted = [...KEYS].sort(byteOrder);
        for (let i = 0; i < sorted.length; i++) {
          const page = await s3.listObjects(bucket, sorted[i], 2);
          assert.deepEqual(page.objects.map((o) => o.key), sorted.slice(i + 1, i + 3), `page after marker ${JSON.stringify(sorted[i])}`);
          assert.equal(page.truncated, i + 3 < sorted.length, `truncated after marker ${JSON.stringify(sorted[i])}`);
        }

        for (const k of KEYS) {
          const r = await c.request('GET', objectPath(bucket, k));
          assert.equal(r.body.toString('utf8'), body(k), `GET ${JSON.stringify(k)}`);
        }
        // A key that differs only by encoding is a different object.
        const miss = await failure(() => c.request('GET', objectPath(bucket, 'literal percent-20')));
        assert.ok(miss instanceof NotFound, String(miss));
        assert.equal((miss as NotFound).code, 'NoSuchKey');
      } finally {
        await c.close();
      }
    });

    it(`query values with %20, +, & and unicode reach the zone exactly (${sig})`, async () => {
      const c = new ZoneClient({ endpoint: east.url, credentials: { accessKey: t.accessKey, secretKey: t.secretKey }, signature: sig, backoffMs: 1 });
      try {
        const uid = `q-${sig}`;
        const name = 'Zoë %20 literal + plus & amp = eq ~ tilde / slash 日本';
        const email = 'a+b%40c@example.com';
        await c.json('PUT', '/admin/user', { query: [['uid', uid], ['display-name', name], ['email', email]] });
        const u = await c.json<{ user_id: string; display_name: string; email: string }>('GET', '/admin/user', { query: [['uid', uid]] });
        assert.equal(u.user_id, uid);
        assert.equal(u.display_name, name);
        assert.equal(u.email, email);
        // The metadata key is itself a query value.
        const doc = JSON.parse((await new AdminApi(c).getMetadata('user', uid))!.toString('utf8')) as { data: { display_name: string } };
        assert.equal(doc.data.display_name, name);
      } finally {
        await c.close();
      }
    });
  }
});

// ------------------------------------------------------------------------------------------------
interface Stub { url: string; port: number; hits: { t: number; method: string; url: string; auth: string }[]; close(): Promise<void> }

/** A real HTTP server on 127.0.0.1; `handler` gets the 1-based number of the request. */
async function stub(handler: (n: number, req: IncomingMessage, res: ServerResponse) => void): Promise<Stub> {
  const hits: Stub['hits'] = [];
  const server: Server = createServer((req, res) => {
    hits.push({ t: performance.now(), method: req.method ?? '', url: req.url ?? '', auth: String(req.headers.authorization ?? '') });
    req.resume();
    handler(hits.length, req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`, port, hits,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}

function xmlError(res: ServerResponse, status: number, code: string): void {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>m</Message><RequestId>tx1</RequestId></Error>`);
}

describe('ZoneClient retries, backoff and error mapping (real local servers)', () => {
  const SECRET = `s3cr3t-${randomBytes(12).toString('hex')}`;
  const creds = { accessKey: 'AKTEST', secretKey: SECRET };
  const servers: Stub[] = [];
  const clients: ZoneClient[] = [];

  async function server(handler: (n: number, req: IncomingMessage, res: ServerResponse) => void): Promise<Stub> {
    const s = await stub(handler);
    servers.push(s);
    return s;
  }
  function client(endpoint: string, o: Partial<ZoneClientOptions> = {}): ZoneClient {
    const c = new ZoneClient({ endpoint, credentials: creds, backoffMs: 1, ...o });
    clients.push(c);
    return c;
  }
  function noSecret(e: Error): void {
    assert.ok(!e.message.includes(SECRET), `secret in message: ${e.message}`);
    assert.ok(!String(e).includes(SECRET), `secret in String(error): ${String(e)}`);
    assert.ok(!(e.stack ?? '').includes(SECRET), 'secret in the stack');
    assert.ok(!JSON.stringify(e).includes(SECRET), 'secret in the error\'s own fields');
  }

  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await Promise.all(servers.map((s) => s.close()));
  });

  it('503 twice, then 200: succeeds on the third attempt', async () => {
    const s = await server((n, _req, res) => (n <= 2 ? xmlError(res, 503, 'SlowDown') : res.end('{"ok":true}')));
    const seen: Seen[] = [];
    const r = await client(s.url, { onRequest: (i) => seen.push(i) }).json<{ ok: boolean }>('GET', '/admin/log', { query: [['type', 'metadata']] });
    assert.deepEqual(r, { ok: true });
    assert.equal(s.hits.length, 3, 'three requests reached the server');
    assert.deepEqual(seen.map((i) => [i.attempt, i.status]), [[1, 503], [2, 503], [3, 200]]);
    assert.ok(s.hits.every((h) => h.url === '/admin/log?type=metadata'), 'every attempt sends the same request');
    assert.ok(s.hits.every((h) => h.auth.startsWith('AWS4-HMAC-SHA256 Credential=AKTEST/')), 'every attempt is signed');
  });

  it('500 always: HttpError 500 after retries + 1 attempts', async () => {
    const s = await server((_n, _req, res) => xmlError(res, 500, 'InternalError'));
    const e = await failure(() => client(s.url, { retries: 2 }).request('GET', '/x'));
    assert.equal(e.constructor, HttpError, `a plain HttpError, got ${e.constructor.name}`);
    assert.equal((e as HttpError).status, 500);
    assert.equal((e as HttpError).code, 'InternalError');
    assert.equal(s.hits.length, 3);
    assert.ok(isRetryable(e));
    noSecret(e);

    const s2 = await server((_n, _req, res) => { res.writeHead(502); res.end(); });
    const e2 = await failure(() => client(s2.url).request('GET', '/x'));
    assert.equal((e2 as HttpError).status, 502);
    assert.equal(s2.hits.length, 4, 'default retries (3) + 1');
  });

  it('a call marked non-idempotent is not retried', async () => {
    const s = await server((_n, _req, res) => xmlError(res, 503, 'SlowDown'));
    const e = await failure(() => client(s.url).request('POST', '/x', { idempotent: false }));
    assert.equal((e as HttpError).status, 503);
    assert.equal(s.hits.length, 1);
  });

  const cases: { status: number; body: string; json?: boolean; cls: typeof HttpError; code: string }[] = [
    { status: 404, body: 'NoSuchKey', cls: NotFound, code: 'NoSuchKey' },
    { status: 404, body: '{"Code":"NoSuchKey","RequestId":"tx1","HostId":"h"}', json: true, cls: NotFound, code: 'NoSuchKey' },
    { status: 423, body: 'Locked', cls: Locked, code: 'Locked' },
    { status: 409, body: 'BucketNotEmpty', cls: Conflict, code: 'BucketNotEmpty' },
    { status: 403, body: 'SignatureDoesNotMatch', cls: AccessDenied, code: 'SignatureDoesNotMatch' },
    { status: 403, body: '{"Code":"AccessDenied"}', json: true, cls: AccessDenied, code: 'AccessDenied' },
    { status: 400, body: '', cls: HttpError, code: '' },
  ];
  for (const c of cases) {
    it(`${c.status} ${c.json ? 'JSON' : 'XML'} ${c.body || '(empty)'} -> ${c.cls.name} code "${c.code}", no retry`, async () => {
      const s = await server((_n, _req, res) => {
        if (c.json) {
          res.writeHead(c.status, { 'content-type': 'application/json' });
          res.end(c.body);
        } else if (c.body) xmlError(res, c.status, c.body);
        else { res.writeHead(c.status); res.end(); }
      });
      const e = await failure(() => client(s.url).request('GET', '/bucket/some%20key', { query: [['marker', 'x']] }));
      assert.equal(e.constructor, c.cls, `${e.constructor.name}: ${e.message}`);
      assert.equal((e as HttpError).status, c.status);
      assert.equal((e as HttpError).code, c.code);
      assert.equal(isRetryable(e), false);
      assert.equal(s.hits.length, 1, 'not retried');
      assert.ok(e.message.includes(s.url), `message names the endpoint: ${e.message}`);
      noSecret(e);
    });
  }

  it('a request that cannot be signed fails at once as a local error, not as an unreachable zone', async () => {
    const s = await server((_n, _req, res) => res.end('ok'));
    const seen: Seen[] = [];
    const c = client(s.url, { backoffMs: 200, onRequest: (i) => seen.push(i) });
    const t0 = performance.now();
    const e = await failure(() => c.request('GET', '/x', { query: [['a', '1'], ['a', '2']] }));
    assert.ok(!(e instanceof NetworkError), `${e.constructor.name}: ${e.message}`);
    assert.ok(!isRetryable(e));
    assert.match(e.message, /repeated query parameters/);
    const e2 = await failure(() => c.request('GET', '/bad%zz'));
    assert.ok(!(e2 instanceof NetworkError), `${e2.constructor.name}: ${e2.message}`);
    assert.ok(performance.now() - t0 < 200, 'no backoff sleeps');
    assert.equal(seen.length, 0, 'nothing was attempted');
    assert.equal(s.hits.length, 0, 'nothing was sent');
  });

  it('S3 listing XML: pretty-printed, entities, keys with surrounding whitespace', async () => {
    const keys = [' lead', 'trail ', 'a&b<c>"d"', 'tab\tin'];
    const xmlKey = (k: string) => k.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
    const s = await server((_n, req, res) => {
      const marker = new URL(req.url ?? '/', 'http://x').searchParams.get('marker') ?? '';
      const rest = keys.filter((k) => byteOrder(k, marker) > 0).sort(byteOrder);
      const page = rest.slice(0, 2);
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.end([
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
        '  <Name>b</Name>',
        `  <IsTruncated>${rest.length > 2}</IsTruncated>`,
        ...page.map((k) => `  <Contents>\n    <Key>${xmlKey(k)}</Key>\n    <ETag>&quot;0123abcd&quot;</ETag>\n    <Size>7</Size>\n  </Contents>`),
        '</ListBucketResult>',
      ].join('\n'));
    });
    const got = [];
    for await (const o of new S3Api(client(s.url)).allObjects('b', 2)) if (got.push(o) > 10) break;
    assert.deepEqual(got, [...keys].sort(byteOrder).map((key) => ({ key, etag: '0123abcd', size: 7 })));
    assert.equal(s.hits.length, 2);
  });

  it('accepted statuses are answers, not errors', async () => {
    const s = await server((_n, _req, res) => { res.writeHead(304); res.end(); });
    const r = await client(s.url).request('PUT', '/b/k', { accept: [304] });
    assert.equal(r.status, 304);
    assert.equal(s.hits.length, 1);
  });

  it('backoff waits between attempts (backoffMs 50: >= 75 ms over three attempts)', async () => {
    const s = await server((n, _req, res) => (n <= 2 ? xmlError(res, 503, 'SlowDown') : res.end('ok')));
    const t0 = performance.now();
    await client(s.url, { backoffMs: 50 }).request('GET', '/x');
    const ms = performance.now() - t0;
    assert.equal(s.hits.length, 3);
    // Sleeps are base * 2^(attempt-1) * [0.5, 1.5): at least 25 ms, then at least 50 ms.
    assert.ok(ms >= 70, `three attempts took ${ms.toFixed(1)} ms`);
    assert.ok(s.hits[1].t - s.hits[0].t >= 20, `first gap ${(s.hits[1].t - s.hits[0].t).toFixed(1)} ms`);
    assert.ok(s.hits[2].t - s.hits[1].t >= 45, `second gap ${(s.hits[2].t - s.hits[1].t).toFixed(1)} ms`);
  });

  it('a closed port: NetworkError naming the endpoint, retried', async () => {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const seen: Seen[] = [];
    const e = await within(10_000, 'request to a closed port', failure(() => client(endpoint, { retries: 2, onRequest: (i) => seen.push(i) }).request('GET', '/admin/config')));
    assert.ok(e instanceof NetworkError, `${e.constructor.name}: ${e.message}`);
    assert.ok(e instanceof AgentError);
    assert.equal((e as NetworkError).endpoint, endpoint);
    assert.ok(e.message.includes(endpoint), e.message);
    assert.match(e.message, /ECONNREFUSED/);
    assert.ok(isRetryable(e));
    assert.deepEqual(seen.map((i) => i.attempt), [1, 2, 3], 'three attempts, each reported as an error');
    assert.ok(seen.every((i) => i.error !== undefined && i.status === undefined));
    noSecret(e);
  });

  it('a server that never answers: headersTimeoutMs ends each attempt with a NetworkError', async () => {
    const s = await server(() => { /* never answers */ });
    const t0 = performance.now();
    const e = await within(10_000, 'request to a silent server', failure(() => client(s.url, { retries: 1, headersTimeoutMs: 150 }).request('GET', '/admin/config')));
    const ms = performance.now() - t0;
    assert.ok(e instanceof NetworkError, `${e.constructor.name}: ${e.message}`);
    assert.ok(e.message.includes(s.url), e.message);
    assert.match(e.message, /timeout/i);
    assert.equal(s.hits.length, 2, 'retried once');
    assert.ok(ms >= 250, `two attempts of >= 150 ms each took ${ms.toFixed(0)} ms`);
    noSecret(e);

    // The per-call option overrides the client's (long) default.
    const s2 = await server(() => { /* never answers */ });
    const e2 = await within(10_000, 'per-call timeout', failure(() => client(s2.url, { retries: 0 }).request('GET', '/x', { headersTimeoutMs: 100 })));
    assert.ok(e2 instanceof NetworkError, `${e2.constructor.name}: ${e2.message}`);
    assert.equal(s2.hits.length, 1);
  });

  it('secrets stay out of errors: bad JSON, credentials in the endpoint URL', async () => {
    const s = await server((_n, _req, res) => res.end(`not json ${SECRET.slice(0, 3)}`));
    const e = await failure(() => client(s.url).json('GET', '/admin/config'));
    assert.ok(e instanceof AgentError);
    assert.match(e.message, /not JSON/);
    noSecret(e);

    const withUserinfo = `http://user:${SECRET}@127.0.0.1:${s.port}`;
    const s403 = await server((_n, _req, res) => xmlError(res, 403, 'SignatureDoesNotMatch'));
    const c = client(withUserinfo.replace(String(s.port), String(s403.port)));
    assert.ok(!c.endpoint.includes(SECRET), c.endpoint);
    const e2 = await failure(() => c.request('GET', '/'));
    assert.ok(e2 instanceof AccessDenied);
    noSecret(e2);
    assert.ok(s403.hits.every((h) => !h.auth.includes(SECRET)), 'the secret is never sent');

    const closed = await freePort();
    const e3 = await failure(() => client(`http://user:${SECRET}@127.0.0.1:${closed}`, { retries: 0 }).request('GET', '/'));
    assert.ok(e3 instanceof NetworkError);
    noSecret(e3);
  });

  it('a non-http endpoint is refused up front', () => {
    assert.throws(() => new ZoneClient({ endpoint: 'ftp://127.0.0.1:21', credentials: creds }), (e: Error) => e instanceof AgentError && /ftp:\/\/127\.0\.0\.1:21/.test(e.message));
  });
});

// ------------------------------------------------------------------------------------------------
describe('AdminApi against an embedded zone', () => {
  let t: TestRealm;
  let zones: RunningZone[];
  let client: ZoneClient;
  let admin: AdminApi;
  const seen: Seen[] = [];

  before(async () => {
    t = await makeRealm();
    zones = await startZones(t);
    client = new ZoneClient({ endpoint: zones[1].url, credentials: { accessKey: t.accessKey, secretKey: t.secretKey }, backoffMs: 1, onRequest: (i) => seen.push(i) });
    admin = new AdminApi(client);
  });

  after(async () => {
    await client?.close();
    await Promise.all((zones ?? []).map((z) => z.close()));
    t?.cleanup();
  });

  it('getBound: 404 -> undefined; setBound then getBound returns marker and items', async () => {
    assert.equal(await admin.getBound('metadata', '0'), undefined);
    assert.equal(await admin.getBound('bucket-index', 'b1:us-east.4100.1'), undefined);

    const items = [{ name: 'b1/key with space', timestamp: '1400000001.000001' }, { name: 'b1/ünï+~', timestamp: '1400000002.000002' }];
    await admin.setBound('data', '3', { marker: '1_1400000003.000003_3.1', items });
    assert.deepEqual(await admin.getBound('data', '3'), { marker: '1_1400000003.000003_3.1', items });
    assert.equal(await admin.getBound('metadata', '3'), undefined, 'bounds are per log type');
    assert.equal(await admin.getBound('data', '4'), undefined, 'and per shard');

    await admin.setBound('bucket-index', 'b1:us-east.4100.1', { marker: '00000000005.5.3', items: [] });
    assert.deepEqual(await admin.getBound('bucket-index', 'b1:us-east.4100.1'), { marker: '00000000005.5.3', items: [] });

    await admin.setBound('data', '3', { marker: '1_1400000009.000009_9.1', items: [] });
    assert.deepEqual(await admin.getBound('data', '3'), { marker: '1_1400000009.000009_9.1', items: [] }, 'a later bound replaces the earlier one');
  });

  it('metadataKeys pages through more keys than one page holds', async () => {
    const uids = ['u0', 'u1', 'u2', 'u3', 'u4', 'u 5 ü'];
    for (const uid of uids) await client.json('PUT', '/admin/user', { query: [['uid', uid], ['display-name', uid]] });
    seen.length = 0;
    const keys: string[] = [];
    for await (const k of admin.metadataKeys('user', 2)) keys.push(k);
    const expected = [...uids, 'sync-agent'].sort(byteOrder);
    assert.deepEqual([...keys].sort(byteOrder), expected);
    assert.equal(new Set(keys).size, keys.length, 'no key twice');
    const gets = seen.filter((s) => s.path.startsWith('/admin/metadata/user'));
    assert.ok(gets.length >= Math.ceil(expected.length / 2), `paged: ${gets.length} requests`);
    assert.ok(gets.every((g) => g.path.includes('max-entries=2')));
    assert.ok(gets.slice(1).every((g) => g.path.includes('marker=')), 'later pages continue from a marker');

    const none: string[] = [];
    for await (const k of admin.metadataKeys('no-such-section', 2)) none.push(k);
    assert.deepEqual(none, [], 'an unknown section (404) has no keys');
  });

  it('lock, renew, unlock; another locker gets Locked (423) without retries', async () => {
    await admin.lock('metadata', 1, 'us-west', 'agent-a', 30);
    await admin.lock('metadata', 1, 'us-west', 'agent-a', 30); // renewal by the holder
    seen.length = 0;
    const e = await failure(() => admin.lock('metadata', 1, 'us-west', 'agent-b', 30));
    assert.ok(e instanceof Locked, `${e.constructor.name}: ${e.message}`);
    assert.equal((e as Locked).status, 423);
    assert.equal(seen.length, 1, 'a held lock is not retried');
    await admin.lock('metadata', 2, 'us-west', 'agent-b', 30); // other shards are free
    await admin.lock('data', 1, 'us-west', 'agent-b', 30); // and so is the same shard of the other log

    const notHolder = await failure(() => admin.unlock('metadata', 1, 'us-west', 'agent-b'));
    assert.ok(notHolder instanceof NotFound, `${notHolder.constructor.name}: ${notHolder.message}`);
    await admin.unlock('metadata', 1, 'us-west', 'agent-a');
    await admin.lock('metadata', 1, 'us-west', 'agent-b', 30);
  });

  it('the embedded zone\'s region map resolves to source us-east for destination us-west', async () => {
    const map = await admin.zoneMap();
    assert.equal(map.from, 'GET /admin/config');
    const z = resolveZones(map.groups, { destination: zones[1].url, metadataOnly: false });
    assert.equal(z.source.name, 'us-east');
    assert.equal(z.destination.name, 'us-west');
    assert.equal(z.sourceEndpoint, zones[0].url);
  });
});

// ------------------------------------------------------------------------------------------------
describe('zonemap: resolveZones', () => {
  /** A Hammer-era map: regions and zones by name, no ids, endpoints with trailing slashes. */
  const hammer = () => ({
    regions: [
      {
        key: 'us',
        val: {
          name: 'us', api_name: 'us', is_master: 'true', endpoints: ['http://rgw1:80/'], master_zone: 'us-east',
          zones: [
            { name: 'us-east', endpoints: ['http://rgw1:80/'], log_meta: 'true', log_data: 'true' },
            { name: 'us-west', endpoints: ['http://rgw2:7480/'], log_meta: 'true', log_data: 'true' },
            { name: 'us-north', endpoints: ['https://rgw3/'], log_meta: 'true', log_data: 'true' },
          ],
        },
      },
      {
        key: 'eu',
        val: {
          name: 'eu', api_name: 'eu', is_master: 'false', endpoints: ['http://rgw-eu1:80/'], master_zone: 'eu-1',
          zones: [
            { name: 'eu-1', endpoints: ['http://rgw-eu1:80/'], log_meta: 'true', log_data: 'true' },
            { name: 'eu-2', endpoints: ['http://rgw-eu2:80/'], log_meta: 'true', log_data: 'true' },
          ],
        },
      },
    ],
    master_region: 'us',
  });
  const pacific = () => JSON.parse(readFileSync(new URL('../../test/fixtures/ceph-pacific/config-zonegroup-map.json', import.meta.url), 'utf8')) as {
    regions: { key: string; val: { master_zone: string; zones: { id: string; name: string; log_data: string }[] } }[];
  };
  const EAST_ID = '56ca3398-e291-4157-a9f1-3844d45f493b';
  const WEST_ID = '6eff5727-3bee-437e-8ccb-2fe71d710352';

  function mapError(fn: () => unknown, re: RegExp): void {
    assert.throws(fn, (e: Error) => {
      assert.ok(e instanceof ZoneMapError, `${e.constructor.name}: ${e.message}`);
      assert.match(e.message, re);
      return true;
    });
  }

  it('sameEndpoint compares host and port, with the scheme\'s default port', () => {
    assert.ok(sameEndpoint('http://rgw1:80/', 'http://rgw1'));
    assert.ok(sameEndpoint('https://rgw3/', 'https://rgw3:443'));
    assert.ok(sameEndpoint('http://rgw2:7480/', 'http://rgw2:7480/some/path'));
    assert.ok(!sameEndpoint('http://rgw2:7480', 'http://rgw2:7481'));
    assert.ok(!sameEndpoint('http://rgw2:7480', 'http://rgw1:7480'));
    assert.ok(!sameEndpoint('http://rgw3', 'https://rgw3'), 'port 80 is not port 443');
    assert.ok(!sameEndpoint('not a url', 'http://rgw1'));
  });

  it('Hammer map: destination by endpoint, source = the master zone by name', () => {
    const groups = parseRegionMap(hammer());
    const z = resolveZones(groups, { destination: 'http://rgw2:7480', metadataOnly: false });
    assert.equal(z.destination.name, 'us-west');
    assert.equal(z.source.name, 'us-east');
    assert.equal(z.source.id, 'us-east', 'a zone without an id is known by its name');
    assert.equal(z.zonegroup.name, 'us');
    assert.equal(z.sourceEndpoint, 'http://rgw1:80/');
    // Default ports and paths do not matter; the host and port do.
    assert.equal(resolveZones(groups, { destination: 'https://rgw3:443', metadataOnly: false }).destination.name, 'us-north');
    mapError(() => resolveZones(groups, { destination: 'http://rgw2:7481', metadataOnly: false }), /rgw2:7481 is not an endpoint/);
    // An explicit source or src_zone that is the master works; an explicit source keeps its URL.
    assert.equal(resolveZones(groups, { destination: 'http://rgw2:7480', srcZone: 'us-east', metadataOnly: false }).source.name, 'us-east');
    const bySource = resolveZones(groups, { destination: 'http://rgw2:7480', source: 'http://rgw1', metadataOnly: false });
    assert.equal(bySource.source.name, 'us-east');
    assert.equal(bySource.sourceEndpoint, 'http://rgw1');
  });

  it('Pacific map (recorded): zonegroup and master zone by id', () => {
    const groups = parseRegionMap(pacific());
    assert.equal(groups.length, 1);
    assert.equal(groups[0].name, 'us');
    const z = resolveZones(groups, { destination: 'http://127.0.0.1:8001', metadataOnly: false });
    assert.equal(z.destination.id, WEST_ID);
    assert.equal(z.destination.name, 'us-west');
    assert.equal(z.source.id, EAST_ID);
    assert.equal(z.source.name, 'us-east');
    assert.equal(z.sourceEndpoint, 'http://127.0.0.1:8000');
    assert.equal(resolveZones(groups, { destination: 'http://127.0.0.1:8001/', srcZone: EAST_ID, metadataOnly: false }).source.name, 'us-east');
    assert.equal(resolveZones(groups, { destination: 'http://127.0.0.1:8001/', srcZone: 'us-east', metadataOnly: false }).source.id, EAST_ID);
  });

  it('period maps (Pacific strings, Reef JSON booleans, both recorded) resolve zones by id and name', () => {
    const period = (release: string) => JSON.parse(readFileSync(new URL(`../../test/fixtures/ceph-${release}/realm-period.json`, import.meta.url), 'utf8')) as unknown;
    for (const release of ['pacific', 'reef']) {
      const groups = parsePeriodMap(period(release));
      assert.equal(groups.length, 1, release);
      assert.equal(groups[0].name, 'us');
      assert.equal(groups[0].isMaster, true, `${release}: is_master`);
      const z = resolveZones(groups, { destination: 'http://127.0.0.1:8001', metadataOnly: false });
      assert.equal(z.source.name, 'us-east', release);
      assert.equal(z.destination.name, 'us-west', release);
      assert.ok(z.source.logData, `${release}: log_data`);
      assert.match(z.source.id, /^[0-9a-f-]{36}$/, `${release}: zones by id`);
      assert.equal(resolveZones(groups, { destination: 'http://127.0.0.1:8001', srcZone: z.source.id, metadataOnly: false }).source.name, 'us-east');
    }
    mapError(() => parsePeriodMap({ id: 'x' }), /no "period_map.zonegroups"/);
  });

  it('zoneMap: the region map where /admin/config answers, the period map where it answers 405 (Reef)', async () => {
    const reef = readFileSync(new URL('../../test/fixtures/ceph-reef/realm-period.json', import.meta.url), 'utf8');
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if ((req.url ?? '').startsWith('/admin/config')) res.writeHead(405, { 'content-type': 'application/json' }).end('{"Code":"MethodNotAllowed"}');
      else if ((req.url ?? '').startsWith('/admin/realm/period')) res.writeHead(200, { 'content-type': 'application/json' }).end(reef);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (server.address() as { port: number }).port;
      const c = new ZoneClient({ endpoint: `http://127.0.0.1:${port}`, credentials: { accessKey: 'AK', secretKey: 'SK' }, backoffMs: 1 });
      const map = await new AdminApi(c).zoneMap();
      await c.close();
      assert.equal(map.from, 'GET /admin/realm/period');
      assert.equal(resolveZones(map.groups, { destination: 'http://127.0.0.1:8001', metadataOnly: false }).source.name, 'us-east');
      assert.deepEqual(seen, ['GET /admin/config', 'GET /admin/realm/period']);
    } finally {
      server.close();
    }
  });

  it('destination not in the map: the message lists the known zones and endpoints', () => {
    mapError(() => resolveZones(parseRegionMap(hammer()), { destination: 'http://elsewhere:80', metadataOnly: false }),
      /http:\/\/elsewhere.*us-east \(http:\/\/rgw1:80\/\).*us-west \(http:\/\/rgw2:7480\/\).*us-north.*eu-1.*eu-2/);
    mapError(() => resolveZones(parseRegionMap(pacific()), { destination: 'http://127.0.0.1:8002', metadataOnly: false }),
      /127\.0\.0\.1:8002.*us-east \(http:\/\/127\.0\.0\.1:8000\).*us-west \(http:\/\/127\.0\.0\.1:8001\)/);
  });

  it('source equals destination', () => {
    mapError(() => resolveZones(parseRegionMap(pacific()), { destination: 'http://127.0.0.1:8000', metadataOnly: false }), /same zone \(us-east\)/);
    mapError(() => resolveZones(parseRegionMap(hammer()), { destination: 'http://rgw2:7480', source: 'http://rgw2:7480', metadataOnly: true }), /same zone \(us-west\)/);
  });

  it('source that is not the master zone', () => {
    mapError(() => resolveZones(parseRegionMap(hammer()), { destination: 'http://rgw2:7480', srcZone: 'us-north', metadataOnly: false }), /us-north is not the master zone of zonegroup us/);
    mapError(() => resolveZones(parseRegionMap(pacific()), { destination: 'http://127.0.0.1:8000', srcZone: WEST_ID, metadataOnly: false }), /us-west is not the master/);
    mapError(() => resolveZones(parseRegionMap(hammer()), { destination: 'http://rgw2:7480', srcZone: 'nowhere', metadataOnly: false }), /src_zone "nowhere" is not in the region map/);
  });

  it('source with log_data false: refused for data sync, fine for metadata only', () => {
    const doc = pacific();
    doc.regions[0].val.zones.find((z) => z.id === EAST_ID)!.log_data = 'false';
    const groups = parseRegionMap(doc);
    mapError(() => resolveZones(groups, { destination: 'http://127.0.0.1:8001', metadataOnly: false }), /us-east does not log data/);
    assert.equal(resolveZones(groups, { destination: 'http://127.0.0.1:8001', metadataOnly: true }).source.name, 'us-east');
  });

  it('data sync across zonegroups is refused; metadata only is allowed from the master region', () => {
    const groups = parseRegionMap(hammer());
    mapError(() => resolveZones(groups, { destination: 'http://rgw-eu2', srcZone: 'us-east', metadataOnly: false }), /one zonegroup.*metadata_only/);
    assert.equal(resolveZones(groups, { destination: 'http://rgw-eu2', srcZone: 'us-east', metadataOnly: true }).source.name, 'us-east');
  });

  it('a map without regions, or with a master zone it does not contain', () => {
    mapError(() => parseRegionMap({ zonegroups: [] }), /no "regions" list/);
    const doc = pacific();
    doc.regions[0].val.master_zone = 'gone';
    mapError(() => resolveZones(parseRegionMap(doc), { destination: 'http://127.0.0.1:8001', metadataOnly: false }), /master zone "gone" but has no such zone/);
  });
});
