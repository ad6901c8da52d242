/**
 * Stream copy: the agent relays an object, GET from the source and PUT to the destination as the
 * system user acting for the bucket owner (?rgwx-uid=). Bodies flow socket to socket; objects
 * above the multipart threshold go up part by part, each part a ranged GET, so memory stays
 * bounded by the sockets' buffers whatever the object size.
 *
 * Every GET carries If-Match with the ETag of the version being copied, and the attributes written
 * come from the answer whose body is copied: a copy is of one version or fails (SourceChanged).
 */
import { XMLParser } from 'fast-xml-parser';
import { createHash, type Hash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import type { ZoneClient } from './http.js';
import { headFromHeaders, isUnsupported, objectPath, S3Api, versionQuery, type ObjectHead, type VersionTarget } from './s3.js';
import type { StreamResponse } from './http.js';
import { AgentError, HttpError, isGone } from './errors.js';
import {
  attrsFromHeaders, DEFAULT_STORAGE_CLASS, grantHeaders, REPLICATED_HEADERS, SOURCE_ETAG_META, STORAGE_CLASS_HEADER, tagCountFromHeaders,
  type Acl, type ObjectAttrs,
} from '../rgw/attrs.js';
import { decodeEmbedded, EMBEDDED_LEN_HEADER, MAX_EMBEDDED_BYTES, PREPEND_QUERY, readPrefix } from '../rgw/prepend.js';
import { decodeCephPrepended } from '../rgw/cephattrs.js';

export { SOURCE_ETAG_META };

/** S3 parts are at least 5 MiB (but the last); at most 64 MiB each here. */
const MIN_PART = 5 * 1024 * 1024;
const MAX_PART = 64 * 1024 * 1024;
const xml = new XMLParser({ ignoreAttributes: true, parseTagValue: false });

/** The source was overwritten while it was being copied (412 to If-Match): nothing of it was stored. */
export class SourceChanged extends AgentError {}
/** The bytes that arrived are not the bytes that were sent; the damaged copy was removed. */
export class CopyDamaged extends AgentError {}
/** The destination answered InvalidStorageClass; the copy is repeated without the class. */
class StorageClassRefused extends AgentError {
  constructor(readonly storageClass: string) { super(`the destination has no storage class ${storageClass}`); }
}

export interface CopyOptions {
  /** Notes that concern the whole run (a gateway lacking an attribute); each is given once per process. */
  warn?: (msg: string) => void;
  /**
   * Copy this version of the source (GET ?versionId=) and ask the destination to give the copy
   * the id `destId` (rgwx-version-id). The id the destination gave is put in `gotVersionId`.
   */
  version?: VersionTarget & { gotVersionId?: string };
}

function destVersionQuery(o: CopyOptions): [string, string][] {
  return o.version?.destId !== undefined ? [['rgwx-version-id', o.version.destId]] : [];
}

function noteVersion(o: CopyOptions, h: Record<string, string | string[] | undefined>): void {
  const id = h['x-amz-version-id'];
  if (o.version && typeof id === 'string') o.version.gotVersionId = id;
}

async function drain(r: Readable): Promise<void> {
  for await (const _chunk of r) { /* discard */ }
}

/** Ends an answer whose body may be unread; an undici body destroyed without a listener would throw its abort. */
function discard(r: Readable): void {
  r.on('error', () => undefined);
  r.destroy();
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function isPlainMd5(etag: string): boolean {
  return /^[0-9a-f]{32}$/.test(etag);
}

/**
 * A whole-object source GET asks for the attributes in front of the bytes (RGW's
 * rgwx-prepend-metadata, honoured for system users by Ceph and the embedded zone): the ACL and
 * tags then come with the copy instead of from two more requests.
 */
const PREPEND: [string, string][] = [[PREPEND_QUERY, 'true']];

/** Attributes the source put in front of the bytes; each only where it could be read faithfully. */
interface Prepended { acl?: Acl; tags?: string }

/** A source GET answer with any attribute prefix cut off: `get.body` holds the object's bytes only. */
interface SourceAnswer { get: StreamResponse; size: number; prepended: Prepended }

/** Cuts the prefix of a prepend-metadata answer; an answer without one is the object alone. */
async function sourceAnswer(get: StreamResponse, expectedSize?: number): Promise<SourceAnswer> {
  const cl = one(get.headers['content-length']);
  const declared = cl === undefined ? (expectedSize ?? NaN) : Number(cl);
  const lenHeader = one(get.headers[EMBEDDED_LEN_HEADER]);
  if (lenHeader === undefined) return { get, size: declared, prepended: {} };
  const n = Number(lenHeader);
  if (!Number.isInteger(n) || n < 0 || n > MAX_EMBEDDED_BYTES || !(declared >= n)) {
    discard(get.body);
    throw new AgentError(`the source sent a ${lenHeader}-byte attribute prefix in a ${declared}-byte answer`);
  }
  let prefix: Buffer;
  try {
    prefix = await readPrefix(get.body, n);
  } catch (e) {
    discard(get.body);
    throw e;
  }
  const ours = decodeEmbedded(prefix);
  const prepended: Prepended = ours ? { acl: ours.attrs.acl, tags: ours.attrs.tags } : decodeCephPrepended(prefix) ?? {};
  return { get, size: declared - n, prepended };
}

/** What `Transfer.open` found on the source. */
export type Opened = { kind: 'gone' } | { kind: 'same' } | { kind: 'open'; head: ObjectHead; answer: SourceAnswer };

/** What a copy writes beside the body: the attributes of the version copied, read with it. */
export interface CopiedVersion { attrs: ObjectAttrs; etag: string; tags?: string; acl?: Acl }

/**
 * The headers of the destination PUT (or multipart initiation) that give it the source's
 * attributes. `storageClass`: send a non-STANDARD class (false where the destination refused it);
 * `noteEtag`: keep the source's ETag beside a copy whose own ETag cannot equal it.
 */
export function copyHeaders(v: CopiedVersion, o: { storageClass: boolean; noteEtag: boolean }): Record<string, string> {
  // S3 serves an object stored without a type as binary/octet-stream; say so, so both sides agree.
  const h: Record<string, string> = { 'content-type': v.attrs.headers['content-type'] || 'binary/octet-stream' };
  for (const name of REPLICATED_HEADERS) {
    const value = v.attrs.headers[name];
    if (name !== 'content-type' && value !== undefined) h[name] = value;
  }
  for (const [k, value] of Object.entries(v.attrs.meta)) if (k !== SOURCE_ETAG_META) h[`x-amz-meta-${k}`] = value;
  if (o.noteEtag) h[`x-amz-meta-${SOURCE_ETAG_META}`] = v.etag;
  if (o.storageClass && v.attrs.storageClass !== DEFAULT_STORAGE_CLASS) h[STORAGE_CLASS_HEADER] = v.attrs.storageClass;
  if (v.tags) h['x-amz-tagging'] = v.tags;
  if (v.acl) Object.assign(h, grantHeaders(v.acl));
  return h;
}

/** Checksums S3 returns (x-amz-checksum-mode: ENABLED) that Node can recompute; name -> digest algorithm. */
const CHECKSUMS = { 'x-amz-checksum-sha256': 'sha256', 'x-amz-checksum-sha1': 'sha1', 'x-amz-checksum-crc32': 'crc32' } as const;
type ChecksumHeader = keyof typeof CHECKSUMS;

/** What the source vouches for about the body of one answer (whole object or one range). */
export interface SourceDigests {
  /** ETag, when it is the body's MD5 (plain ETag, whole object). */
  md5?: string;
  /** Content-MD5 of the answer, hex. */
  contentMd5?: string;
  /** x-amz-checksum-* of the whole object (composite multipart checksums, "...-N", are left out). */
  checksums: Partial<Record<ChecksumHeader, string>>;
}

export function sourceDigests(h: Record<string, string | string[] | undefined>, wholeObject: boolean): SourceDigests {
  const etag = (one(h.etag) ?? '').replace(/"/g, '');
  const out: SourceDigests = { checksums: {} };
  if (wholeObject && isPlainMd5(etag)) out.md5 = etag;
  const cmd5 = one(h['content-md5']);
  if (cmd5) {
    const raw = Buffer.from(cmd5, 'base64');
    if (raw.length === 16) out.contentMd5 = raw.toString('hex');
  }
  // A checksum describes the whole object; a range of it cannot be checked against it.
  if (wholeObject) {
    for (const name of Object.keys(CHECKSUMS) as ChecksumHeader[]) {
      const v = one(h[name]);
      if (v && !v.includes('-')) out.checksums[name] = v;
    }
  }
  return out;
}

/** What the agent saw stream through it, and what the destination says it stored. */
export interface Streamed { bytes: number; md5: string; checksums: Partial<Record<ChecksumHeader, string>>; destinationEtag?: string }

/**
 * Why a relayed body is not the source's, or undefined when every check that can be made holds.
 * The destination's ETag of a single PUT or a part is the MD5 of what it received (S3, RGW, the
 * embedded zone), so that checks the agent-to-destination leg whatever the source's ETag is.
 */
export function integrityProblem(expectedBytes: number, src: SourceDigests, got: Streamed): string | undefined {
  if (got.bytes !== expectedBytes) return `${got.bytes} of ${expectedBytes} bytes arrived from the source`;
  if (src.md5 !== undefined && got.md5 !== src.md5) return `the bytes read have MD5 ${got.md5}, the source's ETag is ${src.md5}`;
  if (src.contentMd5 !== undefined && got.md5 !== src.contentMd5) return `the bytes read have MD5 ${got.md5}, the source's Content-MD5 says ${src.contentMd5}`;
  for (const [name, want] of Object.entries(src.checksums) as [ChecksumHeader, string][]) {
    const have = got.checksums[name];
    if (have !== undefined && have !== want) return `the bytes read have ${name} ${have}, the source says ${want}`;
  }
  if (got.destinationEtag && isPlainMd5(got.destinationEtag) && got.destinationEtag !== got.md5) {
    return `the destination stored MD5 ${got.destinationEtag}, the agent sent MD5 ${got.md5}`;
  }
  return undefined;
}

/** Hashes what flows through it: MD5 always, and the checksums the source gave. */
class Digester {
  private readonly md5 = createHash('md5');
  private readonly hashes: [ChecksumHeader, Hash][] = [];
  private crc: number | undefined;
  private bytes = 0;
  readonly stream: Transform;

  constructor(wanted: SourceDigests['checksums']) {
    for (const name of Object.keys(wanted) as ChecksumHeader[]) {
      const alg = CHECKSUMS[name];
      if (alg === 'crc32') { if (typeof zlib.crc32 === 'function') this.crc = 0; } else this.hashes.push([name, createHash(alg)]);
    }
    this.stream = new Transform({
      transform: (chunk: Buffer, _enc, cb) => {
        this.bytes += chunk.length;
        this.md5.update(chunk);
        for (const [, h] of this.hashes) h.update(chunk);
        if (this.crc !== undefined) this.crc = zlib.crc32(chunk, this.crc);
        cb(null, chunk);
      },
    });
  }

  result(destinationEtag?: string): Streamed {
    const checksums: Streamed['checksums'] = {};
    for (const [name, h] of this.hashes) checksums[name] = h.digest('base64');
    if (this.crc !== undefined) {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(this.crc >>> 0);
      checksums['x-amz-checksum-crc32'] = b.toString('base64');
    }
    return { bytes: this.bytes, md5: this.md5.digest('hex'), checksums, destinationEtag };
  }
}

type Side = 'source' | 'destination';

/**
 * `src` through `t`, failures carried both ways, as stream.pipeline does for two streams: an error
 * or an early close of the GET's body fails the PUT's body, and a PUT that ends early frees the
 * GET. Not pipeline itself: it ends every run with AbortController.abort(), a DOMException and its
 * stack trace per copied object (3 % of the agent's CPU in a small-object full sync).
 */
function through(src: Readable, t: Transform): Transform {
  src.on('error', (e) => t.destroy(e));
  src.once('close', () => { if (!src.readableEnded) t.destroy(new AgentError('the source closed the object body before its end')); });
  t.once('close', () => { if (!src.destroyed && !src.readableEnded) src.destroy(); });
  return src.pipe(t);
}

export class Transfer {
  /** Set once the destination refused multipart (501 or 405: a gateway without multipart uploads). */
  private multipart = true;
  private readonly refusedClasses = new Set<string>();
  private readonly noTagging = new Set<Side>();
  private readonly noAcl = new Set<Side>();
  private readonly warned = new Set<string>();
  private readonly s3: Record<Side, S3Api>;

  constructor(private readonly src: ZoneClient, private readonly dst: ZoneClient, private readonly threshold: number, private readonly timeoutMs: number) {
    this.s3 = { source: new S3Api(src), destination: new S3Api(dst) };
  }

  /** The destination refused this storage class (InvalidStorageClass) earlier in this process. */
  refusesClass(storageClass: string): boolean {
    return this.refusedClasses.has(storageClass);
  }

  private warnOnce(o: CopyOptions, msg: string): void {
    if (this.warned.has(msg)) return;
    this.warned.add(msg);
    o.warn?.(msg);
  }

  /** The object's tags on one side, or undefined where that gateway has no tagging (noted once). */
  readTags(side: Side, bucket: string, key: string, o: CopyOptions = {}, versionId?: string): Promise<string | undefined> {
    const id = versionId ?? (side === 'source' ? o.version?.id : undefined);
    return this.readOptional(side, 'tagging', 'object tagging', 'tags', () => this.s3[side].getTagging(bucket, key, id), o);
  }

  /** The object's ACL on one side, or undefined where that gateway has no object ACLs (noted once) or the object vanished. */
  readAcl(side: Side, bucket: string, key: string, o: CopyOptions = {}, versionId?: string): Promise<Acl | undefined> {
    const id = versionId ?? (side === 'source' ? o.version?.id : undefined);
    return this.readOptional(side, 'acl', 'object ACLs', 'ACLs', () => this.s3[side].getAcl(bucket, key, id), o);
  }

  /** A sub-resource read that a gateway may not have at all (501/405): then never asked again on that side. */
  private async readOptional<T>(side: Side, sub: 'tagging' | 'acl', what: string, plural: string, read: () => Promise<T>, o: CopyOptions): Promise<T | undefined> {
    const lacking = sub === 'tagging' ? this.noTagging : this.noAcl;
    if (lacking.has(side)) return undefined;
    try {
      return await read();
    } catch (e) {
      if (!isUnsupported(e)) throw e;
      lacking.add(side);
      this.warnOnce(o, `the ${side} has no ${what} (?${sub} answered ${(e as HttpError).status}): ${plural} are not ${side === 'source' ? 'copied' : 'kept there'}`);
      return undefined;
    }
  }

  /**
   * Copies the version of an object whose source HEAD is `head`. Returns the bytes moved, or
   * undefined when the source object vanished in the meantime (the caller deletes it on the
   * destination). Throws SourceChanged when the source was overwritten meanwhile.
   */
  async copy(bucket: string, key: string, head: ObjectHead, owner: string, o: CopyOptions = {}): Promise<number | undefined> {
    for (;;) {
      try {
        if (head.size > this.threshold && this.multipart) {
          const r = await this.copyMultipart(bucket, key, head, owner, o);
          if (r !== 'unsupported') return r;
          this.multipart = false;
        }
        return await this.copySingle(bucket, key, head, owner, o);
      } catch (e) {
        this.classRefused(e, o);
      }
    }
  }

  /**
   * Tags and ACL of the version being copied: from the answer's prefix where the source gave them,
   * else separate reads (plain S3 gives them on no GET).
   */
  private async version(bucket: string, key: string, h: Record<string, string | string[] | undefined>, etag: string, prepended: Prepended, o: CopyOptions): Promise<CopiedVersion> {
    const attrs = attrsFromHeaders(h, [SOURCE_ETAG_META]);
    const hasTags = tagCountFromHeaders(h) > 0;
    const [tags, acl] = await Promise.all([
      prepended.tags !== undefined ? Promise.resolve(prepended.tags || undefined) : hasTags ? this.readTags('source', bucket, key, o) : Promise.resolve(undefined),
      prepended.acl ?? this.readAcl('source', bucket, key, o),
    ]);
    return { attrs, etag, tags, acl };
  }

  /** Rethrows `e` unless it is a refused storage class, which is remembered (and noted once) so the copy can be sent again without it. */
  private classRefused(e: unknown, o: CopyOptions): void {
    if (!(e instanceof StorageClassRefused)) throw e;
    this.refusedClasses.add(e.storageClass);
    this.warnOnce(o, `the destination has no storage class ${e.storageClass} (InvalidStorageClass): objects of that class are copied as ${DEFAULT_STORAGE_CLASS}`);
  }

  private sendsClass(v: CopiedVersion): boolean {
    return !this.refusedClasses.has(v.attrs.storageClass);
  }

  private refusal(e: unknown, v: CopiedVersion): unknown {
    const sent = v.attrs.storageClass !== DEFAULT_STORAGE_CLASS && this.sendsClass(v);
    return sent && e instanceof HttpError && e.status === 400 && e.code === 'InvalidStorageClass' ? new StorageClassRefused(v.attrs.storageClass) : e;
  }

  private async copySingle(bucket: string, key: string, head: ObjectHead, owner: string, o: CopyOptions): Promise<number | undefined> {
    const get = await this.getVersion(bucket, key, head.etag, undefined, o);
    if (!get) return undefined;
    return this.relay(bucket, key, await sourceAnswer(get, head.size), owner, o);
  }

  /**
   * The source's current version, opened with one GET (its body not read yet), unless it is the
   * version with ETag `unlessEtag` ('same': the destination may already have it) or gone.
   * `copyOpened` then copies it: the copy and its attributes come from that one answer.
   */
  async open(bucket: string, key: string, unlessEtag?: string): Promise<Opened> {
    const headers: Record<string, string> = { 'x-amz-checksum-mode': 'ENABLED', ...(unlessEtag ? { 'if-none-match': `"${unlessEtag}"` } : {}) };
    try {
      const get = await this.src.stream('GET', objectPath(bucket, key), { query: PREPEND, headers, headersTimeoutMs: this.timeoutMs, bodyTimeoutMs: this.timeoutMs, accept: [304] });
      if (get.status === 304) {
        discard(get.body);
        return { kind: 'same' };
      }
      const answer = await sourceAnswer(get);
      return { kind: 'open', head: { ...headFromHeaders(get.headers), size: answer.size }, answer };
    } catch (e) {
      if (e instanceof HttpError && e.status === 404) return { kind: 'gone' };
      throw e;
    }
  }

  /** Copies what `open` opened; the answer is consumed either way. Returns as `copy` does. */
  async copyOpened(bucket: string, key: string, opened: Extract<Opened, { kind: 'open' }>, owner: string, o: CopyOptions = {}): Promise<number | undefined> {
    const { head, answer } = opened;
    // Large objects go part by part (ranged GETs of this version): this answer is not used.
    if (head.size > this.threshold && this.multipart) {
      discard(answer.get.body);
      return this.copy(bucket, key, head, owner, o);
    }
    try {
      return await this.relay(bucket, key, answer, owner, o);
    } catch (e) {
      this.classRefused(e, o);
      // The answer's body went to the refused PUT: the version is read again.
      return this.copy(bucket, key, head, owner, o);
    }
  }

  /** One PUT from an open GET answer of a whole version. */
  private async relay(bucket: string, key: string, answer: SourceAnswer, owner: string, o: CopyOptions): Promise<number | undefined> {
    const path = objectPath(bucket, key);
    const { get, size } = answer;
    try {
      const etag = (one(get.headers.etag) ?? '').replace(/"/g, '');
      const v = await this.version(bucket, key, get.headers, etag, answer.prepended, o);
      const headers = { ...copyHeaders(v, { storageClass: this.sendsClass(v), noteEtag: !isPlainMd5(etag) }), 'content-length': String(size) };
      const wanted = sourceDigests(get.headers, true);
      const digest = new Digester(wanted.checksums);
      let put;
      try {
        put = await this.dst.stream('PUT', path, {
          query: [['rgwx-uid', owner], ...destVersionQuery(o)], headers, body: through(get.body, digest.stream),
          headersTimeoutMs: this.timeoutMs, bodyTimeoutMs: this.timeoutMs,
        });
      } catch (e) {
        throw this.refusal(e, v);
      }
      await drain(put.body);
      noteVersion(o, put.headers);
      const problem = integrityProblem(size, wanted, digest.result((one(put.headers.etag) ?? '').replace(/"/g, '')));
      if (problem) {
        // The damaged copy carries the source's ETag note and size: left there it would look equal.
        const made = o.version?.gotVersionId;
        await this.dst.request('DELETE', path, { query: [['rgwx-uid', owner], ...versionQuery(made)] }).catch(() => undefined);
        throw new CopyDamaged(`copy of ${bucket}/${key} was damaged in transit (${problem}); the damaged copy was removed`);
      }
      return size;
    } finally {
      discard(get.body);
    }
  }

  /** GET of the version with ETag `etag` (whole, with its attributes in front, or a range); undefined when the object is gone. */
  private async getVersion(bucket: string, key: string, etag: string, range: [number, number] | undefined, o: CopyOptions) {
    const headers: Record<string, string> = { 'if-match': `"${etag}"`, 'x-amz-checksum-mode': 'ENABLED' };
    if (range) headers.range = `bytes=${range[0]}-${range[1]}`;
    try {
      return await this.src.stream('GET', objectPath(bucket, key), { query: [...(range ? [] : PREPEND), ...versionQuery(o.version?.id)], headers, headersTimeoutMs: this.timeoutMs, bodyTimeoutMs: this.timeoutMs });
    } catch (e) {
      if (isGone(e, o.version?.id)) return undefined;
      if (e instanceof HttpError && e.status === 412) throw new SourceChanged(`${bucket}/${key} changed on the source while it was being copied (ETag ${etag} is no longer current)`);
      throw e;
    }
  }

  private async copyMultipart(bucket: string, key: string, head: ObjectHead, owner: string, o: CopyOptions): Promise<number | undefined | 'unsupported'> {
    const path = objectPath(bucket, key);
    const partSize = Math.max(MIN_PART, Math.min(MAX_PART, this.threshold));
    const rangeOf = (start: number): [number, number] => [start, Math.min(start + partSize, head.size) - 1];
    // Part 1 is read first: the upload's attributes come from the answer whose bytes start it.
    let get = await this.getVersion(bucket, key, head.etag, rangeOf(0), o);
    if (!get) return undefined;
    let uploadId = '';
    let completed = false;
    try {
      const v = await this.version(bucket, key, get.headers, head.etag, {}, o);
      let init;
      try {
        init = await this.dst.request('POST', path, {
          query: [['uploads', undefined], ['rgwx-uid', owner], ...destVersionQuery(o)],
          headers: copyHeaders(v, { storageClass: this.sendsClass(v), noteEtag: true }), idempotent: false,
        });
      } catch (e) {
        if (e instanceof HttpError && (e.status === 501 || e.status === 405)) return 'unsupported';
        throw this.refusal(e, v);
      }
      uploadId = String((xml.parse(init.body.toString('utf8')) as { InitiateMultipartUploadResult?: { UploadId?: string } }).InitiateMultipartUploadResult?.UploadId ?? '');
      if (!uploadId) throw new AgentError(`multipart upload of ${bucket}/${key}: the destination gave no UploadId`);
      const parts: string[] = [];
      for (let start = 0, n = 1; start < head.size; start += partSize, n++) {
        const [from, to] = rangeOf(start);
        if (n > 1) {
          discard(get.body);
          const next = await this.getVersion(bucket, key, head.etag, [from, to], o);
          if (!next) return undefined;
          get = next;
        }
        const wanted = sourceDigests(get.headers, false);
        const digest = new Digester(wanted.checksums);
        const put = await this.dst.stream('PUT', path, {
          query: [['partNumber', String(n)], ['uploadId', uploadId], ['rgwx-uid', owner]],
          headers: { 'content-length': String(to - from + 1) }, body: through(get.body, digest.stream),
          headersTimeoutMs: this.timeoutMs, bodyTimeoutMs: this.timeoutMs,
        });
        await drain(put.body);
        const partEtag = String(one(put.headers.etag) ?? '');
        const problem = integrityProblem(to - from + 1, wanted, digest.result(partEtag.replace(/"/g, '')));
        if (problem) throw new CopyDamaged(`copy of ${bucket}/${key} was damaged in transit (part ${n}: ${problem}); the upload was aborted`);
        parts.push(partEtag);
      }
      const body = `<CompleteMultipartUpload>${parts.map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${etag}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
      const done = await this.dst.request('POST', path, { query: [['uploadId', uploadId], ['rgwx-uid', owner], ...destVersionQuery(o)], body, headers: { 'content-type': 'application/xml' }, idempotent: false });
      noteVersion(o, done.headers);
      completed = true;
      return head.size;
    } finally {
      discard(get.body);
      // An upload left open would keep its parts' space on the destination.
      if (uploadId && !completed) await this.dst.request('DELETE', path, { query: [['uploadId', uploadId], ['rgwx-uid', owner]] }).catch(() => undefined);
    }
  }
}
