/**
 * Stream copy (copy_mode stream) against real embedded zones behind recording proxies: what
 * "unchanged" means, one version per copy, integrity of non-MD5 ETags, owners of re-created
 * buckets, and gateways without ?tagging / ?acl. Numbers in test names are review findings.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { call } from './helpers/http.js';
import { objPath } from './helpers/pair.js';
import { agentCalls, getObj, isObjectRequest, putObj, startRig, userAndBucket, type Rig } from './helpers/copyrig.js';
import { syncObject } from '../src/sync/objectsync.js';
import { copyWithoutHeads, fullSyncBucket } from '../src/sync/bucketsync.js';
import type { ShardLock } from '../src/worker/lock.js';
import { compareZones } from '../src/sync/compare.js';
import type { SyncSetup } from '../src/sync/setup.js';
import type { Logged } from './helpers/copyrig.js';

type Creds = { accessKey: string; secretKey: string };
const md5 = (b: string | Buffer) => createHash('md5').update(b).digest('hex');
const isAgent = (req: { headers: Record<string, string | string[] | undefined> }) => String(req.headers['user-agent'] ?? '').startsWith('rgw-agent');

describe('copyWithoutHeads: what the listings alone decide', () => {
  const e = (size: number, etag: string) => ({ key: 'k', size, etag });
  const md5a = 'a'.repeat(32);
  const md5b = 'b'.repeat(32);
  const cases: [string, ReturnType<typeof e>, ReturnType<typeof e> | undefined, boolean, boolean][] = [
    ['missing on a listed destination', e(1, md5a), undefined, true, true],
    ['not listed (additive full sync): unknown', e(1, md5a), undefined, false, false],
    ['other size', e(1, md5a), e(2, md5a), true, true],
    ['other plain ETag', e(1, md5a), e(1, md5b), true, true],
    ['same ETag: attributes may still differ', e(1, md5a), e(1, md5a), true, false],
    ['multipart ETag on the destination: a note may match', e(1, md5a), e(1, `${md5b}-2`), true, false],
    ['multipart ETag on the source', e(1, `${md5a}-3`), e(1, md5b), true, false],
  ];
  for (const [name, src, dst, listed, want] of cases) it(name, () => assert.equal(copyWithoutHeads(src, dst, listed), want));
});

describe('stream copy', () => {
  let r: Rig;
  let s: SyncSetup & { log: Logged };
  let alice: Creds;
  before(async () => {
    r = await startRig();
    s = await r.context({ copy_mode: 'stream' });
    alice = await userAndBucket(r, 'alice', 'sbk');
  });
  after(async () => { await r?.close(); });
  const reset = () => {
    for (const p of [r.srcProxy, r.dstProxy]) {
      p.before = undefined; p.ifMatch = false; p.multipartEtags.clear(); p.addHeaders = undefined; p.mangleRequest = undefined; p.mangleResponse = undefined;
    }
  };

  it('(3) same size and ETag is not equal: an overwrite changing only Content-Type or user metadata is copied', async () => {
    reset();
    await putObj(r.east.url, alice, 'sbk', 'meta-only', 'same body', { 'content-type': 'text/a', 'x-amz-meta-color': 'red' });
    assert.equal(await syncObject(s.ctx, 'sbk', 'meta-only'), 'copied');
    assert.equal(await syncObject(s.ctx, 'sbk', 'meta-only'), 'unchanged', 'equal in every attribute: nothing to copy');
    await putObj(r.east.url, alice, 'sbk', 'meta-only', 'same body', { 'content-type': 'text/b', 'x-amz-meta-color': 'green' });
    assert.equal(await syncObject(s.ctx, 'sbk', 'meta-only'), 'copied', 'same size and ETag, different attributes');
    const got = await getObj(r.west.url, alice, 'sbk', 'meta-only');
    assert.equal(got.headers['content-type'], 'text/b');
    assert.equal(got.headers['x-amz-meta-color'], 'green');
    assert.equal(await syncObject(s.ctx, 'sbk', 'meta-only'), 'unchanged');
  });

  it('(3) headers and body come from one version: a source overwritten between the destination HEAD and the source GET is copied as its new version', async () => {
    reset();
    await putObj(r.east.url, alice, 'sbk', 'racy', 'version one', { 'content-type': 'text/v1', 'x-amz-meta-v': '1' });
    let overwrites = 0;
    r.srcProxy.before = async (req) => {
      if (req.method === 'GET' && isObjectRequest(req.url, objPath('sbk', 'racy')) && isAgent(req) && overwrites === 0) {
        overwrites++;
        await putObj(r.east.url, alice, 'sbk', 'racy', 'version two!', { 'content-type': 'text/v2', 'x-amz-meta-v': '2' });
      }
      return undefined;
    };
    const since = Date.now();
    assert.equal(await syncObject(s.ctx, 'sbk', 'racy'), 'copied');
    const got = await getObj(r.west.url, alice, 'sbk', 'racy');
    assert.deepEqual([got.text, got.headers['content-type'], got.headers['x-amz-meta-v']], ['version two!', 'text/v2', '2'], 'body and attributes of the same version');
    const gets = agentCalls(r.srcProxy, 'GET', 'sbk', 'racy').filter((g) => g.t >= since && isObjectRequest(g.url, objPath('sbk', 'racy')));
    assert.equal(gets.length, 1, 'the attributes are those of the answer whose bytes were copied');
    assert.equal(agentCalls(r.srcProxy, 'HEAD', 'sbk', 'racy').filter((g) => g.t >= since).length, 0, 'a changed object needs no HEAD of the source');
  });

  it('a key a log names costs HEAD (destination), GET (source, its ACL in front of the bytes), PUT; the version the destination has is not fetched again', async () => {
    reset();
    await putObj(r.east.url, alice, 'sbk', 'counted', 'v1', { 'x-amz-meta-n': '1' });
    const calls = (since: number) => ({
      srcHead: agentCalls(r.srcProxy, 'HEAD', 'sbk', 'counted').filter((c) => c.t >= since).length,
      srcGet: agentCalls(r.srcProxy, 'GET', 'sbk', 'counted').filter((c) => c.t >= since && isObjectRequest(c.url, objPath('sbk', 'counted'))).length,
      dstHead: agentCalls(r.dstProxy, 'HEAD', 'sbk', 'counted').filter((c) => c.t >= since).length,
      dstPut: agentCalls(r.dstProxy, 'PUT', 'sbk', 'counted').filter((c) => c.t >= since && !c.url.includes('acl')).length,
      srcAttrReads: agentCalls(r.srcProxy, 'GET', 'sbk', 'counted').filter((c) => c.t >= since && /[?&](acl|tagging)(=|&|$)/.test(c.url)).length,
    });
    let since = Date.now();
    assert.equal(await syncObject(s.ctx, 'sbk', 'counted'), 'copied');
    assert.deepEqual(calls(since), { srcHead: 0, srcGet: 1, dstHead: 1, dstPut: 1, srcAttrReads: 0 }, 'new on the destination');
    await putObj(r.east.url, alice, 'sbk', 'counted', 'v2', { 'x-amz-meta-n': '2' });
    since = Date.now();
    assert.equal(await syncObject(s.ctx, 'sbk', 'counted'), 'copied');
    assert.deepEqual(calls(since), { srcHead: 0, srcGet: 1, dstHead: 1, dstPut: 1, srcAttrReads: 0 }, 'overwritten on the source');
    since = Date.now();
    assert.equal(await syncObject(s.ctx, 'sbk', 'counted'), 'unchanged');
    const same = calls(since);
    assert.equal(same.dstPut, 0);
    const get = agentCalls(r.srcProxy, 'GET', 'sbk', 'counted').filter((c) => c.t >= since && isObjectRequest(c.url, objPath('sbk', 'counted')));
    assert.equal(get.length, 1);
    assert.equal(get[0].status, 304, 'If-None-Match: the source still has that version, no body is sent');
    assert.equal(same.srcHead, 1, 'one ETag, maybe other attributes: the HEADs decide, as before');
  });

  it('tags and a granted ACL come in front of the bytes: a tagged, public-read key costs no ?acl or ?tagging read', async () => {
    reset();
    await putObj(r.east.url, alice, 'sbk', 'attrs-inline', 'tagged', { 'x-amz-tagging': 'team=blue&n=1', 'x-amz-grant-read': 'uri="http://acs.amazonaws.com/groups/global/AllUsers"' });
    const since = Date.now();
    assert.equal(await syncObject(s.ctx, 'sbk', 'attrs-inline'), 'copied');
    const reads = agentCalls(r.srcProxy, 'GET', 'sbk', 'attrs-inline').filter((c) => c.t >= since);
    assert.deepEqual(reads.map((c) => c.url), [`${objPath('sbk', 'attrs-inline')}?rgwx-prepend-metadata=true`]);
    const tagging = await call(r.west.url, 'GET', `${objPath('sbk', 'attrs-inline')}?tagging`, alice);
    assert.match(tagging.text, /<Key>n<\/Key><Value>1<\/Value>.*<Key>team<\/Key><Value>blue<\/Value>/);
    const acl = await call(r.west.url, 'GET', `${objPath('sbk', 'attrs-inline')}?acl`, alice);
    assert.match(acl.text, /AllUsers<\/URI><\/Grantee><Permission>READ</);
  });

  it('an attribute prefix it cannot read: the ACL and tags are asked for separately, the bytes still copied', async () => {
    reset();
    await putObj(r.east.url, alice, 'sbk', 'prefix-unread', 'bytes after the prefix', { 'x-amz-tagging': 'k=v', 'x-amz-acl': 'public-read' });
    // The prefix's first byte ('{') damaged: neither this zone's document nor Ceph's.
    r.srcProxy.mangleResponse = (req, chunk, off, bodyStart) => {
      if (req.method !== 'GET' || bodyStart === 0 || off > 0 || !isObjectRequest(req.url, objPath('sbk', 'prefix-unread'))) return chunk;
      const c = Buffer.from(chunk);
      c[0] = 0x21;
      return c;
    };
    const since = Date.now();
    assert.equal(await syncObject(s.ctx, 'sbk', 'prefix-unread'), 'copied');
    const urls = agentCalls(r.srcProxy, 'GET', 'sbk', 'prefix-unread').filter((c) => c.t >= since).map((c) => c.url.split('?')[1]).sort();
    assert.deepEqual(urls, ['acl', 'rgwx-prepend-metadata=true', 'tagging']);
    assert.equal((await getObj(r.west.url, alice, 'sbk', 'prefix-unread')).text, 'bytes after the prefix');
    const acl = await call(r.west.url, 'GET', `${objPath('sbk', 'prefix-unread')}?acl`, alice);
    assert.match(acl.text, /AllUsers<\/URI><\/Grantee><Permission>READ</);
    assert.match((await call(r.west.url, 'GET', `${objPath('sbk', 'prefix-unread')}?tagging`, alice)).text, /<Key>k<\/Key><Value>v<\/Value>/);
  });

  it('a full sync copies what the listings show missing or different straight from the GET, and HEADs only what they cannot tell', async () => {
    reset();
    // One bucket instance on both zones, as metadata sync leaves it.
    assert.equal((await call(r.east.url, 'PUT', '/fsb', alice)).status, 200);
    const id = (await call(r.east.url, 'GET', '/admin/metadata/bucket?key=fsb', r.sys)).json<{ data: { bucket: { bucket_id: string } } }>().data.bucket.bucket_id;
    for (const [section, key] of [['bucket.instance', `fsb:${id}`], ['bucket', 'fsb']]) {
      const doc = await call(r.east.url, 'GET', `/admin/metadata/${section}?key=${encodeURIComponent(key)}`, r.sys);
      const put = await call(r.west.url, 'PUT', `/admin/metadata/${section}?key=${encodeURIComponent(key)}`, r.sys, { body: doc.body, headers: { 'content-type': 'application/json' } });
      assert.ok(put.status === 200 || put.status === 204, put.text);
    }
    for (let i = 0; i < 4; i++) await putObj(r.east.url, alice, 'fsb', `fs-new-${i}`, `new ${i}`);
    await putObj(r.east.url, alice, 'fsb', 'fs-changed', 'source bytes');
    await putObj(r.west.url, alice, 'fsb', 'fs-changed', 'old destination bytes');
    await putObj(r.east.url, alice, 'fsb', 'fs-same', 'same bytes', { 'content-type': 'text/same' });
    await putObj(r.east.url, alice, 'fsb', 'fs-attrs', 'same body', { 'content-type': 'text/new' });
    await putObj(r.west.url, alice, 'fsb', 'fs-attrs', 'same body', { 'content-type': 'text/old' });
    await putObj(r.east.url, alice, 'fsb', 'fs-racy', 'listed version');
    assert.equal(await syncObject(s.ctx, 'fsb', 'fs-same'), 'copied');
    r.srcProxy.ifMatch = true;
    let overwritten = false;
    r.srcProxy.before = async (req) => {
      // Overwritten after the listing, before the agent's GET: the listed ETag is stale (412).
      if (!overwritten && req.method === 'GET' && isObjectRequest(req.url, objPath('fsb', 'fs-racy')) && isAgent(req)) {
        overwritten = true;
        await putObj(r.east.url, alice, 'fsb', 'fs-racy', 'newer version');
      }
      return undefined;
    };
    const since = Date.now();
    const lock = { signal: new AbortController().signal, valid: () => true } as unknown as ShardLock;
    const res = await fullSyncBucket(s.ctx, 'fsb', lock);
    assert.notEqual(res, 'gone');
    assert.equal(res !== 'gone' && res.failed, 0);
    // Object requests only (?acl and ?tagging reads are not what this counts).
    const calls = (proxy: typeof r.srcProxy, method: string, key: string) => agentCalls(proxy, method, 'fsb', `fs-${key}`).filter((c) => c.t >= since && !/[?&](acl|tagging)/.test(c.url));
    for (const k of ['new-0', 'new-1', 'new-2', 'new-3', 'changed']) {
      assert.equal(calls(r.srcProxy, 'HEAD', k).length + calls(r.dstProxy, 'HEAD', k).length, 0, `${k}: no HEAD`);
      assert.equal(calls(r.srcProxy, 'GET', k).length, 1, `${k}: one GET`);
      assert.equal(calls(r.dstProxy, 'PUT', k).length, 1, `${k}: one PUT`);
    }
    for (const k of ['same', 'attrs']) assert.equal(calls(r.srcProxy, 'HEAD', k).length, 1, `${k}: the listings cannot tell, HEAD decides`);
    assert.equal(calls(r.dstProxy, 'PUT', 'same').length, 0, 'equal: not copied');
    assert.equal(calls(r.dstProxy, 'PUT', 'attrs').length, 1, 'same ETag, other attributes: copied');
    assert.equal((await getObj(r.west.url, alice, 'fsb', 'fs-racy')).text, 'newer version', 'a stale listing entry: synced again from HEADs, as its new version');
    assert.equal((await getObj(r.west.url, alice, 'fsb', 'fs-attrs')).headers['content-type'], 'text/new');
    const cmp = await compareZones({ admin: s.ctx.src, s3: s.ctx.srcS3 }, { admin: s.ctx.dst, s3: s.ctx.dstS3 }, { bucket: 'fsb' });
    assert.deepEqual(cmp.differences, []);
  });

  it('(6) a listed version answered 412 (the source changed since the listing) is copied from a fresh GET, as one version', async () => {
    reset();
    await putObj(r.east.url, alice, 'sbk', 'moving', 'old');
    const listed = { key: 'moving', size: 3, etag: md5('old') };
    await putObj(r.east.url, alice, 'sbk', 'moving', 'new, after the listing', { 'x-amz-meta-v': 'new' });
    const since = Date.now();
    assert.equal(await syncObject(s.ctx, 'sbk', 'moving', undefined, undefined, listed), 'copied');
    const got = await getObj(r.west.url, alice, 'sbk', 'moving');
    assert.deepEqual([got.text, got.headers['x-amz-meta-v']], ['new, after the listing', 'new']);
    const gets = agentCalls(r.srcProxy, 'GET', 'sbk', 'moving').filter((c) => c.t >= since && isObjectRequest(c.url, objPath('sbk', 'moving')));
    assert.deepEqual(gets.map((g) => g.status), [412, 200], 'the listed ETag failed If-Match; the next GET is the copy');
    assert.equal(agentCalls(r.dstProxy, 'PUT', 'sbk', 'moving').filter((c) => c.t >= since).length, 1, 'one PUT, of one version');
  });

  it('(19c) a byte damaged between agent and destination is caught for a multipart (non-MD5) source ETag, and the damaged copy removed', async () => {
    reset();
    const body = 'x'.repeat(4096);
    const etag = await putObj(r.east.url, alice, 'sbk', 'mp-damaged', body, { 'content-type': 'text/plain' });
    // The source presents the object as RGW does a multipart upload: its ETag is not the body's MD5.
    r.srcProxy.multipartEtags.set(etag, `${md5('parts')}-2`);
    r.srcProxy.ifMatch = true;
    r.dstProxy.mangleRequest = (req, chunk, off) => {
      if (req.method !== 'PUT' || !(req.url ?? '').startsWith(`${objPath('sbk', 'mp-damaged')}?`) || off > 100 || chunk.length <= 100 - off) return chunk;
      const c = Buffer.from(chunk);
      c[100 - off] ^= 1;
      return c;
    };
    await assert.rejects(syncObject(s.ctx, 'sbk', 'mp-damaged'), /damaged in transit.*destination stored MD5/);
    assert.equal((await getObj(r.west.url, alice, 'sbk', 'mp-damaged')).status, 404, 'no damaged copy is left to look equal');
    r.dstProxy.mangleRequest = undefined;
    assert.equal(await syncObject(s.ctx, 'sbk', 'mp-damaged'), 'copied');
    const got = await getObj(r.west.url, alice, 'sbk', 'mp-damaged');
    assert.equal(got.text, body);
    assert.equal(got.headers['x-amz-meta-rgw-agent-source-etag'], `${md5('parts')}-2`, 'the source ETag is noted beside the plain one');
    assert.equal(await syncObject(s.ctx, 'sbk', 'mp-damaged'), 'unchanged');
  });

  it('(19c) a byte damaged between source and agent is caught by the Content-MD5 the source gives', async () => {
    reset();
    const body = 'y'.repeat(4096);
    const etag = await putObj(r.east.url, alice, 'sbk', 'src-damaged', body);
    r.srcProxy.multipartEtags.set(etag, `${md5('other parts')}-3`);
    r.srcProxy.addHeaders = (req) => (req.method === 'GET' && isObjectRequest(req.url, objPath('sbk', 'src-damaged')) ? { 'content-md5': createHash('md5').update(body).digest('base64') } : undefined);
    r.srcProxy.mangleResponse = (req, chunk, off, bodyStart) => {
      // The eighth byte of the object, past any attribute prefix.
      const at = bodyStart + 7;
      if (req.method !== 'GET' || !isObjectRequest(req.url, objPath('sbk', 'src-damaged')) || off > at || chunk.length <= at - off) return chunk;
      const c = Buffer.from(chunk);
      c[at - off] ^= 4;
      return c;
    };
    await assert.rejects(syncObject(s.ctx, 'sbk', 'src-damaged'), /damaged in transit.*Content-MD5/);
    assert.equal((await getObj(r.west.url, alice, 'sbk', 'src-damaged')).status, 404);
  });

  it('(13) verify and the copy path agree: a multipart-ETag source copied by a single PUT is equal, not a difference', async () => {
    reset();
    await call(r.east.url, 'PUT', '/vbk', alice);
    await call(r.west.url, 'PUT', '/vbk', alice);
    const etag = await putObj(r.east.url, alice, 'vbk', 'big', 'z'.repeat(2000), { 'x-amz-meta-k': 'v' });
    r.srcProxy.multipartEtags.set(etag, `${md5('p')}-7`);
    assert.equal(await syncObject(s.ctx, 'vbk', 'big'), 'copied');
    assert.equal(await syncObject(s.ctx, 'vbk', 'big'), 'unchanged', 'the copy path calls it equal');
    const cmp = await compareZones({ admin: s.ctx.src, s3: s.ctx.srcS3 }, { admin: s.ctx.dst, s3: s.ctx.dstS3 }, { bucket: 'vbk' });
    assert.deepEqual(cmp.differences, [], 'so does verify');
    assert.equal(cmp.metadataChecked, 1);
    const fast = await compareZones({ admin: s.ctx.src, s3: s.ctx.srcS3 }, { admin: s.ctx.dst, s3: s.ctx.dstS3 }, { bucket: 'vbk', checkMetadata: false });
    assert.deepEqual(fast.differences, [], 'also without --metadata: the listing ETags differ, the HEAD tells');
    // And a real difference in a multipart-ETag object is still one.
    await putObj(r.west.url, alice, 'vbk', 'big', 'z'.repeat(2000), { 'x-amz-meta-k': 'changed', 'x-amz-meta-rgw-agent-source-etag': `${md5('p')}-7` });
    const again = await compareZones({ admin: s.ctx.src, s3: s.ctx.srcS3 }, { admin: s.ctx.dst, s3: s.ctx.dstS3 }, { bucket: 'vbk' });
    assert.deepEqual(again.differences.map((d) => d.detail), ['metadata differs: x-amz-meta-k "v" on the source, "changed" on the destination']);
  });

  it('(10) a bucket deleted and re-created by another user: objects arrive owned by the new owner', async () => {
    reset();
    await call(r.east.url, 'PUT', '/reborn', alice);
    await call(r.west.url, 'PUT', '/reborn', alice);
    await putObj(r.east.url, alice, 'reborn', 'k1', 'by alice');
    assert.equal(await syncObject(s.ctx, 'reborn', 'k1'), 'copied');
    assert.match(agentCalls(r.dstProxy, 'PUT', 'reborn', 'k1')[0].url, /rgwx-uid=alice/);
    // Bob re-creates the bucket on both zones (as metadata sync would on the destination).
    const bob = await userAndBucket(r, 'bob', 'bob-own');
    for (const base of [r.east.url, r.west.url]) {
      assert.equal((await call(base, 'DELETE', objPath('reborn', 'k1'), alice)).status, 204);
      assert.equal((await call(base, 'DELETE', '/reborn', alice)).status, 204);
      assert.equal((await call(base, 'PUT', '/reborn', bob)).status, 200);
    }
    await putObj(r.east.url, bob, 'reborn', 'k2', 'by bob');
    assert.equal(await syncObject(s.ctx, 'reborn', 'k2'), 'copied');
    assert.match(agentCalls(r.dstProxy, 'PUT', 'reborn', 'k2')[0].url, /rgwx-uid=bob/, 'written as the new owner, not the cached old one');
    // Callers that name the instance get the owner cached for exactly that instance.
    const id = (await call(r.east.url, 'GET', '/admin/metadata/bucket?key=reborn', r.sys)).json<{ data: { bucket: { bucket_id: string } } }>().data.bucket.bucket_id;
    await putObj(r.east.url, bob, 'reborn', 'k3', 'by bob too');
    const metaReads = () => r.srcProxy.seen.filter((x) => x.url.startsWith('/admin/metadata/bucket') && x.url.includes('key=reborn')).length;
    const before = metaReads();
    assert.equal(await syncObject(s.ctx, 'reborn', 'k3', undefined, `reborn:${id}`), 'copied');
    assert.equal(metaReads(), before, 'the owner of that instance was cached');
    assert.match(agentCalls(r.dstProxy, 'PUT', 'reborn', 'k3')[0].url, /rgwx-uid=bob/);
  });

  it('gateways answering 501 to ?tagging and ?acl: copies go on, each lack noted once at warn level', async () => {
    reset();
    const ctx2 = await r.context({ copy_mode: 'stream' });
    for (const p of [r.srcProxy, r.dstProxy]) {
      p.before = (req) => (/[?&](acl|tagging)(=|&|$)/.test(req.url ?? '') ? { status: 501, code: 'NotImplemented' } : undefined);
    }
    // A source that counts tags, so the tag read is made (and refused).
    r.srcProxy.addHeaders = (req) => (req.url?.startsWith('/sbk/nosub') ? { 'x-amz-tagging-count': '1' } : undefined);
    for (let i = 0; i < 3; i++) {
      await putObj(r.east.url, alice, 'sbk', `nosub-${i}`, `v${i}`);
      assert.equal(await syncObject(ctx2.ctx, 'sbk', `nosub-${i}`), 'copied');
      assert.equal(await syncObject(ctx2.ctx, 'sbk', `nosub-${i}`), 'unchanged');
    }
    const warns = ctx2.log.lines.filter((l) => l.startsWith('warn'));
    assert.deepEqual(warns.filter((l) => /no object ACLs/.test(l)).length, 2, `source and destination, once each:\n${warns.join('\n')}`);
    assert.deepEqual(warns.filter((l) => /no object tagging/.test(l)).length, 2, warns.join('\n'));
    assert.equal(agentCalls(r.srcProxy, 'GET', 'sbk', 'nosub-2').filter((x) => /acl|tagging/.test(x.url)).length, 0, 'not asked again once refused');
  });
});
