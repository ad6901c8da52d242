/**
 * `rgw-agent verify`: compares the destination with its source (users, buckets with owners,
 * objects with size, ETag and every attribute sync replicates: headers, user metadata, storage class,
 * tags, and with --acl the ACL grants) and reports every difference.
 * Exit codes: 0 equal, 1 differences, 2 the comparison could not be made (zone unreachable, ...).
 */
import { AgentError } from './client/errors.js';
import type { AgentConfig } from './config.js';
import type { SyncLogger } from './sync/context.js';
import { createReadContext, type ReadSetup } from './sync/setup.js';
import { compareZones, type Comparison } from './sync/compare.js';

export const VERIFY_EQUAL = 0;
export const VERIFY_DIFFERENT = 1;
export const VERIFY_ERROR = 2;

/** Difference lines printed in the human report; the rest are counted. */
const SHOWN = 50;

export interface VerifyOptions {
  /** Only this bucket (users and other buckets are not compared). */
  bucket?: string;
  /** One JSON document on `out` instead of the human report. */
  json: boolean;
  log: SyncLogger;
  out: (s: string) => void;
  /** HEAD both copies of objects to compare their attributes, and tags where a HEAD counts any (default true). */
  checkMetadata?: boolean;
  /** Also compare every object's ACL grants (GET ?acl on both zones; default false). */
  checkAcl?: boolean;
  /** Versioned buckets: compare version ids (default true; off for a destination that cannot keep them). */
  versionIds?: boolean;
  /** Differences listed (human report: printed lines; JSON: array entries). Defaults: 50 and 1000. */
  maxDifferences?: number;
}

export interface VerifyReport {
  source: { zone: string; endpoint: string };
  destination: { zone: string; endpoint: string };
  users: number;
  buckets: number;
  objects: number;
  bytes: number;
  /** Versions and delete markers of versioned source buckets compared. */
  versions: number;
  differences: { kind: string; name: string; detail: string }[];
  /** All differences found; more than `differences.length` when the list was capped. */
  differenceCount: number;
  equal: boolean;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export async function runVerify(cfg: AgentConfig, o: VerifyOptions): Promise<number> {
  let setup: ReadSetup | undefined;
  let zones: Pick<VerifyReport, 'source' | 'destination'> | undefined;
  try {
    // (A wrapper, not a spread: a winston logger's level methods live on its prototype.)
    const quiet: SyncLogger = { info: (m) => o.log.debug(m), debug: (m) => o.log.debug(m), warn: (m) => o.log.warn(m), error: (m) => o.log.error(m) };
    setup = await createReadContext(cfg, quiet);
    const { ctx } = setup;
    zones = {
      source: { zone: ctx.zones.source.name, endpoint: ctx.zones.sourceEndpoint },
      destination: { zone: ctx.zones.destination.name, endpoint: cfg.destination },
    };
    o.log.info(`verify: comparing ${zones.destination.zone} (${zones.destination.endpoint}) with its source ${zones.source.zone} (${zones.source.endpoint})${o.bucket !== undefined ? `, bucket ${o.bucket} only` : ''}`);
    const t0 = Date.now();
    const cmp = await compareZones({ admin: ctx.src, s3: ctx.srcS3 }, { admin: ctx.dst, s3: ctx.dstS3 }, {
      bucket: o.bucket,
      checkMetadata: o.checkMetadata ?? true,
      checkAcl: o.checkAcl ?? false,
      warn: (m) => o.log.warn(m),
      checkObjects: !cfg.metadataOnly,
      concurrency: 16,
      maxDifferences: o.maxDifferences ?? (o.json ? 1000 : SHOWN),
      ignoreBuckets: [cfg.stateBucket],
      versionIds: o.versionIds ?? true,
    });
    o.log.info(`verify: compared in ${((Date.now() - t0) / 1000).toFixed(1)}s (${cmp.metadataChecked} objects' metadata by HEAD, ${cmp.tagsChecked} objects' tags, ${cmp.aclsChecked} objects' ACLs)`);
    report(cmp, zones, o);
    return cmp.differenceCount === 0 ? VERIFY_EQUAL : VERIFY_DIFFERENT;
  } catch (e) {
    if (!(e instanceof AgentError)) throw e;
    o.log.error(`verify: ${e.message}`);
    if (o.json) o.out(JSON.stringify({ ...(zones ?? {}), error: e.message, equal: false }));
    return VERIFY_ERROR;
  } finally {
    await setup?.close();
  }
}

function report(cmp: Comparison, zones: Pick<VerifyReport, 'source' | 'destination'>, o: VerifyOptions): void {
  if (o.json) {
    const doc: VerifyReport = {
      ...zones, users: cmp.users, buckets: cmp.buckets, objects: cmp.objects, bytes: cmp.bytes, versions: cmp.versions,
      differences: cmp.differences.map((d) => ({ kind: d.kind, name: d.name, detail: d.detail })),
      differenceCount: cmp.differenceCount,
      equal: cmp.differenceCount === 0,
    };
    o.out(JSON.stringify(doc));
    return;
  }
  const shown = cmp.differences.slice(0, o.maxDifferences ?? SHOWN);
  // JSON.stringify quotes names with spaces, control characters or quotes so every line stays one line.
  const name = (n: string) => (/^[^\s"\\\p{C}]+$/u.test(n) ? n : JSON.stringify(n));
  for (const d of shown) o.out(`${d.kind} ${name(d.name)}: ${d.detail}`);
  if (cmp.differenceCount > shown.length) o.out(`... and ${plural(cmp.differenceCount - shown.length, 'more difference')}`);
  const what = [
    ...(o.bucket === undefined ? [plural(cmp.users, 'user')] : []),
    plural(cmp.buckets, 'bucket'),
    plural(cmp.objects, 'object'),
    ...(cmp.versions > 0 ? [plural(cmp.versions, 'version')] : []),
  ];
  o.out(`verify: ${what.join(', ')} compared; ${plural(cmp.differenceCount, 'difference')}`);
}
