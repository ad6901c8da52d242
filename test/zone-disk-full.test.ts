/**
 * The embedded zone on a full disk (its data dir on a small tmpfs of its own, filled with a
 * ballast file): writes answer 507 InsufficientCapacity saying the disk is full (not a bare 500
 * "internal error"), the log line says so, reads keep working, and once space is freed the same
 * process stores again without a restart.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { makeRealm, type TestRealm } from './helpers/realm.js';
import { startZoneProc, type Proc } from './helpers/procs.js';
import { call } from './helpers/http.js';
import { isDiskFull } from '../src/zone/http.js';

describe('zone: a full disk', () => {
  let realm: TestRealm | undefined;
  let zone: Proc | undefined;
  let disk: string | undefined;
  after(async () => {
    await zone?.kill('SIGKILL');
    if (disk) spawnSync('umount', ['-l', disk]);
    realm?.cleanup();
  });

  it('isDiskFull: SQLite and the file system', () => {
    assert.equal(isDiskFull(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })), true);
    assert.equal(isDiskFull(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })), true);
    assert.equal(isDiskFull(Object.assign(new Error('busy'), { code: 'SQLITE_BUSY' })), false);
    assert.equal(isDiskFull(undefined), false);
  });

  it('507 InsufficientCapacity while full, stored again once space is freed', async () => {
    realm = await makeRealm({ zones: ['us-east'] });
    disk = join(realm.dir, 'disk');
    mkdirSync(disk);
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', disk], { encoding: 'utf8' });
    assert.equal(m.status, 0, `this test mounts a tmpfs (needs root): ${m.stderr}`);
    const port = realm.realm.zones[0].port;
    zone = await startZoneProc(realm.realmFile, 'us-east', join(disk, 'data'), `127.0.0.1:${port}`);
    const base = `http://127.0.0.1:${port}`;
    const sys = { accessKey: realm.accessKey, secretKey: realm.secretKey };
    assert.equal((await call(base, 'PUT', '/fullbkt', sys)).status, 200);
    assert.equal((await call(base, 'PUT', '/fullbkt/before', sys, { body: 'stored before' })).status, 200);

    const ballast = join(disk, 'ballast');
    const fd = openSync(ballast, 'w');
    const chunk = Buffer.alloc(1 << 20, 1);
    try {
      for (;;) writeSync(fd, chunk);
    } catch (e) {
      assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
    } finally {
      closeSync(fd);
    }
    // Bodies of every size: inline in SQLite and in files of their own.
    for (const size of [10, 300_000]) {
      const r = await call(base, 'PUT', `/fullbkt/while full ${size}`, sys, { body: Buffer.alloc(size, 2) });
      assert.equal(r.status, 507, `${size} bytes: ${r.status} ${r.text}`);
      assert.match(r.text, /<Code>InsufficientCapacity<\/Code>.*disk is full/s);
    }
    assert.equal((await call(base, 'GET', '/fullbkt/before', sys)).text, 'stored before', 'reads keep working');
    await zone.waitFor('507 the disk of the data dir is full');

    rmSync(ballast);
    const again = await call(base, 'PUT', '/fullbkt/after', sys, { body: 'stored after' });
    assert.equal(again.status, 200, again.text);
    assert.equal((await call(base, 'GET', '/fullbkt/after', sys)).text, 'stored after');
  });
});
