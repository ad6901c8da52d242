/**
 * Hostile and malformed input against an in-process zone: path tricks in keys, bad percent
 * encoding and UTF-8, oversized keys and headers, malformed XML and JSON bodies, lying
 * Content-Length, garbage on the socket, unsigned requests and bad digests. After every case the
 * zone must still answer a normal signed request, tmp/ must drain, nothing may appear outside the
 * data dir, and the data dir holds only the database and random-named object files.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { makeRealm, startZones, type TestRealm } from './helpers/realm.js';
import { call, type Reply } from './helpers/http.js';
import { signRequest } from '../src/rgw/sign.js';
import type { RunningZone } from '../src/zone/server.js';

type Creds = { accessKey: string; secretKey: string };

const B = 'bad-input';
const MARK = `rgwmark${randomBytes(4).toString('hex')}`;
const xml = new XMLParser({ parseTagValue: false, isArray: (name) => name === 'Contents' });

function md5(b: Buffer | string): string {
  return createHash('md5').update(b).digest('hex');
}
function sha256(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Polls `check` until it returns true or the deadline passes. */
async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Every file and directory under `dir` (relative, with size for files), skipping the given subtrees. */
function snapshot(dir: string, skip: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const rel = relative(dir, p);
      if (e.isDirectory()) {
        out[rel] = 'dir';
        if (!skip.includes(p)) walk(p);
      } else {
        out[rel] = `${e.isFile() ? 'file' : 'other'}:${e.isFile() ? statSync(p).size : 0}`;
      }
    }
  };
  walk(dir);
  return out;
}

function s3Code(r: { text: string }): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(r.text)?.[1];
}

function jsonCode(r: { text: string; headers: Record<string, string | string[] | undefined> }): unknown {
  assert.match(String(r.headers['content-type']), /application\/json/, `a JSON error body: ${r.text}`);
  return (JSON.parse(r.text) as { Code?: unknown }).Code;
}

describe('embedded zone with bad input', () => {
  let sandbox: string;
  let realTmp: string;
  let realTmpBefore: Set<string>;
  let t: TestRealm;
  let zones: RunningZone[];
  let url: string;
  let host: string;
  let port: number;
  let dataDir: string;
  let user: Creds;
  let outside: Record<string, string>;

  before(async () => {
    realTmp = tmpdir();
    realTmpBefore = new Set(readdirSync(realTmp));
    // The realm's temp dir goes into a private sandbox so "nothing new next to it" can be checked
    // exactly, even while other tests create temp dirs in the shared tmpdir.
    sandbox = mkdtempSync(join(realTmp, 'rgw-bad-input-'));
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = sandbox;
    try {
      t = await makeRealm();
    } finally {
      if (saved === undefined) delete process.env.TMPDIR; else process.env.TMPDIR = saved;
    }
    assert.equal(resolve(t.dir, '..'), resolve(sandbox));
    zones = await startZones(t);
    url = zones[0].url;
    const u = new URL(url);
    host = u.host;
    port = Number(u.port);
    dataDir = join(t.dir, 'us-east');
    const r = await call(url, 'PUT', '/admin/user?uid=mallory&display-name=Mallory', t);
    assert.equal(r.status, 200, r.text);
    const k = r.json<{ keys: { access_key: string; secret_key: string }[] }>().keys[0];
    user = { accessKey: k.access_key, secretKey: k.secret_key };
    assert.equal((await call(url, 'PUT', `/${B}`, user)).status, 200);
    outside = snapshot(sandbox, t.realm.zones.map((z) => join(t.dir, z.name)));
  });

  after(async () => {
    await Promise.all((zones ?? []).map((z) => z.close()));
    if (sandbox) rmSync(sandbox, { recursive: true, force: true });
  });

  let healthN = 0;
  /** A normal signed round trip works, tmp/ drains, and nothing changed outside the data dirs. */
  async function assertHealthy(): Promise<void> {
    const body = `healthy ${++healthN}`;
    const put = await call(url, 'PUT', `/${B}/health-check`, user, { body });
    assert.equal(put.status, 200, `health PUT: ${put.status} ${put.text}`);
    const get = await call(url, 'GET', `/${B}/health-check`, user);
    assert.equal(get.status, 200);
    assert.equal(get.text, body);
    assert.equal((await call(url, 'GET', '/admin/config', t)).status, 200);
    await eventually('tmp/ is empty', () => readdirSync(join(dataDir, 'tmp')).length === 0);
    assert.deepEqual(snapshot(sandbox, t.realm.zones.map((z) => join(t.dir, z.name))), outside, 'nothing appeared outside the data dirs');
    assert.deepEqual(readdirSync(dataDir).filter((n) => !['zone.db', 'zone.db-wal', 'zone.db-shm', 'objects', 'tmp'].includes(n)), [], 'data dir entries');
    for (const e of readdirSync(join(dataDir, 'objects'), { recursive: true, withFileTypes: true })) {
      const rel = relative(join(dataDir, 'objects'), join(e.parentPath, e.name));
      assert.match(rel, e.isDirectory() ? /^[0-9a-f]{2}$/ : /^[0-9a-f]{2}\/[0-9a-f]{32}$/, 'object files have random names, never key names');
    }
    const newInRealTmp = readdirSync(realTmp).filter((n) => !realTmpBefore.has(n) && (n.includes(MARK) || n === 'etc' || n === 'passwd'));
    assert.deepEqual(newInRealTmp, [], 'no key reached the real tmpdir');
  }

  afterEach(async () => {
    if (zones) await assertHealthy();
  });

  /** Sends exactly `path` (no dot-segment normalisation, unlike fetch/undici), signed when signable. */
  function raw(method: string, path: string, opts: { creds?: Creds | null; body?: Buffer | string; headers?: Record<string, string>; bodySha256?: string } = {}): Promise<Reply> {
    const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
    let headers: Record<string, string> = { ...(opts.headers ?? {}), host };
    if (opts.creds !== null) {
      headers = signRequest({ method, host, path, headers: { ...(opts.headers ?? {}) }, bodySha256: opts.bodySha256 ?? (body ? sha256(body) : undefined) }, opts.creds ?? user, 'v4');
    }
    if (body) headers['content-length'] = String(body.length);
    return new Promise((resolvePromise, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const buf = Buffer.concat(chunks);
          resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body: buf, text: buf.toString('utf8'), json: <T>() => JSON.parse(buf.toString('utf8')) as T });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** A signed request head for raw-socket cases. */
  function signedHead(method: string, path: string, headers: Record<string, string>, bodySha256?: string): string {
    const h = signRequest({ method, host, path, headers, bodySha256 }, user, 'v4');
    return `${method} ${path} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  }

  interface SocketResult { text: string; closed: boolean; error?: string }
  /**
   * Writes bytes on a fresh TCP connection and collects the answer until the server closes the
   * connection or `until` is satisfied; fails when neither happens before the deadline.
   */
  function socketExchange(data: (Buffer | string)[], opts: { halfClose?: boolean; destroyAfterWrite?: boolean; until?: (text: string) => boolean; timeoutMs?: number } = {}): Promise<SocketResult> {
    return new Promise((resolvePromise, reject) => {
      const s = connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      let error: string | undefined;
      let settled = false;
      const finish = (closed: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        s.destroy();
        resolvePromise({ text: Buffer.concat(chunks).toString('latin1'), closed, error });
      };
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        s.destroy();
        reject(new Error(`server neither answered nor closed within ${opts.timeoutMs ?? 5000} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 300))}`));
      }, opts.timeoutMs ?? 5_000);
      s.on('data', (c: Buffer) => {
        chunks.push(c);
        if (opts.until?.(Buffer.concat(chunks).toString('latin1'))) finish(false);
      });
      s.on('error', (e: NodeJS.ErrnoException) => { error = e.code ?? e.message; });
      s.on('close', () => finish(true));
      s.on('connect', () => {
        for (const d of data) s.write(d);
        if (opts.destroyAfterWrite) s.write(Buffer.alloc(0), () => { s.destroy(); finish(true); });
        else if (opts.halfClose) s.end();
      });
    });
  }

  function statuses(text: string): number[] {
    return [...text.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => Number(m[1]));
  }

  function objectFileCount(): number {
    return readdirSync(join(dataDir, 'objects'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;
  }

  async function listKeys(prefix = ''): Promise<string[]> {
    const r = await call(url, 'GET', `/${B}?list-type=2&encoding-type=url&prefix=${encodeURIComponent(prefix)}`, user);
    assert.equal(r.status, 200, r.text);
    const doc = xml.parse(r.text) as { ListBucketResult: { Contents?: { Key: string }[] } };
    return (doc.ListBucketResult.Contents ?? []).map((c) => decodeURIComponent(c.Key));
  }

  // ---------- keys ----------

  it('stores "../" keys literally and never as paths', async () => {
    const cases: { wire: string; key: string }[] = [
      { wire: `../${MARK}-1`, key: `../${MARK}-1` },
      { wire: '../../etc/passwd', key: '../../etc/passwd' },
      { wire: `${'../'.repeat(12)}tmp/${MARK}-2`, key: `${'../'.repeat(12)}tmp/${MARK}-2` },
      { wire: `..%2F..%2F${MARK}-3`, key: `../../${MARK}-3` },
      { wire: `a/../../${MARK}-4`, key: `a/../../${MARK}-4` },
      { wire: `..%5C..%5C${MARK}-5`, key: `..\\..\\${MARK}-5` },
      { wire: '..', key: '..' },
      { wire: './.', key: './.' },
      { wire: `%2E%2E/%2E%2E/${MARK}-6`, key: `../../${MARK}-6` },
    ];
    // Where a store that joined data dir and key would have written: none of these may appear.
    const probes = cases.filter((c) => c.key.includes(MARK) || c.key.includes('passwd'))
      .flatMap((c) => [dataDir, join(dataDir, 'objects'), join(dataDir, 'objects', B), join(dataDir, B)].map((base) => resolve(base, c.key)))
      .filter((p) => !p.startsWith(dataDir + '/'));
    const existed = new Set(probes.filter((p) => existsSync(p)));
    for (const c of cases) {
      const body = `literal ${c.key}`;
      const put = await raw('PUT', `/${B}/${c.wire}`, { body });
      assert.equal(put.status, 200, `PUT ${c.wire}: ${put.text}`);
      assert.equal(put.headers.etag, `"${md5(body)}"`);
      const get = await raw('GET', `/${B}/${c.wire}`);
      assert.equal(get.status, 200, `GET ${c.wire}: ${get.text}`);
      assert.equal(get.text, body, `GET ${c.wire} reads back what was stored under it`);
    }
    const listed = await listKeys();
    for (const c of cases) assert.ok(listed.includes(c.key), `${JSON.stringify(c.key)} is listed under exactly that key (listed: ${JSON.stringify(listed)})`);
    for (const p of probes) if (!existed.has(p)) assert.ok(!existsSync(p), `${p} was created`);
    for (const c of cases) assert.equal((await raw('DELETE', `/${B}/${c.wire}`)).status, 204);
  });

  it('rejects NUL in keys and bucket names with 400', async () => {
    for (const p of [`/${B}/a%00b`, `/${B}/%00`, `/${B}/..%2F%00`, `/${B}/x%00/../../etc`]) {
      const r = await raw('PUT', p, { body: 'nul' });
      assert.equal(r.status, 400, `PUT ${p}: ${r.text}`);
      assert.equal(s3Code(r), 'InvalidObjectName');
      assert.equal((await raw('GET', p)).status, 400);
    }
    const r = await raw('PUT', '/bad%00bucket');
    assert.equal(r.status, 400, r.text);
    assert.ok(!(await listKeys()).some((k) => k.includes('\0')));
  });

  it('rejects keys over 1024 bytes with KeyTooLongError', async () => {
    for (const key of ['k'.repeat(1025), 'é'.repeat(513), `${'../'.repeat(341)}ab`]) {
      const r = await raw('PUT', `/${B}/${encodeURIComponent(key)}`, { body: 'long' });
      assert.equal(r.status, 400, `${Buffer.byteLength(key)}-byte key: ${r.text}`);
      assert.equal(s3Code(r), 'KeyTooLongError');
    }
    const limit = 'é'.repeat(512); // exactly 1024 bytes
    const ok = await raw('PUT', `/${B}/${encodeURIComponent(limit)}`, { body: 'limit' });
    assert.equal(ok.status, 200, ok.text);
    assert.equal((await raw('DELETE', `/${B}/${encodeURIComponent(limit)}`)).status, 204);
    assert.deepEqual((await listKeys()).filter((k) => k !== 'health-check'), []);
  });

  it('rejects invalid UTF-8 and malformed percent escapes with 400', async () => {
    const paths = [
      '/b/%FF%FE', `/${B}/%FF%FE`, `/${B}/%C0%AF`, `/${B}/%ED%A0%80x`, `/${B}/ok%E2%82`,
      '/b/%ZZ', `/${B}/%ZZ`, `/${B}/%`, `/${B}/abc%4`, `/${B}/%%41`, `/${B}?prefix=%FF`, `/${B}?prefix=%G0`, `/${B}/k?x=%`,
    ];
    for (const p of paths) {
      for (const method of ['GET', 'PUT']) {
        let r: Reply;
        try {
          r = await raw(method, p, { body: method === 'PUT' ? 'x' : undefined });
        } catch (e) {
          if (!(e instanceof URIError)) throw e;
          r = await raw(method, p, { creds: null, body: method === 'PUT' ? 'x' : undefined }); // not signable: send unsigned
        }
        assert.equal(r.status, 400, `${method} ${p}: ${r.status} ${r.text}`);
        assert.ok(s3Code(r), `${method} ${p} answers an S3 error: ${r.text}`);
      }
    }
    assert.deepEqual((await listKeys()).filter((k) => k !== 'health-check'), []);
  });

  // ---------- bodies ----------

  it('rejects malformed XML on CreateBucket with MalformedXML and creates nothing', async () => {
    const bodies = [
      '<CreateBucketConfiguration><LocationConstraint>us</CreateBucketConfiguration',
      '<CreateBucketConfiguration><LocationConstraint>us</LocationConstraint>',
      'definitely not xml',
      '<a>'.repeat(16_000),
      '<CreateBucketConfiguration><LocationConstraint>a & b</LocationConstraint></CreateBucketConfiguration>',
      '<CreateBucketConfiguration a="1" a="2"/>',
      '<CreateBucketConfiguration><LocationConstraint>us</Location></CreateBucketConfiguration>',
      '\u0000\u0001<',
    ];
    for (const [i, body] of bodies.entries()) {
      const r = await call(url, 'PUT', `/new-bucket-${i}`, user, { body });
      assert.equal(r.status, 400, `body ${i}: ${r.status} ${r.text.slice(0, 200)}`);
      assert.equal(s3Code(r), 'MalformedXML', `body ${i}`);
      assert.equal((await call(url, 'HEAD', `/new-bucket-${i}`, user)).status, 404, `bucket ${i} was not created`);
    }
    const buckets = await call(url, 'GET', '/', user);
    assert.deepEqual([...buckets.text.matchAll(/<Name>([^<]*)<\/Name>/g)].map((m) => m[1]), [B]);
  });

  it('rejects malformed JSON on PUT /admin/metadata/user with a JSON 400', async () => {
    const bodies = ['{"data": {"user_id": "x"', '{data: 1}', 'null', '[]', '"x"', '{"data": "x"}', '{"data": {"user_id": "someone-else"}}', `${'['.repeat(100_000)}${']'.repeat(100_000)}`, '\u0000'];
    for (const body of bodies) {
      const r = await call(url, 'PUT', '/admin/metadata/user?key=x', t, { body });
      assert.equal(r.status, 400, `${body.slice(0, 40)}: ${r.status} ${r.text}`);
      assert.equal(typeof jsonCode(r), 'string', `${body.slice(0, 40)}: ${r.text}`);
    }
    const get = await call(url, 'GET', '/admin/metadata/user?key=x', t);
    assert.equal(get.status, 404, 'no user x was created');
  });

  it('rejects malformed JSON on POST /admin/replica_log work_bound with a JSON 400', async () => {
    const q = 'work_bound&type=metadata&id=0&marker=m&time=t&daemon_id=d';
    const bodies = ['[{"name": "a", ', '{}', '[null]', '[{"name": 1}]', '[{"name": "a"}] trailing', `${'['.repeat(100_000)}${']'.repeat(100_000)}`];
    for (const body of bodies) {
      const r = await call(url, 'POST', `/admin/replica_log?${q}`, t, { body });
      assert.equal(r.status, 400, `${body.slice(0, 40)}: ${r.status} ${r.text}`);
      assert.equal(typeof jsonCode(r), 'string', `${body.slice(0, 40)}: ${r.text}`);
    }
    const bounds = await call(url, 'GET', '/admin/replica_log?bounds&type=metadata&id=0', t);
    assert.equal(bounds.status, 404, `no bound was stored: ${bounds.text}`);
  });

  // ---------- lying framing ----------

  it('stores nothing when the body is shorter than Content-Length (half-close)', async (tc) => {
    const files = objectFileCount();
    const head = signedHead('PUT', `/${B}/short`, { 'content-length': '1000' });
    const res = await socketExchange([head, '0123456789'], { halfClose: true });
    assert.ok(!statuses(res.text).some((s) => s < 300), `no success answer: ${res.text}`);
    tc.diagnostic(`short body: answered ${JSON.stringify(statuses(res.text))}, closed ${res.closed}`);
    assert.equal((await call(url, 'GET', `/${B}/short`, user)).status, 404);
    await eventually('the partial upload is cleaned up', () => readdirSync(join(dataDir, 'tmp')).length === 0);
    assert.equal(objectFileCount(), files);
  });

  it('stores nothing when the client vanishes mid-body', async () => {
    const files = objectFileCount();
    const head = signedHead('PUT', `/${B}/vanished`, { 'content-length': String(1 << 20) });
    await socketExchange([head, randomBytes(300_000)], { destroyAfterWrite: true });
    await eventually('the partial upload is cleaned up', () => readdirSync(join(dataDir, 'tmp')).length === 0);
    assert.equal((await call(url, 'GET', `/${B}/vanished`, user)).status, 404);
    assert.equal(objectFileCount(), files);
  });

  it('reads exactly Content-Length bytes when more are sent on a keep-alive connection', async () => {
    const declared = '0123456789';
    // Extra bytes that are not HTTP: the object gets the declared 10 bytes; the rest is a bad request.
    const a = await socketExchange([signedHead('PUT', `/${B}/long-a`, { 'content-length': '10', connection: 'keep-alive' }, sha256(declared)), `${declared}THIS IS NOT HTTP AT ALL\r\n\r\n`]);
    assert.equal(statuses(a.text)[0], 200, a.text);
    assert.ok(statuses(a.text).slice(1).every((s) => s === 400), a.text);
    // Extra bytes that are a second, unsigned request: answered on its own (403), never merged into the body.
    const b = await socketExchange(
      [signedHead('PUT', `/${B}/long-b`, { 'content-length': '10', connection: 'keep-alive' }, sha256(declared)), `${declared}DELETE /${B}/long-a HTTP/1.1\r\nhost: ${host}\r\n\r\n`],
      { until: (text) => statuses(text).length >= 2 },
    );
    assert.deepEqual(statuses(b.text), [200, 403], b.text);
    for (const k of ['long-a', 'long-b']) {
      const r = await call(url, 'GET', `/${B}/${k}`, user);
      assert.equal(r.status, 200, `${k} was stored (and not deleted by the smuggled request)`);
      assert.equal(r.text, declared);
      assert.equal(r.headers.etag, `"${md5(declared)}"`);
      assert.equal((await call(url, 'DELETE', `/${B}/${k}`, user)).status, 204);
    }
  });

  it('refuses ambiguous framing (conflicting lengths, chunked without length)', async (tc) => {
    const files = objectFileCount();
    for (const [name, extra] of [
      ['two-lengths', 'content-length: 5\r\ncontent-length: 7\r\n'],
      ['te-and-cl', 'transfer-encoding: chunked\r\ncontent-length: 5\r\n'],
      ['bad-length', 'content-length: 5x\r\n'],
      ['negative-length', 'content-length: -5\r\n'],
    ] as const) {
      const head = signedHead('PUT', `/${B}/${name}`, {}).replace(/\r\n\r\n$/, `\r\n${extra}\r\n`);
      const res = await socketExchange([head, '5\r\nhello\r\n0\r\n\r\n'], { until: (text) => statuses(text).length >= 1 });
      const st = statuses(res.text);
      assert.ok(st.length === 0 ? res.closed : st[0] === 400, `${name}: ${res.text}`);
      tc.diagnostic(`${name}: answered ${JSON.stringify(st)}, closed ${res.closed}`);
      assert.equal((await call(url, 'GET', `/${B}/${name}`, user)).status, 404, name);
    }
    // Chunked without Content-Length: 411 (the zone needs the length up front), nothing stored.
    const head = signedHead('PUT', `/${B}/chunked`, {}).replace(/\r\n\r\n$/, '\r\ntransfer-encoding: chunked\r\n\r\n');
    const res = await socketExchange([head, '5\r\nhello\r\n0\r\n\r\n'], { until: (text) => statuses(text).length >= 1 });
    assert.deepEqual(statuses(res.text), [411], res.text);
    assert.equal((await call(url, 'GET', `/${B}/chunked`, user)).status, 404);
    assert.equal(objectFileCount(), files);
  });

  // ---------- admin API ----------

  it('answers unknown admin resources and parameters', async () => {
    const unknown = await call(url, 'GET', '/admin/doesnotexist', t);
    assert.equal(unknown.status, 405, unknown.text);
    assert.deepEqual(jsonCode(unknown), 'MethodNotAllowed');
    const bogus = await call(url, 'GET', '/admin/log?type=bogus', t);
    assert.equal(bogus.status, 400, bogus.text);
    assert.equal(typeof jsonCode(bogus), 'string');
    const otp = await call(url, 'GET', '/admin/metadata/otp', t);
    assert.equal(otp.status, 404, otp.text);
    assert.equal(typeof jsonCode(otp), 'string');
    for (const p of ['/admin/log?type=data&id=99999', '/admin/log?type=data&id=-1', '/admin/log?type=metadata&id=0&max-entries=abc', '/admin/metadata/user?key=', '/admin/user']) {
      const r = await call(url, 'GET', p, t);
      assert.equal(r.status, 400, `${p}: ${r.text}`);
      assert.equal(typeof jsonCode(r), 'string');
    }
    const dots = await raw('GET', '/admin/../admin/config', { creds: t });
    assert.ok(dots.status === 405 || dots.status === 200, `/admin/../admin/config: ${dots.status} ${dots.text}`);
    const notSystem = await call(url, 'GET', '/admin/config', user);
    assert.equal(notSystem.status, 403);
    assert.equal(jsonCode(notSystem), 'AccessDenied');
  });

  // ---------- garbage on the wire ----------

  it('answers oversized headers with 431 (or closes) and survives', async (tc) => {
    for (const head of [
      `GET /${B} HTTP/1.1\r\nhost: ${host}\r\nx-big: ${'a'.repeat(64 << 10)}\r\n\r\n`,
      `GET /${B}/${'k'.repeat(64 << 10)} HTTP/1.1\r\nhost: ${host}\r\n\r\n`,
      `GET /${B} HTTP/1.1\r\nhost: ${host}\r\n${Array.from({ length: 3000 }, (_, i) => `x-h${i}: v\r\n`).join('')}\r\n`,
    ]) {
      const res = await socketExchange([head]);
      const st = statuses(res.text);
      assert.ok(st.length === 0 ? res.closed : st[0] === 431, `answered ${res.text.slice(0, 200)}`);
      tc.diagnostic(`${head.length} byte head: answered ${JSON.stringify(st)}${res.error ? ` (${res.error})` : ''}`);
    }
  });

  it('survives bytes that are not HTTP', async (tc) => {
    const inputs: (Buffer | string)[] = [
      randomBytes(4096),
      '\r\n\r\n\r\n',
      'GET / HTTP/9.9\r\n\r\n',
      'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
      Buffer.from('16030100c4010000c00303', 'hex'),
      'GET /\0 HTTP/1.1\r\nhost: x\r\n\r\n',
      `GET /${B} HTTP/1.1\r\nhost: x\r\nbad header line\r\n\r\n`,
      `GET /${B} HTTP/1.1\r\nhost: x\r\nx-a: \x01\x02\r\n\r\n`,
      Buffer.alloc(70_000, 0x41),
    ];
    for (const input of inputs) {
      const res = await socketExchange([input], { halfClose: true });
      const st = statuses(res.text);
      assert.ok(st.every((s) => s >= 400), `garbage answered ${res.text.slice(0, 200)}`);
      tc.diagnostic(`${JSON.stringify(input.toString('latin1').slice(0, 24))}...: answered ${JSON.stringify(st)}`);
    }
    // A request head cut off mid-way.
    await socketExchange([`PUT /${B}/cut HTTP/1.1\r\nhost: ${host}\r\ncontent-len`], { halfClose: true });
    assert.equal((await call(url, 'GET', `/${B}/cut`, user)).status, 404);
  });

  // ---------- auth and digests ----------

  it('refuses unsigned and badly signed requests with 403', async () => {
    const files = objectFileCount();
    for (const [method, path] of [['GET', '/'], ['GET', `/${B}`], ['PUT', `/${B}/unsigned`], ['DELETE', `/${B}/health-check`], ['PUT', '/unsigned-bucket']] as const) {
      const r = await raw(method, path, { creds: null, body: method === 'PUT' ? 'x' : undefined });
      assert.equal(r.status, 403, `${method} ${path}: ${r.text}`);
      assert.equal(s3Code(r), 'AccessDenied');
    }
    const admin = await raw('GET', '/admin/metadata/user', { creds: null });
    assert.equal(admin.status, 403);
    assert.equal(jsonCode(admin), 'AccessDenied');
    const wrongSecret = await call(url, 'PUT', `/${B}/forged`, { accessKey: user.accessKey, secretKey: 'not-the-secret' }, { body: 'x' });
    assert.equal(wrongSecret.status, 403);
    assert.equal(s3Code(wrongSecret), 'SignatureDoesNotMatch');
    const unknownKey = await call(url, 'GET', `/${B}`, { accessKey: 'NOSUCHKEY', secretKey: 'x' });
    assert.equal(unknownKey.status, 403);
    assert.equal(s3Code(unknownKey), 'InvalidAccessKeyId');
    for (const k of ['unsigned', 'forged']) assert.equal((await call(url, 'GET', `/${B}/${k}`, user)).status, 404);
    assert.equal((await call(url, 'HEAD', '/unsigned-bucket', user)).status, 404);
    assert.equal(objectFileCount(), files);
  });

  it('rejects a Content-MD5 or x-amz-content-sha256 that does not match, keeping the old object', async () => {
    const old = 'the original';
    assert.equal((await call(url, 'PUT', `/${B}/digest`, user, { body: old })).status, 200);
    const files = objectFileCount();
    const body = 'the new body';
    const wrongMd5 = createHash('md5').update('something else').digest('base64');
    for (const key of ['digest', 'digest-new']) {
      const r = await call(url, 'PUT', `/${B}/${key}`, user, { body, headers: { 'content-md5': wrongMd5 } });
      assert.equal(r.status, 400, r.text);
      assert.equal(s3Code(r), 'BadDigest');
      const bad = await call(url, 'PUT', `/${B}/${key}`, user, { body, headers: { 'content-md5': 'not base64 md5' } });
      assert.equal(bad.status, 400, bad.text);
      assert.equal(s3Code(bad), 'InvalidDigest');
      const sha = await raw('PUT', `/${B}/${key}`, { body, bodySha256: sha256('something else') });
      assert.equal(sha.status, 400, sha.text);
      assert.equal(s3Code(sha), 'XAmzContentSHA256Mismatch');
    }
    assert.equal((await call(url, 'GET', `/${B}/digest-new`, user)).status, 404);
    const got = await call(url, 'GET', `/${B}/digest`, user);
    assert.equal(got.text, old);
    assert.equal(got.headers.etag, `"${md5(old)}"`);
    assert.equal(objectFileCount(), files);
    const good = await call(url, 'PUT', `/${B}/digest`, user, { body, headers: { 'content-md5': createHash('md5').update(body).digest('base64') } });
    assert.equal(good.status, 200, good.text);
    assert.equal((await call(url, 'DELETE', `/${B}/digest`, user)).status, 204);
  });
});
