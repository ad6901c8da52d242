/**
 * ListObjects paging over the index: prefix, delimiter (collapsed into common prefixes), a
 * start-after key and max-keys. Common prefixes are skipped with one seek each, so a bucket with
 * millions of keys under one prefix still lists in a few queries.
 */
import type { ObjectRow, Store, VersionScanStart } from './store.js';
import type { ListedVersion, ListResult, VersionListResult } from './s3xml.js';

/** The smallest string greater than every string that starts with `s` (code point order). */
export function prefixSuccessor(s: string): string | undefined {
  const cps = [...s];
  const last = cps.pop();
  if (last === undefined) return undefined;
  let cp = last.codePointAt(0)! + 1;
  if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xe000;
  if (cp > 0x10ffff) return undefined;
  return cps.join('') + String.fromCodePoint(cp);
}

function commonPrefix(key: string, prefix: string, delimiter: string | undefined): string | undefined {
  if (!delimiter) return undefined;
  const i = key.indexOf(delimiter, prefix.length);
  return i < 0 ? undefined : key.slice(0, i + delimiter.length);
}

export function listKeys(store: Store, instance: string, o: { prefix: string; delimiter?: string; after?: string; maxKeys: number }): ListResult {
  const contents: ObjectRow[] = [];
  const commonPrefixes: string[] = [];
  let after = o.after;
  let from: string | undefined;
  let skip: string | undefined; // a common prefix whose keys are still being passed over
  let last: string | undefined;

  // A start key inside an already returned common prefix resumes after that whole prefix.
  const startCp = after !== undefined && after.startsWith(o.prefix) ? commonPrefix(after, o.prefix, o.delimiter) : undefined;
  if (startCp !== undefined) {
    from = prefixSuccessor(startCp);
    if (from === undefined) skip = startCp;
    else after = undefined;
  }

  const want = () => o.maxKeys - contents.length - commonPrefixes.length;
  while (want() > 0) {
    const limit = Math.min(1000, want() + 1);
    const rows = store.scanObjects(instance, o.prefix, after, from, limit);
    if (rows.length === 0) return { contents, commonPrefixes, truncated: false, nextMarker: last };
    let reseek = false;
    for (const r of rows) {
      if (skip !== undefined && r.key.startsWith(skip)) { after = r.key; from = undefined; continue; }
      skip = undefined;
      if (want() === 0) return { contents, commonPrefixes, truncated: true, nextMarker: last };
      const cp = commonPrefix(r.key, o.prefix, o.delimiter);
      if (cp !== undefined) {
        commonPrefixes.push(cp);
        last = cp;
        const succ = prefixSuccessor(cp);
        if (succ !== undefined) { from = succ; after = undefined; reseek = true; break; }
        skip = cp;
        after = r.key;
        continue;
      }
      contents.push(r);
      last = r.key;
      after = r.key;
      from = undefined;
    }
    if (!reseek && rows.length < limit) {
      return { contents, commonPrefixes, truncated: false, nextMarker: last };
    }
  }
  // Full page: truncated only if something listable remains.
  const more = store.scanObjects(instance, o.prefix, after, from, 1).length > 0;
  return { contents, commonPrefixes, truncated: more, nextMarker: last };
}

/**
 * ListObjectVersions paging: the same prefix/delimiter rules as listKeys, over every version in
 * (key, newest first) order, resuming after a key or after one version of it. A version is the
 * latest when it is the first of its key, which a page that resumes inside a key never shows.
 */
export function listVersions(store: Store, instance: string, o: { prefix: string; delimiter?: string; keyMarker: string; versionIdMarker: string; maxKeys: number }): VersionListResult {
  const versions: ListedVersion[] = [];
  const commonPrefixes: string[] = [];
  let start: VersionScanStart = {};
  let prevKey: string | undefined;
  if (o.keyMarker !== '') {
    const cp = o.keyMarker.startsWith(o.prefix) ? commonPrefix(o.keyMarker, o.prefix, o.delimiter) : undefined;
    const marker = o.versionIdMarker !== '' && cp === undefined ? store.getVersion(instance, o.keyMarker, o.versionIdMarker) : undefined;
    if (marker) {
      start = { afterVersion: { key: marker.key, epoch: marker.epoch, seq: marker.seq } };
      prevKey = marker.key;
    } else if (cp !== undefined) {
      const succ = prefixSuccessor(cp);
      start = succ !== undefined ? { from: succ } : { afterKey: o.keyMarker };
    } else {
      start = { afterKey: o.keyMarker };
    }
  }
  let skip: string | undefined; // a common prefix with no successor string: its rows are passed over
  const want = () => o.maxKeys - versions.length - commonPrefixes.length;
  let next: { key?: string; version?: string } = {};
  for (;;) {
    const limit = Math.min(1000, Math.max(want(), 0) + 1);
    const rows = store.scanVersions(instance, o.prefix, start, limit);
    if (rows.length === 0) return { versions, commonPrefixes, truncated: false };
    let reseek = false;
    for (const r of rows) {
      start = { afterVersion: { key: r.key, epoch: r.epoch, seq: r.seq } };
      if (skip !== undefined && r.key.startsWith(skip)) continue;
      skip = undefined;
      const cp = commonPrefix(r.key, o.prefix, o.delimiter);
      if (want() === 0) return { versions, commonPrefixes, truncated: true, nextKeyMarker: next.key, nextVersionIdMarker: next.version };
      if (cp !== undefined) {
        commonPrefixes.push(cp);
        next = { key: cp };
        const succ = prefixSuccessor(cp);
        if (succ !== undefined) { start = { from: succ }; reseek = true; break; }
        skip = cp;
        continue;
      }
      versions.push({ row: r, isLatest: r.key !== prevKey });
      prevKey = r.key;
      next = { key: r.key, version: r.version_id };
    }
    if (!reseek && rows.length < limit) return { versions, commonPrefixes, truncated: false };
  }
}
