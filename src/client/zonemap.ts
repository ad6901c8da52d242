/**
 * Region (zonegroup) map parsing and source/destination resolution. Hammer-era maps key zones by
 * name; Pacific keys zonegroups and master_zone by id and adds ids on zones: resolve by either.
 * Reef and later have no region map: the current period's map says the same.
 */
import { AgentError } from './errors.js';

export interface MapZone { id: string; name: string; endpoints: string[]; logMeta: boolean; logData: boolean }
export interface MapZonegroup { key: string; name: string; isMaster: boolean; masterZone: string; zones: MapZone[] }
/** `crossCluster`: the source is a zone of another cluster (resolved in its own map), not of the destination's realm. */
export interface ResolvedZones { zonegroup: MapZonegroup; source: MapZone; destination: MapZone; sourceEndpoint: string; crossCluster?: boolean }

export class ZoneMapError extends AgentError {}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** Pacific writes booleans as "true"/"false", Reef and later as JSON booleans. */
function flag(v: unknown): boolean {
  return v === 'true' || v === true;
}

function zonegroup(key: string, v: Record<string, unknown>): MapZonegroup {
  const zones = Array.isArray(v.zones) ? (v.zones as Record<string, unknown>[]) : [];
  return {
    key,
    name: str(v.name) || key,
    isMaster: flag(v.is_master),
    masterZone: str(v.master_zone),
    zones: zones.map((z) => ({
      id: str(z.id) || str(z.name),
      name: str(z.name),
      endpoints: Array.isArray(z.endpoints) ? z.endpoints.map(str).filter(Boolean) : [],
      logMeta: flag(z.log_meta),
      logData: flag(z.log_data),
    })),
  };
}

/** The region map of GET /admin/config (Hammer to Pacific). */
export function parseRegionMap(doc: unknown): MapZonegroup[] {
  const regions = (doc as { regions?: unknown })?.regions;
  if (!Array.isArray(regions)) throw new ZoneMapError('the region map has no "regions" list');
  return regions.map((r: { key?: unknown; val?: Record<string, unknown> }) => zonegroup(str(r.key), r.val ?? {}));
}

/** The zonegroups of the current period, GET /admin/realm/period (Reef and later serve no /admin/config). */
export function parsePeriodMap(doc: unknown): MapZonegroup[] {
  const groups = (doc as { period_map?: { zonegroups?: unknown } })?.period_map?.zonegroups;
  if (!Array.isArray(groups)) throw new ZoneMapError('the period has no "period_map.zonegroups" list');
  return groups.map((g: Record<string, unknown>) => zonegroup(str(g.id) || str(g.name), g));
}

/** Same host string and port (80/443 by scheme when absent), as the original agent compares. */
export function sameEndpoint(a: string, b: string): boolean {
  try {
    const ua = new URL(a);
    const ub = new URL(b);
    const port = (u: URL) => u.port || (u.protocol === 'https:' ? '443' : '80');
    return ua.hostname === ub.hostname && port(ua) === port(ub);
  } catch {
    return false;
  }
}

function byIdOrName(zones: MapZone[], ref: string): MapZone | undefined {
  return zones.find((z) => z.id === ref) ?? zones.find((z) => z.name === ref);
}

export function resolveZones(groups: MapZonegroup[], o: { destination: string; source?: string; srcZone?: string; metadataOnly: boolean }): ResolvedZones {
  const all = groups.flatMap((g) => g.zones.map((z) => ({ g, z })));
  const dest = all.find(({ z }) => z.endpoints.some((e) => sameEndpoint(e, o.destination)));
  if (!dest) {
    const known = all.map(({ z }) => `${z.name} (${z.endpoints.join(', ')})`).join('; ');
    throw new ZoneMapError(`destination ${o.destination} is not an endpoint of any zone in its region map: ${known}`);
  }
  let src: { g: MapZonegroup; z: MapZone } | undefined;
  if (o.srcZone) {
    src = all.find(({ z }) => z.name === o.srcZone || z.id === o.srcZone);
    if (!src) throw new ZoneMapError(`src_zone "${o.srcZone}" is not in the region map`);
  } else if (o.source) {
    src = all.find(({ z }) => z.endpoints.some((e) => sameEndpoint(e, o.source!)));
    if (!src) throw new ZoneMapError(`source ${o.source} is not an endpoint of any zone in the region map`);
  } else {
    const master = byIdOrName(dest.g.zones, dest.g.masterZone);
    if (!master) throw new ZoneMapError(`zonegroup ${dest.g.name} names master zone "${dest.g.masterZone}" but has no such zone`);
    src = { g: dest.g, z: master };
  }
  if (src.z === dest.z) throw new ZoneMapError(`source and destination are the same zone (${dest.z.name}): point "destination" at a secondary zone`);
  if (byIdOrName(src.g.zones, src.g.masterZone) !== src.z) throw new ZoneMapError(`source zone ${src.z.name} is not the master zone of zonegroup ${src.g.name}`);
  if (!o.metadataOnly) {
    if (!src.z.logData) throw new ZoneMapError(`source zone ${src.z.name} does not log data (log_data is not "true")`);
    if (src.g !== dest.g) throw new ZoneMapError(`data sync needs both zones in one zonegroup (${src.z.name} is in ${src.g.name}, ${dest.z.name} in ${dest.g.name}); use metadata_only`);
  }
  const sourceEndpoint = o.source ?? src.z.endpoints[0];
  if (!sourceEndpoint) throw new ZoneMapError(`source zone ${src.z.name} has no endpoints`);
  return { zonegroup: dest.g, source: src.z, destination: dest.z, sourceEndpoint };
}

/**
 * A source outside the destination's region map (another cluster, e.g. an embedded zone syncing
 * into Ceph): the destination is found in its own map, the source in the source's map, where it
 * must be a master that logs data.
 */
export function resolveAcrossClusters(destGroups: MapZonegroup[], srcGroups: MapZonegroup[], o: { destination: string; source: string; metadataOnly: boolean }): ResolvedZones {
  const dest = destGroups.flatMap((g) => g.zones.map((z) => ({ g, z }))).find(({ z }) => z.endpoints.some((e) => sameEndpoint(e, o.destination)));
  if (!dest) throw new ZoneMapError(`destination ${o.destination} is not an endpoint of any zone in its region map`);
  const src = srcGroups.flatMap((g) => g.zones.map((z) => ({ g, z }))).find(({ z }) => z.endpoints.some((e) => sameEndpoint(e, o.source)));
  if (!src) throw new ZoneMapError(`source ${o.source} is not an endpoint of any zone in its own region map either`);
  if (byIdOrName(src.g.zones, src.g.masterZone) !== src.z) throw new ZoneMapError(`source zone ${src.z.name} is not the master zone of its zonegroup ${src.g.name}`);
  if (!o.metadataOnly && !src.z.logData) throw new ZoneMapError(`source zone ${src.z.name} does not log data (log_data is not "true")`);
  return { zonegroup: dest.g, source: src.z, destination: dest.z, sourceEndpoint: o.source, crossCluster: true };
}
