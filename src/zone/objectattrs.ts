/** What a request says about an object beside its body: user metadata, the copy source. */
import type { IncomingHttpHeaders } from 'node:http';
import { HttpError } from './http.js';

export function userMetadata(headers: IncomingHttpHeaders): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-amz-meta-') && value !== undefined) meta[name.slice('x-amz-meta-'.length)] = Array.isArray(value) ? value.join(',') : value;
  }
  return meta;
}

export function parseCopySource(header: string): { bucket: string; key: string } {
  let raw = header.startsWith('/') ? header.slice(1) : header;
  const q = raw.indexOf('?');
  if (q >= 0) raw = raw.slice(0, q);
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, 'InvalidArgument', 'x-amz-copy-source is not valid percent-encoded UTF-8');
  }
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1) throw new HttpError(400, 'InvalidArgument', 'x-amz-copy-source must be bucket/key');
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1) };
}
