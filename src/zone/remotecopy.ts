/**
 * Remote copy: PUT /bucket/key?rgwx-source-zone=Z with x-amz-copy-source makes this zone fetch the
 * object from zone Z (as the realm's system user) and store it with the source's ETag, content
 * type, user metadata and mtime. The body streams from the source socket to a temp file; nothing
 * holds a whole object in memory. Op state records the copy for agents that poll it.
 */
import { request } from 'undici';
import type { Readable } from 'node:stream';
import { HttpError, headerValue, sendXml, type RequestContext } from './http.js';
import type { ZoneContext } from './context.js';
import { parseCopySource, userMetadata } from './objectattrs.js';
import { copyObjectResult } from './s3xml.js';
import { usFromSecFrac } from './clock.js';
import { s3Encode, signRequest } from '../rgw/sign.js';
import type { BucketRow } from './store.js';

const FETCH_HEADERS_TIMEOUT_MS = 30_000;
const FETCH_BODY_TIMEOUT_MS = 60_000;

/** Source mtime in microseconds: Rgwx-Mtime (sub-second) when the source sends it, else Last-Modified. */
function sourceMtimeUs(h: Record<string, string | string[] | undefined>): number | undefined {
  const precise = headerValue(h, 'rgwx-mtime');
  if (precise !== undefined) {
    const us = usFromSecFrac(precise);
    if (us !== undefined) return us;
  }
  const lm = headerValue(h, 'last-modified');
  const ms = lm ? Date.parse(lm) : NaN;
  return Number.isNaN(ms) ? undefined : ms * 1000;
}

export async function remoteCopy(ctx: RequestContext, zc: ZoneContext, dest: BucketRow, key: string): Promise<void> {
  const { query } = ctx.url;
  const zoneName = query.get('rgwx-source-zone') ?? '';
  const clientId = query.get('rgwx-client-id');
  const opId = query.get('rgwx-op-id');
  const ifNewer = query.get('rgwx-copy-if-newer') === 'true';
  const copySource = headerValue(ctx.req.headers, 'x-amz-copy-source');
  if (copySource === undefined) throw new HttpError(400, 'InvalidArgument', 'remote copy needs x-amz-copy-source');
  const src = parseCopySource(copySource);
  const zone = zc.realm.zones.find((z) => z.name === zoneName);
  if (!zone) throw new HttpError(400, 'InvalidArgument', `rgwx-source-zone "${zoneName}" is not a zone of this realm`);
  // Drain the (empty) request body so the socket stays usable.
  ctx.req.resume();

  const opObject = `${dest.name}/${key}`;
  const track = clientId !== undefined && opId !== undefined;
  const setState = (state: string) => {
    if (track) zc.store.setOpState(clientId, opId, opObject, state);
  };
  setState('in-progress');

  const path = `/${s3Encode(src.bucket, false)}/${s3Encode(src.key, true)}`;
  const url = new URL(zone.endpoint);
  const su = zc.realm.systemUser;
  const headers = signRequest({ method: 'GET', host: url.host, path, headers: {} }, { accessKey: su.accessKey, secretKey: su.secretKey }, 'v4');
  let resp;
  try {
    resp = await request(`${zone.endpoint}${path}`, {
      method: 'GET', headers, headersTimeout: FETCH_HEADERS_TIMEOUT_MS, bodyTimeout: FETCH_BODY_TIMEOUT_MS,
    });
  } catch (e) {
    setState('error');
    zc.log('warn', `remote copy ${src.bucket}/${src.key} from ${zoneName}: cannot reach ${zone.endpoint}: ${(e as Error).message}`);
    throw new HttpError(503, 'ServiceUnavailable', `cannot reach source zone ${zoneName}`);
  }
  const rh = resp.headers;
  if (resp.statusCode !== 200) {
    await resp.body.dump();
    setState('error');
    if (resp.statusCode === 404) throw new HttpError(404, 'NoSuchKey', `source zone ${zoneName} has no ${src.bucket}/${src.key}`);
    zc.log('warn', `remote copy ${src.bucket}/${src.key} from ${zoneName}: source answered ${resp.statusCode}`);
    throw new HttpError(resp.statusCode >= 500 ? 503 : 502, resp.statusCode >= 500 ? 'ServiceUnavailable' : 'RemoteCopyFailed', `source zone answered ${resp.statusCode}`);
  }

  const srcMtime = sourceMtimeUs(rh);
  if (ifNewer && srcMtime !== undefined) {
    const local = zc.store.getObject(dest.instance, key);
    // Last-Modified has whole seconds: a same-second overwrite looks "not newer", so without the
    // source's sub-second mtime (Rgwx-Mtime; Ceph does not send it) the ETag must match too.
    const precise = headerValue(rh, 'rgwx-mtime') !== undefined;
    const srcEtag = (headerValue(rh, 'etag') ?? '').replace(/"/g, '');
    if (local && local.mtime_us >= srcMtime && (precise || local.etag === srcEtag)) {
      await resp.body.dump();
      setState('complete');
      ctx.res.writeHead(304, { 'Content-Length': 0 });
      return void ctx.res.end();
    }
  }

  const length = headerValue(rh, 'content-length');
  const etag = (headerValue(rh, 'etag') ?? '').replace(/"/g, '');
  let written;
  try {
    written = await zc.files.write(resp.body as unknown as Readable, length === undefined ? undefined : Number(length));
  } catch (e) {
    setState('error');
    throw new HttpError(503, 'ServiceUnavailable', `transfer from ${zoneName} failed: ${(e as Error).message}`);
  }
  // A plain ETag is the MD5 of the body: a mismatch means the transfer was damaged.
  if (/^[0-9a-f]{32}$/.test(etag) && etag !== written.md5) {
    await zc.files.remove(written.file);
    setState('error');
    throw new HttpError(503, 'ServiceUnavailable', `transfer from ${zoneName} was damaged (ETag mismatch)`);
  }
  let result;
  try {
    result = zc.store.commitObject(dest, {
      key, size: written.size, etag: etag || written.md5, file: written.file,
      content_type: headerValue(rh, 'content-type') ?? 'binary/octet-stream',
      meta: JSON.stringify(userMetadata(rh as Record<string, string | string[] | undefined>)),
      mtime_us: srcMtime,
    });
  } catch (e) {
    await zc.files.remove(written.file);
    setState('error');
    throw e;
  }
  await zc.files.remove(result.replaced);
  setState('complete');
  // The size lets an agent count bytes synced without a HEAD per object.
  sendXml(ctx.res, 200, copyObjectResult(etag || written.md5, result.mtime_us), { 'Rgwx-Object-Size': written.size });
}
