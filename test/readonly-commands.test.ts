/**
 * Read-only commands write nothing: `status` and `verify` against two zones that each sit behind a
 * recording proxy (both advertised endpoints are the proxies), so every request either command
 * makes to either zone is seen. Only GET and HEAD may appear.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { call } from './helpers/http.js';
import { createUser, put, type Creds } from './helpers/pair.js';
import { startProc, startZoneProc, type Proc } from './helpers/procs.js';
import { startProxy, type Proxy, type Seen } from './helpers/proxy.js';
import { freePort } from './helpers/realm.js';

const STORES = ['auto', 'replica-log', 'bucket', 'file'] as const;

describe('read-only commands: status and verify send only GET and HEAD', () => {
  let dir: string;
  let zones: Proc[];
  let src: Proxy;
  let dst: Proxy;
  let sys: Creds;
  let n = 0;
  const config = (extra: Record<string, string>) => {
    const file = join(dir, `agent-${++n}.yaml`);
    const cfg: Record<string, string | number> = {
      src_access_key: sys.accessKey, src_secret_key: sys.secretKey, dest_access_key: sys.accessKey, dest_secret_key: sys.secretKey,
      destination: dst.url, rgw_data_log_window: 0, incremental_sync_delay: 0, lock_timeout: 6, object_sync_timeout: 10, ...extra,
    };
    writeFileSync(file, Object.entries(cfg).map(([k, v]) => `${k}: ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`).join('\n'));
    return file;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rgw-agent-readonly-'));
    const [eastPort, westPort, eastProxy, westProxy] = [await freePort(), await freePort(), await freePort(), await freePort()];
    sys = { accessKey: `SYS${randomBytes(6).toString('hex').toUpperCase()}`, secretKey: randomBytes(24).toString('base64url') };
    const realmFile = join(dir, 'realm.yaml');
    writeFileSync(realmFile, [
      'zonegroup: us', 'master_zone: us-east', 'zones:',
      `  us-east: { endpoint: "http://127.0.0.1:${eastProxy}" }`,
      `  us-west: { endpoint: "http://127.0.0.1:${westProxy}" }`,
      `system_user: { uid: sync-agent, access_key: "${sys.accessKey}", secret_key: "${sys.secretKey}" }`,
      'metadata_log_shards: 4', 'data_log_shards: 4', '',
    ].join('\n'));
    // The proxies first: a zone forwards to its master through the advertised endpoint.
    src = await startProxy(eastPort, eastProxy);
    dst = await startProxy(westPort, westProxy);
    zones = [
      await startZoneProc(realmFile, 'us-east', join(dir, 'east'), `127.0.0.1:${eastPort}`),
      await startZoneProc(realmFile, 'us-west', join(dir, 'west'), `127.0.0.1:${westPort}`),
    ];
    const alice = await createUser(src.url, sys, 'alice');
    assert.equal((await call(src.url, 'PUT', '/ro-bucket', alice)).status, 200);
    for (let i = 0; i < 3; i++) await put(src.url, alice, 'ro-bucket', `k${i}`, `v${i}`);
    // Every store holds bounds (and, for bucket, its state bucket exists), so reads find real state.
    for (const store of STORES.slice(1)) {
      const sync = startProc(['full-sync', '-c', config({ state_store: store, state_file: join(dir, 'state.json') }), '--log-format', 'text']);
      assert.equal(await sync.exited, 0, sync.output());
    }
    await put(src.url, alice, 'ro-bucket', 'k-after', 'not synced yet');
  });
  after(async () => {
    await Promise.all(zones.map((z) => z.kill('SIGTERM')));
    await Promise.all([src.close(), dst.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const writes = (seen: Seen[], since: number) => seen.slice(since).filter((s) => s.method !== 'GET' && s.method !== 'HEAD').map((s) => `${s.method} ${s.url}`);

  for (const store of STORES) {
    for (const command of [['status'], ['status', '--json'], ['verify'], ['verify', '--json', '--bucket', 'ro-bucket']]) {
      it(`${command.join(' ')} with state_store ${store}`, async () => {
        const [s0, d0] = [src.seen.length, dst.seen.length];
        const extra: Record<string, string> = { state_store: store };
        if (store === 'file') extra.state_file = join(dir, 'state.json');
        const p = startProc([...command, '-c', config(extra), '--log-format', 'text']);
        const code = await p.exited;
        // status: 1 (k-after is not synced); verify: 1 (k-after differs). Either way it ran to the end.
        assert.equal(code, 1, p.output());
        assert.ok(dst.seen.length > d0 && src.seen.length > s0, 'both zones were read through the proxies');
        assert.deepEqual(writes(dst.seen, d0), [], 'no write reached the destination');
        assert.deepEqual(writes(src.seen, s0), [], 'no write reached the source');
      });
    }
  }
});
