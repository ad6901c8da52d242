/**
 * Versioned buckets are not synced version by version yet: until they are, the agent must say so
 * for every versioned source bucket (a warning, a status line, a metric) instead of silently
 * copying current versions only.
 */

/** RGW bucket_info flag: versioning enabled (also set while suspended). */
const BUCKET_VERSIONED = 0x2;

/** Whether a bucket-instance metadata document describes a bucket that holds versions. */
export function isVersionedInstance(doc: unknown): boolean {
  const flags = (doc as { data?: { bucket_info?: { flags?: unknown } } } | null | undefined)?.data?.bucket_info?.flags;
  const f = typeof flags === 'number' ? flags : typeof flags === 'string' && /^\d+$/.test(flags) ? Number(flags) : NaN;
  // Suspending versioning keeps the VERSIONED bit (and adds VERSIONS_SUSPENDED): old versions remain.
  return Number.isInteger(f) && (f & BUCKET_VERSIONED) !== 0;
}

export function versionedNote(bucket: string): string {
  return `bucket ${bucket} is versioned on the source: only current versions are synced (not supported yet)`;
}

const RECHECK_MS = 60_000;

/** Checks source bucket instances at most once a minute each; warns once per bucket. */
export class VersioningWatch {
  private readonly checked = new Map<string, { atMs: number; versioned: boolean }>();
  private readonly warned = new Set<string>();

  constructor(private readonly readInstance: (instance: string) => Promise<Buffer | undefined>, private readonly warn: (msg: string) => void) {}

  async check(bucket: string, instance: string): Promise<boolean> {
    const known = this.checked.get(instance);
    if (known && Date.now() - known.atMs < RECHECK_MS) return known.versioned;
    const doc = await this.readInstance(instance);
    const versioned = doc !== undefined && isVersionedInstance(JSON.parse(doc.toString('utf8')));
    this.checked.set(instance, { atMs: Date.now(), versioned });
    if (versioned && !this.warned.has(bucket)) {
      this.warned.add(bucket);
      this.warn(versionedNote(bucket));
    }
    if (!versioned) this.warned.delete(bucket);
    return versioned;
  }

  /** Versioned source buckets seen (for the metric). */
  get count(): number {
    return this.warned.size;
  }
}
