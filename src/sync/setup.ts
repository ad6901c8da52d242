/** Builds a SyncContext from a validated config: clients for both zones, zone resolution, identity. */
import { PeriodHistory } from './periods.js';
import { AdminApi } from '../client/admin.js';
import { ZoneClient } from '../client/http.js';
import { S3Api } from '../client/s3.js';
import { resolveAcrossClusters, resolveZones, sameEndpoint, type ResolvedZones } from '../client/zonemap.js';
import { chooseCopyMode, hasReplicaLog, probeCapabilities, probeRemoteCopy, type RemoteCopyProbe } from '../client/probe.js';
import { Transfer } from '../client/transfer.js';
import { AgentError } from '../client/errors.js';
import type { AgentConfig } from '../config.js';
import { BucketBackend, FileBackend, MonotonicBounds, ReplicaLogBackend, type BoundBackend } from './bounds.js';
import { agentIdentity, type ReadContext, type SyncContext, type SyncLogger } from './context.js';
import { Accounting } from '../accounting.js';
import { RetryBackoff } from '../worker/retry.js';
import { VersioningWatch } from './versioning.js';
import { ObjectPool } from '../worker/pool.js';
import { isSlowDown } from '../worker/adaptive.js';

export interface SyncSetup { ctx: SyncContext; close(): Promise<void> }

export type { ReadContext };
export interface ReadSetup { ctx: ReadContext; close(): Promise<void> }

/** `mapFrom`: which call gave each zone map (the region map, or the period's on Reef and later). */
interface Connection { src: ZoneClient; dst: ZoneClient; zones: ResolvedZones; lockerId: string; nextOpId: () => string; mapFrom: string }

/** Clients for both zones and the zones resolved from the region map: GETs only. */
async function connect(cfg: AgentConfig, log: SyncLogger, onDestStatus?: (status: number) => void): Promise<Connection> {
  const objectTimeoutMs = cfg.objectSyncTimeout * 1000;
  const { lockerId, nextOpId } = agentIdentity();
  const userAgent = `rgw-agent (${lockerId})`;
  // Request-level debug lines: method, endpoint, path and query, status, time. Never headers, so
  // never a signature or key.
  const onRequest = (endpoint: string) => (i: { method: string; path: string; status?: number; attempt: number; ms: number; error?: string }) => {
    if (log.isDebugEnabled?.() === false) return;
    log.debug(`${i.method} ${endpoint}${i.path} -> ${i.status ?? i.error} in ${i.ms}ms${i.attempt > 1 ? ` (attempt ${i.attempt})` : ''}`);
  };
  const clientFor = (endpoint: string, accessKey: string, secretKey: string, onStatus?: (status: number) => void) => {
    const logRequest = onRequest(endpoint);
    return new ZoneClient({
      endpoint, credentials: { accessKey, secretKey }, signature: cfg.signature,
      // Copies in flight, plus room for listings, locks and bounds beside them.
      bodyTimeoutMs: objectTimeoutMs, connections: cfg.objectConcurrency + 4 * cfg.numWorkers, userAgent,
      onRequest: (i) => { logRequest(i); if (i.status !== undefined) onStatus?.(i.status); },
    });
  };
  const dst = clientFor(cfg.destination, cfg.destAccessKey, cfg.destSecretKey, onDestStatus);
  let src: ZoneClient | undefined;
  try {
    const { from, groups: destMap } = await new AdminApi(dst).zoneMap();
    const mapFrom = [`${cfg.destination} ${from}`];
    let zones: ResolvedZones;
    if (cfg.source && !destMap.some((g) => g.zones.some((z) => z.endpoints.some((e) => sameEndpoint(e, cfg.source!))))) {
      // Another cluster: the source is described by its own region map.
      src = clientFor(cfg.source, cfg.srcAccessKey, cfg.srcSecretKey);
      const srcMap = await new AdminApi(src).zoneMap();
      mapFrom.push(`${cfg.source} ${srcMap.from}`);
      zones = resolveAcrossClusters(destMap, srcMap.groups, { destination: cfg.destination, source: cfg.source, metadataOnly: cfg.metadataOnly });
    } else {
      zones = resolveZones(destMap, { destination: cfg.destination, source: cfg.source, srcZone: cfg.srcZone, metadataOnly: cfg.metadataOnly });
      src = clientFor(zones.sourceEndpoint, cfg.srcAccessKey, cfg.srcSecretKey);
    }
    log.debug(`zone map from ${mapFrom.join('; ')}`);
    return { src, dst, zones, lockerId, nextOpId, mapFrom: mapFrom.join('; ') };
  } catch (e) {
    await Promise.all([dst.close(), src?.close()]);
    throw e;
  }
}

function backendFor(kind: 'replica-log' | 'bucket' | 'file', cfg: AgentConfig, dst: AdminApi, dstS3: S3Api, readOnly: boolean): BoundBackend {
  return kind === 'replica-log' ? new ReplicaLogBackend(dst)
    : kind === 'bucket' ? new BucketBackend(dstS3, cfg.stateBucket)
      : new FileBackend(cfg.stateFile!, { readOnly });
}

/** For status and verify: zones, clients and the bound store, found without a single write. */
export async function createReadContext(cfg: AgentConfig, log: SyncLogger): Promise<ReadSetup> {
  const c = await connect(cfg, log);
  const close = async () => { await Promise.all([c.src.close(), c.dst.close()]); };
  try {
    const dst = new AdminApi(c.dst);
    const dstS3 = new S3Api(c.dst);
    const kind = cfg.stateStore !== 'auto' ? cfg.stateStore : cfg.stateFile ? 'file' : await hasReplicaLog(dst) ? 'replica-log' : 'bucket';
    const src = new AdminApi(c.src);
    const ctx: ReadContext = { cfg, src, dst, srcS3: new S3Api(c.src), dstS3, zones: c.zones, bounds: new MonotonicBounds(backendFor(kind, cfg, dst, dstS3, true)), periods: new PeriodHistory(src) };
    return { ctx, close };
  } catch (e) {
    await close();
    throw e;
  }
}

export async function createSyncContext(cfg: AgentConfig, log: SyncLogger, stop: AbortSignal = new AbortController().signal): Promise<SyncSetup> {
  const objects = new ObjectPool(() => cfg.objectConcurrency, Date.now, (limit, max, cause) => {
    const why = cause === 'slowdown' ? 'the destination asked to slow down: 503/SlowDown' : cause === 'reloaded' ? 'object_concurrency reloaded' : 'the destination keeps up';
    const line = `object copies in parallel: now ${limit} of at most ${max} (${why})`;
    // A cut matters at 3 a.m.; the climb back is one step per line, so only its end is told.
    if (cause === 'slowdown') log.warn(line);
    else if (limit === max) log.info(line);
    else log.debug(line);
  });
  const c = await connect(cfg, log, (status) => { if (isSlowDown(status)) objects.slowDown(); });
  const { zones, lockerId, nextOpId, mapFrom } = c;
  const srcClient = c.src;
  const dstClient = c.dst;
  const dst = new AdminApi(dstClient);
  try {
    const caps = await probeCapabilities(dst, zones.destination.id, lockerId);
    const yes = (b: boolean) => (b ? 'available' : 'not available');
    log.info(`destination capability replica_log: ${yes(caps.replicaLog)}`);
    log.info(`destination capability opstate: ${yes(caps.opState)}`);
    log.info(`destination capability data-log locks: ${yes(caps.dataLogLocks)}`);
    log.info(`destination capability metadata-log locks: ${yes(caps.metadataLogLocks)}`);
    const srcS3 = new S3Api(srcClient);
    const dstS3 = new S3Api(dstClient);
    let probe: RemoteCopyProbe | undefined;
    // Gateways with op state (embedded zone, radosgw-agent era) copy; the others are asked by trying.
    if (!caps.opState && cfg.copyMode !== 'stream') {
      probe = await probeRemoteCopy(srcS3, dstS3, cfg.stateBucket, zones.source.id, 'rgw-agent', lockerId);
      caps.remoteCopy = probe.works;
    }
    log.info(`destination capability remote copy: ${yes(caps.remoteCopy)}${probe ? ` (${probe.why})` : caps.opState ? '' : ' (not probed: copy_mode is stream)'}`);

    const storeKind = cfg.stateStore !== 'auto' ? cfg.stateStore : cfg.stateFile ? 'file' : caps.replicaLog ? 'replica-log' : 'bucket';
    if (storeKind === 'replica-log' && !caps.replicaLog) throw new AgentError(`state_store replica-log: the destination has no /admin/replica_log (405); use state_store bucket or file`);
    const backend = backendFor(storeKind, cfg, dst, dstS3, false);
    const { mode: copyMode, note } = chooseCopyMode(cfg.copyMode, caps);
    if (note) log.warn(note);
    log.info(`using state store ${storeKind}${storeKind === 'bucket' ? ` (bucket ${cfg.stateBucket} on the destination)` : storeKind === 'file' ? ` (${cfg.stateFile})` : ''}, copy mode ${copyMode}`);
    if (!caps.dataLogLocks && !cfg.metadataOnly) {
      log.warn(cfg.shards
        ? `data-log locks are not available: this agent syncs data shards ${cfg.shards.length === 1 ? cfg.shards[0] : `${cfg.shards[0]}..${cfg.shards.at(-1)} (${cfg.shards.length})`} only; give other agents disjoint shards`
        : 'data-log locks are not available on the destination: run one agent per destination, or split data shards between agents with --shards');
    }
    const src = new AdminApi(srcClient);
    const ctx: SyncContext = {
      cfg, src, dst, srcS3, dstS3, zones, opState: caps.opState,
      bounds: new MonotonicBounds(backend), periods: new PeriodHistory(src), log, acct: new Accounting(), backoff: new RetryBackoff(), lockerId, nextOpId, clientId: 'rgw-agent', stop,
      copyMode, transfer: new Transfer(srcClient, dstClient, cfg.multipartThreshold, cfg.objectSyncTimeout * 1000), owners: new Map(),
      dataShards: cfg.shards ? new Set(cfg.shards) : undefined, dataLocks: caps.dataLogLocks,
      versioning: new VersioningWatch((instance) => src.getMetadata('bucket.instance', instance), (m) => log.info(m)),
      objects,
    };
    log.info(`syncing ${zones.source.name} (${zones.sourceEndpoint}) -> ${zones.destination.name} (${cfg.destination}) in zonegroup ${zones.zonegroup.name}${cfg.metadataOnly ? ', metadata only' : ''}; zone map from ${mapFrom}; locker ${lockerId}`);
    return { ctx, close: async () => { await Promise.all([srcClient.close(), dstClient.close()]); } };
  } catch (e) {
    await Promise.all([dstClient.close(), srcClient.close()]);
    throw e;
  }
}
