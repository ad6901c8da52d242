/**
 * Bucket versioning decisions, pure: the state a bucket's flags give, which version of a key is
 * current, and what a write or a delete does to a key's stack of versions in each state. The store
 * applies what these return in its transaction; the HTTP handlers never decide it themselves.
 */
import { randomBytes } from 'node:crypto';

/** RGW's bucket_info.flags bits. */
export const BUCKET_VERSIONED = 0x2;
export const BUCKET_VERSIONS_SUSPENDED = 0x4;

/** 'off': never enabled (or cleared by another zone's metadata): objects behave as without versioning. */
export type VersioningState = 'off' | 'enabled' | 'suspended';

/** S3's spelling of the null version's id. */
export const NULL_VERSION = 'null';

export function stateFromFlags(flags: number): VersioningState {
  if ((flags & BUCKET_VERSIONED) === 0) return 'off';
  return (flags & BUCKET_VERSIONS_SUSPENDED) !== 0 ? 'suspended' : 'enabled';
}

/** The flags for a new state; other bits of the bucket are kept. */
export function flagsFor(state: Exclude<VersioningState, 'off'>, flags: number): number {
  const base = flags & ~(BUCKET_VERSIONED | BUCKET_VERSIONS_SUSPENDED);
  return state === 'enabled' ? base | BUCKET_VERSIONED : base | BUCKET_VERSIONED | BUCKET_VERSIONS_SUSPENDED;
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** A random version id: 32 characters of RGW's alphabet, never "null". */
export function newVersionId(): string {
  const bytes = randomBytes(32);
  let s = '';
  for (const b of bytes) s += ID_ALPHABET[b & 63];
  return s;
}

/** What the decisions need of a stored version: its place in the key's stack. */
export interface VersionPos {
  version_id: string;
  epoch: number;
  /** Write order across the zone: among equal epochs the later write is current. */
  seq: number;
  delete_marker: number;
}

/** Newest first: highest epoch, then the later write. ListObjectVersions uses this order too. */
export function compareNewestFirst(a: VersionPos, b: VersionPos): number {
  return b.epoch - a.epoch || b.seq - a.seq;
}

/** The current version of a key: the highest epoch (ties: the later write); may be a delete marker. */
export function currentOf<T extends VersionPos>(versions: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const v of versions) if (best === undefined || compareNewestFirst(v, best) < 0) best = v;
  return best;
}

/** What a system user (a sync agent) may dictate: rgwx-version-id and rgwx-versioned-epoch. */
export interface VersionAsk {
  versionId?: string;
  epoch?: number;
}

/** A version to add to a key's stack: its id, its epoch, and the stored version it replaces. */
export interface VersionPlan {
  versionId: string;
  epoch: number;
  replaces?: string;
}

/**
 * What a PUT (or copy, or complete) or a DELETE without versionId does to a key: 'plain' is the
 * unversioned behaviour (one object, replaced or removed); otherwise a new version or marker:
 *
 * | state     | id                              | replaces         |
 * |-----------|---------------------------------|------------------|
 * | enabled   | asked id, else a new random one | same id, if any  |
 * | suspended | asked id, else "null"           | same id, if any  |
 * | off       | plain, unless the key already has versions (state cleared by another zone's
 * |           | metadata): then as suspended, so the stack is never left half-managed |
 *
 * The epoch is the asked one, else one above the key's OLH epoch: the highest it ever had,
 * removals included (RGW's OLH epoch moves on every change), so a version written after a
 * removal sorts above anything the removal was ordered after. A bucket that is off ignores the
 * agent's parameters: there is no stack to place them in.
 */
export function planVersion(state: VersioningState, existing: readonly VersionPos[], ask: VersionAsk, o: { olhEpoch?: number; newId?: () => string } = {}): VersionPlan | 'plain' {
  if (state === 'off' && existing.length === 0) return 'plain';
  const versionId = ask.versionId ?? (state === 'enabled' ? (o.newId ?? newVersionId)() : NULL_VERSION);
  const maxEpoch = existing.reduce((m, v) => Math.max(m, v.epoch), o.olhEpoch ?? 0);
  const epoch = ask.epoch ?? maxEpoch + 1;
  const replaces = existing.some((v) => v.version_id === versionId) ? versionId : undefined;
  return { versionId, epoch, ...(replaces !== undefined ? { replaces } : {}) };
}

/** Parses a PUT ?versioning body; undefined for anything that is not a VersioningConfiguration with a Status. */
export function parseVersioningStatus(doc: unknown): { status?: 'Enabled' | 'Suspended'; mfaDelete?: string } | undefined {
  if (typeof doc !== 'object' || doc === null) return undefined;
  const c = (doc as { VersioningConfiguration?: unknown }).VersioningConfiguration;
  // An empty element parses as '': a configuration that names nothing.
  if (c === '') return {};
  if (typeof c !== 'object' || c === null) return undefined;
  const { Status, MfaDelete } = c as { Status?: unknown; MfaDelete?: unknown };
  if (Status !== undefined && Status !== 'Enabled' && Status !== 'Suspended') return undefined;
  if (MfaDelete !== undefined && typeof MfaDelete !== 'string') return undefined;
  return { ...(Status !== undefined ? { status: Status } : {}), ...(MfaDelete !== undefined ? { mfaDelete: MfaDelete } : {}) };
}

/** A system user's rgwx-version-id: S3's ids are short printable strings; anything else is refused. */
export function validVersionId(v: string): boolean {
  return v.length > 0 && v.length <= 128 && /^[\x21-\x7e]+$/.test(v);
}
