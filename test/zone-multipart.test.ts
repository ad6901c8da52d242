/**
 * S3 multipart upload in the embedded zone: real zones on ephemeral ports, real SQLite in a temp
 * dir, signed requests; the multipart ETag is checked against one computed here from the bytes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import {
  CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, ListPartsCommand, S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { makeRealm, type TestRealm } from './helpers/realm.js';
import { call, type Reply } from './helpers/http.js';
import { objPath } from './helpers/pair.js';
import { startZone, type RunningZone } from '../src/zone/server.js';
import { sweepUploads } from '../src/zone/multipart.js';

type Creds = { accessKey: string; secretKey: string };
const MiB = 1024 * 1024;
const xml = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (n) => n === 'Part' || n === 'Upload' });
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
/** Computed here, not by the zone's code: MD5 over the concatenated binary part digests, then -N. */
const expectedEtag = (parts: Buffer[]) => `${createHash('md5').update(Buffer.concat(parts.map((p) => createHash('md5').update(p).digest()))).digest('hex')}-${parts.length}`;
const unq = (v: unknown) => String(v ?? '').replace(/"/g, '');

function parsed<T>(r: Reply): T {
  return xml.parse(r.text) as T;
}

function errorCode(r: Reply): string {
  return unq(parsed<{ Error?: { Code?: string } }>(r).Error?.Code);
}

describe('embedded zone: multipart upload', () => {
  let t: TestRealm;
  let zone: RunningZone;
  let alice: Creds;
  const dataDir = () => join(t.dir, 'east');
  const start = (extra: { abandonedUploadSeconds?: number } = {}) => startZone({ realm: t.realm, zoneName: 'us-east', dataDir: dataDir(), port: 0, log: () => undefined, ...extra });
  const req = (method: string, path: string, opts: { body?: Buffer | string; headers?: Record<string, string> } = {}) => call(zone.url, method, path, alice, opts);

  async function initiate(bucket: string, key: string, headers: Record<string, string> = {}): Promise<string> {
    const r = await req('POST', `${objPath(bucket, key)}?uploads`, { headers });
    assert.equal(r.status, 200, r.text);
    const id = unq(parsed<{ InitiateMultipartUploadResult: { UploadId: string } }>(r).InitiateMultipartUploadResult.UploadId);
    assert.ok(id);
    return id;
  }

  async function part(bucket: string, key: string, id: string, n: number, body: Buffer, headers: Record<string, string> = {}): Promise<string> {
    const r = await req('PUT', `${objPath(bucket, key)}?partNumber=${n}&uploadId=${id}`, { body, headers });
    assert.equal(r.status, 200, r.text);
    return unq(r.headers.etag);
  }

  const completeBody = (parts: [number, string][]) =>
    `<CompleteMultipartUpload>${parts.map(([n, e]) => `<Part><PartNumber>${n}</PartNumber><ETag>"${e}"</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
  const complete = (bucket: string, key: string, id: string, parts: [number, string][]) =>
    req('POST', `${objPath(bucket, key)}?uploadId=${id}`, { body: completeBody(parts), headers: { 'content-type': 'application/xml' } });
  const fileCount = () => readdirSync(join(dataDir(), 'objects')).reduce((n, d) => n + readdirSync(join(dataDir(), 'objects', d)).length, 0);

  before(async () => {
    t = await makeRealm();
    zone = await start();
    const r = await call(zone.url, 'PUT', '/admin/user?uid=alice&display-name=Alice', t);
    assert.equal(r.status, 200, r.text);
    const k = r.json<{ keys: { access_key: string; secret_key: string }[] }>().keys[0];
    alice = { accessKey: k.access_key, secretKey: k.secret_key };
    assert.equal((await req('PUT', '/mpb')).status, 200);
  });
  after(async () => {
    await zone?.close();
    t?.cleanup();
  });

  it('initiate, upload, complete: the object appears only at complete, with the multipart ETag and the attributes of initiate', async () => {
    const id = await initiate('mpb', 'big/obj', {
      'content-type': 'application/x-big', 'x-amz-meta-color': 'blue', 'content-disposition': 'attachment',
      'x-amz-storage-class': 'STANDARD_IA', 'x-amz-tagging': 'a=1&b=2', 'x-amz-acl': 'public-read',
    });
    const bodies = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(MiB + 17)];
    const etags: string[] = [];
    for (const [i, b] of bodies.entries()) {
      etags.push(await part('mpb', 'big/obj', id, i + 1, b, { 'content-md5': createHash('md5').update(b).digest('base64') }));
      assert.equal(etags[i], md5(b), 'a part ETag is the MD5 of the part');
    }
    assert.equal((await req('HEAD', objPath('mpb', 'big/obj'))).status, 404, 'invisible before complete');
    assert.doesNotMatch((await req('GET', '/mpb?list-type=2')).text, /big\/obj/, 'not listed before complete');

    const done = await complete('mpb', 'big/obj', id, etags.map((e, i) => [i + 1, e]));
    assert.equal(done.status, 200, done.text);
    const result = parsed<{ CompleteMultipartUploadResult: { Bucket: string; Key: string; ETag: string; Location: string } }>(done).CompleteMultipartUploadResult;
    const whole = Buffer.concat(bodies);
    assert.equal(unq(result.ETag), expectedEtag(bodies));
    assert.match(unq(result.ETag), /^[0-9a-f]{32}-3$/);
    assert.equal(result.Bucket, 'mpb');
    assert.equal(result.Key, 'big/obj');
    assert.match(result.Location, /\/mpb\/big\/obj$/);

    const got = await req('GET', objPath('mpb', 'big/obj'));
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(whole), 'the object is the parts in order');
    assert.equal(unq(got.headers.etag), expectedEtag(bodies));
    assert.equal(got.headers['content-type'], 'application/x-big');
    assert.equal(got.headers['x-amz-meta-color'], 'blue');
    assert.equal(got.headers['content-disposition'], 'attachment');
    assert.equal(got.headers['x-amz-storage-class'], 'STANDARD_IA');
    // A range across the boundary of parts 1 and 2, served from the one assembled file.
    const from = 5 * MiB - 10;
    const ranged = await req('GET', objPath('mpb', 'big/obj'), { headers: { range: `bytes=${from}-${from + 19}` } });
    assert.equal(ranged.status, 206);
    assert.ok(ranged.body.equals(whole.subarray(from, from + 20)));
    assert.match((await req('GET', `${objPath('mpb', 'big/obj')}?tagging`)).text, /<Key>a<\/Key><Value>1<\/Value>/);
    assert.match((await req('GET', `${objPath('mpb', 'big/obj')}?acl`)).text, /AllUsers<\/URI><\/Grantee><Permission>READ/);
    const listed = await req('GET', '/mpb?list-type=2&prefix=big/');
    assert.match(listed.text, new RegExp(`<ETag>&quot;${expectedEtag(bodies)}&quot;</ETag><Size>${whole.length}</Size>`));
    // Recorded like any write: the bucket-index log names the key.
    const inst = (await call(zone.url, 'GET', '/admin/metadata/bucket?key=mpb', t)).json<{ data: { bucket: { bucket_id: string } } }>().data.bucket.bucket_id;
    const bilog = await call(zone.url, 'GET', `/admin/log?type=bucket-index&bucket-instance=${encodeURIComponent(`mpb:${inst}`)}`, t);
    assert.ok(bilog.json<{ op: string; object: string }[]>().some((e) => e.op === 'write' && e.object === 'big/obj'), bilog.text);

    assert.equal((await req('GET', `${objPath('mpb', 'big/obj')}?uploadId=${id}`)).status, 404, 'the upload is gone once completed');
    assert.equal(errorCode(await complete('mpb', 'big/obj', id, etags.map((e, i) => [i + 1, e]))), 'NoSuchUpload');
  });

  it('a single small part makes a complete object; a re-uploaded part replaces the first; unlisted parts are dropped', async () => {
    const id = await initiate('mpb', 'small');
    await part('mpb', 'small', id, 1, Buffer.from('first try'));
    const e1 = await part('mpb', 'small', id, 1, Buffer.from('second try'));
    await part('mpb', 'small', id, 2, Buffer.from('never listed'));
    const lp = parsed<{ ListPartsResult: { Part: { PartNumber: string; ETag: string; Size: string }[] } }>(await req('GET', `${objPath('mpb', 'small')}?uploadId=${id}`)).ListPartsResult;
    assert.deepEqual(lp.Part.map((p) => [p.PartNumber, unq(p.ETag), p.Size]), [['1', md5(Buffer.from('second try')), '10'], ['2', md5(Buffer.from('never listed')), '12']]);
    const files = fileCount();
    const r = await complete('mpb', 'small', id, [[1, e1]]);
    assert.equal(r.status, 200, r.text);
    const got = await req('GET', objPath('mpb', 'small'));
    assert.equal(got.text, 'second try');
    assert.equal(unq(got.headers.etag), expectedEtag([Buffer.from('second try')]));
    assert.equal(fileCount(), files - 2, 'both part files are removed (the small object is kept inline)');
  });

  it('complete refuses parts out of order, unknown or with another ETag, and small parts before the last', async () => {
    const id = await initiate('mpb', 'bad');
    const small = [Buffer.from('aaa'), Buffer.from('bbb')];
    const e = [await part('mpb', 'bad', id, 1, small[0]), await part('mpb', 'bad', id, 2, small[1])];
    const cases: [[number, string][], string][] = [
      [[[2, e[1]], [1, e[0]]], 'InvalidPartOrder'],
      [[[1, e[0]], [1, e[0]]], 'InvalidPartOrder'],
      [[[1, e[0]], [3, e[1]]], 'InvalidPart'],
      [[[1, e[1]]], 'InvalidPart'],
      [[[1, e[0]], [2, e[1]]], 'EntityTooSmall'],
    ];
    for (const [parts, code] of cases) {
      const r = await complete('mpb', 'bad', id, parts);
      assert.equal(r.status, 400, `${JSON.stringify(parts)}: ${r.text}`);
      assert.equal(errorCode(r), code, JSON.stringify(parts));
    }
    const malformed = await req('POST', `${objPath('mpb', 'bad')}?uploadId=${id}`, { body: '<CompleteMultipartUpload><Part>' });
    assert.equal(errorCode(malformed), 'MalformedXML');
    assert.equal(errorCode(await req('POST', `${objPath('mpb', 'bad')}?uploadId=${id}`, { body: '<CompleteMultipartUpload/>' })), 'MalformedXML');
    for (const n of ['0', '10001', 'x']) {
      const r = await req('PUT', `${objPath('mpb', 'bad')}?partNumber=${n}&uploadId=${id}`, { body: 'x' });
      assert.equal(r.status, 400, n);
    }
    const digest = await req('PUT', `${objPath('mpb', 'bad')}?partNumber=3&uploadId=${id}`, { body: 'abc', headers: { 'content-md5': createHash('md5').update('abd').digest('base64') } });
    assert.equal(errorCode(digest), 'BadDigest');
    assert.equal((await req('HEAD', objPath('mpb', 'bad'))).status, 404, 'nothing was committed');
    // The upload survives every refusal.
    assert.equal((await req('GET', `${objPath('mpb', 'bad')}?uploadId=${id}`)).status, 200);
    assert.equal((await req('DELETE', `${objPath('mpb', 'bad')}?uploadId=${id}`)).status, 204);
  });

  it('unknown upload ids are NoSuchUpload (404) for every call, also an id of another key', async () => {
    const id = await initiate('mpb', 'owner-key');
    for (const [method, path, body] of [
      ['PUT', `${objPath('mpb', 'k')}?partNumber=1&uploadId=nope`, 'x'],
      ['POST', `${objPath('mpb', 'k')}?uploadId=nope`, completeBody([[1, md5(Buffer.from('x'))]])],
      ['DELETE', `${objPath('mpb', 'k')}?uploadId=nope`, undefined],
      ['GET', `${objPath('mpb', 'k')}?uploadId=nope`, undefined],
      ['GET', `${objPath('mpb', 'other-key')}?uploadId=${id}`, undefined],
    ] as const) {
      const r = await req(method, path, body === undefined ? {} : { body });
      assert.equal(r.status, 404, `${method} ${path}`);
      if (method !== 'DELETE') assert.equal(errorCode(r), 'NoSuchUpload', `${method} ${path}`);
    }
    assert.equal((await req('DELETE', `${objPath('mpb', 'owner-key')}?uploadId=${id}`)).status, 204);
  });

  it('abort answers 204, removes the parts\' files, and the upload is gone', async () => {
    const files = fileCount();
    const id = await initiate('mpb', 'aborted');
    await part('mpb', 'aborted', id, 1, randomBytes(1000));
    await part('mpb', 'aborted', id, 2, randomBytes(300 * 1024));
    assert.equal(fileCount(), files + 2, 'every part is a file, small ones too');
    assert.equal((await req('DELETE', `${objPath('mpb', 'aborted')}?uploadId=${id}`)).status, 204);
    assert.equal(fileCount(), files);
    assert.equal((await req('GET', `${objPath('mpb', 'aborted')}?uploadId=${id}`)).status, 404);
    assert.equal((await req('DELETE', `${objPath('mpb', 'aborted')}?uploadId=${id}`)).status, 404);
    assert.equal((await req('HEAD', objPath('mpb', 'aborted'))).status, 404);
  });

  it('deleting the bucket drops its uploads in progress and their files', async () => {
    assert.equal((await req('PUT', '/gone-soon')).status, 200);
    const files = fileCount();
    const id = await initiate('gone-soon', 'k');
    await part('gone-soon', 'k', id, 1, randomBytes(4096));
    assert.equal((await req('DELETE', '/gone-soon')).status, 204);
    assert.equal(fileCount(), files);
    assert.equal((await req('PUT', '/gone-soon')).status, 200);
    assert.equal((await req('GET', `${objPath('gone-soon', 'k')}?uploadId=${id}`)).status, 404);
    assert.equal((await req('DELETE', '/gone-soon')).status, 204);
  });

  it('SigV2 signs the multipart sub-resources; a system user initiates as the bucket owner with rgwx-uid', async () => {
    const v2 = (method: string, path: string, body?: string) => call(zone.url, method, path, alice, { sig: 'v2', ...(body !== undefined ? { body } : {}) });
    const init = await v2('POST', `${objPath('mpb', 'v2')}?uploads`);
    assert.equal(init.status, 200, init.text);
    const id = unq(parsed<{ InitiateMultipartUploadResult: { UploadId: string } }>(init).InitiateMultipartUploadResult.UploadId);
    const p = await v2('PUT', `${objPath('mpb', 'v2')}?partNumber=1&uploadId=${id}`, 'signed the old way');
    assert.equal(p.status, 200, p.text);
    assert.equal((await v2('POST', `${objPath('mpb', 'v2')}?uploadId=${id}`, completeBody([[1, unq(p.headers.etag)]]))).status, 200);
    assert.equal((await req('GET', objPath('mpb', 'v2'))).text, 'signed the old way');

    const sys = await call(zone.url, 'POST', `${objPath('mpb', 'by-system')}?uploads&rgwx-uid=alice`, t);
    const sid = unq(parsed<{ InitiateMultipartUploadResult: { UploadId: string } }>(sys).InitiateMultipartUploadResult.UploadId);
    const lp = parsed<{ ListPartsResult: { Initiator: { ID: string }; Owner: { ID: string } } }>(await req('GET', `${objPath('mpb', 'by-system')}?uploadId=${sid}`)).ListPartsResult;
    assert.equal(lp.Owner.ID, 'alice');
    assert.equal((await call(zone.url, 'POST', `${objPath('mpb', 'by-alice')}?uploads&rgwx-uid=someone`, alice)).status, 403, 'rgwx-uid is for system users only');
    assert.equal((await req('DELETE', `${objPath('mpb', 'by-system')}?uploadId=${sid}`)).status, 204);
  });

  it('ListParts pages with max-parts and part-number-marker', async () => {
    const id = await initiate('mpb', 'paged');
    for (let n = 1; n <= 5; n++) await part('mpb', 'paged', id, n, Buffer.from(`part ${n}`));
    type LP = { ListPartsResult: { Part?: { PartNumber: string }[]; IsTruncated: string; NextPartNumberMarker: string; MaxParts: string; Initiator: { ID: string } } };
    const seen: string[] = [];
    let marker = '0';
    for (let page = 0; page < 5; page++) {
      const r = parsed<LP>(await req('GET', `${objPath('mpb', 'paged')}?uploadId=${id}&max-parts=2&part-number-marker=${marker}`)).ListPartsResult;
      assert.equal(r.MaxParts, '2');
      assert.equal(r.Initiator.ID, 'alice');
      seen.push(...(r.Part ?? []).map((p) => p.PartNumber));
      if (r.IsTruncated !== 'true') break;
      marker = r.NextPartNumberMarker;
    }
    assert.deepEqual(seen, ['1', '2', '3', '4', '5']);
    await req('DELETE', `${objPath('mpb', 'paged')}?uploadId=${id}`);
  });

  it('ListMultipartUploads lists by key then initiation, with prefix, max-uploads, key-marker and upload-id-marker', async () => {
    assert.equal((await req('PUT', '/lmu')).status, 200);
    const ids: [string, string][] = [];
    for (const key of ['x/a', 'x/b', 'x/b', 'y/c']) ids.push([key, await initiate('lmu', key)]);
    type LMU = { ListMultipartUploadsResult: { Upload?: { Key: string; UploadId: string; Initiator: { ID: string }; StorageClass: string }[]; IsTruncated: string; NextKeyMarker?: string; NextUploadIdMarker?: string } };
    const all = parsed<LMU>(await req('GET', '/lmu?uploads')).ListMultipartUploadsResult;
    assert.deepEqual(all.Upload?.map((u) => [u.Key, u.UploadId]), ids, 'key order, then initiation order');
    assert.equal(all.IsTruncated, 'false');
    assert.equal(all.Upload?.[0].Initiator.ID, 'alice');
    assert.equal(all.Upload?.[0].StorageClass, 'STANDARD');
    const prefixed = parsed<LMU>(await req('GET', '/lmu?uploads&prefix=x/')).ListMultipartUploadsResult;
    assert.deepEqual(prefixed.Upload?.map((u) => u.Key), ['x/a', 'x/b', 'x/b']);
    const seen: [string, string][] = [];
    let q = '';
    for (let page = 0; page < 5; page++) {
      const r = parsed<LMU>(await req('GET', `/lmu?uploads&max-uploads=2${q}`)).ListMultipartUploadsResult;
      seen.push(...(r.Upload ?? []).map((u): [string, string] => [u.Key, u.UploadId]));
      if (r.IsTruncated !== 'true') break;
      q = `&key-marker=${encodeURIComponent(r.NextKeyMarker ?? '')}&upload-id-marker=${encodeURIComponent(r.NextUploadIdMarker ?? '')}`;
    }
    assert.deepEqual(seen, ids, 'pages split between the two uploads of x/b lose none');
    const afterKey = parsed<LMU>(await req('GET', '/lmu?uploads&key-marker=x/b')).ListMultipartUploadsResult;
    assert.deepEqual(afterKey.Upload?.map((u) => u.Key), ['y/c'], 'a key-marker alone skips that key');
    assert.equal((await req('GET', '/lmu?uploads&delimiter=/')).status, 501, 'no delimiter: refused, not ignored');
    assert.equal((await req('POST', '/lmu?uploads')).status, 405, 'an upload is of a key, not of the bucket');
    assert.equal((await req('PUT', '/lmu-not-made?uploads')).status, 405, 'and a PUT with ?uploads creates no bucket');
    for (const [key, id] of ids) assert.equal((await req('DELETE', `${objPath('lmu', key)}?uploadId=${id}`)).status, 204);
    assert.equal(parsed<LMU>(await req('GET', '/lmu?uploads')).ListMultipartUploadsResult.Upload, undefined);
  });

  it('UploadPartCopy copies ranges of an object into parts (CopyPartResult), and refuses a range past the end', async () => {
    const src = randomBytes(7 * MiB);
    assert.equal((await req('PUT', objPath('mpb', 'copy-src'), { body: src })).status, 200);
    const id = await initiate('mpb', 'copied');
    const copy = (n: number, range?: string) => req('PUT', `${objPath('mpb', 'copied')}?partNumber=${n}&uploadId=${id}`, {
      headers: { 'x-amz-copy-source': '/mpb/copy-src', ...(range ? { 'x-amz-copy-source-range': range } : {}) },
    });
    const r1 = await copy(1, `bytes=0-${5 * MiB - 1}`);
    assert.equal(r1.status, 200, r1.text);
    const e1 = unq(parsed<{ CopyPartResult: { ETag: string; LastModified: string } }>(r1).CopyPartResult.ETag);
    assert.equal(e1, md5(src.subarray(0, 5 * MiB)));
    const r2 = await copy(2, `bytes=${5 * MiB}-${src.length - 1}`);
    const e2 = unq(parsed<{ CopyPartResult: { ETag: string } }>(r2).CopyPartResult.ETag);
    assert.equal((await copy(3, `bytes=0-${src.length}`)).status, 416);
    assert.equal((await copy(3, 'bytes=5-')).status, 400);
    const conditional = (h: Record<string, string>) => req('PUT', `${objPath('mpb', 'copied')}?partNumber=3&uploadId=${id}`, { headers: { 'x-amz-copy-source': '/mpb/copy-src', ...h } });
    assert.equal((await conditional({ 'x-amz-copy-source-if-match': '"0123"' })).status, 412);
    assert.equal((await conditional({ 'x-amz-copy-source-if-none-match': `"${md5(src)}"` })).status, 412);
    const done = await complete('mpb', 'copied', id, [[1, e1], [2, e2]]);
    assert.equal(done.status, 200, done.text);
    const got = await req('GET', objPath('mpb', 'copied'));
    assert.ok(got.body.equals(src));
    assert.equal(unq(got.headers.etag), expectedEtag([src.subarray(0, 5 * MiB), src.subarray(5 * MiB)]));

    // A whole object copied as a part needs no range.
    const id2 = await initiate('mpb', 'copied-whole');
    const whole = await copy(1);
    assert.equal(whole.status, 404, 'the copy names its own upload id');
    const r3 = await req('PUT', `${objPath('mpb', 'copied-whole')}?partNumber=1&uploadId=${id2}`, { headers: { 'x-amz-copy-source': 'mpb/copy-src' } });
    assert.equal(unq(parsed<{ CopyPartResult: { ETag: string } }>(r3).CopyPartResult.ETag), md5(src));
    await req('DELETE', `${objPath('mpb', 'copied-whole')}?uploadId=${id2}`);
  });

  it('a zone restart keeps an upload in progress, its parts and their files', async () => {
    const id = await initiate('mpb', 'across-restart', { 'x-amz-meta-kept': 'yes' });
    const p1 = randomBytes(5 * MiB);
    const e1 = await part('mpb', 'across-restart', id, 1, p1);
    await zone.close();
    zone = await start();
    const lp = parsed<{ ListPartsResult: { Part: { ETag: string }[] } }>(await req('GET', `${objPath('mpb', 'across-restart')}?uploadId=${id}`)).ListPartsResult;
    assert.deepEqual(lp.Part.map((p) => unq(p.ETag)), [e1]);
    const p2 = Buffer.from('tail');
    const e2 = await part('mpb', 'across-restart', id, 2, p2);
    assert.equal((await complete('mpb', 'across-restart', id, [[1, e1], [2, e2]])).status, 200);
    const got = await req('GET', objPath('mpb', 'across-restart'));
    assert.ok(got.body.equals(Buffer.concat([p1, p2])), 'part 1\'s file survived the restart (not taken for an orphan)');
    assert.equal(got.headers['x-amz-meta-kept'], 'yes');
  });

  it('the sweep removes uploads older than the configured age, with their files, and keeps younger ones', async () => {
    const files = fileCount();
    const old = await initiate('mpb', 'old');
    await part('mpb', 'old', old, 1, randomBytes(2000));
    const young = await initiate('mpb', 'young');
    assert.equal(await sweepUploads(zone.context, 3600), 0, 'nothing is an hour old');
    // As if an hour had passed: both are older than 30 minutes.
    assert.equal(await sweepUploads(zone.context, 1800, Date.now() + 3600_000), 2);
    assert.equal(fileCount(), files);
    assert.equal((await req('GET', `${objPath('mpb', 'old')}?uploadId=${old}`)).status, 404);
    assert.equal((await req('GET', `${objPath('mpb', 'young')}?uploadId=${young}`)).status, 404);

    // The zone's own periodic sweep, with a one-second age.
    await zone.close();
    zone = await start({ abandonedUploadSeconds: 1 });
    const id = await initiate('mpb', 'abandoned');
    await part('mpb', 'abandoned', id, 1, Buffer.from('x'));
    const deadline = Date.now() + 10_000;
    while ((await req('GET', `${objPath('mpb', 'abandoned')}?uploadId=${id}`)).status === 200) {
      assert.ok(Date.now() < deadline, 'the periodic sweep removed the upload within 10 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(fileCount(), files);
    await zone.close();
    zone = await start();
  });

  it('the AWS SDK v3 with its default settings uploads 20 MiB in four parts and reads it back', async () => {
    const s3 = new S3Client({ endpoint: zone.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: alice.accessKey, secretAccessKey: alice.secretKey } });
    try {
      const body = randomBytes(20 * MiB);
      const init = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'mpb', Key: 'sdk/20m', ContentType: 'video/mp4', Metadata: { via: 'sdk' } }));
      assert.ok(init.UploadId);
      const parts = [];
      for (let n = 1; n <= 4; n++) {
        const up = await s3.send(new UploadPartCommand({ Bucket: 'mpb', Key: 'sdk/20m', UploadId: init.UploadId, PartNumber: n, Body: body.subarray((n - 1) * 5 * MiB, n * 5 * MiB) }));
        parts.push({ PartNumber: n, ETag: up.ETag });
      }
      const listed = await s3.send(new ListPartsCommand({ Bucket: 'mpb', Key: 'sdk/20m', UploadId: init.UploadId }));
      assert.deepEqual(listed.Parts?.map((p) => p.PartNumber), [1, 2, 3, 4]);
      const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'mpb', Key: 'sdk/20m', UploadId: init.UploadId, MultipartUpload: { Parts: parts } }));
      const pieces = [0, 1, 2, 3].map((i) => body.subarray(i * 5 * MiB, (i + 1) * 5 * MiB));
      assert.equal(unq(done.ETag), expectedEtag(pieces));
      const got = await s3.send(new GetObjectCommand({ Bucket: 'mpb', Key: 'sdk/20m', Range: `bytes=${10 * MiB - 3}-${10 * MiB + 2}` }));
      assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(body.subarray(10 * MiB - 3, 10 * MiB + 3)));
      assert.equal(got.ContentType, 'video/mp4');
      assert.equal(got.Metadata?.via, 'sdk');
      const full = await s3.send(new GetObjectCommand({ Bucket: 'mpb', Key: 'sdk/20m' }));
      assert.equal(md5(Buffer.from(await full.Body!.transformToByteArray())), md5(body));
    } finally {
      s3.destroy();
    }
  });
});
