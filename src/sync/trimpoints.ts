/**
 * How far the source's logs may be trimmed. Every agent that reads a source registers what it
 * still needs of each log (its bounds, or "everything" where it has none yet); a log may lose only
 * what every destination has read. These are the decisions, without I/O: the registry and the
 * trim calls are in trim.ts.
 */
import type { PeriodRef } from '../rgw/wire.js';
import { compareMarkers, isStartMarker } from '../rgw/markers.js';

/** What one metadata shard's reader still needs: everything after `marker` in `period`'s log. */
export interface MetadataHold { marker: string; period?: PeriodRef }

/**
 * One agent's registration, kept on the source (trim/<destination zone id>/<scope>.json in the
 * state bucket). A marker '' holds the whole log; a log the registration does not name is one
 * this agent does not read.
 */
export interface Registration {
  version: 1;
  /** The source zone as the writing agent names it (informational). */
  source: string;
  destination: { id: string; name: string };
  /** Which shards this agent syncs: "all", "metadata" (metadata_only) or a shard list. */
  scope: string;
  /** host:pid:random of the process that wrote it last. */
  locker: string;
  /** When it was written (ms since the epoch, the writer's clock): for "last seen" only. */
  at: number;
  /** This agent trims the source's logs. */
  trims: boolean;
  /** How long after reading the registry this agent may still send a trim call (ms). */
  fenceMs: number;
  metadata: Record<string, MetadataHold>;
  data: Record<string, string>;
  /** Bucket-index logs by instance name as bounds name them ("b:id:shard[:gN]"). */
  bilog: Record<string, string>;
}

/**
 * The marker a log may be trimmed up to (inclusive), or undefined to leave it alone. Each
 * destination holds the log at the lowest hold among its registrations that name the log, and a
 * destination none of whose registrations name it holds all of it (its agent for those shards may
 * not have started yet). The log may lose only what lies before every destination's hold.
 */
export function trimPoint(regs: readonly Registration[], hold: (r: Registration) => string | undefined): string | undefined {
  const byDestination = new Map<string, string[]>();
  for (const r of regs) {
    const list = byDestination.get(r.destination.id) ?? [];
    byDestination.set(r.destination.id, list);
    const h = hold(r);
    if (h !== undefined) list.push(h);
  }
  let point: string | undefined;
  for (const holds of byDestination.values()) {
    if (holds.length === 0) return undefined;
    for (const h of holds) if (point === undefined || compareMarkers(h, point) < 0) point = h;
  }
  return point === undefined || isStartMarker(point) ? undefined : point;
}

/**
 * A metadata hold as a position in `current`'s log: its marker where the hold is in that period;
 * '' (all of it) where the hold is in another period or names none while the source has periods,
 * since a marker of one period's log says nothing about another's.
 */
export function metadataHoldIn(h: MetadataHold | undefined, current: PeriodRef | undefined): string | undefined {
  if (!h) return undefined;
  if (!current) return h.marker;
  return h.period?.id === current.id ? h.marker : '';
}

/**
 * A registration read from the registry, or undefined for one of another shape. Its `source` is
 * not checked: the registry is on the source itself, and agents name one zone differently (an
 * embedded zone's realm file calls a Ceph zone by its name, Ceph by its id); dropping a
 * registration would trim past what its agent needs, keeping a foreign one only trims less.
 */
export function parseRegistration(raw: unknown): Registration | undefined {
  if (!isRecord(raw) || raw.version !== 1 || typeof raw.source !== 'string') return undefined;
  const d = raw.destination;
  if (!isRecord(d) || typeof d.id !== 'string' || typeof d.name !== 'string') return undefined;
  if (typeof raw.scope !== 'string' || typeof raw.locker !== 'string' || typeof raw.at !== 'number' || typeof raw.trims !== 'boolean' || typeof raw.fenceMs !== 'number') return undefined;
  const data = stringMap(raw.data);
  const bilog = stringMap(raw.bilog);
  if (!data || !bilog || !isRecord(raw.metadata)) return undefined;
  const metadata: Record<string, MetadataHold> = {};
  for (const [shard, h] of Object.entries(raw.metadata)) {
    if (!isRecord(h) || typeof h.marker !== 'string') return undefined;
    const p = h.period;
    if (p !== undefined && !(isRecord(p) && typeof p.id === 'string' && typeof p.realmEpoch === 'number')) return undefined;
    metadata[shard] = { marker: h.marker, ...(p ? { period: { id: p.id as string, realmEpoch: p.realmEpoch as number } } : {}) };
  }
  return { version: 1, source: raw.source, destination: { id: d.id, name: d.name }, scope: raw.scope, locker: raw.locker, at: raw.at, trims: raw.trims, fenceMs: raw.fenceMs, metadata, data, bilog };
}

/** Two registrations hold the same positions (whoever wrote them, whenever). */
export function sameHolds(a: Registration, b: Registration): boolean {
  const holds = (r: Registration) => JSON.stringify([r.trims, r.fenceMs, r.metadata, r.data, r.bilog]);
  return holds(a) === holds(b);
}

/**
 * How long an agent registering for the first time waits before reading any log position: long
 * enough that a trim round of another agent that read the registry before this registration
 * existed has sent its last trim call. 0 when no other registered agent trims.
 */
export function fenceWait(others: readonly Registration[]): number {
  return Math.max(0, ...others.filter((r) => r.trims).map((r) => r.fenceMs));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringMap(v: unknown): Record<string, string> | undefined {
  if (!isRecord(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') return undefined;
    out[k] = x;
  }
  return out;
}
