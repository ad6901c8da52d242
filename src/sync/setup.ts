/** Builds a SyncContext from a validated config: clients for both zones, zone resolution, identity. */
import { AdminApi } from '../client/admin.js';
import { ZoneClient } from '../client/http.js';
import { S3Api } from '../client/s3.js';
import { parseRegionMap, resolveZones } from '../client/zonemap.js';
import type { AgentConfig } from '../config.js';
import { ReplicaLogBounds } from './bounds.js';
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
  let zones;
  try {
    zones = resolveZones(parseRegionMap(await dst.regionMap()), { destination: cfg.destination, source: cfg.source, srcZone: cfg.srcZone, metadataOnly: cfg.metadataOnly });
  } catch (e) {
    await dstClient.close();
    throw e;
  }
  const srcClient = new ZoneClient({
    endpoint: zones.sourceEndpoint, credentials: { accessKey: cfg.srcAccessKey, secretKey: cfg.srcSecretKey }, signature: cfg.signature,
    connections: Math.max(8, cfg.numWorkers * 4), userAgent, onRequest: onRequest(zones.sourceEndpoint),
  });
  const ctx: SyncContext = {
    cfg, src: new AdminApi(srcClient), dst, srcS3: new S3Api(srcClient), dstS3: new S3Api(dstClient), zones,
    bounds: new ReplicaLogBounds(dst), log, stats: newStats(), backoff: new RetryBackoff(), lockerId, nextOpId, clientId: 'rgw-agent', stop,
  };
  log.info(`syncing ${zones.source.name} (${zones.sourceEndpoint}) -> ${zones.destination.name} (${cfg.destination}) in zonegroup ${zones.zonegroup.name}${cfg.metadataOnly ? ', metadata only' : ''}; locker ${lockerId}`);
  return { ctx, close: async () => { await Promise.all([srcClient.close(), dstClient.close()]); } };
}
