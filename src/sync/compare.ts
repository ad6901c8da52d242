/**
 * Compares two zones: users, buckets (with owners) and objects (key, size, ETag), walking both
 * sorted listings side by side so memory stays bounded by one page per zone.
 */
import type { AdminApi } from '../client/admin.js';
import type { ListedObject, S3Api } from '../client/s3.js';

export interface ZoneApis { admin: AdminApi; s3: S3Api }
export interface Difference { kind: 'user' | 'bucket' | 'object'; name: string; detail: string }
export interface Comparison { users: number; buckets: number; objects: number; bytes: number; differences: Difference[] }

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const x of it) out.push(x);
  return out.sort();
}

async function owner(admin: AdminApi, bucket: string): Promise<string | undefined> {
  const doc = await admin.getMetadata('bucket', bucket);
  return doc ? (JSON.parse(doc.toString('utf8')) as { data?: { owner?: string } }).data?.owner : undefined;
}

/** Yields [key, source entry, destination entry] in key order. */
async function* mergeWalk(a: AsyncIterator<ListedObject>, b: AsyncIterator<ListedObject>): AsyncGenerator<[string, ListedObject | undefined, ListedObject | undefined]> {
  let x = await a.next();
  let y = await b.next();
  while (!x.done || !y.done) {
    // S3 lists keys in UTF-8 byte order; compare the same way.
    const c = x.done ? 1 : y.done ? -1 : Buffer.compare(Buffer.from(x.value.key), Buffer.from(y.value.key));
    if (c === 0) {
      yield [x.value!.key, x.value, y.value];
      x = await a.next();
      y = await b.next();
    } else if (c < 0) {
      yield [x.value!.key, x.value, undefined];
      x = await a.next();
    } else {
      yield [y.value!.key, undefined, y.value];
      y = await b.next();
    }
  }
}

export async function compareZones(src: ZoneApis, dst: ZoneApis, o: { bucket?: string; maxDifferences?: number } = {}): Promise<Comparison> {
  const max = o.maxDifferences ?? 1000;
  const res: Comparison = { users: 0, buckets: 0, objects: 0, bytes: 0, differences: [] };
  const differ = (d: Difference) => { if (res.differences.length < max) res.differences.push(d); };

  if (o.bucket === undefined) {
    const [su, du] = [await collect(src.admin.metadataKeys('user')), new Set(await collect(dst.admin.metadataKeys('user')))];
    res.users = su.length;
    for (const u of su) if (!du.has(u)) differ({ kind: 'user', name: u, detail: 'missing on the destination' });
    for (const u of du) if (!su.includes(u)) differ({ kind: 'user', name: u, detail: 'only on the destination' });
  }

  const sb = o.bucket !== undefined ? [o.bucket] : await collect(src.admin.metadataKeys('bucket'));
  const db = new Set(o.bucket !== undefined ? [o.bucket] : await collect(dst.admin.metadataKeys('bucket')));
  for (const b of db) if (!sb.includes(b)) differ({ kind: 'bucket', name: b, detail: 'only on the destination' });
  for (const bucket of sb) {
    res.buckets++;
    if (!db.has(bucket)) {
      differ({ kind: 'bucket', name: bucket, detail: 'missing on the destination' });
      continue;
    }
    const [so, dow] = [await owner(src.admin, bucket), await owner(dst.admin, bucket)];
    if (so !== dow) differ({ kind: 'bucket', name: bucket, detail: `owner ${so ?? '(none)'} on the source, ${dow ?? '(none)'} on the destination` });
    for await (const [key, s, d] of mergeWalk(src.s3.allObjects(bucket)[Symbol.asyncIterator](), dst.s3.allObjects(bucket)[Symbol.asyncIterator]())) {
      const name = `${bucket}/${key}`;
      if (s) { res.objects++; res.bytes += s.size; }
      if (!d) differ({ kind: 'object', name, detail: 'missing on the destination' });
      else if (!s) differ({ kind: 'object', name, detail: 'only on the destination' });
      else if (s.etag !== d.etag || s.size !== d.size) differ({ kind: 'object', name, detail: `source ${s.size} bytes ETag ${s.etag}, destination ${d.size} bytes ETag ${d.etag}` });
    }
  }
  return res;
}
