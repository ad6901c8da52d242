/**
 * Which source buckets hold versions: their keys are synced version by version (versionsync.ts)
 * instead of current version only.
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

/**
 * An answer "not versioned" is trusted this long: versioning may be enabled at any moment (the
 * bucket-index log's versioned entries cover the keys written meanwhile). "Versioned" is kept for
 * good: RGW never clears the flag, suspending only adds another.
 */
const UNVERSIONED_TTL_MS = 5_000;

/** Reads source bucket instances' versioning, each at most once per UNVERSIONED_TTL_MS while unversioned. */
export class VersioningWatch {
  private readonly checked = new Map<string, { atMs: number; versioned: boolean }>();
  private readonly versionedBuckets = new Set<string>();

  constructor(private readonly readInstance: (instance: string) => Promise<Buffer | undefined>, private readonly info: (msg: string) => void) {}

  /** `instance`: "bucket:id". */
  async check(bucket: string, instance: string): Promise<boolean> {
    const known = this.checked.get(instance);
    if (known && (known.versioned || Date.now() - known.atMs < UNVERSIONED_TTL_MS)) return known.versioned;
    const doc = await this.readInstance(instance);
    const versioned = doc !== undefined && isVersionedInstance(JSON.parse(doc.toString('utf8')));
    this.checked.set(instance, { atMs: Date.now(), versioned });
    if (versioned && !this.versionedBuckets.has(bucket)) {
      this.versionedBuckets.add(bucket);
      this.info(`bucket ${bucket} is versioned on the source: every version and delete marker is synced`);
    }
    return versioned;
  }

  /** Versioned source buckets seen (for the metric). */
  get count(): number {
    return this.versionedBuckets.size;
  }
}
