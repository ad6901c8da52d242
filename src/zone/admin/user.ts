/** /admin/user: create, read and remove users the RGW way. Changes go to the metadata log. */
import { randomBytes } from 'node:crypto';
import { HttpError, requireParam, sendEmpty, sendJson, type RequestContext } from '../http.js';
import type { ZoneContext } from '../context.js';
import type { UserData } from '../store.js';

const ACCESS_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function newAccessKey(): string {
  return Array.from(randomBytes(20), (b) => ACCESS_ALPHABET[b % ACCESS_ALPHABET.length]).join('');
}

export function newUserData(uid: string, displayName: string, opts: { email?: string; accessKey?: string; secretKey?: string; system?: boolean }): UserData {
  return {
    user_id: uid,
    display_name: displayName,
    email: opts.email ?? '',
    suspended: 0,
    max_buckets: 1000,
    subusers: [],
    keys: [{ user: uid, access_key: opts.accessKey ?? newAccessKey(), secret_key: opts.secretKey ?? randomBytes(30).toString('base64url').slice(0, 40) }],
    swift_keys: [],
    caps: [],
    op_mask: 'read, write, delete',
    system: opts.system ? 'true' : 'false',
    default_placement: '',
    placement_tags: [],
    type: 'rgw',
  };
}

export function handleUser(ctx: RequestContext, zc: ZoneContext): void {
  const { query } = ctx.url;
  const method = ctx.req.method ?? 'GET';
  const uid = requireParam(query, 'uid');
  if (method === 'GET') {
    const u = zc.store.getUser(uid);
    if (!u) throw new HttpError(404, 'NoSuchUser', `no user ${uid}`);
    return sendJson(ctx.res, 200, u.data);
  }
  if (method === 'PUT') {
    if (zc.store.getUser(uid)) throw new HttpError(409, 'UserAlreadyExists', `user ${uid} exists`);
    const accessKey = query.get('access-key');
    const secretKey = query.get('secret-key');
    if ((accessKey === undefined) !== (secretKey === undefined)) throw new HttpError(400, 'InvalidArgument', 'give both access-key and secret-key, or neither');
    const data = newUserData(uid, requireParam(query, 'display-name'), {
      email: query.get('email'),
      accessKey,
      secretKey,
      system: query.get('system') === 'true',
    });
    zc.store.putUser(data);
    return sendJson(ctx.res, 200, zc.store.getUser(uid)!.data);
  }
  if (method === 'DELETE') {
    if (zc.store.userOwnsBuckets(uid)) throw new HttpError(409, 'Conflict', `user ${uid} still owns buckets`);
    if (!zc.store.deleteUser(uid)) throw new HttpError(404, 'NoSuchUser', `no user ${uid}`);
    return sendEmpty(ctx.res);
  }
  throw new HttpError(405, 'MethodNotAllowed');
}
