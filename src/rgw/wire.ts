/** JSON shapes of the RGW admin API that the agent reads and the embedded zone writes. */

export type LogType = 'metadata' | 'data';
export type BoundType = LogType | 'bucket-index';

export interface MdLogEntry { id: string; section: string; name: string; timestamp: string }
/** Pacific and later add the bucket-index generation (`gen`) and omit ids on some listings. */
export interface DataLogEntry { id?: string; key: string; timestamp: string; gen?: number }
export interface LogPage<E> { marker: string; truncated: boolean; entries: E[] }
export interface BilogEntry { op_id: string; op: string; object: string; instance?: string; state?: string; timestamp: string }
export interface RetryItem { name: string; timestamp: string }
export interface Bound { marker: string; items: RetryItem[] }
export interface MetadataDoc { key: string; ver?: unknown; mtime?: unknown; data: Record<string, unknown> }
