/**
 * Stream copy: the agent relays an object, GET from the source and PUT to the destination as the
 * system user acting for the bucket owner (?rgwx-uid=). Bodies flow socket to socket; objects
 * above the multipart threshold go up part by part, each part a ranged GET, so memory stays
 * bounded by the sockets' buffers whatever the object size.
 */
import { XMLParser } from 'fast-xml-parser';
import type { Readable } from 'node:stream';
import type { ZoneClient } from './http.js';
import { objectPath, type ObjectHead } from './s3.js';
import { AgentError, HttpError } from './errors.js';

/** Kept on copies whose ETag cannot equal the source's (multipart), so "already equal" still works. */
export const SOURCE_ETAG_META = 'rgw-agent-source-etag';
/** S3 parts are at least 5 MiB (but the last); at most 64 MiB each here. */
const MIN_PART = 5 * 1024 * 1024;
const MAX_PART = 64 * 1024 * 1024;
const xml = new XMLParser({ ignoreAttributes: true, parseTagValue: false });

async function drain(r: Readable): Promise<void> {
  for await (const _chunk of r) { /* discard */ }
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Content-Type and user metadata a copy keeps. */
function copiedHeaders(head: ObjectHead, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { 'content-type': head.contentType || 'binary/octet-stream', ...extra };
  for (const [k, v] of Object.entries(head.meta)) if (k !== SOURCE_ETAG_META) h[`x-amz-meta-${k}`] = v;
  return h;
}

function isPlainMd5(etag: string): boolean {
  return /^[0-9a-f]{32}$/.test(etag);
}

/** True when the destination already holds the source's version of the object. */
export function sameObject(src: ObjectHead, dst: ObjectHead | undefined): boolean {
  return dst !== undefined && dst.size === src.size && (dst.etag === src.etag || dst.meta[SOURCE_ETAG_META] === src.etag);
}

export class Transfer {
  /** Set once the destination refused multipart (the embedded zone answers 501). */
  private multipart = true;

  constructor(private readonly src: ZoneClient, private readonly dst: ZoneClient, private readonly threshold: number, private readonly timeoutMs: number) {}

  /**
   * Copies one object whose source HEAD is `head`. Returns the bytes moved, or undefined when
   * the source object vanished in the meantime (the caller deletes it on the destination).
   */
  async copy(bucket: string, key: string, head: ObjectHead, owner: string): Promise<number | undefined> {
    if (head.size > this.threshold && this.multipart) {
      const r = await this.copyMultipart(bucket, key, head, owner);
      if (r !== 'unsupported') return r;
      this.multipart = false;
    }
    return this.copySingle(bucket, key, head, owner);
  }

  private async copySingle(bucket: string, key: string, head: ObjectHead, owner: string): Promise<number | undefined> {
    const path = objectPath(bucket, key);
    const get = await this.getOrMissing(path, {});
    if (!get) return undefined;
    const size = Number(one(get.headers['content-length']) ?? head.size);
    const etag = (one(get.headers.etag) ?? '').replace(/"/g, '');
    const extra: Record<string, string> = { 'content-length': String(size) };
    if (!isPlainMd5(etag)) extra[`x-amz-meta-${SOURCE_ETAG_META}`] = etag;
    try {
      const put = await this.dst.stream('PUT', path, {
        query: [['rgwx-uid', owner]], headers: copiedHeaders(head, extra), body: get.body,
        headersTimeoutMs: this.timeoutMs, bodyTimeoutMs: this.timeoutMs,
      });
      await drain(put.body);
      const written = (one(put.headers.etag) ?? '').replace(/"/g, '');
      // A plain ETag is the body's MD5 on both sides: a mismatch means the bytes were damaged.
      if (isPlainMd5(etag) && written && written !== etag) throw new AgentError(`copy of ${bucket}/${key} was damaged in transit (ETag ${written}, source ${etag})`);
    } finally {
      get.body.destroy();
    }
    return size;
  }

  private async getOrMissing(path: string, headers: Record<string, string>) {
    try {
      return await this.src.stream('GET', path, { headers, headersTimeoutMs: this.timeoutMs, bodyTimeoutMs: this.timeoutMs });
    } catch (e) {
      if (e instanceof HttpError && e.status === 404) return undefined;
      throw e;
    }
  }

  private async copyMultipart(bucket: string, key: string, head: ObjectHead, owner: string): Promise<number | undefined | 'unsupported'> {
    const path = objectPath(bucket, key);
    let init;
    try {
      init = await this.dst.request('POST', path, {
        query: [['uploads', undefined], ['rgwx-uid', owner]],
        headers: copiedHeaders(head, { [`x-amz-meta-${SOURCE_ETAG_META}`]: head.etag }), idempotent: false,
      });
    } catch (e) {
      if (e instanceof HttpError && (e.status === 501 || e.status === 405)) return 'unsupported';
      throw e;
    }
    const uploadId = String((xml.parse(init.body.toString('utf8')) as { InitiateMultipartUploadResult?: { UploadId?: string } }).InitiateMultipartUploadResult?.UploadId ?? '');
    if (!uploadId) throw new AgentError(`multipart upload of ${bucket}/${key}: the destination gave no UploadId`);
    const parts: string[] = [];
    try {
      const partSize = Math.max(MIN_PART, Math.min(MAX_PART, this.threshold));
      for (let start = 0, n = 1; start < head.size; start += partSize, n++) {
        const end = Math.min(start + partSize, head.size) - 1;
        const get = await this.getOrMissing(path, { range: `bytes=${start}-${end}` });
        if (!get) return undefined;
        try {
          const put = await this.dst.stream('PUT', path, {
            query: [['partNumber', String(n)], ['uploadId', uploadId], ['rgwx-uid', owner]],
            headers: { 'content-length': String(end - start + 1) }, body: get.body,
            headersTimeoutMs: this.timeoutMs, bodyTimeoutMs: this.timeoutMs,
          });
          await drain(put.body);
          parts.push(String(one(put.headers.etag) ?? ''));
        } finally {
          get.body.destroy();
        }
      }
      const body = `<CompleteMultipartUpload>${parts.map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${etag}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
      await this.dst.request('POST', path, { query: [['uploadId', uploadId], ['rgwx-uid', owner]], body, headers: { 'content-type': 'application/xml' }, idempotent: false });
      return head.size;
    } catch (e) {
      await this.dst.request('DELETE', path, { query: [['uploadId', uploadId], ['rgwx-uid', owner]] }).catch(() => undefined);
      throw e;
    }
  }
}
