/**
 * Agent configuration: a YAML file with radosgw-agent's key names, the same names as --kebab-case
 * flags (flags win), secrets also from the environment. Validated into one AgentConfig; any
 * problem is one error naming the key.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export interface AgentConfig {
  srcAccessKey: string;
  srcSecretKey: string;
  destAccessKey: string;
  destSecretKey: string;
  destination: string;
  source?: string;
  srcZone?: string;
  metadataOnly: boolean;
  /** Full sync removes from the destination what the source no longer has. */
  delete: boolean;
  numWorkers: number;
  maxEntries: number;
  lockTimeout: number;
  incrementalSyncDelay: number;
  objectSyncTimeout: number;
  prepareErrorDelay: number;
  rgwDataLogWindow: number;
  logFile?: string;
  syncScope: 'full' | 'incremental';
  signature: 'v4' | 'v2';
  objectConcurrency: number;
  stopTimeout: number;
  stateStore: 'auto' | 'replica-log' | 'bucket' | 'file';
  stateBucket: string;
  stateFile?: string;
  copyMode: 'auto' | 'remote' | 'stream';
  shards?: number[];
  multipartThreshold: number;
  metricsPort?: number;
  metricsHost: string;
  trimSourceLogs: boolean;
  trimInterval: number;
  idlePollMax: number;
}

export class ConfigError extends Error {}

type Kind = 'string' | 'secret' | 'url' | 'bool' | 'posint' | 'nonnegint' | 'nonnegnum' | 'scope' | 'signature' | 'choice' | 'shards';
interface KeySpec { kind: Kind; dflt?: unknown; describe: string; choices?: string[] }

/** Defaults are tuned for low lag: the old agent slept 30 s + 30 s between passes. */
export const CONFIG_KEYS: Record<string, KeySpec> = {
  src_access_key: { kind: 'string', describe: 'Source zone system user access key (env RGW_AGENT_SRC_ACCESS_KEY)' },
  src_secret_key: { kind: 'secret', describe: 'Source zone system user secret key (env RGW_AGENT_SRC_SECRET_KEY)' },
  dest_access_key: { kind: 'string', describe: 'Destination zone system user access key (env RGW_AGENT_DEST_ACCESS_KEY)' },
  dest_secret_key: { kind: 'secret', describe: 'Destination zone system user secret key (env RGW_AGENT_DEST_SECRET_KEY)' },
  destination: { kind: 'url', describe: 'Destination zone endpoint URL (must be an endpoint of a zone in its region map)' },
  source: { kind: 'url', describe: 'Source endpoint URL (default: the master zone of the destination\'s zonegroup)' },
  src_zone: { kind: 'string', describe: 'Source zone by name instead of by URL' },
  metadata_only: { kind: 'bool', dflt: false, describe: 'Sync users and buckets only, no objects' },
  delete: { kind: 'bool', dflt: true, describe: 'Full sync also removes users, buckets and objects the source no longer has (--no-delete: additive full sync; deletes logged by the source are still replayed)' },
  num_workers: { kind: 'posint', dflt: 4, describe: 'Log shards worked on in parallel' },
  max_entries: { kind: 'posint', dflt: 1000, describe: 'Log entries read per page (and per bound write)' },
  lock_timeout: { kind: 'posint', dflt: 30, describe: 'Shard lock lease in seconds; renewed every third of it' },
  incremental_sync_delay: { kind: 'nonnegnum', dflt: 0.5, describe: 'Seconds between incremental passes (fractions allowed, e.g. 0.5); under load the lag is about this plus the copy time' },
  idle_poll_max: { kind: 'posint', dflt: 20, describe: 'Sources that answer shard heads one request per shard (RGW): a shard whose head has not moved is asked less and less often, up to every this many seconds (a shard that moved is asked every pass). Lower: the first change on an idle shard is seen sooner, at more requests' },
  object_sync_timeout: { kind: 'posint', dflt: 300, describe: 'Seconds one object copy may take (including op-state checks) before it becomes a retry' },
  prepare_error_delay: { kind: 'posint', dflt: 5, describe: 'Seconds to wait after a pass failed to start (zone unreachable)' },
  rgw_data_log_window: { kind: 'nonnegint', dflt: 30, describe: 'The source\'s "rgw data log window" in seconds (Ceph: 30; embedded zone: 0)' },
  log_file: { kind: 'string', describe: 'Also write logs to this file' },
  sync_scope: { kind: 'scope', dflt: 'incremental', describe: 'full or incremental (what "sync" does when bounds exist)' },
  signature: { kind: 'signature', dflt: 'v4', describe: 'Request signing: v4 (default) or v2 for legacy gateways' },
  object_concurrency: { kind: 'posint', dflt: 64, describe: 'Object copies in flight at most, across every bucket and shard (one pool); halved while the destination answers 503/SlowDown and grown back as it keeps up' },
  state_store: { kind: 'choice', choices: ['auto', 'replica-log', 'bucket', 'file'], dflt: 'auto', describe: 'Where sync bounds live: auto (replica-log when the destination has it, else bucket), replica-log, bucket (objects in state_bucket on the destination), file (state_file)' },
  state_bucket: { kind: 'string', dflt: 'rgw-agent-state', describe: 'Bucket for the bucket state store on the destination, and for the trim registry on the source (created on demand; never synced). Agents of one source see each other only when they use the same name' },
  state_file: { kind: 'string', describe: 'Local JSON file for the file state store' },
  copy_mode: { kind: 'choice', choices: ['auto', 'remote', 'stream'], dflt: 'auto', describe: 'How objects move: auto (remote where the destination keeps op state, else stream; on Reef and later a working probe copy is reported but stream kept), remote (the destination pulls by the source zone id), stream (the agent relays)' },
  shards: { kind: 'shards', describe: 'Data-log shards this agent syncs, e.g. "0-63" or "0-31,96-127" (default all); for splitting work where data-log locks are gone' },
  multipart_threshold: { kind: 'posint', dflt: 128 * 1024 * 1024, describe: 'Stream copy: objects larger than this many bytes go up as multipart uploads' },
  stop_timeout: { kind: 'posint', dflt: 30, describe: 'Seconds in-flight work may take to finish after SIGTERM/SIGINT' },
  metrics_port: { kind: 'nonnegint', describe: 'Serve Prometheus /metrics and /healthz on this port (127.0.0.1 unless metrics_host)' },
  metrics_host: { kind: 'string', dflt: '127.0.0.1', describe: 'Address for the metrics server (0.0.0.0 for all)' },
  trim_source_logs: { kind: 'bool', dflt: false, describe: 'Trim the source\'s metadata, data and bucket-index logs behind the lowest bound of every agent registered for that source (registry in state_bucket on the source). Leave off while Ceph\'s own multisite sync, or anything else that is not a registered agent, reads these logs' },
  trim_interval: { kind: 'posint', dflt: 600, describe: 'Seconds between trim rounds; also how often every agent refreshes its registration (its bounds) on the source' },
};

const ENV: Record<string, string> = {
  src_access_key: 'RGW_AGENT_SRC_ACCESS_KEY',
  src_secret_key: 'RGW_AGENT_SRC_SECRET_KEY',
  dest_access_key: 'RGW_AGENT_DEST_ACCESS_KEY',
  dest_secret_key: 'RGW_AGENT_DEST_SECRET_KEY',
};

function coerce(key: string, spec: KeySpec, v: unknown, origin: string): unknown {
  const bad = (what: string) => new ConfigError(`${origin}: "${key}" ${what}`);
  switch (spec.kind) {
    case 'string':
    case 'secret':
      if (typeof v !== 'string' || v === '') throw bad('must be a non-empty string');
      return v;
    case 'url': {
      if (typeof v !== 'string') throw bad('must be a URL like http://host:port');
      let u: URL;
      try { u = new URL(v); } catch { throw bad(`must be a URL like http://host:port (got "${v}")`); }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw bad('must start with http:// or https://');
      return u.origin;
    }
    case 'bool':
      if (typeof v === 'boolean') return v;
      if (v === 'true' || v === 'false') return v === 'true';
      throw bad('must be true or false');
    case 'posint':
    case 'nonnegint': {
      const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
      const min = spec.kind === 'posint' ? 1 : 0;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < min) throw bad(`must be an integer >= ${min}`);
      return n;
    }
    case 'nonnegnum': {
      const n = typeof v === 'string' && /^\d+(\.\d+)?$/.test(v) ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw bad('must be a number >= 0 (seconds, e.g. 0.5)');
      return n;
    }
    case 'scope':
      if (v !== 'full' && v !== 'incremental') throw bad('must be "full" or "incremental"');
      return v;
    case 'signature':
      if (v !== 'v4' && v !== 'v2') throw bad('must be "v4" or "v2"');
      return v;
    case 'choice':
      if (typeof v !== 'string' || !spec.choices!.includes(v)) throw bad(`must be one of ${spec.choices!.join(', ')}`);
      return v;
    case 'shards':
      return parseShardList(String(v), bad);
  }
}

/** "0-63" or "0,5,7-9" -> sorted shard numbers. */
export function parseShardList(v: string, bad: (what: string) => Error = (w) => new ConfigError(w)): number[] {
  const out = new Set<number>();
  for (const part of v.split(',').map((x) => x.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw bad(`must be shard numbers and ranges like "0-63" or "0,5,7-9" (got "${v}")`);
    const [a, b] = [Number(m[1]), Number(m[2] ?? m[1])];
    if (b < a) throw bad(`has a backwards range "${part}"`);
    for (let i = a; i <= b; i++) out.add(i);
  }
  if (out.size === 0) throw bad('names no shard');
  return [...out].sort((x, y) => x - y);
}

export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`config file ${path} must be a mapping of keys to values`);
  return doc as Record<string, unknown>;
}

/**
 * Merges file < environment (secrets) < flags. `flags` uses the config key names (underscores);
 * undefined values are "not given".
 */
export function buildConfig(file: Record<string, unknown>, flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env, filePath = 'config file'): AgentConfig {
  const merged: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(file)) {
    const spec = CONFIG_KEYS[k];
    if (!spec) throw new ConfigError(`${filePath}: unknown key "${k}" (known keys: ${Object.keys(CONFIG_KEYS).join(', ')})`);
    merged[k] = coerce(k, spec, v, filePath);
  }
  for (const [k, name] of Object.entries(ENV)) {
    const v = env[name];
    if (v !== undefined && v !== '') merged[k] = coerce(k, CONFIG_KEYS[k], v, `environment ${name}`);
  }
  for (const [k, v] of Object.entries(flags)) {
    if (v === undefined) continue;
    const spec = CONFIG_KEYS[k];
    if (!spec) throw new ConfigError(`unknown option --${k.replace(/_/g, '-')}`);
    merged[k] = coerce(k, spec, v, `--${k.replace(/_/g, '-')}`);
  }
  for (const [k, spec] of Object.entries(CONFIG_KEYS)) if (merged[k] === undefined && spec.dflt !== undefined) merged[k] = spec.dflt;
  for (const k of ['src_access_key', 'src_secret_key', 'dest_access_key', 'dest_secret_key', 'destination']) {
    if (merged[k] === undefined) throw new ConfigError(`"${k}" is required (config file, --${k.replace(/_/g, '-')}${ENV[k] ? ` or ${ENV[k]}` : ''})`);
  }
  if (merged.source !== undefined && merged.src_zone !== undefined) throw new ConfigError('"source" and "src_zone" are mutually exclusive');
  if (merged.state_store === 'file' && merged.state_file === undefined) throw new ConfigError('"state_store: file" needs "state_file" (a path)');
  return {
    srcAccessKey: merged.src_access_key as string,
    srcSecretKey: merged.src_secret_key as string,
    destAccessKey: merged.dest_access_key as string,
    destSecretKey: merged.dest_secret_key as string,
    destination: merged.destination as string,
    source: merged.source as string | undefined,
    srcZone: merged.src_zone as string | undefined,
    metadataOnly: merged.metadata_only as boolean,
    delete: merged.delete as boolean,
    numWorkers: merged.num_workers as number,
    maxEntries: Math.min(merged.max_entries as number, 1000),
    lockTimeout: merged.lock_timeout as number,
    incrementalSyncDelay: merged.incremental_sync_delay as number,
    objectSyncTimeout: merged.object_sync_timeout as number,
    prepareErrorDelay: merged.prepare_error_delay as number,
    rgwDataLogWindow: merged.rgw_data_log_window as number,
    logFile: merged.log_file as string | undefined,
    syncScope: merged.sync_scope as 'full' | 'incremental',
    signature: merged.signature as 'v4' | 'v2',
    objectConcurrency: merged.object_concurrency as number,
    stopTimeout: merged.stop_timeout as number,
    stateStore: merged.state_store as AgentConfig['stateStore'],
    stateBucket: merged.state_bucket as string,
    stateFile: merged.state_file as string | undefined,
    copyMode: merged.copy_mode as AgentConfig['copyMode'],
    shards: merged.shards as number[] | undefined,
    multipartThreshold: merged.multipart_threshold as number,
    metricsPort: merged.metrics_port as number | undefined,
    metricsHost: merged.metrics_host as string,
    trimSourceLogs: merged.trim_source_logs as boolean,
    trimInterval: merged.trim_interval as number,
    idlePollMax: merged.idle_poll_max as number,
  };
}

/** Settings a running agent picks up on SIGHUP; the rest (keys, endpoints, ports) need a restart. */
const RELOADABLE: (keyof AgentConfig)[] = [
  'numWorkers', 'maxEntries', 'lockTimeout', 'incrementalSyncDelay', 'objectSyncTimeout', 'prepareErrorDelay',
  'rgwDataLogWindow', 'objectConcurrency', 'stopTimeout', 'trimSourceLogs', 'trimInterval', 'idlePollMax',
];

/** Applies the reloadable settings of `next` to `current` in place; reports what changed and what was ignored. */
export function reloadConfig(current: AgentConfig, next: AgentConfig): { changed: string[]; needsRestart: string[] } {
  const changed: string[] = [];
  const needsRestart: string[] = [];
  for (const k of Object.keys(next) as (keyof AgentConfig)[]) {
    if (current[k] === next[k]) continue;
    const secret = k.endsWith('SecretKey') || k.endsWith('AccessKey');
    if (RELOADABLE.includes(k)) {
      changed.push(`${k} ${String(current[k])} -> ${String(next[k])}`);
      (current as unknown as Record<string, unknown>)[k] = next[k];
    } else {
      needsRestart.push(secret ? k : `${k} (${String(current[k])} -> ${String(next[k])})`);
    }
  }
  return { changed, needsRestart };
}
