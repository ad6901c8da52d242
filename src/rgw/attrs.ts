/**
 * The attributes of an object that sync replicates beside its body, and what "equal" means for
 * them. Shared by the embedded zone (which keeps them on PUT, copy and remote copy) and the agent
 * (which copies and verifies them): one list, so the two can never disagree.
 */

/** Headers S3 lets a writer set and every GET/HEAD returns, lower case. */
export const REPLICATED_HEADERS = [
  'content-type',
  'cache-control',
  'content-disposition',
  'content-encoding',
  'content-language',
  'expires',
  'x-amz-website-redirect-location',
] as const;
export type ReplicatedHeader = (typeof REPLICATED_HEADERS)[number];

/** Storage class: replicated where the destination has it; STANDARD is what an absent header means. */
export const STORAGE_CLASS_HEADER = 'x-amz-storage-class';
export const DEFAULT_STORAGE_CLASS = 'STANDARD';

/**
 * Kept on copies whose ETag cannot equal the source's (multipart upload on one side, single PUT on
 * the other), so "already equal" and verify still work. Bookkeeping, never user metadata.
 */
export const SOURCE_ETAG_META = 'rgw-agent-source-etag';

/** One ACL grant: grantee as "id:<canonical id>", "uri:<group uri>" or "email:<address>". */
export interface Grant { grantee: string; permission: string }
export interface Acl { owner: string; grants: Grant[] }

export interface ObjectAttrs {
  /** REPLICATED_HEADERS that the object has (absent = not set). */
  headers: Partial<Record<ReplicatedHeader, string>>;
  /** x-amz-meta-* without the prefix, names lower case. */
  meta: Record<string, string>;
  storageClass: string;
  /** The answer named a storage class (S3 and RGW name none for STANDARD, and gateways without classes never do). */
  storageClassShown?: boolean;
  /** Tag set in canonical form (see canonicalTags); '' = no tags. Undefined = not known. */
  tags?: string;
  /** Undefined = not known (e.g. not read). */
  acl?: Acl;
}

type HeaderBag = Record<string, string | string[] | undefined>;

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}

/**
 * The header-borne attributes of a GET/HEAD answer (or of a PUT request). `skipMeta` names user
 * metadata that is bookkeeping, not the user's (e.g. the agent's note of a source ETag).
 */
export function attrsFromHeaders(h: HeaderBag, skipMeta: readonly string[] = []): ObjectAttrs {
  const headers: ObjectAttrs['headers'] = {};
  const meta: Record<string, string> = {};
  const lower: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    const s = one(v);
    if (s !== undefined) lower[k.toLowerCase()] = s;
  }
  for (const name of REPLICATED_HEADERS) if (lower[name] !== undefined) headers[name] = lower[name];
  for (const [k, v] of Object.entries(lower)) {
    if (!k.startsWith('x-amz-meta-')) continue;
    const m = k.slice('x-amz-meta-'.length);
    if (!skipMeta.includes(m)) meta[m] = v;
  }
  const shown = Boolean(lower[STORAGE_CLASS_HEADER]);
  return { headers, meta, storageClass: lower[STORAGE_CLASS_HEADER] || DEFAULT_STORAGE_CLASS, storageClassShown: shown };
}

/** x-amz-tagging-count of an answer; 0 when absent (S3 leaves it out for untagged objects). */
export function tagCountFromHeaders(h: HeaderBag): number {
  const v = one(h['x-amz-tagging-count']);
  const n = v === undefined ? 0 : Number(v);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** Tags as one comparable string: pairs sorted by key, each key=value percent-encoded, joined by '&'. */
export function canonicalTags(tags: Iterable<[string, string]>): string {
  return [...tags].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

/** The tag pairs of a canonical (or x-amz-tagging header) string. */
export function parseTags(s: string): [string, string][] {
  if (s === '') return [];
  return s.split('&').filter(Boolean).map((p) => {
    const i = p.indexOf('=');
    const dec = (x: string) => decodeURIComponent(x.replace(/\+/g, ' '));
    return i < 0 ? [dec(p), ''] : [dec(p.slice(0, i)), dec(p.slice(i + 1))];
  });
}

/** An ACL in canonical form: grants sorted and de-duplicated, so equal ACLs compare equal. */
export function canonicalAcl(acl: Acl): Acl {
  const seen = new Set<string>();
  const grants = acl.grants
    .map((g) => ({ grantee: g.grantee, permission: g.permission.toUpperCase() }))
    .filter((g) => { const k = `${g.grantee} ${g.permission}`; if (seen.has(k)) return false; seen.add(k); return true; })
    .sort((a, b) => (a.grantee === b.grantee ? (a.permission < b.permission ? -1 : 1) : a.grantee < b.grantee ? -1 : 1));
  return { owner: acl.owner, grants };
}

function aclText(acl: Acl): string {
  const c = canonicalAcl(acl);
  return `owner ${c.owner}: ${c.grants.map((g) => `${g.grantee}=${g.permission}`).join(', ') || 'no grants'}`;
}

const show = (v: string | undefined) => (v === undefined ? '(none)' : JSON.stringify(v));
/** Header names as people write them, for difference reports. */
const DISPLAY: Record<ReplicatedHeader, string> = {
  'content-type': 'Content-Type', 'cache-control': 'Cache-Control', 'content-disposition': 'Content-Disposition',
  'content-encoding': 'Content-Encoding', 'content-language': 'Content-Language', expires: 'Expires',
  'x-amz-website-redirect-location': 'x-amz-website-redirect-location',
};

function grantsText(acl: Acl): string {
  return canonicalAcl(acl).grants.map((g) => `${g.grantee}=${g.permission}`).join(', ') || 'no grants';
}

/**
 * What differs between two objects' attributes, one phrase per attribute; [] when equal. Tags and
 * ACLs are compared only when both sides know them. Storage class is compared only when
 * `storageClass` is true (a destination without the class stores STANDARD); the ACL owner unless
 * `aclOwner` is false.
 */
export function attrsDifferences(src: ObjectAttrs, dst: ObjectAttrs, o: { storageClass?: boolean; aclOwner?: boolean } = {}): string[] {
  const out: string[] = [];
  for (const name of REPLICATED_HEADERS) {
    const [a, b] = [src.headers[name], dst.headers[name]];
    // An object stored without a Content-Type is served as binary/octet-stream by S3 and RGW.
    const norm = (v: string | undefined) => (name === 'content-type' && (v === undefined || v === '') ? 'binary/octet-stream' : v);
    if (norm(a) !== norm(b)) out.push(`${DISPLAY[name]} ${show(a)} on the source, ${show(b)} on the destination`);
  }
  for (const k of [...new Set([...Object.keys(src.meta), ...Object.keys(dst.meta)])].sort()) {
    if (src.meta[k] !== dst.meta[k]) out.push(`x-amz-meta-${k} ${show(src.meta[k])} on the source, ${show(dst.meta[k])} on the destination`);
  }
  if (o.storageClass && src.storageClass !== dst.storageClass) out.push(`storage class ${src.storageClass} on the source, ${dst.storageClass} on the destination`);
  if (src.tags !== undefined && dst.tags !== undefined && src.tags !== dst.tags) out.push(`tags ${show(src.tags)} on the source, ${show(dst.tags)} on the destination`);
  if (src.acl && dst.acl) {
    // A stream copy writes as the bucket owner, so the object owner is compared only when asked.
    const text = o.aclOwner === false ? grantsText : aclText;
    if (text(src.acl) !== text(dst.acl)) out.push(`ACL ${text(src.acl)} on the source, ${text(dst.acl)} on the destination`);
  }
  return out;
}

const GRANT_HEADER: Record<string, string> = {
  READ: 'x-amz-grant-read', WRITE: 'x-amz-grant-write', READ_ACP: 'x-amz-grant-read-acp', WRITE_ACP: 'x-amz-grant-write-acp', FULL_CONTROL: 'x-amz-grant-full-control',
};

/** An ACL's grants as the x-amz-grant-* headers of a PUT (S3's `id="..."`, `uri="..."`, `emailAddress="..."` lists). */
export function grantHeaders(acl: Acl): Record<string, string> {
  const lists: Record<string, string[]> = {};
  for (const g of canonicalAcl(acl).grants) {
    const header = GRANT_HEADER[g.permission];
    const i = g.grantee.indexOf(':');
    const [kind, value] = [g.grantee.slice(0, i), g.grantee.slice(i + 1)];
    const label = kind === 'id' ? 'id' : kind === 'uri' ? 'uri' : kind === 'email' ? 'emailAddress' : undefined;
    // A grantee or permission S3 has no header for cannot be sent; leaving it out is the only option.
    if (!header || !label || value.includes('"')) continue;
    (lists[header] ??= []).push(`${label}="${value}"`);
  }
  return Object.fromEntries(Object.entries(lists).map(([h, v]) => [h, v.join(', ')]));
}
