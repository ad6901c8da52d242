/**
 * The embedded zone keeps every attribute a writer sets (PUT, copy, remote copy, ?tagging, ?acl),
 * and its remote copy decides copy-if-newer when it commits. The source zone sits behind a small
 * proxy that can hold a response body, or answer like a whole-second source (no Rgwx-Mtime).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { freePort, makeRealm, type TestRealm } from './helpers/realm.js';
import { call, type Reply } from './helpers/http.js';
import { startZone, type RunningZone } from '../src/zone/server.js';
import { parseRealm } from '../src/zone/realm.js';

interface Keys { accessKey: string; secretKey: string }

/** Forwards to the source zone; can hold one GET's body until released, and drop Rgwx-Mtime. */
class SourceProxy {
  server!: Server;
  holdPath: string | undefined;
  held: (() => void) | undefined;
  heldSeen = false;
  coarse = false;
  seen: string[] = [];
  async start(listenPort: number, target: number): Promise<void> {
    this.server = createServer((req, res) => {
      this.seen.push(`${req.method} ${req.url}`);
      const up = httpRequest({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers }, (ur) => {
        const headers = { ...ur.headers };
        if (this.coarse) delete headers['rgwx-mtime'];
        res.writeHead(ur.statusCode ?? 502, headers);
        if (req.method === 'GET' && this.holdPath !== undefined && (req.url ?? '').split('?')[0] === this.holdPath && !/[?&](acl|tagging)/.test(req.url ?? '')) {
          this.holdPath = undefined;
          // The headers and the attribute prefix go now, so the zone starts streaming the object
          // into its temp file and waits inside the copy, past its early copy-if-newer check.
          res.flushHeaders();
          let prefix = Number(ur.headers['rgwx-embedded-metadata-len'] ?? 0);
          let released = false;
          const pending: Buffer[] = [];
          ur.on('data', (chunk: Buffer) => {
            if (released) return void res.write(chunk);
            if (prefix > 0) {
              const head = chunk.subarray(0, prefix);
              res.write(head);
              prefix -= head.length;
              chunk = chunk.subarray(head.length);
            }
            if (chunk.length > 0) pending.push(chunk);
          });
          ur.on('end', () => { if (released) res.end(); });
          this.heldSeen = true;
          this.held = () => {
            released = true;
            for (const c of pending) res.write(c);
            if (ur.readableEnded) res.end();
          };
          return;
        }
        ur.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => this.server.listen(listenPort, '127.0.0.1', r));
  }
  close(): Promise<void> {
    return new Promise((r) => { this.server.close(() => r()); this.server.closeAllConnections(); });
  }
}

describe('embedded zone: object attributes', () => {
  let t: TestRealm;
  let east: RunningZone;
  let west: RunningZone;
  let proxy: SourceProxy;
  let alice: Keys;
  const sys = () => ({ accessKey: t.accessKey, secretKey: t.secretKey });

  function remoteCopy(bucket: string, key: string, opId: string): Promise<Reply> {
    return call(west.url, 'PUT', `/${bucket}/${encodeURIComponent(key)}?rgwx-source-zone=us-east&rgwx-client-id=t&rgwx-op-id=${opId}&rgwx-copy-if-newer=true`, sys(), { headers: { 'x-amz-copy-source': `${bucket}/${encodeURIComponent(key)}` } });
  }

  before(async () => {
    // us-east's advertised endpoint is the proxy: us-west pulls through it.
    const proxyPort = await freePort();
    t = await makeRealm();
    const text = readFileSync(t.realmFile, 'utf8').replace(/us-east: \{ endpoint: "http:\/\/127\.0\.0\.1:\d+" \}/, `us-east: { endpoint: "http://127.0.0.1:${proxyPort}" }`);
    t.realm = parseRealm(text);
    east = await startZone({ realm: t.realm, zoneName: 'us-east', dataDir: join(t.dir, 'east'), port: 0 });
    west = await startZone({ realm: t.realm, zoneName: 'us-west', dataDir: join(t.dir, 'west') });
    proxy = new SourceProxy();
    await proxy.start(proxyPort, east.port);
    const r = await call(east.url, 'PUT', '/admin/user?uid=alice&display-name=Alice', sys());
    const k = r.json<{ keys: { access_key: string; secret_key: string }[] }>().keys[0];
    alice = { accessKey: k.access_key, secretKey: k.secret_key };
    assert.equal((await call(east.url, 'PUT', '/docs', alice)).status, 200);
    for (const [section, key] of [['user', 'alice'], ['bucket', 'docs']]) {
      const doc = await call(east.url, 'GET', `/admin/metadata/${section}?key=${key}`, sys());
      if (section === 'bucket') {
        const id = doc.json<{ data: { bucket: { bucket_id: string } } }>().data.bucket.bucket_id;
        const inst = await call(east.url, 'GET', `/admin/metadata/bucket.instance?key=docs%3A${id}`, sys());
        assert.equal((await call(west.url, 'PUT', `/admin/metadata/bucket.instance?key=docs%3A${id}`, sys(), { body: inst.body })).status, 200);
      }
      assert.equal((await call(west.url, 'PUT', `/admin/metadata/${section}?key=${key}`, sys(), { body: doc.body })).status, 200);
    }
  });

  after(async () => {
    await proxy?.close();
    await Promise.all([east?.close(), west?.close()]);
    t?.cleanup();
  });

  const ALL = {
    'content-type': 'text/x-everything',
    'cache-control': 'max-age=60',
    'content-disposition': 'attachment; filename="e.txt"',
    'content-encoding': 'identity',
    'content-language': 'de-CH',
    expires: 'Wed, 01 Dec 2027 00:00:00 GMT',
    'x-amz-website-redirect-location': '/elsewhere',
    'x-amz-storage-class': 'STANDARD_IA',
    'x-amz-meta-color': 'blue',
    'x-amz-tagging': 'project=alpha&team=sync%20ops',
    'x-amz-acl': 'public-read',
  };

  function assertAll(r: Reply, where: string): void {
    for (const [h, v] of Object.entries(ALL)) {
      if (h === 'x-amz-tagging' || h === 'x-amz-acl') continue;
      assert.equal(r.headers[h], v, `${where}: ${h}`);
    }
    assert.equal(r.headers['x-amz-tagging-count'], '2', `${where}: tag count`);
  }

  it('4: PUT keeps every attribute; GET and HEAD return them; ?tagging and ?acl read them', async () => {
    assert.equal((await call(east.url, 'PUT', '/docs/every', alice, { body: 'all of it', headers: ALL })).status, 200);
    assertAll(await call(east.url, 'HEAD', '/docs/every', alice), 'HEAD');
    assertAll(await call(east.url, 'GET', '/docs/every', alice), 'GET');
    const tags = await call(east.url, 'GET', '/docs/every?tagging', alice);
    assert.match(tags.text, /<Tag><Key>project<\/Key><Value>alpha<\/Value><\/Tag><Tag><Key>team<\/Key><Value>sync ops<\/Value><\/Tag>/);
    const acl = await call(east.url, 'GET', '/docs/every?acl', alice);
    assert.match(acl.text, /<URI>http:\/\/acs.amazonaws.com\/groups\/global\/AllUsers<\/URI><\/Grantee><Permission>READ<\/Permission>/);
    assert.match(acl.text, /<ID>alice<\/ID>.*FULL_CONTROL/);
    // Bad input is refused before anything is stored.
    assert.equal((await call(east.url, 'PUT', '/docs/bad', alice, { body: 'x', headers: { 'x-amz-storage-class': 'NOPE' } })).status, 400);
    assert.equal((await call(east.url, 'PUT', '/docs/bad', alice, { body: 'x', headers: { 'x-amz-acl': 'everyone' } })).status, 400);
    assert.equal((await call(east.url, 'HEAD', '/docs/bad', alice)).status, 404);
  });

  it('4: a tag or ACL change is a logged write that moves the mtime', async () => {
    await call(east.url, 'PUT', '/docs/retag', alice, { body: 'r' });
    const before = await call(east.url, 'HEAD', '/docs/retag', sys());
    const id = (await call(east.url, 'GET', '/admin/metadata/bucket?key=docs', sys())).json<{ data: { bucket: { bucket_id: string } } }>().data.bucket.bucket_id;
    const head = async () => (await call(east.url, 'GET', `/admin/log?info&type=bucket-index&bucket-instance=docs%3A${id}`, sys())).json<{ max_marker: string }>().max_marker;
    const m0 = await head();
    const put = await call(east.url, 'PUT', '/docs/retag?tagging', alice, { body: '<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>' });
    assert.equal(put.status, 200, put.text);
    const m1 = await head();
    assert.ok(m1 > m0, 'the bucket-index log has an entry for the tag change');
    const after = await call(east.url, 'HEAD', '/docs/retag', sys());
    assert.ok(String(after.headers['rgwx-mtime']) > String(before.headers['rgwx-mtime']), 'mtime moved');
    assert.equal(after.headers['x-amz-tagging-count'], '1');
    assert.equal((await call(east.url, 'PUT', '/docs/retag?acl', alice, { headers: { 'x-amz-grant-read': 'id="bob"' } })).status, 200);
    assert.ok(await head() > m1);
    assert.match((await call(east.url, 'GET', '/docs/retag?acl', alice)).text, /<ID>bob<\/ID>.*<Permission>READ<\/Permission>/);
    assert.equal((await call(east.url, 'DELETE', '/docs/retag?tagging', alice)).status, 204);
    assert.equal((await call(east.url, 'HEAD', '/docs/retag', alice)).headers['x-amz-tagging-count'], undefined);
  });

  it('4: CopyObject: COPY keeps the attributes, REPLACE takes the request\'s; tags follow the tagging directive', async () => {
    await call(east.url, 'PUT', '/docs/orig', alice, { body: 'o', headers: ALL });
    assert.equal((await call(east.url, 'PUT', '/docs/copied', alice, { headers: { 'x-amz-copy-source': 'docs/orig', 'x-amz-acl': 'public-read' } })).status, 200);
    assertAll(await call(east.url, 'HEAD', '/docs/copied', alice), 'COPY');
    assert.equal((await call(east.url, 'PUT', '/docs/replaced', alice, { headers: { 'x-amz-copy-source': 'docs/orig', 'x-amz-metadata-directive': 'REPLACE', 'x-amz-tagging-directive': 'REPLACE', 'content-type': 'text/other', 'x-amz-tagging': 'only=one' } })).status, 200);
    const r = await call(east.url, 'HEAD', '/docs/replaced', alice);
    assert.equal(r.headers['content-type'], 'text/other');
    assert.equal(r.headers['cache-control'], undefined);
    assert.equal(r.headers['x-amz-storage-class'], 'STANDARD_IA', 'the class is kept unless the request names one');
    assert.equal(r.headers['x-amz-tagging-count'], '1');
  });

  it('4: remote copy keeps every attribute, tags and ACL included', async () => {
    await call(east.url, 'PUT', '/docs/pulled', alice, { body: 'pulled', headers: ALL });
    const from = proxy.seen.length;
    const r = await remoteCopy('docs', 'pulled', 'op-attrs');
    assert.equal(r.status, 200, r.text);
    // One answer carries attributes and bytes (prepend-metadata): no separate ?acl or ?tagging read
    // that could describe another version.
    assert.deepEqual(proxy.seen.slice(from), ['GET /docs/pulled?rgwx-prepend-metadata=true']);
    assertAll(await call(west.url, 'HEAD', '/docs/pulled', sys()), 'remote copy');
    assert.equal((await call(west.url, 'GET', '/docs/pulled?acl', sys())).text, (await call(east.url, 'GET', '/docs/pulled?acl', sys())).text);
    assert.equal((await call(west.url, 'GET', '/docs/pulled?tagging', sys())).text, (await call(east.url, 'GET', '/docs/pulled?tagging', sys())).text);
    assert.equal((await remoteCopy('docs', 'pulled', 'op-attrs-2')).status, 304, 'identical: not modified');
  });

  it('prepend-metadata: a system user\'s GET answers the attributes in front of the bytes; others are refused', async () => {
    const key = 'empty ü+%/key';
    await call(east.url, 'PUT', `/docs/${encodeURIComponent(key)}`, alice, { body: '', headers: { 'content-type': 'text/x-empty', 'x-amz-tagging': 'a=1' } });
    const r = await call(east.url, 'GET', `/docs/${encodeURIComponent(key)}?rgwx-prepend-metadata=true`, sys());
    assert.equal(r.status, 200);
    const n = Number(r.headers['rgwx-embedded-metadata-len']);
    assert.equal(r.body.length, n, 'a 0-byte object: the body is the prefix alone');
    const doc = JSON.parse(r.body.subarray(0, n).toString('utf8')) as { etag: string; headers: Record<string, string>; tags: string; acl: { owner: string } };
    assert.equal(doc.headers['content-type'], 'text/x-empty');
    assert.equal(doc.tags, 'a=1');
    assert.equal(doc.acl.owner, 'alice');
    assert.equal((await call(east.url, 'GET', `/docs/${encodeURIComponent(key)}?rgwx-prepend-metadata=true`, alice)).status, 403);
    const big = Buffer.alloc(3 * 1024 * 1024 + 7, 0x61);
    await call(east.url, 'PUT', '/docs/big-prepend', alice, { body: big });
    const rb = await call(east.url, 'GET', '/docs/big-prepend?rgwx-prepend-metadata=true', sys());
    const nb = Number(rb.headers['rgwx-embedded-metadata-len']);
    assert.ok(rb.body.subarray(nb).equals(big), 'the object bytes follow the prefix unchanged');
  });

  it('2: a slow remote copy never overwrites a newer version that arrived while it streamed', async () => {
    await call(east.url, 'PUT', '/docs/slow', alice, { body: 'version-1' });
    proxy.holdPath = '/docs/slow';
    const slow = remoteCopy('docs', 'slow', 'op-slow-1');
    const end = Date.now() + 10_000;
    while (!proxy.heldSeen) {
      if (Date.now() > end) throw new Error('the slow copy never reached the source');
      await new Promise((r) => setTimeout(r, 20));
    }
    await call(east.url, 'PUT', '/docs/slow', alice, { body: 'version-2' });
    assert.equal((await remoteCopy('docs', 'slow', 'op-slow-2')).status, 200);
    assert.equal((await call(west.url, 'GET', '/docs/slow', sys())).text, 'version-2');
    proxy.held!();
    const r = await slow;
    assert.equal(r.status, 304, `the slow copy is not newer when it commits: ${r.status} ${r.text}`);
    assert.equal((await call(west.url, 'GET', '/docs/slow', sys())).text, 'version-2', 'the newer version stays');
  });

  it('15: from a whole-second source, a same-second overwrite with the same ETag but new metadata is copied', async () => {
    proxy.coarse = true;
    try {
      for (let attempt = 0; ; attempt++) {
        const key = `coarse-${attempt}`;
        await call(east.url, 'PUT', `/docs/${key}`, alice, { body: 'same bytes', headers: { 'content-type': 'text/one', 'x-amz-meta-v': '1' } });
        assert.equal((await remoteCopy('docs', key, `op-c1-${attempt}`)).status, 200);
        await call(east.url, 'PUT', `/docs/${key}`, alice, { body: 'same bytes', headers: { 'content-type': 'text/two', 'x-amz-meta-v': '2' } });
        const [a, b] = [await call(west.url, 'HEAD', `/docs/${key}`, sys()), await call(east.url, 'HEAD', `/docs/${key}`, alice)];
        // The test needs both writes in one second; try again when a second boundary fell between them.
        if (a.headers['last-modified'] !== b.headers['last-modified']) {
          assert.ok(attempt < 10, 'two writes in one second');
          continue;
        }
        const r = await remoteCopy('docs', key, `op-c2-${attempt}`);
        assert.equal(r.status, 200, 'copied, not "not modified"');
        const got = await call(west.url, 'HEAD', `/docs/${key}`, sys());
        assert.equal(got.headers['content-type'], 'text/two');
        assert.equal(got.headers['x-amz-meta-v'], '2');
        assert.equal((await remoteCopy('docs', key, `op-c3-${attempt}`)).status, 304, 'and identical now');
        break;
      }
    } finally {
      proxy.coarse = false;
    }
  });
});
