/**
 * Compares two zones: users (with display name and email), buckets (with owners) and objects (key,
 * size, ETag; and for objects equal in those, every attribute sync replicates, by HEAD on both
 * zones, plus tags where a HEAD counts any and, when asked, ACLs). "Equal" is equality.ts's, the
 * copy path's own definition.
 * Object listings are walked side by side, so memory stays bounded by one page per zone plus the
 * HEAD pairs in flight; user and bucket names are held in memory (metadata key lists).
 */
import type { AdminApi } from '../client/admin.js';
import { both, mergeWalk } from './march.js';
import { AgentError } from '../client/errors.js';
import { isUnsupported, type S3Api } from '../client/s3.js';
import type { HttpError } from '../client/errors.js';
import { contentDifference, listingVerdict, objectDifferences, objectState, tagsNeeded } from './equality.js';
import { isVersionedInstance } from './versioning.js';
import { versionListDifference } from './versionplan.js';

export interface ZoneApis { admin: AdminApi; s3: S3Api }
export interface Difference { kind: 'user' | 'bucket' | 'object'; name: string; detail: string }
export interface Comparison {
  /** Users, buckets and objects (with their bytes) of the source that were compared. */
  users: number;
  buckets: number;
  objects: number;
  bytes: number;
  /** The differences found, at most `maxDifferences` of them, sorted by kind and name. */
  differences: Difference[];
  /** Every difference found, including those beyond `maxDifferences`. */
  differenceCount: number;
  /** Objects whose attributes were compared (by HEAD on both zones). */
  metadataChecked: number;
  /** Objects whose tags were read on both zones (a HEAD counted tags on one side). */
  tagsChecked: number;
  /** Objects whose ACLs were read on both zones (checkAcl). */
  aclsChecked: number;
  /** Versions and delete markers of versioned source buckets whose lists were compared. */
  versions: number;
}

export interface CompareOptions {
  /** Only this bucket (no users, no other buckets). It must exist on at least one zone. */
  bucket?: string;
  /** Differences kept in the result (default 1000); the rest are only counted. */
  maxDifferences?: number;
  /**
   * HEAD both copies of every object equal in size and ETag and compare the replicated headers,
   * x-amz-meta-*, storage class (where the destination has classes) and, for objects a HEAD
   * counts tags on, the tags (GET ?tagging on both) (default true).
   */
  checkMetadata?: boolean;
  /** Also GET ?acl on both copies of every object and compare grants (default false: two more calls per object). */
  checkAcl?: boolean;
  /** Notes about the run (a zone without tagging or ACLs), each given once. */
  warn?: (msg: string) => void;
  /** Compare objects at all (default true; false = users and buckets only). */
  checkObjects?: boolean;
  /** Metadata GETs / HEAD pairs in flight at once (default 16). */
  concurrency?: number;
  /** Keys per listing page (default 1000). */
  pageSize?: number;
  /** Buckets left out on both sides: the agent's own state bucket. */
  ignoreBuckets?: string[];
  /**
   * Versioned buckets: compare version ids too (default true). Off for a destination that cannot
   * keep the source's ids: order, ETags, sizes and delete markers are still compared.
   */
  versionIds?: boolean;
}

/** Runs at most `limit` tasks at once; the first failure stops new tasks and is thrown. */
class Limiter {
  private readonly running = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;
  constructor(private readonly limit: number) {}

  /** Starts `fn` once a slot is free (waiting for one keeps the caller, and its memory, bounded). */
  async run(fn: () => Promise<void>): Promise<void> {
    while (this.running.size >= this.limit && !this.failure) await Promise.race(this.running);
    if (this.failure) throw this.failure.error;
    const p: Promise<void> = fn()
      .catch((e: unknown) => { this.failure ??= { error: e }; })
      .finally(() => { this.running.delete(p); });
    this.running.add(p);
  }

  /** Waits until nothing runs; throws the first failure. */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
    if (this.failure) throw this.failure.error;
  }
}

async function sortedKeys(admin: AdminApi, section: string): Promise<string[]> {
  const out: string[] = [];
  for await (const x of admin.metadataKeys(section)) out.push(x);
  return out.sort();
}

async function metadataData(admin: AdminApi, section: string, key: string): Promise<Record<string, unknown> | undefined> {
  const doc = await admin.getMetadata(section, key);
  if (!doc) return undefined;
  try {
    return (JSON.parse(doc.toString('utf8')) as { data?: Record<string, unknown> }).data ?? {};
  } catch {
    throw new AgentError(`${section} metadata of ${key} on ${admin.client.endpoint} is not JSON`);
  }
}

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v));
const q = (v: string | undefined): string => (v === undefined ? '(none)' : JSON.stringify(v));

const KIND_ORDER: Record<Difference['kind'], number> = { user: 0, bucket: 1, object: 2 };

export async function compareZones(src: ZoneApis, dst: ZoneApis, o: CompareOptions = {}): Promise<Comparison> {
  const max = o.maxDifferences ?? 1000;
  const checkMetadata = o.checkMetadata ?? true;
  const res: Comparison = { users: 0, buckets: 0, objects: 0, bytes: 0, differences: [], differenceCount: 0, metadataChecked: 0, tagsChecked: 0, aclsChecked: 0, versions: 0 };
  const differ = (d: Difference) => {
    res.differenceCount++;
    if (res.differences.length < max) res.differences.push(d);
  };
  const pool = new Limiter(Math.max(1, o.concurrency ?? 16));

  // A zone answering 501/405 to ?tagging or ?acl has no such attribute: compared nowhere, said once.
  const lacking = new Set<string>();
  const sub = async <T>(what: 'tagging' | 'acl', side: 'source' | 'destination', fn: () => Promise<T>): Promise<T | undefined> => {
    if (lacking.has(`${what} ${side}`)) return undefined;
    try {
      return await fn();
    } catch (e) {
      if (!isUnsupported(e)) throw e;
      lacking.add(`${what} ${side}`);
      o.warn?.(`verify: the ${side} has no object ${what === 'tagging' ? 'tagging' : 'ACLs'} (?${what} answered ${(e as HttpError).status}); not compared`);
      return undefined;
    }
  };

  const compareUser = async (uid: string) => {
    const [s, d] = await both(metadataData(src.admin, 'user', uid), metadataData(dst.admin, 'user', uid));
    if (!s || !d) {
      if (s || d) differ({ kind: 'user', name: uid, detail: s ? 'missing on the destination' : 'only on the destination' });
      return;
    }
    const parts: string[] = [];
    if (str(s.display_name) !== str(d.display_name)) parts.push(`display name ${q(str(s.display_name))} on the source, ${q(str(d.display_name))} on the destination`);
    if (str(s.email) !== str(d.email)) parts.push(`email ${q(str(s.email))} on the source, ${q(str(d.email))} on the destination`);
    if (parts.length) differ({ kind: 'user', name: uid, detail: parts.join('; ') });
  };

  /** Whether the source's current instance of `bucket` holds versions. */
  const versionedOnSource = async (bucket: string): Promise<boolean> => {
    const entry = await metadataData(src.admin, 'bucket', bucket);
    const id = (entry?.bucket as { bucket_id?: unknown } | undefined)?.bucket_id;
    if (typeof id !== 'string') return false;
    const doc = await src.admin.getMetadata('bucket.instance', `${bucket}:${id}`);
    return doc !== undefined && isVersionedInstance(JSON.parse(doc.toString('utf8')));
  };

  // Version lists, key by key: the first difference of each key is reported.
  const compareVersions = async (bucket: string) => {
    for await (const [key, s, d] of mergeWalk(src.s3.versionGroups(bucket, o.pageSize), dst.s3.versionGroups(bucket, o.pageSize))) {
      res.versions += s?.versions.length ?? 0;
      const diff = versionListDifference(s?.versions ?? [], d?.versions ?? [], o.versionIds ?? true);
      if (diff) differ({ kind: 'object', name: `${bucket}/${key}`, detail: diff });
    }
  };

  const compareOwner = async (bucket: string) => {
    const [s, d] = await both(metadataData(src.admin, 'bucket', bucket), metadataData(dst.admin, 'bucket', bucket));
    if (!s || !d) return; // removed while comparing: the listing walk reports its objects
    const [so, dow] = [typeof s.owner === 'string' ? s.owner : undefined, typeof d.owner === 'string' ? d.owner : undefined];
    if (so !== dow) differ({ kind: 'bucket', name: bucket, detail: `owner ${so ?? '(none)'} on the source, ${dow ?? '(none)'} on the destination` });
  };

  const compareHeads = async (bucket: string, key: string) => {
    const name = `${bucket}/${key}`;
    const [sh, dh] = await both(src.s3.headObject(bucket, key), dst.s3.headObject(bucket, key));
    // The zones may have changed since the listing; report what HEAD sees now.
    if (!sh || !dh) {
      if (sh || dh) differ({ kind: 'object', name, detail: sh ? 'missing on the destination' : 'only on the destination' });
      return;
    }
    const [s, d] = [objectState(sh), objectState(dh)];
    const content = objectDifferences(s, d).content;
    if (content) return differ({ kind: 'object', name, detail: content });
    if (!checkMetadata) return;
    res.metadataChecked++;
    if (tagsNeeded(sh.tagCount ?? 0, dh.tagCount ?? 0)) {
      [s.attrs.tags, d.attrs.tags] = await both(sub('tagging', 'source', () => src.s3.getTagging(bucket, key)), sub('tagging', 'destination', () => dst.s3.getTagging(bucket, key)));
      if (s.attrs.tags !== undefined && d.attrs.tags !== undefined) res.tagsChecked++;
    }
    if (o.checkAcl) {
      [s.attrs.acl, d.attrs.acl] = await both(sub('acl', 'source', () => src.s3.getAcl(bucket, key)), sub('acl', 'destination', () => dst.s3.getAcl(bucket, key)));
      if (s.attrs.acl && d.attrs.acl) res.aclsChecked++;
    }
    const attrs = objectDifferences(s, d).attrs;
    if (attrs.length) differ({ kind: 'object', name, detail: `metadata differs: ${attrs.join('; ')}` });
  };

  try {
    if (o.bucket === undefined) {
      const [su, du] = await both(sortedKeys(src.admin, 'user'), sortedKeys(dst.admin, 'user'));
      const [ss, ds] = [new Set(su), new Set(du)];
      res.users = su.length;
      for (const u of su) {
        if (!ds.has(u)) differ({ kind: 'user', name: u, detail: 'missing on the destination' });
        else await pool.run(() => compareUser(u));
      }
      for (const u of du) if (!ss.has(u)) differ({ kind: 'user', name: u, detail: 'only on the destination' });
    }

    let sb: string[];
    let db: string[];
    if (o.bucket !== undefined) {
      const b = o.bucket;
      const [s, d] = await both(src.admin.getMetadata('bucket', b), dst.admin.getMetadata('bucket', b));
      if (!s && !d) throw new AgentError(`bucket ${b} exists on neither zone`);
      [sb, db] = [s ? [b] : [], d ? [b] : []];
    } else {
      [sb, db] = await both(sortedKeys(src.admin, 'bucket'), sortedKeys(dst.admin, 'bucket'));
    }
    const ignored = new Set(o.ignoreBuckets ?? []);
    [sb, db] = [sb.filter((b) => !ignored.has(b)), db.filter((b) => !ignored.has(b))];
    const [sbs, dbs] = [new Set(sb), new Set(db)];
    for (const b of db) if (!sbs.has(b)) differ({ kind: 'bucket', name: b, detail: 'only on the destination' });
    for (const bucket of sb) {
      res.buckets++;
      if (!dbs.has(bucket)) {
        differ({ kind: 'bucket', name: bucket, detail: 'missing on the destination' });
        continue;
      }
      await pool.run(() => compareOwner(bucket));
      if (o.checkObjects === false) continue;
      if (await versionedOnSource(bucket)) await compareVersions(bucket);
      for await (const [key, s, d] of mergeWalk(src.s3.allObjects(bucket, o.pageSize), dst.s3.allObjects(bucket, o.pageSize))) {
        const name = `${bucket}/${key}`;
        if (s) { res.objects++; res.bytes += s.size; }
        if (!d) differ({ kind: 'object', name, detail: 'missing on the destination' });
        else if (!s) differ({ kind: 'object', name, detail: 'only on the destination' });
        else {
          const verdict = listingVerdict(s, d);
          if (verdict === 'different') differ({ kind: 'object', name, detail: contentDifference(s, d)! });
          else if (verdict === 'ask' || checkMetadata) await pool.run(() => compareHeads(bucket, key));
        }
      }
    }
    await pool.drain();
  } catch (e) {
    await pool.drain().catch(() => undefined); // nothing may stay in flight once we return
    throw e;
  }
  const order = (a: Difference, b: Difference) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || Buffer.compare(Buffer.from(a.name), Buffer.from(b.name));
  res.differences.sort(order);
  return res;
}
