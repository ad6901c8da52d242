/** The systemd unit passes systemd-analyze verify; the example config is valid for the agent. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildConfig, readConfigFile } from '../src/config.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('deploy', () => {
  it('rgw-agent@.service passes systemd-analyze verify with no warnings', () => {
    const which = spawnSync('sh', ['-c', 'command -v systemd-analyze']);
    assert.equal(which.status, 0, 'systemd-analyze is missing: install the Debian package "systemd" (.ci/run does)');
    const dir = mkdtempSync(join(tmpdir(), 'rgw-agent-unit-'));
    try {
      copyFileSync(join(ROOT, 'deploy/rgw-agent@.service'), join(dir, 'rgw-agent@.service'));
      symlinkSync('rgw-agent@.service', join(dir, 'rgw-agent@us-west.service'));
      const r = spawnSync('systemd-analyze', ['verify', join(dir, 'rgw-agent@us-west.service')], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr.trim(), '', `systemd-analyze warned:\n${r.stderr}`);

      // The check is real: a broken directive is reported.
      writeFileSync(join(dir, 'rgw-agent@.service'), execFileSync('sed', ['s/^Restart=on-failure/Restart=sometimes/', join(ROOT, 'deploy/rgw-agent@.service')]));
      const bad = spawnSync('systemd-analyze', ['verify', join(dir, 'rgw-agent@us-west.service')], { encoding: 'utf8' });
      assert.match(bad.stderr, /restart specifier/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the example config is a valid agent config', () => {
    const cfg = buildConfig(readConfigFile(join(ROOT, 'deploy/example.yaml')), {}, {});
    assert.equal(cfg.destination, 'http://rgw-west.example.com:8080');
    assert.equal(cfg.numWorkers, 4);
  });
});
