/**
 * The replay loop under random logs, page sizes, failures, slow syncs and stops (fast-check): a
 * bound is never written past an entry whose name has neither been synced nor kept as a retry
 * item, whatever the interleaving; and once failures stop, the runs converge (bound at the log's
 * end, no retry items).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { runShard, type ShardLog } from '../src/sync/shardrun.js';
import { FileBackend, MonotonicBounds } from '../src/sync/bounds.js';
import { RetryBackoff } from '../src/worker/retry.js';
import { ShardLock } from '../src/worker/lock.js';
import { Stopped } from '../src/worker/pool.js';
import type { SyncContext } from '../src/sync/context.js';
import type { BoundType, RetryItem } from '../src/rgw/wire.js';

interface Entry { id: string; name?: string }
/** What one sync call does: which of its names fail, how long it takes, whether the run is stopped during it. */
interface CallPlan { failMask: number; delayTicks: number; stop: boolean }

const entryArb = fc.record({ name: fc.option(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), { nil: undefined, freq: 5 }) });
const planArb = fc.record({ failMask: fc.integer({ min: 0, max: 63 }), delayTicks: fc.integer({ min: 0, max: 3 }), stop: fc.boolean().map((b) => b && Math.random() < 0.3) });

const scenario = fc.record({
  entries: fc.array(entryArb, { minLength: 0, maxLength: 30 }),
  maxEntries: fc.integer({ min: 1, max: 5 }),
  pipelined: fc.boolean(),
  plans: fc.array(planArb, { minLength: 1, maxLength: 40 }),
  faultyRuns: fc.integer({ min: 1, max: 6 }),
});

describe('replay loop properties (fast-check)', () => {
  it('no bound passes unsynced work; after the faults the runs converge', async () => {
    await fc.assert(fc.asyncProperty(scenario, async (s) => {
      const entries: Entry[] = s.entries.map((e, i) => ({ id: String(i + 1).padStart(4, '0'), name: e.name }));
      const dir = mkdtempSync(join(tmpdir(), 'rgw-agent-prop-'));
      try {
        const real = new MonotonicBounds(new FileBackend(join(dir, 'b.json')));
        /** Names whose sync call has returned with them not failed. */
        const synced = new Set<string>();
        let violations: string[] = [];
        const check = (marker: string, items: readonly RetryItem[]) => {
          const owed = new Set(items.map((i) => i.name));
          for (const e of entries) {
            if (e.id > marker || !e.name) continue;
            if (!synced.has(e.name) && !owed.has(e.name)) violations.push(`bound ${marker} passes ${e.id} (${e.name}), neither synced nor a retry item`);
          }
        };
        const bounds = {
          get: (t: BoundType, e: string) => real.get(t, e),
          async set(t: BoundType, e: string, b: { marker: string; items: RetryItem[] }) {
            check(b.marker, b.items);
            return real.set(t, e, b as Parameters<typeof real.set>[2]);
          },
        };
        let call = 0;
        let faulty = true;
        const runOnce = async () => {
          const stop = new AbortController();
          const log: ShardLog = {
            type: 'bucket-index', entity: 'b:1', pipelined: s.pipelined,
            async read(marker, max) {
              const rest = entries.filter((e) => e.id > marker).slice(0, max);
              return { names: rest.flatMap((e) => (e.name ? [e.name] : [])), size: rest.length, end: rest.at(-1)?.id ?? '', truncated: rest.length === max };
            },
            async sync(names) {
              const plan = faulty ? s.plans[call++ % s.plans.length] : { failMask: 0, delayTicks: 0, stop: false };
              for (let i = 0; i < plan.delayTicks; i++) await new Promise((r) => setImmediate(r));
              if (plan.stop) {
                stop.abort();
                throw new Stopped();
              }
              const failed = new Set(names.filter((_, i) => (plan.failMask >> (i % 6)) & 1));
              for (const n of names) if (!failed.has(n)) synced.add(n);
              return failed;
            },
          };
          const ctx = { bounds, backoff: new RetryBackoff(0, 0), cfg: { maxEntries: s.maxEntries }, stop: stop.signal } as unknown as SyncContext;
          return runShard(ctx, log, ShardLock.none('data', 0, stop.signal));
        };
        for (let r = 0; r < s.faultyRuns; r++) await runOnce();
        faulty = false;
        // Without faults every run moves forward or retries; a bounded number of them must finish.
        let last;
        for (let r = 0; r < entries.length + 3; r++) {
          last = await runOnce();
          if (last.status === 'done' && last.pending === 0 && last.marker === (entries.at(-1)?.id ?? last.marker)) break;
        }
        assert.deepEqual(violations, []);
        const b = await real.get('bucket-index', 'b:1');
        if (entries.length > 0) {
          assert.equal(b?.marker, entries.at(-1)!.id, 'converged to the end of the log');
          assert.deepEqual(b?.items ?? [], [], 'no retry items left');
        }
        for (const e of entries) if (e.name) assert.ok(synced.has(e.name), `${e.name} synced`);
        violations = [];
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }), { numRuns: 150 });
  });
});
