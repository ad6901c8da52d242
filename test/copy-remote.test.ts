/**
 * Remote copy (copy_mode remote) against real embedded zones behind proxies: (2) no second copy of
 * a key while the destination still runs the first, op-state records cleaned up; (9) a 404 from
 * the destination's remote copy deletes nothing unless the source confirms it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call } from './helpers/http.js';
import { objPath } from './helpers/pair.js';
import { until } from './helpers/procs.js';
import { getObj, putObj, startRig, userAndBucket, type Rig } from './helpers/copyrig.js';
import { CopyInProgress, syncObject } from '../src/sync/objectsync.js';
import type { SyncSetup } from '../src/sync/setup.js';
import type { Logged } from './helpers/copyrig.js';

type Creds = { accessKey: string; secretKey: string };

describe('remote copy', () => {
  let r: Rig;
  let s: SyncSetup & { log: Logged };
  let alice: Creds;
  before(async () => {
    r = await startRig();
    s = await r.context({ copy_mode: 'remote', object_sync_timeout: 1 });
    alice = await userAndBucket(r, 'alice', 'rcb');
  });
  after(async () => { await r?.close(); });
  const copiesOf = (key: string) => r.dstProxy.seen.filter((x) => x.method === 'PUT' && x.url.startsWith(`${objPath('rcb', key)}?`) && x.url.includes('rgwx-source-zone')).length;
  const records = async (key: string) => {
    const got = await call(r.west.url, 'GET', `/admin/opstate?client-id=rgw-agent&object=${encodeURIComponent(`rcb/${key}`)}`, r.sys);
    return got.status === 404 ? [] : got.json<{ op_id: string; state: string }[]>();
  };

  it('op-state records of finished copies are removed, by the zone once its answer is delivered: no DELETE from the agent', async () => {
    await putObj(r.east.url, alice, 'rcb', 'plain', 'v1');
    const since = Date.now();
    assert.equal(await syncObject(s.ctx, 'rcb', 'plain'), 'copied');
    assert.equal(await syncObject(s.ctx, 'rcb', 'plain'), 'unchanged');
    assert.deepEqual(await records('plain'), []);
    assert.equal(r.dstProxy.seen.filter((x) => x.t >= since && x.method === 'DELETE' && x.url.startsWith('/admin/opstate')).length, 0);
  });

  it('(2) a copy abandoned while the destination runs it is not sent again until op state says it ended', async () => {
    await putObj(r.east.url, alice, 'rcb', 'slow', 'takes a while');
    // The destination's fetch from the source is held: its copy stays in progress.
    let release!: () => void;
    const released = new Promise<void>((resolve) => { release = resolve; });
    r.srcProxy.before = async (req) => {
      // The object GET itself (with or without the prepend-metadata query), not ?acl or ?tagging.
      if (req.method === 'GET' && (req.url ?? '').split('?')[0] === objPath('rcb', 'slow') && !/[?&](acl|tagging)/.test(req.url ?? '')) await released;
      return undefined;
    };
    try {
      await assert.rejects(syncObject(s.ctx, 'rcb', 'slow'), /still runs it/);
      assert.equal(copiesOf('slow'), 1);
      assert.equal((await records('slow'))[0]?.state, 'in-progress');
      for (let i = 0; i < 3; i++) {
        await assert.rejects(syncObject(s.ctx, 'rcb', 'slow'), (e: unknown) => e instanceof CopyInProgress);
      }
      assert.equal(copiesOf('slow'), 1, 'no second copy while the first runs');
    } finally {
      release();
      r.srcProxy.before = undefined;
    }
    await until('the first copy finished on the destination', async () => (await getObj(r.west.url, alice, 'rcb', 'slow')).text === 'takes a while', 10_000, 50);
    assert.equal(await syncObject(s.ctx, 'rcb', 'slow'), 'unchanged', 'the finished copy is found; a new one (copy-if-newer) has nothing to do');
    assert.equal(copiesOf('slow'), 2);
    assert.deepEqual(await records('slow'), [], 'the abandoned copy\'s record and the new one are removed');
  });

  it('(9) a 404 from the remote copy while the source has the object deletes nothing', async () => {
    await putObj(r.east.url, alice, 'rcb', 'keep', 'new on the source');
    await putObj(r.west.url, alice, 'rcb', 'keep', 'old on the destination');
    r.dstProxy.before = (req) => (req.method === 'PUT' && (req.url ?? '').startsWith(`${objPath('rcb', 'keep')}?`) && (req.url ?? '').includes('rgwx-source-zone') ? { status: 404, code: 'NoSuchKey' } : undefined);
    try {
      await assert.rejects(syncObject(s.ctx, 'rcb', 'keep'), /answered 404, but the source has the object; not deleting/);
      assert.equal((await getObj(r.west.url, alice, 'rcb', 'keep')).text, 'old on the destination', 'the destination object survives');
      // Gone on the source too: now the delete is right.
      assert.equal((await call(r.east.url, 'DELETE', objPath('rcb', 'keep'), alice)).status, 204);
      assert.equal(await syncObject(s.ctx, 'rcb', 'keep'), 'deleted');
      assert.equal((await getObj(r.west.url, alice, 'rcb', 'keep')).status, 404);
    } finally {
      r.dstProxy.before = undefined;
    }
  });
});
