/**
 * Remote copy is decided by trying it (probeRemoteCopy) against real zones, and copy_mode auto
 * follows what was found; a copy-if-newer that copied nothing is read as unchanged.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeRealm, startZones, type TestRealm } from './helpers/realm.js';
import { call } from './helpers/http.js';
import type { RunningZone } from '../src/zone/server.js';
import { ZoneClient } from '../src/client/http.js';
import { S3Api, copiedNothing } from '../src/client/s3.js';
import { chooseCopyMode, probeRemoteCopy, type Capabilities } from '../src/client/probe.js';

describe('remote copy probe (two embedded zones)', () => {
  let t: TestRealm;
  let east: RunningZone;
  let west: RunningZone;
  let src: S3Api;
  let dst: S3Api;
  const sys = () => ({ accessKey: t.accessKey, secretKey: t.secretKey });

  before(async () => {
    t = await makeRealm();
    [east, west] = await startZones(t);
    src = new S3Api(new ZoneClient({ endpoint: east.url, credentials: sys(), backoffMs: 1 }));
    dst = new S3Api(new ZoneClient({ endpoint: west.url, credentials: sys(), backoffMs: 1 }));
  });

  after(async () => {
    await Promise.all([src?.client.close(), dst?.client.close()]);
    await Promise.all([east?.close(), west?.close()]);
    t?.cleanup();
  });

  it('works where the bucket is on both zones; the probe objects are removed from both', async () => {
    assert.equal((await call(east.url, 'PUT', '/agent-own', sys())).status, 200);
    const p = await probeRemoteCopy(src, dst, 'agent-own', 'us-east', 'probe-test', 'host:1:abcd');
    assert.equal(p.works, true, p.why);
    assert.match(p.why, /arrived intact/);
    for (const base of [east.url, west.url]) {
      assert.equal((await call(base, 'GET', '/agent-own/probe/remote-copy/host:1:abcd', sys())).status, 404, `probe object left on ${base}`);
    }
  });

  it('does not work from a source without the bucket (another cluster), and says why', async () => {
    const p = await probeRemoteCopy(src, dst, 'only-on-west', 'us-east', 'probe-test', 'host:1:abcd');
    assert.equal(p.works, false);
    assert.match(p.why, /bucket only-on-west is not on the source/);
    assert.equal((await call(west.url, 'GET', '/only-on-west', sys())).status, 200, 'the bucket was made through the destination');
  });

  it('does not work when the destination cannot reach the named zone', async () => {
    assert.equal((await call(east.url, 'PUT', '/agent-own2', sys())).status, 200);
    const p = await probeRemoteCopy(src, dst, 'agent-own2', 'no-such-zone', 'probe-test', 'host:1:abcd');
    assert.equal(p.works, false);
    assert.match(p.why, /the probe copy answered 4\d\d/);
  });
});

describe('copy mode and copy answers', () => {
  const caps = (opState: boolean, remoteCopy: boolean): Capabilities => ({ replicaLog: opState, opState, dataLogLocks: opState, metadataLogLocks: true, remoteCopy });
  const table: [string, Parameters<typeof chooseCopyMode>, 'remote' | 'stream', RegExp | undefined][] = [
    ['auto, op state (embedded zone, radosgw-agent era)', ['auto', caps(true, true)], 'remote', undefined],
    ['auto, no op state, the probe failed (Pacific)', ['auto', caps(false, false)], 'stream', undefined],
    ['auto, no op state, the probe worked (Reef, Tentacle): stream, saying why', ['auto', caps(false, true)], 'stream', /keeps stream copy.*set copy_mode: remote/],
    ['remote asked, the probe worked', ['remote', caps(false, true)], 'remote', undefined],
    ['remote asked, the probe failed: warned', ['remote', caps(false, false)], 'remote', /did not work/],
    ['stream asked', ['stream', caps(true, true)], 'stream', undefined],
  ];
  for (const [name, args, mode, note] of table) {
    it(name, () => {
      const r = chooseCopyMode(...args);
      assert.equal(r.mode, mode);
      if (note) assert.match(r.note ?? '', note);
      else assert.equal(r.note, undefined);
    });
  }

  it('a CopyObjectResult at the epoch means nothing was copied (Reef copy-if-newer); any other time is a copy', () => {
    const result = (lm: string) => `<?xml version="1.0" encoding="UTF-8"?><CopyObjectResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LastModified>${lm}</LastModified><ETag>"abc"</ETag></CopyObjectResult>`;
    assert.equal(copiedNothing(result('1970-01-01T00:00:00.000Z')), true);
    assert.equal(copiedNothing(result('1970-01-01T00:00:00Z')), true);
    assert.equal(copiedNothing(result('2026-12-02T01:30:00.000Z')), false);
    assert.equal(copiedNothing(''), false);
  });
});
