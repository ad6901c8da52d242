/**
 * The HTTP side of bucket versioning: ?versioning, ListObjectVersions, which version a read names
 * (with S3's delete-marker answers) and the system user's rgwx-version-id / rgwx-versioned-epoch.
 * What a write does to a key's versions is decided in versions.ts and applied by the store.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { HttpError, intParam, readSmallBody, sendEmpty, sendXml, type RequestContext } from './http.js';
import type { ZoneContext } from './context.js';
import type { BucketRow, VersionRow } from './store.js';
import { listVersions } from './listing.js';
import { listVersionsResult, versioningConfiguration } from './s3xml.js';
import { NULL_VERSION, parseVersioningStatus, validVersionId, type VersionAsk } from './versions.js';

export const VERSION_HEADER = 'x-amz-version-id';
export const DELETE_MARKER_HEADER = 'x-amz-delete-marker';

const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, removeNSPrefix: true });

/** GET and PUT /bucket?versioning (the bucket's owner or a system user; bucketFor checked that). */
export async function versioningOp(ctx: RequestContext, zc: ZoneContext, b: BucketRow, method: string): Promise<void> {
  if (method === 'GET') return sendXml(ctx.res, 200, versioningConfiguration(zc.store.versioningState(b.instance)));
  if (method !== 'PUT') throw new HttpError(405, 'MethodNotAllowed');
  const body = (await readSmallBody(ctx.req, 64 << 10)).toString('utf8');
  if (XMLValidator.validate(body) !== true) throw new HttpError(400, 'MalformedXML', 'VersioningConfiguration is not well-formed XML');
  const conf = parseVersioningStatus(parser.parse(body));
  if (!conf) throw new HttpError(400, 'MalformedXML', 'the body must be a VersioningConfiguration with Status Enabled or Suspended');
  if (conf.mfaDelete !== undefined && conf.mfaDelete !== 'Disabled') throw new HttpError(501, 'NotImplemented', 'the embedded zone does not implement MFA delete of bucket versioning');
  if (conf.status === undefined) throw new HttpError(400, 'MalformedXML', 'VersioningConfiguration needs a Status');
  zc.store.setVersioning(b, conf.status === 'Enabled' ? 'enabled' : 'suspended');
  zc.log('info', `bucket ${b.name}: versioning ${conf.status}`);
  sendEmpty(ctx.res, 200);
}

/** GET /bucket?versions */
export function listObjectVersions(ctx: RequestContext, zc: ZoneContext, b: BucketRow): void {
  const { query } = ctx.url;
  const encodingType = query.get('encoding-type');
  if (encodingType !== undefined && encodingType !== 'url') throw new HttpError(400, 'InvalidArgument', 'encoding-type must be url');
  const keyMarker = query.get('key-marker') ?? '';
  const versionIdMarker = query.get('version-id-marker') ?? '';
  if (versionIdMarker !== '' && keyMarker === '') throw new HttpError(400, 'InvalidArgument', 'version-id-marker needs a key-marker');
  const p = {
    bucket: b.name, prefix: query.get('prefix') ?? '', delimiter: query.get('delimiter') || undefined,
    maxKeys: intParam(query, 'max-keys', 1000, 1000), encodeUrl: encodingType === 'url', owner: b.owner, keyMarker, versionIdMarker,
  };
  const r = listVersions(zc.store, b.instance, p);
  sendXml(ctx.res, 200, listVersionsResult(p, r));
}

/** ?versionId as a request names it; an empty value names none. */
export function askedVersionId(query: Map<string, string>): string | undefined {
  const v = query.get('versionId');
  return v === undefined || v === '' ? undefined : v;
}

/**
 * The version a GET, HEAD, ?tagging or ?acl reads, and the version header its answer carries
 * (every answer in a versioned bucket; in an unversioned one only when a version was named).
 * A delete marker is S3's 404 NoSuchKey (current) or 405 (named), with its headers.
 */
export function readableVersion(zc: ZoneContext, b: BucketRow, key: string, versionId: string | undefined): { row: VersionRow; headers: Record<string, string> } {
  const v = zc.store.getVersion(b.instance, key, versionId);
  if (!v) {
    if (versionId !== undefined) throw new HttpError(404, 'NoSuchVersion', `no version ${versionId} of ${key} in ${b.name}`);
    throw new HttpError(404, 'NoSuchKey', `no key ${key} in ${b.name}`);
  }
  const shown = versionId !== undefined || v.version_id !== NULL_VERSION || zc.store.versioningState(b.instance) !== 'off';
  const headers: Record<string, string> = shown ? { [VERSION_HEADER]: v.version_id } : {};
  if (v.delete_marker) {
    const h = { ...headers, [DELETE_MARKER_HEADER]: 'true' };
    if (versionId !== undefined) throw new HttpError(405, 'MethodNotAllowed', `version ${versionId} of ${key} is a delete marker`, h);
    throw new HttpError(404, 'NoSuchKey', `${key} in ${b.name} is deleted (its current version is a delete marker)`, h);
  }
  return { row: v, headers };
}

/**
 * rgwx-version-id and rgwx-versioned-epoch: a sync agent recreating a version with its source id
 * and place in the stack. Only a system user's are read (the server refuses rgwx-* from others).
 */
export function systemVersionAsk(ctx: RequestContext): VersionAsk {
  if (!ctx.user.key.system) return {};
  const { query } = ctx.url;
  const ask: VersionAsk = {};
  const id = query.get('rgwx-version-id');
  if (id !== undefined && id !== '') {
    if (!validVersionId(id)) throw new HttpError(400, 'InvalidArgument', 'rgwx-version-id must be 1-128 printable ASCII characters');
    ask.versionId = id;
  }
  const epoch = query.get('rgwx-versioned-epoch');
  if (epoch !== undefined && epoch !== '') {
    if (!/^\d{1,15}$/.test(epoch)) throw new HttpError(400, 'InvalidArgument', 'rgwx-versioned-epoch must be a non-negative integer');
    ask.epoch = Number(epoch);
  }
  return ask;
}

/** The version header of a write's answer, when the write made a version. */
export function writtenVersionHeaders(versionId: string | undefined): Record<string, string> {
  return versionId !== undefined ? { [VERSION_HEADER]: versionId } : {};
}

/** DELETE /bucket/key, with or without ?versionId; S3's answer headers say what went or came. */
export async function deleteOp(ctx: RequestContext, zc: ZoneContext, b: BucketRow, key: string): Promise<void> {
  const versionId = askedVersionId(ctx.url.query);
  if (versionId !== undefined) {
    const r = await zc.store.grouped(() => zc.store.deleteVersion(b, key, versionId));
    await zc.files.remove(r.file);
    return sendEmpty(ctx.res, 204, { [VERSION_HEADER]: versionId, ...(r.deleteMarker ? { [DELETE_MARKER_HEADER]: 'true' } : {}) });
  }
  const ask = systemVersionAsk(ctx);
  const r = await zc.store.grouped(() => zc.store.deleteObject(b, key, ask));
  await zc.files.remove(r.file);
  sendEmpty(ctx.res, 204, r.deleteMarker ? { [VERSION_HEADER]: r.versionId ?? NULL_VERSION, [DELETE_MARKER_HEADER]: 'true' } : {});
}
