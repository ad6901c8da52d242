/**
 * Sync bounds: for each metadata shard, data shard and bucket instance, the log marker up to which
 * everything is synced or recorded, plus the retry items still owed. A bound never moves backwards
 * and " " never replaces a real marker, whichever backend keeps it:
 *   - replica-log: /admin/replica_log on the destination (embedded zone, Hammer/Jewel RGW);
 *   - bucket: one JSON object per bound in a dedicated bucket on the destination (Pacific);
 *   - file: one local JSON file, replaced atomically.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AdminApi, Bound, BoundType } from '../client/admin.js';
import { AgentError, NotFound } from '../client/errors.js';
import type { S3Api } from '../client/s3.js';
import { isStartMarker, laterMarker } from '../rgw/markers.js';

export type { Bound, BoundType };

export interface BoundStore {
  readonly kind: string;
  get(type: BoundType, entity: string): Promise<Bound | undefined>;
  set(type: BoundType, entity: string, bound: Bound): Promise<void>;
}

/** Where bounds are kept; MonotonicBounds adds the never-regress rule on top. */
export interface BoundBackend {
  readonly kind: string;
  read(type: BoundType, entity: string): Promise<Bound | undefined>;
  write(type: BoundType, entity: string, bound: Bound): Promise<void>;
}

export class MonotonicBounds implements BoundStore {
  /** The newest marker this process has seen per entity: the floor for any write. */
  private readonly known = new Map<string, string>();

  constructor(private readonly backend: BoundBackend) {}

  get kind(): string {
    return this.backend.kind;
  }

  async get(type: BoundType, entity: string): Promise<Bound | undefined> {
    const b = await this.backend.read(type, entity);
    if (b) this.remember(type, entity, b.marker);
    return b;
  }

  async set(type: BoundType, entity: string, bound: Bound): Promise<void> {
    const floor = this.known.get(`${type}/${entity}`) ?? '';
    const marker = laterMarker(bound.marker, floor);
    // The replica log refuses an empty marker; " " is only written where no real marker exists.
    const stored = isStartMarker(marker) ? ' ' : marker;
    await this.backend.write(type, entity, { marker: stored, items: bound.items });
    this.remember(type, entity, stored);
  }

  private remember(type: BoundType, entity: string, marker: string): void {
    const k = `${type}/${entity}`;
    this.known.set(k, laterMarker(marker, this.known.get(k) ?? ''));
  }
}

export class ReplicaLogBackend implements BoundBackend {
  readonly kind = 'replica-log';
  constructor(private readonly dest: AdminApi) {}
  read(type: BoundType, entity: string): Promise<Bound | undefined> {
    return this.dest.getBound(type, entity);
  }
  write(type: BoundType, entity: string, bound: Bound): Promise<void> {
    return this.dest.setBound(type, entity, bound);
  }
}

function parseBound(text: string, where: string): Bound {
  const j = JSON.parse(text) as { marker?: unknown; items?: unknown };
  if (typeof j.marker !== 'string' || !Array.isArray(j.items)) throw new Error(`${where} is not a sync bound`);
  return { marker: j.marker, items: (j.items as { name: string; timestamp: string }[]).map((i) => ({ name: String(i.name), timestamp: String(i.timestamp) })) };
}

/**
 * Bounds as objects in a bucket on the destination, one per shard and per bucket instance. A PUT
 * replaces an object atomically, which is all a bound needs.
 */
export class BucketBackend implements BoundBackend {
  readonly kind = 'bucket';
  /** One creation for all writers: on a secondary zone each create is forwarded to the master. */
  private creating: Promise<void> | undefined;

  constructor(private readonly s3: S3Api, readonly bucket: string) {}

  static key(type: BoundType, entity: string): string {
    return `bounds/${type}/${encodeURIComponent(entity)}.json`;
  }

  async read(type: BoundType, entity: string): Promise<Bound | undefined> {
    const body = await this.s3.getObject(this.bucket, BucketBackend.key(type, entity));
    return body === undefined ? undefined : parseBound(body.toString('utf8'), `${this.bucket}/${BucketBackend.key(type, entity)}`);
  }

  async write(type: BoundType, entity: string, bound: Bound): Promise<void> {
    const body = JSON.stringify({ marker: bound.marker, items: bound.items, updated: new Date().toISOString() });
    try {
      await this.s3.putObject(this.bucket, BucketBackend.key(type, entity), body, 'application/json');
    } catch (e) {
      // Created on demand: the first write into a destination that has never had a bound.
      if (!(e instanceof NotFound)) throw e;
      this.creating ??= this.s3.createBucket(this.bucket).catch((err: unknown) => {
        this.creating = undefined;
        throw err;
      });
      await this.creating;
      await this.s3.putObject(this.bucket, BucketBackend.key(type, entity), body, 'application/json');
    }
  }
}

/**
 * All bounds in one local JSON file, rewritten with write-to-temp, fsync, rename. Reads answer
 * what is on disk: a write that failed (disk full) fails alone, changes nothing that reads see,
 * and the next write tries again with everything saved so far.
 */
export class FileBackend implements BoundBackend {
  readonly kind = 'file';
  private saved: Record<string, Bound>;
  private chain: Promise<void> = Promise.resolve();

  /** `readOnly`: for status and verify, which must not even create the file's folder. */
  constructor(readonly path: string, private readonly o: { readOnly?: boolean } = {}) {
    let text: string | undefined;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      if (!o.readOnly) mkdirSync(dirname(path), { recursive: true });
    }
    this.saved = text ? (JSON.parse(text) as { bounds: Record<string, Bound> }).bounds : {};
  }

  async read(type: BoundType, entity: string): Promise<Bound | undefined> {
    const b = this.saved[`${type}/${entity}`];
    return b ? { marker: b.marker, items: [...b.items] } : undefined;
  }

  write(type: BoundType, entity: string, bound: Bound): Promise<void> {
    if (this.o.readOnly) return Promise.reject(new AgentError(`the state file ${this.path} was opened read-only`));
    // Serialized, and each write starts from what was saved, whether the one before it failed or not.
    const run = this.chain.catch(() => undefined).then(async () => {
      const next = { ...this.saved, [`${type}/${entity}`]: { marker: bound.marker, items: [...bound.items] } };
      await this.flush(next);
      this.saved = next;
    });
    this.chain = run;
    return run;
  }

  private async flush(bounds: Record<string, Bound>): Promise<void> {
    const tmp = `${this.path}.tmp`;
    try {
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(JSON.stringify({ bounds }));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw new AgentError(`cannot save sync bounds to ${this.path}: ${(e as Error).message}`);
    }
  }
}
