import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3Client, PutObjectCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { signRequest, s3Encode, v2StringToSign, type Credentials, type SignatureVersion } from '../src/rgw/sign.js';
import { authenticate, type AuthResult, type KeyInfo } from '../src/zone/auth.js';

const CREDS: Credentials = { accessKey: 'AKIDSYNCAGENT0001', secretKey: 'sEcReT/with+odd=chars~0123456789' };
const KEYS = new Map<string, KeyInfo>([[CREDS.accessKey, { uid: 'sync-user', secretKey: CREDS.secretKey, system: true }]]);
const lookup = (ak: string): KeyInfo | undefined => KEYS.get(ak);
const HOST = '127.0.0.1:8101';
const KAT_DATE = new Date(Date.UTC(2026, 10, 21, 22, 43, 51));

const sha256 = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');
const sha1b64 = (secret: string, sts: string): string => createHmac('sha1', secret).update(sts, 'utf8').digest('base64');

function verify(method: string, rawUrl: string, headers: Record<string, string>, now?: Date): AuthResult {
  return authenticate({ method, rawUrl, headers, ...(now ? { now } : {}) }, lookup);
}

function assertFail(r: AuthResult, status: number, code: string): void {
  assert.equal(r.ok, false, `expected ${code}, got ok`);
  if (r.ok) return;
  assert.equal(r.code, code, r.message);
  assert.equal(r.status, status);
  assert.ok(!r.message.includes(CREDS.secretKey));
}

const AWKWARD_KEYS = [
  'plain.txt', 'with space', 'plus+sign', 'tilde~x', '100%', 'pct%20literal', 'ünïcødé/日本語 ✓', 'dir/sub/file',
  '../escape', 'a/./b//c', "odd!'()*chars", 'emoji 🚀+', 'trailing/', '\uFEFFleading-bom',
];
const QUERIES = [
  '', '?lock&type=metadata&id=0', '?id=0&type=metadata&lock', '?prefix=a%20b&delimiter=%2F', '?uploads',
  '?versions&marker=x&max-keys=10', `?prefix=${s3Encode('ü +~/', false)}&list-type=2`, '?uploadId=u%2B1&partNumber=3',
  '?prefix=%EF%BB%BFbom&%EF%BB%BFk=1', // a leading BOM must survive decoding
];
const METHODS = ['GET', 'PUT', 'DELETE', 'HEAD', 'POST'];
const VERSIONS: SignatureVersion[] = ['v2', 'v4'];

test('s3Encode keeps only RFC 3986 unreserved characters (and / for keys)', () => {
  assert.equal(s3Encode("a b+c~d%e/f!'()*ü", true), "a%20b%2Bc~d%25e/f%21%27%28%29%2A%C3%BC");
  assert.equal(s3Encode('a/b', false), 'a%2Fb');
});

test('round trip signRequest -> authenticate for awkward keys, queries and methods', () => {
  let n = 0;
  for (const version of VERSIONS) {
    for (const key of AWKWARD_KEYS) {
      for (const q of QUERIES) {
        for (const method of METHODS) {
          const path = `/bucket/${s3Encode(key, true)}${q}`;
          const body = method === 'PUT' ? Buffer.from(`body of ${key}`) : undefined;
          const headers: Record<string, string> = body ? { 'Content-Type': 'text/plain', 'x-amz-meta-Owner': ' a   b ' } : {};
          const signed = signRequest({ method, host: HOST, path, headers, ...(body ? { bodySha256: sha256(body) } : {}) }, CREDS, version);
          const r = verify(method, path, signed);
          assert.ok(r.ok, `${version} ${method} ${path}: ${r.ok ? '' : r.code + ' ' + r.message}`);
          assert.equal(r.version, version);
          assert.equal(r.key.uid, 'sync-user');
          if (version === 'v4') assert.equal(r.payloadSha256, body ? sha256(body) : undefined);
          n++;
        }
      }
    }
  }
  assert.equal(n, VERSIONS.length * AWKWARD_KEYS.length * QUERIES.length * METHODS.length);
});

test('returned headers: lowercase names, host, dates, content sha', () => {
  const v4 = signRequest({ method: 'GET', host: HOST, path: '/b', headers: { 'X-Amz-Meta-A': '1' } }, CREDS, 'v4', KAT_DATE);
  assert.equal(v4['host'], HOST);
  assert.equal(v4['x-amz-date'], '20261121T224351Z');
  assert.equal(v4['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD');
  assert.equal(v4['x-amz-meta-a'], '1');
  assert.match(v4['authorization'] ?? '', /^AWS4-HMAC-SHA256 Credential=AKIDSYNCAGENT0001\/20261121\/us-east-1\/s3\/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-meta-a, Signature=[0-9a-f]{64}$/);
  assert.ok(Object.keys(v4).every((k) => k === k.toLowerCase()));
  const v2 = signRequest({ method: 'GET', host: HOST, path: '/b', headers: {} }, CREDS, 'v2', KAT_DATE);
  assert.equal(v2['date'], 'Sat, 21 Nov 2026 22:43:51 GMT');
  assert.equal(v2['x-amz-content-sha256'], undefined);
});

test('query parameter order on the wire does not matter', () => {
  const v4 = signRequest({ method: 'GET', host: HOST, path: '/b?a=1&lock&c=%20x&b=', headers: {} }, CREDS, 'v4');
  assert.ok(verify('GET', '/b?c=%20x&b=&lock&a=1', v4).ok);
  // '+' in a query is a space, so both spellings canonicalise identically.
  assert.ok(verify('GET', '/b?c=+x&b&lock=&a=1', v4).ok);
  const v2 = signRequest({ method: 'GET', host: HOST, path: '/b/k?versionId=1&uploads', headers: {} }, CREDS, 'v2');
  assert.ok(verify('GET', '/b/k?uploads&versionId=1', v2).ok);
});

test('wrong secret, unknown key, tampering', () => {
  for (const version of VERSIONS) {
    const bad = signRequest({ method: 'GET', host: HOST, path: '/b/k', headers: {} }, { ...CREDS, secretKey: 'nope' }, version);
    assertFail(verify('GET', '/b/k', bad), 403, 'SignatureDoesNotMatch');
    const unknown = signRequest({ method: 'GET', host: HOST, path: '/b/k', headers: {} }, { ...CREDS, accessKey: 'AKIDNOBODY' }, version);
    assertFail(verify('GET', '/b/k', unknown), 403, 'InvalidAccessKeyId');
    const ok = signRequest({ method: 'GET', host: HOST, path: '/b/k%20x', headers: { 'x-amz-meta-a': '1' } }, CREDS, version);
    assertFail(verify('GET', '/b/k%20y', ok), 403, 'SignatureDoesNotMatch');
    assertFail(verify('DELETE', '/b/k%20x', ok), 403, 'SignatureDoesNotMatch');
    assertFail(verify('GET', '/b/k%20x', { ...ok, 'x-amz-meta-a': '2' }), 403, 'SignatureDoesNotMatch');
    // SigV2 never covered Host; SigV4 does.
    if (version === 'v4') assertFail(verify('GET', '/b/k%20x', { ...ok, host: 'evil:1' }), 403, 'SignatureDoesNotMatch');
    else assert.ok(verify('GET', '/b/k%20x', { ...ok, host: 'evil:1' }).ok);
  }
  const v4 = signRequest({ method: 'GET', host: HOST, path: '/admin/log?type=metadata&id=0&marker=a', headers: {} }, CREDS, 'v4');
  assertFail(verify('GET', '/admin/log?type=metadata&id=1&marker=a', v4), 403, 'SignatureDoesNotMatch');
  assertFail(verify('GET', '/admin/log?type=metadata&id=0&marker=a&extra', v4), 403, 'SignatureDoesNotMatch');
  // A body hash is signed, so swapping it breaks the signature.
  const put = signRequest({ method: 'PUT', host: HOST, path: '/b/k', headers: {}, bodySha256: sha256('x') }, CREDS, 'v4');
  assertFail(verify('PUT', '/b/k', { ...put, 'x-amz-content-sha256': sha256('y') }), 403, 'SignatureDoesNotMatch');
});

test('SigV2 signs only boto sub-resources: marker is free, versions/uploads are not', () => {
  const m = signRequest({ method: 'GET', host: HOST, path: '/b?marker=a&max-keys=5', headers: {} }, CREDS, 'v2');
  assert.ok(verify('GET', '/b?marker=zzz', m).ok);
  for (const sub of ['versions', 'uploads']) {
    const s = signRequest({ method: 'GET', host: HOST, path: `/b?${sub}`, headers: {} }, CREDS, 'v2');
    assert.ok(verify('GET', `/b?${sub}&marker=x`, s).ok);
    assertFail(verify('GET', '/b', s), 403, 'SignatureDoesNotMatch');
    assertFail(verify('GET', '/b?marker=x', s), 403, 'SignatureDoesNotMatch');
  }
  const unsigned = signRequest({ method: 'GET', host: HOST, path: '/b', headers: {} }, CREDS, 'v2');
  assertFail(verify('GET', '/b?versions', unsigned), 403, 'SignatureDoesNotMatch');
});

test('SigV2 known answer (boto 2 canonical_string)', () => {
  const expected = sha1b64(CREDS.secretKey, 'GET\n\n\nSat, 21 Nov 2026 22:43:51 GMT\n/admin/log');
  const path = '/admin/log?info&type=metadata&id=0';
  const h = signRequest({ method: 'GET', host: HOST, path, headers: {} }, CREDS, 'v2', KAT_DATE);
  assert.equal(h['authorization'], `AWS ${CREDS.accessKey}:${expected}`);
  assert.ok(verify('GET', path, h, KAT_DATE).ok);

  // asctime dates are signed verbatim.
  const asctime = 'Sat Nov 21 22:43:51 2026';
  const sig = sha1b64(CREDS.secretKey, `GET\n\n\n${asctime}\n/admin/log`);
  assert.ok(verify('GET', path, { host: HOST, date: asctime, authorization: `AWS ${CREDS.accessKey}:${sig}` }, KAT_DATE).ok);
  assertFail(verify('GET', path, { host: HOST, date: asctime, authorization: `AWS ${CREDS.accessKey}:${sig}` }, new Date(KAT_DATE.getTime() + 16 * 60_000)), 403, 'RequestTimeTooSkewed');

  // Sub-resources sorted by name with decoded values ('+' stays '+'); content headers; amz headers trimmed.
  const sts2 = 'PUT\nrL0Y20zC+Fzt72VPzMSk2A==\ntext/plain\nSat, 21 Nov 2026 22:43:51 GMT\nx-amz-acl:private\nx-amz-meta-b:v  w\n' +
    '/b/k%20x?partNumber=2&uploadId=a+b c/d';
  const put = signRequest({
    method: 'PUT', host: HOST, path: '/b/k%20x?uploadId=a+b%20c%2Fd&marker=z&partNumber=2',
    headers: { 'Content-MD5': 'rL0Y20zC+Fzt72VPzMSk2A==', 'Content-Type': 'text/plain', 'X-Amz-Meta-B': ' v  w ', 'x-amz-acl': 'private' },
  }, CREDS, 'v2', KAT_DATE);
  assert.equal(put['authorization'], `AWS ${CREDS.accessKey}:${sha1b64(CREDS.secretKey, sts2)}`);
  assert.ok(verify('PUT', '/b/k%20x?uploadId=a+b%20c%2Fd&marker=z&partNumber=2', put, KAT_DATE).ok);

  // With x-amz-date the Date line is blank and x-amz-date is signed as an amz header.
  assert.equal(v2StringToSign('GET', '/b', { date: 'whatever', 'x-amz-date': 'Sat, 21 Nov 2026 22:43:51 GMT' }),
    'GET\n\n\n\nx-amz-date:Sat, 21 Nov 2026 22:43:51 GMT\n/b');
  const xd = signRequest({ method: 'GET', host: HOST, path: '/b', headers: { 'x-amz-date': 'Sat, 21 Nov 2026 22:43:51 GMT' } }, CREDS, 'v2', new Date(0));
  assert.ok(verify('GET', '/b', xd, KAT_DATE).ok, 'x-amz-date wins over a stale Date');
});

test('clock skew, missing and malformed Authorization, unsigned amz headers', () => {
  for (const version of VERSIONS) {
    const h = signRequest({ method: 'GET', host: HOST, path: '/b', headers: {} }, CREDS, version, KAT_DATE);
    assert.ok(verify('GET', '/b', h, new Date(KAT_DATE.getTime() + 14 * 60_000)).ok);
    assertFail(verify('GET', '/b', h, new Date(KAT_DATE.getTime() - 16 * 60_000)), 403, 'RequestTimeTooSkewed');
  }
  assertFail(verify('GET', '/b', { host: HOST }), 403, 'AccessDenied');
  assertFail(verify('GET', '/b', { host: HOST, authorization: 'Bearer x' }), 403, 'AccessDenied');
  assertFail(verify('GET', '/b', { host: HOST, date: KAT_DATE.toUTCString(), authorization: 'AWS nocolon' }), 403, 'AccessDenied');
  const v4 = signRequest({ method: 'GET', host: HOST, path: '/b', headers: {} }, CREDS, 'v4');
  assertFail(verify('GET', '/b', { ...v4, authorization: 'AWS4-HMAC-SHA256 Credential=x' }), 400, 'AuthorizationHeaderMalformed');
  assertFail(verify('GET', '/b', { ...v4, authorization: (v4['authorization'] ?? '').replace('/s3/', '/iam/') }), 400, 'AuthorizationHeaderMalformed');
  assertFail(verify('GET', '/b', { ...v4, authorization: (v4['authorization'] ?? '').replace(/\/\d{8}\//, '/19990101/') }), 400, 'AuthorizationHeaderMalformed');
  // Any region is accepted in the scope: it only feeds key derivation.
  const eu = signRequest({ method: 'GET', host: HOST, path: '/b', headers: {}, region: 'eu-central-1' }, CREDS, 'v4');
  assert.ok(verify('GET', '/b', eu).ok);
  assertFail(verify('GET', '/b', { ...v4, 'x-amz-copy-source': '/other/key' }), 403, 'AccessDenied');
  for (const evil of ['constructor', '__proto__', 'toString']) {
    const auth = (v4['authorization'] ?? '').replace('SignedHeaders=host;', `SignedHeaders=${evil};host;`);
    assertFail(verify('GET', '/b', { ...v4, authorization: auth }), 403, 'AccessDenied');
  }
});

test('malformed percent-escapes fail cleanly instead of throwing', () => {
  for (const version of VERSIONS) {
    const h = signRequest({ method: 'GET', host: HOST, path: '/b/ok?versionId=1', headers: {} }, CREDS, version);
    for (const raw of ['/b/%ZZ', '/b/%C3%28', '/b/ok?prefix=%E0%A4', '/b/ok?versionId=%G1', '/b/50%', '/b/%']) {
      let r: AuthResult | undefined;
      assert.doesNotThrow(() => { r = verify('GET', raw, h); });
      assert.ok(r);
      assertFail(r, 400, 'InvalidArgument');
    }
  }
  assert.throws(() => signRequest({ method: 'GET', host: HOST, path: '/b/%ZZ', headers: {} }, CREDS, 'v4'), URIError);
});

// ---------- over real HTTP ----------

interface Seen { method: string; url: string; headers: http.IncomingHttpHeaders; result: AuthResult; bodyOk: boolean }
const seen: Seen[] = [];
let server: http.Server;
let port = 0;
const LIST_XML = '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
  '<Name>bkt</Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>';

before(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const result = authenticate({ method: req.method ?? 'GET', rawUrl: req.url ?? '/', headers: req.headers }, lookup);
      const bodyOk = !result.ok || result.payloadSha256 === undefined || result.payloadSha256 === sha256(body);
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, result, bodyOk });
      if (result.ok && bodyOk) {
        res.writeHead(200, { 'content-type': 'application/xml' }).end(LIST_XML);
      } else {
        const code = result.ok ? 'XAmzContentSHA256Mismatch' : result.code;
        res.writeHead(result.ok ? 400 : result.status, { 'content-type': 'application/xml' })
          .end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>denied</Message><RequestId>t</RequestId></Error>`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function send(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('signRequest over a real HTTP socket (path bytes survive Node unchanged)', async () => {
  for (const version of VERSIONS) {
    for (const key of ['../up/ünï code+plus~ %', 'a//b/./c', "x!'()*"]) {
      const path = `/bkt/${s3Encode(key, true)}?lock&type=metadata&id=0`;
      const body = Buffer.from('payload');
      const headers = signRequest({ method: 'PUT', host: `127.0.0.1:${port}`, path, headers: { 'content-type': 'text/plain' }, bodySha256: sha256(body) }, CREDS, version);
      assert.equal(await send('PUT', path, headers, body), 200, `${version} ${path}: ${JSON.stringify(seen.at(-1)?.result)}`);
      assert.equal(seen.at(-1)?.url, path);
    }
  }
});

test('AWS SDK v3 signatures are accepted, and signRequest reproduces them byte for byte', async () => {
  const mk = (secretAccessKey: string): S3Client => new S3Client({
    region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true,
    credentials: { accessKeyId: CREDS.accessKey, secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED', maxAttempts: 1,
  });
  const client = mk(CREDS.secretKey);
  const bad = mk('wrong-secret');
  try {
    const key = 'dir/with space/ünïcødé+plus~tilde%pct (1).txt';
    const body = Buffer.from('hello from the sdk');
    const start = seen.length;
    await client.send(new PutObjectCommand({ Bucket: 'bkt', Key: key, Body: body, ContentType: 'text/plain', Metadata: { origin: 'zone a' } }));
    const got = await client.send(new GetObjectCommand({ Bucket: 'bkt', Key: key }));
    await got.Body?.transformToString();
    await client.send(new ListObjectsV2Command({ Bucket: 'bkt', Prefix: 'dir/with space/ü', Delimiter: '/', StartAfter: 'a+b' }));
    const reqs = seen.slice(start);
    assert.equal(reqs.length, 3);
    for (const r of reqs) {
      assert.ok(r.result.ok, `${r.method} ${r.url}: ${JSON.stringify(r.result)}`);
      assert.ok(r.bodyOk);
      assert.equal(r.result.version, 'v4');
    }
    const put = reqs[0]!;
    assert.equal(put.result.ok && put.result.payloadSha256, sha256(body));
    assert.equal(put.url.split('?')[0], `/bkt/${s3Encode(key, true)}`, 'SDK encodes keys exactly like s3Encode');

    for (const r of reqs) {
      const auth = String(r.headers['authorization']);
      const names = /SignedHeaders=([^,]+)/.exec(auth)?.[1]?.split(';') ?? [];
      const headers: Record<string, string> = {};
      for (const n of names) if (!['host', 'x-amz-date', 'x-amz-content-sha256'].includes(n)) headers[n] = String(r.headers[n]);
      const date = String(r.headers['x-amz-date']).replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z');
      const ours = signRequest({ method: r.method, host: String(r.headers['host']), path: r.url, headers, bodySha256: String(r.headers['x-amz-content-sha256']) }, CREDS, 'v4', new Date(date));
      assert.equal(ours['authorization'], auth, `${r.method} ${r.url} signed ${names.join(';')}`);
    }

    await assert.rejects(bad.send(new GetObjectCommand({ Bucket: 'bkt', Key: key })), (e: unknown) => (e as Error).name === 'SignatureDoesNotMatch');
  } finally {
    client.destroy();
    bad.destroy();
  }
});
