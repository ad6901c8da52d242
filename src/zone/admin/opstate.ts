/** /admin/opstate: what this zone recorded while running a remote copy. */
import { HttpError, requireParam, sendEmpty, sendJson, type RequestContext } from '../http.js';
import type { ZoneContext } from '../context.js';

const STATES = new Set(['unknown', 'in-progress', 'complete', 'error', 'abort', 'cancelled']);

export function handleOpState(ctx: RequestContext, zc: ZoneContext): void {
  const { query } = ctx.url;
  const method = ctx.req.method ?? 'GET';
  // Later Ceph trees renamed the parameters with underscores; accept both spellings.
  const clientId = query.get('client-id') ?? query.get('client_id');
  const opId = query.get('op-id') ?? query.get('op_id');
  const object = query.get('object');
  if (method === 'GET') {
    const rows = zc.store.getOpState(clientId, opId, object);
    if (rows.length === 0 && (clientId !== undefined || opId !== undefined)) throw new HttpError(404, 'NoSuchKey', 'no such op state');
    return sendJson(ctx.res, 200, rows);
  }
  if (clientId === undefined || opId === undefined || object === undefined) {
    throw new HttpError(400, 'InvalidArgument', 'client-id, op-id and object are required');
  }
  if (method === 'POST') {
    const state = requireParam(query, 'state');
    if (!STATES.has(state)) throw new HttpError(400, 'InvalidArgument', `unknown state ${state}`);
    zc.store.setOpState(clientId, opId, object, state);
    return sendEmpty(ctx.res);
  }
  if (method === 'DELETE') {
    if (!zc.store.deleteOpState(clientId, opId, object)) throw new HttpError(404, 'NoSuchKey', 'no such op state');
    return sendEmpty(ctx.res);
  }
  throw new HttpError(405, 'MethodNotAllowed');
}
