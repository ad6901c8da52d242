import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/** The realm file: one zonegroup shared by every zone, like an RGW period. */
export interface RealmZone { name: string; endpoint: string; host: string; port: number }
export interface Realm {
  zonegroup: string;
  masterZone: string;
  zones: RealmZone[];
  systemUser: { uid: string; accessKey: string; secretKey: string };
  metadataLogShards: number;
  dataLogShards: number;
  dataLogWindowSeconds: number;
}

export class RealmError extends Error {}

const KNOWN_KEYS = new Set([
  'zonegroup', 'master_zone', 'zones', 'system_user',
  'metadata_log_shards', 'data_log_shards', 'data_log_window',
]);

function str(obj: Record<string, unknown>, key: string, where: string): string {
  const v = obj[key];
  if (typeof v !== 'string' || v.length === 0) throw new RealmError(`${where}: "${key}" must be a non-empty string`);
  return v;
}

function positiveInt(obj: Record<string, unknown>, key: string, dflt: number, min: number): number {
  const v = obj[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new RealmError(`realm file: "${key}" must be an integer >= ${min}`);
  }
  return v;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseRealm(text: string, source = 'realm file'): Realm {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new RealmError(`${source}: not valid YAML (${(e as Error).message.split('\n')[0]})`);
  }
  if (!isRecord(doc)) throw new RealmError(`${source}: expected a mapping at the top level`);
  for (const k of Object.keys(doc)) {
    if (!KNOWN_KEYS.has(k)) throw new RealmError(`${source}: unknown key "${k}"`);
  }
  const zonegroup = str(doc, 'zonegroup', source);
  const masterZone = str(doc, 'master_zone', source);
  if (!isRecord(doc.zones) || Object.keys(doc.zones).length === 0) {
    throw new RealmError(`${source}: "zones" must map zone names to { endpoint: URL }`);
  }
  const zones: RealmZone[] = [];
  for (const [name, z] of Object.entries(doc.zones)) {
    if (!isRecord(z)) throw new RealmError(`${source}: zone "${name}" must be a mapping with "endpoint"`);
    const endpoint = str(z, 'endpoint', `${source}: zone "${name}"`);
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new RealmError(`${source}: zone "${name}" endpoint "${endpoint}" is not a URL`);
    }
    if (url.protocol !== 'http:') throw new RealmError(`${source}: zone "${name}" endpoint must be http:// (the embedded zone serves plain HTTP)`);
    const port = url.port ? Number(url.port) : 80;
    zones.push({ name, endpoint: endpoint.replace(/\/+$/, ''), host: url.hostname.replace(/^\[|\]$/g, ''), port });
  }
  if (!zones.some((z) => z.name === masterZone)) {
    throw new RealmError(`${source}: master_zone "${masterZone}" is not one of the zones (${zones.map((z) => z.name).join(', ')})`);
  }
  if (!isRecord(doc.system_user)) throw new RealmError(`${source}: "system_user" must be { uid, access_key, secret_key }`);
  const su = doc.system_user;
  return {
    zonegroup,
    masterZone,
    zones,
    systemUser: {
      uid: str(su, 'uid', `${source}: system_user`),
      accessKey: str(su, 'access_key', `${source}: system_user`),
      secretKey: str(su, 'secret_key', `${source}: system_user`),
    },
    metadataLogShards: positiveInt(doc, 'metadata_log_shards', 64, 1),
    dataLogShards: positiveInt(doc, 'data_log_shards', 128, 1),
    dataLogWindowSeconds: positiveInt(doc, 'data_log_window', 0, 0),
  };
}

export function loadRealm(path: string): Realm {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new RealmError(`cannot read realm file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseRealm(text, `realm file ${path}`);
}

export function findZone(realm: Realm, name: string): RealmZone {
  const z = realm.zones.find((zz) => zz.name === name);
  if (!z) throw new RealmError(`zone "${name}" is not in the realm (zones: ${realm.zones.map((zz) => zz.name).join(', ')})`);
  return z;
}

/**
 * What a period is committed for: the part of the realm file every zone must agree on. Shard
 * counts and the system user stay out (the secret must never reach the database or an answer).
 */
export interface PeriodConfig {
  zonegroup: string;
  masterZone: string;
  zones: { name: string; endpoint: string }[];
}

/** Zones sorted by name, so reordering the realm file does not commit a new period. */
export function periodConfig(realm: Realm): PeriodConfig {
  return {
    zonegroup: realm.zonegroup,
    masterZone: realm.masterZone,
    zones: realm.zones.map((z) => ({ name: z.name, endpoint: z.endpoint })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
}
