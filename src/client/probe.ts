/**
 * What the destination gateway still offers. Ceph Pacific and later removed /admin/replica_log,
 * /admin/opstate and data-log locks (405). Whether remote copy works is found by trying it on a
 * probe object that exists (a system user's copy of a missing object crashes Pacific's gateway).
 */
import type { AdminApi, LogType } from './admin.js';
import { HttpError, Locked, NetworkError, NotFound } from './errors.js';
import type { S3Api } from './s3.js';

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
  // zone; on a gateway without op state (Pacific and later) only a probe copy can tell.
  return { replicaLog, opState, dataLogLocks, metadataLogLocks, remoteCopy: opState };
}

export interface RemoteCopyProbe { works: boolean; why: string }

/**
 * Tries a remote copy: a small object is written into the agent's own bucket on the source, the
 * destination is asked to pull it by the source zone's id, and the copy is read back. The bucket
 * is created through the destination if missing (in a multisite the master gets it too); a source
 * of another cluster does not have it, and then remote copy cannot work anyway. Both probe
 * objects are removed afterwards.
 */
export async function probeRemoteCopy(src: S3Api, dst: S3Api, bucket: string, sourceZoneId: string, clientId: string, lockerId: string): Promise<RemoteCopyProbe> {
  const key = `probe/remote-copy/${lockerId}`;
  const body = `rgw-agent remote copy probe ${new Date().toISOString()}`;
  const answer = (e: unknown) => (e instanceof HttpError ? `${e.status} ${e.code}` : (e as Error).message);
  try {
    await dst.createBucket(bucket);
    try {
      await src.putObject(bucket, key, body, 'text/plain');
    } catch (e) {
      if (e instanceof NotFound) return { works: false, why: `bucket ${bucket} is not on the source (a zone of another cluster)` };
      throw e;
    }
    const r = await dst.remoteCopy(bucket, key, sourceZoneId, clientId, `${lockerId}:probe`, 60_000);
    if (r.outcome !== 'copied') return { works: false, why: `the probe copy answered ${r.outcome}` };
    const got = await dst.getObject(bucket, key);
    if (got?.toString('utf8') !== body) return { works: false, why: 'the probe copy did not arrive intact' };
    return { works: true, why: `a probe copy of ${bucket}/${key} from zone ${sourceZoneId} arrived intact` };
  } catch (e) {
    if (e instanceof HttpError || e instanceof NetworkError) return { works: false, why: `the probe copy answered ${answer(e)}` };
    throw e;
  } finally {
    await Promise.all([src.deleteObject(bucket, key).catch(() => undefined), dst.deleteObject(bucket, key).catch(() => undefined)]);
  }
}

/**
 * copy_mode `auto`: remote copy where the gateway keeps op state (the embedded zone, radosgw-agent
 * era RGW). Where only a probe found it working (Reef, Tentacle), stream: those gateways were seen
 * to crash some time after serving remote copies (../shared/ceph/README.md), so remote copy there
 * is the operator's explicit choice until evidence says it is safe.
 */
export function chooseCopyMode(asked: 'auto' | 'remote' | 'stream', caps: Capabilities): { mode: 'remote' | 'stream'; note?: string } {
  if (asked === 'stream') return { mode: 'stream' };
  if (asked === 'remote') {
    return caps.remoteCopy ? { mode: 'remote' } : { mode: 'remote', note: 'copy_mode remote was asked for, but the destination\'s remote copy did not work: copies will fail and become retries' };
  }
  if (caps.opState) return { mode: 'remote' };
  return caps.remoteCopy
    ? { mode: 'stream', note: 'remote copy works on this destination, but copy_mode auto keeps stream copy on gateways without op state (Ceph Reef and later were seen crashing after serving remote copies); set copy_mode: remote to use it' }
    : { mode: 'stream' };
}
