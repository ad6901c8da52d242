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
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await request(`${base}${path}`, { method: method as 'GET', headers, body });
      const buf = Buffer.from(await r.body.arrayBuffer());
      return { status: r.statusCode, headers: r.headers, body: buf, text: buf.toString('utf8'), json: <T>() => JSON.parse(buf.toString('utf8')) as T };
    } catch (e) {
      // A pooled keep-alive socket the server closed as it was reused (RGW closes idle ones, and
      // a port may now belong to the next test's gateway): once more on a fresh connection. A
      // gateway that is down answers ECONNREFUSED, which is not retried.
      const code = (e as { code?: string }).code;
      if (attempt >= 3 || (code !== 'UND_ERR_SOCKET' && code !== 'ECONNRESET')) throw e;
    }
  }
}

/** Whether a gateway still accepts connections (any HTTP answer counts; a crashed one refuses). */
export async function gatewayAnswers(url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    await r.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}
