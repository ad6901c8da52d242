/** /admin/replica_log: sync bounds kept on the destination for the agent (one entity per record). */
import { HttpError, parseJsonBody, readSmallBody, requireParam, sendEmpty, sendJson, type RequestContext } from '../http.js';
import type { ZoneContext } from '../context.js';

function entityOf(ctx: RequestContext): { type: string; entity: string } {
  const { query } = ctx.url;
  const type = requireParam(query, 'type');
  if (type === 'bucket-index') return { type, entity: requireParam(query, 'bucket-instance') };
  if (type !== 'metadata' && type !== 'data') throw new HttpError(400, 'InvalidArgument', 'type must be metadata, data or bucket-index');
  const id = requireParam(query, 'id');
  if (!/^\d+$/.test(id)) throw new HttpError(400, 'InvalidArgument', 'id must be a shard number');
  return { type, entity: id };
}

function parseItems(body: unknown): { name: string; timestamp: string }[] {
  if (body === undefined) return [];
  if (!Array.isArray(body)) throw new HttpError(400, 'InvalidArgument', 'work_bound body must be a JSON array of {name, timestamp}');
  return body.map((item: unknown) => {
    const o = item as { name?: unknown; timestamp?: unknown; time?: unknown } | null;
    if (typeof o?.name !== 'string') throw new HttpError(400, 'InvalidArgument', 'every retry item needs a string "name"');
    const ts = typeof o.timestamp === 'string' ? o.timestamp : typeof o.time === 'string' ? o.time : '0.000000';
    return { name: o.name, timestamp: ts };
  });
}

export async function handleReplicaLog(ctx: RequestContext, zc: ZoneContext): Promise<void> {
  const { query } = ctx.url;
  const method = ctx.req.method ?? 'GET';
  const { type, entity } = entityOf(ctx);
  if (method === 'GET' && query.has('bounds')) {
    const b = zc.store.getBound(type, entity);
    if (!b) throw new HttpError(404, 'NoSuchKey', `no bound for ${type} ${entity}`);
    return sendJson(ctx.res, 200, {
      marker: b.marker,
      oldest_time: b.time,
      markers: [{ entity: b.daemon_id, position_marker: b.marker, position_time: b.time, items_in_progress: b.items }],
    });
  }
  if (method === 'POST' && query.has('work_bound')) {
    const marker = requireParam(query, 'marker');
    const time = requireParam(query, 'time');
    const daemonId = requireParam(query, 'daemon_id');
    const items = parseItems(parseJsonBody(await readSmallBody(ctx.req, 16 << 20)));
    zc.store.setBound(type, entity, { daemon_id: daemonId, marker, time, items });
    return sendEmpty(ctx.res);
  }
  if (method === 'DELETE' && query.has('work_bound')) {
    zc.store.deleteBound(type, entity, requireParam(query, 'daemon_id'));
    return sendEmpty(ctx.res);
  }
  throw new HttpError(405, 'MethodNotAllowed');
}
