/**
 * Crash safety of a versioned bucket: `zone serve` is killed with SIGKILL while writers add
 * versions (inline and file bodies), delete markers and remove versions by id; after a restart
 * every acknowledged version is there byte for byte, every acknowledged removal stayed removed,
 * the current view (plain GET) agrees with ListObjectVersions, and no object file is left that no
 * version names (nor is one missing). Two kill cycles on the same data dir.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { makeRealm, type TestRealm } from './helpers/realm.js';
import { call } from './helpers/http.js';
import { startZoneProc, type Proc } from './helpers/procs.js';

type Creds = { accessKey: string; secretKey: string };
const BUCKET = 'vcrash';
const KEYS = ['a', 'b', 'dir/c', 'dir/d', 'e'];
const WRITERS = 4;
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

interface Listed { kind: string; key: string; id: string; latest: boolean; etag?: string }

function parseVersions(xml: string): { items: Listed[]; truncated: boolean; nextKey?: string; nextVersion?: string } {
  const tag = (s: string, name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(s)?.[1];
  const items = [...xml.matchAll(/<(Version|DeleteMarker)>(.*?)<\/\1>/g)].map((m) => ({
    kind: m[1], key: tag(m[2], 'Key')!, id: tag(m[2], 'VersionId')!, latest: tag(m[2], 'IsLatest') === 'true',
    ...(m[1] === 'Version' ? { etag: tag(m[2], 'ETag')!.replace(/&quot;/g, '') } : {}),
  }));
  return { items, truncated: tag(xml, 'IsTruncated') === 'true', nextKey: tag(xml, 'NextKeyMarker'), nextVersion: tag(xml, 'NextVersionIdMarker') };
}

describe('a versioned bucket survives kill -9 during concurrent writes', () => {
  let t: TestRealm;
  let url: string;
  let dataDir: string;
  let zone: Proc | undefined;
  let user: Creds;
  /** Acknowledged, not (acknowledged) removed: version id -> md5 ('' for a delete marker), per key. */
  const acked = new Map<string, Map<string, string>>(KEYS.map((k) => [k, new Map()]));
  /** Versions whose removal was acknowledged: never to be seen again. */
  const removed = new Set<string>();
  /** md5s of every body sent: an unacknowledged PUT may have landed, but only whole. */
  const sentMd5 = new Set<string>();

  before(async () => {
    t = await makeRealm();
    url = t.realm.zones[0].endpoint;
    dataDir = join(t.dir, 'us-east');
    zone = await startZoneProc(t.realmFile, 'us-east', dataDir);
    const r = await call(url, 'PUT', '/admin/user?uid=vcrash&display-name=V', t);
    const k = r.json<{ keys: { access_key: string; secret_key: string }[] }>().keys[0];
    user = { accessKey: k.access_key, secretKey: k.secret_key };
    assert.equal((await call(url, 'PUT', `/${BUCKET}`, user)).status, 200);
    const v = await call(url, 'PUT', `/${BUCKET}?versioning`, user, { body: '<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>' });
    assert.equal(v.status, 200);
  });
  after(async () => {
    await zone?.kill('SIGKILL');
    t?.cleanup();
  });

  /** Writers until `acks` operations were acknowledged, then SIGKILL with requests still in flight. */
  async function cycle(acks: number): Promise<void> {
    let done = 0;
    let killed = false;
    const one = async (): Promise<void> => {
      const key = KEYS[Math.floor(Math.random() * KEYS.length)];
      const mine = acked.get(key)!;
      const r = Math.random();
      if (r < 0.6) {
        // Log-uniform 1 KiB .. 1 MiB: inline bodies and files.
        const body = randomBytes(Math.floor(1024 * 2 ** (Math.random() * 10)));
        sentMd5.add(md5(body));
        const res = await call(url, 'PUT', `/${BUCKET}/${key}`, user, { body });
        if (res.status === 200 && !killed) mine.set(String(res.headers['x-amz-version-id']), md5(body));
      } else if (r < 0.75) {
        const res = await call(url, 'DELETE', `/${BUCKET}/${key}`, user);
        if (res.status === 204 && !killed) mine.set(String(res.headers['x-amz-version-id']), '');
      } else {
        const ids = [...mine.keys()];
        if (ids.length === 0) return;
        const id = ids[Math.floor(Math.random() * ids.length)];
        // From now on its fate is unknown until the answer says it is gone.
        mine.delete(id);
        const res = await call(url, 'DELETE', `/${BUCKET}/${key}?versionId=${id}`, user);
        if (res.status === 204 && !killed) removed.add(id);
      }
      if (!killed) done++;
    };
    const writer = async (): Promise<void> => {
      while (!killed) {
        try {
          await one();
        } catch {
          // A request cut by the kill: its outcome is unknown, and checked as such.
        }
      }
    };
    const writers = Array.from({ length: WRITERS }, writer);
    while (done < acks) await new Promise((r) => setImmediate(r));
    killed = true;
    await zone!.kill('SIGKILL');
    await Promise.all(writers);
    zone = await startZoneProc(t.realmFile, 'us-east', dataDir);
  }

  async function listAll(): Promise<Listed[]> {
    const out: Listed[] = [];
    let q = '';
    for (;;) {
      const r = await call(url, 'GET', `/${BUCKET}?versions&max-keys=7${q}`, user);
      assert.equal(r.status, 200, r.text);
      const page = parseVersions(r.text);
      out.push(...page.items);
      if (!page.truncated) return out;
      q = `&key-marker=${encodeURIComponent(page.nextKey!)}&version-id-marker=${encodeURIComponent(page.nextVersion!)}`;
    }
  }

  async function check(): Promise<void> {
    const listed = await listAll();
    const byId = new Map(listed.map((l) => [l.id, l]));
    for (const [key, versions] of acked) {
      for (const [id, sum] of versions) {
        const l = byId.get(id);
        assert.ok(l, `acknowledged version ${id} of ${key} is listed`);
        assert.equal(l.key, key);
        assert.equal(l.kind, sum === '' ? 'DeleteMarker' : 'Version');
        if (sum !== '') {
          const g = await call(url, 'GET', `/${BUCKET}/${key}?versionId=${id}`, user);
          assert.equal(g.status, 200);
          assert.equal(md5(g.body), sum, `version ${id} of ${key} byte for byte`);
        }
      }
    }
    for (const id of removed) assert.ok(!byId.has(id), `removed version ${id} stays removed`);
    for (const l of listed) {
      if (l.kind !== 'Version') continue;
      const g = await call(url, 'GET', `/${BUCKET}/${l.key}?versionId=${l.id}`, user);
      assert.equal(g.status, 200, `listed version ${l.id} is readable`);
      assert.ok(sentMd5.has(md5(g.body)) && md5(g.body) === l.etag, `listed version ${l.id} is whole`);
    }
    // The current view agrees with the listing's latest of each key.
    for (const key of KEYS) {
      const latest = listed.find((l) => l.key === key && l.latest);
      const g = await call(url, 'GET', `/${BUCKET}/${key}`, user);
      if (!latest) assert.equal(g.status, 404);
      else if (latest.kind === 'DeleteMarker') {
        assert.equal(g.status, 404);
        assert.equal(g.headers['x-amz-version-id'], latest.id);
      } else {
        assert.equal(g.status, 200);
        assert.equal(g.headers['x-amz-version-id'], latest.id);
      }
    }
  }

  function filesAgreeWithIndex(): void {
    const db = new Database(join(dataDir, 'zone.db'), { readonly: true });
    try {
      const named = new Set((db.prepare("SELECT file FROM versions WHERE file != '' UNION SELECT file FROM objects").all() as { file: string }[]).map((r) => r.file).filter((f) => !f.startsWith('inline:')));
      const onDisk = new Set(readdirSync(join(dataDir, 'objects')).flatMap((d) => readdirSync(join(dataDir, 'objects', d))));
      assert.deepEqual([...onDisk].sort(), [...named].sort(), 'every file is named by a version, and every named file exists');
      const inline = (db.prepare('SELECT file FROM inline_bodies').all() as { file: string }[]).map((r) => r.file).sort();
      const inlineNamed = (db.prepare("SELECT file FROM versions WHERE file LIKE 'inline:%' UNION SELECT file FROM objects WHERE file LIKE 'inline:%'").all() as { file: string }[]).map((r) => r.file).sort();
      assert.deepEqual(inline, inlineNamed, 'no inline body outlives its version');
    } finally {
      db.close();
    }
  }

  it('two kill cycles: acknowledged versions and removals survive, files agree with the index', async () => {
    await cycle(40);
    await check();
    await cycle(25);
    await check();
    await zone!.kill('SIGTERM');
    zone = undefined;
    filesAgreeWithIndex();
  });
});
