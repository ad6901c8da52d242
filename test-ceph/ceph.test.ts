/**
 * The agent against real Ceph RGW, the same cases on every release in CEPH_RELEASES (default
 * pacific,reef,tentacle): a two-zone cluster from shared/ceph/ceph-release.sh (us-east master
 * :8000, us-west :8001, built-in sync off). Ceph → Ceph, Ceph → embedded zone, embedded zone →
 * Ceph; each proves the destination equals the source with `verify`. Every title names the release.
 */
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { call, gatewayAnswers } from '../test/helpers/http.js';
import { startProc, startZoneProc, until, type Proc } from '../test/helpers/procs.js';
import { freePort } from '../test/helpers/realm.js';
import { createUser, del, objPath, put, type Creds } from '../test/helpers/pair.js';
import { versionedChanges, versionedHistory, versionLines } from '../test/helpers/versions.js';
import { ZoneClient } from '../src/client/http.js';
import { S3Api } from '../src/client/s3.js';
import { shardMarkers } from '../src/rgw/markers.js';
import { decodeCephPrepended } from '../src/rgw/cephattrs.js';
import { canonicalAcl } from '../src/rgw/attrs.js';
import { parseAcl, parseTagging } from '../src/rgw/attrxml.js';

const SCRIPTS = process.env.CEPH_SCRIPTS ?? join(process.cwd(), '../shared/ceph');
const RELEASE_SCRIPT = join(SCRIPTS, 'ceph-release.sh');
const EAST = 'http://127.0.0.1:8000';
const WEST = 'http://127.0.0.1:8001';
export const RELEASES = (process.env.CEPH_RELEASES ?? 'pacific,reef,tentacle').split(',').map((r) => r.trim()).filter(Boolean);

/** The versioned workload into a Ceph destination: without a null version above other versions (RGW refuses it into an enabled bucket; README). */
const CEPH_DESTINATION = { nullOnTop: false };

/** What differs per release, as measured (../shared/ceph/README.md). */
const EXPECT: Record<string, { remoteCopy: string; copyMode: string; zoneMap: string }> = {
  pacific: { remoteCopy: 'not available (the probe copy answered 403', copyMode: 'stream', zoneMap: 'GET /admin/config' },
  reef: { remoteCopy: 'available (a probe copy', copyMode: 'stream', zoneMap: 'GET /admin/realm/period' },
  tentacle: { remoteCopy: 'available (a probe copy', copyMode: 'stream', zoneMap: 'GET /admin/realm/period' },
};

interface Cluster { release: string; dir: string; testDir: string; sys: Creds; tester: Creds; eastId: string; env: Record<string, string>; east: string; west: string }

/** A second cluster beside one on the default ports (mon, messenger and gateway ports moved). */
// Below the kernel's ephemeral range (32768-60999): a gateway port there can be taken by an
// outgoing connection's local port just before the gateway binds it (seen once: Reef's us-east
// failed with EADDRINUSE on 38000).
const SIDE_PORTS = { MON_V2_PORT: '23300', MON_V1_PORT: '26789', MS_PORT_MIN: '26800', MS_PORT_MAX: '27300', EAST_PORT: '28000', WEST_PORT: '28001' };

function cephUp(release: string, ports: Partial<typeof SIDE_PORTS> = {}): Cluster {
  const dir = mkdtempSync(join(tmpdir(), `rgw-agent-ceph-${release}-`));
  // For the chroot releases CEPH_TEST_DIR is a path inside the chroot; a fresh one per cluster.
  const testDir = release === 'pacific' ? join(dir, 'ceph') : `/tmp/rgw-agent-ceph-${randomBytes(4).toString('hex')}`;
  const envFile = join(dir, 'ceph.env');
  const env: Record<string, string> = { ...ports, CEPH_TEST_DIR: testDir };
  const r = spawnSync('bash', [RELEASE_SCRIPT, release, 'up'], { env: { ...process.env, ...env, CEPH_ENV_OUT: envFile }, encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`ceph-release.sh ${release} up failed (exit ${r.status}):\n${(r.stdout + r.stderr).slice(-3000)}`);
  const envText = readFileSync(envFile, 'utf8');
  const v = (name: string) => new RegExp(`${name}=(\\S+)`).exec(envText)?.[1] ?? '';
  return {
    release, dir, testDir, sys: { accessKey: v('SYSTEM_AK'), secretKey: v('SYSTEM_SK') }, tester: { accessKey: v('TEST_AK'), secretKey: v('TEST_SK') }, eastId: v('ZID_M'), env,
    east: `http://127.0.0.1:${ports.EAST_PORT ?? '8000'}`, west: `http://127.0.0.1:${ports.WEST_PORT ?? '8001'}`,
  };
}

/** Ceph's own CLI on the cluster (inside the chroot for Reef and Tentacle). */
function cephExec(c: Cluster, args: string[]): string {
  const r = spawnSync('bash', [RELEASE_SCRIPT, c.release, 'exec', ...args], { env: { ...process.env, ...c.env }, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed (exit ${r.status}): ${(r.stdout + r.stderr).slice(-2000)}`);
  return r.stdout;
}

function cephDown(c: Cluster | undefined): void {
  if (!c) return;
  spawnSync('bash', [RELEASE_SCRIPT, c.release, 'down', '--wipe'], { env: { ...process.env, ...c.env }, timeout: 120_000 });
  rmSync(c.dir, { recursive: true, force: true });
}

function agentConfig(c: Cluster, extra: Record<string, string | number | boolean>): string {
  const file = join(c.dir, `agent-${Math.random().toString(36).slice(2)}.yaml`);
  const cfg: Record<string, string | number | boolean> = {
    src_access_key: c.sys.accessKey, src_secret_key: c.sys.secretKey, dest_access_key: c.sys.accessKey, dest_secret_key: c.sys.secretKey,
    incremental_sync_delay: 1, lock_timeout: 10, object_sync_timeout: 60, ...extra,
  };
  writeFileSync(file, Object.entries(cfg).map(([k, val]) => `${k}: ${JSON.stringify(val)}`).join('\n'));
  return file;
}

/** Runs `rgw-agent verify --json` until the zones are equal; fails with the last differences. */
async function verifiedEqual(cfg: string, what: string, deadlineMs = 120_000, extraArgs: string[] = []): Promise<void> {
  let last = '';
  await until(what, async () => {
    const v = startProc(['verify', '-c', cfg, '--json', ...extraArgs]);
    const code = await v.exited;
    last = v.stdout();
    return code === 0;
  }, deadlineMs, 1000).catch((e: Error) => { throw new Error(`${e.message}\nlast verify: ${last.slice(0, 3000)}`); });
}

async function workload(base: string, sys: Creds, tester: Creds, prefix: string): Promise<{ alice: Creds }> {
  const alice = await createUser(base, sys, `${prefix}-alice`);
  for (const [who, bucket] of [[tester, `${prefix}-photos`], [alice, `${prefix}-docs`]] as [Creds, string][]) {
    assert.equal((await call(base, 'PUT', `/${bucket}`, who)).status, 200);
    for (let i = 0; i < 12; i++) {
      await put(base, who, bucket, `dir ${i % 3}/obj+${i}~ü.txt`, `${bucket} ${i} ${'x'.repeat(i * 100)}`, { 'content-type': 'text/plain', 'x-amz-meta-index': String(i) });
    }
  }
  await put(base, tester, `${prefix}-photos`, 'big.bin', Buffer.alloc(5 * 1024 * 1024 + 3, 0x5a));
  return { alice };
}

async function changes(base: string, sys: Creds, tester: Creds, alice: Creds, prefix: string): Promise<void> {
  await put(base, tester, `${prefix}-photos`, 'dir 0/obj+0~ü.txt', 'overwritten', { 'x-amz-meta-index': 'changed' });
  await del(base, tester, `${prefix}-photos`, 'dir 1/obj+1~ü.txt');
  await put(base, alice, `${prefix}-docs`, 'new after full sync', 'new');
  await put(base, alice, `${prefix}-docs`, 'dir 2/obj+2~ü.txt', 'v2');
  await del(base, alice, `${prefix}-docs`, 'dir 2/obj+2~ü.txt');
  await put(base, alice, `${prefix}-docs`, 'dir 2/obj+2~ü.txt', 'v3');
  await createUser(base, sys, `${prefix}-bob`);
  assert.equal((await call(base, 'PUT', `/${prefix}-late`, alice)).status, 200);
  await put(base, alice, `${prefix}-late`, 'late object', 'late');
}

/** Objects whose ACL and tags a stream copy takes from the GET's prepended attributes. */
const ACL_CASES: [string, Record<string, string>][] = [
  ['acl public-read', { 'x-amz-acl': 'public-read', 'x-amz-tagging': 'team=blue&size=s%20m' }],
  ['acl authenticated-read', { 'x-amz-acl': 'authenticated-read' }],
  ['acl grants', { 'x-amz-grant-read': 'uri="http://acs.amazonaws.com/groups/global/AllUsers"', 'x-amz-grant-read-acp': 'id="pp-alice"', 'x-amz-grant-full-control': 'id="pp-alice"' }],
  ['acl private', {}],
];

/**
 * What the agent decodes from Ceph's prepend-metadata answer equals what GET ?acl and ?tagging
 * say, on this release: the stream copy relies on it instead of asking.
 */
async function prependedMatchesSubresources(base: string, sys: Creds, bucket: string): Promise<void> {
  for (const [key] of ACL_CASES) {
    const got = await call(base, 'GET', `${objPath(bucket, key)}?rgwx-prepend-metadata=true`, sys);
    assert.equal(got.status, 200, got.text.slice(0, 500));
    const n = Number(got.headers['rgwx-embedded-metadata-len']);
    assert.ok(n > 0, `${key}: Ceph put its attributes in front (Rgwx-Embedded-Metadata-Len ${got.headers['rgwx-embedded-metadata-len']})`);
    const decoded = decodeCephPrepended(got.body.subarray(0, n));
    assert.ok(decoded?.acl && decoded.tags !== undefined, `${key}: decoded ${JSON.stringify(decoded)} from ${got.body.subarray(0, n).toString('utf8').slice(0, 800)}`);
    const acl = parseAcl((await call(base, 'GET', `${objPath(bucket, key)}?acl`, sys)).text);
    assert.deepEqual(canonicalAcl(decoded.acl), canonicalAcl(acl), `${key}: the ACL decoded from the prefix is the one ?acl shows`);
    assert.equal(decoded.tags, parseTagging((await call(base, 'GET', `${objPath(bucket, key)}?tagging`, sys)).text), `${key}: tags`);
  }
}

for (const release of RELEASES) describe(`Ceph ${release}`, () => {
  let cluster: Cluster | undefined;
  const procs: Proc[] = [];
  const expect = EXPECT[release];
  if (!expect) throw new Error(`CEPH_RELEASES names ${release}; known: ${Object.keys(EXPECT).join(', ')}`);

  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
    cephDown(cluster);
    cluster = undefined;
  });

  after(() => cephDown(cluster));

  it(`${release} us-east -> us-west: full sync, then incremental with writes, overwrites, deletes, users and buckets`, async () => {
    cluster = cephUp(release);
    const c = cluster;
    const { alice } = await workload(EAST, c.sys, c.tester, 'pp');
    // 17: a tenant's user and bucket ("acme/pp-tenant" in metadata, "acme:pp-tenant" in S3).
    const carol = await createUser(EAST, c.sys, 'acme%24pp-carol');
    assert.equal((await call(EAST, 'PUT', '/pp-tenant', carol)).status, 200);
    await put(EAST, carol, 'pp-tenant', 'tenant object', 'owned by acme$pp-carol');
    // Issue 12: a versioned bucket, every version and delete marker with its id, in order.
    await versionedHistory(EAST, alice, 'pp-versioned');
    for (const [key, headers] of ACL_CASES) await put(EAST, alice, 'pp-docs', key, `${key} body`, headers);
    await prependedMatchesSubresources(EAST, c.sys, 'pp-docs');
    const cfg = agentConfig(c, { destination: WEST, multipart_threshold: 2 * 1024 * 1024 });
    const full = startProc(['full-sync', '-c', cfg, '--log-format', 'text']);
    assert.equal(await full.exited, 0, full.output());
    assert.match(full.output(), /bucket pp-versioned is versioned on the source: every version and delete marker is synced/);
    assert.equal((await call(WEST, 'GET', objPath('pp-tenant', 'tenant object'), carol)).text, 'owned by acme$pp-carol', 'the tenant\'s object arrived in the tenant\'s bucket');
    for (const cap of ['replica_log: not available', 'opstate: not available', 'data-log locks: not available', 'metadata-log locks: available', `remote copy: ${expect.remoteCopy}`]) {
      assert.ok(full.output().includes(`destination capability ${cap}`), cap);
    }
    assert.match(full.output(), new RegExp(`using state store bucket .* copy mode ${expect.copyMode}`));
    assert.ok(full.output().includes(`zone map from ${WEST} ${expect.zoneMap}`), `the zone map came from ${expect.zoneMap}`);
    // Metadata shards name the source's period (Ceph keeps one metadata log per period).
    const st = startProc(['status', '-c', cfg, '--json']);
    await st.exited;
    assert.match((JSON.parse(st.stdout()) as { metadata_period?: string }).metadata_period ?? '', /^[0-9a-f-]{36} \(realm epoch \d+\)$/, st.stdout().slice(0, 2000));
    await verifiedEqual(cfg, 'us-west equals us-east after the full sync', 30_000, ['--acl']);
    assert.deepEqual(await versionLines(WEST, c.sys, 'pp-versioned'), await versionLines(EAST, c.sys, 'pp-versioned'), 'the version lists, by a listing of their own');
    const got = await call(WEST, 'GET', objPath('pp-photos', 'dir 0/obj+0~ü.txt'), c.tester);
    assert.equal(got.headers['x-amz-meta-index'], '0');

    const daemon = startProc(['sync', '-c', cfg, '--log-format', 'text']);
    procs.push(daemon);
    // A second agent on the same destination, with overlapping data shards: one of them warns.
    const second = startProc(['sync', '-c', agentConfig(c, { destination: WEST, shards: '0-63' }), '--log-format', 'text']);
    procs.push(second);
    await until('an overlap warning', async () => /another agent .* overlapping ours/.test(daemon.output() + second.output()), 60_000, 200);
    assert.equal(await second.kill('SIGTERM'), 0, second.output());
    await changes(EAST, c.sys, c.tester, alice, 'pp');
    await versionedChanges(EAST, alice, 'pp-versioned', CEPH_DESTINATION);
    await verifiedEqual(cfg, 'us-west equals us-east after incremental changes');
    assert.deepEqual(await versionLines(WEST, c.sys, 'pp-versioned'), await versionLines(EAST, c.sys, 'pp-versioned'), 'the version lists after the incremental changes');
    // status reads the bounds from the state bucket: caught up once the data-log window has passed.
    await until('status says caught up', async () => (await startProc(['status', '-c', cfg]).exited) === 0, 120_000, 2000);
    assert.equal((await call(WEST, 'GET', objPath('pp-docs', 'dir 2/obj+2~ü.txt'), alice)).text, 'v3');
    assert.equal((await call(WEST, 'GET', '/admin/user?uid=pp-bob', c.sys)).status, 200);
    // The owner is kept: the object on us-west belongs to alice, not to the system user.
    assert.equal((await call(WEST, 'GET', `/pp-docs/${encodeURIComponent('new after full sync')}`, alice)).status, 200);
    assert.equal(await daemon.kill('SIGTERM'), 0, daemon.output());
  });

  if (release !== 'pacific') {
    it(`${release} us-east -> us-west with copy_mode remote: the destination pulls by zone id; copy-if-newer of an equal object is "unchanged"`, async (t) => {
      cluster = cephUp(release);
      const c = cluster;
      try {
        await remoteCopyCase(c, (m) => t.diagnostic(m));
      } catch (e) {
        // The one expected flake (README, "Remote copy and gateway crashes"): Ceph's own us-west
        // radosgw dies some time after serving remote copies. Only that is excused; anything
        // else, or a gateway that still answers, fails the test.
        if (await gatewayAnswers(WEST)) throw e;
        t.todo(`expected flake: the ${release} us-west radosgw crashed after serving remote copies (a Ceph bug, see README); the case failed with: ${(e as Error).message}`);
      }
    });
  }

  async function remoteCopyCase(c: Cluster, note: (m: string) => void): Promise<void> {
    {
      const { alice } = await workload(EAST, c.sys, c.tester, 'rc');
      // Versions by remote copy: x-amz-copy-source ?versionId= with rgwx-version-id.
      await versionedHistory(EAST, alice, 'rc-versioned');
      const cfg = agentConfig(c, { destination: WEST, copy_mode: 'remote', object_sync_timeout: 120 });
      const full = startProc(['full-sync', '-c', cfg, '--log-format', 'text']);
      const fullCode = await full.exited;
      if (fullCode !== 0) {
        // Seen once on Tentacle (CI, 2026-12-04): us-west's radosgw held one remote copy for 65 s,
        // then closed the connection while still answering otherwise (README, "Remote copy and
        // gateway crashes"). That object must be a retry item, and the agent's next pass must
        // bring it over; any other kind of failure fails the test.
        const failures = full.output().split('\n').filter((l) => /WARN {2}object .*\(kept as a retry\)$/.test(l));
        assert.ok(failures.length > 0 && failures.every((l) => l.includes(`cannot reach ${WEST}: other side closed`)), full.output());
        note(`${release}: the remote-copy full sync left ${failures.length} object(s) as retries after the destination closed the connection: ${failures.join(' | ')}`);
        const retry = startProc(['sync', '--once', '-c', cfg, '--log-format', 'text']);
        assert.equal(await retry.exited, 0, retry.output());
      }
      assert.match(full.output(), /copy mode remote/);
      assert.match(full.output(), /full sync finished .* (2[5-9]|[3-9]\d) objects copied/, 'objects were copied by the destination');
      await verifiedEqual(cfg, `${release}: us-west equals us-east after a remote-copy full sync`, 60_000);
      assert.deepEqual(await versionLines(WEST, c.sys, 'rc-versioned'), await versionLines(EAST, c.sys, 'rc-versioned'), 'versions kept by remote copy');
      // The destination already has the object: Reef and later answer 200 with a 1970 LastModified.
      const dst = new S3Api(new ZoneClient({ endpoint: WEST, credentials: c.sys }));
      try {
        const again = await dst.remoteCopy('rc-docs', 'dir 0/obj+0~ü.txt', c.eastId, 'rgw-agent-test', 'test:1', 60_000);
        assert.equal(again.outcome, 'not-modified');
      } finally {
        await dst.client.close();
      }
      const daemon = startProc(['sync', '-c', cfg, '--log-format', 'text']);
      procs.push(daemon);
      await changes(EAST, c.sys, c.tester, alice, 'rc');
      await versionedChanges(EAST, alice, 'rc-versioned', CEPH_DESTINATION);
      await verifiedEqual(cfg, `${release}: us-west equals us-east after incremental changes by remote copy`);
      assert.deepEqual(await versionLines(WEST, c.sys, 'rc-versioned'), await versionLines(EAST, c.sys, 'rc-versioned'), 'versions kept by remote copy, incremental');
      assert.equal((await call(WEST, 'GET', objPath('rc-docs', 'dir 2/obj+2~ü.txt'), alice)).text, 'v3');
      assert.equal(await daemon.kill('SIGTERM'), 0, daemon.output());
    }
  }

  if (release !== 'pacific') {
    it(`${release}: a bucket resharded between passes and while the daemon runs keeps syncing (bucket-index log generations, destination layout kept)`, async () => {
      cluster = cephUp(release);
      const c = cluster;
      assert.equal((await call(EAST, 'PUT', '/rs-bucket', c.tester)).status, 200);
      for (let i = 0; i < 10; i++) await put(EAST, c.tester, 'rs-bucket', `a${i}`, `a${i}`);
      const cfg = agentConfig(c, { destination: WEST });
      const first = startProc(['sync', '--once', '-c', cfg, '--log-format', 'text']);
      assert.equal(await first.exited, 0, first.output());
      // Changes the agent has not seen land in the old generation, then the bucket is resharded.
      for (let i = 0; i < 10; i++) await put(EAST, c.tester, 'rs-bucket', `b${i}`, `b${i}`);
      await del(EAST, c.tester, 'rs-bucket', 'a1');
      await del(EAST, c.tester, 'rs-bucket', 'a2');
      cephExec(c, ['radosgw-admin', 'bucket', 'reshard', '--bucket', 'rs-bucket', '--num-shards', '3', '--yes-i-really-mean-it']);
      for (let i = 0; i < 5; i++) await put(EAST, c.tester, 'rs-bucket', `c${i}`, `c${i}`);
      await put(EAST, c.tester, 'rs-bucket', 'a3', 'a3 after the reshard');
      const second = startProc(['sync', '--once', '-c', cfg, '--log-format', 'text']);
      assert.equal(await second.exited, 0, second.output());
      assert.match(second.output(), /index layouts differ .* the destination keeps its own/);
      await verifiedEqual(cfg, `${release}: equal after a reshard between passes`, 60_000, ['--bucket', 'rs-bucket']);
      // A reshard while the daemon runs, with writes before and after it.
      const daemon = startProc(['sync', '-c', cfg, '--log-format', 'text']);
      procs.push(daemon);
      for (let i = 0; i < 5; i++) await put(EAST, c.tester, 'rs-bucket', `d${i}`, `d${i}`);
      cephExec(c, ['radosgw-admin', 'bucket', 'reshard', '--bucket', 'rs-bucket', '--num-shards', '7', '--yes-i-really-mean-it']);
      for (let i = 0; i < 5; i++) await put(EAST, c.tester, 'rs-bucket', `e${i}`, `e${i}`);
      await del(EAST, c.tester, 'rs-bucket', 'b0');
      await verifiedEqual(cfg, `${release}: equal after a reshard while the daemon runs`, 120_000, ['--bucket', 'rs-bucket']);
      assert.equal((await call(WEST, 'GET', objPath('rs-bucket', 'a3'), c.tester)).text, 'a3 after the reshard');
      await until('status says caught up', async () => (await startProc(['status', '-c', cfg]).exited) === 0, 120_000, 2000);
      assert.equal(await daemon.kill('SIGTERM'), 0, daemon.output());
    });
  }

  it(`mixed pair: ${release} us-east -> embedded zone; then trim_source_logs trims behind both destinations and never past the lagging one`, async () => {
    cluster = cephUp(release);
    const c = cluster;
    const { alice } = await workload(EAST, c.sys, c.tester, 'pe');
    const port = await freePort();
    const realm = join(c.dir, 'realm.yaml');
    writeFileSync(realm, [
      'zonegroup: us', 'master_zone: us-east', 'zones:',
      `  us-east: { endpoint: "${EAST}" }`,
      `  us-embedded: { endpoint: "http://127.0.0.1:${port}" }`,
      `system_user: { uid: sync-agent, access_key: "${c.sys.accessKey}", secret_key: "${c.sys.secretKey}" }`,
      'metadata_log_shards: 64', 'data_log_shards: 128', '',
    ].join('\n'));
    const zone = await startZoneProc(realm, 'us-embedded', join(c.dir, 'embedded'));
    procs.push(zone);
    const cfg = agentConfig(c, { destination: `http://127.0.0.1:${port}` });
    await versionedHistory(EAST, alice, 'pe-versioned');
    const daemon = startProc(['sync', '-c', cfg, '--log-format', 'text']);
    procs.push(daemon);
    await daemon.waitFor('full sync', 60_000);
    await verifiedEqual(cfg, 'the embedded zone equals us-east after the full sync', 60_000, ['--bucket', 'pe-photos']);
    await verifiedEqual(cfg, 'the embedded zone has us-east\'s versions after the full sync', 60_000, ['--bucket', 'pe-versioned']);
    await changes(EAST, c.sys, c.tester, alice, 'pe');
    await versionedChanges(EAST, alice, 'pe-versioned', CEPH_DESTINATION);
    for (const b of ['pe-photos', 'pe-docs', 'pe-late', 'pe-versioned']) await verifiedEqual(cfg, `bucket ${b} equal after incremental changes`, 120_000, ['--bucket', b]);
    assert.deepEqual(await versionLines(`http://127.0.0.1:${port}`, c.sys, 'pe-versioned'), await versionLines(EAST, c.sys, 'pe-versioned'), 'Ceph\'s versions in the embedded zone, by remote copy');
    assert.match(daemon.output(), /using state store replica-log, copy mode remote/);
    assert.equal((await call(`http://127.0.0.1:${port}`, 'GET', objPath('pe-docs', 'dir 2/obj+2~ü.txt'), c.sys)).text, 'v3');
    await trimCase(c, cfg, daemon);
  });

  /**
   * Log trimming with two destinations of one source: the agent into the embedded zone stops
   * (and lags), an agent into us-west trims; what the embedded zone has not read stays until it
   * has, then the source's logs are empty.
   */
  async function trimCase(c: Cluster, embeddedCfg: string, embeddedDaemon: Proc): Promise<void> {
    assert.equal(await embeddedDaemon.kill('SIGTERM'), 0, embeddedDaemon.output());
    const westCfg = agentConfig(c, { destination: WEST, trim_source_logs: true, trim_interval: 1 });
    const trimmer = startProc(['sync', '-c', westCfg, '--log-format', 'text', '--log-level', 'debug']);
    procs.push(trimmer);
    for (let i = 0; i < 8; i++) await put(EAST, c.tester, 'pe-photos', `after stop ${i}`, `lagging ${i}`);
    await del(EAST, c.tester, 'pe-photos', 'dir 0/obj+3~ü.txt');
    await verifiedEqual(westCfg, `${release}: us-west equals us-east with trimming on`, 180_000);
    const rounds = () => (trimmer.output().match(/trim round done/g) ?? []).length;
    const before = rounds();
    await until('two trim rounds after us-west caught up', async () => rounds() >= before + 2, 60_000, 200);
    const kept = await bilog(c, 'pe-photos');
    const registry = await call(EAST, 'GET', '/rgw-agent-state?prefix=trim%2F', c.sys);
    assert.ok(kept.length >= 9, `the bucket-index log keeps what the embedded zone has not read: ${kept.length} entries left; registry ${registry.status} ${registry.text.slice(0, 1500)}\n${trimmer.output().split('\n').filter((l) => /trim|regist/.test(l)).slice(-20).join('\n')}`);
    const again = startProc(['sync', '--once', '-c', embeddedCfg, '--log-format', 'text']);
    procs.push(again);
    assert.equal(await again.exited, 0, again.output());
    await verifiedEqual(embeddedCfg, `${release}: the lagging embedded zone caught up from the logs`, 60_000, ['--bucket', 'pe-photos']);
    // Data-log bounds stay behind entries younger than Ceph's data-log window (30 s): the lagging
    // agent runs a pass now and then until its bounds pass them, and the trimmer follows.
    let left: unknown[] = [];
    await until(`${release}: the source's logs trimmed behind both destinations`, async () => {
      left = [...await adminLog(c, 'metadata', 64), ...(await adminLog(c, 'data', 128)).filter((e) => !String(e.key).startsWith('rgw-agent-state:'))];
      for (const b of ['pe-photos', 'pe-docs', 'pe-late']) left.push(...await bilog(c, b));
      if (left.length === 0) return true;
      const pass = startProc(['sync', '--once', '-c', embeddedCfg, '--log-format', 'text']);
      procs.push(pass);
      assert.equal(await pass.exited, 0, pass.output());
      return false;
    }, 180_000, 5000).catch((e: Error) => { throw new Error(`${e.message}; left: ${JSON.stringify(left).slice(0, 3000)}`); });
    const totals = [0, 0, 0];
    for (const m of trimmer.output().matchAll(/trimmed the source's logs: (\d+) metadata, (\d+) data and (\d+) bucket-index log shards/g)) for (let i = 0; i < 3; i++) totals[i] += Number(m[i + 1]);
    assert.ok(totals.every((n) => n > 0), `the trimming agent trimmed every kind of log: ${totals.join(', ')}`);
    assert.equal(await trimmer.kill('SIGTERM'), 0, trimmer.output().slice(-3000));
  }

  async function adminLog(c: Cluster, type: 'metadata' | 'data', shards: number): Promise<{ key?: string }[]> {
    const out: { key?: string }[] = [];
    for (let s = 0; s < shards; s++) {
      const r = await call(EAST, 'GET', `/admin/log?type=${type}&id=${s}&max-entries=100`, c.sys);
      out.push(...r.json<{ entries: { key?: string }[] }>().entries);
    }
    return out;
  }

  async function bilog(c: Cluster, bucket: string): Promise<unknown[]> {
    const id = (await call(EAST, 'GET', `/admin/metadata/bucket?key=${bucket}`, c.sys)).json<{ data: { bucket: { bucket_id: string } } }>().data.bucket.bucket_id;
    const inst = `${bucket}:${id}`;
    // Per index shard: Pacific's listing over all shards leaves entries out.
    const info = (await call(EAST, 'GET', `/admin/log?type=bucket-index&info&bucket-instance=${encodeURIComponent(inst)}`, c.sys)).json<{ max_marker: string; latest_gen?: number }>();
    const out: unknown[] = [];
    for (const [shard] of shardMarkers(info.max_marker)) {
      const r = await call(EAST, 'GET', `/admin/log?type=bucket-index&bucket-instance=${encodeURIComponent(`${inst}:${shard}`)}&generation=${info.latest_gen ?? 0}`, c.sys);
      out.push(...r.json<unknown[]>());
    }
    return out;
  }

  it(`mixed pair: embedded zone -> ${release} us-west`, async () => {
    cluster = cephUp(release);
    const c = cluster;
    const port = await freePort();
    const realm = join(c.dir, 'realm.yaml');
    writeFileSync(realm, [
      'zonegroup: emb', 'master_zone: emb-east', 'zones:',
      `  emb-east: { endpoint: "http://127.0.0.1:${port}" }`,
      `  emb-spare: { endpoint: "http://127.0.0.1:${await freePort()}" }`,
      `system_user: { uid: sync-agent, access_key: "${c.sys.accessKey}", secret_key: "${c.sys.secretKey}" }`,
      '',
    ].join('\n'));
    const zone = await startZoneProc(realm, 'emb-east', join(c.dir, 'embedded'));
    procs.push(zone);
    const src = `http://127.0.0.1:${port}`;
    const { alice } = await workload(src, c.sys, c.sys, 'ep');
    await versionedHistory(src, alice, 'ep-versioned');
    const cfg = agentConfig(c, { destination: WEST, source: src, rgw_data_log_window: 0 });
    const daemon = startProc(['sync', '-c', cfg, '--log-format', 'text']);
    procs.push(daemon);
    await daemon.waitFor('full sync', 60_000);
    for (const b of ['ep-photos', 'ep-docs', 'ep-versioned']) await verifiedEqual(cfg, `bucket ${b} equal after the full sync`, 60_000, ['--bucket', b]);
    await changes(src, c.sys, c.sys, alice, 'ep');
    await versionedChanges(src, alice, 'ep-versioned', CEPH_DESTINATION);
    for (const b of ['ep-photos', 'ep-docs', 'ep-late', 'ep-versioned']) await verifiedEqual(cfg, `bucket ${b} equal after incremental changes`, 120_000, ['--bucket', b]);
    assert.deepEqual(await versionLines(WEST, c.sys, 'ep-versioned'), await versionLines(src, c.sys, 'ep-versioned'), 'the embedded zone\'s versions in Ceph, by stream copy');
    assert.equal((await call(WEST, 'GET', '/admin/user?uid=ep-bob', c.sys)).status, 200);
    // The bucket belongs to the destination's zonegroup: its owner reads it (a foreign one answers 301).
    const got = await call(WEST, 'GET', objPath('ep-docs', 'dir 2/obj+2~ü.txt'), alice);
    assert.equal(got.text, 'v3', `alice reads her object on the destination: ${got.status} ${got.text}`);
  });
});

// Two clusters of different releases: an old Pacific master into a Reef zone (an upgrade path).
if (RELEASES.includes('pacific') && RELEASES.includes('reef')) describe('Ceph pacific -> reef', () => {
  const clusters: Cluster[] = [];
  const procs: Proc[] = [];
  after(async () => {
    await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
    for (const c of clusters.splice(0)) cephDown(c);
  });

  it('pacific us-east -> reef us-west (two clusters): full sync, incremental changes, verify equal, status caught up', async () => {
    const pac = cephUp('pacific');
    clusters.push(pac);
    const reef = cephUp('reef', SIDE_PORTS);
    clusters.push(reef);
    const { alice } = await workload(pac.east, pac.sys, pac.tester, 'pr');
    // The agent reads the source's own zone map (a zone of another cluster), like embedded -> Ceph.
    const cfg = agentConfig(pac, { destination: reef.west, source: pac.east, dest_access_key: reef.sys.accessKey, dest_secret_key: reef.sys.secretKey });
    const daemon = startProc(['sync', '-c', cfg, '--log-format', 'text']);
    procs.push(daemon);
    await daemon.waitFor('full sync', 60_000);
    for (const b of ['pr-photos', 'pr-docs']) await verifiedEqual(cfg, `bucket ${b} equal after the full sync`, 90_000, ['--bucket', b]);
    assert.match(daemon.output(), /zone map from .*GET \/admin\/realm\/period; .*GET \/admin\/config/);
    await changes(pac.east, pac.sys, pac.tester, alice, 'pr');
    for (const b of ['pr-photos', 'pr-docs', 'pr-late']) await verifiedEqual(cfg, `bucket ${b} equal after incremental changes`, 120_000, ['--bucket', b]);
    assert.equal((await call(reef.west, 'GET', '/admin/user?uid=pr-bob', reef.sys)).status, 200);
    const got = await call(reef.west, 'GET', objPath('pr-docs', 'dir 2/obj+2~ü.txt'), alice);
    assert.equal(got.text, 'v3', `alice reads her object on the destination: ${got.status} ${JSON.stringify(got.headers)} ${got.text}`);
    await until('status says caught up', async () => (await startProc(['status', '-c', cfg]).exited) === 0, 120_000, 2000);
    assert.equal(await daemon.kill('SIGTERM'), 0, daemon.output());
  });
});
