/**
 * `rgw-agent demo`: two embedded zones in a temp dir, a source filled with users, buckets and
 * objects, a full sync, then incremental sync while writes and deletes go on, and a final proof
 * that the destination equals the source.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from './net.js';
import { loadRealm } from './zone/realm.js';
import { startZone, type RunningZone } from './zone/server.js';
import { ZoneClient } from './client/http.js';
import { objectPath } from './client/s3.js';
import { buildConfig } from './config.js';
import { createSyncContext } from './sync/setup.js';
import { Syncer } from './sync/incremental.js';
import { compareZones } from './sync/compare.js';
import { startProgress } from './progress.js';
import type { SyncLogger } from './sync/context.js';

export interface DemoOptions { objects: number; seconds: number; keep: boolean; log: SyncLogger; out: (line: string) => void }

const AWKWARD = ['with space', 'plus+sign', 'tilde~', 'ünïcødé', 'deep/dir/path', 'percent%25'];


export async function runDemo(o: DemoOptions): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), 'rgw-agent-demo-'));
  const secret = randomBytes(24).toString('base64url');
  const access = `DEMO${randomBytes(6).toString('hex').toUpperCase()}`;
  const realmFile = join(dir, 'realm.yaml');
  writeFileSync(realmFile, [
    'zonegroup: us', 'master_zone: us-east', 'zones:',
    `  us-east: { endpoint: "http://127.0.0.1:${await freePort()}" }`,
    `  us-west: { endpoint: "http://127.0.0.1:${await freePort()}" }`,
    `system_user: { uid: sync-agent, access_key: "${access}", secret_key: "${secret}" }`,
    'metadata_log_shards: 16', 'data_log_shards: 16', '',
  ].join('\n'), { mode: 0o600 });
  const realm = loadRealm(realmFile);
  const zones: RunningZone[] = [];
  const clients: ZoneClient[] = [];
  try {
    for (const z of realm.zones) zones.push(await startZone({ realm, zoneName: z.name, dataDir: join(dir, z.name) }));
    const [east, west] = zones;
    o.out(`zones: us-east ${east.url} (source), us-west ${west.url} (destination); data in ${dir}`);

    const sysEast = new ZoneClient({ endpoint: east.url, credentials: { accessKey: access, secretKey: secret } });
    clients.push(sysEast);
    const users: { uid: string; client: ZoneClient }[] = [];
    for (const uid of ['alice', 'bob']) {
      const u = await sysEast.json<{ keys: { access_key: string; secret_key: string }[] }>('PUT', '/admin/user', { query: [['uid', uid], ['display-name', uid]] });
      const c = new ZoneClient({ endpoint: east.url, credentials: { accessKey: u.keys[0].access_key, secretKey: u.keys[0].secret_key } });
      clients.push(c);
      users.push({ uid, client: c });
    }
    const buckets = [['alice', 'alice-photos'], ['alice', 'alice-docs'], ['bob', 'bob-backups']] as const;
    const clientOf = (uid: string) => users.find((u) => u.uid === uid)!.client;
    for (const [uid, b] of buckets) await clientOf(uid).request('PUT', `/${b}`);
    const live = new Map<string, string>(); // "bucket/key" -> owner uid, for writes and deletes later
    let made = 0;
    for (let i = 0; made < o.objects; i++) {
      const [uid, b] = buckets[i % buckets.length];
      const key = `${AWKWARD[i % AWKWARD.length]}/object-${i}`;
      await clientOf(uid).request('PUT', objectPath(b, key), { body: randomBytes(512 + (i % 7) * 1024), headers: { 'x-amz-meta-demo': 'yes' } });
      live.set(`${b}/${key}`, uid);
      made++;
    }
    o.out(`source filled: 2 users, ${buckets.length} buckets, ${made} objects`);

    const cfg = buildConfig({
      src_access_key: access, src_secret_key: secret, dest_access_key: access, dest_secret_key: secret,
      destination: west.url, rgw_data_log_window: 0, incremental_sync_delay: 0, lock_timeout: 10,
    }, {}, {});
    const setup = await createSyncContext(cfg, o.log);
    try {
      const syncer = new Syncer(setup.ctx);
      await syncer.init();
      const t0 = Date.now();
      const stopProgress = startProgress(setup.ctx.acct.counts, { tty: process.stdout.isTTY === true, write: (x) => process.stdout.write(x), log: o.out, everyMs: process.stdout.isTTY ? 250 : 1000 });
      const summary = await syncer.fullSync().finally(stopProgress);
      const st = setup.ctx.acct.counts;
      o.out(`full sync: ${st.metadataSynced} metadata entries and ${st.objectsCopied} objects in ${((Date.now() - t0) / 1000).toFixed(1)}s${summary.failedBuckets.length ? `, ${summary.failedBuckets.length} buckets with retries` : ''}`);

      const stop = new AbortController();
      let passes = 0;
      const daemon = syncer.run(stop.signal, () => { passes++; });
      const until = Date.now() + o.seconds * 1000;
      let writes = 0;
      let deletes = 0;
      let lastReport = Date.now();
      const keys = [...live.keys()];
      for (let i = 0; Date.now() < until; i++) {
        const k = keys[(i * 7919) % keys.length];
        const slash = k.indexOf('/');
        const [b, key] = [k.slice(0, slash), k.slice(slash + 1)];
        const c = clientOf(live.get(k) ?? 'alice');
        if (i % 5 === 4) {
          await c.request('DELETE', objectPath(b, key), { accept: [404] });
          deletes++;
        } else {
          await c.request('PUT', objectPath(b, key), { body: randomBytes(256) });
          writes++;
        }
        if (Date.now() - lastReport >= 1000) {
          lastReport = Date.now();
          o.out(`incremental: ${writes} writes and ${deletes} deletes on the source; ${passes} passes; ${setup.ctx.acct.counts.objectsCopied} copied, ${setup.ctx.acct.counts.objectsDeleted} deleted so far`);
        }
      }
      o.out(`writes stopped (${writes} writes, ${deletes} deletes); waiting for the destination to catch up`);
      const src = { admin: setup.ctx.src, s3: setup.ctx.srcS3 };
      const dst = { admin: setup.ctx.dst, s3: setup.ctx.dstS3 };
      const deadline = Date.now() + 60_000;
      // The agent's own bucket (trim registry on the source, bounds on the destination) is not data.
      const opts = { ignoreBuckets: [setup.ctx.cfg.stateBucket] };
      let cmp = await compareZones(src, dst, opts);
      while (cmp.differences.length > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        cmp = await compareZones(src, dst, opts);
      }
      stop.abort();
      await daemon;
      o.out('');
      o.out('comparison             source  destination');
      const dstCmp = await compareZones(dst, src, opts);
      o.out(`users                  ${String(cmp.users).padStart(6)}  ${String(dstCmp.users).padStart(11)}`);
      o.out(`buckets                ${String(cmp.buckets).padStart(6)}  ${String(dstCmp.buckets).padStart(11)}`);
      o.out(`objects                ${String(cmp.objects).padStart(6)}  ${String(dstCmp.objects).padStart(11)}`);
      o.out(`bytes                  ${String(cmp.bytes).padStart(6)}  ${String(dstCmp.bytes).padStart(11)}`);
      const equal = cmp.differences.length === 0 && dstCmp.differences.length === 0;
      for (const d of [...cmp.differences, ...dstCmp.differences].slice(0, 20)) o.out(`  difference: ${d.kind} ${d.name}: ${d.detail}`);
      o.out(equal ? 'RESULT: the destination equals the source (users, buckets, owners, keys, sizes, ETags, content types, user metadata).' : 'RESULT: the zones differ (see above).');
      return equal;
    } finally {
      await setup.close();
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(zones.map((z) => z.close()));
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
  }
}
