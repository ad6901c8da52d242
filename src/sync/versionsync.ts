/**
 * One key of a versioned bucket made level with the source: its whole version list (versions and
 * delete markers, in order, with the source's version ids where the destination keeps them), as
 * planned by versionplan.ts. Whatever a bucket-index log entry says happened to a key (a new
 * version, a delete marker, a removed version, a null version replaced), the answer is the same:
 * list both sides, carry out the plan. So entries replay in the source's order by construction,
 * and a replay that is repeated or interrupted converges.
 */
import { AgentError, NotFound } from '../client/errors.js';
import type { KeyVersions } from '../client/s3.js';
import type { SyncContext } from './context.js';
import { isVersionedInstance } from './versioning.js';
import { bucketOwner, unchanged, type ObjectResult } from './objectsync.js';
import { planVersions, versionListDifference, type VersionEntry } from './versionplan.js';
import { randomBytes } from 'node:crypto';
import type { VersionTarget } from '../client/s3.js';
import { SourceChanged } from '../client/transfer.js';
import { syncMetadataKey } from './metadata.js';

const NULL_VERSION = 'null';

/** What one process learned about the destination's handling of versions. */
interface VersionBook {
  /** The destination gave a created version the id asked for (true), another id (false), or not known yet. */
  idsKept?: boolean;
  /** Destination bucket instances seen versioned (the flag never clears). */
  versionedDst: Set<string>;
}
const books = new WeakMap<SyncContext, VersionBook>();
function book(ctx: SyncContext): VersionBook {
  let b = books.get(ctx);
  if (!b) books.set(ctx, (b = { versionedDst: new Set() }));
  return b;
}

/** Whether this process found that the destination keeps the source's version ids (undefined: nothing created yet). */
export function destinationKeepsIds(ctx: SyncContext): boolean | undefined {
  return book(ctx).idsKept;
}

/**
 * The destination's bucket must hold versions before any is created there (otherwise each would
 * replace the last): its instance metadata, with the versioning flags, is synced first if needed.
 */
async function ensureVersionedDestination(ctx: SyncContext, bucket: string, instanceId: string): Promise<void> {
  const b = book(ctx);
  const name = `${bucket}:${instanceId}`;
  if (b.versionedDst.has(name)) return;
  const versioned = async () => {
    const doc = await ctx.dst.getMetadata('bucket.instance', name);
    return doc !== undefined && isVersionedInstance(JSON.parse(doc.toString('utf8')));
  };
  if (!(await versioned())) {
    await syncMetadataKey(ctx, 'bucket.instance', name);
    if (!(await versioned())) throw new AgentError(`bucket ${bucket}: versioned on the source, not (yet) on the destination; its versions wait`);
  }
  b.versionedDst.add(name);
}

/**
 * Ids are compared unless this process learnt that the destination does not keep them. Never
 * guessed from one key's lists: a key whose versions share no id with the source's is exactly a
 * key that needs fixing on a destination that keeps them (all the gateways the README lists), so
 * a guess of "not kept" would call a delete marker with another id equal. A destination that
 * does not keep them costs the first keys a re-creation, then the read-back teaches it.
 */
function idsKeptFor(b: VersionBook): boolean {
  return b.idsKept ?? true;
}

function learnIds(ctx: SyncContext, asked: string, got: string | undefined): void {
  const b = book(ctx);
  // "null" for another id: that bucket is suspended there, which says nothing of the others.
  if (got === undefined || b.idsKept !== undefined || (got === NULL_VERSION && asked !== NULL_VERSION)) return;
  setIdsKept(ctx, got === asked, `asked for ${asked}, it made ${got}`);
}

function setIdsKept(ctx: SyncContext, kept: boolean, why: string): void {
  const b = book(ctx);
  b.idsKept = kept;
  if (!kept) {
    ctx.log.warn(`the destination does not keep the source's version ids (${why}): versions are matched by content and kept in order; verify with --no-version-ids`);
  }
}

/**
 * What a read-back says about ids, while nothing has said it yet: the versions just created with
 * the source's ids are all there under them (kept), or none is (not kept). A suspended bucket
 * (RGW stores null there) and "null" itself say nothing.
 */
async function learnFromReadback(ctx: SyncContext, bucket: string, instanceId: string, created: readonly VersionEntry[], after: readonly VersionEntry[]): Promise<void> {
  const asked = created.filter((v) => v.versionId !== NULL_VERSION);
  if (book(ctx).idsKept !== undefined || asked.length === 0) return;
  const ids = new Set(after.map((v) => v.versionId));
  const landed = asked.filter((v) => ids.has(v.versionId)).length;
  if (landed === asked.length) {
    book(ctx).idsKept = true;
  } else if (landed === 0 && after.length > 0 && (await destinationFlags(ctx, bucket, instanceId) & BUCKET_VERSIONS_SUSPENDED) === 0) {
    setIdsKept(ctx, false, `${bucket}: created ${asked.length} versions with the source's ids, none of them is listed under its id`);
  }
}

/** RGW (every release) answers 404 NoSuchKey to a null version written above other versions of a key into a bucket whose versioning is enabled. */
const NULL_REFUSED = (bucket: string, key: string) =>
  `the destination refused the null version of ${bucket}/${key} above the key's other versions (404 NoSuchKey: RGW takes a null version there only while the bucket is suspended); kept as a retry, it lands if the source's bucket is suspended again or the key changes`;

/** The source no longer has a version the plan was about to create: the lists are read again. */
class VersionGone extends AgentError {}

/**
 * A delete marker above a delete marker: Pacific and Reef refuse to stack them (204, nothing
 * created), though S3, Tentacle and the embedded zone do. A stand-in version goes between the
 * two and is removed once the marker is on top of it, which leaves the two markers adjacent.
 */
async function stackDeleteMarker(ctx: SyncContext, bucket: string, instanceId: string, key: string, owner: string, askId: string | undefined): Promise<void> {
  // In a suspended bucket the stand-in would become the null version and replace the real one.
  if ((await destinationFlags(ctx, bucket, instanceId) & BUCKET_VERSIONS_SUSPENDED) !== 0) {
    throw new AgentError(`${bucket}/${key}: the destination refuses a delete marker above a delete marker, and its bucket is suspended; it is synced once versioning is enabled again`);
  }
  const standIn = `rgw-agent-${randomBytes(10).toString('hex')}`;
  await ctx.dstS3.putVersion(bucket, key, owner, standIn);
  try {
    const r = await ctx.dstS3.createDeleteMarker(bucket, key, owner, askId);
    if (!r.created) throw new AgentError(`${bucket}/${key}: the destination created no delete marker even above a version`);
  } finally {
    await ctx.dstS3.deleteVersion(bucket, key, standIn, owner);
  }
}

/** `topIsMarker`: the destination's newest entry of the key is a delete marker now. */
async function createVersion(ctx: SyncContext, bucket: string, instanceId: string, key: string, v: VersionEntry, owner: string, topIsMarker: boolean): Promise<void> {
  const askId = book(ctx).idsKept === false ? undefined : v.versionId;
  if (v.deleteMarker) {
    const r = await ctx.dstS3.createDeleteMarker(bucket, key, owner, askId);
    if (!r.created && topIsMarker) await stackDeleteMarker(ctx, bucket, instanceId, key, owner, askId);
    else if (askId !== undefined) learnIds(ctx, askId, r.versionId);
    ctx.acct.objectDeleted();
    return;
  }
  if (ctx.copyMode === 'remote') {
    const r = await ctx.dstS3.remoteCopy(bucket, key, ctx.zones.source.id, ctx.clientId, ctx.nextOpId(), ctx.cfg.objectSyncTimeout * 1000, { id: v.versionId, ...(askId !== undefined ? { destId: askId } : {}) });
    if (r.outcome === 'source-missing') {
      if (v.versionId === NULL_VERSION && await ctx.srcS3.headObject(bucket, key, NULL_VERSION)) throw new AgentError(NULL_REFUSED(bucket, key));
      throw new VersionGone(`version ${v.versionId} of ${bucket}/${key} is gone from the source`);
    }
    // (RGW's remote copy answers carry no x-amz-version-id: nothing learnt from those.)
    if (askId !== undefined) learnIds(ctx, askId, r.versionId);
    if (r.outcome === 'copied') ctx.acct.objectCopied(r.bytes ?? v.size);
    else ctx.acct.objectUnchanged();
    return;
  }
  const target: VersionTarget & { gotVersionId?: string } = { id: v.versionId, ...(askId !== undefined ? { destId: askId } : {}) };
  let bytes: number | undefined;
  try {
    bytes = await ctx.transfer.copy(bucket, key, { size: v.size, etag: v.etag, contentType: '', meta: {} }, owner, { warn: (m) => ctx.log.warn(m), version: target });
  } catch (e) {
    if (v.versionId === NULL_VERSION && e instanceof NotFound && e.code === 'NoSuchKey') throw new AgentError(NULL_REFUSED(bucket, key));
    // (Only "null" can change content: the source replaced it while this copy ran.)
    if (e instanceof SourceChanged) throw new VersionGone(e.message);
    throw e;
  }
  if (bytes === undefined) throw new VersionGone(`version ${v.versionId} of ${bucket}/${key} is gone from the source`);
  if (askId !== undefined) learnIds(ctx, askId, target.gotVersionId);
  ctx.acct.objectCopied(bytes);
}

/**
 * Whether the current version, the same on both sides by id, differs in an attribute a listing
 * does not show (headers, metadata, tags, ACL): it is then written again under its id. Only where
 * ids are kept: without them no request names the destination's version of it for sure.
 */
async function currentAttrsDiffer(ctx: SyncContext, bucket: string, key: string, src: readonly VersionEntry[], dst: readonly VersionEntry[]): Promise<boolean> {
  const [s, d] = [src[0], dst[0]];
  if (!s || !d || s.deleteMarker || d.deleteMarker || s.versionId !== d.versionId || book(ctx).idsKept === false) return false;
  const [sh, dh] = await Promise.all([ctx.srcS3.headObject(bucket, key, s.versionId), ctx.dstS3.headObject(bucket, key, d.versionId)]);
  // Gone meanwhile: that change has a log entry of its own.
  if (!sh || !dh) return false;
  return !(await unchanged(ctx, bucket, key, sh, dh, s.versionId));
}

/** The current version written again under its id (the source's attributes with it); on top already, so the order stays. */
async function rewriteCurrent(ctx: SyncContext, bucket: string, instanceId: string, key: string, src: readonly VersionEntry[]): Promise<void> {
  const owner = await bucketOwner(ctx, bucket, `${bucket}:${instanceId}`);
  await createVersion(ctx, bucket, instanceId, key, src[0], owner, false);
  await checkResult(ctx, bucket, instanceId, key, src, [src[0]]);
}

/**
 * Why the destination's list still differs after a plan was carried out: no answer above proves
 * a version landed as asked (RGW echoes a requested id it did not keep), so the list is read back.
 * Returns the destination's list as read back.
 */
async function checkResult(ctx: SyncContext, bucket: string, instanceId: string, key: string, src: readonly VersionEntry[], created: readonly VersionEntry[]): Promise<VersionEntry[]> {
  const after = await ctx.dstS3.keyVersions(bucket, key);
  await learnFromReadback(ctx, bucket, instanceId, created, after);
  const diff = versionListDifference(src, after, idsKeptFor(book(ctx)));
  if (!diff) return after;
  // The source changed while the plan ran (a null version replaced, a version removed): planned again.
  if (versionListDifference(src, await ctx.srcS3.keyVersions(bucket, key), true)) throw new VersionGone(`the source's versions of ${bucket}/${key} changed during the copy`);
  const flags = await destinationFlags(ctx, bucket, instanceId);
  // RGW (all releases) stores every version written into a suspended bucket as the null version.
  const hint = (flags & BUCKET_VERSIONS_SUSPENDED) !== 0 ? '; the destination bucket is suspended, and RGW keeps a version written there only as the null version: it is synced once versioning is enabled again' : '';
  throw new AgentError(`${bucket}/${key}: the destination's versions still differ after the copy (${diff})${hint}`);
}

const BUCKET_VERSIONS_SUSPENDED = 0x4;

async function destinationFlags(ctx: SyncContext, bucket: string, instanceId: string): Promise<number> {
  const doc = await ctx.dst.getMetadata('bucket.instance', `${bucket}:${instanceId}`);
  const flags = doc ? (JSON.parse(doc.toString('utf8')) as { data?: { bucket_info?: { flags?: unknown } } }).data?.bucket_info?.flags : 0;
  const n = Number(flags ?? 0);
  return Number.isInteger(n) ? n : 0;
}

/**
 * Makes the destination's versions of `key` equal to the source's. `listed`: both sides' versions
 * from a full sync's listings (used for the first round only: the lists are read again after a
 * source version vanished mid-plan).
 */
export async function syncKeyVersions(ctx: SyncContext, bucket: string, instanceId: string, key: string, listed?: { src: VersionEntry[]; dst: VersionEntry[] }): Promise<ObjectResult> {
  await ensureVersionedDestination(ctx, bucket, instanceId);
  for (let round = 0; ; round++) {
    const [src, dst] = round === 0 && listed ? [listed.src, listed.dst] : await Promise.all([ctx.srcS3.keyVersions(bucket, key), ctx.dstS3.keyVersions(bucket, key)]);
    try {
      return await carryOut(ctx, bucket, instanceId, key, src, dst);
    } catch (e) {
      if (!(e instanceof VersionGone) || round >= 3) throw e;
      ctx.log.debug(`${e.message}; reading both version lists again`);
    }
  }
}

/** One round: the plan for these two lists carried out. Throws VersionGone when the source moved under it. */
async function carryOut(ctx: SyncContext, bucket: string, instanceId: string, key: string, src: readonly VersionEntry[], dst: readonly VersionEntry[]): Promise<ObjectResult> {
  const plan = planVersions(src, dst, { idsKept: idsKeptFor(book(ctx)), delete: ctx.cfg.delete });
  if (plan.remove.length === 0 && plan.create.length === 0) {
    // Equal lists may still hide a tag, ACL, header or metadata change of the current version
    // (a null version replaced under the same ETag in a suspended bucket, a tag change).
    if (await currentAttrsDiffer(ctx, bucket, key, src, dst)) {
      await rewriteCurrent(ctx, bucket, instanceId, key, src);
      return 'copied';
    }
    ctx.acct.objectUnchanged();
    return 'unchanged';
  }
  if (plan.recreated > 0) ctx.log.info(`${bucket}/${key}: the destination lacks a version below ${plan.recreated} it has; those are created again above it to keep the order`);
  const owner = await bucketOwner(ctx, bucket, `${bucket}:${instanceId}`);
  for (const id of plan.remove) {
    await ctx.dstS3.deleteVersion(bucket, key, id, owner);
    ctx.acct.objectDeleted();
  }
  const removed = new Set(plan.remove);
  let topIsMarker = dst.find((v) => !removed.has(v.versionId))?.deleteMarker ?? false;
  for (const v of plan.create) {
    await createVersion(ctx, bucket, instanceId, key, v, owner, topIsMarker);
    topIsMarker = v.deleteMarker;
  }
  const after = await checkResult(ctx, bucket, instanceId, key, src, plan.create);
  // A current version the plan kept rather than created (a rollback made an older version
  // current again) was copied when it was not current: its tags or ACL may have changed since.
  if (!plan.create.some((v) => v.versionId === src[0]?.versionId) && await currentAttrsDiffer(ctx, bucket, key, src, after)) {
    await rewriteCurrent(ctx, bucket, instanceId, key, src);
  }
  return plan.create.length > 0 ? 'copied' : 'deleted';
}

/**
 * For full sync: whether a key of two listed groups needs syncKeyVersions. Lists that differ do;
 * equal lists too when both sides' current version is the same one (by id): only HEADs tell
 * whether its attributes are equal, as for an unversioned key with the same ETag.
 */
export function groupNeedsSync(ctx: SyncContext, s: KeyVersions | undefined, d: KeyVersions | undefined): boolean {
  const src = s?.versions ?? [];
  const dst = d?.versions ?? [];
  const b = book(ctx);
  const idsKept = idsKeptFor(b);
  const p = planVersions(src, dst, { idsKept, delete: ctx.cfg.delete });
  if (p.remove.length > 0 || p.create.length > 0) return true;
  return idsKept && src[0] !== undefined && !src[0].deleteMarker && dst[0]?.versionId === src[0].versionId;
}

