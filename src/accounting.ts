/**
 * What the agent has done, counted apart from the work (as rclone's accounting stands apart from
 * its transfers): the sync code reports events through these methods, metrics, progress and
 * summaries read the counts. Nothing else writes them.
 */

export type FailureKind = 'object' | 'metadata' | 'bucket' | 'pass';

export interface Counts {
  metadataSynced: number;
  metadataRemoved: number;
  objectsCopied: number;
  objectsUnchanged: number;
  objectsDeleted: number;
  /** Bytes moved, where known (stream copies, gateways that report a remote copy's size). */
  bytesCopied: number;
  failures: number;
  /** Failures by kind: object, metadata, bucket, pass. */
  errors: Record<FailureKind, number>;
  lockBusy: number;
  locksLost: number;
  /** Full sync: buckets to list and buckets done, for progress. */
  bucketsTotal: number;
  bucketsDone: number;
}

export class Accounting {
  private readonly c: Counts = {
    metadataSynced: 0, metadataRemoved: 0, objectsCopied: 0, objectsUnchanged: 0, objectsDeleted: 0, bytesCopied: 0,
    failures: 0, errors: { object: 0, metadata: 0, bucket: 0, pass: 0 }, lockBusy: 0, locksLost: 0, bucketsTotal: 0, bucketsDone: 0,
  };

  /** The live counts (the same object always; readers see every later event). */
  get counts(): Readonly<Counts> {
    return this.c;
  }

  objectCopied(bytes = 0): void { this.c.objectsCopied++; this.c.bytesCopied += bytes; }
  objectUnchanged(): void { this.c.objectsUnchanged++; }
  objectDeleted(): void { this.c.objectsDeleted++; }
  metadataWritten(): void { this.c.metadataSynced++; }
  metadataRemoved(): void { this.c.metadataRemoved++; }
  failed(kind: FailureKind): void { this.c.failures++; this.c.errors[kind]++; }
  lockContended(): void { this.c.lockBusy++; }
  lockLost(): void { this.c.locksLost++; }
  bucketsPlanned(n: number): void { this.c.bucketsTotal += n; }
  bucketDone(): void { this.c.bucketsDone++; }
}
