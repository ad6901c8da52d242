/**
 * GET /admin/config: the region map built from the realm file, booleans as strings like RGW. The
 * zonegroup document is shared with the period map of /admin/realm/period.
 */
import type { PeriodConfig } from '../realm.js';

export const NO_QUOTA = { enabled: false, check_on_raw: false, max_size: -1, max_size_kb: 0, max_objects: -1 };

/**
 * One zonegroup as RGW describes it in the region map and in a period map. Zone ids equal names,
 * so both Hammer-style (by name) and Pacific-style (by id) readers resolve zones. Zones are listed
 * in the order given (the realm file's for /admin/config, sorted for a period).
 */
export function zonegroupInfo(zg: PeriodConfig): Record<string, unknown> {
  const master = zg.zones.find((z) => z.name === zg.masterZone);
  return {
    id: zg.zonegroup,
    name: zg.zonegroup,
    api_name: zg.zonegroup,
    is_master: 'true',
    endpoints: master ? [master.endpoint] : [],
    hostnames: [],
    hostnames_s3website: [],
    master_zone: zg.masterZone,
    zones: zg.zones.map((z) => ({
      id: z.name,
      name: z.name,
      endpoints: [z.endpoint],
      log_meta: 'true', // every embedded zone logs metadata and data
      log_data: 'true',
      bucket_index_max_shards: 0,
      read_only: 'false',
      tier_type: '',
      sync_from_all: 'true',
      sync_from: [],
      redirect_zone: '',
    })),
    placement_targets: [{ name: 'default-placement', tags: [], storage_classes: ['STANDARD'] }],
    default_placement: 'default-placement',
    realm_id: zg.zonegroup,
  };
}

export function regionMap(realm: PeriodConfig): Record<string, unknown> {
  return {
    regions: [{ key: realm.zonegroup, val: zonegroupInfo(realm) }],
    master_region: realm.zonegroup,
    bucket_quota: NO_QUOTA,
    user_quota: NO_QUOTA,
  };
}
