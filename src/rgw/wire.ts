/** JSON shapes of the RGW admin API that the agent reads and the embedded zone writes. */

export type LogType = 'metadata' | 'data';
export type BoundType = LogType | 'bucket-index';

export interface MdLogEntry { id: string; section: string; name: string; timestamp: string }
/** Pacific and later add the bucket-index generation (`gen`) and omit ids on some listings. */
export interface DataLogEntry { id?: string; key: string; timestamp: string; gen?: number }
export interface LogPage<E> { marker: string; truncated: boolean; entries: E[] }
export interface BilogEntry { op_id: string; op: string; object: string; instance?: string; state?: string; timestamp: string; /** RGW: the entry is of a versioned bucket (an OLH op or a version instance). */ versioned?: boolean }
export interface RetryItem { name: string; timestamp: string }
/** A metadata-log period: RGW keeps one metadata log per period, and a realm epoch orders them. */
export interface PeriodRef { id: string; realmEpoch: number }
/** A period as the source describes it (GET /admin/realm/period). */
export interface PeriodInfo extends PeriodRef { predecessor: string }
/** `period`: for metadata shards, the period whose log the marker belongs to (absent: the source has no periods, or a bound from before they were recorded). */
export interface Bound { marker: string; items: RetryItem[]; period?: PeriodRef }
export interface MetadataDoc { key: string; ver?: unknown; mtime?: unknown; data: Record<string, unknown> }

/**
 * An rgw-agent extension: a remote copy sent with this header asks the embedded zone to drop the
 * copy's op-state record once its answer is delivered; the zone's answer carries it when it does,
 * and the agent then sends no DELETE for the record. Other gateways ignore it.
 */
export const OP_STATE_HEADER = 'Rgwx-Op-State';
export const OP_STATE_DROPPED = 'dropped-when-delivered';
