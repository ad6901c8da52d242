/** The S3 subset: service, bucket and object operations of the embedded zone. */
import type { IncomingHttpHeaders } from 'node:http';
import { XMLValidator } from 'fast-xml-parser';
import { HttpError, headerValue, isDiskFull, intParam, readSmallBody, sendEmpty, sendXml, type RequestContext } from './http.js';
import type { ZoneContext } from './context.js';
import { copyObjectResult, listAllMyBuckets, listObjectsV1, listObjectsV2, locationConstraint, type ListParams } from './s3xml.js';
import { listKeys } from './listing.js';
import { remoteCopy } from './remotecopy.js';
import { abortUpload, completeUpload, createUpload, listParts, listUploads, uploadPart } from './multipart.js';
import { aclFromHeaders, attrResponseHeaders, defaultAcl, rowAttrs, checkedTags, parseCopySource, parseStoredAttrs, requestAttrs, userMetadata, type StoredAttrs } from './objectattrs.js';
import { aclXml, parseAcl, parseTagging, taggingXml } from '../rgw/attrxml.js';
import { precondition, type Conditions } from './conditional.js';
import { deleteObjects } from './multidelete.js';
import { EMBEDDED_LEN_HEADER, encodeEmbedded, PREPEND_QUERY } from '../rgw/prepend.js';
import { parseTags } from '../rgw/attrs.js';
import { secUsec } from '../rgw/clock.js';
import { uploadBody } from './chunked.js';
import { checksumHeader } from './checksums.js';
import type { BucketRow, ObjectRow } from './store.js';
import { askedVersionId, deleteOp, listObjectVersions, readableVersion, systemVersionAsk, VERSION_HEADER, versioningOp, writtenVersionHeaders } from './versioning.js';
import { NULL_VERSION } from './versions.js';

const MAX_KEY_BYTES = 1024;
const MAX_PUT_BYTES = 5 * 1024 ** 3;
/** Bucket sub-resources we do not implement: answer 501 instead of silently listing. */
const UNSUPPORTED_SUBRESOURCES = ['cors', 'lifecycle', 'policy', 'website', 'logging', 'notification', 'replication', 'encryption', 'object-lock', 'retention', 'legal-hold', 'torrent', 'restore', 'select', 'requestPayment', 'accelerate', 'analytics', 'inventory', 'metrics', 'ownershipControls', 'publicAccessBlock', 'intelligent-tiering', 'attributes'];

export function validateBucketName(name: string): void {
  // RGW's relaxed rules: 3-255 chars, letters, digits, '.', '-', '_'; no path tricks.
  if (name.length < 3 || name.length > 255 || !/^[A-Za-z0-9._-]+$/.test(name) || name === '..' || name.startsWith('.')) {
    throw new HttpError(400, 'InvalidBucketName', 'bucket names are 3-255 characters of letters, digits, ".", "-" and "_"');
  }
}

export function validateKey(key: string): void {
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw new HttpError(400, 'KeyTooLongError', `object keys are at most ${MAX_KEY_BYTES} bytes`);
  if (key.includes('\0')) throw new HttpError(400, 'InvalidObjectName', 'object keys may not contain NUL');
}

/** The bucket owner acts; a system user may act as anyone and name the owner with rgwx-uid. */
export function actingUid(ctx: RequestContext): string {
  const as = ctx.url.query.get('rgwx-uid');
  return ctx.user.key.system && as ? as : ctx.user.uid;
}

export function bucketFor(ctx: RequestContext, zc: ZoneContext, name: string): BucketRow {
  // Names are validated when a bucket is created (as RGW does), not on every request: a bucket that
  // arrived by metadata sync from a zone with laxer rules (the recorded traces use "b1") stays usable.
  const b = zc.store.getBucket(name);
  if (!b || !zc.store.instanceExists(b.instance)) throw new HttpError(404, 'NoSuchBucket', `no bucket ${name}`);
  if (!ctx.user.key.system && b.owner !== ctx.user.uid) throw new HttpError(403, 'AccessDenied', `bucket ${name} belongs to another user`);
  return b;
}

function rejectUnsupported(query: Map<string, string>): void {
  for (const sub of UNSUPPORTED_SUBRESOURCES) {
    if (query.has(sub)) throw new HttpError(501, 'NotImplemented', `the embedded zone does not implement ?${sub}`);
  }
}

export async function handleS3(ctx: RequestContext, zc: ZoneContext): Promise<void> {
  const path = ctx.url.path;
  const slash = path.indexOf('/', 1);
  const bucket = slash < 0 ? path.slice(1) : path.slice(1, slash);
  const key = slash < 0 ? '' : path.slice(slash + 1);
  const method = ctx.req.method ?? 'GET';
  if (bucket === '') {
    if (method !== 'GET') throw new HttpError(405, 'MethodNotAllowed');
    return listBuckets(ctx, zc);
  }
  rejectUnsupported(ctx.url.query);
  if (key === '') {
    for (const sub of ['acl', 'tagging']) if (ctx.url.query.has(sub)) throw new HttpError(501, 'NotImplemented', `the embedded zone keeps ?${sub} on objects only, not on buckets`);
    // Only ListMultipartUploads is of a bucket; anything else multipart names a key.
    if (ctx.url.query.has('uploadId') || ctx.url.query.has('partNumber') || (ctx.url.query.has('uploads') && method !== 'GET')) throw new HttpError(405, 'MethodNotAllowed', 'multipart upload calls name an object key');
    if (ctx.url.query.has('delete')) {
      if (method !== 'POST') throw new HttpError(405, 'MethodNotAllowed', 'DeleteObjects is POST /bucket?delete');
      return deleteObjects(ctx, zc, bucketFor(ctx, zc, bucket), validateKey);
    }
    if (ctx.url.query.has('versioning')) return versioningOp(ctx, zc, bucketFor(ctx, zc, bucket), method);
    return bucketOp(ctx, zc, bucket, method);
  }
  validateKey(key);
  return objectOp(ctx, zc, bucket, key, method);
}

function listBuckets(ctx: RequestContext, zc: ZoneContext): void {
  const uid = actingUid(ctx);
  const user = zc.store.getUser(uid);
  sendXml(ctx.res, 200, listAllMyBuckets(uid, user?.data.display_name ?? uid, zc.store.listBuckets(uid)));
}

async function bucketOp(ctx: RequestContext, zc: ZoneContext, name: string, method: string): Promise<void> {
  const { query } = ctx.url;
  if (method === 'PUT') {
    validateBucketName(name);
    const body = await readSmallBody(ctx.req, 64 << 10);
    if (body.length > 0 && XMLValidator.validate(body.toString('utf8')) !== true) throw new HttpError(400, 'MalformedXML', 'CreateBucketConfiguration is not well-formed XML');
    const existing = zc.store.getBucket(name);
    const owner = actingUid(ctx);
    if (existing) {
      if (existing.owner === owner) return sendEmpty(ctx.res, 200);
      throw new HttpError(409, 'BucketAlreadyExists', `bucket ${name} belongs to another user`);
    }
    if (!zc.store.getUser(owner)) throw new HttpError(400, 'InvalidArgument', `no user ${owner}`);
    zc.store.createBucket(name, owner);
    zc.log('info', `bucket created: ${name} (owner ${owner})`);
    return sendEmpty(ctx.res, 200, { Location: `/${name}` });
  }
  const b = bucketFor(ctx, zc, name);
  if (method === 'HEAD') return sendEmpty(ctx.res, 200, { 'x-rgw-bucket-id': b.bucket_id });
  if (method === 'DELETE') {
    for (const f of zc.store.deleteBucket(name)) await zc.files.remove(f);
    zc.log('info', `bucket deleted: ${name}`);
    return sendEmpty(ctx.res, 204);
  }
  if (method !== 'GET') throw new HttpError(405, 'MethodNotAllowed');
  if (query.has('uploads')) return listUploads(ctx, zc, b);
  if (query.has('versions')) return listObjectVersions(ctx, zc, b);
  if (query.has('location')) return sendXml(ctx.res, 200, locationConstraint(zc.realm.zonegroup));

  const delimiter = query.get('delimiter') || undefined;
  const encodingType = query.get('encoding-type');
  if (encodingType !== undefined && encodingType !== 'url') throw new HttpError(400, 'InvalidArgument', 'encoding-type must be url');
  const p: ListParams = {
    bucket: name,
    prefix: query.get('prefix') ?? '',
    delimiter,
    maxKeys: intParam(query, 'max-keys', 1000, 1000),
    encodeUrl: encodingType === 'url',
    owner: b.owner,
  };
  if (query.get('list-type') === '2') {
    const token = query.get('continuation-token');
    let after = query.get('start-after') || undefined;
    if (token !== undefined) {
      const decoded = Buffer.from(token, 'base64url').toString('utf8');
      if (!token || Buffer.from(decoded, 'utf8').toString('base64url') !== token) throw new HttpError(400, 'InvalidArgument', 'invalid continuation-token');
      after = decoded;
    }
    const r = listKeys(zc.store, b.instance, { prefix: p.prefix, delimiter, after, maxKeys: p.maxKeys });
    const nextToken = r.nextMarker !== undefined ? Buffer.from(r.nextMarker, 'utf8').toString('base64url') : undefined;
    return sendXml(ctx.res, 200, listObjectsV2(p, { continuationToken: token, startAfter: query.get('start-after'), fetchOwner: query.get('fetch-owner') === 'true', nextToken }, r));
  }
  const marker = query.get('marker') ?? '';
  const r = listKeys(zc.store, b.instance, { prefix: p.prefix, delimiter, after: marker || undefined, maxKeys: p.maxKeys });
  sendXml(ctx.res, 200, listObjectsV1(p, marker, r));
}

function objectHeaders(o: ObjectRow, system: boolean, checksum: boolean): Record<string, string | number> {
  const h: Record<string, string | number> = {
    ETag: `"${o.etag}"`,
    'Last-Modified': new Date(Math.floor(o.mtime_us / 1000)).toUTCString(),
    'Content-Type': o.content_type,
    'Accept-Ranges': 'bytes',
  };
  for (const [k, v] of Object.entries(JSON.parse(o.meta) as Record<string, string>)) h[`x-amz-meta-${k}`] = v;
  Object.assign(h, attrResponseHeaders(parseStoredAttrs(o.attrs), { checksum }));
  // Sub-second mtime for other zones: copy-if-newer must not mistake a same-second overwrite for "not newer".
  if (system) h['Rgwx-Mtime'] = secUsec(o.mtime_us);
  return h;
}

/** Parses a single byte range; undefined means "serve the whole object" as S3 does for odd ranges. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size) return 'unsatisfiable';
  if (end < start) return undefined;
  return { start, end };
}

async function objectOp(ctx: RequestContext, zc: ZoneContext, bucketName: string, key: string, method: string): Promise<void> {
  const { query, } = ctx.url;
  const b = bucketFor(ctx, zc, bucketName);
  if (query.has('uploads') || query.has('uploadId')) return multipartOp(ctx, zc, b, key, method);
  // GetObject by part number would need the part boundaries, which complete does not keep.
  if (query.has('partNumber')) throw new HttpError(501, 'NotImplemented', 'the embedded zone does not implement ?partNumber without ?uploadId');
  if (query.has('tagging') || query.has('acl')) return objectSubresource(ctx, zc, b, key, method);
  if (method === 'PUT') {
    if (query.has('rgwx-source-zone')) return remoteCopy(ctx, zc, b, key);
    if (ctx.req.headers['x-amz-copy-source'] !== undefined) return localCopy(ctx, zc, b, key);
    return putObject(ctx, zc, b, key);
  }
  if (method === 'DELETE') return deleteOp(ctx, zc, b, key);
  if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'MethodNotAllowed');
  const { row: o, headers: versionHeaders } = readableVersion(zc, b, key, askedVersionId(query));
  const checksumMode = headerValue(ctx.req.headers, 'x-amz-checksum-mode')?.toUpperCase() === 'ENABLED';
  const headers = { ...objectHeaders(o, ctx.user.key.system, checksumMode), ...versionHeaders };
  const pre = precondition(conditionsOf(ctx.req.headers), o.etag, o.mtime_us / 1000);
  if (pre === 'failed') throw new HttpError(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
  if (pre === 'not-modified') {
    // No Content-Length: a 304 describes the object, and 0 would misstate its length.
    ctx.res.writeHead(304, { ETag: headers.ETag, 'Last-Modified': headers['Last-Modified'], ...versionHeaders });
    return void ctx.res.end();
  }
  if (method === 'HEAD') return sendEmpty(ctx.res, 200, { ...headers, 'Content-Length': o.size });
  // A zone pulling this object gets its attributes in front of the bytes, read with them from one row.
  const prefix = ctx.user.key.system && query.get(PREPEND_QUERY) === 'true' ? embeddedPrefix(o, b) : undefined;
  const range = prefix ? undefined : parseRange(ctx.req.headers.range, o.size);
  if (range === 'unsatisfiable') throw new HttpError(416, 'InvalidRange', 'the requested range is not satisfiable');
  const status = range ? 206 : 200;
  const len = range ? range.end - range.start + 1 : o.size;
  if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${o.size}`;
  if (prefix) headers[EMBEDDED_LEN_HEADER] = prefix.length;
  ctx.res.writeHead(status, { ...headers, 'Content-Length': len + (prefix?.length ?? 0) });
  if (prefix) ctx.res.write(prefix);
  if (len === 0) return void ctx.res.end();
  const stream = zc.files.read(o.file, range);
  await new Promise<void>((resolve) => {
    stream.on('error', (e) => {
      zc.log('error', `reading ${bucketName}/${key}: ${e.message}`);
      ctx.res.destroy();
      resolve();
    });
    ctx.res.on('close', () => { stream.destroy(); resolve(); });
    stream.pipe(ctx.res);
  });
}

function multipartOp(ctx: RequestContext, zc: ZoneContext, b: BucketRow, key: string, method: string): Promise<void> | void {
  if (ctx.url.query.has('uploads')) {
    if (method !== 'POST') throw new HttpError(405, 'MethodNotAllowed');
    return createUpload(ctx, zc, b, key);
  }
  switch (method) {
    case 'PUT': return uploadPart(ctx, zc, b, key);
    case 'POST': return completeUpload(ctx, zc, b, key);
    case 'DELETE': return abortUpload(ctx, zc, b, key);
    case 'GET': return listParts(ctx, zc, b, key);
    default: throw new HttpError(405, 'MethodNotAllowed');
  }
}

function conditionsOf(h: IncomingHttpHeaders): Conditions {
  const out: Conditions = {};
  for (const name of ['if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since'] as const) {
    const v = headerValue(h, name);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

export function checkedContentMd5(headers: IncomingHttpHeaders): string | undefined {
  const v = headerValue(headers, 'content-md5');
  if (v === undefined) return undefined;
  const raw = Buffer.from(v, 'base64');
  if (raw.length !== 16 || raw.toString('base64') !== v.trim()) throw new HttpError(400, 'InvalidDigest', 'Content-MD5 is not a base64 MD5 digest');
  return raw.toString('hex');
}

async function putObject(ctx: RequestContext, zc: ZoneContext, b: BucketRow, key: string): Promise<void> {
  const expectedMd5 = checkedContentMd5(ctx.req.headers);
  // De-frames aws-chunked bodies and checks x-amz-checksum-*; refuses what it cannot take before any byte is read.
  const upload = uploadBody(ctx.req, ctx.signing, MAX_PUT_BYTES);
  const { headers } = upload;
  // Checked before the body is read: a bad tag set or ACL costs no upload.
  const attrs = requestAttrs(headers, actingUid(ctx), b.owner);
  const ask = systemVersionAsk(ctx);
  let written;
  try {
    written = await zc.files.write(upload.body, upload.size, { sha256: ctx.payloadSha256 !== undefined });
  } catch (e) {
    // Framing, chunk signature and checksum failures keep their own answers.
    if (e instanceof HttpError || isDiskFull(e)) throw e;
    throw new HttpError(400, 'IncompleteBody', `upload did not complete: ${(e as Error).message}`);
  }
  attrs.checksum = upload.checksum();
  const fail = async (err: HttpError): Promise<never> => {
    await zc.files.remove(written.file);
    throw err;
  };
  if (expectedMd5 !== undefined && expectedMd5 !== written.md5) await fail(new HttpError(400, 'BadDigest', 'Content-MD5 does not match the body'));
  if (ctx.payloadSha256 !== undefined && ctx.payloadSha256 !== written.sha256) await fail(new HttpError(400, 'XAmzContentSHA256Mismatch', 'x-amz-content-sha256 does not match the body'));
  let result;
  try {
    result = await zc.store.grouped(() => zc.store.commitObject(b, {
      key, size: written.size, etag: written.md5, file: written.file, inline: written.inline,
      content_type: headers['content-type'] ?? 'binary/octet-stream',
      meta: JSON.stringify(userMetadata(headers)),
      attrs: JSON.stringify(attrs),
    }, undefined, ask));
  } catch (e) {
    await zc.files.remove(written.file);
    throw e;
  }
  await zc.files.remove(result.replaced);
  sendEmpty(ctx.res, 200, { ETag: `"${written.md5}"`, ...(attrs.checksum ? { [checksumHeader(attrs.checksum.algorithm)]: attrs.checksum.value } : {}), ...writtenVersionHeaders(result.versionId) });
}

/** Parses x-amz-copy-source ("bucket/key" or "/bucket/key", URL-encoded, optional ?versionId). */
async function localCopy(ctx: RequestContext, zc: ZoneContext, b: BucketRow, key: string): Promise<void> {
  const src = parseCopySource(headerValue(ctx.req.headers, 'x-amz-copy-source') ?? '');
  const sb = bucketFor(ctx, zc, src.bucket);
  const so = zc.store.getVersion(sb.instance, src.key, src.versionId);
  if (!so || so.delete_marker) throw new HttpError(404, src.versionId !== undefined && !so ? 'NoSuchVersion' : 'NoSuchKey', `no ${src.versionId !== undefined ? `version ${src.versionId} of ` : ''}key ${src.key} in ${src.bucket}`);
  const ask = systemVersionAsk(ctx);
  const directive = (headerValue(ctx.req.headers, 'x-amz-metadata-directive') ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') throw new HttpError(400, 'InvalidArgument', 'x-amz-metadata-directive must be COPY or REPLACE');
  const written = await zc.files.write(zc.files.read(so.file), so.size);
  const replace = directive === 'REPLACE';
  const tagDirective = (headerValue(ctx.req.headers, 'x-amz-tagging-directive') ?? 'COPY').toUpperCase();
  if (tagDirective !== 'COPY' && tagDirective !== 'REPLACE') throw new HttpError(400, 'InvalidArgument', 'x-amz-tagging-directive must be COPY or REPLACE');
  // As S3: headers and metadata follow the metadata directive, tags the tagging directive, the
  // storage class the request when it names one, and the ACL always the request (default private).
  const from = parseStoredAttrs(so.attrs);
  const asked = requestAttrs(ctx.req.headers, actingUid(ctx), b.owner);
  const attrs: StoredAttrs = {
    headers: replace ? asked.headers : from.headers,
    storageClass: headerValue(ctx.req.headers, 'x-amz-storage-class') !== undefined ? asked.storageClass : from.storageClass,
    tags: tagDirective === 'REPLACE' ? asked.tags : from.tags,
    acl: asked.acl,
  };
  let result;
  try {
    result = await zc.store.grouped(() => zc.store.commitObject(b, {
      key, size: written.size, etag: so.etag, file: written.file, inline: written.inline,
      content_type: replace ? ctx.req.headers['content-type'] ?? 'binary/octet-stream' : so.content_type,
      meta: replace ? JSON.stringify(userMetadata(ctx.req.headers)) : so.meta,
      attrs: JSON.stringify(attrs),
    }, undefined, ask));
  } catch (e) {
    await zc.files.remove(written.file);
    throw e;
  }
  await zc.files.remove(result.replaced);
  const sourceVersion: Record<string, string> = src.versionId !== undefined || so.version_id !== NULL_VERSION ? { 'x-amz-copy-source-version-id': so.version_id } : {};
  sendXml(ctx.res, 200, copyObjectResult(so.etag, result.mtime_us), { ...sourceVersion, ...writtenVersionHeaders(result.versionId) });
}

/** GET/PUT/DELETE ?tagging and GET/PUT ?acl of one object. */
async function objectSubresource(ctx: RequestContext, zc: ZoneContext, b: BucketRow, key: string, method: string): Promise<void> {
  const versionId = askedVersionId(ctx.url.query);
  const { row: o, headers: vh } = readableVersion(zc, b, key, versionId);
  // A change of the current version names it, so a version written meanwhile is left alone.
  const target = versionId ?? (vh[VERSION_HEADER] !== undefined ? o.version_id : undefined);
  const attrs = parseStoredAttrs(o.attrs);
  const tagging = ctx.url.query.has('tagging');
  if (method === 'GET') {
    if (tagging) return sendXml(ctx.res, 200, taggingXml(attrs.tags ?? ''), vh);
    const name = (id: string) => zc.store.getUser(id)?.data.display_name ?? id;
    return sendXml(ctx.res, 200, aclXml(attrs.acl ?? defaultAcl(b.owner), name), vh);
  }
  if (method === 'DELETE' && tagging) {
    zc.store.updateObjectAttrs(b, key, JSON.stringify({ ...attrs, tags: undefined }), target);
    return sendEmpty(ctx.res, 204, vh);
  }
  if (method !== 'PUT') throw new HttpError(405, 'MethodNotAllowed');
  const body = (await readSmallBody(ctx.req, 64 << 10)).toString('utf8');
  if (tagging) {
    if (XMLValidator.validate(body) !== true) throw new HttpError(400, 'MalformedXML', 'Tagging is not well-formed XML');
    attrs.tags = checkedTags(parseTags(parseTagging(body))) || undefined;
  } else {
    const fromHeaders = aclFromHeaders(ctx.req.headers, attrs.acl?.owner ?? b.owner, b.owner);
    if (fromHeaders) attrs.acl = fromHeaders;
    else {
      if (XMLValidator.validate(body) !== true) throw new HttpError(400, 'MalformedXML', 'AccessControlPolicy is not well-formed XML');
      const acl = parseAcl(body);
      attrs.acl = { owner: acl.owner || attrs.acl?.owner || b.owner, grants: acl.grants };
    }
  }
  zc.store.updateObjectAttrs(b, key, JSON.stringify(attrs), target);
  sendEmpty(ctx.res, 200, vh);
}

function embeddedPrefix(o: ObjectRow, b: BucketRow): Buffer {
  const a = rowAttrs(o);
  return encodeEmbedded(o, { ...a, tags: a.tags ?? '', acl: a.acl ?? defaultAcl(b.owner) });
}
