/**
 * S3 multipart uploads in the embedded zone. An upload and its parts live in the store (uploads,
 * upload_parts) and each part in a file of its own, fsynced like an object's; nothing is visible
 * in the bucket until complete, which concatenates the parts into one ordinary object file and
 * commits it the way a PUT does (so the bucket-index and data logs record it and agents sync it).
 * Uploads nobody completes or aborts are swept after a configurable age.
 */
import { systemVersionAsk, writtenVersionHeaders } from './versioning.js';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { HttpError, headerValue, isDiskFull, intParam, readSmallBody, sendEmpty, sendXml, xmlEscape, type RequestContext } from './http.js';
import type { ZoneContext } from './context.js';
import { parseCopySource, parseStoredAttrs, requestAttrs, userMetadata } from './objectattrs.js';
import { actingUid, bucketFor, checkedContentMd5 } from './s3.js';
import { uploadBody } from './chunked.js';
import { isoSeconds } from './s3xml.js';
import { precondition, type Conditions } from './conditional.js';
import type { WrittenFile } from './objectfiles.js';
import type { BucketRow, PartRow, UploadRow } from './store.js';
import { DEFAULT_STORAGE_CLASS } from '../rgw/attrs.js';

export const MIN_PART_BYTES = 5 * 1024 ** 2;
const MAX_PART_BYTES = 5 * 1024 ** 3;
const MAX_PARTS = 10_000;
/** 10,000 parts with their ETags (and any checksums a client adds) fit well within this. */
const MAX_COMPLETE_BODY = 4 << 20;
export const DEFAULT_ABANDONED_UPLOAD_SECONDS = 7 * 24 * 3600;

const NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';
const xml = new XMLParser({ ignoreAttributes: true, parseTagValue: false, removeNSPrefix: true, isArray: (name) => name === 'Part' });

/**
 * Uploads whose complete is reading their part files, per zone. A part upload, an abort or a
 * second complete of such an upload is refused: each would unlink a file the complete is about to
 * read. Memory is enough: a restart ends every complete in progress.
 */
const completing = new WeakMap<ZoneContext, Set<string>>();

function completingOf(zc: ZoneContext): Set<string> {
  let s = completing.get(zc);
  if (!s) completing.set(zc, (s = new Set()));
  return s;
}

function busy(uploadId: string): HttpError {
  return new HttpError(409, 'OperationAborted', `upload ${uploadId} is being completed`);
}

function uploadOf(zc: ZoneContext, b: BucketRow, key: string, uploadId: string): UploadRow {
  const u = zc.store.getUpload(uploadId);
  // An id of another key or bucket is as unknown as a made-up one.
  if (!u || u.instance !== b.instance || u.key !== key) throw new HttpError(404, 'NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.');
  return u;
}

function unquote(etag: string): string {
  return etag.trim().replace(/^"(.*)"$/, '$1').toLowerCase();
}

function displayName(zc: ZoneContext, uid: string): string {
  return zc.store.getUser(uid)?.data.display_name ?? uid;
}

function person(tag: 'Initiator' | 'Owner', zc: ZoneContext, uid: string): string {
  return `<${tag}><ID>${xmlEscape(uid)}</ID><DisplayName>${xmlEscape(displayName(zc, uid))}</DisplayName></${tag}>`;
}

function storageClassOf(u: UploadRow): string {
  return parseStoredAttrs(u.attrs).storageClass ?? DEFAULT_STORAGE_CLASS;
}

/** POST /bucket/key?uploads: the object's attributes are taken now, as a PUT would take them. */
export async function createUpload(ctx: RequestContext, zc: ZoneContext, b: BucketRow, key: string): Promise<void> {
  const { headers } = ctx.req;
  const owner = actingUid(ctx);
  const attrs = requestAttrs(headers, owner, b.owner);
  await readSmallBody(ctx.req, 64 << 10);
  const u = await zc.store.grouped(() => zc.store.createUpload(b, {
    key, owner,
    content_type: headers['content-type'] ?? 'binary/octet-stream',
    meta: JSON.stringify(userMetadata(headers)),
    attrs: JSON.stringify(attrs),
  }));
  sendXml(ctx.res, 200, `<InitiateMultipartUploadResult ${NS}><Bucket>${xmlEscape(b.name)}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${xmlEscape(u.upload_id)}</UploadId></InitiateMultipartUploadResult>`);
}

function partNumberOf(query: Map<string, string>): number {
  const v = query.get('partNumber') ?? '';
  const n = /^\d{1,5}$/.test(v) ? Number(v) : 0;
  if (n < 1 || n > MAX_PARTS) throw new HttpError(400, 'InvalidArgument', `Part number must be an integer between 1 and ${MAX_PARTS}, inclusive`);
  return n;
}

/** Records a part whose file is durable; on any failure the file goes, and the part it replaced on success. */
async function commitPart(zc: ZoneContext, uploadId: string, part: number, written: WrittenFile): Promise<number> {
  let r;
  try {
    r = await zc.store.grouped(() => {
      // Checked in the commit itself: a complete that started meanwhile has already read the rows.
      if (completingOf(zc).has(uploadId)) throw busy(uploadId);
      return zc.store.putPart(uploadId, part, { size: written.size, etag: written.md5, file: written.file });
    });
  } catch (e) {
    await zc.files.remove(written.file);
    throw e;
  }
  await zc.files.remove(r.replaced);
  return r.mtime_us;
}

/** PUT /bucket/key?partNumber=N&uploadId=U, with a body or with x-amz-copy-source. */
export async function uploadPart(ctx: RequestContext, zc: ZoneContext, b: BucketRow, key: string): Promise<void> {
  const { headers } = ctx.req;
  const part = partNumberOf(ctx.url.query);
  const uploadId = ctx.url.query.get('uploadId') ?? '';
  uploadOf(zc, b, key, uploadId);
  if (headers['x-amz-copy-source'] !== undefined) return uploadPartCopy(ctx, zc, uploadId, part);
  const expectedMd5 = checkedContentMd5(headers);
  // The same body handling as a PUT: aws-chunked de-framed (chunk signatures checked), a checksum
  // sent with the part verified (not kept: a part's checksum is not the object's).
  const upload = uploadBody(ctx.req, ctx.signing, MAX_PART_BYTES);
  const size = upload.size;
  let written: WrittenFile;
  try {
    // No expected size: that would keep a small body inline, and complete streams parts from files.
    written = await zc.files.write(upload.body, undefined, { sha256: ctx.payloadSha256 !== undefined });
  } catch (e) {
    if (e instanceof HttpError || isDiskFull(e)) throw e;
    throw new HttpError(400, 'IncompleteBody', `upload did not complete: ${(e as Error).message}`);
  }
  const fail = async (err: HttpError): Promise<never> => {
    await zc.files.remove(written.file);
    throw err;
  };
  if (size !== undefined && written.size !== size) await fail(new HttpError(400, 'IncompleteBody', `body was ${written.size} bytes, Content-Length said ${size}`));
  if (expectedMd5 !== undefined && expectedMd5 !== written.md5) await fail(new HttpError(400, 'BadDigest', 'Content-MD5 does not match the body'));
  if (ctx.payloadSha256 !== undefined && ctx.payloadSha256 !== written.sha256) await fail(new HttpError(400, 'XAmzContentSHA256Mismatch', 'x-amz-content-sha256 does not match the body'));
  await commitPart(zc, uploadId, part, written);
  sendEmpty(ctx.res, 200, { ETag: `"${written.md5}"` });
}

function copyRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d+)-(\d+)$/.exec(header.trim());
  if (!m) throw new HttpError(400, 'InvalidArgument', 'x-amz-copy-source-range must be bytes=first-last');
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start || end >= size) throw new HttpError(416, 'InvalidRange', `the range ${start}-${end} is not within the source's ${size} bytes`);
  return { start, end };
}

/** UploadPartCopy: a part made of (a range of) an object of a bucket the requester may read. */
async function uploadPartCopy(ctx: RequestContext, zc: ZoneContext, uploadId: string, part: number): Promise<void> {
  const src = parseCopySource(headerValue(ctx.req.headers, 'x-amz-copy-source') ?? '');
  const sb = bucketFor(ctx, zc, src.bucket);
  const so = zc.store.getObject(sb.instance, src.key);
  if (!so) throw new HttpError(404, 'NoSuchKey', `no key ${src.key} in ${src.bucket}`);
  const conds: Conditions = {};
  for (const name of ['if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since'] as const) {
    const v = headerValue(ctx.req.headers, `x-amz-copy-source-${name}`);
    if (v !== undefined) conds[name] = v;
  }
  // A copy has no 304 to give: any condition that does not hold is a 412, as in S3.
  if (precondition(conds, so.etag, so.mtime_us / 1000) !== 'ok') throw new HttpError(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
  const range = copyRange(headerValue(ctx.req.headers, 'x-amz-copy-source-range'), so.size);
  const length = range ? range.end - range.start + 1 : so.size;
  if (length > MAX_PART_BYTES) throw new HttpError(400, 'EntityTooLarge', 'a part is at most 5 GiB');
  const written = await zc.files.write(zc.files.read(so.file, range), undefined);
  if (written.size !== length) {
    await zc.files.remove(written.file);
    throw new HttpError(500, 'InternalError', `copy source ${src.bucket}/${src.key} gave ${written.size} bytes, expected ${length}`);
  }
  const mtime = await commitPart(zc, uploadId, part, written);
  sendXml(ctx.res, 200, `<CopyPartResult ${NS}><LastModified>${isoSeconds(mtime)}</LastModified><ETag>&quot;${written.md5}&quot;</ETag></CopyPartResult>`);
}

/** The part list of a CompleteMultipartUpload body, checked for shape only. */
function requestedParts(body: string): { part: number; etag: string }[] {
  if (XMLValidator.validate(body) !== true) throw new HttpError(400, 'MalformedXML', 'CompleteMultipartUpload is not well-formed XML');
  const doc = xml.parse(body) as { CompleteMultipartUpload?: { Part?: { PartNumber?: unknown; ETag?: unknown }[] } | '' };
  const list = typeof doc.CompleteMultipartUpload === 'object' ? doc.CompleteMultipartUpload.Part ?? [] : [];
  if (list.length === 0) throw new HttpError(400, 'MalformedXML', 'CompleteMultipartUpload must name at least one part');
  return list.map((p) => {
    const n = typeof p.PartNumber === 'string' && /^\d{1,5}$/.test(p.PartNumber.trim()) ? Number(p.PartNumber) : 0;
    if (n < 1 || n > MAX_PARTS || typeof p.ETag !== 'string') throw new HttpError(400, 'MalformedXML', 'every Part needs a PartNumber (1-10000) and an ETag');
    return { part: n, etag: unquote(p.ETag) };
  });
}

/** S3's multipart ETag: the MD5 of the parts' binary MD5s, then "-" and the number of parts. */
export function multipartEtag(partMd5s: string[]): string {
  const h = createHash('md5');
  for (const m of partMd5s) h.update(Buffer.from(m, 'hex'));
  return `${h.digest('hex')}-${partMd5s.length}`;
}

function concatenated(zc: ZoneContext, parts: PartRow[]): Readable {
  // One part file open at a time, read as it streams: memory stays bounded whatever the size.
  return Readable.from((async function* () {
    for (const p of parts) yield* zc.files.read(p.file) as AsyncIterable<Buffer>;
  })());
}

function objectUrl(zc: ZoneContext, bucket: string, key: string): string {
  const path = key.split('/').map(encodeURIComponent).join('/');
  return `${zc.zone.endpoint.replace(/\/+$/, '')}/${encodeURIComponent(bucket)}/${path}`;
}

/** POST /bucket/key?uploadId=U with the part list: the object appears, whole, in one commit. */
export async function completeUpload(ctx: RequestContext, zc: ZoneContext, b: BucketRow, key: string): Promise<void> {
  const uploadId = ctx.url.query.get('uploadId') ?? '';
  uploadOf(zc, b, key, uploadId);
  const asked = requestedParts((await readSmallBody(ctx.req, MAX_COMPLETE_BODY)).toString('utf8'));
  // Looked up again after the body: the upload may have been aborted or completed meanwhile.
  const u = uploadOf(zc, b, key, uploadId);
  const set = completingOf(zc);
  if (set.has(uploadId)) throw busy(uploadId);
  const stored = new Map(zc.store.listParts(uploadId).map((p) => [p.part, p]));
  const parts: PartRow[] = [];
  for (const [i, a] of asked.entries()) {
    if (i > 0 && a.part <= asked[i - 1].part) throw new HttpError(400, 'InvalidPartOrder', 'The list of parts was not in ascending order. The parts list must be specified in order by part number.');
    const p = stored.get(a.part);
    if (!p || p.etag !== a.etag) throw new HttpError(400, 'InvalidPart', `part ${a.part} was not uploaded or its ETag does not match`);
    parts.push(p);
  }
  for (const p of parts.slice(0, -1)) {
    if (p.size < MIN_PART_BYTES) throw new HttpError(400, 'EntityTooSmall', `part ${p.part} is ${p.size} bytes; every part but the last must be at least ${MIN_PART_BYTES}`);
  }
  const size = parts.reduce((n, p) => n + p.size, 0);
  const etag = multipartEtag(parts.map((p) => p.etag));
  const ask = systemVersionAsk(ctx);
  set.add(uploadId);
  let result;
  try {
    let written: WrittenFile;
    try {
      written = await zc.files.write(concatenated(zc, parts), size);
    } catch (e) {
      if (isDiskFull(e)) throw e;
      throw new HttpError(500, 'InternalError', `assembling upload ${uploadId}: ${(e as Error).message}`);
    }
    try {
      result = await zc.store.grouped(() => zc.store.completeUpload(b, uploadId, {
        key, size, etag, file: written.file, inline: written.inline,
        content_type: u.content_type, meta: u.meta, attrs: u.attrs,
      }, ask));
    } catch (e) {
      await zc.files.remove(written.file);
      throw e;
    }
  } finally {
    set.delete(uploadId);
  }
  // Unlisted parts go too, as in S3: complete discards what the list does not name.
  for (const f of result.partFiles) await zc.files.remove(f);
  await zc.files.remove(result.replaced);
  sendXml(ctx.res, 200, `<CompleteMultipartUploadResult ${NS}><Location>${xmlEscape(objectUrl(zc, b.name, key))}</Location><Bucket>${xmlEscape(b.name)}</Bucket><Key>${xmlEscape(key)}</Key><ETag>&quot;${etag}&quot;</ETag></CompleteMultipartUploadResult>`, writtenVersionHeaders(result.versionId));
}

/** Forgets an upload and unlinks its parts; false when it was already gone. */
async function dropUpload(zc: ZoneContext, uploadId: string): Promise<boolean> {
  const r = await zc.store.grouped(() => {
    if (completingOf(zc).has(uploadId)) throw busy(uploadId);
    return zc.store.dropUpload(uploadId);
  });
  for (const f of r.files) await zc.files.remove(f);
  return r.found;
}

/** DELETE /bucket/key?uploadId=U */
export async function abortUpload(ctx: RequestContext, zc: ZoneContext, b: BucketRow, key: string): Promise<void> {
  const uploadId = ctx.url.query.get('uploadId') ?? '';
  uploadOf(zc, b, key, uploadId);
  if (!(await dropUpload(zc, uploadId))) uploadOf(zc, b, key, uploadId);
  sendEmpty(ctx.res, 204);
}

/** GET /bucket/key?uploadId=U: ListParts, paged by part-number-marker. */
export function listParts(ctx: RequestContext, zc: ZoneContext, b: BucketRow, key: string): void {
  const { query } = ctx.url;
  const uploadId = query.get('uploadId') ?? '';
  const u = uploadOf(zc, b, key, uploadId);
  const max = intParam(query, 'max-parts', 1000, 1000);
  const marker = intParam(query, 'part-number-marker', 0, MAX_PARTS);
  const rows = zc.store.listParts(uploadId, marker, max + 1);
  const truncated = rows.length > max;
  const shown = rows.slice(0, max);
  const next = shown.length > 0 ? shown[shown.length - 1].part : marker;
  const parts = shown
    .map((p) => `<Part><PartNumber>${p.part}</PartNumber><LastModified>${isoSeconds(p.mtime_us)}</LastModified><ETag>&quot;${p.etag}&quot;</ETag><Size>${p.size}</Size></Part>`)
    .join('');
  sendXml(ctx.res, 200, `<ListPartsResult ${NS}><Bucket>${xmlEscape(b.name)}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${xmlEscape(uploadId)}</UploadId>`
    + `${person('Initiator', zc, u.owner)}${person('Owner', zc, u.owner)}<StorageClass>${xmlEscape(storageClassOf(u))}</StorageClass>`
    + `<PartNumberMarker>${marker}</PartNumberMarker><NextPartNumberMarker>${next}</NextPartNumberMarker><MaxParts>${max}</MaxParts><IsTruncated>${truncated}</IsTruncated>${parts}</ListPartsResult>`);
}

/** GET /bucket?uploads: ListMultipartUploads, paged by key-marker and upload-id-marker. */
export function listUploads(ctx: RequestContext, zc: ZoneContext, b: BucketRow): void {
  const { query } = ctx.url;
  // Refused rather than ignored: a client asking for CommonPrefixes must not get a flat list.
  if (query.get('delimiter')) throw new HttpError(501, 'NotImplemented', 'the embedded zone lists uploads without a delimiter');
  const encodingType = query.get('encoding-type');
  if (encodingType !== undefined && encodingType !== 'url') throw new HttpError(400, 'InvalidArgument', 'encoding-type must be url');
  const enc = (s: string) => xmlEscape(encodingType === 'url' ? encodeURIComponent(s).replace(/%2F/g, '/') : s);
  const prefix = query.get('prefix') ?? '';
  const keyMarker = query.get('key-marker') ?? '';
  // An upload-id-marker means something only with a key-marker, as in S3.
  const idMarker = keyMarker !== '' ? query.get('upload-id-marker') ?? '' : '';
  const max = intParam(query, 'max-uploads', 1000, 1000);
  const rows = zc.store.listUploads(b.instance, prefix, keyMarker, idMarker, max + 1);
  const truncated = rows.length > max;
  const shown = rows.slice(0, max);
  const last = shown.at(-1);
  const uploads = shown
    .map((u) => `<Upload><Key>${enc(u.key)}</Key><UploadId>${xmlEscape(u.upload_id)}</UploadId>${person('Initiator', zc, u.owner)}${person('Owner', zc, u.owner)}<StorageClass>${xmlEscape(storageClassOf(u))}</StorageClass><Initiated>${isoSeconds(u.initiated_us)}</Initiated></Upload>`)
    .join('');
  sendXml(ctx.res, 200, `<ListMultipartUploadsResult ${NS}><Bucket>${xmlEscape(b.name)}</Bucket><KeyMarker>${enc(keyMarker)}</KeyMarker><UploadIdMarker>${xmlEscape(idMarker)}</UploadIdMarker>`
    + (truncated && last ? `<NextKeyMarker>${enc(last.key)}</NextKeyMarker><NextUploadIdMarker>${xmlEscape(last.upload_id)}</NextUploadIdMarker>` : '')
    + `<Prefix>${enc(prefix)}</Prefix><MaxUploads>${max}</MaxUploads>${encodingType === 'url' ? '<EncodingType>url</EncodingType>' : ''}<IsTruncated>${truncated}</IsTruncated>${uploads}</ListMultipartUploadsResult>`);
}

/** Aborts every upload initiated more than `maxAgeSeconds` before `nowMs`; returns how many. */
export async function sweepUploads(zc: ZoneContext, maxAgeSeconds: number, nowMs = Date.now()): Promise<number> {
  const beforeUs = (nowMs - maxAgeSeconds * 1000) * 1000;
  let swept = 0;
  const skipped = new Set<string>();
  for (;;) {
    const batch = zc.store.uploadsInitiatedBefore(beforeUs, 100 + skipped.size).filter((u) => !skipped.has(u.upload_id));
    if (batch.length === 0) return swept;
    for (const u of batch) {
      // One being completed right now is not abandoned; nor is it ours to take.
      if (completingOf(zc).has(u.upload_id)) {
        skipped.add(u.upload_id);
        continue;
      }
      try {
        if (await dropUpload(zc, u.upload_id)) swept++;
      } catch (e) {
        if (!(e instanceof HttpError)) throw e;
        skipped.add(u.upload_id);
      }
    }
  }
}

/**
 * Sweeps abandoned uploads at start and then periodically (a quarter of the age, between one
 * second and one hour, so an upload outlives its age by at most that). Returns a stop function
 * that waits for a sweep in progress.
 */
export function startUploadSweeper(zc: ZoneContext, maxAgeSeconds: number): () => Promise<void> {
  const everyMs = Math.min(3600_000, Math.max(1000, (maxAgeSeconds * 1000) / 4));
  let running: Promise<void> | undefined;
  let stopped = false;
  const run = () => {
    if (running || stopped) return;
    running = sweepUploads(zc, maxAgeSeconds)
      .then((n) => { if (n > 0) zc.log('info', `removed ${n} multipart upload(s) older than ${maxAgeSeconds} s`); })
      .catch((e: unknown) => zc.log('error', `sweeping abandoned multipart uploads: ${(e as Error).message}`))
      .finally(() => { running = undefined; });
  };
  run();
  const timer = setInterval(run, everyMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}
