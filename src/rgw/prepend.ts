/**
 * RGW's rgwx-prepend-metadata: a system user's GET with `?rgwx-prepend-metadata=true` is answered
 * with `Rgwx-Embedded-Metadata-Len: N` and a body whose first N bytes are a JSON document of the
 * object's attributes, then the object's bytes. Attributes and bytes come from one answer, so they
 * describe one version even when the object changes while it is being copied.
 *
 * The document's shape is this zone's own (`format` says so). Ceph sends its xattrs instead
 * (`{"attrs": {...}, "mtime": ...}`, ACL and tags in Ceph's binary encodings); a puller must still
 * cut such a prefix off, and then takes the attributes from the answer headers.
 */
import type { Readable } from 'node:stream';
import { secUsec, usFromSecFrac } from './clock.js';
import { REPLICATED_HEADERS, type Acl, type ObjectAttrs } from './attrs.js';

export const PREPEND_QUERY = 'rgwx-prepend-metadata';
export const EMBEDDED_LEN_HEADER = 'rgwx-embedded-metadata-len';
const FORMAT = 'rgw-agent-zone/1';
/** Attributes are bounded by S3's header limits; anything near this is not an attribute document. */
export const MAX_EMBEDDED_BYTES = 1 << 20;

export interface EmbeddedMetadata {
  format: typeof FORMAT;
  etag: string;
  /** "<sec>.<usec>", as Rgwx-Mtime. */
  mtime: string;
  size: number;
  headers: ObjectAttrs['headers'];
  meta: Record<string, string>;
  storage_class: string;
  tags: string;
  acl: Acl;
}

export function encodeEmbedded(o: { etag: string; mtime_us: number; size: number }, attrs: ObjectAttrs & { tags: string; acl: Acl }): Buffer {
  const doc: EmbeddedMetadata = {
    format: FORMAT, etag: o.etag, mtime: secUsec(o.mtime_us), size: o.size,
    headers: attrs.headers, meta: attrs.meta, storage_class: attrs.storageClass, tags: attrs.tags, acl: attrs.acl,
  };
  return Buffer.from(JSON.stringify(doc), 'utf8');
}

export interface PulledVersion { etag: string; mtimeUs: number; size: number; attrs: ObjectAttrs & { tags: string; acl: Acl } }

const isStringMap = (v: unknown): v is Record<string, string> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');

/** A prefix parsed as a JSON object; undefined when it is not one. */
export function prefixObject(buf: Buffer): object | undefined {
  try {
    const doc: unknown = JSON.parse(buf.toString('utf8'));
    return typeof doc === 'object' && doc !== null ? doc : undefined;
  } catch {
    return undefined;
  }
}

/** This zone's document, checked field by field; undefined for anything else (Ceph's, or damaged). */
export function decodeEmbedded(buf: Buffer): PulledVersion | undefined {
  const doc = prefixObject(buf);
  if (!doc) return undefined;
  const d = doc as Partial<Record<keyof EmbeddedMetadata, unknown>>;
  if (d.format !== FORMAT || typeof d.etag !== 'string' || typeof d.mtime !== 'string' || typeof d.size !== 'number') return undefined;
  if (!isStringMap(d.headers) || !isStringMap(d.meta) || typeof d.storage_class !== 'string' || typeof d.tags !== 'string') return undefined;
  const acl = d.acl as Partial<Acl> | undefined;
  if (typeof acl?.owner !== 'string' || !Array.isArray(acl.grants)
    || !acl.grants.every((g: unknown) => typeof (g as { grantee?: unknown })?.grantee === 'string' && typeof (g as { permission?: unknown })?.permission === 'string')) return undefined;
  const mtimeUs = usFromSecFrac(d.mtime);
  if (mtimeUs === undefined) return undefined;
  const headers: ObjectAttrs['headers'] = {};
  for (const name of REPLICATED_HEADERS) if (d.headers[name] !== undefined) headers[name] = d.headers[name];
  return {
    etag: d.etag, mtimeUs, size: d.size,
    attrs: { headers, meta: d.meta, storageClass: d.storage_class, tags: d.tags, acl: { owner: acl.owner, grants: acl.grants as Acl['grants'] } },
  };
}

/**
 * Reads exactly `n` bytes off the front of a body and leaves the rest in the stream (unshifted), so
 * the object bytes can be piped on without ever being held in memory.
 */
export async function readPrefix(body: Readable, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let have = 0;
  let ended = false;
  let failed: Error | undefined;
  const onEnd = () => { ended = true; };
  const onError = (e: Error) => { failed = e; };
  body.on('end', onEnd);
  body.on('error', onError);
  try {
    while (have < n) {
      if (failed) throw failed;
      const chunk = body.read() as Buffer | null;
      if (chunk === null) {
        if (ended || body.destroyed) throw new Error(`the body ended inside the ${n}-byte metadata prefix (after ${have} bytes)`);
        await new Promise<void>((resolve) => {
          const wake = () => {
            body.off('readable', wake);
            body.off('end', wake);
            body.off('error', wake);
            body.off('close', wake);
            resolve();
          };
          body.on('readable', wake);
          body.on('end', wake);
          body.on('error', wake);
          body.on('close', wake);
        });
        continue;
      }
      const need = n - have;
      if (chunk.length > need) {
        chunks.push(chunk.subarray(0, need));
        body.unshift(chunk.subarray(need));
        have = n;
      } else {
        chunks.push(chunk);
        have += chunk.length;
      }
    }
  } finally {
    body.off('end', onEnd);
    body.off('error', onError);
  }
  return Buffer.concat(chunks, n);
}
