/** GET /admin/config: the region map built from the realm file, booleans as strings like RGW. */
import type { Realm } from '../realm.js';

export function regionMap(realm: Realm): Record<string, unknown> {
  const quota = { enabled: false, check_on_raw: false, max_size: -1, max_size_kb: 0, max_objects: -1 };
  const master = realm.zones.find((z) => z.name === realm.masterZone)!;
  return {
    regions: [
      {
        key: realm.zonegroup,
        val: {
          id: realm.zonegroup,
          name: realm.zonegroup,
          api_name: realm.zonegroup,
          is_master: 'true',
          endpoints: [master.endpoint],
          hostnames: [],
          hostnames_s3website: [],
          master_zone: realm.masterZone,
          // Ids equal names, so both Hammer-style (by name) and Pacific-style (by id) readers resolve zones.
          zones: realm.zones.map((z) => ({
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
          realm_id: realm.zonegroup,
        },
      },
    ],
    master_region: realm.zonegroup,
    bucket_quota: quota,
    user_quota: quota,
  };
}
