/**
 * One client per zone endpoint: an undici pool with keep-alive, connect/header/body timeouts,
 * signing on every attempt, retries with exponential backoff and jitter for network errors and
 * 5xx, and RGW error bodies mapped to typed errors.
 */
import { Pool } from 'undici';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { s3Encode, signRequest, type Credentials, type SignatureVersion } from '../rgw/sign.js';
import { AgentError, httpError, isRetryable, NetworkError } from './errors.js';
import { sourceClockOffsetMs } from '../rgw/clock.js';

export interface ZoneClientOptions {
  endpoint: string;
  credentials: Credentials;
  signature?: SignatureVersion;
  connections?: number;
  connectTimeoutMs?: number;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  retries?: number;
  /** Base of the exponential backoff; tests shorten it. */
  backoffMs?: number;
  /** Sent as User-Agent so gateway logs show which agent made a call. */
  userAgent?: string;
  onRequest?: (info: { method: string; path: string; status?: number; attempt: number; ms: number; error?: string }) => void;
}

export type Query = [string, string | undefined][];

export interface RequestOptions {
  query?: Query;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Retry network errors and 5xx (default true: every admin call the agent makes is idempotent). */
  idempotent?: boolean;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  /** Statuses that are not errors for this call (2xx always are not). */
  accept?: number[];
}

export interface Response { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }
export interface StreamResponse { status: number; headers: Record<string, string | string[] | undefined>; body: Readable }

export function buildQuery(q: Query | undefined): string {
  if (!q || q.length === 0) return '';
  return `?${q.map(([k, v]) => (v === undefined ? s3Encode(k, false) : `${s3Encode(k, false)}=${s3Encode(v, false)}`)).join('&')}`;
}

function errorCode(body: Buffer): string {
  const text = body.subarray(0, 4096).toString('utf8');
  try {
    const j = JSON.parse(text) as { Code?: unknown };
    if (typeof j.Code === 'string') return j.Code;
  } catch { /* not JSON */ }
  return /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? '';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ZoneClient {
  readonly endpoint: string;
  /**
   * The zone's clock minus ours, from the Date header of its latest answer (erring early), or
   * undefined before the first answer. Log times are the zone's: compare them with now() below.
   */
  clockOffsetMs: number | undefined;
  private readonly pool: Pool;
  private readonly host: string;

  constructor(private readonly opts: ZoneClientOptions) {
    const url = new URL(opts.endpoint);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AgentError(`endpoint ${opts.endpoint} must be http:// or https://`);
    this.endpoint = url.origin;
    this.host = url.host;
    this.pool = new Pool(url.origin, {
      connections: opts.connections ?? 32,
      connect: { timeout: opts.connectTimeoutMs ?? 5_000 },
      keepAliveTimeout: 30_000,
      headersTimeout: opts.headersTimeoutMs ?? 30_000,
      bodyTimeout: opts.bodyTimeoutMs ?? 60_000,
    });
  }

  /**
   * Closes the connections once requests in flight are answered, waiting at most `graceMs`; then
   * whatever is left is cut, so a command's exit never waits on a connection without end.
   */
  async close(graceMs = 10_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), graceMs); });
    try {
      if ((await Promise.race([this.pool.close().then(() => 'closed' as const), late])) === 'late') await this.pool.destroy().catch(() => undefined);
    } finally {
      clearTimeout(timer);
    }
  }

  private noteClock(date: string | string[] | undefined, answeredMs: number): void {
    const off = sourceClockOffsetMs(Array.isArray(date) ? date[0] : date, answeredMs);
    if (off !== undefined) this.clockOffsetMs = off;
  }

  /** The zone's current time, as far as its answers tell (the local clock until one arrived). */
  now(): number {
    return Date.now() + (this.clockOffsetMs ?? 0);
  }

  private sign(method: string, pathAndQuery: string, headers: Record<string, string>, body?: Buffer): Record<string, string> {
    return signRequest({
      method, host: this.host, path: pathAndQuery, headers,
      bodySha256: body ? createHash('sha256').update(body).digest('hex') : undefined,
    }, this.opts.credentials, this.opts.signature ?? 'v4');
  }

  /** A buffered call: the body of the answer is read whole (admin JSON, small XML). */
  async request(method: string, path: string, o: RequestOptions = {}): Promise<Response> {
    const pathAndQuery = `${path}${buildQuery(o.query)}`;
    const body = o.body === undefined ? undefined : Buffer.from(o.body);
    const attempts = (o.idempotent ?? true) ? (this.opts.retries ?? 3) + 1 : 1;
    let lastErr: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const t0 = Date.now();
      // Signed outside the try: a request that cannot be signed is a local error, not an unreachable zone.
      const headers = {
        ...this.sign(method, pathAndQuery, { ...(o.headers ?? {}), ...(body ? { 'content-length': String(body.length) } : {}) }, body),
        ...(this.opts.userAgent ? { 'user-agent': this.opts.userAgent } : {}),
      };
      try {
        const r = await this.pool.request({
          method: method as 'GET', path: pathAndQuery, body, headers,
          headersTimeout: o.headersTimeoutMs, bodyTimeout: o.bodyTimeoutMs,
        });
        const buf = Buffer.from(await r.body.arrayBuffer());
        this.noteClock(r.headers.date, Date.now());
        this.opts.onRequest?.({ method, path: pathAndQuery, status: r.statusCode, attempt, ms: Date.now() - t0 });
        if ((r.statusCode >= 200 && r.statusCode < 300) || o.accept?.includes(r.statusCode)) {
          return { status: r.statusCode, headers: r.headers, body: buf };
        }
        throw httpError(r.statusCode, errorCode(buf), this.endpoint, method, pathAndQuery);
      } catch (e) {
        const err = e instanceof AgentError ? e : new NetworkError(this.endpoint, e as Error);
        if (err instanceof NetworkError) this.opts.onRequest?.({ method, path: pathAndQuery, attempt, ms: Date.now() - t0, error: err.message });
        lastErr = err;
        if (!isRetryable(err) || attempt === attempts) throw err;
        const base = (this.opts.backoffMs ?? 200) * 2 ** (attempt - 1);
        await sleep(Math.min(base, 10_000) * (0.5 + Math.random()));
      }
    }
    throw lastErr;
  }

  /**
   * One attempt with a streamed body either way: `body` is sent as it is read (the caller gives
   * its content-length; the payload is signed as UNSIGNED-PAYLOAD), and the answer's body is
   * handed back unread. On an error status the body is drained and a typed error thrown. Not
   * retried: a stream cannot be replayed; the caller's retry list does that.
   */
  async stream(method: string, path: string, o: Omit<RequestOptions, 'body' | 'idempotent'> & { body?: Readable } = {}): Promise<StreamResponse> {
    const pathAndQuery = `${path}${buildQuery(o.query)}`;
    const t0 = Date.now();
    const headers = {
      ...this.sign(method, pathAndQuery, { ...(o.headers ?? {}) }),
      ...(this.opts.userAgent ? { 'user-agent': this.opts.userAgent } : {}),
    };
    let r;
    try {
      r = await this.pool.request({
        method: method as 'GET', path: pathAndQuery, body: o.body, headers,
        headersTimeout: o.headersTimeoutMs, bodyTimeout: o.bodyTimeoutMs,
      });
    } catch (e) {
      const err = e instanceof AgentError ? e : new NetworkError(this.endpoint, e as Error);
      this.opts.onRequest?.({ method, path: pathAndQuery, attempt: 1, ms: Date.now() - t0, error: err.message });
      throw err;
    }
    this.opts.onRequest?.({ method, path: pathAndQuery, status: r.statusCode, attempt: 1, ms: Date.now() - t0 });
    if ((r.statusCode >= 200 && r.statusCode < 300) || o.accept?.includes(r.statusCode)) {
      return { status: r.statusCode, headers: r.headers, body: r.body as unknown as Readable };
    }
    const buf = Buffer.from(await r.body.arrayBuffer());
    throw httpError(r.statusCode, errorCode(buf), this.endpoint, method, pathAndQuery);
  }

  async json<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const r = await this.request(method, path, o);
    try {
      return JSON.parse(r.body.toString('utf8')) as T;
    } catch {
      throw new AgentError(`${method} ${this.endpoint}${path}: the answer is not JSON`);
    }
  }
}
