/**
 * Makes one destination object match the source now: the destination pulls it (remote copy with
 * copy-if-newer); gone on the source means delete on the destination. Any other failure is
 * checked against the destination's op state, within the object deadline, then reported.
 */
import { AgentError, HttpError, NetworkError } from '../client/errors.js';
import type { SyncContext } from './context.js';

export type ObjectResult = 'copied' | 'unchanged' | 'deleted';

import { sleep } from '../worker/sleep.js';

export async function syncObject(ctx: SyncContext, bucket: string, key: string, signal?: AbortSignal): Promise<ObjectResult> {
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
