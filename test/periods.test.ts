/**
 * Metadata-log periods: which period's log a shard reads, how the next period is found, and how a
 * bound keeps its period in every backend and never moves back to an older one.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { periodAfter, periodToRead, PeriodHistory } from '../src/sync/periods.js';
import { boundFloor, FileBackend, MonotonicBounds, ReplicaLogBackend, SpillingBackend, type BoundBackend } from '../src/sync/bounds.js';
import type { AdminApi, Bound, BoundType, PeriodInfo } from '../src/client/admin.js';

const P1 = { id: 'p-one', realmEpoch: 1 };
const P2 = { id: 'p-two', realmEpoch: 2 };
const P3 = { id: 'p-three', realmEpoch: 3 };

describe('periodToRead', () => {
  const table: [string, Parameters<typeof periodToRead>, ReturnType<typeof periodToRead>][] = [
    ['no periods on the source: the gateway default, final', [undefined, undefined], { read: undefined, final: true }],
    ['no periods now, a bound with one: keep reading its period', [P1, undefined], { read: P1, final: true }],
    ['a bound without a period (new or from before periods): the current one', [undefined, P2], { read: P2, final: true }],
    ['the current period', [P2, P2], { read: P2, final: true }],
    ['an older period: read it to its end, then move on', [P1, P3], { read: P1, final: false }],
  ];
  for (const [name, args, want] of table) it(name, () => assert.deepEqual(periodToRead(...args), want));

  it('a bound newer than the source\'s current period is an error, never read against the wrong log', () => {
    assert.throws(() => periodToRead(P3, P2), /names period p-three \(realm epoch 3\), but the source's current period is p-two/);
    assert.throws(() => periodToRead({ id: 'other', realmEpoch: 2 }, P2), /another realm or source zone/);
  });
});

describe('periodAfter', () => {
  const i1: PeriodInfo = { ...P1, predecessor: '' };
  const i2: PeriodInfo = { ...P2, predecessor: P1.id };
  const i3: PeriodInfo = { ...P3, predecessor: P2.id };
  const table: [string, PeriodInfo[], typeof P1, ReturnType<typeof periodAfter>][] = [
    ['the current period follows directly', [i3], P2, i3],
    ['two periods back: needs the next one in the chain', [i3], P1, 'more'],
    ['two periods back, chain read', [i3, i2], P1, i2],
    ['history that skips the bound\'s period is broken', [i3, { ...P2, predecessor: 'p-zero' }, { id: 'p-zero', realmEpoch: 1, predecessor: '' }], P1, 'broken'],
    ['history that starts after the bound\'s period is broken', [{ ...P3, predecessor: '' }], P1, 'broken'],
  ];
  for (const [name, chain, from, want] of table) it(name, () => assert.deepEqual(periodAfter(chain, from), want));

  it('PeriodHistory walks back from the current period with one read per period, cached', async () => {
    const periods = new Map<string, PeriodInfo>([[P3.id, i3], [P2.id, i2], [P1.id, i1]]);
    const reads: string[] = [];
    const src = { period: async (id: string) => { reads.push(id); return periods.get(id); } } as unknown as AdminApi;
    const h = new PeriodHistory(src);
    assert.deepEqual(await h.successor(P1, P3), i2);
    assert.deepEqual(await h.successor(P2, P3), i3);
    assert.deepEqual(reads, [P3.id, P2.id]);
    periods.delete(P2.id);
    await assert.rejects(new PeriodHistory(src).successor(P1, P3), /does not know period p-two/);
  });
});

describe('bounds keep their period', () => {
  const table: [string, Parameters<typeof boundFloor>, ReturnType<typeof boundFloor>][] = [
    ['no bound yet', [undefined, { marker: 'm', items: [], period: P1 }], { floor: '', period: P1 }],
    ['same period: the known marker is the floor', [{ marker: 'm5', period: P1 }, { marker: 'm3', items: [], period: P1 }], { floor: 'm5', period: P1 }],
    ['a newer period starts its log from the start', [{ marker: 'm5', period: P1 }, { marker: '', items: [], period: P2 }], { floor: '', period: P2 }],
    ['a write without a period keeps the known one', [{ marker: 'm5', period: P2 }, { marker: 'm6', items: [] }], { floor: 'm5', period: P2 }],
    ['no periods at all', [{ marker: 'm5' }, { marker: 'm6', items: [] }], { floor: 'm5', period: undefined }],
  ];
  for (const [name, args, want] of table) it(name, () => assert.deepEqual(boundFloor(...args), want));

  it('a write never moves a bound back to an older period', () => {
    assert.throws(() => boundFloor({ marker: 'm', period: P2 }, { marker: 'z', items: [], period: P1 }), /refusing to move a sync bound back/);
  });

  /** A replica log as RGW keeps it: a marker and items, nothing else. */
  function fakeReplicaLog(): { api: AdminApi; stored: Map<string, Bound> } {
    const stored = new Map<string, Bound>();
    const api = {
      getBound: async (type: BoundType, entity: string) => stored.get(`${type}/${entity}`),
      setBound: async (type: BoundType, entity: string, b: Bound) => { stored.set(`${type}/${entity}`, { marker: b.marker, items: b.items }); },
    } as unknown as AdminApi;
    return { api, stored };
  }

  it('replica log: the period travels as a last item and is taken off on read, with spilled retries too', async () => {
    const { api, stored } = fakeReplicaLog();
    const bounds = new MonotonicBounds(new ReplicaLogBackend(api));
    await bounds.set('metadata', '3', { marker: 'm1', items: [{ name: 'user/a', timestamp: 't' }], period: P2 });
    assert.deepEqual(await new MonotonicBounds(new ReplicaLogBackend(api)).get('metadata', '3'), { marker: 'm1', items: [{ name: 'user/a', timestamp: 't' }], period: P2 });
    assert.equal(stored.get('metadata/3')!.items.length, 2, 'the raw record holds the item and the period');
    const many = Array.from({ length: 1200 }, (_, i) => ({ name: `user/u${i}`, timestamp: 't' }));
    await bounds.set('metadata', '3', { marker: 'm2', items: many, period: P2 });
    const back = await new MonotonicBounds(new ReplicaLogBackend(api)).get('metadata', '3');
    assert.deepEqual(back, { marker: 'm2', items: many, period: P2 });
  });

  it('file: the period is a field of the bound, and the floor resets only for a newer period', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rgw-agent-periods-'));
    try {
      const path = join(dir, 'state.json');
      const bounds = new MonotonicBounds(new FileBackend(path));
      await bounds.set('metadata', '0', { marker: 'm9', items: [], period: P1 });
      await bounds.set('metadata', '0', { marker: 'm2', items: [], period: P1 });
      assert.deepEqual(await new FileBackend(path).read('metadata', '0'), { marker: 'm9', items: [], period: P1 }, 'never back within a period');
      await bounds.set('metadata', '0', { marker: '', items: [{ name: 'user/x', timestamp: 't' }], period: P2 });
      assert.deepEqual(await new FileBackend(path).read('metadata', '0'), { marker: ' ', items: [{ name: 'user/x', timestamp: 't' }], period: P2 }, 'a new period starts at its start');
      await assert.rejects(bounds.set('metadata', '0', { marker: 'm9', items: [], period: P1 }), /back from period p-two/);
      await bounds.set('metadata', '0', { marker: 'm1', items: [] });
      assert.deepEqual(await new FileBackend(path).read('metadata', '0'), { marker: 'm1', items: [], period: P2 }, 'a write without a period keeps it');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a spilled bound keeps its period through the spilling layer', async () => {
    const records = new Map<string, Bound>();
    const inner: BoundBackend = {
      kind: 'mem', recordLimited: true,
      read: async (t, e) => records.get(`${t}/${e}`),
      write: async (t, e, b) => { records.set(`${t}/${e}`, b); },
    };
    const spill = new SpillingBackend(inner);
    const many = Array.from({ length: 700 }, (_, i) => ({ name: `user/u${i}`, timestamp: 't' }));
    await spill.write('metadata', '1', { marker: 'm', items: many, period: P3 });
    assert.deepEqual(await new SpillingBackend(inner).read('metadata', '1'), { marker: 'm', items: many, period: P3 });
  });
});
