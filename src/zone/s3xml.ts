/** S3 XML answers the zone produces. */
import { xmlEscape } from './http.js';
import type { BucketRow, ObjectRow, VersionRow } from './store.js';
import type { VersioningState } from './versions.js';

const NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';

export function isoSeconds(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString();
}

function owner(uid: string, display?: string): string {
  return `<Owner><ID>${xmlEscape(uid)}</ID><DisplayName>${xmlEscape(display ?? uid)}</DisplayName></Owner>`;
}

export function listAllMyBuckets(uid: string, display: string, buckets: BucketRow[]): string {
  const items = buckets
    .map((b) => `<Bucket><Name>${xmlEscape(b.name)}</Name><CreationDate>${isoSeconds(b.creation_us)}</CreationDate></Bucket>`)
    .join('');
  return `<ListAllMyBucketsResult ${NS}>${owner(uid, display)}<Buckets>${items}</Buckets></ListAllMyBucketsResult>`;
}

export interface ListResult {
  contents: ObjectRow[];
  commonPrefixes: string[];
  truncated: boolean;
  nextMarker?: string;
}

export interface ListParams {
  bucket: string;
  prefix: string;
  delimiter?: string;
  maxKeys: number;
  encodeUrl: boolean;
  owner: string;
}

function enc(s: string, url: boolean): string {
  return xmlEscape(url ? encodeURIComponent(s).replace(/%2F/g, '/') : s);
}

function contentsXml(rows: ObjectRow[], p: ListParams, withOwner: boolean): string {
  return rows
    .map((o) =>
      `<Contents><Key>${enc(o.key, p.encodeUrl)}</Key><LastModified>${isoSeconds(o.mtime_us)}</LastModified><ETag>&quot;${xmlEscape(o.etag)}&quot;</ETag><Size>${o.size}</Size><StorageClass>STANDARD</StorageClass>${withOwner ? owner(p.owner) : ''}</Contents>`)
    .join('');
}

function prefixesXml(prefixes: string[], p: ListParams): string {
  return prefixes.map((cp) => `<CommonPrefixes><Prefix>${enc(cp, p.encodeUrl)}</Prefix></CommonPrefixes>`).join('');
}

function commonHead(p: ListParams): string {
  return `<Name>${xmlEscape(p.bucket)}</Name><Prefix>${enc(p.prefix, p.encodeUrl)}</Prefix>`
    + (p.delimiter !== undefined ? `<Delimiter>${enc(p.delimiter, p.encodeUrl)}</Delimiter>` : '')
    + `<MaxKeys>${p.maxKeys}</MaxKeys>`
    + (p.encodeUrl ? '<EncodingType>url</EncodingType>' : '');
}

export function listObjectsV1(p: ListParams, marker: string, r: ListResult): string {
  const next = r.truncated && p.delimiter !== undefined && r.nextMarker !== undefined ? `<NextMarker>${enc(r.nextMarker, p.encodeUrl)}</NextMarker>` : '';
  return `<ListBucketResult ${NS}>${commonHead(p)}<Marker>${enc(marker, p.encodeUrl)}</Marker>${next}<IsTruncated>${r.truncated}</IsTruncated>${contentsXml(r.contents, p, true)}${prefixesXml(r.commonPrefixes, p)}</ListBucketResult>`;
}

export function listObjectsV2(p: ListParams, opts: { continuationToken?: string; startAfter?: string; fetchOwner: boolean; nextToken?: string }, r: ListResult): string {
  return `<ListBucketResult ${NS}>${commonHead(p)}`
    + `<KeyCount>${r.contents.length + r.commonPrefixes.length}</KeyCount>`
    + (opts.continuationToken !== undefined ? `<ContinuationToken>${xmlEscape(opts.continuationToken)}</ContinuationToken>` : '')
    + (opts.startAfter !== undefined ? `<StartAfter>${enc(opts.startAfter, p.encodeUrl)}</StartAfter>` : '')
    + (r.truncated && opts.nextToken !== undefined ? `<NextContinuationToken>${xmlEscape(opts.nextToken)}</NextContinuationToken>` : '')
    + `<IsTruncated>${r.truncated}</IsTruncated>${contentsXml(r.contents, p, opts.fetchOwner)}${prefixesXml(r.commonPrefixes, p)}</ListBucketResult>`;
}

export function copyObjectResult(etag: string, mtimeUs: number): string {
  return `<CopyObjectResult ${NS}><LastModified>${isoSeconds(mtimeUs)}</LastModified><ETag>&quot;${xmlEscape(etag)}&quot;</ETag></CopyObjectResult>`;
}

export function locationConstraint(zonegroup: string): string {
  return `<LocationConstraint ${NS}>${xmlEscape(zonegroup)}</LocationConstraint>`;
}

/** GET ?versioning: the Status once versioning was ever set, else the empty configuration (S3). */
export function versioningConfiguration(state: VersioningState): string {
  if (state === 'off') return `<VersioningConfiguration ${NS}/>`;
  return `<VersioningConfiguration ${NS}><Status>${state === 'enabled' ? 'Enabled' : 'Suspended'}</Status></VersioningConfiguration>`;
}

export interface ListedVersion { row: VersionRow; isLatest: boolean }

export interface VersionListResult {
  versions: ListedVersion[];
  commonPrefixes: string[];
  truncated: boolean;
  nextKeyMarker?: string;
  nextVersionIdMarker?: string;
}

export interface VersionListParams extends ListParams { keyMarker: string; versionIdMarker: string }

function storageClassOf(attrs: string): string {
  const a = JSON.parse(attrs) as { storageClass?: string };
  return a.storageClass ?? 'STANDARD';
}

export function listVersionsResult(p: VersionListParams, r: VersionListResult): string {
  const items = r.versions.map(({ row, isLatest }) => {
    const head = `<Key>${enc(row.key, p.encodeUrl)}</Key><VersionId>${xmlEscape(row.version_id)}</VersionId><IsLatest>${isLatest}</IsLatest><LastModified>${isoSeconds(row.mtime_us)}</LastModified>`;
    return row.delete_marker
      ? `<DeleteMarker>${head}${owner(p.owner)}</DeleteMarker>`
      : `<Version>${head}<ETag>&quot;${xmlEscape(row.etag)}&quot;</ETag><Size>${row.size}</Size><StorageClass>${xmlEscape(storageClassOf(row.attrs))}</StorageClass>${owner(p.owner)}</Version>`;
  }).join('');
  const next = r.truncated
    ? (r.nextKeyMarker !== undefined ? `<NextKeyMarker>${enc(r.nextKeyMarker, p.encodeUrl)}</NextKeyMarker>` : '')
      + (r.nextVersionIdMarker !== undefined ? `<NextVersionIdMarker>${xmlEscape(r.nextVersionIdMarker)}</NextVersionIdMarker>` : '')
    : '';
  return `<ListVersionsResult ${NS}>${commonHead(p)}<KeyMarker>${enc(p.keyMarker, p.encodeUrl)}</KeyMarker><VersionIdMarker>${xmlEscape(p.versionIdMarker)}</VersionIdMarker>${next}<IsTruncated>${r.truncated}</IsTruncated>${items}${prefixesXml(r.commonPrefixes, p)}</ListVersionsResult>`;
}
