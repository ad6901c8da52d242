/** The pure replay decisions, table-tested without sockets. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runShard, type ShardLog } from '../src/sync/shardrun.js';
import { FileBackend, MonotonicBounds } from '../src/sync/bounds.js';
import { RetryBackoff } from '../src/worker/retry.js';
import { ShardLock } from '../src/worker/lock.js';
import { Stopped } from '../src/worker/pool.js';
import type { SyncContext } from '../src/sync/context.js';
import { boundChanged, namesToSync, nextMarker, nextRetries, settledCount } from '../src/sync/replay.js';
import { compareMarkers, dataPageEnd, laterMarker, markerPosition, shardMarkers } from '../src/rgw/markers.js';
import { sourceClockOffsetMs } from '../src/rgw/clock.js';
import { bucketIndexShard } from '../src/rgw/shard.js';
import { instanceName, parseInstanceName } from '../src/sync/bucketsync.js';
import { dataLogName } from '../src/sync/data.js';
import { instanceForDestination } from '../src/sync/metadata.js';
import { busiestFirst } from '../src/sync/full.js';

const item = (name: string, timestamp = 't0') => ({ name, timestamp });

describe('replay decisions', () => {
  it('namesToSync: page names once each, due retries on the first page only', () => {
    const due = (n: string) => n !== 'later';
    const table: [string[], string[], boolean, string[]][] = [
      [['a', 'b', 'a'], [], true, ['a', 'b']],
      [['a'], ['r', 'later'], true, ['a', 'r']],
      [['a'], ['r'], false, ['a']],
      [[], ['r', 'a'], true, ['r', 'a']],
      [['x'], ['x'], true, ['x']],
    ];
    for (const [page, retries, first, want] of table) {
      assert.deepEqual(namesToSync(page, retries.map((r) => item(r)), due, first), want, JSON.stringify({ page, retries, first }));
    }
  });

  it('nextRetries: asked-and-synced items go, failures stay with their first timestamp, unasked stay', () => {
    const table: [string[], string[], string[], [string, string][]][] = [
      [['a', 'b'], ['a'], [], [['b', 't0']]],
      [['a'], ['a'], ['a'], [['a', 't0']]],
      [[], ['x'], ['x'], [['x', 'now']]],
      [['a'], ['b'], ['b'], [['a', 't0'], ['b', 'now']]],
      [['a', 'b'], ['a', 'b'], [], []],
    ];
    for (const [old, asked, failed, want] of table) {
      assert.deepEqual(nextRetries(old.map((o) => item(o)), asked, failed, 'now').map((i) => [i.name, i.timestamp]), want, JSON.stringify({ old, asked, failed }));
    }
  });

  it('nextMarker: moves to the page end only when the page had entries, never backwards', () => {
    const table: [string, string, boolean, string][] = [
      ['', '1_0005', true, '1_0005'],
      ['1_0003', '1_0005', true, '1_0005'],
      ['1_0005', '', true, '1_0005'],
      ['1_0005', '1_0003', true, '1_0005'],
      ['1_0003', '1_0009', false, '1_0003'],
      [' ', '1_0001', true, '1_0001'],
    ];
    for (const [old, end, had, want] of table) assert.equal(nextMarker(old, end, had), want, JSON.stringify({ old, end, had }));
  });

  it('boundChanged: marker position or the set of retry names', () => {
    assert.equal(boundChanged({ marker: 'a', items: [] }, { marker: 'a', items: [] }), false);
    assert.equal(boundChanged({ marker: ' ', items: [] }, { marker: '', items: [] }), false);
    assert.equal(boundChanged({ marker: 'a', items: [] }, { marker: 'b', items: [] }), true);
    assert.equal(boundChanged({ marker: 'a', items: [item('x')] }, { marker: 'a', items: [item('x', 'later')] }), false);
    assert.equal(boundChanged({ marker: 'a', items: [item('x')] }, { marker: 'a', items: [item('y')] }), true);
  });

  it('settledCount: entries pass only a window before the sync started, by the source clock', () => {
    const table: [number[], number, number, number][] = [
      [[0, 10, 20], 5, 30, 3],
      [[0, 10, 20], 5, 20, 2],
      [[0, 10, 20], 5, 14, 1],
      [[0, 10, 20], 0, 10, 2],
      [[0, NaN, 5], 0, 100, 1],
      [[], 5, 100, 0],
    ];
    for (const [times, w, start, want] of table) assert.equal(settledCount(times, w, start), want, JSON.stringify({ times, w, start }));
  });

  it('source clock: the Date header gives the earliest offset consistent with it', () => {
    const answered = Date.parse('2026-01-01T00:00:10.900Z');
    assert.equal(sourceClockOffsetMs('Thu, 01 Jan 2026 00:00:10 GMT', answered), -900);
    // A source an hour behind the agent.
    assert.equal(sourceClockOffsetMs('Wed, 31 Dec 2025 23:00:10 GMT', answered), -3_600_900);
    assert.equal(sourceClockOffsetMs(undefined, answered), undefined);
    assert.equal(sourceClockOffsetMs('garbage', answered), undefined);
  });
});

describe('full sync order', () => {
  it('busiestFirst: shards with the most work first, ties (and empty shards) in shard order', () => {
    const work = new Map([[3, 5], [7, 1], [1, 5]]);
    assert.deepEqual(busiestFirst([0, 1, 2, 3, 4, 5, 6, 7], (s) => work.get(s) ?? 0), [1, 3, 7, 0, 2, 4, 5, 6]);
    assert.deepEqual(busiestFirst([], () => 0), []);
  });
});

describe('markers', () => {
  it('one comparison: start markers first, per-shard prefixes ignored', () => {
    const table: [string, string, number][] = [
      ['', ' ', 0],
      [' ', '1_0001', -1],
      ['1_0002', '1_0001', 1],
      ['3#00000000005.5.1', '00000000004.4.1', 1],
      ['3#00000000005.5.1', '3#00000000005.5.1', 0],
      ['00000000000000000000:00000000000000000012', '00000000000000000000:00000000000000000009', 1],
    ];
    for (const [a, b, want] of table) assert.equal(Math.sign(compareMarkers(a, b)), want, `${a} vs ${b}`);
    assert.equal(laterMarker('', '1_0001'), '1_0001');
    assert.equal(markerPosition('12#abc'), 'abc');
    assert.deepEqual(shardMarkers('0#a,1#,2#c'), [['0', 'a'], ['1', ''], ['2', 'c']]);
    assert.deepEqual(shardMarkers('00000000005.5.1'), []);
  });

  it('data-log names: bucket, instance id and index shard; tenanted buckets keep their tenant', () => {
    assert.deepEqual(parseInstanceName('b:us-east.4100.1'), { bucket: 'b', id: 'us-east.4100.1', name: 'b:us-east.4100.1' });
    assert.deepEqual(parseInstanceName('t/b:abc.1:7'), { bucket: 't/b', id: 'abc.1', shard: '7', name: 't/b:abc.1:7' });
    assert.equal(parseInstanceName('plain-bucket'), undefined);
    assert.equal(parseInstanceName('a:b:c:d'), undefined);
    // Bucket-index log generations (Reef and later): ":g<N>" after the shard, none for generation 0.
    assert.deepEqual(parseInstanceName('b:abc.1:2:g1'), { bucket: 'b', id: 'abc.1', shard: '2', gen: 1, name: 'b:abc.1:2:g1' });
    assert.deepEqual(parseInstanceName('b:abc.1::g3'), { bucket: 'b', id: 'abc.1', gen: 3, name: 'b:abc.1::g3' });
    const names: [Parameters<typeof instanceName>, string][] = [[['b', 'abc.1', '2', 1], 'b:abc.1:2:g1'], [['b', 'abc.1', '2', 0], 'b:abc.1:2'], [['b', 'abc.1', undefined, 3], 'b:abc.1::g3'], [['b', 'abc.1', undefined, undefined], 'b:abc.1']];
    for (const [args, name] of names) {
      assert.equal(instanceName(...args), name);
      const back = parseInstanceName(name)!;
      assert.deepEqual([back.bucket, back.id, back.shard, back.gen ?? 0], [args[0], args[1], args[2], args[3] ?? 0], name);
    }
    assert.equal(dataLogName({ key: 'b:abc.1:2', timestamp: 't', gen: 1 }), 'b:abc.1:2:g1');
    assert.equal(dataLogName({ key: 'b:abc.1:2', timestamp: 't', gen: 0 }), 'b:abc.1:2');
    assert.equal(dataLogName({ key: 'b:abc.1:2', timestamp: 't' }), 'b:abc.1:2', 'Pacific: no generations');
  });

  it('16: bucket-index shard of a key follows RGW: the shards real Pacific logged keys in (11 index shards)', () => {
    const entries = JSON.parse(readFileSync(new URL('../../test/fixtures/ceph-pacific/logs-us-east-bilog-probe-bucket.json', import.meta.url), 'utf8')) as { op_id: string; object: string }[];
    assert.ok(entries.length >= 3);
    for (const e of entries) assert.equal(String(bucketIndexShard(e.object, 11)), e.op_id.split('#')[0], e.object);
  });

  it('16: bucket-index shards are in range and spread', () => {
    // Every key lands in one shard in range, and keys spread over the shards.
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const s = bucketIndexShard(`key-${i}`, 11);
      assert.ok(s >= 0 && s < 11);
      seen.add(s);
    }
    assert.equal(seen.size, 11);
    assert.equal(bucketIndexShard('anything', 1), 0);
  });
});

describe('where a data-log page ends', () => {
  const F = '00000000000000000000:00000000000000000100';
  const H = '00000000000000000000:00000000000000000512';
  const e = (id?: string) => (id ? { id } : {});
  const table: [string, Parameters<typeof dataPageEnd>, ReturnType<typeof dataPageEnd>][] = [
    ['an empty page', [F, undefined, { marker: '', truncated: false, entries: [] }], ''],
    ['the gateway gives the end (Pacific, Reef)', [F, undefined, { marker: H, truncated: false, entries: [e()] }], H],
    ['entries with ids and no marker: the last id', [F, undefined, { marker: '', truncated: false, entries: [e('1_1.0_1.1'), e('1_2.0_2.1')] }], '1_2.0_2.1'],
    ['Tentacle, not truncated, head not read yet: ask for it', [F, undefined, { marker: '', truncated: false, entries: [e()] }], 'ask-head'],
    ['Tentacle, not truncated: the head read before the listing', [F, H, { marker: '', truncated: false, entries: [e()] }], H],
    ['Tentacle, the head read before was not past the start: stay (the entries came after it)', [H, F, { marker: '', truncated: false, entries: [e()] }], H],
    ['a truncated page without a position: stay', [F, H, { marker: '', truncated: true, entries: [e()] }], F],
  ];
  for (const [name, args, want] of table) it(name, () => assert.equal(dataPageEnd(...args), want));
});

describe('bucket instance metadata for the destination', () => {
  const doc = (info: Record<string, unknown>) => Buffer.from(JSON.stringify({ key: 'bucket.instance:b:id.1', ver: { tag: 't', ver: 2 }, data: { bucket_info: { bucket: { name: 'b' }, owner: 'alice', ...info }, attrs: [] } }));
  const info = (b: Buffer) => (JSON.parse(b.toString('utf8')) as { data: { bucket_info: Record<string, unknown> } }).data.bucket_info;

  it('a new instance takes the source document as it is', () => {
    const src = doc({ num_shards: 3 });
    assert.equal(instanceForDestination(src, undefined).doc, src);
  });

  it('the same layout: the source document as it is', () => {
    const src = doc({ num_shards: 11, bi_shard_hash_type: 0 });
    const r = instanceForDestination(src, doc({ num_shards: 11, bi_shard_hash_type: 0, owner: 'old' }));
    assert.equal(r.doc, src);
    assert.equal(r.kept, undefined);
  });

  it('from another cluster: the destination\'s zonegroup replaces the source\'s (a foreign one answers 301)', () => {
    const r = instanceForDestination(doc({ num_shards: 11, zonegroup: 'pacific-zg' }), undefined, { zonegroup: 'reef-zg' });
    assert.equal(info(r.doc).zonegroup, 'reef-zg');
    const same = doc({ num_shards: 11, zonegroup: 'reef-zg' });
    assert.equal(instanceForDestination(same, undefined, { zonegroup: 'reef-zg' }).doc, same);
    assert.equal(info(instanceForDestination(doc({ zonegroup: 'other-zg' }), undefined).doc).zonegroup, 'other-zg', 'same realm: kept');
  });

  it('resharded on the source: everything from the source except the destination\'s index layout', () => {
    const r = instanceForDestination(doc({ num_shards: 3, bi_shard_hash_type: 0, owner: 'bob', layout: { gen: 1 } }), doc({ num_shards: 11, bi_shard_hash_type: 0 }));
    assert.deepEqual(info(r.doc), { bucket: { name: 'b' }, owner: 'bob', num_shards: 11, bi_shard_hash_type: 0 });
    assert.match(r.kept ?? '', /num_shards 3 on the source, 11 on the destination/);
  });
});

describe('tenants', () => {
  it('17: a tenant\'s bucket ("tenant/bucket" in metadata) is addressed as "tenant:bucket" in S3', async () => {
    const { s3BucketSegment } = await import('../src/rgw/tenant.js');
    const { objectPath } = await import('../src/client/s3.js');
    assert.equal(s3BucketSegment('plain'), 'plain');
    assert.equal(s3BucketSegment('acme/photos'), 'acme:photos');
    assert.equal(objectPath('acme/photos', 'a b/c'), '/acme:photos/a%20b/c');
    assert.equal(objectPath('photos', 'k'), '/photos/k');
  });
});

describe('the replay loop without sockets', () => {
  /** A log of pages in memory; entries that name nothing (cancelled ops) are counted but give no name. */
  function memoryLog(entries: { id: string; name?: string }[], synced: string[][], failOn = new Set<string>()): ShardLog {
    return {
      type: 'bucket-index',
      entity: 'b:1',
      async read(marker, max) {
        const rest = entries.filter((e) => e.id > marker).slice(0, max);
        return { names: rest.flatMap((e) => (e.name ? [e.name] : [])), size: rest.length, end: rest.at(-1)?.id ?? '', truncated: rest.length === max };
      },
      async sync(names) {
        synced.push(names);
        return new Set(names.filter((n) => failOn.has(n)));
      },
    };
  }

  async function loopCtx() {
    const dir = mkdtempSync(join(tmpdir(), 'rgw-agent-loop-'));
    const bounds = new MonotonicBounds(new FileBackend(join(dir, 'b.json')));
    const stop = new AbortController().signal;
    const ctx = { bounds, backoff: new RetryBackoff(), cfg: { maxEntries: 2 }, stop } as unknown as SyncContext;
    return { ctx, lock: ShardLock.none('data', 0, stop), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  }

  it('pages whose entries name nothing still move the bound, and later pages are read', async () => {
    const { ctx, lock, cleanup } = await loopCtx();
    try {
      const synced: string[][] = [];
      const log = memoryLog([{ id: '01' }, { id: '02' }, { id: '03', name: 'k' }, { id: '04' }], synced);
      const run = await runShard(ctx, log, lock);
      assert.equal(run.status, 'done');
      assert.equal(run.marker, '04');
      assert.deepEqual(synced.flat(), ['k']);
      assert.equal((await ctx.bounds.get('bucket-index', 'b:1'))?.marker, '04');
    } finally { cleanup(); }
  });

  it('a failure becomes a retry item and the bound moves past it; the retry is synced first next time', async () => {
    const { ctx, lock, cleanup } = await loopCtx();
    try {
      const synced: string[][] = [];
      const failing = new Set(['bad']);
      const log = memoryLog([{ id: '01', name: 'bad' }, { id: '02', name: 'good' }], synced, failing);
      const first = await runShard(ctx, log, lock);
      assert.deepEqual([first.marker, first.pending], ['02', 1]);
      assert.deepEqual((await ctx.bounds.get('bucket-index', 'b:1'))?.items.map((i) => i.name), ['bad']);
      failing.clear();
      ctx.backoff.succeeded('bucket-index b:1 bad');
      const second = await runShard(ctx, log, lock);
      assert.deepEqual([second.marker, second.pending], ['02', 0]);
      assert.deepEqual(synced.at(-1), ['bad']);
    } finally { cleanup(); }
  });

  it('a stopped run writes no bound', async () => {
    const { ctx, cleanup } = await loopCtx();
    try {
      const stop = new AbortController();
      const lock = ShardLock.none('data', 0, stop.signal);
      const log = memoryLog([{ id: '01', name: 'a' }], []);
      log.sync = async () => { stop.abort(); throw new Stopped(); };
      const run = await runShard({ ...ctx, stop: stop.signal } as SyncContext, log, lock);
      assert.equal(run.status, 'stopped');
      assert.equal(await ctx.bounds.get('bucket-index', 'b:1'), undefined);
    } finally { cleanup(); }
  });

  describe('pipelined logs (bucket-index): the next page starts before this one ends; bounds still in order', () => {
    /** Pages of two entries; sync of a name waits while `hold` has it. */
    function heldLog(entries: { id: string; name: string }[], events: string[], hold: Map<string, Promise<void>>, stopAt?: { name: string; stop: AbortController }): ShardLog {
      return {
        type: 'bucket-index',
        entity: 'b:1',
        pipelined: true,
        async read(marker, max) {
          const rest = entries.filter((e) => e.id > marker).slice(0, max);
          return { names: rest.map((e) => e.name), size: rest.length, end: rest.at(-1)?.id ?? '', truncated: rest.length === max };
        },
        async sync(names) {
          if (stopAt && names.includes(stopAt.name)) {
            stopAt.stop.abort();
            throw new Stopped();
          }
          events.push(`start ${names.join(',')}`);
          await Promise.all(names.map((n) => hold.get(n)));
          events.push(`end ${names.join(',')}`);
          return new Set<string>();
        },
      };
    }
    const gate = () => {
      let open!: () => void;
      const p = new Promise<void>((r) => { open = r; });
      return { p, open };
    };

    it('a slow key on page 1 does not hold page 2 back, but the bound passes page 1 only once it is done', async () => {
      const { ctx, lock, cleanup } = await loopCtx();
      try {
        const events: string[] = [];
        const slow = gate();
        const hold = new Map([['slow', slow.p]]);
        const log = heldLog([{ id: '01', name: 'slow' }, { id: '02', name: 'a' }, { id: '03', name: 'b' }, { id: '04', name: 'c' }], events, hold);
        const run = runShard(ctx, log, lock);
        await until(() => events.includes('end b,c'));
        assert.deepEqual(events, ['start slow,a', 'start b,c', 'end b,c'], 'page 2 ran while page 1 waited');
        assert.equal(await ctx.bounds.get('bucket-index', 'b:1'), undefined, 'no bound past unfinished page 1');
        slow.open();
        const r = await run;
        assert.deepEqual([r.status, r.marker], ['done', '04']);
        assert.equal((await ctx.bounds.get('bucket-index', 'b:1'))?.marker, '04');
      } finally { cleanup(); }
    });

    it('a key on two pages is never synced twice at once: page 2 waits for page 1', async () => {
      const { ctx, lock, cleanup } = await loopCtx();
      try {
        const events: string[] = [];
        const slow = gate();
        const log = heldLog([{ id: '01', name: 'k' }, { id: '02', name: 'a' }, { id: '03', name: 'k' }, { id: '04', name: 'b' }], events, new Map([['a', slow.p]]));
        const run = runShard(ctx, log, lock);
        await until(() => events.length >= 1);
        await new Promise((r) => setImmediate(r));
        assert.deepEqual(events, ['start k,a'], 'page 2 names k too: it has not started');
        slow.open();
        await run;
        assert.deepEqual(events, ['start k,a', 'end k,a', 'start k,b', 'end k,b']);
      } finally { cleanup(); }
    });

    it('stopped on page 2 after page 1 finished: the bound is page 1\'s end, not beyond', async () => {
      const { ctx, cleanup } = await loopCtx();
      try {
        const stop = new AbortController();
        const lock = ShardLock.none('data', 0, stop.signal);
        const slow = gate();
        const events: string[] = [];
        const log = heldLog([{ id: '01', name: 'a' }, { id: '02', name: 'b' }, { id: '03', name: 'c' }, { id: '04', name: 'd' }, { id: '05', name: 'x' }, { id: '06', name: 'y' }], events, new Map([['a', slow.p]]), { name: 'c', stop });
        const run = runShard({ ...ctx, stop: stop.signal } as SyncContext, log, lock);
        await until(() => stop.signal.aborted);
        slow.open();
        const r = await run;
        assert.equal(r.status, 'stopped');
        assert.equal((await ctx.bounds.get('bucket-index', 'b:1'))?.marker, '02');
        assert.ok(!events.some((e) => e.includes('x')), 'nothing read after the stop is synced');
      } finally { cleanup(); }
    });
  });
});

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
