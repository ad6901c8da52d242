/**
 * Conditional GET and HEAD (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since) as S3
 * evaluates them: an ETag condition, where present, decides over the date beside it; If-Match
 * failing is 412, If-None-Match matching is 304. Pure: the handler passes the object's ETag and
 * mtime. Clients lean on these (the agent copies one version with If-Match and skips what the
 * destination already has with If-None-Match; sync tools and browsers revalidate with them).
 */
export type Precondition = 'ok' | 'not-modified' | 'failed';

export interface Conditions {
  'if-match'?: string;
  'if-none-match'?: string;
  'if-modified-since'?: string;
  'if-unmodified-since'?: string;
}

/** Whether an ETag list header (`"a", "b"`, `W/"a"` or `*`) names `etag`. */
export function etagListMatches(header: string, etag: string): boolean {
  return header.split(',').some((raw) => {
    const v = raw.trim();
    return v === '*' || v.replace(/^W\//, '').replace(/^"(.*)"$/, '$1') === etag;
  });
}

/** HTTP dates have whole seconds: an object modified within the named second is not "since" it. */
function modifiedAfter(header: string, mtimeMs: number): boolean | undefined {
  const t = Date.parse(header);
  if (Number.isNaN(t)) return undefined; // an unparsable date is ignored, as S3 does
  return Math.floor(mtimeMs / 1000) * 1000 > t;
}

export function precondition(c: Conditions, etag: string, mtimeMs: number): Precondition {
  if (c['if-match'] !== undefined) {
    if (!etagListMatches(c['if-match'], etag)) return 'failed';
  } else if (c['if-unmodified-since'] !== undefined && modifiedAfter(c['if-unmodified-since'], mtimeMs) === true) {
    return 'failed';
  }
  if (c['if-none-match'] !== undefined) {
    if (etagListMatches(c['if-none-match'], etag)) return 'not-modified';
  } else if (c['if-modified-since'] !== undefined && modifiedAfter(c['if-modified-since'], mtimeMs) === false) {
    return 'not-modified';
  }
  return 'ok';
}
