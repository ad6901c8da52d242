/**
 * Realm periods of the embedded zone, against real `zone serve` processes: the first period, a
 * restart that keeps it, a realm-file edit that commits the next one, one metadata log per period
 * (list, info, trim), /admin/realm and /admin/realm/period shaped like Pacific's answers, and a
 * data dir from before periods whose metadata log becomes the first period's.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { freePort, makeRealm, type TestRealm } from './helpers/realm.js';
import { call } from './helpers/http.js';
import { createUser } from './helpers/pair.js';
import { startZoneProc, type Proc } from './helpers/procs.js';
import { shortZoneId } from '../src/zone/admin/realm.js';

interface ZoneEntry { id: string; name: string; endpoints: string[]; log_meta: string; log_data: string }
interface Zonegroup { id: string; name: string; api_name: string; is_master: string; endpoints: string[]; master_zone: string; zones: ZoneEntry[] }
interface PeriodDoc {
  id: string;
  epoch: number;
  predecessor_uuid: string;
  sync_status: unknown[];
  period_map: { id: string; zonegroups: Zonegroup[]; short_zone_ids: { key: string; val: number }[] };
  master_zonegroup: string;
  master_zone: string;
  period_config: Record<string, unknown>;
  realm_id: string;
  realm_name: string;
  realm_epoch: number;
}
interface MdEntry { id: string; section: string; name: string; data: { status: { status: string } } }
interface MdPage { marker: string; truncated: boolean; entries: MdEntry[] }

const SHARDS = 4;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`../../test/fixtures/ceph-pacific/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;
}

function keys(o: unknown): string[] {
  assert.ok(typeof o === 'object' && o !== null && !Array.isArray(o), `expected an object, got ${JSON.stringify(o)}`);
  return Object.keys(o).sort();
}

/** Every key Pacific's answer has, at every level the agent reads, is in ours too. */
function assertPacificShape(ours: PeriodDoc): void {
  const real = fixture('realm-period.json') as unknown as PeriodDoc;
  const has = (what: string, o: unknown, want: unknown) => {
    const missing = keys(want).filter((k) => !keys(o).includes(k));
    assert.deepEqual(missing, [], `${what}: keys Pacific has and we lack`);
  };
  has('period', ours, real);
  has('period_map', ours.period_map, real.period_map);
  has('zonegroup', ours.period_map.zonegroups[0], real.period_map.zonegroups[0]);
  has('zone', ours.period_map.zonegroups[0].zones[0], real.period_map.zonegroups[0].zones[0]);
  has('period_config', ours.period_config, real.period_config);
  has('short_zone_ids entry', ours.period_map.short_zone_ids[0], real.period_map.short_zone_ids[0]);
  for (const k of ['epoch', 'realm_epoch'] as const) assert.equal(typeof ours[k], 'number', k);
  assert.deepEqual(ours.sync_status, []);
  assert.equal(ours.period_map.id, ours.id);
  const zg = ours.period_map.zonegroups[0];
  assert.equal(zg.is_master, 'true', 'booleans are strings, as Pacific sends them');
  for (const z of zg.zones) {
    assert.equal(z.id, z.name, 'zone ids equal names, as /admin/config has them');
    assert.equal(z.log_meta, 'true');
    assert.equal(z.log_data, 'true');
  }
  assert.deepEqual(ours.period_map.short_zone_ids.map((s) => s.key), zg.zones.map((z) => z.id));
  for (const s of ours.period_map.short_zone_ids) assert.equal(s.val, shortZoneId(s.key));
}

describe('embedded zone periods', () => {
  let t: TestRealm;
  let zone: Proc | undefined;
  let dataDir: string;
  let base: string;
  const sys = () => ({ accessKey: t.accessKey, secretKey: t.secretKey });
  let first: PeriodDoc;
  let second: PeriodDoc;
  const eastPort = () => t.realm.zones.find((z) => z.name === 'us-east')!.port;

  async function restart(): Promise<Proc> {
    if (zone) assert.equal(await zone.kill('SIGTERM'), 0, 'the zone stops cleanly');
    zone = await startZoneProc(t.realmFile, 'us-east', dataDir);
    return zone;
  }

  async function period(q = ''): Promise<PeriodDoc> {
    const r = await call(base, 'GET', `/admin/realm/period${q}`, sys());
    assert.equal(r.status, 200, r.text);
    return r.json<PeriodDoc>();
  }

  /** Every entry of one period's metadata log, shard by shard (current period when none given). */
  async function mdlog(periodId?: string): Promise<MdEntry[][]> {
    const out: MdEntry[][] = [];
    for (let shard = 0; shard < SHARDS; shard++) {
      const q = periodId === undefined ? '' : `&period=${encodeURIComponent(periodId)}`;
      const r = await call(base, 'GET', `/admin/log?type=metadata&id=${shard}&max-entries=1000${q}`, sys());
      assert.equal(r.status, 200, r.text);
      const page = r.json<MdPage>();
      assert.equal(page.truncated, false);
      assert.equal(page.marker, page.entries.at(-1)?.id ?? '');
      out.push(page.entries);
    }
    return out;
  }

  const userNames = (log: MdEntry[][]) => new Set(log.flat().filter((e) => e.section === 'user').map((e) => e.name));

  before(async () => {
    t = await makeRealm({ zones: ['us-east', 'us-west'], extra: `metadata_log_shards: ${SHARDS}` });
    dataDir = join(t.dir, 'east');
    base = `http://127.0.0.1:${eastPort()}`;
    await restart();
  });

  after(async () => {
    await zone?.kill('SIGKILL');
    t?.cleanup();
  });

  it('a fresh zone is at realm epoch 1 with no predecessor', async () => {
    first = await period();
    assert.match(first.id, UUID);
    assert.equal(first.epoch, 1);
    assert.equal(first.realm_epoch, 1);
    assert.equal(first.predecessor_uuid, '');
    assert.equal(first.master_zone, 'us-east');
    assert.equal(first.master_zonegroup, 'us');
    assert.equal(first.realm_id, 'us');
    assert.deepEqual(first.period_map.zonegroups.map((g) => g.name), ['us']);
    assert.deepEqual(first.period_map.zonegroups[0].zones.map((z) => z.name), ['us-east', 'us-west']);
    assert.deepEqual(first.period_map.zonegroups[0].zones.map((z) => z.endpoints), t.realm.zones.map((z) => [z.endpoint]));
    assertPacificShape(first);
    assert.deepEqual(await period(`?period_id=${first.id}`), first, 'period_id of the current period answers the same');

    const info = await call(base, 'GET', '/admin/log?type=metadata', sys());
    assert.deepEqual(info.json(), { num_objects: SHARDS, period: first.id, realm_epoch: 1 });
    const realm = await call(base, 'GET', '/admin/realm', sys());
    assert.equal(realm.status, 200, realm.text);
    assert.deepEqual(realm.json(), { id: 'us', name: 'us', current_period: first.id, epoch: 1 });
    assert.deepEqual(keys(realm.json()), keys(fixture('realm.json')), 'the keys of Pacific\'s /admin/realm');
    assert.doesNotMatch(zone!.output(), /committed period/, 'the first period is not a commit');
    // The system user, created at first start, is logged in the first period.
    assert.ok(userNames(await mdlog()).has('sync-agent'));
  });

  it('a restart with the same realm file keeps the period', async () => {
    await createUser(base, sys(), 'alice');
    // Reordering the zones in the file is not a change of the realm.
    const text = readFileSync(t.realmFile, 'utf8');
    const lines = text.split('\n');
    const east = lines.findIndex((l) => l.startsWith('  us-east:'));
    const west = lines.findIndex((l) => l.startsWith('  us-west:'));
    [lines[east], lines[west]] = [lines[west], lines[east]];
    writeFileSync(t.realmFile, lines.join('\n'));
    const p = await restart();
    assert.deepEqual(await period(), first);
    assert.doesNotMatch(p.output(), /(created|committed) period/, 'nothing created or committed');
    assert.ok(userNames(await mdlog()).has('alice'));
  });

  it('adding a zone to the realm file commits realm epoch 2 after the old period', async () => {
    const northPort = await freePort();
    const text = readFileSync(t.realmFile, 'utf8');
    writeFileSync(t.realmFile, text.replace('zones:\n', `zones:\n  us-north: { endpoint: "http://127.0.0.1:${northPort}" }\n`));
    const p = await restart();
    second = await period();
    assert.match(second.id, UUID);
    assert.notEqual(second.id, first.id);
    assert.equal(second.realm_epoch, 2);
    assert.equal(second.epoch, 1);
    assert.equal(second.predecessor_uuid, first.id);
    assert.deepEqual(second.period_map.zonegroups[0].zones.map((z) => z.name), ['us-east', 'us-north', 'us-west']);
    assertPacificShape(second);
    assert.match(p.output(), new RegExp(`committed period ${second.id} \\(realm epoch 2, predecessor ${first.id}\\)`));
    assert.deepEqual((await call(base, 'GET', '/admin/log?type=metadata', sys())).json(), { num_objects: SHARDS, period: second.id, realm_epoch: 2 });
    assert.deepEqual((await call(base, 'GET', '/admin/realm', sys())).json(), { id: 'us', name: 'us', current_period: second.id, epoch: 2 });

    // The old period keeps the zone list it was committed for.
    const old = await period(`?period_id=${encodeURIComponent(first.id)}`);
    assert.deepEqual(old, first);
    assert.deepEqual(old.period_map.zonegroups[0].zones.map((z) => z.name), ['us-east', 'us-west']);
  });

  it('keeps one metadata log per period', async () => {
    await createUser(base, sys(), 'bob');
    const oldLog = await mdlog(first.id);
    const newLog = await mdlog(second.id);
    assert.deepEqual(await mdlog(), newLog, 'no period = the current period');
    assert.deepEqual([...userNames(oldLog)].sort(), ['alice', 'sync-agent']);
    assert.deepEqual([...userNames(newLog)], ['bob']);
    // Ids keep increasing across periods: every new entry sorts after every old one.
    const lastOld = oldLog.flat().map((e) => e.id).sort().at(-1)!;
    for (const e of newLog.flat()) assert.ok(e.id > lastOld, `${e.id} sorts after ${lastOld}`);
    // A marker from one period pages within that period only.
    const shard = oldLog.findIndex((s) => s.some((e) => e.name === 'alice'));
    const r = await call(base, 'GET', `/admin/log?type=metadata&id=${shard}&marker=%20&max-entries=1&period=${first.id}`, sys());
    assert.deepEqual(r.json<MdPage>().entries.map((e) => e.id), [oldLog[shard][0].id]);
    assert.equal(r.json<MdPage>().truncated, oldLog[shard].length > 1);
  });

  it('answers shard info and trims per period', async () => {
    const oldLog = await mdlog(first.id);
    const newLog = await mdlog(second.id);
    for (let shard = 0; shard < SHARDS; shard++) {
      for (const [pid, log] of [[first.id, oldLog], [second.id, newLog]] as const) {
        const r = await call(base, 'GET', `/admin/log?type=metadata&id=${shard}&info&period=${pid}`, sys());
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json<{ marker: string }>().marker, log[shard].at(-1)?.id ?? '', `shard ${shard} of period ${pid}`);
      }
      const cur = await call(base, 'GET', `/admin/log?type=metadata&id=${shard}&info`, sys());
      assert.equal(cur.json<{ marker: string }>().marker, newLog[shard].at(-1)?.id ?? '', `shard ${shard}: no period = the current`);
    }

    // Trimming the old period's log up to a marker past every entry leaves the new period's alone.
    const shard = oldLog.findIndex((s) => s.some((e) => e.name === 'alice'));
    const del = await call(base, 'DELETE', `/admin/log?type=metadata&id=${shard}&marker=${encodeURIComponent('9')}&period=${first.id}`, sys());
    assert.equal(del.status, 200, del.text);
    assert.deepEqual((await mdlog(first.id))[shard], []);
    assert.deepEqual(await mdlog(second.id), newLog);
  });

  it('refuses unknown periods with 404 NoSuchKey and other methods with 405', async () => {
    for (const q of ['&id=0', '&id=0&info']) {
      const r = await call(base, 'GET', `/admin/log?type=metadata${q}&period=no-such-period`, sys());
      assert.equal(r.status, 404, r.text);
      assert.equal(r.json<{ Code: string }>().Code, 'NoSuchKey');
      assert.match(r.json<{ Message: string }>().Message, /no-such-period/);
    }
    const del = await call(base, 'DELETE', '/admin/log?type=metadata&id=0&marker=9&period=no-such-period', sys());
    assert.equal(del.status, 404, del.text);
    const rp = await call(base, 'GET', '/admin/realm/period?period_id=no-such-period', sys());
    assert.equal(rp.status, 404, rp.text);
    assert.equal(rp.json<{ Code: string }>().Code, 'NoSuchKey');
    // The data log is not per period: the parameter does not matter there.
    assert.equal((await call(base, 'GET', '/admin/log?type=data&id=0&period=no-such-period', sys())).status, 200);
    assert.equal((await call(base, 'GET', '/admin/log?type=data&id=0&info&period=no-such-period', sys())).status, 200);

    for (const path of ['/admin/realm/period', '/admin/realm']) {
      const r = await call(base, 'POST', path, sys());
      assert.equal(r.status, 405, `${path}: ${r.text}`);
      assert.equal(r.json<{ Code: string }>().Code, 'MethodNotAllowed');
    }
    assert.equal((await call(base, 'GET', '/admin/realm/nothing', sys())).status, 405);
    // Like every admin call, only for system users.
    const carol = await createUser(base, sys(), 'carol');
    assert.equal((await call(base, 'GET', '/admin/realm/period', carol)).status, 403);
  });
});

describe('embedded zone periods: data dir from before periods', () => {
  let t: TestRealm;
  let zone: Proc | undefined;

  before(async () => {
    t = await makeRealm({ zones: ['us-east', 'us-west'], extra: `metadata_log_shards: ${SHARDS}` });
  });

  after(async () => {
    await zone?.kill('SIGKILL');
    t?.cleanup();
  });

  it('assigns the old metadata log to the first period', async () => {
    const dataDir = join(t.dir, 'east');
    mkdirSync(dataDir, { recursive: true });
    // The mdlog table as zones wrote it before periods, with two entries.
    const db = new Database(join(dataDir, 'zone.db'));
    db.exec('CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)');
    db.exec('CREATE TABLE mdlog (shard INTEGER NOT NULL, id TEXT NOT NULL, section TEXT NOT NULL, name TEXT NOT NULL, time_us INTEGER NOT NULL, status TEXT NOT NULL, ver INTEGER NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (shard, id)) WITHOUT ROWID');
    const old = [
      { shard: 1, id: '1_1700000000.000001_1.1', name: 'olduser', status: 'write' },
      { shard: 2, id: '1_1700000000.000002_2.1', name: 'gone', status: 'remove' },
    ];
    const ins = db.prepare('INSERT INTO mdlog (shard, id, section, name, time_us, status, ver, tag) VALUES (?, ?, \'user\', ?, ?, ?, 1, \'_t\')');
    for (const [i, e] of old.entries()) ins.run(e.shard, e.id, e.name, 1700000000000001 + i, e.status);
    db.prepare('INSERT INTO kv (k, v) VALUES (\'mdlog_seq\', 2), (\'clock_us\', 1700000000000002)').run();
    db.close();

    const port = t.realm.zones.find((z) => z.name === 'us-east')!.port;
    zone = await startZoneProc(t.realmFile, 'us-east', dataDir);
    const base = `http://127.0.0.1:${port}`;
    const sys = { accessKey: t.accessKey, secretKey: t.secretKey };
    const p = (await call(base, 'GET', '/admin/realm/period', sys)).json<PeriodDoc>();
    assert.equal(p.realm_epoch, 1);
    assert.equal(p.predecessor_uuid, '');
    for (const e of old) {
      for (const q of [`&period=${p.id}`, '']) {
        const r = await call(base, 'GET', `/admin/log?type=metadata&id=${e.shard}&marker=%20${q}`, sys);
        assert.equal(r.status, 200, r.text);
        const entries = r.json<MdPage>().entries;
        assert.deepEqual(entries.filter((x) => x.name === e.name).map((x) => [x.id, x.section, x.data.status.status]), [[e.id, 'user', e.status]], `shard ${e.shard}${q}`);
      }
    }
    // New entries follow the old ones in the same period.
    await createUser(base, sys, 'newuser');
    const all: MdEntry[] = [];
    for (let shard = 0; shard < SHARDS; shard++) {
      all.push(...(await call(base, 'GET', `/admin/log?type=metadata&id=${shard}&period=${p.id}`, sys)).json<MdPage>().entries);
    }
    assert.deepEqual(all.filter((e) => e.section === 'user').map((e) => e.name).sort(), ['gone', 'newuser', 'olduser', 'sync-agent']);
    for (const e of all.filter((x) => x.name === 'newuser')) assert.ok(e.id > old[1].id);
  });
});
