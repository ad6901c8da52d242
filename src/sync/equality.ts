/**
 * What "the destination's object equals the source's" means: the one definition used by the copy
 * decision (objectsync: skip or copy) and by verify (compare.ts: report or not), so a copy the
 * agent considers done is never a difference for verify, and the other way round. Pure.
 */
import { attrsDifferences, DEFAULT_STORAGE_CLASS, SOURCE_ETAG_META, type ObjectAttrs } from '../rgw/attrs.js';
import type { ObjectHead } from '../client/s3.js';

export interface ObjectState {
  size: number;
  etag: string;
  /** The source ETag the agent noted on a copy whose own ETag cannot equal it (x-amz-meta-rgw-agent-source-etag). */
  sourceEtag?: string;
  attrs: ObjectAttrs;
}

export interface Differences {
  /** Size or ETag differ: the bodies are not the same version. */
  content?: string;
  /** Attributes that differ, one phrase each (see attrsDifferences). */
  attrs: string[];
}

export function isPlainMd5(etag: string): boolean {
  return /^[0-9a-f]{32}$/.test(etag);
}

/** The state a HEAD answer describes; heads without full attributes (older callers) give Content-Type and user metadata only. */
export function objectState(head: ObjectHead): ObjectState {
  const sourceEtag = head.meta[SOURCE_ETAG_META];
  const attrs: ObjectAttrs = head.attrs ?? {
    headers: head.contentType ? { 'content-type': head.contentType } : {},
    meta: Object.fromEntries(Object.entries(head.meta).filter(([k]) => k !== SOURCE_ETAG_META)),
    storageClass: DEFAULT_STORAGE_CLASS,
  };
  return { size: head.size, etag: head.etag, ...(sourceEtag !== undefined ? { sourceEtag } : {}), attrs };
}

export function sameContent(src: Pick<ObjectState, 'size' | 'etag'>, dst: Pick<ObjectState, 'size' | 'etag' | 'sourceEtag'>): boolean {
  return src.size === dst.size && (src.etag === dst.etag || dst.sourceEtag === src.etag);
}

/** Why two objects are not the same version, or undefined when they are. */
export function contentDifference(src: Pick<ObjectState, 'size' | 'etag'>, dst: Pick<ObjectState, 'size' | 'etag' | 'sourceEtag'>): string | undefined {
  return sameContent(src, dst) ? undefined : `source ${src.size} bytes ETag ${src.etag}, destination ${dst.size} bytes ETag ${dst.etag}`;
}

/**
 * What two listing entries (size and ETag only) tell: 'same' content, 'different' content, or
 * 'ask' when only a HEAD can tell (a multipart ETag on either side: the destination may carry a
 * note of the source's ETag).
 */
export function listingVerdict(src: { size: number; etag: string }, dst: { size: number; etag: string }): 'same' | 'different' | 'ask' {
  if (src.size !== dst.size) return 'different';
  if (src.etag === dst.etag) return 'same';
  return isPlainMd5(src.etag) && isPlainMd5(dst.etag) ? 'different' : 'ask';
}

/**
 * Storage class is replicated where the destination has it. A STANDARD source must be STANDARD
 * on the destination; another class is compared only when the destination names a class at all
 * (a gateway without storage classes names none) and did not refuse this one.
 */
export function storageClassComparable(src: ObjectAttrs, dst: ObjectAttrs, destinationRefusesClass = false): boolean {
  if (destinationRefusesClass) return false;
  if (src.storageClass === DEFAULT_STORAGE_CLASS) return true;
  return dst.storageClassShown ?? dst.storageClass !== DEFAULT_STORAGE_CLASS;
}

/** Tags must be read (GET ?tagging) when either HEAD counts any; none on both sides means equal. */
export function tagsNeeded(srcTagCount: number, dstTagCount: number): boolean {
  return srcTagCount > 0 || dstTagCount > 0;
}

export interface EqualityOptions {
  /** The destination answered InvalidStorageClass for the source's class. */
  destinationRefusesClass?: boolean;
}

/**
 * Every way the destination's copy differs from the source's object. Tags and ACLs count only
 * where both states carry them (undefined = not read, or the gateway has none). The ACL's owner
 * is left out: a stream copy writes as the bucket owner, so grants are what replicates.
 */
export function objectDifferences(src: ObjectState, dst: ObjectState, o: EqualityOptions = {}): Differences {
  const out: Differences = {
    attrs: attrsDifferences(src.attrs, dst.attrs, { storageClass: storageClassComparable(src.attrs, dst.attrs, o.destinationRefusesClass), aclOwner: false }),
  };
  const content = contentDifference(src, dst);
  if (content !== undefined) out.content = content;
  return out;
}

export function isEqual(d: Differences): boolean {
  return d.content === undefined && d.attrs.length === 0;
}
