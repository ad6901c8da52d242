/**
 * (6) Multipart stream copies are of one version. The destination of those tests is a small real
 * HTTP server that speaks the multipart calls the agent makes (initiate, part, complete, abort)
 * and records them; the source is a real embedded zone behind a proxy that evaluates If-Match as
 * RGW does (the embedded zone does not). Then a multipart object of an embedded source is synced
 * to an embedded destination in both copy modes, and verify's comparison finds them equal.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { objPath } from './helpers/pair.js';
import { putObj, startRig, userAndBucket, type Rig } from './helpers/copyrig.js';
import { ZoneClient } from '../src/client/http.js';
import { S3Api } from '../src/client/s3.js';
import { SourceChanged, SOURCE_ETAG_META, Transfer } from '../src/client/transfer.js';
import { call } from './helpers/http.js';
import { syncObject } from '../src/sync/objectsync.js';
import { compareZones } from '../src/sync/compare.js';

interface Upload { headers: Record<string, string | string[] | undefined>; parts: Map<number, Buffer>; completed?: Buffer; aborted: boolean }

/** A destination that accepts multipart uploads and keeps what it was sent. */
async function multipartDestination(): Promise<{ url: string; uploads: Map<string, Upload>; close(): Promise<void> }> {
  const uploads = new Map<string, Upload>();
  let n = 0;
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const id = u.searchParams.get('uploadId') ?? '';
      if (req.method === 'POST' && u.searchParams.has('uploads')) {
        const uploadId = `up-${++n}`;
        uploads.set(uploadId, { headers: req.headers, parts: new Map(), aborted: false });
        res.writeHead(200, { 'content-type': 'application/xml' });
        return res.end(`<InitiateMultipartUploadResult><UploadId>${uploadId}</UploadId></InitiateMultipartUploadResult>`);
      }
      const up = uploads.get(id);
      if (!up) { res.writeHead(404); return res.end('<Error><Code>NoSuchUpload</Code></Error>'); }
      if (req.method === 'PUT' && u.searchParams.has('partNumber')) {
        up.parts.set(Number(u.searchParams.get('partNumber')), body);
        res.writeHead(200, { etag: `"${createHash('md5').update(body).digest('hex')}"` });
        return res.end();
      }
      if (req.method === 'POST') { up.completed = body; res.writeHead(200); return res.end('<CompleteMultipartUploadResult/>'); }
      if (req.method === 'DELETE') { up.aborted = true; res.writeHead(204); return res.end(); }
      res.writeHead(405);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    uploads,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}

const MiB = 1024 * 1024;

describe('(6) multipart stream copy', () => {
  let r: Rig;
  let dest: Awaited<ReturnType<typeof multipartDestination>>;
  let src: ZoneClient;
  let dst: ZoneClient;
  let transfer: Transfer;
  let alice: { accessKey: string; secretKey: string };
  before(async () => {
    r = await startRig();
    dest = await multipartDestination();
    alice = await userAndBucket(r, 'alice', 'mpk');
    src = new ZoneClient({ endpoint: r.srcProxy.url, credentials: r.sys, userAgent: 'rgw-agent (test)' });
    dst = new ZoneClient({ endpoint: dest.url, credentials: r.sys, userAgent: 'rgw-agent (test)' });
    transfer = new Transfer(src, dst, 5 * MiB, 30_000);
    r.srcProxy.ifMatch = true;
  });
  after(async () => {
    await Promise.all([src?.close(), dst?.close()]);
    await dest?.close();
    await r?.close();
  });

  it('every ranged GET carries If-Match with the ETag of the version copied; the parts make up that version', async () => {
    const body = randomBytes(11 * MiB);
    await putObj(r.east.url, alice, 'mpk', 'whole', body, { 'content-type': 'application/x-whole', 'x-amz-meta-run': '1' });
    const head = (await new S3Api(src).headObject('mpk', 'whole'))!;
    const from = r.srcProxy.seen.length;
    assert.equal(await transfer.copy('mpk', 'whole', head, 'alice'), body.length);
    const gets = r.srcProxy.seen.slice(from).filter((s) => s.method === 'GET' && s.url === objPath('mpk', 'whole'));
    assert.equal(gets.length, 3, 'three parts of at most 5 MiB');
    for (const g of gets) {
      assert.match(String(g.headers.range), /^bytes=\d+-\d+$/);
      assert.equal(g.headers['if-match'], `"${head.etag}"`);
    }
    const up = [...dest.uploads.values()].at(-1)!;
    assert.ok(up.completed && !up.aborted);
    assert.ok(Buffer.concat([1, 2, 3].map((n) => up.parts.get(n)!)).equals(body));
    assert.equal(up.headers['content-type'], 'application/x-whole');
    assert.equal(up.headers['x-amz-meta-run'], '1');
    assert.equal(up.headers['x-amz-meta-rgw-agent-source-etag'], head.etag);
  });

  it('an overwrite between part 1 and part 2: 412, the upload is aborted and never completed (no torn object)', async () => {
    const v1 = randomBytes(11 * MiB);
    await putObj(r.east.url, alice, 'mpk', 'torn', v1);
    const head = (await new S3Api(src).headObject('mpk', 'torn'))!;
    let ranged = 0;
    r.srcProxy.before = async (req) => {
      if (req.method === 'GET' && req.url === objPath('mpk', 'torn') && req.headers.range && ++ranged === 2) {
        await putObj(r.east.url, alice, 'mpk', 'torn', randomBytes(11 * MiB));
      }
      return undefined;
    };
    try {
      await assert.rejects(transfer.copy('mpk', 'torn', head, 'alice'), (e: unknown) => e instanceof SourceChanged);
    } finally {
      r.srcProxy.before = undefined;
    }
    const up = [...dest.uploads.values()].at(-1)!;
    assert.equal(up.completed, undefined, 'never completed');
    assert.equal(up.aborted, true, 'aborted, so no parts are left behind');
    assert.equal(up.parts.size, 1, 'only part 1 (of the first version) was sent');
  });
});

/** A multipart upload through the zone's S3 API; returns the ETag complete gave. */
async function multipartPut(base: string, who: { accessKey: string; secretKey: string }, bucket: string, key: string, parts: Buffer[], headers: Record<string, string> = {}): Promise<string> {
  const path = objPath(bucket, key);
  const init = await call(base, 'POST', `${path}?uploads`, who, { headers });
  const id = /<UploadId>([^<]+)<\/UploadId>/.exec(init.text)?.[1];
  assert.ok(id, init.text);
  const etags: string[] = [];
  for (const [i, p] of parts.entries()) {
    const r = await call(base, 'PUT', `${path}?partNumber=${i + 1}&uploadId=${id}`, who, { body: p });
    assert.equal(r.status, 200, r.text);
    etags.push(String(r.headers.etag));
  }
  const body = `<CompleteMultipartUpload>${etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
  const done = await call(base, 'POST', `${path}?uploadId=${id}`, who, { body });
  assert.equal(done.status, 200, done.text);
  return /<ETag>&quot;([^&]+)&quot;<\/ETag>/.exec(done.text)?.[1] ?? '';
}

describe('a multipart object from an embedded source to an embedded destination', () => {
  let r: Rig;
  let alice: { accessKey: string; secretKey: string };
  before(async () => {
    r = await startRig();
    alice = await userAndBucket(r, 'alice', 'mpz');
  });
  after(async () => { await r?.close(); });

  it('stream copy: uploaded as multipart to the destination (its own -N ETag), the source ETag noted; unchanged next time; verify equal', async () => {
    const s = await r.context({ copy_mode: 'stream', multipart_threshold: 5 * MiB });
    // Two parts of 6 MiB: the agent's 5 MiB parts make a different ETag, so the note is needed.
    const parts = [randomBytes(6 * MiB), randomBytes(6 * MiB)];
    const srcEtag = await multipartPut(r.east.url, alice, 'mpz', 'streamed', parts, { 'content-type': 'application/x-mp', 'x-amz-meta-k': 'v' });
    assert.match(srcEtag, /^[0-9a-f]{32}-2$/);
    assert.equal(await syncObject(s.ctx, 'mpz', 'streamed'), 'copied');
    const calls = r.dstProxy.seen.filter((x) => x.url.startsWith(`${objPath('mpz', 'streamed')}?`));
    assert.ok(calls.some((x) => x.method === 'POST' && x.url.includes('uploads') && x.status === 200), 'the destination accepted the initiate (no fallback to one PUT)');
    assert.equal(calls.filter((x) => x.method === 'PUT' && x.url.includes('partNumber')).length, 3);
    const head = await call(r.west.url, 'HEAD', objPath('mpz', 'streamed'), alice);
    assert.match(String(head.headers.etag), /^"[0-9a-f]{32}-3"$/);
    assert.equal(head.headers[`x-amz-meta-${SOURCE_ETAG_META}`], srcEtag);
    assert.equal(head.headers['content-type'], 'application/x-mp');
    assert.equal(head.headers['x-amz-meta-k'], 'v');
    const got = await call(r.west.url, 'GET', objPath('mpz', 'streamed'), alice);
    assert.ok(got.body.equals(Buffer.concat(parts)));
    assert.equal(await syncObject(s.ctx, 'mpz', 'streamed'), 'unchanged');
    const cmp = await compareZones({ admin: s.ctx.src, s3: s.ctx.srcS3 }, { admin: s.ctx.dst, s3: s.ctx.dstS3 }, { bucket: 'mpz' });
    assert.deepEqual(cmp.differences, []);
  });

  it('remote copy: the destination keeps the source\'s -N ETag as it is; unchanged next time; verify equal', async () => {
    const s = await r.context({ copy_mode: 'remote' });
    const parts = [randomBytes(5 * MiB), randomBytes(123)];
    const srcEtag = await multipartPut(r.east.url, alice, 'mpz', 'remote', parts, { 'x-amz-meta-k': 'r' });
    assert.equal(await syncObject(s.ctx, 'mpz', 'remote'), 'copied');
    const head = await call(r.west.url, 'HEAD', objPath('mpz', 'remote'), alice);
    assert.equal(String(head.headers.etag), `"${srcEtag}"`);
    assert.equal(head.headers['x-amz-meta-k'], 'r');
    const listed = await call(r.west.url, 'GET', '/mpz?prefix=remote', alice);
    assert.match(listed.text, new RegExp(`<ETag>&quot;${srcEtag}&quot;</ETag>`), 'the listing carries it too');
    assert.ok((await call(r.west.url, 'GET', objPath('mpz', 'remote'), alice)).body.equals(Buffer.concat(parts)));
    assert.equal(await syncObject(s.ctx, 'mpz', 'remote'), 'unchanged');
    const cmp = await compareZones({ admin: s.ctx.src, s3: s.ctx.srcS3 }, { admin: s.ctx.dst, s3: s.ctx.dstS3 }, { bucket: 'mpz' });
    assert.deepEqual(cmp.differences, []);
  });
});
