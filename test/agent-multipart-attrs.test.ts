/**
 * The agent between two embedded zones (real processes) with what everyday clients now write: a
 * multipart object (its `-N` ETag), tags and a granted ACL, by the AWS SDK with default settings
 * (aws-chunked parts with checksum trailers). Full sync and then incremental, in remote and in
 * stream copy; `verify --acl` must find the zones equal.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { CreateBucketCommand, HeadObjectCommand, PutObjectAclCommand, PutObjectTaggingCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { startPair, createUser, type Pair } from './helpers/pair.js';
import { call } from './helpers/http.js';

const MiB = 1024 * 1024;

for (const mode of ['remote', 'stream'] as const) {
  describe(`agent with copy_mode ${mode}: multipart objects, tags and ACLs`, () => {
    let p: Pair | undefined;
    after(async () => { await p?.close(); });

    it('full sync, then an incremental pass, verify --acl equal; the -N ETag kept or noted', async () => {
      p = await startPair();
      const alice = await createUser(p.east, p.sys, 'alice');
      const s3 = new S3Client({ endpoint: p.east, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: alice.accessKey, secretAccessKey: alice.secretKey } });
      try {
        await s3.send(new CreateBucketCommand({ Bucket: 'mpattrs' }));
        const upload = (key: string, size: number) => new Upload({
          client: s3, partSize: 5 * MiB,
          params: { Bucket: 'mpattrs', Key: key, Body: Readable.from([randomBytes(size)]), ContentType: 'application/x-parts', Metadata: { origin: 'east' }, Tagging: 'team=blue', ACL: 'public-read' },
        }).done();
        await upload('before full sync', 12 * MiB);
        const full = p.agent(['full-sync'], { copy_mode: mode, multipart_threshold: 5 * MiB });
        assert.equal(await full.exited, 0, full.output());
        await upload('after full sync', 11 * MiB);
        await s3.send(new PutObjectTaggingCommand({ Bucket: 'mpattrs', Key: 'before full sync', Tagging: { TagSet: [{ Key: 'team', Value: 'red' }] } }));
        await s3.send(new PutObjectAclCommand({ Bucket: 'mpattrs', Key: 'before full sync', GrantRead: 'uri="http://acs.amazonaws.com/groups/global/AuthenticatedUsers"' }));
        const inc = p.agent(['sync', '--once'], { copy_mode: mode, multipart_threshold: 5 * MiB });
        assert.equal(await inc.exited, 0, inc.output());
        const verify = p.agent(['verify', '--acl', '--json'], { copy_mode: mode });
        assert.equal(await verify.exited, 0, verify.output());
        const doc = JSON.parse(verify.stdout()) as { equal: boolean; objects: number };
        assert.equal(doc.equal, true);
        assert.equal(doc.objects, 2);
        const src = await s3.send(new HeadObjectCommand({ Bucket: 'mpattrs', Key: 'after full sync' }));
        assert.match(String(src.ETag), /-3"$/, 'three parts on the source');
        const dst = await call(p.westDirect, 'HEAD', `/mpattrs/${encodeURIComponent('after full sync')}`, p.sys);
        if (mode === 'remote') assert.equal(dst.headers.etag, src.ETag, 'remote copy keeps the ETag');
        else assert.equal(dst.headers['x-amz-meta-rgw-agent-source-etag'], String(src.ETag).replace(/"/g, ''), 'stream copy notes the source ETag');
        const tags = await call(p.westDirect, 'GET', `/mpattrs/${encodeURIComponent('before full sync')}?tagging`, p.sys);
        assert.match(tags.text, /<Key>team<\/Key><Value>red<\/Value>/);
        const acl = await call(p.westDirect, 'GET', `/mpattrs/${encodeURIComponent('before full sync')}?acl`, p.sys);
        assert.match(acl.text, /AuthenticatedUsers/);
      } finally {
        s3.destroy();
      }
    });
  });
}
