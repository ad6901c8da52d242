/**
 * Makes one destination object match the source now. Remote copy: the destination pulls it
 * (copy-if-newer); any failure is checked against the destination's op state, within the object
 * deadline; a copy abandoned while the destination still runs it is never sent a second time
 * until op state says it ended. Stream copy (gateways without working remote copy): relay one
 * version of the object with its attributes, skipping objects equal in content and every
 * replicated attribute (equality.ts). A key a log names costs a HEAD of the destination and a GET
 * of the source unless the source still has the destination's version (If-None-Match), then the
 * PUT; where a full sync's listings already show the destination lacks the version, the GET and
 * the PUT alone. Nothing is deleted on the destination unless the source itself answers 404 for
 * the object.
 */
import { AgentError, HttpError, NetworkError } from '../client/errors.js';
import { SourceChanged, SOURCE_ETAG_META } from '../client/transfer.js';
import type { ListedObject, ObjectHead } from '../client/s3.js';
import type { SyncContext } from './context.js';
import { isEqual, objectDifferences, objectState, tagsNeeded } from './equality.js';
import { sleep } from '../worker/sleep.js';

export type ObjectResult = 'copied' | 'unchanged' | 'deleted';

/** The destination still runs an earlier copy of this key: sending another would race it. Kept as a retry. */
export class CopyInProgress extends AgentError {}

/** What one process remembers about remote copies, per sync context. */
interface CopyBook {
  /** bucket/key -> op id of a copy given up on while the destination reported it in progress. */
  abandoned: Map<string, string>;
  /** The destination answered 405 to DELETE /admin/opstate: it keeps no records to clean. */
  noOpStateDelete: boolean;
}
const books = new WeakMap<SyncContext, CopyBook>();
function book(ctx: SyncContext): CopyBook {
  let b = books.get(ctx);
  if (!b) books.set(ctx, (b = { abandoned: new Map(), noOpStateDelete: false }));
  return b;
}

/** The bucket_id of an instance name as logs give it ("bucket:id" or Pacific's "bucket:id:shard"). */
function bucketId(instance: string): string | undefined {
  return instance.split(':')[1] || undefined;
}

/**
 * The bucket's owner on the source, for ?rgwx-uid=. A bucket deleted and re-created (perhaps by
 * another user) is a new instance, so owners are cached per instance; without one, read each time.
 */
export async function bucketOwner(ctx: SyncContext, bucket: string, instance?: string): Promise<string> {
  const id = instance ? bucketId(instance) : undefined;
  if (id) {
    const known = ctx.owners.get(`${bucket}:${id}`);
    if (known) return known;
  }
  const doc = await ctx.src.getMetadata('bucket', bucket);
  const data = doc ? (JSON.parse(doc.toString('utf8')) as { data?: { owner?: string; bucket?: { bucket_id?: string } } }).data : undefined;
  const owner = data?.owner;
  if (!owner) throw new AgentError(`bucket ${bucket} has no owner in its metadata on the source`);
  const current = data.bucket?.bucket_id;
  if (current) ctx.owners.set(`${bucket}:${current}`, owner);
  return owner;
}

/**
 * True when the destination's copy equals the source's object in content and every replicated
 * attribute. `versionId`: that version on both sides (a versioned bucket, where ids are kept).
 */
export async function unchanged(ctx: SyncContext, bucket: string, key: string, srcHead: ObjectHead, dstHead: ObjectHead, versionId?: string): Promise<boolean> {
  const [s, d] = [objectState(srcHead), objectState(dstHead)];
  const o = { destinationRefusesClass: ctx.transfer.refusesClass(s.attrs.storageClass) };
  if (!isEqual(objectDifferences(s, d, o))) return false;
  // Tags and ACLs change without a new ETag and no HEAD shows them: read both sides.
  const warn = { warn: (m: string) => ctx.log.warn(m) };
  const [st, dt, sa, da] = await Promise.all([
    tagsNeeded(srcHead.tagCount ?? 0, dstHead.tagCount ?? 0) ? ctx.transfer.readTags('source', bucket, key, warn, versionId) : undefined,
    tagsNeeded(srcHead.tagCount ?? 0, dstHead.tagCount ?? 0) ? ctx.transfer.readTags('destination', bucket, key, warn, versionId) : undefined,
    ctx.transfer.readAcl('source', bucket, key, warn, versionId),
    ctx.transfer.readAcl('destination', bucket, key, warn, versionId),
  ]);
  [s.attrs.tags, d.attrs.tags, s.attrs.acl, d.attrs.acl] = [st, dt, sa, da];
  return isEqual(objectDifferences(s, d, o));
}

/**
 * `listed`: the source's listing entry of a key the listings show the destination lacks; the copy
 * then starts at the GET (If-Match on the listed ETag: a newer version answers 412 and the key
 * is synced again from HEADs; a 404 is the source saying the object is gone).
 */
async function streamOnce(ctx: SyncContext, bucket: string, key: string, instance?: string, listed?: ListedObject): Promise<ObjectResult> {
  if (!listed) return streamFromGet(ctx, bucket, key, instance);
  return streamFromHeads(ctx, bucket, key, instance, listed);
}

/**
 * A key a log names: what the destination has (HEAD), then one GET of the source unless it still
 * has that very version (If-None-Match), copied from that answer: no HEAD of the source for a
 * changed object. The same version on both sides is compared by HEADs as before (attributes may
 * differ under one ETag).
 */
async function streamFromGet(ctx: SyncContext, bucket: string, key: string, instance?: string): Promise<ObjectResult> {
  const dst = await ctx.dstS3.headObject(bucket, key);
  // A copy of a multipart object carries the source's ETag in a note: that is the version it has.
  const opened = await ctx.transfer.open(bucket, key, dst ? dst.meta[SOURCE_ETAG_META] ?? dst.etag : undefined);
  if (opened.kind === 'gone') return deleteOnDestination(ctx, bucket, key);
  if (opened.kind === 'same') return streamFromHeads(ctx, bucket, key, instance, undefined, dst);
  const bytes = await ctx.transfer.copyOpened(bucket, key, opened, await bucketOwner(ctx, bucket, instance), { warn: (m) => ctx.log.warn(m) });
  if (bytes === undefined) return deleteOnDestination(ctx, bucket, key);
  ctx.acct.objectCopied(bytes);
  return 'copied';
}

/** `knownDst`: the destination's HEAD, when it was just read. */
async function streamFromHeads(ctx: SyncContext, bucket: string, key: string, instance?: string, listed?: ListedObject, knownDst?: ObjectHead): Promise<ObjectResult> {
  const src = listed ? { size: listed.size, etag: listed.etag, contentType: '', meta: {} } : await ctx.srcS3.headObject(bucket, key);
  if (!src) return deleteOnDestination(ctx, bucket, key);
  const dst = listed ? undefined : knownDst ?? await ctx.dstS3.headObject(bucket, key);
  if (dst && await unchanged(ctx, bucket, key, src, dst)) {
    ctx.acct.objectUnchanged();
    return 'unchanged';
  }
  const bytes = await ctx.transfer.copy(bucket, key, src, await bucketOwner(ctx, bucket, instance), { warn: (m) => ctx.log.warn(m) });
  if (bytes === undefined) return deleteOnDestination(ctx, bucket, key);
  ctx.acct.objectCopied(bytes);
  return 'copied';
}

async function streamObject(ctx: SyncContext, bucket: string, key: string, instance?: string, listed?: ListedObject): Promise<ObjectResult> {
  try {
    return await streamOnce(ctx, bucket, key, instance, listed);
  } catch (e) {
    if (!(e instanceof SourceChanged)) throw e;
    // Overwritten between HEAD and GET (or between parts): once more, from the new version.
    ctx.log.debug(`${e.message}; copying the new version`);
    return streamOnce(ctx, bucket, key, instance);
  }
}

async function deleteOnDestination(ctx: SyncContext, bucket: string, key: string): Promise<ObjectResult> {
  await ctx.dstS3.deleteObject(bucket, key);
  ctx.acct.objectDeleted();
  return 'deleted';
}

/** Drops the destination's record of a copy whose outcome the agent has, so records do not pile up. */
async function forgetOp(ctx: SyncContext, opId: string, object: string): Promise<void> {
  const b = book(ctx);
  if (b.noOpStateDelete || !ctx.opState) return;
  try {
    await ctx.dst.deleteOpState(ctx.clientId, opId, object);
  } catch (e) {
    if (e instanceof HttpError && e.status === 405) b.noOpStateDelete = true;
    else ctx.log.debug(`op state ${opId} of ${object} not removed: ${(e as Error).message}`);
  }
}

/**
 * `instance` (as logs name it, "bucket:bucket_id[:shard]") lets stream copy cache the bucket's
 * owner for that instance; without it the owner is read for every copy.
 */
export async function syncObject(ctx: SyncContext, bucket: string, key: string, signal?: AbortSignal, instance?: string, listed?: ListedObject): Promise<ObjectResult> {
  if (ctx.copyMode === 'stream') return streamObject(ctx, bucket, key, instance, listed);
  const object = `${bucket}/${key}`;
  const b = book(ctx);
  const earlier = b.abandoned.get(object);
  if (earlier !== undefined && ctx.opState) {
    const state = await ctx.dst.opState(ctx.clientId, earlier, object);
    if (state === 'in-progress') throw new CopyInProgress(`copy of ${object} not sent: the destination still runs the earlier copy ${earlier}`);
    b.abandoned.delete(object);
    if (state !== undefined) await forgetOp(ctx, earlier, object);
  }
  const opId = ctx.nextOpId();
  const timeoutMs = ctx.cfg.objectSyncTimeout * 1000;
  const deadline = Date.now() + timeoutMs;
  let firstError: Error;
  try {
    // By id: Reef and later find the source zone only by its id (by name: 404); ids are names on
    // gateways whose maps have no ids (Hammer, the embedded zone).
    const { outcome, bytes, opStateDropped } = await ctx.dstS3.remoteCopy(bucket, key, ctx.zones.source.id, ctx.clientId, opId, timeoutMs);
    if (!opStateDropped) await forgetOp(ctx, opId, object);
    if (outcome === 'copied') {
      ctx.acct.objectCopied(bytes ?? 0);
      return 'copied';
    }
    if (outcome === 'not-modified') { ctx.acct.objectUnchanged(); return 'unchanged'; }
    // 404 from a remote copy may be about the destination's view (a stale endpoint, a proxy, a
    // bucket not there yet): only the source saying 404 itself lets a delete through.
    if (await ctx.srcS3.headObject(bucket, key)) {
      throw new AgentError(`the destination's remote copy of ${object} answered 404, but the source has the object; not deleting, will retry`);
    }
    return deleteOnDestination(ctx, bucket, key);
  } catch (e) {
    if (!(e instanceof HttpError || e instanceof NetworkError)) throw e;
    // Without op state nothing tells whether the copy still runs: a retry later, with copy-if-newer.
    if (!ctx.opState) throw new AgentError(`copy of ${object} failed: ${e.message}`);
    firstError = e;
  }
  // The copy may still have completed (or be running) on the destination: ask it, briefly, at least once.
  let state: string | undefined;
  for (;;) {
    try {
      state = await ctx.dst.opState(ctx.clientId, opId, object);
    } catch {
      state = 'in-progress'; // op state unreachable: keep asking until the deadline
    }
    if (state === 'complete') {
      await forgetOp(ctx, opId, object);
      ctx.acct.objectCopied();
      return 'copied';
    }
    if (state !== 'in-progress' || Date.now() >= deadline || signal?.aborted) break;
    await sleep(1000, signal);
  }
  if (state === 'in-progress') b.abandoned.set(object, opId);
  else if (state !== undefined) await forgetOp(ctx, opId, object);
  throw new AgentError(`copy of ${object} failed: ${firstError.message}${state === 'in-progress' ? ' (the destination still runs it; no new copy is sent until it ends)' : ''}`);
}
