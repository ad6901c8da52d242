/**
 * /admin/realm and /admin/realm/period: the realm and its periods as RGW Pacific answers them. A
 * period's map is built from the config it was committed for, so an old period shows the zones it
 * had, not today's realm file.
 */
import { createHash } from 'node:crypto';
import { HttpError, sendJson, type RequestContext } from '../http.js';
import type { ZoneContext } from '../context.js';
import type { Period } from '../store.js';
import { NO_QUOTA, zonegroupInfo } from './config.js';

/** RGW's gen_short_zone_id: the first four bytes of MD5(zone id), little-endian, at least 1. */
export function shortZoneId(zoneId: string): number {
  return Math.max(createHash('md5').update(zoneId).digest().readUInt32LE(0), 1);
}

/** The realm has no id or name of its own in the realm file; the zonegroup stands for both, as in /admin/config's realm_id. */
export function periodDoc(p: Period, realm: { id: string; name: string }): Record<string, unknown> {
  const { config } = p;
  return {
    id: p.id,
    // A period's epoch counts `period update`s without a commit; every embedded period is committed at once.
    epoch: 1,
    predecessor_uuid: p.predecessor,
    sync_status: [],
    period_map: {
      id: p.id,
      zonegroups: [{ ...zonegroupInfo(config), sync_policy: { groups: [] } }],
      short_zone_ids: config.zones.map((z) => ({ key: z.name, val: shortZoneId(z.name) })),
    },
    master_zonegroup: config.zonegroup,
    master_zone: config.masterZone,
    period_config: { bucket_quota: NO_QUOTA, user_quota: NO_QUOTA },
    realm_id: realm.id,
    realm_name: realm.name,
    realm_epoch: p.realm_epoch,
  };
}

export function handleRealm(ctx: RequestContext, zc: ZoneContext, sub: string): void {
  if (sub !== '' && sub !== 'period') throw new HttpError(405, 'MethodNotAllowed', `unknown admin resource realm/${sub}`);
  if (ctx.req.method !== 'GET') throw new HttpError(405, 'MethodNotAllowed');
  const realm = { id: zc.realm.zonegroup, name: zc.realm.zonegroup };
  const current = zc.store.currentPeriod();
  if (sub === '') return sendJson(ctx.res, 200, { id: realm.id, name: realm.name, current_period: current.id, epoch: current.realm_epoch });
  sendJson(ctx.res, 200, periodDoc(zc.store.resolvePeriod(ctx.url.query.get('period_id')), realm));
}
