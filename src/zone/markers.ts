/**
 * Log marker formats. Markers are compared as plain strings by the zone and by the agent, so every
 * field is fixed-width: a later entry always sorts after an earlier one, and " " (the agent's
 * "before everything") sorts before all of them.
 */
import { secUsec } from '../rgw/clock.js';

/** Metadata- and data-log ids, shaped like RGW's cls_log ids: 1_<sec>.<usec>_<seq>.1 */
export function logEntryId(timeUs: number, seq: number): string {
  const [sec, usec] = secUsec(timeUs).split('.');
  return `1_${sec.padStart(10, '0')}.${usec}_${seq}.1`;
}

/** Bucket-index op ids, shaped like RGW's unsharded bilog markers: <11-digit ver>.<ver>.<pool> */
export function bilogOpId(ver: number): string {
  return `${String(ver).padStart(11, '0')}.${ver}.1`;
}

