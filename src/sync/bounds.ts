/**
 * Sync bounds: for each metadata shard, data shard and bucket instance, the log marker up to which
 * everything is synced or recorded, plus the retry items still owed. Kept on the destination
 * (replica_log). A bound never moves backwards and " " never replaces a real marker.
 */
import type { AdminApi, Bound, BoundType } from '../client/admin.js';

export type { Bound, BoundType };

/** " " (and "") mean "before everything" and sort first; otherwise markers compare as strings. */
export function laterMarker(a: string, b: string): string {
  const na = a.trim() === '' ? '' : a;
  const nb = b.trim() === '' ? '' : b;
  return na >= nb ? a : b;
}

export interface BoundStore {
  get(type: BoundType, entity: string): Promise<Bound | undefined>;
  set(type: BoundType, entity: string, bound: Bound): Promise<void>;
}

export class ReplicaLogBounds implements BoundStore {
  /** The newest marker this process has seen per entity: the floor for any write. */
  private readonly known = new Map<string, string>();

  constructor(private readonly dest: AdminApi) {}

  async get(type: BoundType, entity: string): Promise<Bound | undefined> {
    const b = await this.dest.getBound(type, entity);
    if (b) this.remember(type, entity, b.marker);
    return b;
  }

  async set(type: BoundType, entity: string, bound: Bound): Promise<void> {
    const floor = this.known.get(`${type}/${entity}`) ?? '';
    const marker = laterMarker(bound.marker, floor);
    // The replica log refuses an empty marker; " " is only written where no real marker exists.
    const stored = marker.trim() === '' ? ' ' : marker;
    await this.dest.setBound(type, entity, { marker: stored, items: bound.items });
    this.remember(type, entity, stored);
  }

  private remember(type: BoundType, entity: string, marker: string): void {
    const k = `${type}/${entity}`;
    this.known.set(k, laterMarker(marker, this.known.get(k) ?? ''));
  }
}
