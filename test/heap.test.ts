/** The process's heap policy: which V8 flags are set at start-up, and that setting them at run time takes effect. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { heapFlags, HEAP_GROWING_PERCENT } from '../src/heap.js';

const HEAP_JS = fileURLToPath(new URL('../src/heap.js', import.meta.url));

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

  it('bounds the heap of a process that churns garbage over a live set (set at run time, as the CLI does)', () => {
    // 300,000 live objects, then rounds of short-lived arrays, some kept: the old generation's
    // size after the churn is V8's growing factor at work.
    const churn = (apply: boolean) => {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', `
        import { applyHeapPolicy } from ${JSON.stringify(HEAP_JS)};
        if (${apply}) applyHeapPolicy();
        const live = [];
        for (let i = 0; i < 300000; i++) live.push({ k: 'key-' + i, v: 'x'.repeat(50) + i });
        let peak = 0;
        for (let r = 0; r < 200; r++) {
          const tmp = [];
          for (let i = 0; i < 20000; i++) tmp.push({ a: 'y'.repeat(40) + i, b: [i, i + 1] });
          live[r] = tmp[r];
          peak = Math.max(peak, process.memoryUsage().heapTotal);
        }
        process.stdout.write(String(peak));`], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return Number(r.stdout);
    };
    const without = churn(false);
    const withPolicy = churn(true);
    assert.ok(withPolicy < without * 0.8, `peak heap with the policy ${withPolicy} B, without ${without} B`);
  });
});
