/** The AWS SDK for JavaScript v3 against a running embedded zone (SigV4, path style). */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  CopyObjectCommand, CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, GetObjectCommand, HeadBucketCommand,
  HeadObjectCommand, ListBucketsCommand, ListObjectsCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException,
} from '@aws-sdk/client-s3';
import { makeRealm, startZones, type TestRealm } from './helpers/realm.js';
import { call } from './helpers/http.js';
import type { RunningZone } from '../src/zone/server.js';

const AWKWARD_KEYS = ['plain.txt', 'dir/sub/file with spaces.txt', 'plus+sign', 'tilde~x', 'percent%20literal', 'ünïcødé/文件', '../escape', 'a//double'];

function client(url: string, accessKeyId: string, secretAccessKey: string): S3Client {
  return new S3Client({
    endpoint: url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

async function expectS3Error(p: Promise<unknown>, name: string, status: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof S3ServiceException, `expected an S3 error, got ${String(e)}`);
    assert.equal(e.name, name);
    assert.equal(e.$metadata.httpStatusCode, status);
    return true;
  });
}

describe('embedded zone with the AWS SDK v3', () => {
  let t: TestRealm;
  let zones: RunningZone[];
  let s3: S3Client;
  let alice: { accessKey: string; secretKey: string };

  before(async () => {
    t = await makeRealm();
    zones = await startZones(t);
    const r = await call(zones[0].url, 'PUT', '/admin/user?uid=alice&display-name=Alice', t);
    assert.equal(r.status, 200, r.text);
    const k = r.json<{ keys: { access_key: string; secret_key: string }[] }>().keys[0];
    alice = { accessKey: k.access_key, secretKey: k.secret_key };
    s3 = client(zones[0].url, alice.accessKey, alice.secretKey);
  });

  after(async () => {
    s3?.destroy();
    await Promise.all(zones.map((z) => z.close()));
    t.cleanup();
  });

  it('creates, heads and lists buckets', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'photos' }));
    await s3.send(new HeadBucketCommand({ Bucket: 'photos' }));
    const list = await s3.send(new ListBucketsCommand({}));
    assert.deepEqual(list.Buckets?.map((b) => b.Name), ['photos']);
    assert.equal(list.Owner?.ID, 'alice');
    await expectS3Error(s3.send(new HeadBucketCommand({ Bucket: 'missing-bucket' })), 'NotFound', 404);
  });

  it('puts, gets, heads objects with awkward keys, metadata and content type', async () => {
    for (const key of AWKWARD_KEYS) {
      const body = Buffer.from(`body of ${key}`);
      const put = await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: key, Body: body, ContentType: 'text/x-test', Metadata: { origin: 'sdk', n: '1' } }));
      assert.equal(put.ETag, `"${createHash('md5').update(body).digest('hex')}"`);
      const got = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: key }));
      assert.equal(Buffer.from(await got.Body!.transformToByteArray()).toString(), body.toString(), key);
      assert.equal(got.ContentType, 'text/x-test');
      assert.deepEqual(got.Metadata, { origin: 'sdk', n: '1' });
      const head = await s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: key }));
      assert.equal(head.ContentLength, body.length);
      assert.equal(head.ETag, put.ETag);
    }
  });

  it('serves byte ranges', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'range', Body: Buffer.from('0123456789') }));
    const mid = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'range', Range: 'bytes=2-5' }));
    assert.equal(await mid.Body!.transformToString(), '2345');
    assert.equal(mid.ContentRange, 'bytes 2-5/10');
    const tail = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'range', Range: 'bytes=-3' }));
    assert.equal(await tail.Body!.transformToString(), '789');
    await expectS3Error(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'range', Range: 'bytes=10-' })), 'InvalidRange', 416);
  });

  it('lists with v2 prefix, delimiter and continuation, and with v1 markers', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'listing' }));
    const keys: string[] = [];
    for (let i = 0; i < 25; i++) keys.push(`logs/2026/${String(i).padStart(3, '0')}.log`);
    keys.push('logs/readme', 'top-a', 'top-b', 'img/x.png', 'img/y.png');
    for (const k of keys) await s3.send(new PutObjectCommand({ Bucket: 'listing', Key: k, Body: k }));

    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'logs/2026/', MaxKeys: 10, ContinuationToken: token }));
      seen.push(...(page.Contents ?? []).map((c) => c.Key!));
      token = page.NextContinuationToken;
      pages++;
      assert.equal(page.IsTruncated, token !== undefined);
    } while (token);
    assert.equal(pages, 3);
    assert.deepEqual(seen, keys.slice(0, 25));

    const top = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Delimiter: '/' }));
    assert.deepEqual(top.CommonPrefixes?.map((p) => p.Prefix), ['img/', 'logs/']);
    assert.deepEqual(top.Contents?.map((c) => c.Key), ['top-a', 'top-b']);
    assert.equal(top.KeyCount, 4);

    // v1 paging with a delimiter: a common prefix as marker resumes after the whole prefix.
    const p1 = await s3.send(new ListObjectsCommand({ Bucket: 'listing', Delimiter: '/', MaxKeys: 2 }));
    assert.deepEqual(p1.CommonPrefixes?.map((p) => p.Prefix), ['img/', 'logs/']);
    assert.equal(p1.IsTruncated, true);
    assert.equal(p1.NextMarker, 'logs/');
    const p2 = await s3.send(new ListObjectsCommand({ Bucket: 'listing', Delimiter: '/', Marker: p1.NextMarker }));
    assert.deepEqual(p2.Contents?.map((c) => c.Key), ['top-a', 'top-b']);
    assert.equal(p2.IsTruncated, false);
  });

  it('copies objects within the zone, keeping or replacing metadata', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'src obj', Body: 'copy me', ContentType: 'text/plain', Metadata: { a: '1' } }));
    const c = await s3.send(new CopyObjectCommand({ Bucket: 'photos', Key: 'copy/kept', CopySource: 'photos/src%20obj' }));
    assert.equal(c.CopyObjectResult?.ETag, `"${createHash('md5').update('copy me').digest('hex')}"`);
    const kept = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'copy/kept' }));
    assert.equal(await kept.Body!.transformToString(), 'copy me');
    assert.deepEqual(kept.Metadata, { a: '1' });
    assert.equal(kept.ContentType, 'text/plain');
    await s3.send(new CopyObjectCommand({ Bucket: 'photos', Key: 'copy/replaced', CopySource: 'photos/src%20obj', MetadataDirective: 'REPLACE', Metadata: { b: '2' }, ContentType: 'text/other' }));
    const rep = await s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'copy/replaced' }));
    assert.deepEqual(rep.Metadata, { b: '2' });
    assert.equal(rep.ContentType, 'text/other');
  });

  it('deletes objects and buckets, refusing a non-empty bucket', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'tmp-bucket' }));
    await s3.send(new PutObjectCommand({ Bucket: 'tmp-bucket', Key: 'x', Body: 'x' }));
    await expectS3Error(s3.send(new DeleteBucketCommand({ Bucket: 'tmp-bucket' })), 'BucketNotEmpty', 409);
    await s3.send(new DeleteObjectCommand({ Bucket: 'tmp-bucket', Key: 'x' }));
    await expectS3Error(s3.send(new GetObjectCommand({ Bucket: 'tmp-bucket', Key: 'x' })), 'NoSuchKey', 404);
    await s3.send(new DeleteBucketCommand({ Bucket: 'tmp-bucket' }));
    await expectS3Error(s3.send(new HeadBucketCommand({ Bucket: 'tmp-bucket' })), 'NotFound', 404);
  });

  it('rejects a wrong secret and an unknown key', async () => {
    const bad = client(zones[0].url, alice.accessKey, 'not-the-secret');
    const unknown = client(zones[0].url, 'NOSUCHKEY', 'whatever');
    try {
      await expectS3Error(bad.send(new ListBucketsCommand({})), 'SignatureDoesNotMatch', 403);
      await expectS3Error(unknown.send(new ListBucketsCommand({})), 'InvalidAccessKeyId', 403);
    } finally {
      bad.destroy();
      unknown.destroy();
    }
  });

  it('keeps other users out of a bucket and normal users out of /admin', async () => {
    const r = await call(zones[0].url, 'PUT', '/admin/user?uid=mallory&display-name=M', t);
    const k = r.json<{ keys: { access_key: string; secret_key: string }[] }>().keys[0];
    const m = client(zones[0].url, k.access_key, k.secret_key);
    try {
      await expectS3Error(m.send(new GetObjectCommand({ Bucket: 'photos', Key: 'plain.txt' })), 'AccessDenied', 403);
    } finally {
      m.destroy();
    }
    const admin = await call(zones[0].url, 'GET', '/admin/log?type=metadata', { accessKey: k.access_key, secretKey: k.secret_key });
    assert.equal(admin.status, 403);
    assert.equal(admin.json<{ Code: string }>().Code, 'AccessDenied');
  });
});
