/** What a request says about an object beside its body: user metadata, the copy source. */
import type { IncomingHttpHeaders } from 'node:http';
import { HttpError, headerValue } from './http.js';
import { canonicalTags, DEFAULT_STORAGE_CLASS, parseTags, REPLICATED_HEADERS, STORAGE_CLASS_HEADER, type Acl, type Grant, type ObjectAttrs } from '../rgw/attrs.js';
import type { ObjectRow } from './store.js';
import { checksumHeader, type StoredChecksum } from './checksums.js';

export function userMetadata(headers: IncomingHttpHeaders): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-amz-meta-') && value !== undefined) meta[name.slice('x-amz-meta-'.length)] = Array.isArray(value) ? value.join(',') : value;
  }
  return meta;
}

export function parseCopySource(header: string): { bucket: string; key: string; versionId?: string } {
  let raw = header.startsWith('/') ? header.slice(1) : header;
  const q = raw.indexOf('?');
  let versionId: string | undefined;
  if (q >= 0) {
    const v = new URLSearchParams(raw.slice(q + 1)).get('versionId');
    if (v !== null && v !== '') versionId = v;
    raw = raw.slice(0, q);
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, 'InvalidArgument', 'x-amz-copy-source is not valid percent-encoded UTF-8');
  }
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1) throw new HttpError(400, 'InvalidArgument', 'x-amz-copy-source must be bucket/key');
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1), ...(versionId !== undefined ? { versionId } : {}) };
}

/**
 * What the zone keeps beside Content-Type and user metadata: the other replicated headers, the
 * storage class, the tag set (canonical form) and the object ACL. Stored as one JSON column.
 */
export interface StoredAttrs {
  headers: Record<string, string>;
  storageClass?: string;
  tags?: string;
  acl?: Acl;
  /** x-amz-checksum-* verified at upload; not replicated (other zones compute their own) */
  checksum?: StoredChecksum;
}

const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers';
const AUTH_USERS = 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers';
const GRANT_HEADERS: Record<string, string> = {
  'x-amz-grant-read': 'READ', 'x-amz-grant-write': 'WRITE', 'x-amz-grant-read-acp': 'READ_ACP',
  'x-amz-grant-write-acp': 'WRITE_ACP', 'x-amz-grant-full-control': 'FULL_CONTROL',
};
const STORAGE_CLASSES = new Set(['STANDARD', 'REDUCED_REDUNDANCY', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER', 'DEEP_ARCHIVE', 'GLACIER_IR', 'OUTPOSTS', 'SNOW', 'EXPRESS_ONEZONE']);

export function parseStoredAttrs(json: string | undefined): StoredAttrs {
  if (!json) return { headers: {} };
  const a = JSON.parse(json) as Partial<StoredAttrs>;
  return { headers: a.headers ?? {}, storageClass: a.storageClass, tags: a.tags, acl: a.acl, checksum: a.checksum };
}

export function defaultAcl(owner: string): Acl {
  return { owner, grants: [{ grantee: `id:${owner}`, permission: 'FULL_CONTROL' }] };
}

/** An ACL from x-amz-acl (canned) or x-amz-grant-* headers; undefined when the request names none. */
export function aclFromHeaders(headers: IncomingHttpHeaders, owner: string, bucketOwner: string): Acl | undefined {
  const canned = headerValue(headers, 'x-amz-acl');
  const grantHeaders = Object.keys(GRANT_HEADERS).filter((h) => headers[h] !== undefined);
  if (canned !== undefined && grantHeaders.length > 0) throw new HttpError(400, 'InvalidRequest', 'x-amz-acl and x-amz-grant-* cannot be used together');
  if (canned !== undefined) {
    const acl = defaultAcl(owner);
    const add = (grantee: string, permission: string) => acl.grants.push({ grantee, permission });
    switch (canned) {
      case 'private': break;
      case 'public-read': add(`uri:${ALL_USERS}`, 'READ'); break;
      case 'public-read-write': add(`uri:${ALL_USERS}`, 'READ'); add(`uri:${ALL_USERS}`, 'WRITE'); break;
      case 'authenticated-read': add(`uri:${AUTH_USERS}`, 'READ'); break;
      case 'bucket-owner-read': if (bucketOwner !== owner) add(`id:${bucketOwner}`, 'READ'); break;
      case 'bucket-owner-full-control': if (bucketOwner !== owner) add(`id:${bucketOwner}`, 'FULL_CONTROL'); break;
      default: throw new HttpError(400, 'InvalidArgument', `x-amz-acl "${canned}" is not a canned ACL`);
    }
    return acl;
  }
  if (grantHeaders.length === 0) return undefined;
  const grants: Grant[] = [];
  for (const h of grantHeaders) {
    for (const part of (headerValue(headers, h) ?? '').split(',')) {
      const m = /^\s*(id|uri|emailAddress)\s*=\s*"([^"]*)"\s*$/.exec(part);
      if (!m) throw new HttpError(400, 'InvalidArgument', `${h}: expected id="...", uri="..." or emailAddress="..."`);
      grants.push({ grantee: `${m[1] === 'emailAddress' ? 'email' : m[1]}:${m[2]}`, permission: GRANT_HEADERS[h] });
    }
  }
  return { owner, grants };
}

/** Validates an S3 tag set as S3 does and returns it in canonical form. */
export function checkedTags(pairs: [string, string][]): string {
  if (pairs.length > 10) throw new HttpError(400, 'InvalidTag', 'an object has at most 10 tags');
  const keys = new Set<string>();
  for (const [k, v] of pairs) {
    if (k.length === 0 || k.length > 128 || v.length > 256) throw new HttpError(400, 'InvalidTag', 'tag keys are 1-128 and values at most 256 characters');
    if (keys.has(k)) throw new HttpError(400, 'InvalidTag', `tag key ${k} appears twice`);
    keys.add(k);
  }
  return canonicalTags(pairs);
}

/** The attributes a PUT (or a copy with REPLACE) sets, besides Content-Type and user metadata. */
export function requestAttrs(headers: IncomingHttpHeaders, owner: string, bucketOwner: string): StoredAttrs {
  const kept: Record<string, string> = {};
  for (const name of REPLICATED_HEADERS) {
    const v = headerValue(headers, name);
    if (name !== 'content-type' && v !== undefined) kept[name] = v;
  }
  const storageClass = headerValue(headers, STORAGE_CLASS_HEADER);
  if (storageClass !== undefined && !STORAGE_CLASSES.has(storageClass)) throw new HttpError(400, 'InvalidStorageClass', `storage class ${storageClass} is not known`);
  let tags: string | undefined;
  const tagging = headerValue(headers, 'x-amz-tagging');
  if (tagging !== undefined) {
    try {
      tags = checkedTags(parseTags(tagging));
    } catch (e) {
      if (e instanceof HttpError) throw e;
      throw new HttpError(400, 'InvalidTag', 'x-amz-tagging is not a URL-encoded tag set');
    }
  }
  return { headers: kept, storageClass: storageClass === DEFAULT_STORAGE_CLASS ? undefined : storageClass, tags: tags || undefined, acl: aclFromHeaders(headers, owner, bucketOwner) ?? defaultAcl(owner) };
}

/** What GET and HEAD answer for the stored attributes, as S3 does: the checksum only when asked (x-amz-checksum-mode). */
export function attrResponseHeaders(a: StoredAttrs, o: { checksum?: boolean } = {}): Record<string, string | number> {
  const h: Record<string, string | number> = { ...a.headers };
  if (o.checksum && a.checksum) h[checksumHeader(a.checksum.algorithm)] = a.checksum.value;
  if (a.storageClass && a.storageClass !== DEFAULT_STORAGE_CLASS) h[STORAGE_CLASS_HEADER] = a.storageClass;
  const tagCount = a.tags ? parseTags(a.tags).length : 0;
  if (tagCount > 0) h['x-amz-tagging-count'] = tagCount;
  return h;
}

/** An object row's replicated attributes, in the form both sides compare. */
export function rowAttrs(o: ObjectRow): ObjectAttrs {
  const a = parseStoredAttrs(o.attrs);
  return {
    headers: { ...a.headers, 'content-type': o.content_type },
    meta: JSON.parse(o.meta) as Record<string, string>,
    storageClass: a.storageClass ?? DEFAULT_STORAGE_CLASS,
    tags: a.tags ?? '',
    acl: a.acl,
  };
}
