/** Trimming the source's logs: the decisions (tables), then two agents of one source end to end. */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fenceWait, metadataHoldIn, parseRegistration, trimPoint, type Registration } from '../src/sync/trimpoints.js';
import { fenceFor, registrationKey, scopeOf } from '../src/sync/trim.js';
import { buildConfig } from '../src/config.js';
import { call } from './helpers/http.js';
import { createUser, put, del, sameZoneState, startPair, type Pair } from './helpers/pair.js';
import { until } from './helpers/procs.js';

function reg(destination: string, over: Partial<Registration> = {}): Registration {
  return {
    version: 1, source: 'src-zone', destination: { id: destination, name: destination }, scope: 'all', locker: 'h:1:x', at: 0, trims: false, fenceMs: 1000,
    metadata: {}, data: {}, bilog: {}, ...over,
  };
}

describe('trim points', () => {
  const data = (r: Registration, shard = '0') => r.data[shard];
  const cases: { name: string; regs: Registration[]; want: string | undefined }[] = [
    { name: 'nobody registered: nothing is trimmed', regs: [], want: undefined },
    { name: 'one destination: up to its bound', regs: [reg('w', { data: { 0: 'm5' } })], want: 'm5' },
    { name: 'two destinations: the lower bound', regs: [reg('w', { data: { 0: 'm5' } }), reg('c', { data: { 0: 'm3' } })], want: 'm3' },
    { name: 'a destination without a bound yet holds everything', regs: [reg('w', { data: { 0: 'm5' } }), reg('c', { data: { 0: '' } })], want: undefined },
    { name: 'a destination that does not name the shard (its agent for it has not started) holds everything', regs: [reg('w', { data: { 0: 'm5' } }), reg('c', { scope: '1-7', data: { 1: 'm9' } })], want: undefined },
    { name: 'two agents of one destination splitting shards: the one naming the shard decides', regs: [reg('w', { scope: '0-3', data: { 0: 'm5' } }), reg('w', { scope: '4-7', data: { 4: 'm1' } })], want: 'm5' },
    { name: 'two agents of one destination naming the shard: the lower', regs: [reg('w', { data: { 0: 'm5' } }), reg('w', { scope: 'x', data: { 0: 'm2' } })], want: 'm2' },
    { name: 'markers compare as positions (shard prefix ignored)', regs: [reg('w', { data: { 0: '3#00000000010.1.2' } }), reg('c', { data: { 0: '00000000009.1.2' } })], want: '00000000009.1.2' },
  ];
  for (const c of cases) it(c.name, () => assert.equal(trimPoint(c.regs, (r) => data(r)), c.want));

  it('metadata holds count only in the period being trimmed', () => {
    const p2 = { id: 'p2', realmEpoch: 2 };
    const p3 = { id: 'p3', realmEpoch: 3 };
    assert.equal(metadataHoldIn(undefined, p3), undefined);
    assert.equal(metadataHoldIn({ marker: 'm4', period: p3 }, p3), 'm4');
    assert.equal(metadataHoldIn({ marker: 'm4', period: p2 }, p3), '', 'still reading an older period: all of the current one is needed');
    assert.equal(metadataHoldIn({ marker: 'm4' }, p3), '', 'a bound without a period says nothing about this log');
    assert.equal(metadataHoldIn({ marker: 'm4' }, undefined), 'm4', 'a source without periods');
    const regs = [reg('w', { metadata: { 0: { marker: 'm9', period: p3 } } }), reg('c', { metadata: { 0: { marker: 'm1', period: p2 } } })];
    assert.equal(trimPoint(regs, (r) => metadataHoldIn(r.metadata['0'], p3)), undefined);
  });

  it('registrations of an unknown shape are ignored; one naming the source differently still holds', () => {
    const good = reg('w', { data: { 0: 'm1' }, metadata: { 1: { marker: 'x', period: { id: 'p', realmEpoch: 1 } } }, bilog: { 'b:id:0': '0#1' } });
    assert.deepEqual(parseRegistration(JSON.parse(JSON.stringify(good))), good);
    // test:ceph found this: an agent into an embedded zone names Ceph's us-east "us-east", Ceph's
    // own zones name it by its id; dropping its registration trimmed past what it needed.
    assert.deepEqual(parseRegistration({ ...good, source: 'us-east' }), { ...good, source: 'us-east' });
    assert.equal(parseRegistration({ ...good, version: 2 }), undefined);
    assert.equal(parseRegistration({ ...good, data: { 0: 5 } }), undefined);
    assert.equal(parseRegistration({ ...good, metadata: { 0: { marker: 'x', period: { id: 1 } } } }), undefined);
    assert.equal(parseRegistration('[]'), undefined);
  });

  it('a newcomer waits the longest fence of the agents that trim; the fence outlasts a round', () => {
    assert.equal(fenceWait([]), 0);
    assert.equal(fenceWait([reg('w', { fenceMs: 9000 })]), 0, 'an agent that does not trim');
    assert.equal(fenceWait([reg('w', { trims: true, fenceMs: 9000 }), reg('c', { trims: true, fenceMs: 4000 })]), 9000);
    for (const interval of [1, 10, 60, 600, 86400]) {
      const f = fenceFor(interval);
      assert.ok(f.fence > f.round && f.round > 0 && f.round <= 30_000 && f.fence <= 40_000, `interval ${interval}`);
    }
  });

  it('scope and registration key name the destination and the shards', () => {
    const base = { src_access_key: 'a', src_secret_key: 'b', dest_access_key: 'c', dest_secret_key: 'd', destination: 'http://127.0.0.1:1' };
    assert.equal(scopeOf(buildConfig(base, {}, {})), 'all');
    assert.equal(scopeOf(buildConfig({ ...base, shards: '0-3,5,7-8' }, {}, {})), '0-3,5,7-8');
    assert.equal(scopeOf(buildConfig({ ...base, metadata_only: true }, {}, {})), 'metadata');
    assert.equal(registrationKey('zone/1', '0-3,5'), 'trim/zone%2F1/0-3%2C5.json');
  });
});

interface Entry { id?: string; key?: string; op_id?: string }

async function logEntries(p: Pair, type: 'metadata' | 'data', shards: number): Promise<Entry[]> {
  const out: Entry[] = [];
  for (let s = 0; s < shards; s++) out.push(...(await call(p.east, 'GET', `/admin/log?type=${type}&id=${s}`, p.sys)).json<{ entries: Entry[] }>().entries);
  return out;
}

async function bilogEntries(p: Pair, bucket: string): Promise<Entry[]> {
  const id = (await call(p.east, 'GET', `/admin/metadata/bucket?key=${bucket}`, p.sys)).json<{ data: { bucket: { bucket_id: string } } }>().data.bucket.bucket_id;
  return (await call(p.east, 'GET', `/admin/log?type=bucket-index&bucket-instance=${encodeURIComponent(`${bucket}:${id}`)}`, p.sys)).json<Entry[]>();
}

describe('trim_source_logs between embedded zones', () => {
  let p: Pair;
  afterEach(async () => { await p?.close(); });

  it('trims behind every registered destination: a lagging second agent is not trimmed past and catches up; then the logs are empty', async () => {
    p = await startPair({ thirdZone: true, mdShards: 4, dataShards: 4 });
    const central = p.central as string;
    const alice = await createUser(p.east, p.sys, 'alice');
    assert.equal((await call(p.east, 'PUT', '/logs-a', alice)).status, 200);
    for (let i = 0; i < 10; i++) await put(p.east, alice, 'logs-a', `k${i}`, `v${i}`);

    const trimmer = p.agent(['sync'], { trim_source_logs: true, trim_interval: 1 });
    await until('us-west equals us-east', () => sameZoneState(p.east, p.westDirect, p.sys), 30_000, 200);
    // The lagging agent: one run into us-central, then it stops (its registration stays).
    const first = p.agent(['sync', '--once'], { destination: central });
    assert.equal(await first.exited, 0, first.output());
    assert.match(first.output(), /waiting \d+\.\ds so that no trim round/, 'a newcomer waits out the trimming agent\'s fence');

    // Changes the lagging agent has not read: objects, a delete, a new user and a new bucket.
    for (let i = 10; i < 30; i++) await put(p.east, alice, 'logs-a', `k${i}`, `v${i}`);
    await del(p.east, alice, 'logs-a', 'k3');
    const bob = await createUser(p.east, p.sys, 'bob');
    assert.equal((await call(p.east, 'PUT', '/logs-b', bob)).status, 200);
    await put(p.east, bob, 'logs-b', 'only', 'x');
    await until('us-west equals us-east again', () => sameZoneState(p.east, p.westDirect, p.sys), 30_000, 200);
    const rounds = () => (trimmer.output().match(/trim round done/g) ?? []).length;
    const before = rounds();
    await until('a trim round after us-west caught up', async () => rounds() > before + 1, 30_000, 100);

    // What us-central has not read is still in the source's logs.
    assert.ok((await bilogEntries(p, 'logs-a')).length >= 21, 'the bucket-index log still holds the changes us-central needs');
    assert.ok((await bilogEntries(p, 'logs-b')).length >= 1);
    const status = p.agent(['status'], { trim_source_logs: true });
    await status.exited;
    assert.match(status.output(), /source logs: [1-9]\d* entries at or before this agent's bounds/, status.output());
    assert.match(status.output(), /trim registry: .*us-central all.*us-west all \(this agent\), trims/, status.output());

    const second = p.agent(['sync', '--once'], { destination: central });
    assert.equal(await second.exited, 0, second.output());
    assert.equal(await sameZoneState(central, p.east, p.sys), true, 'the lagging destination caught up from the logs');

    // Both destinations have read everything: the logs empty (the registry's own writes aside).
    await until('the source\'s logs trimmed', async () => {
      const md = await logEntries(p, 'metadata', 4);
      const data = (await logEntries(p, 'data', 4)).filter((e) => !String(e.key).startsWith('rgw-agent-state:'));
      const bi = [...await bilogEntries(p, 'logs-a'), ...await bilogEntries(p, 'logs-b')];
      return md.length === 0 && data.length === 0 && bi.length === 0;
    }, 30_000, 200);
    // Nothing was lost on the way.
    const verify = p.agent(['verify'], { destination: central });
    assert.equal(await verify.exited, 0, verify.output());
    await trimmer.kill('SIGTERM');
  });
});
