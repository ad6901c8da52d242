/** Full-sync progress: the line's figures, TTY redraws versus periodic log lines. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { progressLine, startProgress } from '../src/progress.js';
import { Accounting } from '../src/accounting.js';

describe('progress', () => {
  it('shows buckets, objects, bytes, rate and ETA', () => {
    const a = new Accounting();
    const s = a.counts;
    a.bucketsPlanned(10);
    assert.match(progressLine(s, 10_000), /ETA \?$/);
    for (let i = 0; i < 5; i++) a.bucketDone();
    for (let i = 0; i < 900; i++) a.objectCopied(i === 0 ? 4_000_000 : 0);
    for (let i = 0; i < 100; i++) a.objectUnchanged();
    assert.equal(progressLine(s, 10_000), 'full sync: buckets 5/10, objects 1000 (900 copied), 4.0 MB, 100 obj/s, 0.4 MB/s, ETA 10s');
    for (let i = 0; i < 5; i++) a.bucketDone();
    assert.match(progressLine(s, 10_000), /ETA 0s$/);
  });

  it('redraws one line on a TTY and logs plain lines otherwise', async () => {
    const a = new Accounting();
    a.bucketsPlanned(2);
    const s = a.counts;
    const tty: string[] = [];
    const stopTty = startProgress(s, { tty: true, write: (x) => tty.push(x), log: () => assert.fail('no log lines on a TTY'), everyMs: 10 });
    const logged: string[] = [];
    const stopLog = startProgress(s, { tty: false, write: () => assert.fail('no redraws off a TTY'), log: (x) => logged.push(x), everyMs: 10 });
    const deadline = Date.now() + 5000;
    while ((tty.length < 2 || logged.length < 2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    stopTty();
    stopLog();
    assert.ok(tty.length >= 2 && logged.length >= 2);
    assert.ok(tty.every((l) => l.startsWith('\r')), 'each redraw returns to the start of the line');
    assert.ok(tty.at(-1)!.endsWith('\n'), 'the final line is kept');
    assert.ok(logged.every((l) => !l.includes('\r') && l.startsWith('full sync: buckets 0/2')));
  });
});
