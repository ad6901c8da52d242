/** S3 object calls the agent makes: listing for full sync, remote copy, delete. */
import { XMLParser } from 'fast-xml-parser';
import type { ZoneClient } from './http.js';
import { s3Encode } from '../rgw/sign.js';
import { s3BucketSegment } from '../rgw/tenant.js';
import { HttpError, isGone, NotFound, NotModified } from './errors.js';
import { attrsFromHeaders, SOURCE_ETAG_META, tagCountFromHeaders, type Acl, type ObjectAttrs } from '../rgw/attrs.js';
import { parseAcl, parseTagging } from '../rgw/attrxml.js';
import { OP_STATE_DROPPED, OP_STATE_HEADER } from '../rgw/wire.js';
import type { VersionEntry } from '../sync/versionplan.js';

export { parseAcl, parseTagging };

export interface ListedObject { key: string; etag: string; size: number }
/** One entry of ListObjectVersions: a version or a delete marker of `key`. */
export interface ListedVersion extends VersionEntry { key: string; isLatest: boolean }
export interface VersionPage { versions: ListedVersion[]; truncated: boolean; nextKeyMarker?: string; nextVersionIdMarker?: string }
/** One key's versions, newest first. */
export interface KeyVersions { key: string; versions: VersionEntry[] }
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
// Versions and delete markers of one key interleave, newest first: only document order says how.
const orderedParser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: false, preserveOrder: true });
interface OrderedNode { [tag: string]: Ordered | string }
type Ordered = OrderedNode[];

function orderedText(nodes: Ordered | undefined): string {
  let out = '';
  for (const n of nodes ?? []) for (const [k, v] of Object.entries(n)) if (k === '#text') out += String(v);
  return out;
}

function orderedChildren(nodes: Ordered | undefined, name: string): Ordered[] {
  const out: Ordered[] = [];
  for (const n of nodes ?? []) {
    const c = n[name];
    if (Array.isArray(c)) out.push(c);
  }
  return out;
}

function orderedField(node: Ordered, name: string): string | undefined {
  const c = orderedChildren(node, name)[0];
  return c === undefined ? undefined : orderedText(c);
}

/** Parses a ListVersionsResult, keeping the order of Version and DeleteMarker entries. */
export function parseVersionList(xml: string): VersionPage {
  const doc = orderedParser.parse(xml) as Ordered;
  const res = orderedChildren(doc, 'ListVersionsResult')[0] ?? [];
  const decode = orderedField(res, 'EncodingType') === 'url' ? (k: string) => decodeURIComponent(k) : (k: string) => k;
  const versions: ListedVersion[] = [];
  for (const n of res) {
    for (const [tag, body] of Object.entries(n)) {
      if ((tag !== 'Version' && tag !== 'DeleteMarker') || !Array.isArray(body)) continue;
      const node = body;
      const marker = tag === 'DeleteMarker';
      versions.push({
        key: decode(orderedField(node, 'Key') ?? ''), versionId: orderedField(node, 'VersionId') || 'null', deleteMarker: marker,
        etag: marker ? '' : (orderedField(node, 'ETag') ?? '').replace(/"/g, ''), size: marker ? 0 : Number(orderedField(node, 'Size') ?? 0),
        isLatest: orderedField(node, 'IsLatest') === 'true', lastModified: orderedField(node, 'LastModified'),
      });
    }
  }
  const truncated = orderedField(res, 'IsTruncated') === 'true';
  const nk = orderedField(res, 'NextKeyMarker');
  const nv = orderedField(res, 'NextVersionIdMarker');
  return { versions, truncated, ...(nk ? { nextKeyMarker: decode(nk) } : {}), ...(nv ? { nextVersionIdMarker: nv } : {}) };
}

export function objectPath(bucket: string, key: string): string {
  return `/${s3BucketSegment(bucket)}/${s3Encode(key, true)}`;
}

export type CopyOutcome = 'copied' | 'not-modified' | 'source-missing';
/** `opStateDropped`: the destination keeps no op-state record of this copy (nothing to DELETE). */
export interface CopyResult { outcome: CopyOutcome; bytes?: number; opStateDropped?: boolean; /** x-amz-version-id of the copy, where the bucket is versioned. */ versionId?: string }

/** A copy of one version: the source's `id`, created on the destination as `destId` (rgwx-version-id) where given. */
export interface VersionTarget { id: string; destId?: string }

/** A CopyObjectResult whose LastModified is the epoch: RGW's "not newer, nothing copied" (Reef, Tentacle). */
export function copiedNothing(body: string): boolean {
  const m = /<LastModified>([^<]*)<\/LastModified>/.exec(body);
  return m !== null && /^1970-01-01T00:00:00(\.0+)?Z$/.test(m[1].trim());
}

export function versionQuery(versionId: string | undefined): [string, string][] {
  return versionId === undefined ? [] : [['versionId', versionId]];
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

  /** One page of ListObjectVersions, entries after (keyMarker, versionIdMarker). */
  async listVersions(bucket: string, o: { prefix?: string; keyMarker?: string; versionIdMarker?: string; max?: number } = {}): Promise<VersionPage> {
    const q: [string, string | undefined][] = [['versions', undefined], ['max-keys', String(o.max ?? 1000)], ['encoding-type', 'url']];
    if (o.prefix) q.push(['prefix', o.prefix]);
    if (o.keyMarker) q.push(['key-marker', o.keyMarker]);
    if (o.keyMarker && o.versionIdMarker) q.push(['version-id-marker', o.versionIdMarker]);
    const r = await this.client.request('GET', `/${s3BucketSegment(bucket)}`, { query: q });
    return parseVersionList(r.body.toString('utf8'));
  }

  /** Every version and delete marker of the bucket (with `prefix`), in listing order; nothing for a bucket that is gone. */
  async *allVersions(bucket: string, prefix = '', pageSize = 1000): AsyncGenerator<ListedVersion> {
    let keyMarker = '';
    let versionIdMarker = '';
    for (;;) {
      let page: VersionPage;
      try {
        page = await this.listVersions(bucket, { prefix, keyMarker, versionIdMarker, max: pageSize });
      } catch (e) {
        if (e instanceof NotFound) return;
        throw e;
      }
      yield* page.versions;
      const last = page.versions.at(-1);
      if (!page.truncated || !last) return;
      keyMarker = page.nextKeyMarker ?? last.key;
      versionIdMarker = page.nextVersionIdMarker ?? last.versionId;
    }
  }

  /** The versions of every key, grouped by key in key order (newest first within a key). */
  async *versionGroups(bucket: string, pageSize = 1000): AsyncGenerator<KeyVersions> {
    let cur: KeyVersions | undefined;
    for await (const v of this.allVersions(bucket, '', pageSize)) {
      if (cur && cur.key !== v.key) {
        yield cur;
        cur = undefined;
      }
      cur ??= { key: v.key, versions: [] };
      cur.versions.push(v);
    }
    if (cur) yield cur;
  }

  /**
   * One key's versions, newest first. Listed with the key as prefix: the key itself sorts before
   * every longer key with that prefix, so listing stops at the first other key.
   */
  async keyVersions(bucket: string, key: string): Promise<VersionEntry[]> {
    const out: VersionEntry[] = [];
    const all = this.allVersions(bucket, key);
    try {
      for await (const v of all) {
        if (v.key !== key) break;
        out.push(v);
      }
    } finally {
      await all.return(undefined);
    }
    return out;
  }

  /** Removes one version (or delete marker) for good; a version already gone is fine. */
  async deleteVersion(bucket: string, key: string, versionId: string, owner?: string): Promise<void> {
    try {
      await this.client.request('DELETE', objectPath(bucket, key), { query: [['versionId', versionId], ...(owner ? [['rgwx-uid', owner] as [string, string]] : [])] });
    } catch (e) {
      if (!(e instanceof NotFound)) throw e;
    }
  }

  /**
   * Creates a delete marker as the key's newest version; `versionId` asks the gateway to give it
   * that id (rgwx-version-id). `created` is false when the answer lacks `x-amz-delete-marker: true`:
   * Pacific and Reef answer 204 and create nothing when the key's newest entry is a delete marker.
   */
  async createDeleteMarker(bucket: string, key: string, owner: string, versionId?: string): Promise<{ created: boolean; versionId?: string }> {
    const q: [string, string][] = [['rgwx-uid', owner]];
    if (versionId) q.push(['rgwx-version-id', versionId]);
    const r = await this.client.request('DELETE', objectPath(bucket, key), { query: q });
    const id = r.headers['x-amz-version-id'];
    return { created: r.headers['x-amz-delete-marker'] === 'true', ...(typeof id === 'string' ? { versionId: id } : {}) };
  }

  /** A small version (the agent's own stand-in, removed again at once); returns the id the gateway gave it. */
  async putVersion(bucket: string, key: string, owner: string, versionId: string): Promise<void> {
    await this.client.request('PUT', objectPath(bucket, key), { query: [['rgwx-uid', owner], ['rgwx-version-id', versionId]], body: '', headers: { 'content-type': 'application/octet-stream' } });
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
  async remoteCopy(bucket: string, key: string, sourceZone: string, clientId: string, opId: string, timeoutMs: number, version?: VersionTarget): Promise<CopyResult> {
    // One version of a versioned bucket is copied as that version: "newer" means nothing there.
    const query: [string, string][] = [['rgwx-source-zone', sourceZone], ['rgwx-client-id', clientId], ['rgwx-op-id', opId]];
    if (!version) query.push(['rgwx-copy-if-newer', 'true']);
    else if (version.destId) query.push(['rgwx-version-id', version.destId]);
    const source = `${s3BucketSegment(bucket)}/${s3Encode(key, true)}${version ? `?versionId=${encodeURIComponent(version.id)}` : ''}`;
    try {
      const r = await this.client.request('PUT', objectPath(bucket, key), {
        query,
        headers: { 'x-amz-copy-source': source, [OP_STATE_HEADER.toLowerCase()]: OP_STATE_DROPPED },
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
      const vid = r.headers['x-amz-version-id'];
      return { outcome: 'copied', bytes: Number.isFinite(size) ? size : undefined, ...dropped, ...(typeof vid === 'string' ? { versionId: vid } : {}) };
    } catch (e) {
      if (e instanceof NotModified) return { outcome: 'not-modified' };
      // NoSuchBucket is about the destination (its bucket metadata is not there yet), not the source.
      if (e instanceof NotFound && e.code !== 'NoSuchBucket') return { outcome: 'source-missing' };
      throw e;
    }
  }

  /** HEAD of one object, or undefined when the object (or its bucket) does not exist. */
  async headObject(bucket: string, key: string, versionId?: string): Promise<ObjectHead | undefined> {
    let r;
    try {
      r = await this.client.request('HEAD', objectPath(bucket, key), { query: versionQuery(versionId) });
    } catch (e) {
      if (isGone(e, versionId)) return undefined;
      throw e;
    }
    return headFromHeaders(r.headers);
  }

  /** The object's tags in canonical form; '' for none or a vanished object. A gateway without tagging throws (see isUnsupported). */
  async getTagging(bucket: string, key: string, versionId?: string): Promise<string> {
    try {
      return parseTagging((await this.client.request('GET', objectPath(bucket, key), { query: [['tagging', undefined], ...versionQuery(versionId)] })).body.toString('utf8'));
    } catch (e) {
      // (Before isUnsupported: a version that is a delete marker says nothing about ?tagging.)
      if (isGone(e, versionId)) return '';
      throw e;
    }
  }

  /** The object's ACL; undefined when the object vanished. A gateway without object ACLs throws (see isUnsupported). */
  async getAcl(bucket: string, key: string, versionId?: string): Promise<Acl | undefined> {
    try {
      return parseAcl((await this.client.request('GET', objectPath(bucket, key), { query: [['acl', undefined], ...versionQuery(versionId)] })).body.toString('utf8'));
    } catch (e) {
      if (isGone(e, versionId)) return undefined;
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
