/** /admin/log: metadata, data and bucket-index logs (list, info, trim) and shard locks. */
import { HttpError, intParam, requireParam, sendEmpty, sendJson, type RequestContext } from '../http.js';
import type { ZoneContext } from '../context.js';
import type { LogType } from '../store.js';

const MAX_ENTRIES = 1000;

function shardParam(ctx: RequestContext, zc: ZoneContext, type: LogType): number {
  const raw = requireParam(ctx.url.query, 'id');
  if (!/^\d+$/.test(raw)) throw new HttpError(400, 'InvalidArgument', 'id must be a shard number');
  const shard = Number(raw);
  if (shard >= zc.store.logShards(type)) throw new HttpError(400, 'InvalidArgument', `shard ${shard} out of range`);
  return shard;
}

export async function handleLog(ctx: RequestContext, zc: ZoneContext): Promise<void> {
  const { query } = ctx.url;
  const method = ctx.req.method ?? 'GET';
  const type = query.get('type');
  if (type === 'bucket-index') return handleBilog(ctx, zc, method);
  if (type !== 'metadata' && type !== 'data') throw new HttpError(400, 'InvalidArgument', 'type must be metadata, data or bucket-index');

  if (method === 'POST' && (query.has('lock') || query.has('unlock'))) return handleLock(ctx, zc, type);
  if (method === 'POST' && query.has('notify')) return sendEmpty(ctx.res);
  // RGW keeps a metadata log per period (absent or empty: the current one); the data log has none.
  const period = type === 'metadata' ? query.get('period') : undefined;
  if (method === 'DELETE') {
    const shard = shardParam(ctx, zc, type);
    const upTo = query.get('end-marker') ?? query.get('marker');
    if (!upTo) throw new HttpError(400, 'InvalidArgument', 'trim needs marker (or end-marker)');
    zc.store.trimLog(type, shard, upTo, period);
    return sendEmpty(ctx.res);
  }
  if (method !== 'GET') throw new HttpError(405, 'MethodNotAllowed');

  if (!query.has('id') && query.has('heads')) return sendJson(ctx.res, 200, { heads: zc.store.logHeads(type, period ?? undefined) });
  if (!query.has('id')) {
    const body: Record<string, unknown> = { num_objects: zc.store.logShards(type) };
    if (type === 'metadata') {
      const current = zc.store.currentPeriod();
      Object.assign(body, { period: current.id, realm_epoch: current.realm_epoch });
    }
    return sendJson(ctx.res, 200, body);
  }
  const shard = shardParam(ctx, zc, type);
  if (query.has('info')) return sendJson(ctx.res, 200, zc.store.logShardInfo(type, shard, period));
  const max = Math.max(1, intParam(query, 'max-entries', MAX_ENTRIES, MAX_ENTRIES));
  const marker = query.get('marker');
  const page = type === 'metadata' ? zc.store.listMdlog(shard, marker, max, period) : zc.store.listDatalog(shard, marker, max);
  const last = page.entries.at(-1);
  const entries = type === 'metadata' ? page.entries : page.entries.map(({ id: _id, ...e }) => e);
  return sendJson(ctx.res, 200, { marker: last ? last.id : '', truncated: page.truncated, entries });
}

function handleLock(ctx: RequestContext, zc: ZoneContext, type: LogType): void {
  const { query } = ctx.url;
  const shard = shardParam(ctx, zc, type);
  const locker = requireParam(query, 'locker-id');
  const zoneId = requireParam(query, 'zone-id');
  if (query.has('lock')) {
    const length = requireParam(query, 'length');
    if (!/^\d+$/.test(length) || Number(length) === 0) throw new HttpError(400, 'InvalidArgument', 'length must be a positive number of seconds');
    if (!zc.store.lock(type, shard, zoneId, locker, Number(length))) throw new HttpError(423, 'Locked', `shard ${type}/${shard} is locked by another locker`);
    return sendEmpty(ctx.res);
  }
  if (!zc.store.unlock(type, shard, zoneId, locker)) throw new HttpError(404, 'NoSuchKey', 'this locker does not hold the lock');
  sendEmpty(ctx.res);
}

function handleBilog(ctx: RequestContext, zc: ZoneContext, method: string): void {
  const { query } = ctx.url;
  const raw = requireParam(query, 'bucket-instance');
  // Embedded buckets have one index shard; accept an explicit ":0" suffix as Pacific clients send it.
  const instance = /^(.+:.+):0$/.test(raw) && !zc.store.instanceExists(raw) ? raw.slice(0, -2) : raw;
  if (!zc.store.instanceExists(instance)) throw new HttpError(404, 'NoSuchBucket', `no bucket instance ${raw}`);
  if (method === 'DELETE') {
    const upTo = query.get('end-marker') ?? query.get('marker');
    if (!upTo) throw new HttpError(400, 'InvalidArgument', 'trim needs marker (or end-marker)');
    zc.store.trimBilog(instance, upTo);
    return sendEmpty(ctx.res);
  }
  if (method !== 'GET') throw new HttpError(405, 'MethodNotAllowed');
  if (query.has('info')) return sendJson(ctx.res, 200, zc.store.bilogInfo(instance));
  const max = Math.max(1, intParam(query, 'max-entries', MAX_ENTRIES, MAX_ENTRIES));
  sendJson(ctx.res, 200, zc.store.listBilog(instance, query.get('marker'), max));
}
