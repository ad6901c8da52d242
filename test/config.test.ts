/**
 * Agent configuration: radosgw-agent key names, file < environment < flags, validation into one
 * error naming the key, defaults; and the CLI's behaviour on bad config and unreachable zones
 * (one stderr line, the right exit code, never a secret).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { buildConfig, ConfigError, readConfigFile, type AgentConfig } from '../src/config.js';
import { freePort, makeRealm, startZones, type TestRealm } from './helpers/realm.js';
import type { RunningZone } from '../src/zone/server.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

const REQUIRED = {
  src_access_key: 'SRCACCESS',
  src_secret_key: 'src-secret',
  dest_access_key: 'DSTACCESS',
  dest_secret_key: 'dest-secret',
  destination: 'http://rgw2.example.com:7480',
};
const NO_ENV: NodeJS.ProcessEnv = {};

/** The ConfigError `fn` throws; it must be exactly one line. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.ok(!e.message.includes('\n'), `one line: ${JSON.stringify(e.message)}`);
    return e;
  }
  assert.fail('expected a ConfigError');
}

let dir: string;
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

before(() => { dir = mkdtempSync(join(tmpdir(), 'rgw-agent-config-')); });
after(() => rmSync(dir, { recursive: true, force: true }));

describe('buildConfig / readConfigFile', () => {
  it('reads a radosgw-agent config file with its key names', () => {
    const p = file('radosgw-agent.conf', [
      '---',
      '# as written for radosgw-agent',
      'src_zone: us-east',
      'src_access_key: SRCKEY01',
      'src_secret_key: "src/secret+key=="',
      'destination: http://us-west.example.com:80/',
      'dest_access_key: DSTKEY01',
      'dest_secret_key: dest-secret-key',
      'log_file: /var/log/radosgw/radosgw-sync-us-east-west.log',
      'metadata_only: false',
      'num_workers: 2',
      'max_entries: 500',
      'lock_timeout: 60',
      'incremental_sync_delay: 30',
      'object_sync_timeout: 216000',
      'prepare_error_delay: 10',
      'rgw_data_log_window: 30',
      'sync_scope: full',
      '',
    ].join('\n'));
    const cfg = buildConfig(readConfigFile(p), {}, NO_ENV, p);
    // Every field a radosgw-agent file can set (AgentConfig may grow keys of its own).
    const expected: Partial<AgentConfig> = {
      srcAccessKey: 'SRCKEY01', srcSecretKey: 'src/secret+key==', destAccessKey: 'DSTKEY01', destSecretKey: 'dest-secret-key',
      destination: 'http://us-west.example.com', source: undefined, srcZone: 'us-east', metadataOnly: false,
      numWorkers: 2, maxEntries: 500, lockTimeout: 60, incrementalSyncDelay: 30, objectSyncTimeout: 216000,
      prepareErrorDelay: 10, rgwDataLogWindow: 30, logFile: '/var/log/radosgw/radosgw-sync-us-east-west.log',
      syncScope: 'full', signature: 'v4', objectConcurrency: 64,
    };
    const got = Object.fromEntries(Object.keys(expected).map((k) => [k, cfg[k as keyof AgentConfig]]));
    assert.deepEqual(got, expected);
  });

  it('defaults', () => {
    const cfg = buildConfig(REQUIRED, {}, NO_ENV);
    assert.deepEqual({
      incrementalSyncDelay: cfg.incrementalSyncDelay, lockTimeout: cfg.lockTimeout, numWorkers: cfg.numWorkers, maxEntries: cfg.maxEntries,
      objectSyncTimeout: cfg.objectSyncTimeout, prepareErrorDelay: cfg.prepareErrorDelay, rgwDataLogWindow: cfg.rgwDataLogWindow,
      syncScope: cfg.syncScope, signature: cfg.signature, metadataOnly: cfg.metadataOnly, objectConcurrency: cfg.objectConcurrency,
      source: cfg.source, srcZone: cfg.srcZone, logFile: cfg.logFile,
    }, {
      incrementalSyncDelay: 0.5, lockTimeout: 30, numWorkers: 4, maxEntries: 1000, objectSyncTimeout: 300, prepareErrorDelay: 5,
      rgwDataLogWindow: 30, syncScope: 'incremental', signature: 'v4', metadataOnly: false, objectConcurrency: 64,
      source: undefined, srcZone: undefined, logFile: undefined,
    });
    assert.equal(cfg.destination, 'http://rgw2.example.com:7480');
  });

  it('values: URLs normalised to their origin, numbers and booleans from strings, max_entries capped at 1000', () => {
    const cfg = buildConfig({ ...REQUIRED, destination: 'HTTP://RGW2.example.com:7480/', source: 'https://rgw1.example.com:443/x' },
      { num_workers: '8', metadata_only: 'true', incremental_sync_delay: 0, max_entries: 5000, signature: 'v2' }, NO_ENV);
    assert.equal(cfg.destination, 'http://rgw2.example.com:7480');
    assert.equal(cfg.source, 'https://rgw1.example.com');
    assert.equal(cfg.numWorkers, 8);
    assert.equal(cfg.metadataOnly, true);
    assert.equal(cfg.incrementalSyncDelay, 0, 'incremental_sync_delay may be 0');
    assert.equal(buildConfig(REQUIRED, { incremental_sync_delay: '0.25' }, NO_ENV).incrementalSyncDelay, 0.25, 'and a fraction of a second');
    assert.equal(buildConfig(REQUIRED, {}, NO_ENV).incrementalSyncDelay, 0.5, 'the default');
    assert.equal(cfg.maxEntries, 1000);
    assert.equal(cfg.signature, 'v2');
  });

  it('flags win over the environment, which wins over the file', () => {
    const fileCfg = { ...REQUIRED, num_workers: 2, destination: 'http://file:1', src_secret_key: 'file-secret', dest_access_key: 'FILEACCESS' };
    const env = { RGW_AGENT_SRC_SECRET_KEY: 'env-secret', RGW_AGENT_DEST_ACCESS_KEY: 'ENVACCESS' };
    const a = buildConfig(fileCfg, { num_workers: 9, destination: 'http://flag:2', dest_access_key: undefined }, env);
    assert.equal(a.numWorkers, 9);
    assert.equal(a.destination, 'http://flag:2');
    assert.equal(a.srcSecretKey, 'env-secret');
    assert.equal(a.destAccessKey, 'ENVACCESS', 'an undefined flag is "not given"');
    const b = buildConfig(fileCfg, { src_secret_key: 'flag-secret' }, env);
    assert.equal(b.srcSecretKey, 'flag-secret');
    assert.equal(b.numWorkers, 2);
    assert.equal(b.destination, 'http://file:1');
    assert.equal(buildConfig(fileCfg, {}, { RGW_AGENT_SRC_SECRET_KEY: '' }).srcSecretKey, 'file-secret', 'an empty variable is not set');
  });

  it('secrets and keys from the environment alone', () => {
    const cfg = buildConfig({ destination: 'http://rgw2:80' }, {}, {
      RGW_AGENT_SRC_ACCESS_KEY: 'EA1', RGW_AGENT_SRC_SECRET_KEY: 'es1', RGW_AGENT_DEST_ACCESS_KEY: 'EA2', RGW_AGENT_DEST_SECRET_KEY: 'es2',
    });
    assert.deepEqual([cfg.srcAccessKey, cfg.srcSecretKey, cfg.destAccessKey, cfg.destSecretKey], ['EA1', 'es1', 'EA2', 'es2']);
  });

  it('an unknown key is an error naming it', () => {
    const e = configError(() => buildConfig({ ...REQUIRED, num_wrokers: 4 }, {}, NO_ENV, 'config file /etc/agent.yaml'));
    assert.match(e.message, /^config file \/etc\/agent\.yaml: unknown key "num_wrokers"/);
    assert.match(e.message, /num_workers/, 'and lists the known keys');
    assert.match(configError(() => buildConfig(REQUIRED, { no_such_flag: 1 }, NO_ENV)).message, /--no-such-flag/);
  });

  const BAD: [string, unknown, RegExp][] = [
    ['num_workers', 0, /"num_workers" must be an integer >= 1/],
    ['num_workers', -3, /"num_workers" must be an integer >= 1/],
    ['num_workers', 1.5, /"num_workers" must be an integer >= 1/],
    ['num_workers', 'four', /"num_workers" must be an integer >= 1/],
    ['lock_timeout', 0, /"lock_timeout" must be an integer >= 1/],
    ['incremental_sync_delay', -1, /"incremental_sync_delay" must be a number >= 0/],
    ['incremental_sync_delay', 'soon', /"incremental_sync_delay" must be a number >= 0/],
    ['destination', 'ftp://x', /"destination" must start with http:\/\/ or https:\/\//],
    ['destination', 'rgw2:7480', /"destination" must start with http/],
    ['destination', 'not a url', /"destination" must be a URL/],
    ['source', 42, /"source" must be a URL/],
    ['sync_scope', 'sometimes', /"sync_scope" must be "full" or "incremental"/],
    ['metadata_only', 'yes', /"metadata_only" must be true or false/],
    ['metadata_only', 1, /"metadata_only" must be true or false/],
    ['signature', 'v3', /"signature" must be "v4" or "v2"/],
    ['src_secret_key', '', /"src_secret_key" must be a non-empty string/],
    ['src_secret_key', 12345, /"src_secret_key" must be a non-empty string/],
    ['log_file', null, /"log_file" must be a non-empty string/],
  ];
  for (const [key, value, re] of BAD) {
    it(`bad value ${key}: ${JSON.stringify(value)} -> one error naming the key (file and flag)`, () => {
      const fromFile = configError(() => buildConfig({ ...REQUIRED, [key]: value }, {}, NO_ENV, 'config file a.yaml'));
      assert.match(fromFile.message, re);
      assert.match(fromFile.message, /^config file a\.yaml: /);
      const fromFlag = configError(() => buildConfig(REQUIRED, { [key]: value }, NO_ENV));
      assert.match(fromFlag.message, re);
      assert.ok(fromFlag.message.startsWith(`--${key.replace(/_/g, '-')}: `), fromFlag.message);
    });
  }

  it('a value error never echoes a secret (an unquoted numeric secret in YAML is a number)', () => {
    for (const k of ['src_secret_key', 'dest_secret_key']) {
      const e = configError(() => buildConfig({ ...REQUIRED, [k]: 8675309123456 }, {}, NO_ENV));
      assert.match(e.message, new RegExp(`"${k}"`));
      assert.ok(!e.message.includes('8675309123456'), e.message);
    }
  });

  for (const key of Object.keys(REQUIRED)) {
    it(`missing required key ${key}`, () => {
      const cfg: Record<string, unknown> = { ...REQUIRED };
      delete cfg[key];
      const e = configError(() => buildConfig(cfg, {}, NO_ENV));
      assert.match(e.message, new RegExp(`^"${key}" is required`));
      assert.ok(e.message.includes(`--${key.replace(/_/g, '-')}`), e.message);
      if (key.includes('key')) assert.ok(e.message.includes(`RGW_AGENT_${key.toUpperCase()}`), e.message);
    });
  }

  it('source and src_zone are mutually exclusive, from any origin', () => {
    assert.match(configError(() => buildConfig({ ...REQUIRED, source: 'http://rgw1:80', src_zone: 'us-east' }, {}, NO_ENV)).message, /"source" and "src_zone" are mutually exclusive/);
    assert.match(configError(() => buildConfig({ ...REQUIRED, source: 'http://rgw1:80' }, { src_zone: 'us-east' }, NO_ENV)).message, /mutually exclusive/);
    assert.equal(buildConfig({ ...REQUIRED, src_zone: 'us-east' }, {}, NO_ENV).srcZone, 'us-east');
  });

  it('readConfigFile: missing file, bad YAML (without echoing the line), not a mapping, empty file', () => {
    const missing = join(dir, 'nope.yaml');
    assert.match(configError(() => readConfigFile(missing)).message, new RegExp(`cannot read config file ${missing}: ENOENT`));
    const secret = `sec-${randomBytes(8).toString('hex')}`;
    const bad = file('bad.yaml', `src_access_key: A\nsrc_secret_key: ${secret}: oops\n  - [\n`);
    const e = configError(() => readConfigFile(bad));
    assert.match(e.message, /bad\.yaml is not valid YAML/);
    assert.ok(!e.message.includes(secret), `the YAML error must not quote the secret: ${e.message}`);
    assert.match(configError(() => readConfigFile(file('list.yaml', '- a\n- b\n'))).message, /must be a mapping/);
    assert.match(configError(() => readConfigFile(file('scalar.yaml', 'just text\n'))).message, /must be a mapping/);
    assert.deepEqual(readConfigFile(file('empty.yaml', '')), {});
    assert.deepEqual(readConfigFile(file('comment.yaml', '# nothing yet\n')), {});
  });
});

// ------------------------------------------------------------------------------------------------
interface Run { code: number | null; signal: string | null; stdout: string; stderr: string; ms: number }

/** Runs the CLI with `env` (and none of the caller's RGW_AGENT_* variables); killed after the deadline. */
function cli(args: string[], env: Record<string, string> = {}, deadlineMs = 30_000): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RGW_AGENT_')));
  const t0 = Date.now();
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...base, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`rgw-agent ${args.join(' ')} still running after ${deadlineMs} ms; stderr:\n${stderr}`));
    }, deadlineMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

function yaml(cfg: Record<string, unknown>): string {
  return Object.entries(cfg).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join('\n') + '\n';
}

/** The one line a failure prints; debug lines (asked for with --log-level debug) do not count. */
function oneLine(r: Run, re: RegExp): string {
  const lines = r.stderr.split('\n').filter((l) => l !== '' && !/^\S+ DEBUG /.test(l) && !l.startsWith('{"level":"debug"'));
  assert.equal(lines.length, 1, `exactly one stderr line, got:\n${r.stderr}`);
  assert.match(lines[0], re);
  return lines[0];
}

describe('rgw-agent full-sync: configuration and start-up failures (child process)', () => {
  const SRC_SECRET = `srcSECRET${randomBytes(12).toString('base64url')}`;
  const DEST_SECRET = `dstSECRET${randomBytes(12).toString('base64url')}`;
  let t: TestRealm;
  let zones: RunningZone[];

  before(async () => {
    t = await makeRealm();
    zones = await startZones(t);
  });
  after(async () => {
    await Promise.all((zones ?? []).map((z) => z.close()));
    t?.cleanup();
  });

  function noSecrets(r: Run): void {
    for (const s of [SRC_SECRET, DEST_SECRET, t.secretKey]) {
      assert.ok(!r.stdout.includes(s) && !r.stderr.includes(s), `a secret key appears in the output:\n${r.stdout}\n${r.stderr}`);
    }
  }

  it('an unknown key: exit 2, one stderr line naming the key', async () => {
    const p = file('unknown.yaml', yaml({ ...REQUIRED, src_secret_key: SRC_SECRET, dest_secret_key: DEST_SECRET, log_lock_tiem: 20 }));
    const r = await cli(['full-sync', '-c', p]);
    assert.equal(r.code, 2, r.stderr);
    oneLine(r, /^rgw-agent: .*unknown\.yaml: unknown key "log_lock_tiem"/);
    assert.equal(r.stdout, '');
    noSecrets(r);
  });

  for (const [key, value] of [['num_workers', 0], ['destination', 'ftp://x'], ['sync_scope', 'sometimes'], ['metadata_only', 'yes']] as const) {
    it(`a bad value (${key}: ${JSON.stringify(value)}): exit 2, one stderr line naming the key`, async () => {
      const p = file(`bad-${key}.yaml`, yaml({ ...REQUIRED, src_secret_key: SRC_SECRET, dest_secret_key: DEST_SECRET, [key]: value }));
      const r = await cli(['full-sync', '-c', p]);
      assert.equal(r.code, 2, r.stderr);
      oneLine(r, new RegExp(`^rgw-agent: config file .*bad-${key}\\.yaml: "${key}" must`));
      assert.equal(r.stdout, '');
      noSecrets(r);
    });
  }

  it('a missing required key names the key, the flag and the variable', async () => {
    const { src_secret_key: _omitted, ...rest } = REQUIRED;
    const p = file('nosecret.yaml', yaml(rest));
    const r = await cli(['full-sync', '-c', p]);
    assert.equal(r.code, 2, r.stderr);
    oneLine(r, /"src_secret_key" is required.*--src-secret-key.*RGW_AGENT_SRC_SECRET_KEY/);
  });

  it('destination on a closed port: non-zero exit, one line naming the endpoint, no secret (keys from the environment)', async () => {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const p = file('closed.yaml', yaml({ src_access_key: 'SRCACCESS', dest_access_key: 'DSTACCESS', destination: endpoint }));
    const r = await cli(['full-sync', '-c', p, '--log-level', 'debug', '--log-format', 'text'],
      { RGW_AGENT_SRC_SECRET_KEY: SRC_SECRET, RGW_AGENT_DEST_SECRET_KEY: DEST_SECRET });
    assert.notEqual(r.code, 0, r.stderr);
    assert.equal(r.signal, null);
    const line = oneLine(r, /^rgw-agent: /);
    assert.ok(line.includes(endpoint), `names ${endpoint}: ${line}`);
    assert.match(line, /ECONNREFUSED/);
    assert.equal(r.stdout, '');
    noSecrets(r);
  });

  it('a --destination flag wins over the file\'s', async () => {
    const [filePort, flagPort] = [await freePort(), await freePort()];
    const p = file('flagwins.yaml', yaml({ ...REQUIRED, src_secret_key: SRC_SECRET, dest_secret_key: DEST_SECRET, destination: `http://127.0.0.1:${filePort}` }));
    const r = await cli(['full-sync', '-c', p, '--destination', `http://127.0.0.1:${flagPort}`, '--dest-secret-key', DEST_SECRET]);
    assert.notEqual(r.code, 0);
    const line = oneLine(r, new RegExp(`http://127\\.0\\.0\\.1:${flagPort}(?!\\d)`));
    assert.doesNotMatch(line, new RegExp(`127\\.0\\.0\\.1:${filePort}(?!\\d)`));
    noSecrets(r);
  });

  it('a real destination that refuses the keys: one line naming the endpoint and the code, no secret', async () => {
    const west = zones[1].url;
    const p = file('wrongkey.yaml', yaml({ src_access_key: t.accessKey, src_secret_key: SRC_SECRET, dest_access_key: t.accessKey, dest_secret_key: DEST_SECRET, destination: west }));
    const r = await cli(['full-sync', '-c', p, '--log-level', 'debug', '--log-format', 'json']);
    assert.notEqual(r.code, 0, r.stderr);
    const line = oneLine(r, /SignatureDoesNotMatch/);
    assert.ok(line.includes(west), line);
    noSecrets(r);
  });

  it('a destination that is not in its own region map: one line listing the zones', async () => {
    const west = zones[1].url.replace('127.0.0.1', 'localhost');
    const p = file('notinmap.yaml', yaml({ src_access_key: t.accessKey, src_secret_key: t.secretKey, dest_access_key: t.accessKey, dest_secret_key: t.secretKey, destination: west }));
    const r = await cli(['full-sync', '-c', p, '--log-level', 'debug']);
    assert.notEqual(r.code, 0, r.stderr);
    oneLine(r, new RegExp(`${west.replace(/[.:/]/g, '\\$&')} is not an endpoint of any zone.*us-east \\(${zones[0].url.replace(/[.:/]/g, '\\$&')}\\).*us-west`));
    noSecrets(r);
  });
});
