/** Typed RGW admin API: region map, logs, locks, bounds (replica_log), metadata, op state. */
import type { ZoneClient } from './http.js';
import { AgentError, HttpError, NotFound } from './errors.js';
import { parsePeriodMap, parseRegionMap, type MapZonegroup } from './zonemap.js';
import { dataPageEnd, isStartMarker } from '../rgw/markers.js';
import type { BilogEntry, Bound, BoundType, DataLogEntry, LogPage, LogType, MdLogEntry, PeriodInfo, PeriodRef, RetryItem } from '../rgw/wire.js';

export type { BilogEntry, Bound, BoundType, DataLogEntry, LogPage, LogType, MdLogEntry, MetadataDoc, PeriodInfo, PeriodRef, RetryItem } from '../rgw/wire.js';

const DAEMON_ID = 'radosgw-agent'; // RGW keeps one entity per record; the original agent's id lets both share progress.

/**
 * "From the beginning" is no marker at all: Pacific's FIFO-backed data log rejects the old
 * agent's " " (400), and every gateway lists from the start without one.
 */
function markerParam(marker: string): [string, string][] {
  return isStartMarker(marker) ? [] : [['marker', marker]];
}

function periodParam(period: string | undefined): [string, string][] {
  return period ? [['period', period]] : [];
}

function entityParam(type: BoundType, entity: string): [string, string] {
  return type === 'bucket-index' ? ['bucket-instance', entity] : ['id', entity];
}

export class AdminApi {
  constructor(readonly client: ZoneClient) {}

  /**
   * The zonegroups this gateway knows: the region map where it serves one (Hammer to Pacific),
   * else the current period's map (Reef and later answer /admin/config with 405).
   */
  async zoneMap(): Promise<{ from: string; groups: MapZonegroup[] }> {
    try {
      return { from: 'GET /admin/config', groups: parseRegionMap(await this.client.json('GET', '/admin/config')) };
    } catch (e) {
      if (!(e instanceof HttpError && (e.status === 405 || e.status === 404))) throw e;
    }
    return { from: 'GET /admin/realm/period', groups: parsePeriodMap(await this.client.json('GET', '/admin/realm/period')) };
  }

  async shardCount(type: LogType): Promise<number> {
    const r = await this.client.json<{ num_objects: number }>('GET', '/admin/log', { query: [['type', type]] });
    return r.num_objects;
  }

  /**
   * The metadata log's current period, where the gateway has periods (Jewel and later with a
   * metadata-log history; not Hammer, not a gateway that never wrote its history).
   */
  async currentPeriod(): Promise<PeriodRef | undefined> {
    const r = await this.client.json<{ period?: unknown; realm_epoch?: unknown }>('GET', '/admin/log', { query: [['type', 'metadata']] });
    return typeof r.period === 'string' && r.period !== '' && typeof r.realm_epoch === 'number' ? { id: r.period, realmEpoch: r.realm_epoch } : undefined;
  }

  /** A period and its predecessor; undefined when the source does not know the id. */
  async period(id: string): Promise<PeriodInfo | undefined> {
    try {
      const r = await this.client.json<{ id?: unknown; realm_epoch?: unknown; predecessor_uuid?: unknown }>('GET', '/admin/realm/period', { query: [['period_id', id]] });
      if (typeof r.id !== 'string' || typeof r.realm_epoch !== 'number') throw new AgentError(`GET /admin/realm/period?period_id=${id}: the answer has no id and realm_epoch`);
      return { id: r.id, realmEpoch: r.realm_epoch, predecessor: typeof r.predecessor_uuid === 'string' ? r.predecessor_uuid : '' };
    } catch (e) {
      if (e instanceof NotFound) return undefined;
      throw e;
    }
  }

  /** Set once the gateway answered a heads request without heads (RGW): ask shard by shard. */
  private headsUnsupported = false;

  /**
   * Every shard's head marker in one call, where the gateway offers it (the embedded zone's
   * `?heads`); undefined elsewhere (RGW answers its shard count and ignores the parameter), and
   * from then on without asking again.
   */
  async shardHeads(type: LogType, period?: string): Promise<string[] | undefined> {
    if (this.headsUnsupported) return undefined;
    let r: { heads?: unknown };
    try {
      r = await this.client.json<{ heads?: unknown }>('GET', '/admin/log', { query: [['type', type], ['heads', undefined], ...periodParam(period)] });
    } catch (e) {
      if (!(e instanceof HttpError && e.status >= 400 && e.status < 500 && e.status !== 403)) throw e;
      r = {};
    }
    const heads = r.heads;
    if (!Array.isArray(heads) || !heads.every((h: unknown) => typeof h === 'object' && h !== null && typeof (h as { marker?: unknown }).marker === 'string')) {
      this.headsUnsupported = true;
      return undefined;
    }
    return heads.map((h: { marker: string }) => h.marker);
  }

  /** `period`: a metadata shard of that period's log (the current one when absent). */
  async shardMarker(type: LogType, shard: number, period?: string): Promise<string> {
    return (await this.shardInfo(type, shard, period)).marker;
  }

  /** A log shard's head marker and the time of its last entry (NaN when the zone gives none). */
  async shardInfo(type: LogType, shard: number, period?: string): Promise<{ marker: string; lastUpdateMs: number }> {
    const r = await this.client.json<{ marker: string; last_update?: string }>('GET', '/admin/log', { query: [['info', undefined], ['type', type], ['id', String(shard)], ...periodParam(period)] });
    return { marker: r.marker, lastUpdateMs: r.last_update ? Date.parse(r.last_update) : NaN };
  }

  async listLog<E extends MdLogEntry | DataLogEntry>(type: LogType, shard: number, marker: string, max: number, period?: string): Promise<LogPage<E>> {
    try {
      return await this.client.json<LogPage<E>>('GET', '/admin/log', {
        query: [['type', type], ['id', String(shard)], ...markerParam(marker), ['max-entries', String(max)], ...periodParam(period)],
      });
    } catch (e) {
      if (e instanceof NotFound) return { marker: '', truncated: false, entries: [] };
      throw e;
    }
  }

  /** Set once the gateway answered a data-log page without its end marker (Tentacle). */
  private dataPagesWithoutEnd = false;

  /** A data-log page whose `marker` is always its end, also where the gateway leaves it empty. */
  async listDataLog(shard: number, marker: string, max: number): Promise<LogPage<DataLogEntry>> {
    const head = this.dataPagesWithoutEnd ? await this.shardMarker('data', shard) : undefined;
    const page = await this.listLog<DataLogEntry>('data', shard, marker, max);
    const end = dataPageEnd(marker, head, page);
    if (end !== 'ask-head') return { ...page, marker: end };
    this.dataPagesWithoutEnd = true;
    return this.listDataLog(shard, marker, max);
  }

  /**
   * The bucket-index log's head: `maxMarker` of its newest generation, which is `latestGen` (Reef
   * and later keep one log per index layout; a reshard starts a new generation). '' when gone.
   */
  async bilogInfo(instance: string): Promise<{ maxMarker: string; latestGen: number }> {
    try {
      const r = await this.client.json<{ max_marker: string; latest_gen?: unknown }>('GET', '/admin/log', { query: [['info', undefined], ['type', 'bucket-index'], ['bucket-instance', instance]] });
      return { maxMarker: r.max_marker, latestGen: typeof r.latest_gen === 'number' ? r.latest_gen : 0 };
    } catch (e) {
      if (e instanceof NotFound) return { maxMarker: '', latestGen: 0 };
      throw e;
    }
  }

  /**
   * One generation of a bucket-index log. The generation is always named: without it Reef and
   * later list the newest one, so an older generation's entries would be read against the wrong
   * log. Gateways without generations (Pacific, the embedded zone) ignore the parameter.
   */
  listBilog(instance: string, marker: string, max: number, generation = 0): Promise<BilogEntry[]> {
    return this.client.json<BilogEntry[]>('GET', '/admin/log', {
      query: [['type', 'bucket-index'], ['bucket-instance', instance], ...markerParam(marker), ['max-entries', String(max)], ['generation', String(generation)]],
    });
  }

  /** Removes a log shard's entries up to and including `marker` (`period`: that metadata log). */
  async trimLog(type: LogType, shard: number, marker: string, period?: string): Promise<void> {
    await this.client.request('DELETE', '/admin/log', { query: [['type', type], ['id', String(shard)], ['marker', marker], ...periodParam(period)] });
  }

  /**
   * Removes one bucket-index log generation's entries up to and including `marker` (a position
   * within the index shard `instance` names). RGW wants `end-marker` here, where the other logs
   * take `marker`.
   */
  async trimBilog(instance: string, marker: string, generation = 0): Promise<void> {
    await this.client.request('DELETE', '/admin/log', { query: [['type', 'bucket-index'], ['bucket-instance', instance], ['end-marker', marker], ['generation', String(generation)]] });
  }

  async lock(type: LogType, shard: number, zoneId: string, lockerId: string, seconds: number): Promise<void> {
    await this.client.request('POST', '/admin/log', {
      query: [['lock', undefined], ['type', type], ['id', String(shard)], ['length', String(seconds)], ['zone-id', zoneId], ['locker-id', lockerId]],
    });
  }

  async unlock(type: LogType, shard: number, zoneId: string, lockerId: string): Promise<void> {
    await this.client.request('POST', '/admin/log', {
      query: [['unlock', undefined], ['type', type], ['id', String(shard)], ['zone-id', zoneId], ['locker-id', lockerId]],
    });
  }

  async getBound(type: BoundType, entity: string): Promise<Bound | undefined> {
    try {
      const r = await this.client.json<{ marker: string; markers?: { items_in_progress?: RetryItem[] }[] }>('GET', '/admin/replica_log', {
        query: [['bounds', undefined], ['type', type], entityParam(type, entity)],
      });
      const items = (r.markers ?? []).flatMap((m) => m.items_in_progress ?? []).map((i) => ({ name: i.name, timestamp: i.timestamp }));
      return { marker: r.marker, items };
    } catch (e) {
      if (e instanceof NotFound) return undefined;
      throw e;
    }
  }

  async setBound(type: BoundType, entity: string, bound: Bound): Promise<void> {
    await this.client.request('POST', '/admin/replica_log', {
      query: [['work_bound', undefined], ['type', type], entityParam(type, entity), ['marker', bound.marker], ['time', '1970-01-01 00:00:00'], ['daemon_id', DAEMON_ID]],
      body: JSON.stringify(bound.items),
      headers: { 'content-type': 'application/json' },
    });
  }

  metadataSections(): Promise<string[]> {
    return this.client.json<string[]>('GET', '/admin/metadata');
  }

  /** Every key of a section, paged (Pacific) so memory stays bounded per page. */
  async *metadataKeys(section: string, pageSize = 1000): AsyncGenerator<string> {
    let marker = '';
    for (;;) {
      const q: [string, string | undefined][] = [['max-entries', String(pageSize)]];
      if (marker) q.push(['marker', marker]);
      let r: string[] | { keys: string[]; truncated: string | boolean; marker?: string };
      try {
        r = await this.client.json('GET', `/admin/metadata/${section}`, { query: q });
      } catch (e) {
        if (e instanceof NotFound) return;
        throw e;
      }
      if (Array.isArray(r)) {
        yield* r;
        return;
      }
      yield* r.keys;
      const truncated = r.truncated === true || r.truncated === 'true';
      if (!truncated || !r.marker) return;
      marker = r.marker;
    }
  }

  /** The raw metadata document (re-sent verbatim to the other zone), or undefined when gone. */
  async getMetadata(section: string, key: string): Promise<Buffer | undefined> {
    try {
      return (await this.client.request('GET', `/admin/metadata/${section}`, { query: [['key', key]] })).body;
    } catch (e) {
      if (e instanceof NotFound) return undefined;
      throw e;
    }
  }

  async putMetadata(section: string, key: string, doc: Buffer): Promise<void> {
    await this.client.request('PUT', `/admin/metadata/${section}`, { query: [['key', key]], body: doc, headers: { 'content-type': 'application/json' } });
  }

  async deleteMetadata(section: string, key: string): Promise<void> {
    try {
      await this.client.request('DELETE', `/admin/metadata/${section}`, { query: [['key', key]] });
    } catch (e) {
      if (!(e instanceof NotFound)) throw e;
    }
  }

  /** The state a destination recorded for a remote copy, or undefined when it has none. */
  async opState(clientId: string, opId: string, object: string): Promise<string | undefined> {
    try {
      const r = await this.client.json<{ state: string }[]>('GET', '/admin/opstate', { query: [['client-id', clientId], ['op-id', opId], ['object', object]] });
      return r[0]?.state;
    } catch (e) {
      if (e instanceof NotFound) return undefined;
      throw e;
    }
  }

  async deleteOpState(clientId: string, opId: string, object: string): Promise<void> {
    try {
      await this.client.request('DELETE', '/admin/opstate', { query: [['client-id', clientId], ['op-id', opId], ['object', object]] });
    } catch (e) {
      if (!(e instanceof NotFound)) throw e;
    }
  }
}
