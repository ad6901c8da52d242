/**
 * Multipart uploads survive kill -9 of `zone serve` (a real process on the same data dir): an
 * acknowledged part is kept, a part killed half sent leaves nothing (tmp/ emptied, no stray file),
 * and an acknowledged complete leaves the object and no part files.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeRealm, type TestRealm } from './helpers/realm.js';
import { call } from './helpers/http.js';
import { objPath } from './helpers/pair.js';
import { signRequest } from '../src/rgw/sign.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const MiB = 1024 * 1024;
type Creds = { accessKey: string; secretKey: string };

interface Zone { child: ChildProcess; url: string; exited: Promise<unknown> }

async function startZoneProcess(t: TestRealm, dataDir: string): Promise<Zone> {
  const child = spawn(process.execPath, [CLI, 'zone', 'serve', '--realm', t.realmFile, '--zone', 'us-east', '--data-dir', dataDir], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`zone not ready: ${stderr}`)), 15_000);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.once('exit', () => { clearTimeout(timer); reject(new Error(`zone exited: ${stderr}`)); });
  });
  return { child, url, exited };
}

async function kill9(z: Zone): Promise<void> {
  z.child.kill('SIGKILL');
  await z.exited;
}

const filesUnder = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [e.name]));

describe('multipart upload across kill -9', () => {
  let t: TestRealm;
  let zone: Zone | undefined;
  let alice: Creds;
  const dataDir = () => join(t.dir, 'east');
  before(async () => {
    t = await makeRealm();
    zone = await startZoneProcess(t, dataDir());
    const r = await call(zone.url, 'PUT', '/admin/user?uid=alice&display-name=Alice', t);
    const k = r.json<{ keys: { access_key: string; secret_key: string }[] }>().keys[0];
    alice = { accessKey: k.access_key, secretKey: k.secret_key };
    assert.equal((await call(zone.url, 'PUT', '/crashmp', alice)).status, 200);
  });
  after(async () => {
    if (zone) await kill9(zone);
    t?.cleanup();
  });

  it('keeps acknowledged parts, drops a half-sent one, and an acknowledged complete leaves only the object', async () => {
    const path = objPath('crashmp', 'obj');
    const init = await call(zone!.url, 'POST', `${path}?uploads`, alice, { headers: { 'x-amz-meta-m': '1' } });
    const id = /<UploadId>([^<]+)</.exec(init.text)![1];
    const p1 = randomBytes(5 * MiB);
    const r1 = await call(zone!.url, 'PUT', `${path}?partNumber=1&uploadId=${id}`, alice, { body: p1 });
    assert.equal(r1.status, 200);

    // Part 2 is half sent when the zone dies: its bytes are in tmp/, not yet a part.
    const u = new URL(zone!.url);
    const partPath = `${path}?partNumber=2&uploadId=${id}`;
    const headers = signRequest({ method: 'PUT', host: u.host, path: partPath, headers: { 'content-length': String(4 * MiB) } }, alice, 'v4');
    const half = httpRequest({ host: u.hostname, port: u.port, method: 'PUT', path: partPath, headers });
    half.on('error', () => undefined);
    half.write(randomBytes(2 * MiB));
    const deadline = Date.now() + 10_000;
    while (filesUnder(join(dataDir(), 'tmp')).length === 0) {
      assert.ok(Date.now() < deadline, 'the half-sent part reached tmp/');
      await new Promise((r) => setTimeout(r, 20));
    }
    await kill9(zone!);
    half.destroy();

    zone = await startZoneProcess(t, dataDir());
    assert.deepEqual(filesUnder(join(dataDir(), 'tmp')), [], 'tmp/ is emptied at start');
    assert.equal(filesUnder(join(dataDir(), 'objects')).length, 1, 'only part 1\'s file is left');
    const parts = await call(zone.url, 'GET', `${path}?uploadId=${id}`, alice);
    assert.equal(parts.status, 200, parts.text);
    assert.deepEqual([...parts.text.matchAll(/<PartNumber>(\d+)</g)].map((m) => m[1]), ['1']);

    const p2 = Buffer.from('the tail');
    const r2 = await call(zone.url, 'PUT', partPath, alice, { body: p2 });
    const body = `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${String(r1.headers.etag)}</ETag></Part><Part><PartNumber>2</PartNumber><ETag>${String(r2.headers.etag)}</ETag></Part></CompleteMultipartUpload>`;
    const done = await call(zone.url, 'POST', `${path}?uploadId=${id}`, alice, { body });
    assert.equal(done.status, 200, done.text);
    // Killed right after the acknowledgement: the commit is durable (a kill between commit and the
    // parts' unlink would leave orphans, which the start removes).
    await kill9(zone);

    zone = await startZoneProcess(t, dataDir());
    const got = await call(zone.url, 'GET', path, alice);
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(Buffer.concat([p1, p2])));
    assert.equal(got.headers['x-amz-meta-m'], '1');
    assert.match(String(got.headers.etag), /-2"$/);
    assert.equal(filesUnder(join(dataDir(), 'objects')).length, 1, 'the assembled object\'s file only: no part file survives');
    assert.doesNotMatch((await call(zone.url, 'GET', '/crashmp?uploads', alice)).text, /<Upload>/);
  });
});
