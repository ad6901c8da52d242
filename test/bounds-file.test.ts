/**
 * 14: the file state store under a real write failure: a full disk (a small tmpfs, where this
 * machine lets us mount one) or, failing that, a directory standing where the temp file must go.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBackend, MonotonicBounds } from '../src/sync/bounds.js';

describe('file state store', () => {
  let dir: string;
  let mounted = false;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'rgw-agent-bounds-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'ignore' });
      mounted = true;
    } catch {
      mounted = false;
    }
  });
  after(() => {
    if (mounted) execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Makes the next flush fail for real; returns how to undo it. */
  function breakDisk(file: string): () => void {
    if (mounted) {
      // Fill the filesystem to the last byte.
      const filler = join(dir, 'filler');
      const chunk = Buffer.alloc(4096, 1);
      try {
        for (let i = 0; ; i++) writeFileSync(filler, chunk, { flag: 'a' });
      } catch { /* ENOSPC: full */ }
      try { for (;;) writeFileSync(join(dir, `crumb-${Math.random()}`), 'x'); } catch { /* full to the byte */ }
      return () => { for (const f of execFileSync('ls', [dir], { encoding: 'utf8' }).split('\n')) if (f.startsWith('filler') || f.startsWith('crumb-')) rmSync(join(dir, f)); };
    }
    mkdirSync(`${file}.tmp`);
    return () => rmSync(`${file}.tmp`, { recursive: true });
  }

  it('14: a failed flush fails that write only, reads never show unsaved bounds, and the next write saves', async () => {
    const file = join(dir, 'bounds.json');
    const store = new MonotonicBounds(new FileBackend(file));
    await store.set('data', '1', { marker: '1_0001', items: [] });
    const undo = breakDisk(file);
    await assert.rejects(store.set('data', '1', { marker: '1_0002', items: [{ name: 'b:1', timestamp: 't' }] }), /cannot save sync bounds/);
    await assert.rejects(store.set('metadata', '0', { marker: 'm1', items: [] }), /cannot save sync bounds/);
    assert.equal((await store.get('data', '1'))?.marker, '1_0001', 'a read shows only what was saved');
    assert.equal(await store.get('metadata', '0'), undefined);
    undo();
    await store.set('data', '2', { marker: '2_0001', items: [] });
    assert.equal((await store.get('data', '2'))?.marker, '2_0001', 'the next write after the disk recovers succeeds');
    const reread = new FileBackend(file);
    assert.equal((await reread.read('data', '2'))?.marker, '2_0001', 'and is on disk');
    assert.equal((await reread.read('data', '1'))?.marker, '1_0001', 'the failed write left the saved bound as it was');
    assert.equal(await reread.read('metadata', '0'), undefined);
  });
});
