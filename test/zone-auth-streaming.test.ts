/**
 * What current S3 clients send to the embedded zone: aws-chunked bodies (signed, signed with a
 * trailer, unsigned with a trailer), x-amz-checksum-*, presigned URLs (SigV4 and SigV2), boto3's
 * SigV2 bucket path, and that presigned signatures never reach the zone's log.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { request } from 'undici';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { makeRealm, type TestRealm } from './helpers/realm.js';
import { call } from './helpers/http.js';
import { amzDate, signRequest, v2Signature, v2StringToSign } from '../src/rgw/sign.js';
import { startZone, type RunningZone } from '../src/zone/server.js';
import { BodyChecksum, crc32c } from '../src/zone/checksums.js';
import { AwsChunkedDecoder } from '../src/zone/chunked.js';

interface Creds { accessKey: string; secretKey: string }
const REGION = 'us-east-1';

const sha256hex = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const hmac = (k: Buffer | string, d: string): Buffer => createHmac('sha256', k).update(d, 'utf8').digest();
const b64crc32 = (b: Buffer): string => { const o = Buffer.alloc(4); o.writeUInt32BE(crc32(b)); return o.toString('base64'); };
const b64crc32c = (b: Buffer): string => { const o = Buffer.alloc(4); o.writeUInt32BE(crc32c(b)); return o.toString('base64'); };
const b64sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('base64');

function kSigning(secret: string, date: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), REGION), 's3'), 'aws4_request');
}

function pieces(body: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < body.length; i += size) out.push(body.subarray(i, i + size));
  return out;
}

/** An aws-chunked body as a client frames it; `tamper` flips one chunk signature. */
function chunkedBody(o: {
  data: Buffer; chunk: number; mode: 'signed' | 'signed-trailer' | 'unsigned-trailer';
  key?: Buffer; longDate?: string; scope?: string; seed?: string; trailer?: [string, string]; tamper?: number;
}): Buffer {
  const parts: Buffer[] = [];
  let prev = o.seed ?? '';
  const sign = (data: Buffer): string => {
    const sts = ['AWS4-HMAC-SHA256-PAYLOAD', o.longDate, o.scope, prev, sha256hex(''), sha256hex(data)].join('\n');
    prev = hmac(o.key!, sts).toString('hex');
    return prev;
  };
  const chunks = [...pieces(o.data, o.chunk), Buffer.alloc(0)];
  chunks.forEach((c, i) => {
    let head = c.length.toString(16);
    if (o.mode !== 'unsigned-trailer') {
      let sig = sign(c);
      if (o.tamper === i) sig = (sig[0] === 'a' ? 'b' : 'a') + sig.slice(1);
      head += `;chunk-signature=${sig}`;
    }
    parts.push(Buffer.from(`${head}\r\n`), c);
    if (c.length > 0) parts.push(Buffer.from('\r\n'));
  });
  if (o.mode === 'signed') parts.push(Buffer.from('\r\n'));
  else {
    const [name, value] = o.trailer!;
    let t = `${name}:${value}\r\n`;
    if (o.mode === 'signed-trailer') {
      const sts = ['AWS4-HMAC-SHA256-TRAILER', o.longDate, o.scope, prev, sha256hex(`${name}:${value}\n`)].join('\n');
      t += `x-amz-trailer-signature:${hmac(o.key!, sts).toString('hex')}\r\n`;
    }
    parts.push(Buffer.from(`${t}\r\n`));
  }
  return Buffer.concat(parts);
}

interface Sent { status: number; text: string; headers: Record<string, string | string[] | undefined> }

async function send(url: string, method: string, headers: Record<string, string>, body?: Buffer | Readable): Promise<Sent> {
  const r = await request(url, { method: method as 'PUT', headers, body });
  const text = await r.body.text();
  return { status: r.statusCode, text, headers: r.headers };
}

describe('embedded zone: streaming SigV4, checksums, presigned URLs', () => {
  let t: TestRealm;
  let zone: RunningZone;
  let alice: Creds;
  const logLines: string[] = [];

  before(async () => {
    t = await makeRealm({ zones: ['solo'] });
    zone = await startZone({ realm: t.realm, zoneName: 'solo', dataDir: join(t.dir, 'solo'), log: (level, msg) => { logLines.push(`${level} ${msg}`); } });
    const r = await call(zone.url, 'PUT', '/admin/user?uid=alice&display-name=Alice', t);
    assert.equal(r.status, 200, r.text);
    const k = r.json<{ keys: { access_key: string; secret_key: string }[] }>().keys[0]!;
    alice = { accessKey: k.access_key, secretKey: k.secret_key };
    assert.equal((await call(zone.url, 'PUT', '/bkt', alice)).status, 200);
  });

  after(async () => {
    await zone?.close();
    t?.cleanup();
  });

  const host = (): string => new URL(zone.url).host;

  /** Signs the headers of a streaming PUT and returns what the body's chunk signatures need. */
  function streamingPut(path: string, contentSha256: string, extra: Record<string, string>, decodedLength: number) {
    const now = new Date();
    const headers = signRequest({
      method: 'PUT', host: host(), path,
      headers: { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(decodedLength), ...extra },
      bodySha256: contentSha256,
    }, alice, 'v4', now);
    const seed = /Signature=([0-9a-f]{64})/.exec(headers.authorization!)![1]!;
    const longDate = headers['x-amz-date']!;
    return { headers, seed, longDate, scope: `${longDate.slice(0, 8)}/${REGION}/s3/aws4_request`, key: kSigning(alice.secretKey, longDate.slice(0, 8)) };
  }

  async function getObject(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer; headers: Record<string, string | string[] | undefined> }> {
    const r = await call(zone.url, 'GET', path, alice, { headers });
    return { status: r.status, body: r.body, headers: r.headers };
  }

  it('stores a signed aws-chunked body byte-exact, with Content-Encoding aws-chunked stripped', async () => {
    const data = randomBytes(300_000);
    const s = streamingPut('/bkt/signed', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', { 'content-type': 'application/x-test' }, data.length);
    const body = chunkedBody({ data, chunk: 65536, mode: 'signed', ...s });
    const r = await send(`${zone.url}/bkt/signed`, 'PUT', { ...s.headers, 'content-length': String(body.length) }, body);
    assert.equal(r.status, 200, r.text);
    const got = await getObject('/bkt/signed');
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(data));
    assert.equal(got.headers['content-encoding'], undefined);
    assert.equal(got.headers['content-type'], 'application/x-test');
  });

  it('keeps a real Content-Encoding next to aws-chunked', async () => {
    const data = Buffer.from('gzip-ish bytes');
    const s = streamingPut('/bkt/gz', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', { 'content-encoding': 'aws-chunked,gzip' }, data.length);
    const body = chunkedBody({ data, chunk: 5, mode: 'signed', ...s });
    const r = await send(`${zone.url}/bkt/gz`, 'PUT', { ...s.headers, 'content-length': String(body.length) }, body);
    assert.equal(r.status, 200, r.text);
    assert.equal((await getObject('/bkt/gz')).headers['content-encoding'], 'gzip');
  });

  it('takes a signed body with a signed trailer checksum over Transfer-Encoding: chunked', async () => {
    const data = randomBytes(200_000);
    const s = streamingPut('/bkt/trailer', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', { 'x-amz-trailer': 'x-amz-checksum-crc32c' }, data.length);
    const body = chunkedBody({ data, chunk: 8192, mode: 'signed-trailer', trailer: ['x-amz-checksum-crc32c', b64crc32c(data)], ...s });
    // No Content-Length: undici sends the stream with Transfer-Encoding: chunked.
    const r = await send(`${zone.url}/bkt/trailer`, 'PUT', s.headers, Readable.from(pieces(body, 7777)));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-amz-checksum-crc32c'], b64crc32c(data));
    const got = await getObject('/bkt/trailer', { 'x-amz-checksum-mode': 'ENABLED' });
    assert.ok(got.body.equals(data));
    assert.equal(got.headers['x-amz-checksum-crc32c'], b64crc32c(data));
    const plain = await getObject('/bkt/trailer');
    assert.equal(plain.headers['x-amz-checksum-crc32c'], undefined, 'the checksum is shown only with x-amz-checksum-mode');
  });

  it('takes an unsigned body with a CRC32 trailer', async () => {
    const data = randomBytes(150_000);
    const s = streamingPut('/bkt/unsigned', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', { 'x-amz-trailer': 'x-amz-checksum-crc32' }, data.length);
    const body = chunkedBody({ data, chunk: 65536, mode: 'unsigned-trailer', trailer: ['x-amz-checksum-crc32', b64crc32(data)] });
    const r = await send(`${zone.url}/bkt/unsigned`, 'PUT', { ...s.headers, 'content-length': String(body.length) }, body);
    assert.equal(r.status, 200, r.text);
    const head = await call(zone.url, 'HEAD', '/bkt/unsigned', alice, { headers: { 'x-amz-checksum-mode': 'ENABLED' } });
    assert.equal(head.headers['x-amz-checksum-crc32'], b64crc32(data));
    assert.ok((await getObject('/bkt/unsigned')).body.equals(data));
  });

  it('takes an aws-chunked body without x-amz-decoded-content-length, its size known only at its end', async () => {
    const data = randomBytes(90_000);
    const headers = signRequest({
      method: 'PUT', host: host(), path: '/bkt/nolength',
      headers: { 'content-encoding': 'aws-chunked', 'x-amz-trailer': 'x-amz-checksum-sha256' },
      bodySha256: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
    }, alice, 'v4');
    const body = chunkedBody({ data, chunk: 10_000, mode: 'unsigned-trailer', trailer: ['x-amz-checksum-sha256', b64sha256(data)] });
    const r = await send(`${zone.url}/bkt/nolength`, 'PUT', headers, Readable.from(pieces(body, 4096)));
    assert.equal(r.status, 200, r.text);
    assert.ok((await getObject('/bkt/nolength')).body.equals(data));
  });

  it('refuses a tampered chunk signature and stores nothing', async () => {
    const data = randomBytes(200_000);
    const s = streamingPut('/bkt/tampered', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', {}, data.length);
    const body = chunkedBody({ data, chunk: 65536, mode: 'signed', tamper: 1, ...s });
    const r = await send(`${zone.url}/bkt/tampered`, 'PUT', { ...s.headers, 'content-length': String(body.length) }, body);
    assert.equal(r.status, 403, r.text);
    assert.match(r.text, /SignatureDoesNotMatch/);
    assert.equal((await getObject('/bkt/tampered')).status, 404);
    // A trailer signature that does not match is refused as well.
    const s2 = streamingPut('/bkt/tampered2', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', { 'x-amz-trailer': 'x-amz-checksum-crc32' }, 10);
    const small = Buffer.from('0123456789');
    const good = chunkedBody({ data: small, chunk: 4, mode: 'signed-trailer', trailer: ['x-amz-checksum-crc32', b64crc32(small)], ...s2 });
    const bad = Buffer.from(good.toString('latin1').replace(/x-amz-trailer-signature:(.)/, (_m, c: string) => `x-amz-trailer-signature:${c === 'a' ? 'b' : 'a'}`), 'latin1');
    const r2 = await send(`${zone.url}/bkt/tampered2`, 'PUT', { ...s2.headers, 'content-length': String(bad.length) }, bad);
    assert.equal(r2.status, 403, r2.text);
    assert.equal((await getObject('/bkt/tampered2')).status, 404);
  });

  it('answers BadDigest for a wrong checksum in a header or in the trailer, and keeps the old object', async () => {
    const data = Buffer.from('checksummed body');
    const ok = await call(zone.url, 'PUT', '/bkt/sum', alice, { body: data, headers: { 'x-amz-checksum-sha256': b64sha256(data) } });
    assert.equal(ok.status, 200, ok.text);
    const wrong = await call(zone.url, 'PUT', '/bkt/sum', alice, { body: Buffer.from('other body'), headers: { 'x-amz-checksum-sha256': b64sha256(data) } });
    assert.equal(wrong.status, 400, wrong.text);
    assert.match(wrong.text, /BadDigest/);
    const got = await getObject('/bkt/sum', { 'x-amz-checksum-mode': 'ENABLED' });
    assert.ok(got.body.equals(data));
    assert.equal(got.headers['x-amz-checksum-sha256'], b64sha256(data));

    const s = streamingPut('/bkt/sum2', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', { 'x-amz-trailer': 'x-amz-checksum-crc32' }, data.length);
    const body = chunkedBody({ data, chunk: 4, mode: 'unsigned-trailer', trailer: ['x-amz-checksum-crc32', b64crc32(Buffer.from('not the body'))] });
    const r = await send(`${zone.url}/bkt/sum2`, 'PUT', { ...s.headers, 'content-length': String(body.length) }, body);
    assert.equal(r.status, 400, r.text);
    assert.match(r.text, /BadDigest/);
    assert.equal((await getObject('/bkt/sum2')).status, 404);
  });

  it('decodes whatever the network splits: one byte at a time', async () => {
    const data = randomBytes(3000);
    const s = streamingPut('/bkt/x', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', {}, data.length);
    const framed = chunkedBody({ data, chunk: 1000, mode: 'signed-trailer', trailer: ['x-amz-checksum-sha1', 'ignored'], ...s });
    const dec = new AwsChunkedDecoder({ mode: 'signed-trailer', signing: { signingKey: s.key, scope: s.scope, longDate: s.longDate, seedSignature: s.seed, contentSha256: '' }, maxBytes: data.length });
    const out: Buffer[] = [];
    dec.on('data', (c: Buffer) => out.push(c));
    const ended = new Promise<void>((resolve, reject) => { dec.on('end', resolve); dec.on('error', reject); });
    for (let i = 0; i < framed.length; i++) dec.write(framed.subarray(i, i + 1));
    dec.end();
    await ended;
    assert.ok(Buffer.concat(out).equals(data));
    assert.equal(dec.trailers.get('x-amz-checksum-sha1'), 'ignored');
  });

  it('answers 400 for broken framing and a body cut short, and stores nothing', async () => {
    const data = Buffer.from('abcdefghij');
    const s = streamingPut('/bkt/broken', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', { 'x-amz-trailer': 'x-amz-checksum-crc32' }, data.length);
    const good = chunkedBody({ data, chunk: 4, mode: 'unsigned-trailer', trailer: ['x-amz-checksum-crc32', b64crc32(data)] });
    const noCrlf = Buffer.from(good.toString('latin1').replace('abcd\r\n', 'abcdXY'), 'latin1');
    const cut = good.subarray(0, good.length - 10);
    const badSize = Buffer.from(good.toString('latin1').replace(/^4\r\n/, 'zz\r\n'), 'latin1');
    for (const body of [noCrlf, cut, badSize]) {
      const r = await send(`${zone.url}/bkt/broken`, 'PUT', { ...s.headers, 'content-length': String(body.length) }, body);
      assert.equal(r.status, 400, r.text);
      assert.match(r.text, /IncompleteBody/);
    }
    // More data than x-amz-decoded-content-length announced.
    const s2 = streamingPut('/bkt/broken', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', { 'x-amz-trailer': 'x-amz-checksum-crc32' }, 5);
    const r = await send(`${zone.url}/bkt/broken`, 'PUT', { ...s2.headers, 'content-length': String(good.length) }, good);
    assert.equal(r.status, 400, r.text);
    assert.equal((await getObject('/bkt/broken')).status, 404);
  });

  it('computes CRC-32C as RFC 3720 specifies', () => {
    assert.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa);
    assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    // A body checked as it streams, in pieces, gives the checksum of the whole.
    const big = randomBytes(1001);
    const running = new BodyChecksum('crc32c');
    for (const part of [big.subarray(0, 7), big.subarray(7, 500), big.subarray(500)]) running.update(part);
    const whole = Buffer.alloc(4);
    whole.writeUInt32BE(crc32c(big));
    assert.equal(running.digest(), whole.toString('base64'));
  });

  /** A presigned SigV4 URL built by hand: UNSIGNED-PAYLOAD, only host signed. */
  function presignV4(method: string, path: string, expires: number, at = new Date(), extra: [string, string][] = []): string {
    const longDate = amzDate(at);
    const scope = `${longDate.slice(0, 8)}/${REGION}/s3/aws4_request`;
    const q: [string, string][] = [
      ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'], ['X-Amz-Credential', `${alice.accessKey}/${scope}`], ['X-Amz-Date', longDate],
      ['X-Amz-Expires', String(expires)], ['X-Amz-SignedHeaders', 'host'], ...extra,
    ];
    const payload = extra.find(([k]) => k === 'X-Amz-Content-Sha256')?.[1] ?? 'UNSIGNED-PAYLOAD';
    const query = q.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).sort().join('&');
    const canonical = [method, path, query, `host:${host()}\n`, 'host', payload].join('\n');
    const sts = ['AWS4-HMAC-SHA256', longDate, scope, sha256hex(canonical)].join('\n');
    return `${path}?${query}&X-Amz-Signature=${hmac(kSigning(alice.secretKey, longDate.slice(0, 8)), sts).toString('hex')}`;
  }

  function presignV2(method: string, path: string, expires: number): string {
    const sts = v2StringToSign(method, path, { date: String(expires) });
    return `${path}?AWSAccessKeyId=${encodeURIComponent(alice.accessKey)}&Expires=${expires}&Signature=${encodeURIComponent(v2Signature(sts, alice.secretKey))}`;
  }

  it('serves presigned SigV4 PUT and GET; refuses expired, too long and tampered ones', async () => {
    const put = await send(`${zone.url}${presignV4('PUT', '/bkt/pre4', 300)}`, 'PUT', {}, Buffer.from('via presigned v4'));
    assert.equal(put.status, 200, put.text);
    const get = await send(`${zone.url}${presignV4('GET', '/bkt/pre4', 300)}`, 'GET', {});
    assert.equal(get.status, 200, get.text);
    assert.equal(get.text, 'via presigned v4');

    // As the AWS SDK's presigner writes them: the payload hash in the query, and x-id.
    const sdkStyle = await send(`${zone.url}${presignV4('GET', '/bkt/pre4', 300, new Date(), [['X-Amz-Content-Sha256', 'UNSIGNED-PAYLOAD'], ['x-id', 'GetObject']])}`, 'GET', {});
    assert.equal(sdkStyle.status, 200, sdkStyle.text);
    const body = Buffer.from('digest in the query');
    const digestPut = await send(`${zone.url}${presignV4('PUT', '/bkt/pre4d', 300, new Date(), [['X-Amz-Content-Sha256', sha256hex(body)]])}`, 'PUT', {}, body);
    assert.equal(digestPut.status, 200, digestPut.text);
    const wrongBody = await send(`${zone.url}${presignV4('PUT', '/bkt/pre4d', 300, new Date(), [['X-Amz-Content-Sha256', sha256hex(body)]])}`, 'PUT', {}, Buffer.from('another body'));
    assert.equal(wrongBody.status, 400, wrongBody.text);
    assert.match(wrongBody.text, /XAmzContentSHA256Mismatch/);

    const expired = await send(`${zone.url}${presignV4('GET', '/bkt/pre4', 60, new Date(Date.now() - 120_000))}`, 'GET', {});
    assert.equal(expired.status, 403);
    assert.match(expired.text, /<Code>AccessDenied<\/Code><Message>Request has expired/);
    const tooLong = await send(`${zone.url}${presignV4('GET', '/bkt/pre4', 7 * 24 * 3600 + 1)}`, 'GET', {});
    assert.equal(tooLong.status, 400, tooLong.text);
    const url = presignV4('GET', '/bkt/pre4', 300);
    const tampered = await send(`${zone.url}${url.replace('/bkt/pre4', '/bkt/other')}`, 'GET', {});
    assert.equal(tampered.status, 403);
    assert.match(tampered.text, /SignatureDoesNotMatch/);
    const flipped = await send(`${zone.url}${url.slice(0, -1)}${url.endsWith('0') ? '1' : '0'}`, 'GET', {});
    assert.equal(flipped.status, 403);
  });

  it('serves presigned SigV2 PUT and GET; refuses expired and tampered ones', async () => {
    const exp = Math.floor(Date.now() / 1000) + 300;
    const put = await send(`${zone.url}${presignV2('PUT', '/bkt/pre2', exp)}`, 'PUT', {}, Buffer.from('via presigned v2'));
    assert.equal(put.status, 200, put.text);
    const get = await send(`${zone.url}${presignV2('GET', '/bkt/pre2', exp)}`, 'GET', {});
    assert.equal(get.status, 200, get.text);
    assert.equal(get.text, 'via presigned v2');
    const expired = await send(`${zone.url}${presignV2('GET', '/bkt/pre2', Math.floor(Date.now() / 1000) - 10)}`, 'GET', {});
    assert.equal(expired.status, 403);
    assert.match(expired.text, /Request has expired/);
    const tampered = await send(`${zone.url}${presignV2('GET', '/bkt/pre2', exp).replace(`Expires=${exp}`, `Expires=${exp + 1}`)}`, 'GET', {});
    assert.equal(tampered.status, 403);
    assert.match(tampered.text, /SignatureDoesNotMatch/);
  });

  it('tells an anonymous request what it lacks', async () => {
    const r = await send(`${zone.url}/bkt/pre4`, 'GET', {});
    assert.equal(r.status, 403);
    assert.match(r.text, /no Authorization header and no presigned query/);
  });

  it('never logs a presigned signature', async () => {
    logLines.length = 0;
    const v4 = presignV4('GET', '/bkt/missing-key', 300);
    const sig4 = /X-Amz-Signature=([0-9a-f]+)/.exec(v4)![1]!;
    const v2 = presignV2('GET', '/bkt/missing-key', Math.floor(Date.now() / 1000) + 300);
    const sig2 = /Signature=([^&]+)$/.exec(v2)![1]!;
    assert.equal((await send(`${zone.url}${v4}`, 'GET', {})).status, 404);
    assert.equal((await send(`${zone.url}${v2}`, 'GET', {})).status, 404);
    assert.equal((await send(`${zone.url}${v4.replace('/bkt/', '/nobkt/')}`, 'GET', {})).status, 403);
    const log = logLines.join('\n');
    assert.ok(logLines.length >= 3, log);
    for (const secret of [sig4, sig2, decodeURIComponent(sig2), alice.secretKey]) assert.ok(!log.includes(secret), `log shows ${secret}: ${log}`);
    assert.match(log, /X-Amz-Signature=REDACTED/);
    assert.match(log, /Signature=REDACTED/);
  });

  it('accepts a SigV2 bucket-level request signed with a trailing slash (boto3) and only that', async () => {
    const date = new Date().toUTCString();
    const auth = (signed: string) => `AWS ${alice.accessKey}:${v2Signature(v2StringToSign('GET', signed, { date }), alice.secretKey)}`;
    const ok = await send(`${zone.url}/bkt`, 'GET', { date, authorization: auth('/bkt/') });
    assert.equal(ok.status, 200, ok.text);
    assert.match(ok.text, /<ListBucketResult/);
    const withQuery = await send(`${zone.url}/bkt?prefix=pre`, 'GET', { date, authorization: auth('/bkt/?prefix=pre') });
    assert.equal(withQuery.status, 200, withQuery.text);
    // An object path is not a bucket-level request: a signature over "key/" does not cover "key".
    const obj = await send(`${zone.url}/bkt/pre2`, 'GET', { date, authorization: auth('/bkt/pre2/') });
    assert.equal(obj.status, 403);
  });

  /** What x-amz-content-sha256 the SDK's PUTs carried, as the zone received them. */
  function watchPuts(): { seen: string[]; stop(): void } {
    const seen: string[] = [];
    const watch = (req: IncomingMessage): void => { if (req.method === 'PUT') seen.push(String(req.headers['x-amz-content-sha256'])); };
    zone.server.prependListener('request', watch);
    return { seen, stop: () => void zone.server.off('request', watch) };
  }

  it('PutObject of a stream with the AWS SDK defaults (aws-chunked, CRC32 trailer) round-trips', async () => {
    const s3 = new S3Client({ endpoint: zone.url, region: REGION, forcePathStyle: true, credentials: { accessKeyId: alice.accessKey, secretAccessKey: alice.secretKey } });
    const { seen, stop } = watchPuts();
    try {
      const data = randomBytes(700_000);
      await s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'sdk-known', Body: Readable.from(pieces(data, 65536)), ContentLength: data.length }));
      const got = await s3.send(new GetObjectCommand({ Bucket: 'bkt', Key: 'sdk-known', ChecksumMode: 'ENABLED' }));
      assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(data));
      assert.equal(got.ChecksumCRC32, b64crc32(data));
      assert.equal(got.ContentEncoding, undefined);
      assert.equal(seen[0], 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'the SDK sent the stream aws-chunked');

      // A Buffer body: the SDK sends its CRC32 as a header or a trailer as it sees fit.
      const small = randomBytes(5000);
      await s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'sdk-buffer', Body: small }));
      const head = await s3.send(new HeadObjectCommand({ Bucket: 'bkt', Key: 'sdk-buffer', ChecksumMode: 'ENABLED' }));
      assert.equal(head.ContentLength, small.length);
      assert.equal(head.ChecksumCRC32, b64crc32(small));
      // A stream of unknown length is not tried: this SDK version then sends x-amz-decoded-content-length
      // "undefined" and Node refuses the header before anything reaches the zone (lib-storage's Upload
      // is the SDK's way for those). The zone's side of it is the hand-built no-decoded-length test above.
    } finally {
      stop();
      s3.destroy();
    }
  });

  it('PutObject of a stream with checksums only when required round-trips too', async () => {
    const s3 = new S3Client({
      endpoint: zone.url, region: REGION, forcePathStyle: true, credentials: { accessKeyId: alice.accessKey, secretAccessKey: alice.secretKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    const { seen, stop } = watchPuts();
    try {
      const data = randomBytes(300_000);
      await s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'sdk-required', Body: Readable.from(pieces(data, 65536)), ContentLength: data.length }));
      const got = await s3.send(new GetObjectCommand({ Bucket: 'bkt', Key: 'sdk-required' }));
      assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(data));
      assert.deepEqual(seen, ['UNSIGNED-PAYLOAD']);
    } finally {
      stop();
      s3.destroy();
    }
  });
});
