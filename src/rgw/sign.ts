import { createHmac } from 'node:crypto';
import aws4 from 'aws4';

export interface Credentials { accessKey: string; secretKey: string }
export type SignatureVersion = 'v4' | 'v2';
export interface SignInput {
  method: string;
  /** host:port exactly as it will be sent in the Host header */
  host: string;
  /** already percent-encoded path + optional "?query", exactly as it will be sent */
  path: string;
  headers: Record<string, string>;
  /** hex sha256 of the payload; omitted => UNSIGNED-PAYLOAD */
  bodySha256?: string;
  region?: string;
}

/**
 * boto 2's `qsa_of_interest` (minus the later GCS-only billing/userProject/encryptionConfig):
 * only these query parameters take part in a SigV2 signature.
 */
export const V2_SUBRESOURCES: ReadonlySet<string> = new Set([
  'acl', 'cors', 'defaultObjectAcl', 'location', 'logging', 'partNumber', 'policy',
  'requestPayment', 'torrent', 'versioning', 'versionId', 'versions', 'website', 'uploads',
  'uploadId', 'response-content-type', 'response-content-language', 'response-expires',
  'response-cache-control', 'response-content-disposition', 'response-content-encoding',
  'delete', 'lifecycle', 'tagging', 'restore', 'storageClass', 'websiteConfig', 'compose',
]);

/** RFC 3986 encoding of the UTF-8 bytes; only A-Za-z0-9-_.~ (and '/' when keepSlash) stay literal. */
export function s3Encode(s: string, keepSlash: boolean): string {
  // encodeURIComponent leaves !'()* alone, which AWS canonicalisation does not.
  const enc = encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  return keepSlash ? enc.replace(/%2F/g, '/') : enc;
}

/**
 * SigV2 StringToSign exactly as boto 2's `canonical_string` builds it.
 * `headers` must have lowercase names. Throws URIError if a sub-resource value has a bad escape.
 */
export function v2StringToSign(method: string, pathAndQuery: string, headers: Readonly<Record<string, string | undefined>>): string {
  const val = (name: string): string => (headers[name] ?? '').trim();
  // boto blanks the Date line when x-amz-date is present; x-amz-date is then signed as an amz header.
  const date = headers['x-amz-date'] !== undefined ? '' : val('date');
  let out = `${method}\n${val('content-md5')}\n${val('content-type')}\n${date}\n`;
  const amz = Object.keys(headers).filter((k) => k.startsWith('x-amz-') && headers[k] !== undefined).sort();
  for (const k of amz) out += `${k}:${val(k)}\n`;

  // boto splits on every '?', so anything after a second '?' is ignored.
  const parts = pathAndQuery.split('?');
  out += parts[0];
  if (parts.length > 1) {
    const sub: Array<[string, string | undefined]> = [];
    for (const piece of (parts[1] ?? '').split('&')) {
      const eq = piece.indexOf('=');
      const name = eq < 0 ? piece : piece.slice(0, eq);
      if (!V2_SUBRESOURCES.has(name)) continue;
      // urllib.unquote: '+' is not a space here.
      sub.push([name, eq < 0 ? undefined : decodeURIComponent(piece.slice(eq + 1))]);
    }
    if (sub.length > 0) {
      sub.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); // stable, by name only, like boto
      out += '?' + sub.map(([n, v]) => (v === undefined ? n : `${n}=${v}`)).join('&');
    }
  }
  return out;
}

export function v2Signature(stringToSign: string, secretKey: string): string {
  return createHmac('sha1', secretKey).update(stringToSign, 'utf8').digest('base64');
}

export function amzDate(d: Date): string {
  return d.toISOString().replace(/[:-]|\.\d{3}/g, '');
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = v;
  return out;
}

/**
 * Returns a NEW headers object (all names lowercase) with authorization, host and
 * date (v2) or x-amz-date + x-amz-content-sha256 (v4). Every header passed in is signed
 * under v4 except aws4's ignore list (user-agent, expect, range, connection, ...).
 */
export function signRequest(input: SignInput, creds: Credentials, version: SignatureVersion, now: Date = new Date()): Record<string, string> {
  if (/%(?![0-9A-Fa-f]{2})/.test(input.path)) throw new URIError(`signRequest: malformed percent-escape in path ${JSON.stringify(input.path)}`);
  const headers = lowerKeys(input.headers);
  headers['host'] = input.host;

  if (version === 'v2') {
    headers['date'] = now.toUTCString();
    const sts = v2StringToSign(input.method.toUpperCase(), input.path, headers);
    headers['authorization'] = `AWS ${creds.accessKey}:${v2Signature(sts, creds.secretKey)}`;
    return headers;
  }

  headers['x-amz-date'] = amzDate(now);
  headers['x-amz-content-sha256'] = input.bodySha256 ?? 'UNSIGNED-PAYLOAD';

  const q = input.path.indexOf('?');
  const rawPath = q < 0 ? input.path : input.path.slice(0, q);
  const rawQuery = q < 0 ? '' : input.path.slice(q + 1);
  const names = rawQuery.split('&').filter((p) => p !== '').map((p) => p.split('=', 1)[0]);
  // aws4 signs only the first value of a repeated key for s3, while AWS (and our verifier) sign all.
  if (new Set(names).size !== names.length) throw new Error('signRequest: repeated query parameters cannot be signed with aws4');
  // aws4 decodes '+' in an s3 path as a space; everyone else treats it as a literal '+'.
  const aws4Path = rawPath.replace(/\+/g, '%2B') + (q < 0 ? '' : '?' + rawQuery);

  const signed = aws4.sign(
    { method: input.method.toUpperCase(), host: input.host, path: aws4Path, headers, service: 's3', region: input.region ?? 'us-east-1' },
    { accessKeyId: creds.accessKey, secretAccessKey: creds.secretKey },
  );
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(signed.headers ?? {})) {
    if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : String(v);
  }
  return out;
}
