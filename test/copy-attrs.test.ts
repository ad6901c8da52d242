/**
 * Attribute fidelity end to end, stream copy between real embedded zones: every replicated header,
 * storage class, tags, ACL grants; verify sees each of them. Each test first checks that the zone
 * itself keeps the attributes it needs, and fails saying which one it dropped.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { call } from './helpers/http.js';
import { objPath } from './helpers/pair.js';
import { agentCalls, putObj, startRig, userAndBucket, type Logged, type Rig } from './helpers/copyrig.js';
import { syncObject } from '../src/sync/objectsync.js';
import { compareZones } from '../src/sync/compare.js';
import { parseAcl, parseTagging } from '../src/client/s3.js';
import type { SyncSetup } from '../src/sync/setup.js';

type Creds = { accessKey: string; secretKey: string };
const HEADERS: Record<string, string> = {
  'content-type': 'text/x-fidelity',
  'cache-control': 'max-age=600',
  'content-disposition': 'attachment; filename="f.txt"',
  'content-encoding': 'identity',
  'content-language': 'de-CH',
  expires: 'Thu, 01 Jan 2037 00:00:00 GMT',
  'x-amz-website-redirect-location': '/elsewhere',
};
const CLASS = 'STANDARD_IA';
const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers';

describe('attribute fidelity of stream copy', () => {
  let r: Rig;
  let s: SyncSetup & { log: Logged };
  let alice: Creds;
  const has = { headers: false, storageClass: false, tagging: false, acl: false };
  before(async () => {
    r = await startRig();
    s = await r.context({ copy_mode: 'stream' });
    alice = await userAndBucket(r, 'alice', 'fid');
    // What the embedded zone keeps today, probed on the destination (both zones run the same code).
    await putObj(r.west.url, alice, 'fid', 'probe', 'p', { ...HEADERS, 'x-amz-storage-class': CLASS, 'x-amz-tagging': 'a=1', 'x-amz-grant-read': `uri="${ALL_USERS}"` });
    const head = await call(r.west.url, 'HEAD', objPath('fid', 'probe'), alice);
    has.headers = Object.entries(HEADERS).every(([k, v]) => head.headers[k] === v);
    has.storageClass = head.headers['x-amz-storage-class'] === CLASS;
    const tags = await call(r.west.url, 'GET', `${objPath('fid', 'probe')}?tagging`, alice);
    has.tagging = tags.status === 200 && parseTagging(tags.text) === 'a=1';
    const acl = await call(r.west.url, 'GET', `${objPath('fid', 'probe')}?acl`, alice);
    has.acl = acl.status === 200 && parseAcl(acl.text).grants.some((g) => g.grantee === `uri:${ALL_USERS}` && g.permission === 'READ');
    await call(r.west.url, 'DELETE', objPath('fid', 'probe'), alice);
  });
  after(async () => { await r?.close(); });
  const need = (t: TestContext, ...what: (keyof typeof has)[]): boolean => {
    const missing = what.filter((w) => !has[w]);
    assert.deepEqual(missing, [], `the embedded zone does not keep ${missing.join(', ')} (${t.name})`);
    return true;
  };
  const compare = (checkAcl = false) => compareZones({ admin: s.ctx.src, s3: s.ctx.srcS3 }, { admin: s.ctx.dst, s3: s.ctx.dstS3 }, { bucket: 'fid', checkAcl });
  const tagsOn = async (base: string, key: string) => parseTagging((await call(base, 'GET', `${objPath('fid', key)}?tagging`, alice)).text);
  const grantsOn = async (base: string, key: string) => parseAcl((await call(base, 'GET', `${objPath('fid', key)}?acl`, alice)).text).grants.map((g) => `${g.grantee}=${g.permission}`).sort();

  it('(4) every replicated header, the storage class, tags and ACL grants arrive; then unchanged, and verify agrees', async (t) => {
    if (!need(t, 'headers', 'storageClass', 'tagging', 'acl')) return;
    await putObj(r.east.url, alice, 'fid', 'full', 'body', { ...HEADERS, 'x-amz-meta-k': 'v', 'x-amz-storage-class': CLASS, 'x-amz-tagging': 'project=x&team=y%20z', 'x-amz-grant-read': `uri="${ALL_USERS}"`, 'x-amz-grant-full-control': 'id="alice"' });
    assert.equal(await syncObject(s.ctx, 'fid', 'full'), 'copied');
    const head = await call(r.west.url, 'HEAD', objPath('fid', 'full'), alice);
    for (const [k, v] of Object.entries(HEADERS)) assert.equal(head.headers[k], v, k);
    assert.equal(head.headers['x-amz-meta-k'], 'v');
    assert.equal(head.headers['x-amz-storage-class'], CLASS);
    assert.equal(await tagsOn(r.west.url, 'full'), await tagsOn(r.east.url, 'full'));
    assert.deepEqual(await grantsOn(r.west.url, 'full'), await grantsOn(r.east.url, 'full'));
    assert.match(agentCalls(r.dstProxy, 'PUT', 'fid', 'full')[0].url, /rgwx-uid=alice/, 'the bucket owner writes the copy');
    assert.equal(await syncObject(s.ctx, 'fid', 'full'), 'unchanged');
    const cmp = await compare(true);
    assert.deepEqual(cmp.differences, []);
    assert.ok(cmp.tagsChecked >= 1 && cmp.aclsChecked >= 1, `tags ${cmp.tagsChecked}, ACLs ${cmp.aclsChecked} compared`);
  });

  it('(3) a change of only the tags, or only the ACL, is a change: copied', async (t) => {
    if (!need(t, 'tagging', 'acl')) return;
    await putObj(r.east.url, alice, 'fid', 'retag', 'same', { 'x-amz-tagging': 'a=1' });
    assert.equal(await syncObject(s.ctx, 'fid', 'retag'), 'copied');
    const body = '<Tagging><TagSet><Tag><Key>a</Key><Value>2</Value></Tag></TagSet></Tagging>';
    assert.equal((await call(r.east.url, 'PUT', `${objPath('fid', 'retag')}?tagging`, alice, { body })).status, 200);
    assert.equal(await syncObject(s.ctx, 'fid', 'retag'), 'copied');
    assert.equal(await tagsOn(r.west.url, 'retag'), 'a=2');
    assert.equal((await call(r.east.url, 'PUT', `${objPath('fid', 'retag')}?acl`, alice, { headers: { 'x-amz-acl': 'public-read' } })).status, 200);
    assert.equal(await syncObject(s.ctx, 'fid', 'retag'), 'copied');
    assert.deepEqual(await grantsOn(r.west.url, 'retag'), await grantsOn(r.east.url, 'retag'));
    assert.equal(await syncObject(s.ctx, 'fid', 'retag'), 'unchanged');
  });

  it('(13) verify reports a difference in any replicated header, the tags, and (with checkAcl) the ACL', async (t) => {
    if (!need(t, 'headers', 'tagging', 'acl')) return;
    await putObj(r.east.url, alice, 'fid', 'drift', 'same', { ...HEADERS, 'x-amz-tagging': 'a=1', 'x-amz-acl': 'public-read' });
    assert.equal(await syncObject(s.ctx, 'fid', 'drift'), 'copied');
    await putObj(r.west.url, alice, 'fid', 'drift', 'same', { ...HEADERS, 'cache-control': 'no-store', 'x-amz-tagging': 'a=9' });
    const plain = (await compare(false)).differences.find((d) => d.name === 'fid/drift')?.detail ?? '';
    assert.match(plain, /Cache-Control "max-age=600" on the source, "no-store" on the destination/);
    assert.match(plain, /tags "a=1" on the source, "a=9" on the destination/);
    assert.doesNotMatch(plain, /ACL/, 'ACLs only when asked');
    const withAcl = (await compare(true)).differences.find((d) => d.name === 'fid/drift')?.detail ?? '';
    assert.match(withAcl, /ACL .*AllUsers=READ.* on the source/);
  });

  it('(4) a destination without the storage class: copied without it, warned once', async (t) => {
    if (!need(t, 'storageClass')) return;
    const ctx2 = await r.context({ copy_mode: 'stream' });
    r.dstProxy.before = (req) => (req.method === 'PUT' && req.headers['x-amz-storage-class'] !== undefined ? { status: 400, code: 'InvalidStorageClass' } : undefined);
    try {
      for (const k of ['ia-1', 'ia-2']) {
        await putObj(r.east.url, alice, 'fid', k, k, { 'x-amz-storage-class': CLASS });
        assert.equal(await syncObject(ctx2.ctx, 'fid', k), 'copied');
        assert.equal((await call(r.west.url, 'GET', objPath('fid', k), alice)).text, k);
        assert.equal(await syncObject(ctx2.ctx, 'fid', k), 'unchanged', 'a refused class is not a difference');
      }
    } finally {
      r.dstProxy.before = undefined;
    }
    assert.equal(ctx2.log.lines.filter((l) => l.startsWith('warn') && /no storage class STANDARD_IA/.test(l)).length, 1, ctx2.log.lines.join('\n'));
    assert.equal(agentCalls(r.dstProxy, 'PUT', 'fid', 'ia-2').filter((x) => x.headers['x-amz-storage-class'] !== undefined).length, 0, 'not offered again');
  });
});
