/** `rgw-agent zone serve` as a real process: ready line, clean stop, one-line errors with exit 2. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeRealm } from './helpers/realm.js';
import { call } from './helpers/http.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

interface Run { code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }

function runCli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    p.on('exit', (code, signal) => resolve({ code, signal, stderr, stdout }));
  });
}

describe('rgw-agent zone serve', () => {
  it('logs its URL when ready, serves, and exits 0 on SIGTERM', async () => {
    const t = await makeRealm();
    try {
      const p = spawn(process.execPath, [CLI, 'zone', 'serve', '--realm', t.realmFile, '--zone', 'us-west', '--data-dir', join(t.dir, 'w')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      const endpoint = t.realm.zones[1].endpoint;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ready line: ${stderr}`)), 10_000);
        p.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
          if (stderr.includes(`listening on ${endpoint}`)) { clearTimeout(timer); resolve(); }
        });
        p.on('exit', () => reject(new Error(`exited early: ${stderr}`)));
      });
      assert.equal(stderr.trim().split('\n').length, 1, 'one line when ready');
      assert.ok(!stderr.includes(t.secretKey), 'the secret key is never logged');
      const r = await call(endpoint, 'GET', '/admin/config', t);
      assert.equal(r.status, 200);
      const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
      p.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      t.cleanup();
    }
  });

  it('refuses a zone that is not in the realm with one line and exit 2', async () => {
    const t = await makeRealm();
    try {
      const r = await runCli(['zone', 'serve', '--realm', t.realmFile, '--zone', 'eu-central', '--data-dir', join(t.dir, 'x')]);
      assert.equal(r.code, 2);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.match(r.stderr, /zone "eu-central" is not in realm file/);
    } finally {
      t.cleanup();
    }
  });

  it('refuses a bad --abandoned-upload-age with one line and exit 2', async () => {
    const t = await makeRealm();
    try {
      for (const age of ['0', '7w', 'soon']) {
        const r = await runCli(['zone', 'serve', '--realm', t.realmFile, '--zone', 'us-east', '--data-dir', join(t.dir, 'x'), '--abandoned-upload-age', age]);
        assert.equal(r.code, 2, age);
        assert.equal(r.stderr.trim().split('\n').length, 1);
        assert.match(r.stderr, /--abandoned-upload-age must be a positive duration/);
      }
    } finally {
      t.cleanup();
    }
  });

  it('reports a port in use with one line and exit 2', async () => {
    const t = await makeRealm();
    const port = new URL(t.realm.zones[0].endpoint).port;
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(Number(port), '127.0.0.1', resolve));
    try {
      const r = await runCli(['zone', 'serve', '--realm', t.realmFile, '--zone', 'us-east', '--data-dir', join(t.dir, 'e')]);
      assert.equal(r.code, 2);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.match(r.stderr, new RegExp(`port ${port} .*already in use`));
    } finally {
      blocker.close();
      t.cleanup();
    }
  });

  it('reports an unusable data dir with one line and exit 2', async () => {
    const t = await makeRealm();
    try {
      const notADir = join(t.dir, 'plain-file');
      writeFileSync(notADir, 'x');
      const r = await runCli(['zone', 'serve', '--realm', t.realmFile, '--zone', 'us-east', '--data-dir', notADir]);
      assert.equal(r.code, 2);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.match(r.stderr, /data dir .* is not usable/);
    } finally {
      t.cleanup();
    }
  });

  it('reports a broken realm file with one line and exit 2', async () => {
    const t = await makeRealm();
    try {
      writeFileSync(t.realmFile, 'zonegroup: us\nmaster_zone: nowhere\nzones:\n  us-east: { endpoint: "http://127.0.0.1:1" }\nsystem_user: { uid: a, access_key: b, secret_key: c }\n');
      const r = await runCli(['zone', 'serve', '--realm', t.realmFile, '--zone', 'us-east', '--data-dir', join(t.dir, 'e')]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /master_zone "nowhere" is not one of the zones/);
      const missing = await runCli(['zone', 'serve', '--realm', join(t.dir, 'nope.yaml'), '--zone', 'us-east', '--data-dir', join(t.dir, 'e')]);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /cannot read realm file .*ENOENT/);
    } finally {
      t.cleanup();
    }
  });

  it('explains itself in --help', async () => {
    const r = await runCli(['zone', 'serve', '--help']);
    assert.equal(r.code, 0);
    for (const opt of ['--realm', '--zone', '--data-dir']) assert.ok(r.stdout.includes(opt), opt);
  });
});
