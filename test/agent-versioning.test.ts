/**
 * The agent between two embedded zones (real processes) with a versioned bucket written by the
 * AWS SDK: several versions per key, delete markers, a deleted specific version, a rollback
 * (the current version deleted), a null version from before versioning, suspend then resume
 * (null versions replaced), a multipart version. Full sync, then incremental, in remote and in
 * stream copy: the destination's version lists (ids, order, ETags, markers) must equal the
 * source's by `verify` and by an independent ListObjectVersions on both zones; `status` caught up.
 * Then a version lost on the destination (removed there behind the agent's back) is found by
 * verify and put back, in order, by a full sync.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CreateBucketCommand, DeleteObjectCommand, GetObjectTaggingCommand, HeadObjectCommand, PutObjectTaggingCommand, ListObjectVersionsCommand, PutBucketVersioningCommand, PutObjectCommand, S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { startPair, createUser, type Creds, type Pair } from './helpers/pair.js';
import { until } from './helpers/procs.js';
import { versionLines } from './helpers/versions.js';

const MiB = 1024 * 1024;
const B = 'versioned';

function client(endpoint: string, who: Creds): S3Client {
  return new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: who.accessKey, secretAccessKey: who.secretKey } });
}

/** Every version and marker, in listing order: what "the version list" means for the comparison. */
async function versionList(s3: S3Client): Promise<string[]> {
  const out: { key: string; line: string; order: number }[] = [];
  let KeyMarker: string | undefined;
  let VersionIdMarker: string | undefined;
  let n = 0;
  for (;;) {
    const r = await s3.send(new ListObjectVersionsCommand({ Bucket: B, KeyMarker, VersionIdMarker, MaxKeys: 7 }));
    // The SDK splits Versions and DeleteMarkers; the order within a key is restored by IsLatest and position.
    for (const v of r.Versions ?? []) out.push({ key: v.Key!, line: `${v.Key} ${v.VersionId} ${v.ETag} ${v.Size} latest=${v.IsLatest}`, order: n++ });
    for (const d of r.DeleteMarkers ?? []) out.push({ key: d.Key!, line: `${d.Key} ${d.VersionId} marker latest=${d.IsLatest}`, order: n++ });
    if (!r.IsTruncated) break;
    [KeyMarker, VersionIdMarker] = [r.NextKeyMarker, r.NextVersionIdMarker];
  }
  return out.map((x) => x.line).sort();
}

/** One key's versions and markers newest first, in the answer's document order (the SDK splits the two kinds). */
async function keyOrder(base: string, who: Creds, key: string): Promise<string[]> {
  return (await versionLines(base, who, B)).filter((l) => l.startsWith(`${key} `));
}

async function versioning(s3: S3Client, Status: 'Enabled' | 'Suspended'): Promise<void> {
  await s3.send(new PutBucketVersioningCommand({ Bucket: B, VersioningConfiguration: { Status } }));
}

async function putText(s3: S3Client, key: string, body: string): Promise<string> {
  return (await s3.send(new PutObjectCommand({ Bucket: B, Key: key, Body: body }))).VersionId ?? 'null';
}

for (const mode of ['remote', 'stream'] as const) {
  describe(`agent with copy_mode ${mode}: a versioned bucket`, () => {
    let p: Pair | undefined;
    after(async () => { await p?.close(); });

    it('every version and delete marker, in order and with its id, full sync then incremental; verify and an independent listing agree', async () => {
      p = await startPair();
      const alice = await createUser(p.east, p.sys, 'alice');
      const east = client(p.east, alice);
      const west = client(p.westDirect, p.sys);
      const agentCfg = { copy_mode: mode, multipart_threshold: 5 * MiB };
      try {
        await east.send(new CreateBucketCommand({ Bucket: B }));
        await putText(east, 'pre', 'before versioning'); // the null version
        await versioning(east, 'Enabled');
        await putText(east, 'pre', 'after enabling');
        const k1 = await putText(east, 'k', 'one');
        await putText(east, 'k', 'two');
        await east.send(new DeleteObjectCommand({ Bucket: B, Key: 'k' })); // a delete marker
        await east.send(new DeleteObjectCommand({ Bucket: B, Key: 'k', VersionId: k1 })); // a specific old version
        await putText(east, 'k', 'three');
        await new Upload({ client: east, partSize: 5 * MiB, params: { Bucket: B, Key: 'big', Body: Readable.from([randomBytes(11 * MiB)]) } }).done();
        await putText(east, 'big', 'small now');

        const full = p.agent(['full-sync'], agentCfg);
        assert.equal(await full.exited, 0, full.output());
        const v1 = p.agent(['verify', '--json'], agentCfg);
        assert.equal(await v1.exited, 0, v1.output());
        assert.equal((JSON.parse(v1.stdout()) as { versions: number }).versions, 7, v1.stdout()); // pre 2, k 3 (v1 gone), big 2
        assert.deepEqual(await versionList(west), await versionList(east));
        for (const key of ['pre', 'k', 'big']) assert.deepEqual(await keyOrder(p.westDirect, p.sys, key), await keyOrder(p.east, p.sys, key), key);

        // Incremental: a tag change of a current version, more versions, a rollback, suspend (null versions replaced) and resume.
        await east.send(new PutObjectTaggingCommand({ Bucket: B, Key: 'big', Tagging: { TagSet: [{ Key: 'team', Value: 'red' }] } }));
        const r1 = await putText(east, 'r', 'r one');
        const r2 = await putText(east, 'r', 'r two');
        await east.send(new DeleteObjectCommand({ Bucket: B, Key: 'r', VersionId: r2 })); // rollback: r1 is current again
        await east.send(new DeleteObjectCommand({ Bucket: B, Key: 'k' }));
        await versioning(east, 'Suspended');
        await putText(east, 's', 'null one');
        await putText(east, 's', 'null two'); // replaces the null version
        await putText(east, 'pre', 'suspended write'); // replaces the old null version of pre
        await versioning(east, 'Enabled');
        await putText(east, 's', 'four');
        const inc = p.agent(['sync', '--once'], agentCfg);
        assert.equal(await inc.exited, 0, inc.output());
        const v2 = p.agent(['verify'], agentCfg);
        assert.equal(await v2.exited, 0, v2.output());
        assert.deepEqual((await west.send(new GetObjectTaggingCommand({ Bucket: B, Key: 'big' }))).TagSet, [{ Key: 'team', Value: 'red' }], 'the current version\'s new tags');
        assert.deepEqual(await versionList(west), await versionList(east));
        for (const key of ['pre', 'k', 'big', 'r', 's']) assert.deepEqual(await keyOrder(p.westDirect, p.sys, key), await keyOrder(p.east, p.sys, key), key);
        assert.match((await keyOrder(p.westDirect, p.sys, 'r'))[0], new RegExp(`^r ${r1} .* latest=true$`), 'the rollback made r1 current on the destination too');
        // The data-log bound passes an entry only once the source's clock (its Date header: whole
        // seconds) is past it, so entries of the last second wait for another pass.
        const pair = p;
        await until('status says caught up', async () => {
          if (await pair.agent(['status'], agentCfg).exited === 0) return true;
          assert.equal(await pair.agent(['sync', '--once'], agentCfg).exited, 0);
          return false;
        }, 30_000, 200);

        // A version lost on the destination below two newer ones: verify finds it, a full sync puts it back in order.
        const kVersions = (await west.send(new ListObjectVersionsCommand({ Bucket: B, Prefix: 's' }))).Versions!.filter((v) => v.Key === 's');
        const lost = kVersions.find((v) => !v.IsLatest)!;
        await west.send(new DeleteObjectCommand({ Bucket: B, Key: 's', VersionId: lost.VersionId }));
        const v3 = p.agent(['verify', '--json'], agentCfg);
        assert.equal(await v3.exited, 1, v3.output());
        const diff = (JSON.parse(v3.stdout()) as { differences: { name: string; detail: string }[] }).differences;
        assert.equal(diff.length, 1, v3.stdout());
        assert.equal(diff[0].name, `${B}/s`);
        assert.match(diff[0].detail, /versions differ at position/);
        const repair = p.agent(['full-sync'], agentCfg);
        assert.equal(await repair.exited, 0, repair.output());
        const v4 = p.agent(['verify'], agentCfg);
        assert.equal(await v4.exited, 0, v4.output());
        assert.deepEqual(await keyOrder(p.westDirect, p.sys, 's'), await keyOrder(p.east, p.sys, 's'));
        assert.equal((await keyOrder(p.westDirect, p.sys, 's')).length, 2, 'null two and four');
      } finally {
        east.destroy();
        west.destroy();
      }
    });

    it('attributes the version list cannot show: a null version replaced under the same ETag (full sync), an older version made current by a rollback (incremental)', async () => {
      const q = await startPair();
      const alice = await createUser(q.east, q.sys, 'alice');
      const east = client(q.east, alice);
      const west = client(q.westDirect, q.sys);
      const agentCfg = { copy_mode: mode };
      const head = async (s3: S3Client, key: string) => {
        const h = await s3.send(new HeadObjectCommand({ Bucket: B, Key: key }));
        return { type: h.ContentType, meta: h.Metadata, version: h.VersionId, etag: h.ETag };
      };
      try {
        await east.send(new CreateBucketCommand({ Bucket: B }));
        await versioning(east, 'Suspended');
        // An empty body: the replacing null version has the very ETag (and id) of the one it replaces.
        await east.send(new PutObjectCommand({ Bucket: B, Key: 'n', Body: '', ContentType: 'text/plain', Metadata: { gen: 'one' } }));
        await versioning(east, 'Enabled');
        const r1 = await putText(east, 'r', 'r one');
        await east.send(new PutObjectTaggingCommand({ Bucket: B, Key: 'r', VersionId: r1, Tagging: { TagSet: [{ Key: 'gen', Value: 'one' }] } }));
        const r2 = await putText(east, 'r', 'r two');
        const first = q.agent(['full-sync'], agentCfg);
        assert.equal(await first.exited, 0, first.output());

        await versioning(east, 'Suspended');
        await east.send(new PutObjectCommand({ Bucket: B, Key: 'n', Body: '', ContentType: 'image/x-two', Metadata: { gen: 'two' } }));
        await versioning(east, 'Enabled');
        // Equal version lists on both sides: only the HEADs of the current version show the change.
        const second = q.agent(['full-sync'], agentCfg);
        assert.equal(await second.exited, 0, second.output());
        assert.deepEqual(await head(west, 'n'), await head(east, 'n'));
        assert.equal((await head(west, 'n')).type, 'image/x-two');

        // r1's tags change while it is not current (left as copied), then r2 goes: r1 is current again.
        await east.send(new PutObjectTaggingCommand({ Bucket: B, Key: 'r', VersionId: r1, Tagging: { TagSet: [{ Key: 'gen', Value: 'two' }] } }));
        await east.send(new DeleteObjectCommand({ Bucket: B, Key: 'r', VersionId: r2 }));
        const pair = q;
        await until('status says caught up', async () => {
          assert.equal(await pair.agent(['sync', '--once'], agentCfg).exited, 0);
          return await pair.agent(['status'], agentCfg).exited === 0;
        }, 30_000, 200);
        assert.deepEqual((await west.send(new GetObjectTaggingCommand({ Bucket: B, Key: 'r' }))).TagSet, [{ Key: 'gen', Value: 'two' }], 'the rolled-back version\'s tags as they are now');
        assert.deepEqual(await keyOrder(q.westDirect, q.sys, 'r'), await keyOrder(q.east, q.sys, 'r'));

        // A null delete marker on both sides; then the source's only entry becomes a marker with an
        // id (a DELETE after resuming, then the null marker removed). A new agent process, which has
        // created nothing yet, must not call the two markers equal because they are both markers.
        await versioning(east, 'Suspended');
        await putText(east, 'd', 'null version');
        await east.send(new DeleteObjectCommand({ Bucket: B, Key: 'd' }));
        const third = q.agent(['full-sync'], agentCfg);
        assert.equal(await third.exited, 0, third.output());
        assert.match((await keyOrder(q.westDirect, q.sys, 'd')).join('\n'), /^d null marker latest=true$/);
        await versioning(east, 'Enabled');
        await east.send(new DeleteObjectCommand({ Bucket: B, Key: 'd' }));
        await east.send(new DeleteObjectCommand({ Bucket: B, Key: 'd', VersionId: 'null' }));
        assert.match((await keyOrder(q.east, q.sys, 'd')).join('\n'), /^d (?!null)\S+ marker latest=true$/);
        const fourth = q.agent(['full-sync'], agentCfg);
        assert.equal(await fourth.exited, 0, fourth.output());
        assert.deepEqual(await keyOrder(q.westDirect, q.sys, 'd'), await keyOrder(q.east, q.sys, 'd'), 'the marker with the source\'s id');
        const v = q.agent(['verify'], agentCfg);
        assert.equal(await v.exited, 0, v.output());
      } finally {
        east.destroy();
        west.destroy();
        await q.close();
      }
    });
  });
}
