/** Builds a SyncContext from a validated config: clients for both zones, zone resolution, identity. */
import { AdminApi } from '../client/admin.js';
import { ZoneClient } from '../client/http.js';
import { S3Api } from '../client/s3.js';
import { parseRegionMap, resolveAcrossClusters, resolveZones, sameEndpoint, type ResolvedZones } from '../client/zonemap.js';
import { probeCapabilities } from '../client/probe.js';
import { Transfer } from '../client/transfer.js';
import { AgentError } from '../client/errors.js';
import type { AgentConfig } from '../config.js';
import { BucketBackend, FileBackend, MonotonicBounds, ReplicaLogBackend } from './bounds.js';
import { agentIdentity, newStats, type SyncContext, type SyncLogger } from './context.js';
import { RetryBackoff } from '../worker/retry.js';

export interface SyncSetup { ctx: SyncContext; close(): Promise<void> }

export async function createSyncContext(cfg: AgentConfig, log: SyncLogger, stop: AbortSignal = new AbortController().signal): Promise<SyncSetup> {
  const objectTimeoutMs = cfg.objectSyncTimeout * 1000;
  const { lockerId, nextOpId } = agentIdentity();
  const userAgent = `rgw-agent (${lockerId})`;
  // Request-level debug lines: method, endpoint, path and query, status, time. Never headers, so
  // never a signature or key.
  const onRequest = (endpoint: string) => (i: { method: string; path: string; status?: number; attempt: number; ms: number; error?: string }) =>
    log.debug(`${i.method} ${endpoint}${i.path} -> ${i.status ?? i.error} in ${i.ms}ms${i.attempt > 1 ? ` (attempt ${i.attempt})` : ''}`);
  const dstClient = new ZoneClient({
    endpoint: cfg.destination, credentials: { accessKey: cfg.destAccessKey, secretKey: cfg.destSecretKey }, signature: cfg.signature,
    bodyTimeoutMs: objectTimeoutMs, connections: Math.max(8, cfg.numWorkers * cfg.objectConcurrency), userAgent, onRequest: onRequest(cfg.destination),
  });
  const dst = new AdminApi(dstClient);
  const srcClientFor = (endpoint: string) => new ZoneClient({
    endpoint, credentials: { accessKey: cfg.srcAccessKey, secretKey: cfg.srcSecretKey }, signature: cfg.signature,
    bodyTimeoutMs: objectTimeoutMs, connections: Math.max(8, cfg.numWorkers * cfg.objectConcurrency), userAgent, onRequest: onRequest(endpoint),
  });
  let srcClient: ZoneClient | undefined;
  try {
    const destMap = parseRegionMap(await dst.regionMap());
    let zones: ResolvedZones;
    if (cfg.source && !destMap.some((g) => g.zones.some((z) => z.endpoints.some((e) => sameEndpoint(e, cfg.source!))))) {
      // Another cluster: the source is described by its own region map.
      srcClient = srcClientFor(cfg.source);
      zones = resolveAcrossClusters(destMap, parseRegionMap(await new AdminApi(srcClient).regionMap()), { destination: cfg.destination, source: cfg.source, metadataOnly: cfg.metadataOnly });
    } else {
      zones = resolveZones(destMap, { destination: cfg.destination, source: cfg.source, srcZone: cfg.srcZone, metadataOnly: cfg.metadataOnly });
      srcClient = srcClientFor(zones.sourceEndpoint);
    }
    const caps = await probeCapabilities(dst, zones.destination.id, lockerId);
    const yes = (b: boolean) => (b ? 'available' : 'not available');
    log.info(`destination capability replica_log: ${yes(caps.replicaLog)}`);
    log.info(`destination capability opstate: ${yes(caps.opState)}`);
    log.info(`destination capability data-log locks: ${yes(caps.dataLogLocks)}`);
    log.info(`destination capability metadata-log locks: ${yes(caps.metadataLogLocks)}`);
    log.info(`destination capability remote copy: ${caps.remoteCopy ? 'available' : 'not available (a gateway without op state: Ceph Pacific\'s remote copy is broken)'}`);

    const storeKind = cfg.stateStore !== 'auto' ? cfg.stateStore : cfg.stateFile ? 'file' : caps.replicaLog ? 'replica-log' : 'bucket';
    if (storeKind === 'replica-log' && !caps.replicaLog) throw new AgentError(`state_store replica-log: the destination has no /admin/replica_log (405); use state_store bucket or file`);
    const dstS3 = new S3Api(dstClient);
    const backend = storeKind === 'replica-log' ? new ReplicaLogBackend(dst)
      : storeKind === 'bucket' ? new BucketBackend(dstS3, cfg.stateBucket)
        : new FileBackend(cfg.stateFile!);
    const copyMode = cfg.copyMode !== 'auto' ? cfg.copyMode : caps.remoteCopy ? 'remote' : 'stream';
    if (copyMode === 'remote' && !caps.remoteCopy) log.warn('copy_mode remote was asked for, but the destination does not look like it supports remote copy');
    log.info(`using state store ${storeKind}${storeKind === 'bucket' ? ` (bucket ${cfg.stateBucket} on the destination)` : storeKind === 'file' ? ` (${cfg.stateFile})` : ''}, copy mode ${copyMode}`);
    if (!caps.dataLogLocks && !cfg.metadataOnly) {
      log.warn(cfg.shards
        ? `data-log locks are not available: this agent syncs data shards ${cfg.shards.length === 1 ? cfg.shards[0] : `${cfg.shards[0]}..${cfg.shards.at(-1)} (${cfg.shards.length})`} only; give other agents disjoint shards`
        : 'data-log locks are not available on the destination: run one agent per destination, or split data shards between agents with --shards');
    }
    const ctx: SyncContext = {
      cfg, src: new AdminApi(srcClient), dst, srcS3: new S3Api(srcClient), dstS3, zones,
      bounds: new MonotonicBounds(backend), log, stats: newStats(), backoff: new RetryBackoff(), lockerId, nextOpId, clientId: 'rgw-agent', stop,
      copyMode, transfer: new Transfer(srcClient, dstClient, cfg.multipartThreshold, objectTimeoutMs), owners: new Map(),
      dataShards: cfg.shards ? new Set(cfg.shards) : undefined, dataLocks: caps.dataLogLocks,
    };
    log.info(`syncing ${zones.source.name} (${zones.sourceEndpoint}) -> ${zones.destination.name} (${cfg.destination}) in zonegroup ${zones.zonegroup.name}${cfg.metadataOnly ? ', metadata only' : ''}; locker ${lockerId}`);
    const src = srcClient;
    return { ctx, close: async () => { await Promise.all([src.close(), dstClient.close()]); } };
  } catch (e) {
    await Promise.all([dstClient.close(), srcClient?.close()]);
    throw e;
  }
}
