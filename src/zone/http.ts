/**
 * Request parsing and error answers shared by the S3 and admin handlers. Query strings are parsed
 * order-independently with valueless flags kept (the original agent sends `?lock&type=...`).
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { KeyInfo, V4Signing } from './auth.js';

export class HttpError extends Error {
  /** `headers` go on the error answer too (S3's x-amz-delete-marker and x-amz-version-id on a 404/405). */
  constructor(readonly status: number, readonly code: string, message = '', readonly headers: Record<string, string> = {}) {
    super(message || code);
  }
}

export interface ParsedUrl {
  rawPath: string;
  path: string; // percent-decoded
  query: Map<string, string>; // valueless flags map to ''
}

/** RGW decodes '+' as a space in query values; keys and values are percent-decoded. */
function decodeQueryPart(s: string): string {
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

export function parseUrl(rawUrl: string): ParsedUrl {
  const q = rawUrl.indexOf('?');
  const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const rawQuery = q < 0 ? '' : rawUrl.slice(q + 1);
  let path: string;
  const query = new Map<string, string>();
  try {
    path = decodeURIComponent(rawPath);
    for (const part of rawQuery.split('&')) {
      if (!part) continue;
      const eq = part.indexOf('=');
      const k = decodeQueryPart(eq < 0 ? part : part.slice(0, eq));
      const v = eq < 0 ? '' : decodeQueryPart(part.slice(eq + 1));
      if (!query.has(k)) query.set(k, v);
    }
  } catch {
    throw new HttpError(400, 'InvalidURI', 'the URL is not valid percent-encoded UTF-8');
  }
  if (!rawPath.startsWith('/')) throw new HttpError(400, 'InvalidURI', 'the path must start with /');
  return { rawPath, path, query };
}

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: ParsedUrl;
  requestId: string;
  user: { uid: string; key: KeyInfo; accessKey: string };
  /** v4 hex digest of the payload the client signed, to check against the body. */
  payloadSha256?: string;
  /** v4 header auth: what aws-chunked chunk signatures are checked with */
  signing?: V4Signing;
}

/** Query parameters whose values are credentials in effect: a logged presigned URL could be replayed. */
const SECRET_QUERY = new Set(['x-amz-signature', 'signature', 'x-amz-credential', 'x-amz-security-token', 'awsaccesskeyid']);

/** The request URL as logs may show it: values of the query's signature parameters replaced. */
export function redactUrl(rawUrl: string): string {
  const q = rawUrl.indexOf('?');
  if (q < 0) return rawUrl;
  const parts = rawUrl.slice(q + 1).split('&').map((piece) => {
    const eq = piece.indexOf('=');
    const name = eq < 0 ? piece : piece.slice(0, eq);
    let decoded = name;
    try {
      decoded = decodeURIComponent(name.replace(/\+/g, ' '));
    } catch {
      // the authenticator refuses such a name, so it signs nothing; compared as sent
    }
    return eq >= 0 && SECRET_QUERY.has(decoded.toLowerCase()) ? `${name}=REDACTED` : piece;
  });
  return `${rawUrl.slice(0, q)}?${parts.join('&')}`;
}

/** Unique per process start (random) and per request (a counter): no CSPRNG call per request. */
const REQUEST_ID_PREFIX = randomBytes(4).toString('hex');
let requestCounter = 0;

export function newRequestId(zone: string): string {
  requestCounter = (requestCounter + 1) % 0x1000000000000;
  return `tx${REQUEST_ID_PREFIX}${requestCounter.toString(16).padStart(12, '0')}-${Math.floor(Date.now() / 1000).toString(16)}-${zone}`;
}

/** Reads a small body (JSON, XML) with a hard limit; object bodies are streamed instead. */
export async function readSmallBody(req: IncomingMessage, limit = 1 << 20): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw new HttpError(400, 'EntityTooLarge', `request body over ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    const chunk = c as Buffer;
    size += chunk.length;
    if (size > limit) throw new HttpError(400, 'EntityTooLarge', `request body over ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export function parseJsonBody(buf: Buffer): unknown {
  if (buf.length === 0) return undefined;
  try {
    return JSON.parse(buf.toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'InvalidArgument', 'request body is not valid JSON');
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status = 200, headers: Record<string, string | number> = {}): void {
  res.writeHead(status, { 'Content-Length': 0, ...headers });
  res.end();
}

export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

export function sendXml(res: ServerResponse, status: number, xml: string, headers: Record<string, string | number> = {}): void {
  // One declaration, at the very start: strict parsers (botocore's) refuse a second one.
  const text = xml.startsWith('<?xml') ? xml : `<?xml version="1.0" encoding="UTF-8"?>${xml}`;
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Errors on /admin are JSON like RGW's; elsewhere S3 XML. HEAD answers carry no body. */
export function sendError(res: ServerResponse, err: HttpError, opts: { admin: boolean; requestId: string; zone: string; method: string; resource?: string }): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.setHeader('x-amz-request-id', opts.requestId);
  for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  if (opts.method === 'HEAD') {
    sendEmpty(res, err.status);
    return;
  }
  if (opts.admin) {
    sendJson(res, err.status, { Code: err.code, Message: err.message === err.code ? '' : err.message, RequestId: opts.requestId, HostId: opts.zone });
    return;
  }
  const resource = opts.resource ? `<Resource>${xmlEscape(opts.resource)}</Resource>` : '';
  sendXml(res, err.status, `<Error><Code>${xmlEscape(err.code)}</Code><Message>${xmlEscape(err.message === err.code ? '' : err.message)}</Message>${resource}<RequestId>${opts.requestId}</RequestId><HostId>${xmlEscape(opts.zone)}</HostId></Error>`);
}

export function requireParam(query: Map<string, string>, name: string): string {
  const v = query.get(name);
  if (v === undefined || v === '') throw new HttpError(400, 'InvalidArgument', `missing parameter ${name}`);
  return v;
}

export function intParam(query: Map<string, string>, name: string, dflt: number, max: number): number {
  const v = query.get(name);
  if (v === undefined || v === '') return dflt;
  if (!/^\d+$/.test(v)) throw new HttpError(400, 'InvalidArgument', `${name} must be a non-negative integer`);
  return Math.min(Number(v), max);
}

/** One header value as a string (the first, if a client repeated it). */
export function headerValue(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The data dir's file system is full: SQLite's SQLITE_FULL, or ENOSPC from a file write (answered 507, never as the client's fault). */
export function isDiskFull(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'SQLITE_FULL' || code === 'ENOSPC';
}
