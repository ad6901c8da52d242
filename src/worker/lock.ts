/**
 * A shard lock on the destination, renewed at a third of its lease. A lock whose renewal failed,
 * or whose lease ran out, is lost: its holder must stop and write no bound, since another agent
 * may own the shard by now.
 */
import type { AdminApi, LogType } from '../client/admin.js';
import { Locked } from '../client/errors.js';

export class ShardLock {
  private timer: NodeJS.Timeout | undefined;
  private lastOkMs: number;
  private lostReason: string | undefined;
  private readonly controller = new AbortController();

  private constructor(
    private readonly admin: AdminApi | undefined,
    readonly type: LogType,
    readonly shard: number,
    private readonly zoneId: string,
    private readonly lockerId: string,
    private readonly leaseSec: number,
    private readonly onLost: (reason: string) => void,
    stop?: AbortSignal,
  ) {
    this.lastOkMs = Date.now();
    this.combined = stop ? AbortSignal.any([this.controller.signal, stop]) : this.controller.signal;
  }

  private readonly combined: AbortSignal;

  /** Takes the lock, or answers 'busy' when another agent holds it (423). */
  static async acquire(admin: AdminApi, type: LogType, shard: number, zoneId: string, lockerId: string, leaseSec: number, onLost: (reason: string) => void = () => undefined, stop?: AbortSignal): Promise<ShardLock | 'busy'> {
    const t0 = Date.now();
    try {
      await admin.lock(type, shard, zoneId, lockerId, leaseSec);
    } catch (e) {
      if (e instanceof Locked) return 'busy';
      throw e;
    }
    const l = new ShardLock(admin, type, shard, zoneId, lockerId, leaseSec, onLost, stop);
    l.lastOkMs = t0; // the lease counts from when we asked, not from when the answer arrived
    l.timer = setInterval(() => void l.renew(), (leaseSec * 1000) / 3);
    l.timer.unref();
    return l;
  }

  /**
   * Work on a shard that the destination cannot lock (Pacific data-log shards): valid until a
   * stop. Agents must not overlap on such shards (see the shards setting).
   */
  static none(type: LogType, shard: number, stop?: AbortSignal): ShardLock {
    const l = new ShardLock(undefined, type, shard, '', '', 0, () => undefined, stop);
    l.lastOkMs = Infinity;
    return l;
  }

  private async renew(): Promise<void> {
    if (this.lostReason) return;
    const t0 = Date.now();
    try {
      await this.admin!.lock(this.type, this.shard, this.zoneId, this.lockerId, this.leaseSec);
      this.lastOkMs = t0;
    } catch (e) {
      this.lose(e instanceof Locked ? 'another agent took the lock' : `renewal failed: ${(e as Error).message}`);
    }
  }

  private lose(reason: string): void {
    if (this.lostReason) return;
    this.lostReason = reason;
    if (this.timer) clearInterval(this.timer);
    this.controller.abort(new Error(`lost lock on ${this.type} shard ${this.shard}: ${reason}`));
    this.onLost(reason);
  }

  /** Still ours: not lost, and the last successful (re)lock is within the lease. */
  valid(): boolean {
    if (this.lostReason) return false;
    if (this.admin && Date.now() - this.lastOkMs >= this.leaseSec * 1000) {
      this.lose('lease expired before it could be renewed');
      return false;
    }
    return true;
  }

  /** Aborts when the lock is lost or the agent is stopping: take no new work under it. */
  get signal(): AbortSignal {
    return this.combined;
  }

  get lost(): string | undefined {
    return this.lostReason;
  }

  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (!this.valid()) return; // expired or taken: nothing of ours to unlock
    this.lostReason = 'released';
    if (!this.admin) return;
    try {
      await this.admin.unlock(this.type, this.shard, this.zoneId, this.lockerId);
    } catch {
      // The lease runs out by itself; an unlock failure costs another agent at most one lease.
    }
  }
}
