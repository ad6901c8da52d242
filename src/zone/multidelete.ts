/**
 * S3 DeleteObjects (`POST /bucket?delete`): up to 1,000 keys in one request, each deleted as a
 * single DELETE would be (one bucket-index log entry per key that existed, so the agent replays
 * them like any delete). Quiet mode answers only the failures.
 */
import { createHash } from 'node:crypto';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { headerValue, HttpError, readSmallBody, sendXml, xmlEscape, type RequestContext } from './http.js';
import type { ZoneContext } from './context.js';
import type { BucketRow } from './store.js';

const MAX_KEYS = 1000;
const NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';
// Keys are taken byte for byte: no trimming, no number parsing.
const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: false, isArray: (name) => name === 'Object' });

interface Outcome { key: string; versionId?: string; deleteMarker?: { versionId: string }; error?: { code: string; message: string } }

export interface DeleteTarget { key: string; versionId?: string }

/** The objects of a Delete document (key, optional VersionId) and its Quiet flag; MalformedXML for anything else. */
export function parseDeleteRequest(body: string): { objects: DeleteTarget[]; quiet: boolean } {
  if (XMLValidator.validate(body) !== true) throw new HttpError(400, 'MalformedXML', 'the Delete document is not well-formed XML');
  const doc = parser.parse(body) as { Delete?: { Object?: { Key?: unknown; VersionId?: unknown }[]; Quiet?: unknown } };
  const d = doc.Delete;
  if (!d || typeof d !== 'object') throw new HttpError(400, 'MalformedXML', 'the body must be a Delete document');
  const objects = d.Object ?? [];
  if (objects.length === 0) throw new HttpError(400, 'MalformedXML', 'the Delete document names no Object');
  if (objects.length > MAX_KEYS) throw new HttpError(400, 'MalformedXML', `at most ${MAX_KEYS} keys per DeleteObjects request (${objects.length} given)`);
  const targets = objects.map((o): DeleteTarget => {
    if (typeof o?.Key !== 'string' || o.Key === '') throw new HttpError(400, 'MalformedXML', 'every Object needs a Key');
    if (o.VersionId !== undefined && typeof o.VersionId !== 'string') throw new HttpError(400, 'MalformedXML', 'a VersionId is text');
    const versionId = typeof o.VersionId === 'string' ? o.VersionId.trim() : '';
    return versionId !== '' ? { key: o.Key, versionId } : { key: o.Key };
  });
  const quiet = String(d.Quiet ?? 'false').trim().toLowerCase() === 'true';
  return { objects: targets, quiet };
}

export function deleteResultXml(outcomes: Outcome[], quiet: boolean): string {
  const items = outcomes.map((o) => o.error
    ? `<Error><Key>${xmlEscape(o.key)}</Key><Code>${o.error.code}</Code><Message>${xmlEscape(o.error.message)}</Message></Error>`
    : quiet ? '' : `<Deleted><Key>${xmlEscape(o.key)}</Key>${o.versionId !== undefined ? `<VersionId>${xmlEscape(o.versionId)}</VersionId>` : ''}${o.deleteMarker ? `<DeleteMarker>true</DeleteMarker><DeleteMarkerVersionId>${xmlEscape(o.deleteMarker.versionId)}</DeleteMarkerVersionId>` : ''}</Deleted>`).join('');
  return `<DeleteResult ${NS}>${items}</DeleteResult>`;
}

export async function deleteObjects(ctx: RequestContext, zc: ZoneContext, b: BucketRow, validateKey: (key: string) => void): Promise<void> {
  const body = await readSmallBody(ctx.req, 2 << 20);
  const md5 = headerValue(ctx.req.headers, 'content-md5');
  if (md5 !== undefined && createHash('md5').update(body).digest('base64') !== md5.trim()) throw new HttpError(400, 'BadDigest', 'Content-MD5 does not match the Delete document');
  const { objects, quiet } = parseDeleteRequest(body.toString('utf8'));
  // Concurrent deletes share the store's group commit: one transaction for the batch, in practice.
  const outcomes = await Promise.all(objects.map(async ({ key, versionId }): Promise<Outcome> => {
    try {
      validateKey(key);
      // As S3: a named version goes for good (and says whether it was a marker); else a marker may be made.
      if (versionId !== undefined) {
        const r = await zc.store.grouped(() => zc.store.deleteVersion(b, key, versionId));
        await zc.files.remove(r.file);
        return { key, versionId, ...(r.deleteMarker ? { deleteMarker: { versionId } } : {}) };
      }
      const r = await zc.store.grouped(() => zc.store.deleteObject(b, key));
      await zc.files.remove(r.file);
      return { key, ...(r.deleteMarker && r.versionId !== undefined ? { deleteMarker: { versionId: r.versionId } } : {}) };
    } catch (e) {
      if (e instanceof HttpError) return { key, error: { code: e.code, message: e.message } };
      zc.log('error', `DeleteObjects ${b.name}/${key}: ${(e as Error).message}`);
      return { key, error: { code: 'InternalError', message: 'the key could not be deleted' } };
    }
  }));
  const failed = outcomes.filter((o) => o.error).length;
  zc.log('info', `DeleteObjects ${b.name}: ${objects.length - failed} deleted, ${failed} failed`);
  sendXml(ctx.res, 200, deleteResultXml(outcomes, quiet));
}
