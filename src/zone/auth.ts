import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { amzDate, s3Encode, v2Signature, v2StringToSign } from '../rgw/sign.js';

export interface KeyInfo { uid: string; secretKey: string; system: boolean }
export type KeyLookup = (accessKey: string) => KeyInfo | undefined;
export interface AuthInput {
  method: string;
  /** req.url exactly as received: raw path + '?' + raw query */
  rawUrl: string;
  headers: IncomingHttpHeaders;
  now?: Date;
}
/**
 * What a body's aws-chunked framing is checked with (v4, header auth only): each chunk signature
 * chains from the previous one, starting at the request's own signature, under the same key and scope.
 */
export interface V4Signing {
  signingKey: Buffer;
  /** date/region/service/aws4_request */
  scope: string;
  /** ISO basic timestamp that the request's string to sign carried */
  longDate: string;
  seedSignature: string;
  /** x-amz-content-sha256 as sent (STREAMING-..., UNSIGNED-PAYLOAD or a digest) */
  contentSha256: string;
}
export type AuthResult =
  | {
    ok: true; accessKey: string; key: KeyInfo; version: 'v2' | 'v4';
    /** v4 only: lowercase x-amz-content-sha256 when it is a hex digest, for the caller to check the body against */
    payloadSha256?: string;
    /** v4 only */
    signing?: V4Signing;
    /** authenticated by a query-string signature rather than an Authorization header */
    presigned: boolean;
  }
  | {
    ok: false; status: 400 | 403;
    code: 'AccessDenied' | 'InvalidAccessKeyId' | 'SignatureDoesNotMatch' | 'RequestTimeTooSkewed' | 'AuthorizationHeaderMalformed' | 'AuthorizationQueryParametersError' | 'InvalidArgument';
    message: string;
  };
type Failure = Extract<AuthResult, { ok: false }>;

const MAX_SKEW_MS = 15 * 60 * 1000;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function fail(status: 400 | 403, code: Failure['code'], message: string): Failure {
  return { ok: false, status, code, message };
}

/** Own properties only: SignedHeaders is client-controlled and could name "constructor" or "__proto__". */
function header(h: IncomingHttpHeaders, name: string): string | undefined {
  if (!Object.hasOwn(h, name)) return undefined;
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : typeof v === 'string' ? v : undefined;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

function utc(y: string, mon: number, d: string, hh: string, mm: string, ss: string): Date | undefined {
  if (mon < 0) return undefined;
  const t = Date.UTC(Number(y), mon, Number(d), Number(hh), Number(mm), Number(ss));
  return Number.isNaN(t) ? undefined : new Date(t);
}

/** RFC 1123, asctime and ISO 8601 basic; built by hand because Date.parse reads asctime as local time. */
export function parseHttpDate(s: string): Date | undefined {
  let m = /^(?:[A-Za-z]{3},\s*)?(\d{1,2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) (?:GMT|UTC|\+0000)$/.exec(s.trim());
  if (m) return utc(m[3]!, MONTHS.indexOf(m[2]!), m[1]!, m[4]!, m[5]!, m[6]!);
  m = /^[A-Za-z]{3} ([A-Za-z]{3}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/.exec(s.trim());
  if (m) return utc(m[6]!, MONTHS.indexOf(m[1]!), m[2]!, m[3]!, m[4]!, m[5]!);
  m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s.trim());
  if (m) return utc(m[1]!, Number(m[2]) - 1, m[3]!, m[4]!, m[5]!, m[6]!);
  return undefined;
}

function checkSkew(t: Date, now: Date): Failure | undefined {
  if (Math.abs(now.getTime() - t.getTime()) > MAX_SKEW_MS) {
    return fail(403, 'RequestTimeTooSkewed', 'The difference between the request time and the server time is too large');
  }
  return undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Strict percent-decoding into UTF-8; undefined for bad escapes, invalid UTF-8, or raw bytes that
 * no well-behaved client sends unescaped (so two different wire forms can't share a signature silently).
 */
function strictDecode(s: string, plusIsSpace: boolean): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c === 0x2b && plusIsSpace) {
      bytes.push(0x20);
    } else if (c > 0x20 && c < 0x7f) {
      bytes.push(c);
    } else {
      return undefined;
    }
  }
  try {
    return utf8.decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
}

/** S3 style: decode then re-encode once; '/' stays, no dot-segment or slash normalisation. */
function canonicalUri(rawPath: string): string | undefined {
  const decoded = strictDecode(rawPath, false);
  return decoded === undefined ? undefined : s3Encode(decoded, true);
}

/**
 * The query's name/value pairs, decoded, in order; undefined when an escape is malformed. '+' means
 * space, matching aws4's querystring.parse and form decoding.
 */
function decodedQuery(rawQuery: string): Array<[string, string]> | undefined {
  const out: Array<[string, string]> = [];
  for (const piece of rawQuery.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    const k = strictDecode(eq < 0 ? piece : piece.slice(0, eq), true);
    const v = eq < 0 ? '' : strictDecode(piece.slice(eq + 1), true);
    if (k === undefined || v === undefined) return undefined;
    out.push([k, v]);
  }
  return out;
}

function canonicalQuery(rawQuery: string, omit?: string): string | undefined {
  const decoded = decodedQuery(rawQuery);
  if (!decoded) return undefined;
  const pairs = decoded.filter(([k]) => k !== omit).map(([k, v]): [string, string] => [s3Encode(k, false), s3Encode(v, false)]);
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

interface CanonicalUrl { uri: string; query: string }

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/**
 * The derived key changes once a day per secret: four HMACs saved on every request. Bounded, so
 * requests with ever new scopes (dates, regions) cannot grow it without limit.
 */
const signingKeys = new Map<string, Buffer>();
export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const id = `${date}/${region}/${service}\n${secret}`;
  let k = signingKeys.get(id);
  if (!k) {
    if (signingKeys.size >= 256) signingKeys.clear();
    k = hmac(hmac(hmac(hmac('AWS4' + secret, date), region), service), 'aws4_request');
    signingKeys.set(id, k);
  }
  return k;
}

interface V4Params {
  credential: string | undefined;
  signedHeaders: string | undefined;
  signature: string | undefined;
  /** presigned: X-Amz-Date and X-Amz-Expires from the query; header auth reads the date headers */
  query?: { date: string | undefined; expires: string | undefined; contentSha256: string | undefined };
}

const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

function verifyV4(input: AuthInput, url: CanonicalUrl, p: V4Params, lookup: KeyLookup, now: Date): AuthResult {
  const presigned = p.query !== undefined;
  const what = presigned ? 'The presigned query is malformed' : 'The authorization header is malformed';
  const malformed = presigned ? 'AuthorizationQueryParametersError' : 'AuthorizationHeaderMalformed';
  const { credential, signedHeaders, signature } = p;
  if (!credential || !signedHeaders || !signature || !/^[0-9a-f]{64}$/.test(signature)) {
    return fail(400, malformed, `${what}; expected Credential, SignedHeaders and Signature`);
  }
  const scope = credential.split('/');
  if (scope.length < 5) return fail(400, malformed, `${what}; incomplete credential scope`);
  const [scopeDate, region, service, terminator] = scope.slice(-4) as [string, string, string, string];
  const accessKey = scope.slice(0, -4).join('/');
  if (!/^\d{8}$/.test(scopeDate) || region === '' || service !== 's3' || terminator !== 'aws4_request' || accessKey === '') {
    return fail(400, malformed, `${what}; invalid credential scope`);
  }
  const names = signedHeaders.split(';');
  if (!names.includes('host')) return fail(400, malformed, `${what}; host must be a signed header`);

  let t: Date | undefined;
  let longDate: string;
  let expiresMs = 0;
  if (p.query) {
    // A presigned URL carries its own time; only the ISO basic form is defined there.
    t = p.query.date !== undefined && /^\d{8}T\d{6}Z$/.test(p.query.date) ? parseHttpDate(p.query.date) : undefined;
    if (t === undefined) return fail(400, 'AuthorizationQueryParametersError', 'X-Amz-Date must be an ISO 8601 basic timestamp (YYYYMMDDTHHMMSSZ)');
    longDate = p.query.date!;
    const e = p.query.expires;
    if (e === undefined || !/^\d{1,7}$/.test(e) || Number(e) < 1 || Number(e) > MAX_PRESIGN_SECONDS) {
      return fail(400, 'AuthorizationQueryParametersError', `X-Amz-Expires must be a number of seconds from 1 to ${MAX_PRESIGN_SECONDS} (7 days)`);
    }
    expiresMs = Number(e) * 1000;
  } else {
    const amzDateHdr = header(input.headers, 'x-amz-date');
    const dateHdr = amzDateHdr ?? header(input.headers, 'date');
    t = dateHdr === undefined ? undefined : parseHttpDate(dateHdr);
    if (t === undefined) return fail(403, 'AccessDenied', 'SigV4 requires a valid x-amz-date or Date header');
    // The string to sign always carries the ISO basic form, even when the client sent an RFC 1123 Date.
    longDate = amzDateHdr !== undefined && /^\d{8}T\d{6}Z$/.test(amzDateHdr) ? amzDateHdr : amzDate(t);
  }
  if (longDate.slice(0, 8) !== scopeDate) {
    return fail(400, malformed, `${what}; credential date does not match the request date`);
  }

  // A presigned URL is usually fetched by something that cannot add headers: its payload is unsigned
  // unless the URL (the AWS SDK's presigner hoists it there) or a signed header names a digest.
  const payloadHdr = header(input.headers, 'x-amz-content-sha256') ?? p.query?.contentSha256;
  const payload = payloadHdr ?? (presigned ? 'UNSIGNED-PAYLOAD' : undefined);
  if (payload === undefined) return fail(400, 'InvalidArgument', 'Missing required header x-amz-content-sha256');
  const isHex = /^[0-9a-fA-F]{64}$/.test(payload);
  if (!isHex && payload !== 'UNSIGNED-PAYLOAD' && !(payload.startsWith('STREAMING-') && !presigned)) {
    return fail(400, 'InvalidArgument', presigned
      ? 'x-amz-content-sha256 of a presigned request must be UNSIGNED-PAYLOAD or a hex SHA-256'
      : 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-*, or a hex SHA-256');
  }

  // Unsigned x-amz-* headers would let a replayer change semantics (copy source, ACLs) for free.
  const unsigned = Object.keys(input.headers).filter((h) => h.startsWith('x-amz-') && !names.includes(h));
  if (unsigned.length > 0) return fail(403, 'AccessDenied', `There were headers present in the request which were not signed: ${unsigned.join(', ')}`);

  const key = lookup(accessKey);
  if (!key) return fail(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
  if (presigned) {
    if (t.getTime() - now.getTime() > MAX_SKEW_MS) return fail(403, 'AccessDenied', 'Request is not valid yet');
    if (now.getTime() > t.getTime() + expiresMs) return fail(403, 'AccessDenied', 'Request has expired');
  } else {
    const skew = checkSkew(t, now);
    if (skew) return skew;
  }

  const canonHeaders: string[] = [];
  for (const name of names) {
    const v = header(input.headers, name);
    if (v === undefined) return fail(403, 'AccessDenied', `Signed header ${name} is missing from the request`);
    canonHeaders.push(`${name}:${v.replace(/[ \t]+/g, ' ').replace(/^ | $/g, '')}`);
  }
  const canonicalRequest = [input.method, url.uri, url.query, canonHeaders.join('\n') + '\n', signedHeaders, payload].join('\n');
  const scopeStr = `${scopeDate}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', longDate, scopeStr, createHash('sha256').update(canonicalRequest, 'utf8').digest('hex')].join('\n');
  const kSigning = signingKey(key.secretKey, scopeDate, region, service);
  if (!safeEqual(hmac(kSigning, stringToSign).toString('hex'), signature)) {
    return fail(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
  }
  return {
    ok: true, accessKey, key, version: 'v4', presigned,
    signing: { signingKey: kSigning, scope: scopeStr, longDate, seedSignature: signature, contentSha256: payload },
    ...(isHex ? { payloadSha256: payload.toLowerCase() } : {}),
  };
}

function headerV4Params(auth: string): V4Params {
  const fields = new Map<string, string>();
  for (const part of auth.slice('AWS4-HMAC-SHA256'.length).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return { credential: fields.get('Credential'), signedHeaders: fields.get('SignedHeaders'), signature: fields.get('Signature') };
}

interface V2Params {
  accessKey: string;
  signature: string;
  /** presigned: the Expires query parameter (epoch seconds), which stands in the Date line */
  expires?: string;
}

function verifyV2(input: AuthInput, p: V2Params, lookup: KeyLookup, now: Date): AuthResult {
  const { accessKey, signature } = p;
  const presigned = p.expires !== undefined;
  let dateLine: string;
  let requestTime: Date | undefined;
  if (presigned) {
    if (!/^\d{1,12}$/.test(p.expires!)) return fail(403, 'AccessDenied', 'Expires must be a number of seconds since the epoch');
    dateLine = p.expires!;
  } else {
    const dateHdr = header(input.headers, 'x-amz-date') ?? header(input.headers, 'date');
    const t = dateHdr === undefined ? undefined : parseHttpDate(dateHdr);
    if (t === undefined) return fail(403, 'AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
    requestTime = t;
    dateLine = '';
  }

  const key = lookup(accessKey);
  if (!key) return fail(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
  if (presigned && now.getTime() > Number(p.expires) * 1000) return fail(403, 'AccessDenied', 'Request has expired');
  const skew = requestTime && checkSkew(requestTime, now);
  if (skew) return skew;

  const hdrs: Record<string, string | undefined> = {};
  for (const name of Object.keys(input.headers)) {
    if (name === 'content-md5' || name === 'content-type' || name === 'date' || name.startsWith('x-amz-')) hdrs[name] = header(input.headers, name);
  }
  // A presigned v2 URL puts Expires where the Date goes; the string-to-sign builder blanks that
  // line when x-amz-date is present, which is right for header auth only.
  if (presigned) {
    if (hdrs['x-amz-date'] !== undefined) return fail(400, 'InvalidArgument', 'a presigned SigV2 request cannot carry x-amz-date');
    hdrs['date'] = dateLine;
  }
  const q = input.rawUrl.indexOf('?');
  const rawPath = q < 0 ? input.rawUrl : input.rawUrl.slice(0, q);
  const candidates = [input.rawUrl];
  // boto3's SigV2 signer signs "/bucket/" for a bucket-level request and then sends "/bucket".
  // Only that shape gets a second try, so no other path can share a signature.
  if (/^\/[^/]+$/.test(rawPath)) candidates.push(`${rawPath}/${q < 0 ? '' : input.rawUrl.slice(q)}`);
  for (const url of candidates) {
    let sts: string;
    try {
      sts = v2StringToSign(input.method, url, hdrs);
    } catch {
      return fail(400, 'InvalidArgument', 'Malformed percent-encoding in a sub-resource value');
    }
    if (safeEqual(v2Signature(sts, key.secretKey), signature)) return { ok: true, accessKey, key, version: 'v2', presigned };
  }
  return fail(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
}

/** The decoded query, first value of each name; undefined when an escape is malformed. */
function queryParams(rawQuery: string): Map<string, string> | undefined {
  const decoded = decodedQuery(rawQuery);
  if (!decoded) return undefined;
  const out = new Map<string, string>();
  for (const [k, v] of decoded) if (!out.has(k)) out.set(k, v);
  return out;
}

/** Pure: no I/O beyond `lookup`; never throws on client input. */
export function authenticate(input: AuthInput, lookup: KeyLookup): AuthResult {
  const auth = header(input.headers, 'authorization');
  const q = input.rawUrl.indexOf('?');
  const rawQuery = q < 0 ? '' : input.rawUrl.slice(q + 1);
  const params = queryParams(rawQuery);
  const uri = canonicalUri(q < 0 ? input.rawUrl : input.rawUrl.slice(0, q));
  if (uri === undefined || params === undefined) return fail(400, 'InvalidArgument', 'Malformed percent-encoding in the request URL');
  const queryV4 = params.has('X-Amz-Signature') || params.has('X-Amz-Algorithm');
  const queryV2 = params.has('Signature') && params.has('AWSAccessKeyId');
  const hasHeader = auth !== undefined && auth.trim() !== '';
  if (hasHeader && (queryV4 || queryV2)) return fail(400, 'InvalidArgument', 'Only one auth mechanism allowed; use the Authorization header or a presigned query, not both');
  const now = input.now ?? new Date();
  if (!hasHeader) {
    if (queryV4) {
      if (params.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') return fail(400, 'AuthorizationQueryParametersError', 'X-Amz-Algorithm must be AWS4-HMAC-SHA256');
      // The signature signs everything in the query but itself.
      const query = canonicalQuery(rawQuery, 'X-Amz-Signature');
      if (query === undefined) return fail(400, 'InvalidArgument', 'Malformed percent-encoding in the request URL');
      return verifyV4(input, { uri, query }, {
        credential: params.get('X-Amz-Credential'), signedHeaders: params.get('X-Amz-SignedHeaders'), signature: params.get('X-Amz-Signature'),
        query: { date: params.get('X-Amz-Date'), expires: params.get('X-Amz-Expires'), contentSha256: params.get('X-Amz-Content-Sha256') },
      }, lookup, now);
    }
    if (queryV2) {
      const expires = params.get('Expires');
      if (expires === undefined) return fail(403, 'AccessDenied', 'A presigned SigV2 query needs Expires');
      return verifyV2(input, { accessKey: params.get('AWSAccessKeyId')!, signature: params.get('Signature')!, expires }, lookup, now);
    }
    return fail(403, 'AccessDenied', 'Anonymous access is not supported: the request carries no Authorization header and no presigned query (X-Amz-Signature or AWSAccessKeyId/Signature)');
  }
  const v4 = auth.startsWith('AWS4-HMAC-SHA256 ');
  if (!v4 && !auth.startsWith('AWS ')) return fail(403, 'AccessDenied', 'Unsupported Authorization scheme');
  // Checked for v2 too although boto signs the raw path: the router would choke on it later anyway.
  const query = canonicalQuery(rawQuery);
  if (query === undefined) return fail(400, 'InvalidArgument', 'Malformed percent-encoding in the request URL');
  if (v4) return verifyV4(input, { uri, query }, headerV4Params(auth), lookup, now);
  const m = /^AWS (\S+):(\S+)$/.exec(auth.trim());
  if (!m) return fail(403, 'AccessDenied', 'Malformed SigV2 Authorization header; expected "AWS <key>:<signature>"');
  return verifyV2(input, { accessKey: m[1]!, signature: m[2]! }, lookup, now);
}
