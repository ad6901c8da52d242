/**
 * The process's heap policy: which V8 flags are set at start-up. What it does to the agent's RSS is
 * measured by the bench (BENCH_ONLY=scale), not here: V8's collection schedule under a busy test
 * machine is too uneven for a bound a test could hold.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { heapFlags, HEAP_GROWING_PERCENT } from '../src/heap.js';

describe('heap policy', () => {
  it('sets a fixed growing factor unless the operator chose one', () => {
    const ours = [`--heap-growing-percent=${HEAP_GROWING_PERCENT}`];
    const table: [string[], string | undefined, string[]][] = [
      [[], undefined, ours],
      [['--enable-source-maps'], '--max-old-space-size=512', ours],
      [['--heap-growing-percent=80'], undefined, []],
      [['--heap_growing_percent=10'], undefined, []],
      [[], '--heap-growing-percent=50', []],
    ];
    for (const [argv, opts, want] of table) assert.deepEqual(heapFlags(argv, opts), want, `${argv.join(' ')} / ${opts}`);
  });
});
