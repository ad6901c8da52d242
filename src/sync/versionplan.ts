/**
 * What it takes to make one key's version list on the destination equal to the source's: which
 * destination versions go, which source versions are created, oldest first. A pure decision, no
 * I/O (versionsync.ts carries it out).
 *
 * Order is kept without OLH epochs: a version created on a versioned bucket becomes its newest,
 * so the plan never creates a version below one the destination keeps. Where the destination
 * lacks a version in the middle of the list (a gap: only after failures or a source that inserts
 * below its head), every destination version above the gap goes and is created again after it.
 */
import { isPlainMd5 } from './equality.js';

/** One entry of a ListObjectVersions answer. */
export interface VersionEntry {
  versionId: string;
  deleteMarker: boolean;
  /** Unquoted; '' for a delete marker. */
  etag: string;
  size: number;
  /** LastModified as listed (kept for reports; never used to order). */
  lastModified?: string;
}

export interface PlanOptions {
  /**
   * The destination keeps the source's version ids (it honours rgwx-version-id): versions are
   * matched by id. Otherwise by what they hold (marker or not, ETag, size), in order.
   */
  idsKept: boolean;
  /** Remove destination versions the source does not have (off: additive sync keeps them). */
  delete: boolean;
}

export interface VersionPlan {
  /** Destination version ids to remove, in any order (removing a version never reorders the rest). */
  remove: string[];
  /** Source versions to create, oldest first. */
  create: VersionEntry[];
  /** Destination versions removed only to be created again above a gap (counted for the log). */
  recreated: number;
}

/**
 * A multipart ETag (md5 of part md5s, "-N") is not the content's MD5: a copy made with other part
 * sizes, or with one PUT, has another. Such versions are matched by size (and id, where kept),
 * as a listing cannot tell more without a HEAD per version.
 */
function sameContent(a: VersionEntry, b: VersionEntry): boolean {
  if (a.deleteMarker !== b.deleteMarker) return false;
  if (a.deleteMarker) return true;
  return a.size === b.size && (a.etag === b.etag || !isPlainMd5(a.etag) || !isPlainMd5(b.etag));
}

function same(a: VersionEntry, b: VersionEntry, idsKept: boolean): boolean {
  return (!idsKept || a.versionId === b.versionId) && sameContent(a, b);
}

/**
 * `src` and `dst`: one key's versions, newest first (as ListObjectVersions gives them).
 * Returns an empty plan when the lists are already equal.
 */
export function planVersions(src: readonly VersionEntry[], dst: readonly VersionEntry[], o: PlanOptions): VersionPlan {
  const s = [...src].reverse();
  const d = [...dst].reverse();
  // Greedy match, oldest first: each destination version takes the next source version like it.
  const matchOf: number[] = new Array<number>(d.length).fill(-1);
  const matched = new Array<boolean>(s.length).fill(false);
  let next = 0;
  for (let i = 0; i < d.length; i++) {
    for (let k = next; k < s.length; k++) {
      if (same(d[i], s[k], o.idsKept)) {
        matchOf[i] = k;
        matched[k] = true;
        next = k + 1;
        break;
      }
    }
  }
  let gap = matched.indexOf(false);
  if (gap < 0) gap = s.length;
  const remove: string[] = [];
  let recreated = 0;
  for (let i = 0; i < d.length; i++) {
    const k = matchOf[i];
    if (k < 0) {
      // The source has no such version (removed there, or never one of its own).
      if (o.delete || sourceHasLater(d[i], s, o.idsKept)) remove.push(d[i].versionId);
    } else if (k > gap) {
      remove.push(d[i].versionId);
      recreated++;
    }
  }
  // Unmatched destination versions kept by an additive sync end up below what is created now.
  return { remove, create: s.slice(gap), recreated };
}

/** A destination version that the source holds elsewhere in the list (out of order): it goes even without deletes, it is created again. */
function sourceHasLater(v: VersionEntry, s: readonly VersionEntry[], idsKept: boolean): boolean {
  return idsKept && s.some((x) => x.versionId === v.versionId);
}

/** The first way two version lists (newest first) differ, or undefined when they are equal. */
export function versionListDifference(src: readonly VersionEntry[], dst: readonly VersionEntry[], idsKept: boolean): string | undefined {
  const show = (v: VersionEntry | undefined) =>
    v === undefined ? '(none)' : `${v.deleteMarker ? 'delete marker' : `version (ETag ${v.etag}, ${v.size} bytes)`}${idsKept ? ` ${v.versionId}` : ''}`;
  for (let i = 0; i < Math.max(src.length, dst.length); i++) {
    const [a, b] = [src[i], dst[i]];
    if (a && b && same(a, b, idsKept)) continue;
    return `versions differ at position ${i + 1} (newest first): ${show(a)} on the source, ${show(b)} on the destination (${src.length} versions on the source, ${dst.length} on the destination)`;
  }
  return undefined;
}
