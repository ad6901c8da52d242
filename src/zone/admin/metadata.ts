/** /admin/metadata: sections, keys, get, put and delete for user, bucket and bucket.instance. */
import { HttpError, intParam, parseJsonBody, readSmallBody, requireParam, sendEmpty, sendJson, type RequestContext } from '../http.js';
import type { ZoneContext } from '../context.js';
import { SECTIONS, type Section } from '../store.js';

function isSection(s: string): s is Section {
  return (SECTIONS as string[]).includes(s);
}

export async function handleMetadata(ctx: RequestContext, zc: ZoneContext, rest: string): Promise<void> {
  const method = ctx.req.method ?? 'GET';
  const { query } = ctx.url;
  if (rest === '') {
    if (method !== 'GET') throw new HttpError(405, 'MethodNotAllowed');
    return sendJson(ctx.res, 200, SECTIONS);
  }
  if (!isSection(rest)) throw new HttpError(404, 'NoSuchKey', `unknown metadata section ${rest}`);
  const section = rest;
  const key = query.get('key');

  if (key === undefined) {
    if (method !== 'GET') throw new HttpError(400, 'InvalidArgument', 'key is required');
    if (!query.has('max-entries')) {
      // The original agent expects every key as a bare array.
      const all: string[] = [];
      let marker: string | undefined;
      for (;;) {
        const page = zc.store.metadataKeys(section, marker, 1000);
        all.push(...page.keys);
        if (!page.truncated) break;
        marker = page.keys.at(-1);
      }
      return sendJson(ctx.res, 200, all);
    }
    const max = Math.max(1, intParam(query, 'max-entries', 1000, 1000));
    const page = zc.store.metadataKeys(section, query.get('marker') || undefined, max);
    return sendJson(ctx.res, 200, {
      keys: page.keys,
      truncated: page.truncated ? 'true' : 'false',
      count: page.keys.length,
      marker: page.truncated ? page.keys.at(-1) : '',
    });
  }

  requireParam(query, 'key');
  if (method === 'GET') {
    const doc = zc.store.getMetadata(section, key);
    if (!doc) throw new HttpError(404, 'NoSuchKey', `no ${section} ${key}`);
    return sendJson(ctx.res, 200, doc);
  }
  if (method === 'PUT' || method === 'POST') {
    const body = parseJsonBody(await readSmallBody(ctx.req));
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'InvalidArgument', 'metadata body must be a JSON object');
    zc.store.putMetadata(section, key, body as Record<string, unknown>);
    return sendEmpty(ctx.res);
  }
  if (method === 'DELETE') {
    const { found, files } = zc.store.removeMetadata(section, key);
    if (!found) throw new HttpError(404, 'NoSuchKey', `no ${section} ${key}`);
    for (const f of files) await zc.files.remove(f);
    return sendEmpty(ctx.res);
  }
  throw new HttpError(405, 'MethodNotAllowed');
}
