/**
 * Makes one destination object match the source now. Remote copy: the destination pulls it
 * (copy-if-newer); gone on the source means delete on the destination; any other failure is
 * checked against the destination's op state, within the object deadline. Stream copy (gateways
 * without working remote copy): HEAD both sides, skip equal objects, relay the body; a source
 * that answers 404 to HEAD means delete (a copy is never sent for a missing source).
 */
import { AgentError, HttpError, NetworkError } from '../client/errors.js';
import { sameObject } from '../client/transfer.js';
import type { SyncContext } from './context.js';
import { sleep } from '../worker/sleep.js';

export type ObjectResult = 'copied' | 'unchanged' | 'deleted';

async function bucketOwner(ctx: SyncContext, bucket: string): Promise<string> {
  const known = ctx.owners.get(bucket);
  if (known) return known;
  const doc = await ctx.src.getMetadata('bucket', bucket);
  const owner = doc ? (JSON.parse(doc.toString('utf8')) as { data?: { owner?: string } }).data?.owner : undefined;
  if (!owner) throw new AgentError(`bucket ${bucket} has no owner in its metadata on the source`);
  ctx.owners.set(bucket, owner);
  return owner;
}

async function streamObject(ctx: SyncContext, bucket: string, key: string): Promise<ObjectResult> {
  const deleted = async (): Promise<ObjectResult> => {
    await ctx.dstS3.deleteObject(bucket, key);
    ctx.stats.objectsDeleted++;
    return 'deleted';
  };
  const src = await ctx.srcS3.headObject(bucket, key);
  if (!src) return deleted();
  if (sameObject(src, await ctx.dstS3.headObject(bucket, key))) {
    ctx.stats.objectsUnchanged++;
    return 'unchanged';
  }
  const bytes = await ctx.transfer.copy(bucket, key, src, await bucketOwner(ctx, bucket));
  if (bytes === undefined) return deleted();
  ctx.stats.objectsCopied++;
  ctx.stats.bytesCopied += bytes;
  return 'copied';
}

export async function syncObject(ctx: SyncContext, bucket: string, key: string, signal?: AbortSignal): Promise<ObjectResult> {
  if (ctx.copyMode === 'stream') return streamObject(ctx, bucket, key);
  const opId = ctx.nextOpId();
  const timeoutMs = ctx.cfg.objectSyncTimeout * 1000;
  const deadline = Date.now() + timeoutMs;
  let firstError: Error;
  try {
    const { outcome, bytes } = await ctx.dstS3.remoteCopy(bucket, key, ctx.zones.source.name, ctx.clientId, opId, timeoutMs);
    if (outcome === 'copied') {
      ctx.stats.objectsCopied++;
      ctx.stats.bytesCopied += bytes ?? 0;
      return 'copied';
    }
    if (outcome === 'not-modified') { ctx.stats.objectsUnchanged++; return 'unchanged'; }
    await ctx.dstS3.deleteObject(bucket, key);
    ctx.stats.objectsDeleted++;
    return 'deleted';
  } catch (e) {
    if (!(e instanceof HttpError || e instanceof NetworkError)) throw e;
    firstError = e;
  }
  // The copy may still have completed (or be running) on the destination: ask it, briefly.
  while (Date.now() < deadline && !signal?.aborted) {
    let state: string | undefined;
    try {
      state = await ctx.dst.opState(ctx.clientId, opId, `${bucket}/${key}`);
    } catch {
      state = 'in-progress'; // op state unreachable: keep asking until the deadline
    }
    if (state === 'complete') { ctx.stats.objectsCopied++; return 'copied'; }
    if (state !== 'in-progress') break;
    await sleep(1000, signal);
  }
  throw new AgentError(`copy of ${bucket}/${key} failed: ${firstError.message}`);
}
