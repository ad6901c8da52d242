/**
 * One key of a versioned bucket made level with the source: its whole version list (versions and
 * delete markers, in order, with the source's version ids where the destination keeps them), as
 * planned by versionplan.ts. Whatever a bucket-index log entry says happened to a key (a new
 * version, a delete marker, a removed version, a null version replaced), the answer is the same:
 * list both sides, carry out the plan. So entries replay in the source's order by construction,
 * and a replay that is repeated or interrupted converges.
 */
import { AgentError } from '../client/errors.js';
import type { KeyVersions } from '../client/s3.js';
import type { SyncContext } from './context.js';
import { isVersionedInstance } from './versioning.js';
import { bucketOwner, type ObjectResult } from './objectsync.js';
import { planVersions, type VersionEntry } from './versionplan.js';
import { syncMetadataKey } from './metadata.js';

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
 * Ids are compared where the destination keeps them. Before the first version is created nothing
 * says so: a destination whose versions share no id with the source's is then taken to be one
 * that does not keep them, so a restart never removes and re-creates a whole bucket's versions.
 */
function idsKeptFor(b: VersionBook, src: readonly VersionEntry[], dst: readonly VersionEntry[]): boolean {
  if (b.idsKept !== undefined) return b.idsKept;
  if (dst.length === 0) return true;
  const ids = new Set(src.map((v) => v.versionId));
  return dst.some((v) => ids.has(v.versionId));
}

function learnIds(ctx: SyncContext, asked: string, got: string | undefined): void {
  const b = book(ctx);
  if (got === undefined || b.idsKept !== undefined) return;
  b.idsKept = got === asked;
  if (!b.idsKept) {
    ctx.log.warn(`the destination does not keep the source's version ids (asked for ${asked}, it made ${got}): versions are matched by content and kept in order; verify with --no-version-ids`);
  }
}

/** The source no longer has a version the plan was about to create: the lists are read again. */
class VersionGone extends AgentError {}

async function createVersion(ctx: SyncContext, bucket: string, key: string, v: VersionEntry, owner: string): Promise<void> {
  const askId = book(ctx).idsKept === false ? undefined : v.versionId;
  if (v.deleteMarker) {
    const got = await ctx.dstS3.createDeleteMarker(bucket, key, owner, askId);
    if (askId !== undefined) learnIds(ctx, askId, got);
    ctx.acct.objectDeleted();
    return;
  }
  if (ctx.copyMode === 'remote') {
    const r = await ctx.dstS3.remoteCopy(bucket, key, ctx.zones.source.id, ctx.clientId, ctx.nextOpId(), ctx.cfg.objectSyncTimeout * 1000, { id: v.versionId, ...(askId !== undefined ? { destId: askId } : {}) });
    if (r.outcome === 'source-missing') throw new VersionGone(`version ${v.versionId} of ${bucket}/${key} is gone from the source`);
    if (askId !== undefined) learnIds(ctx, askId, r.versionId);
    if (r.outcome === 'copied') ctx.acct.objectCopied(r.bytes ?? v.size);
    else ctx.acct.objectUnchanged();
    return;
  }
  const target = { id: v.versionId, ...(askId !== undefined ? { destId: askId } : {}) } as { id: string; destId?: string; gotVersionId?: string };
  const bytes = await ctx.transfer.copy(bucket, key, { size: v.size, etag: v.etag, contentType: '', meta: {} }, owner, { warn: (m) => ctx.log.warn(m), version: target });
  if (bytes === undefined) throw new VersionGone(`version ${v.versionId} of ${bucket}/${key} is gone from the source`);
  if (askId !== undefined) learnIds(ctx, askId, target.gotVersionId);
  ctx.acct.objectCopied(bytes);
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
    const b = book(ctx);
    const plan = planVersions(src, dst, { idsKept: idsKeptFor(b, src, dst), delete: ctx.cfg.delete });
    if (plan.remove.length === 0 && plan.create.length === 0) {
      ctx.acct.objectUnchanged();
      return 'unchanged';
    }
    if (plan.recreated > 0) ctx.log.info(`${bucket}/${key}: the destination lacks a version below ${plan.recreated} it has; those are created again above it to keep the order`);
    const owner = await bucketOwner(ctx, bucket, `${bucket}:${instanceId}`);
    try {
      for (const id of plan.remove) {
        await ctx.dstS3.deleteVersion(bucket, key, id, owner);
        ctx.acct.objectDeleted();
      }
      for (const v of plan.create) await createVersion(ctx, bucket, key, v, owner);
    } catch (e) {
      if (!(e instanceof VersionGone) || round >= 3) throw e;
      ctx.log.debug(`${e.message}; reading both version lists again`);
      continue;
    }
    return plan.create.length > 0 ? 'copied' : 'deleted';
  }
}

/** For full sync: the first difference of two listed groups, or undefined when a key needs nothing. */
export function groupsDiffer(ctx: SyncContext, s: KeyVersions | undefined, d: KeyVersions | undefined): boolean {
  const src = s?.versions ?? [];
  const dst = d?.versions ?? [];
  const b = book(ctx);
  const p = planVersions(src, dst, { idsKept: idsKeptFor(b, src, dst), delete: ctx.cfg.delete });
  return p.remove.length > 0 || p.create.length > 0;
}

