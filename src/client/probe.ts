/**
 * What the destination gateway still offers. Ceph Pacific removed /admin/replica_log,
 * /admin/opstate and data-log locks (405), and its remote copy is broken (403, and a crash when
 * the source object is missing), so it is never probed with a real copy.
 */
import type { AdminApi, LogType } from './admin.js';
import { HttpError, Locked } from './errors.js';

export interface Capabilities {
  replicaLog: boolean;
  opState: boolean;
  dataLogLocks: boolean;
  metadataLogLocks: boolean;
  remoteCopy: boolean;
}

/** 405 = the resource is not there; any other answer (200, 404, 423, ...) = it is. */
async function exists(call: () => Promise<unknown>): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (e) {
    if (e instanceof HttpError) return e.status !== 405 && e.status !== 501;
    throw e;
  }
}

async function canLock(dst: AdminApi, type: LogType, zoneId: string, lockerId: string): Promise<boolean> {
  const probeId = `${lockerId}:probe`;
  try {
    await dst.lock(type, 0, zoneId, probeId, 1);
  } catch (e) {
    if (e instanceof Locked) return true; // someone holds shard 0: locks exist
    if (e instanceof HttpError) return e.status !== 405 && e.status !== 501;
    throw e;
  }
  await dst.unlock(type, 0, zoneId, probeId).catch(() => undefined);
  return true;
}

/** Whether the destination keeps /admin/replica_log: a GET, safe for read-only commands. */
export function hasReplicaLog(dst: AdminApi): Promise<boolean> {
  return exists(() => dst.client.request('GET', '/admin/replica_log', { query: [['bounds', undefined], ['type', 'metadata'], ['id', '0']], idempotent: true }));
}

/** Everything the sync commands need to know; takes and releases a probe lock, so never for read-only commands. */
export async function probeCapabilities(dst: AdminApi, zoneId: string, lockerId: string): Promise<Capabilities> {
  const replicaLog = await hasReplicaLog(dst);
  const opState = await exists(() => dst.client.request('GET', '/admin/opstate', { query: [['client-id', 'rgw-agent-probe'], ['op-id', 'probe'], ['object', 'probe/probe']] }));
  const dataLogLocks = await canLock(dst, 'data', zoneId, lockerId);
  const metadataLogLocks = await canLock(dst, 'metadata', zoneId, lockerId);
  // Remote copy works on gateways of the radosgw-agent era (which keep op state) and the embedded
  // zone; a gateway without op state is a modern RGW, whose remote copy is broken (Pacific 16.2).
  return { replicaLog, opState, dataLogLocks, metadataLogLocks, remoteCopy: opState };
}
