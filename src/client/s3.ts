/** S3 object calls the agent makes: listing for full sync, remote copy, delete. */
import { XMLParser } from 'fast-xml-parser';
import type { ZoneClient } from './http.js';
import { s3Encode } from '../rgw/sign.js';
import { s3BucketSegment } from '../rgw/tenant.js';
import { HttpError, NotFound, NotModified } from './errors.js';
import { attrsFromHeaders, SOURCE_ETAG_META, tagCountFromHeaders, type Acl, type ObjectAttrs } from '../rgw/attrs.js';
import { parseAcl, parseTagging } from '../rgw/attrxml.js';
import { OP_STATE_DROPPED, OP_STATE_HEADER } from '../rgw/wire.js';

export { parseAcl, parseTagging };

export interface ListedObject { key: string; etag: string; size: number }
export interface ObjectPage { objects: ListedObject[]; truncated: boolean; next?: string }
/** What HEAD tells about an object: size, ETag (unquoted), Content-Type and user metadata (x-amz-meta-* names without the prefix, lower case). */
export interface ObjectHead {
  size: number;
  etag: string;
  contentType: string;
  meta: Record<string, string>;
  /** Every replicated attribute the answer carries (headers, user metadata without bookkeeping, storage class). */
  attrs?: ObjectAttrs;
  /** x-amz-tagging-count (0 when absent). */
  tagCount?: number;
}

/** What a HEAD (or a whole-object GET) answer says of the object. */
export function headFromHeaders(h: Record<string, string | string[] | undefined>): ObjectHead {
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(',') : v ?? '');
  const meta: Record<string, string> = {};
  for (const [name, value] of Object.entries(h)) {
    const n = name.toLowerCase();
    if (n.startsWith('x-amz-meta-')) meta[n.slice('x-amz-meta-'.length)] = one(value);
  }
  return {
    size: Number(one(h['content-length']) || 0), etag: one(h.etag).replace(/"/g, ''), contentType: one(h['content-type']), meta,
    attrs: attrsFromHeaders(h, [SOURCE_ETAG_META]), tagCount: tagCountFromHeaders(h),
  };
}

/** A gateway that answers this to ?tagging or ?acl has no such attribute (the embedded zone before it kept them). */
export function isUnsupported(e: unknown): boolean {
  return e instanceof HttpError && (e.status === 501 || e.status === 405);
}

// trimValues: false keeps keys with leading/trailing whitespace exact (and markers built from them).
const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: false, isArray: (name) => name === 'Contents' || name === 'CommonPrefixes' });

export function objectPath(bucket: string, key: string): string {
  return `/${s3BucketSegment(bucket)}/${s3Encode(key, true)}`;
}

export type CopyOutcome = 'copied' | 'not-modified' | 'source-missing';
/** `opStateDropped`: the destination keeps no op-state record of this copy (nothing to DELETE). */
export interface CopyResult { outcome: CopyOutcome; bytes?: number; opStateDropped?: boolean }

/** A CopyObjectResult whose LastModified is the epoch: RGW's "not newer, nothing copied" (Reef, Tentacle). */
export function copiedNothing(body: string): boolean {
  const m = /<LastModified>([^<]*)<\/LastModified>/.exec(body);
  return m !== null && /^1970-01-01T00:00:00(\.0+)?Z$/.test(m[1].trim());
}

export class S3Api {
  constructor(readonly client: ZoneClient) {}

  /** One page of ListObjects v1, keys after `marker` in byte order. */
  async listObjects(bucket: string, marker: string, max = 1000, prefix = ''): Promise<ObjectPage> {
    // URL-encoded keys: XML cannot carry every key byte for byte (a \r becomes \n when parsed).
    const q: [string, string | undefined][] = [['max-keys', String(max)], ['encoding-type', 'url']];
    if (marker) q.push(['marker', marker]);
    if (prefix) q.push(['prefix', prefix]);
    const r = await this.client.request('GET', `/${s3BucketSegment(bucket)}`, { query: q });
    const doc = parser.parse(r.body.toString('utf8')) as { ListBucketResult?: { IsTruncated?: string; NextMarker?: string; EncodingType?: string; Contents?: { Key: string; ETag: string; Size: string }[] } };
    const res = doc.ListBucketResult ?? {};
    // A gateway that ignores encoding-type answers plain keys and says nothing about encoding.
    const decode = res.EncodingType === 'url' ? (k: string) => decodeURIComponent(k) : (k: string) => k;
    const objects = (res.Contents ?? []).map((c) => ({ key: decode(String(c.Key)), etag: String(c.ETag).replace(/"/g, ''), size: Number(c.Size) }));
    const truncated = res.IsTruncated === 'true';
    return { objects, truncated, next: truncated ? (res.NextMarker !== undefined ? decode(String(res.NextMarker)) : objects.at(-1)?.key) : undefined };
  }

  async *allObjects(bucket: string, pageSize = 1000, prefix = ''): AsyncGenerator<ListedObject> {
    let marker = '';
    for (;;) {
      let page: ObjectPage;
      try {
        page = await this.listObjects(bucket, marker, pageSize, prefix);
      } catch (e) {
        if (e instanceof NotFound) return; // bucket gone: nothing left to list
        throw e;
      }
      yield* page.objects;
      if (!page.truncated || !page.next) return;
      marker = page.next;
    }
  }

  /**
   * Asks this (destination) zone to pull bucket/key from `sourceZone`. Keeps the request open for
   * as long as the copy takes, up to `timeoutMs`.
   */
  async remoteCopy(bucket: string, key: string, sourceZone: string, clientId: string, opId: string, timeoutMs: number): Promise<CopyResult> {
    try {
      const r = await this.client.request('PUT', objectPath(bucket, key), {
        query: [['rgwx-source-zone', sourceZone], ['rgwx-client-id', clientId], ['rgwx-op-id', opId], ['rgwx-copy-if-newer', 'true']],
        headers: { 'x-amz-copy-source': `${s3BucketSegment(bucket)}/${s3Encode(key, true)}`, [OP_STATE_HEADER.toLowerCase()]: OP_STATE_DROPPED },
        headersTimeoutMs: timeoutMs, bodyTimeoutMs: timeoutMs,
        // One attempt: a copy that failed or timed out is checked against op state and otherwise
        // becomes a retry item with its own backoff, instead of multiplying the object deadline.
        idempotent: false,
        accept: [304],
      });
      const dropped = r.headers[OP_STATE_HEADER.toLowerCase()] === OP_STATE_DROPPED ? { opStateDropped: true } : {};
      if (r.status === 304) return { outcome: 'not-modified', ...dropped };
      // Reef and later answer a copy-if-newer that copied nothing with 200 and the epoch as LastModified.
      if (copiedNothing(r.body.toString('utf8'))) return { outcome: 'not-modified', ...dropped };
      const size = Number(r.headers['rgwx-object-size']);
      return { outcome: 'copied', bytes: Number.isFinite(size) ? size : undefined, ...dropped };
    } catch (e) {
      if (e instanceof NotModified) return { outcome: 'not-modified' };
      // NoSuchBucket is about the destination (its bucket metadata is not there yet), not the source.
      if (e instanceof NotFound && e.code !== 'NoSuchBucket') return { outcome: 'source-missing' };
      throw e;
    }
  }

  /** HEAD of one object, or undefined when the object (or its bucket) does not exist. */
  async headObject(bucket: string, key: string): Promise<ObjectHead | undefined> {
    let r;
    try {
      r = await this.client.request('HEAD', objectPath(bucket, key));
    } catch (e) {
      if (e instanceof NotFound) return undefined;
      throw e;
    }
    return headFromHeaders(r.headers);
  }

  /** The object's tags in canonical form; '' for none or a vanished object. A gateway without tagging throws (see isUnsupported). */
  async getTagging(bucket: string, key: string): Promise<string> {
    try {
      return parseTagging((await this.client.request('GET', objectPath(bucket, key), { query: [['tagging', undefined]] })).body.toString('utf8'));
    } catch (e) {
      if (e instanceof NotFound) return '';
      throw e;
    }
  }

  /** The object's ACL; undefined when the object vanished. A gateway without object ACLs throws (see isUnsupported). */
  async getAcl(bucket: string, key: string): Promise<Acl | undefined> {
    try {
      return parseAcl((await this.client.request('GET', objectPath(bucket, key), { query: [['acl', undefined]] })).body.toString('utf8'));
    } catch (e) {
      if (e instanceof NotFound) return undefined;
      throw e;
    }
  }

  /** A small object's body (state objects), or undefined when it or its bucket does not exist. */
  async getObject(bucket: string, key: string): Promise<Buffer | undefined> {
    try {
      return (await this.client.request('GET', objectPath(bucket, key))).body;
    } catch (e) {
      if (e instanceof NotFound) return undefined;
      throw e;
    }
  }

  async putObject(bucket: string, key: string, body: Buffer | string, contentType: string): Promise<void> {
    await this.client.request('PUT', objectPath(bucket, key), { body, headers: { 'content-type': contentType } });
  }

  /** Creates a bucket owned by the caller; an existing bucket of the caller's is fine. */
  async createBucket(bucket: string): Promise<void> {
    await this.client.request('PUT', `/${s3BucketSegment(bucket)}`, { accept: [409] });
  }

  async deleteObject(bucket: string, key: string): Promise<void> {
    try {
      await this.client.request('DELETE', objectPath(bucket, key));
    } catch (e) {
      if (!(e instanceof NotFound)) throw e;
    }
  }
}
