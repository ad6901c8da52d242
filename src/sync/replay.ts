/**
 * The decisions of log replay, pure and without I/O, shared by every log kind (metadata shards,
 * data shards, bucket-index logs). shardrun.ts does the I/O around them.
 */
import type { RetryItem } from '../rgw/wire.js';
import { compareMarkers, isStartMarker } from '../rgw/markers.js';

/**
 * The names one page asks to sync: every distinct name its entries carry, in first-seen order,
 * plus, on the first page of a run only, the retry items that are due. Repeated entries for one
 * name collapse into one "make the destination match the source now".
 */
export function namesToSync(pageNames: Iterable<string>, retries: readonly RetryItem[], due: (name: string) => boolean, firstPage: boolean): string[] {
  const out = new Set<string>(pageNames);
  if (firstPage) for (const r of retries) if (due(r.name)) out.add(r.name);
  return [...out];
}

/**
 * The retry items after a page: the old ones that were not asked for this time, plus whatever
 * failed. An item keeps the timestamp of its first failure, so status can tell how long it is owed.
 */
export function nextRetries(old: readonly RetryItem[], asked: Iterable<string>, failed: Iterable<string>, nowIso: string): RetryItem[] {
  const askedSet = new Set(asked);
  const since = new Map(old.map((i) => [i.name, i.timestamp]));
  const out = new Map<string, RetryItem>();
  for (const i of old) if (!askedSet.has(i.name)) out.set(i.name, { name: i.name, timestamp: i.timestamp });
  for (const f of failed) out.set(f, { name: f, timestamp: since.get(f) ?? nowIso });
  return [...out.values()];
}

/** The marker after a page: the page's end where it had entries, else where we were. Never backwards. */
export function nextMarker(old: string, pageEnd: string, pageHadEntries: boolean): string {
  if (!pageHadEntries || isStartMarker(pageEnd)) return old;
  return compareMarkers(pageEnd, old) >= 0 ? pageEnd : old;
}

/** Whether a bound must be written: the marker moved or the retry items changed. */
export function boundChanged(old: { marker: string; items: readonly RetryItem[] }, next: { marker: string; items: readonly RetryItem[] }): boolean {
  if (compareMarkers(old.marker, next.marker) !== 0) return true;
  if (old.items.length !== next.items.length) return true;
  const names = new Set(old.items.map((i) => i.name));
  return next.items.some((i) => !names.has(i.name));
}

/**
 * How many entries of a data-log page are settled. A source logs a bucket at most once per
 * window, and later changes inside the window appear only in its bucket-index log; so the marker
 * may pass an entry only once a sync of its bucket began at least a window after the entry. All
 * times are the source's clock (an agent clock ahead of the source would settle entries early).
 */
export function settledCount(entryTimesMs: readonly number[], windowMs: number, syncStartSourceMs: number): number {
  let k = 0;
  // Entries of one shard are in time order; an unparsable time is never settled.
  while (k < entryTimesMs.length && Number.isFinite(entryTimesMs[k]) && entryTimesMs[k] + windowMs <= syncStartSourceMs) k++;
  return k;
}

/** Shard work ends in one of these; full sync and the daemon act on them, never on exceptions. */
export type ShardStatus = 'done' | 'busy' | 'lost' | 'stopped';
