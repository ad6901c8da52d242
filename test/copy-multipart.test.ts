/**
 * (6) Multipart stream copies are of one version. No multipart-capable destination exists in the
 * repository yet (the embedded zone answers 501 to ?uploads), so the destination here is a small
 * real HTTP server that speaks the multipart calls the agent makes (initiate, part, complete,
 * abort) and records them; the source is a real embedded zone behind a proxy that evaluates
 * If-Match as RGW does (the embedded zone does not).
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
import { SourceChanged, Transfer } from '../src/client/transfer.js';

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
