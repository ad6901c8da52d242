/**
 * Who else syncs into this destination. Where data-log shards cannot be locked (Pacific), agents
 * announce themselves in the state bucket (agents/<locker>.json: data shards, time); an agent
 * that sees another recent one with overlapping data shards warns, since both would write the
 * same bounds.
 */
import type { SyncContext } from './context.js';

const FRESH_MS = 3 * 60_000;

interface Announcement { locker: string; shards: number[] | 'all'; at: number }

function overlaps(a: Announcement['shards'], b: Announcement['shards']): boolean {
  if (a === 'all' || b === 'all') return true;
  const set = new Set(a);
  return b.some((s) => set.has(s));
}

export class AgentRegistry {
  private warned = new Set<string>();

  constructor(private readonly ctx: SyncContext) {}

  /** Only meaningful with the bucket state store and no data-log locks. */
  get active(): boolean {
    return this.ctx.bounds.kind === 'bucket' && !this.ctx.dataLocks && !this.ctx.cfg.metadataOnly;
  }

  private get mine(): Announcement {
    return { locker: this.ctx.lockerId, shards: this.ctx.dataShards ? [...this.ctx.dataShards] : 'all', at: Date.now() };
  }

  /** Writes this agent's announcement and warns about overlapping recent ones; returns them. */
  async heartbeat(): Promise<Announcement[]> {
    if (!this.active) return [];
    const bucket = this.ctx.cfg.stateBucket;
    await this.ctx.dstS3.putObject(bucket, `agents/${encodeURIComponent(this.ctx.lockerId)}.json`, JSON.stringify(this.mine), 'application/json').catch(() => undefined);
    const others: Announcement[] = [];
    for await (const o of this.ctx.dstS3.allObjects(bucket, 1000, 'agents/')) {
      const body = await this.ctx.dstS3.getObject(bucket, o.key);
      if (!body) continue;
      let a: Announcement;
      try {
        a = JSON.parse(body.toString('utf8')) as Announcement;
      } catch {
        continue;
      }
      if (a.locker === this.ctx.lockerId || Date.now() - a.at > FRESH_MS) continue;
      if (!overlaps(a.shards, this.mine.shards)) continue;
      others.push(a);
      if (!this.warned.has(a.locker)) {
        this.warned.add(a.locker);
        this.ctx.log.warn(`another agent (${a.locker}) syncs ${a.shards === 'all' ? 'all' : a.shards.length} data shards into this destination, overlapping ours, and data-log shards cannot be locked here: stop one, or give each disjoint shards (shards: "0-63" / "64-127")`);
      }
    }
    return others;
  }

  /** Removes this agent's announcement on a clean stop. */
  async leave(): Promise<void> {
    if (!this.active) return;
    await this.ctx.dstS3.deleteObject(this.ctx.cfg.stateBucket, `agents/${encodeURIComponent(this.ctx.lockerId)}.json`).catch(() => undefined);
  }
}
