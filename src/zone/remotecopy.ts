/**
 * Remote copy: PUT /bucket/key?rgwx-source-zone=Z with x-amz-copy-source makes this zone fetch the
 * object from zone Z (as the realm's system user) and store it with the source's ETag, content
 * type, user metadata and mtime. The body streams from the source socket to a temp file; nothing
 * holds a whole object in memory. Op state records the copy for agents that poll it.
 */
import { request } from 'undici';
import type { Readable } from 'node:stream';
import { OP_STATE_DROPPED, OP_STATE_HEADER } from '../rgw/wire.js';
import { HttpError, headerValue, isDiskFull, sendXml, type RequestContext } from './http.js';
import type { ZoneContext } from './context.js';
import { parseCopySource } from './objectattrs.js';
import { copyObjectResult } from './s3xml.js';
import { usFromSecFrac } from '../rgw/clock.js';
import { s3Encode, signRequest } from '../rgw/sign.js';
import { sameVersionContent, type BucketRow, type ObjectRow } from './store.js';
import { attrsDifferences, attrsFromHeaders, DEFAULT_STORAGE_CLASS, REPLICATED_HEADERS, tagCountFromHeaders, type ObjectAttrs } from '../rgw/attrs.js';
import { parseAcl, parseTagging } from '../rgw/attrxml.js';
import { rowAttrs, type StoredAttrs } from './objectattrs.js';
import { decodeEmbedded, EMBEDDED_LEN_HEADER, MAX_EMBEDDED_BYTES, PREPEND_QUERY, readPrefix, type PulledVersion } from '../rgw/prepend.js';
import { decodeCephPrepended, type CephPrepended } from '../rgw/cephattrs.js';
import { systemVersionAsk, VERSION_HEADER, writtenVersionHeaders } from './versioning.js';
import { validVersionId } from './versions.js';

const FETCH_HEADERS_TIMEOUT_MS = 30_000;
const FETCH_BODY_TIMEOUT_MS = 60_000;

/** Source mtime in microseconds: Rgwx-Mtime (sub-second) when the source sends it, else Last-Modified. */
function sourceMtimeUs(h: Record<string, string | string[] | undefined>): number | undefined {
  const precise = headerValue(h, 'rgwx-mtime');
  if (precise !== undefined) {
    const us = usFromSecFrac(precise);
    if (us !== undefined) return us;
  }
  const lm = headerValue(h, 'last-modified');
  const ms = lm ? Date.parse(lm) : NaN;
  return Number.isNaN(ms) ? undefined : ms * 1000;
}

export async function remoteCopy(ctx: RequestContext, zc: ZoneContext, dest: BucketRow, key: string): Promise<void> {
  const { query } = ctx.url;
  const zoneName = query.get('rgwx-source-zone') ?? '';
  const clientId = query.get('rgwx-client-id');
  const opId = query.get('rgwx-op-id');
  const ifNewer = query.get('rgwx-copy-if-newer') === 'true';
  const copySource = headerValue(ctx.req.headers, 'x-amz-copy-source');
  if (copySource === undefined) throw new HttpError(400, 'InvalidArgument', 'remote copy needs x-amz-copy-source');
  const src = parseCopySource(copySource);
  const zone = zc.realm.zones.find((z) => z.name === zoneName);
  if (!zone) throw new HttpError(400, 'InvalidArgument', `rgwx-source-zone "${zoneName}" is not a zone of this realm`);
  // Drain the (empty) request body so the socket stays usable.
  ctx.req.resume();

  const opObject = `${dest.name}/${key}`;
  const track = clientId !== undefined && opId !== undefined;
  const setState = (state: string) => {
    if (track) zc.store.setOpState(clientId, opId, opObject, state);
  };
  // A client that asks for it (rgw-agent; radosgw-agent reads the record after every copy) needs
  // no record of an outcome it received: it is dropped once the answer is delivered, and the
  // answer's header says so. An answer that never arrives leaves the record to be asked about.
  const dropAsked = headerValue(ctx.req.headers, OP_STATE_HEADER.toLowerCase()) === OP_STATE_DROPPED;
  const dropOnDelivery = (): Record<string, string> => {
    if (!track || !dropAsked) return {};
    ctx.res.once('finish', () => zc.store.deleteOpState(clientId, opId, opObject));
    return { [OP_STATE_HEADER]: OP_STATE_DROPPED };
  };
  setState('in-progress');

  // Attributes and bytes in one answer (RGW's prepend-metadata): they describe one version.
  const versionQuery = src.versionId !== undefined ? `&versionId=${s3Encode(src.versionId, false)}` : '';
  const path = `/${s3Encode(src.bucket, false)}/${s3Encode(src.key, true)}?${PREPEND_QUERY}=true${versionQuery}`;
  const url = new URL(zone.endpoint);
  const su = zc.realm.systemUser;
  const headers = signRequest({ method: 'GET', host: url.host, path, headers: {} }, { accessKey: su.accessKey, secretKey: su.secretKey }, 'v4');
  let resp;
  try {
    resp = await request(`${zone.endpoint}${path}`, {
      method: 'GET', headers, headersTimeout: FETCH_HEADERS_TIMEOUT_MS, bodyTimeout: FETCH_BODY_TIMEOUT_MS,
    });
  } catch (e) {
    setState('error');
    zc.log('warn', `remote copy ${src.bucket}/${src.key} from ${zoneName}: cannot reach ${zone.endpoint}: ${(e as Error).message}`);
    throw new HttpError(503, 'ServiceUnavailable', `cannot reach source zone ${zoneName}`);
  }
  const rh = resp.headers;
  if (resp.statusCode !== 200) {
    await resp.body.dump();
    setState('error');
    if (resp.statusCode === 404) throw new HttpError(404, 'NoSuchKey', `source zone ${zoneName} has no ${src.bucket}/${src.key}`);
    // S3's answer for a named version that is a delete marker (a null version can become one).
    if (resp.statusCode === 405 && src.versionId !== undefined) throw new HttpError(404, 'NoSuchVersion', `version ${src.versionId} of ${src.bucket}/${src.key} is a delete marker on source zone ${zoneName}`);
    zc.log('warn', `remote copy ${src.bucket}/${src.key} from ${zoneName}: source answered ${resp.statusCode}`);
    throw new HttpError(resp.statusCode >= 500 ? 503 : 502, resp.statusCode >= 500 ? 'ServiceUnavailable' : 'RemoteCopyFailed', `source zone answered ${resp.statusCode}`);
  }

  const embeddedLen = Number(headerValue(rh, EMBEDDED_LEN_HEADER) ?? NaN);
  let embedded: PulledVersion | undefined;
  let ceph: CephPrepended | undefined;
  let pulled: PulledAttrs;
  try {
    if (Number.isFinite(embeddedLen)) {
      if (embeddedLen < 0 || embeddedLen > MAX_EMBEDDED_BYTES) throw new Error(`a ${embeddedLen}-byte metadata prefix`);
      // Ceph's prefix (its xattrs) is cut off too; then the headers describe the object, and its ACL
      // and tags are read from the prefix where they decode faithfully.
      const prefix = await readPrefix(resp.body as unknown as Readable, embeddedLen);
      embedded = decodeEmbedded(prefix);
      if (!embedded) ceph = decodeCephPrepended(prefix);
    }
    pulled = embedded
      ? { attrs: embedded.attrs, stored: storedFrom(embedded.attrs) }
      : await sourceAttrs(zone.endpoint, { ...src, versionId: src.versionId ?? headerValue(rh, VERSION_HEADER) }, rh, { accessKey: su.accessKey, secretKey: su.secretKey }, ceph ?? {});
  } catch (e) {
    await resp.body.dump().catch(() => undefined);
    setState('error');
    throw new HttpError(503, 'ServiceUnavailable', `cannot read the attributes of ${src.bucket}/${src.key} from ${zoneName}: ${(e as Error).message}`);
  }
  const srcMtime = embedded?.mtimeUs ?? sourceMtimeUs(rh);
  const srcEtag = embedded?.etag ?? (headerValue(rh, 'etag') ?? '').replace(/"/g, '');
  // Last-Modified has whole seconds: without the source's sub-second mtime (Rgwx-Mtime or this
  // zone's prefix; Ceph sends neither) a same-second overwrite looks "not newer", so only an
  // identical object is kept.
  const precise = embedded !== undefined || headerValue(rh, 'rgwx-mtime') !== undefined;
  const keepLocal = (local: ObjectRow): boolean => {
    if (!ifNewer || srcMtime === undefined || local.mtime_us < srcMtime) return false;
    const same = local.etag === srcEtag && attrsDifferences(pulled.attrs, rowAttrs(local), { storageClass: true }).length === 0;
    return precise ? local.mtime_us > srcMtime || same : same;
  };
  const notModified = (): void => {
    setState('complete');
    ctx.res.writeHead(304, { 'Content-Length': 0, ...dropOnDelivery() });
    ctx.res.end();
  };
  // Into a versioned bucket this is replication of one version: the agent's id, else the source's.
  const asked = systemVersionAsk(ctx);
  const sourceVersion = headerValue(rh, VERSION_HEADER);
  const ask = { ...asked, versionId: asked.versionId ?? (sourceVersion !== undefined && validVersionId(sourceVersion) ? sourceVersion : undefined), skipSameEtag: true };
  const destVersioned = zc.store.versioningState(dest.instance) !== 'off';
  // Versioned: the version is already here when this id has this ETag; the current version says
  // nothing about an older one being recreated, so copy-if-newer does not apply.
  const early = destVersioned ? undefined : zc.store.getObject(dest.instance, key);
  const have = destVersioned && ask.versionId !== undefined ? zc.store.getVersion(dest.instance, key, ask.versionId) : undefined;
  const contentType = pulled.attrs.headers['content-type'] ?? 'binary/octet-stream';
  const same = have !== undefined && !have.delete_marker && sameVersionContent(have, { etag: srcEtag, content_type: contentType, meta: JSON.stringify(pulled.attrs.meta), attrs: JSON.stringify(pulled.stored) });
  if ((early && keepLocal(early)) || same) {
    await resp.body.dump();
    return notModified();
  }

  const declared = headerValue(rh, 'content-length');
  const length = declared === undefined ? undefined : Number(declared) - (Number.isFinite(embeddedLen) ? embeddedLen : 0);
  const etag = srcEtag;
  let written;
  try {
    written = await zc.files.write(resp.body as unknown as Readable, length);
  } catch (e) {
    setState('error');
    if (isDiskFull(e)) throw e;
    throw new HttpError(503, 'ServiceUnavailable', `transfer from ${zoneName} failed: ${(e as Error).message}`);
  }
  // A plain ETag is the MD5 of the body: a mismatch means the transfer was damaged.
  if (/^[0-9a-f]{32}$/.test(etag) && etag !== written.md5) {
    await zc.files.remove(written.file);
    setState('error');
    throw new HttpError(503, 'ServiceUnavailable', `transfer from ${zoneName} was damaged (ETag mismatch)`);
  }
  let result;
  try {
    // Decided again when the copy commits: a newer version may have arrived while this one streamed.
    result = await zc.store.grouped(() => zc.store.commitObject(dest, {
      key, size: written.size, etag: etag || written.md5, file: written.file, inline: written.inline,
      content_type: contentType,
      meta: JSON.stringify(pulled.attrs.meta),
      mtime_us: srcMtime,
      attrs: JSON.stringify(pulled.stored),
    }, keepLocal, ask));
  } catch (e) {
    await zc.files.remove(written.file);
    setState('error');
    throw e;
  }
  if (result.skipped) {
    await zc.files.remove(written.file);
    return notModified();
  }
  await zc.files.remove(result.replaced);
  setState('complete');
  // The size lets an agent count bytes synced without a HEAD per object.
  sendXml(ctx.res, 200, copyObjectResult(etag || written.md5, result.mtime_us), { 'Rgwx-Object-Size': written.size, ...writtenVersionHeaders(result.versionId), ...dropOnDelivery() });
}

interface PulledAttrs { attrs: ObjectAttrs; stored: StoredAttrs }


/**
 * The source object's attributes: headers and metadata from its GET answer; tags and ACL by their
 * own GETs (S3 has no other way), tags only when the answer counts some. A source without
 * ?tagging or ?acl (501/405) has none to give.
 */
async function sourceAttrs(endpoint: string, src: { bucket: string; key: string; versionId?: string }, rh: Record<string, string | string[] | undefined>, cred: { accessKey: string; secretKey: string }, known: CephPrepended): Promise<PulledAttrs> {
  const attrs = attrsFromHeaders(rh);
  const sub = async (name: string): Promise<string | undefined> => {
    // The same version as the GET whose headers these complete.
    const version = src.versionId !== undefined ? `&versionId=${s3Encode(src.versionId, false)}` : '';
    const path = `/${s3Encode(src.bucket, false)}/${s3Encode(src.key, true)}?${name}${version}`;
    const url = new URL(endpoint);
    const headers = signRequest({ method: 'GET', host: url.host, path, headers: {} }, cred, 'v4');
    const r = await request(`${endpoint}${path}`, { method: 'GET', headers, headersTimeout: FETCH_HEADERS_TIMEOUT_MS, bodyTimeout: FETCH_BODY_TIMEOUT_MS });
    const text = await r.body.text();
    if (r.statusCode === 501 || r.statusCode === 405) return undefined;
    if (r.statusCode !== 200) throw new Error(`?${name} answered ${r.statusCode}`);
    return text;
  };
  const tagsXml = known.tags === undefined && tagCountFromHeaders(rh) > 0 ? await sub('tagging') : undefined;
  const aclDoc = known.acl === undefined ? await sub('acl') : undefined;
  const tags = known.tags ?? (tagsXml !== undefined ? parseTagging(tagsXml) : '');
  const acl = known.acl ?? (aclDoc !== undefined ? parseAcl(aclDoc) : undefined);
  const all: ObjectAttrs = { ...attrs, tags, acl };
  return { attrs: all, stored: storedFrom(all) };
}

/** What the zone stores beside Content-Type and metadata, from a source's attributes. */
function storedFrom(a: ObjectAttrs): StoredAttrs {
  const headers: Record<string, string> = {};
  for (const name of REPLICATED_HEADERS) if (name !== 'content-type' && a.headers[name] !== undefined) headers[name] = a.headers[name]!;
  return { headers, storageClass: a.storageClass === DEFAULT_STORAGE_CLASS ? undefined : a.storageClass, tags: a.tags || undefined, acl: a.acl };
}
