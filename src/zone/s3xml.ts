/** S3 XML answers the zone produces. */
import { xmlEscape } from './http.js';
import type { BucketRow, ObjectRow } from './store.js';

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
