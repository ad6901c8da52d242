/** A small signed HTTP client for tests: sends exactly the path and query given. */
import { request } from 'undici';
import { createHash } from 'node:crypto';
import { signRequest, type SignatureVersion } from '../../src/rgw/sign.js';

export interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer; text: string; json<T = unknown>(): T }

export async function call(base: string, method: string, path: string, creds: { accessKey: string; secretKey: string }, opts: { body?: Buffer | string; headers?: Record<string, string>; sig?: SignatureVersion } = {}): Promise<Reply> {
  const url = new URL(base);
  const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
  const headers = signRequest({
    method, host: url.host, path, headers: { ...(opts.headers ?? {}) },
    bodySha256: body ? createHash('sha256').update(body).digest('hex') : undefined,
  }, creds, opts.sig ?? 'v4');
  const r = await request(`${base}${path}`, { method: method as 'GET', headers, body });
  const buf = Buffer.from(await r.body.arrayBuffer());
  return { status: r.statusCode, headers: r.headers, body: buf, text: buf.toString('utf8'), json: <T>() => JSON.parse(buf.toString('utf8')) as T };
}
