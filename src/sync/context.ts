/** Everything one agent process shares while syncing a source zone into a destination zone. */
import type { PeriodHistory } from './periods.js';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { AdminApi } from '../client/admin.js';
import type { S3Api } from '../client/s3.js';
import type { Transfer } from '../client/transfer.js';
import type { ResolvedZones } from '../client/zonemap.js';
import type { AgentConfig } from '../config.js';
import type { BoundReader, BoundStore } from './bounds.js';
import { RetryBackoff } from '../worker/retry.js';
import type { Accounting } from '../accounting.js';
import type { VersioningWatch } from './versioning.js';
import type { ObjectPool } from '../worker/pool.js';

export interface SyncLogger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  debug(msg: string): void;
  /** False when debug lines are dropped anyway: hot paths then skip building them. */
  isDebugEnabled?(): boolean;
}

const ITEM_LABEL = { object: 'object', metadata: 'metadata', bucket: 'bucket instance' } as const;

/** An item failed: counted and logged; the caller keeps it as a retry item (the replay loop backs it off). */
export function retryLater(ctx: SyncContext, kind: keyof typeof ITEM_LABEL, name: string, e: unknown): void {
  ctx.acct.failed(kind);
  ctx.log.warn(`${ITEM_LABEL[kind]} ${name}: ${(e as Error).message} (kept as a retry)`);
}

/** What read-only commands (status, verify) get: clients, zones and bounds to read. Nothing that writes. */
export interface ReadContext {
  cfg: AgentConfig;
  src: AdminApi;
  dst: AdminApi;
  srcS3: S3Api;
  dstS3: S3Api;
  zones: ResolvedZones;
  bounds: BoundReader;
  /** The source's metadata-log periods. */
  periods: PeriodHistory;
}

/** Everything a syncing agent process shares: the read context, bounds it may write, and the rest. */
export interface SyncContext extends ReadContext {
  bounds: BoundStore;
  log: SyncLogger;
  acct: Accounting;
  backoff: RetryBackoff;
  /** host:pid:<random>: unique per process, so two agents on one host never share an id. */
  lockerId: string;
  nextOpId(): string;
  clientId: string;
  /** Aborted on shutdown: take no new work, let work in flight finish, record only finished work. */
  stop: AbortSignal;
  /** The destination keeps op state for remote copies (embedded zone, radosgw-agent era RGW). */
  opState: boolean;
  /** remote: the destination pulls (rgwx-source-zone); stream: the agent relays (Pacific). */
  copyMode: 'remote' | 'stream';
  transfer: Transfer;
  /** Bucket owners on the source, for ?rgwx-uid= on stream copies. */
  owners: Map<string, string>;
  /** Data-log shards this agent syncs (undefined = all). */
  dataShards?: Set<number>;
  /** Data-log shards can be locked on the destination (not on Pacific). */
  dataLocks: boolean;
  /** Versioned source buckets, warned about once each. */
  versioning: VersioningWatch;
  /** Every object copy, of every bucket and shard, runs through this one pool. */
  objects: ObjectPool;
}

export function agentIdentity(): { lockerId: string; nextOpId: () => string } {
  const lockerId = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  let counter = 0;
  return { lockerId, nextOpId: () => `${lockerId}:${++counter}` };
}

/**
 * The agent's own bucket is bookkeeping, never synced: bounds on the destination (bucket state
 * store), the trim registry and the remote-copy probe on the source.
 */
export function isStateBucket(ctx: Pick<ReadContext, 'cfg'>, bucket: string): boolean {
  return bucket === ctx.cfg.stateBucket;
}
