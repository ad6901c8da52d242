/**
 * A small signed S3 client for the bench (SigV4, path style) on an undici Pool. Bodies stream in
 * both directions, so a 32 MiB object never sits in memory whole.
 */
import { Pool } from 'undici';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { XMLParser } from 'fast-xml-parser';
import { s3Encode, signRequest, type Credentials } from '../src/rgw/sign.js';

export function objPath(bucket: string, key: string): string {
  return `/${s3Encode(bucket, false)}/${s3Encode(key, true)}`;
}

const xml = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (n) => n === 'Contents' });

export interface Listed { key: string; etag: string; size: number }

export class BenchClient {
  readonly pool: Pool;
  private readonly host: string;

  constructor(readonly endpoint: string, private readonly creds: Credentials, connections = 32) {
    this.host = new URL(endpoint).host;
    this.pool = new Pool(endpoint, { connections, keepAliveTimeout: 30_000, headersTimeout: 120_000, bodyTimeout: 120_000 });
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private headers(method: string, path: string, extra: Record<string, string>, body?: Buffer): Record<string, string> {
    return signRequest({
      method, host: this.host, path, headers: extra,
      bodySha256: body ? createHash('sha256').update(body).digest('hex') : undefined,
    }, this.creds, 'v4');
  }

  /** PUT with a buffered body (signed payload) or a streamed one of known length (UNSIGNED-PAYLOAD). Returns the ETag. */
  async put(bucket: string, key: string, body: Buffer | { stream: Readable | AsyncIterable<Uint8Array>; length: number }): Promise<string> {
    const path = objPath(bucket, key);
    const isBuf = Buffer.isBuffer(body);
    const len = isBuf ? body.length : body.length;
    const h = this.headers('PUT', path, { 'content-length': String(len), 'content-type': 'application/octet-stream' }, isBuf ? body : undefined);
    const r = await this.pool.request({ method: 'PUT', path, headers: h, body: isBuf ? body : body.stream as Readable });
    const text = await r.body.text();
    if (r.statusCode !== 200) throw new Error(`PUT ${this.endpoint}${path}: ${r.statusCode} ${text.slice(0, 300)}`);
    return String(r.headers.etag ?? '').replace(/"/g, '');
  }

  async createBucket(bucket: string): Promise<void> {
    const path = `/${s3Encode(bucket, false)}`;
    const r = await this.pool.request({ method: 'PUT', path, headers: this.headers('PUT', path, {}) });
    const text = await r.body.text();
    if (r.statusCode !== 200) throw new Error(`PUT bucket ${bucket}: ${r.statusCode} ${text.slice(0, 300)}`);
  }

  /** GET with the body left as a stream; the caller must consume or dump it. */
  async getStream(bucket: string, key: string): Promise<{ status: number; etag: string; length: number; body: Readable & { dump(): Promise<void> } }> {
    const path = objPath(bucket, key);
    const r = await this.pool.request({ method: 'GET', path, headers: this.headers('GET', path, {}) });
    return {
      status: r.statusCode,
      etag: String(r.headers.etag ?? '').replace(/"/g, ''),
      length: Number(r.headers['content-length'] ?? -1),
      body: r.body as unknown as Readable & { dump(): Promise<void> },
    };
  }

  /** GET that only reports status and ETag (body discarded). */
  async probe(bucket: string, key: string): Promise<{ status: number; etag: string }> {
    const r = await this.getStream(bucket, key);
    await r.body.dump();
    return { status: r.status, etag: r.etag };
  }

  /** MD5 of the object's bytes as served, streamed. */
  async bodyMd5(bucket: string, key: string): Promise<{ status: number; etag: string; md5: string; size: number }> {
    const r = await this.getStream(bucket, key);
    const h = createHash('md5');
    let size = 0;
    for await (const c of r.body) {
      h.update(c as Buffer);
      size += (c as Buffer).length;
    }
    return { status: r.status, etag: r.etag, md5: h.digest('hex'), size };
  }

  async listAll(bucket: string): Promise<Listed[]> {
    const out: Listed[] = [];
    let marker = '';
    for (;;) {
      const path = `/${s3Encode(bucket, false)}?max-keys=1000${marker ? `&marker=${s3Encode(marker, false)}` : ''}`;
      const r = await this.pool.request({ method: 'GET', path, headers: this.headers('GET', path, {}) });
      const text = await r.body.text();
      if (r.statusCode === 404) return out;
      if (r.statusCode !== 200) throw new Error(`LIST ${bucket}: ${r.statusCode} ${text.slice(0, 300)}`);
      const doc = xml.parse(text) as { ListBucketResult: { IsTruncated: string; Contents?: { Key: string; ETag: string; Size: string }[] } };
      const cs = doc.ListBucketResult.Contents ?? [];
      for (const c of cs) out.push({ key: String(c.Key), etag: String(c.ETag).replace(/"/g, ''), size: Number(c.Size) });
      if (doc.ListBucketResult.IsTruncated !== 'true' || cs.length === 0) return out;
      marker = String(cs[cs.length - 1].Key);
    }
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; the first error stops new work and is thrown. */
export async function pool<T>(items: Iterable<T>, limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  const it = items[Symbol.iterator]();
  let i = 0;
  let failed: unknown;
  const worker = async () => {
    for (;;) {
      if (failed) return;
      const n = it.next();
      if (n.done) return;
      const idx = i++;
      try {
        await fn(n.value, idx);
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  if (failed) throw failed;
}
