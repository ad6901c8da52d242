/**
 * Log markers as both sides read them. Every marker RGW and the embedded zone hand out sorts as a
 * plain string within one log (fixed-width fields), so one comparison serves metadata, data and
 * bucket-index logs: "" and " " (the original agent's "from the beginning") sort first, and the
 * "N#" index-shard prefix of a per-shard bucket-index op id is not part of the position.
 */

/** A marker that means "before everything". */
export function isStartMarker(m: string | undefined): boolean {
  return m === undefined || m.trim() === '';
}

/** The position a marker names, without a per-shard "N#" prefix; "" for a start marker. */
export function markerPosition(m: string): string {
  return isStartMarker(m) ? '' : m.replace(/^\d+#/, '');
}

/** <0, 0 or >0 as marker a is before, at or after marker b. The one marker comparison. */
export function compareMarkers(a: string, b: string): number {
  const [x, y] = [markerPosition(a), markerPosition(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The later of two markers (a when equal). */
export function laterMarker(a: string, b: string): string {
  return compareMarkers(a, b) >= 0 ? a : b;
}

/** "0#m0,1#m1,..." (a sharded bucket index's max marker) -> [["0", "m0"], ...]; [] for a plain marker. */
export function shardMarkers(marker: string): [string, string][] {
  if (!marker.includes('#')) return [];
  return marker.split(',').filter(Boolean).map((part) => {
    const i = part.indexOf('#');
    return [part.slice(0, i), part.slice(i + 1)];
  });
}

/**
 * Where a data-log page read from `from` ends. Tentacle answers `"marker": ""` on a page that is
 * not truncated and gives its entries no ids; such a page reached the end of the log, so it ends
 * at least at the shard head read just before the listing (`headBefore`): entries logged between
 * the two calls are read again, never skipped. 'ask-head' = the head is needed and was not read.
 */
export function dataPageEnd(from: string, headBefore: string | undefined, page: { marker: string; truncated: boolean; entries: { id?: string }[] }): string | 'ask-head' {
  if (page.entries.length === 0 || page.marker !== '') return page.marker;
  const id = page.entries[page.entries.length - 1].id;
  if (id) return id;
  // A truncated page without a position: stay, and read it again.
  if (page.truncated) return from;
  if (headBefore === undefined) return 'ask-head';
  return compareMarkers(headBefore, from) > 0 ? headBefore : from;
}
