/**
 * A copy-path test bed: two real in-process embedded zones, each behind a programmable proxy that
 * owns its advertised endpoint (so the agent, and the destination's remote copy, reach the source
 * through it), and sync contexts built from a real config. The proxies record every request with
 * its headers and can answer for the zone, hold a request, rewrite ETags or change bytes in flight.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { freePort, makeRealm, type TestRealm } from './realm.js';
import { call } from './http.js';
import { objPath } from './pair.js';
import { startZone, type RunningZone } from '../../src/zone/server.js';
import { parseRealm } from '../../src/zone/realm.js';
import { buildConfig } from '../../src/config.js';
import { createSyncContext, type SyncSetup } from '../../src/sync/setup.js';
import type { SyncLogger } from '../../src/sync/context.js';

/** One request as the proxy saw it; status 0 while unanswered. */
export interface Exchange { method: string; url: string; headers: IncomingHttpHeaders; status: number; t: number }
export interface Answer { status: number; code?: string; headers?: Record<string, string> }

export interface HookProxy {
  url: string;
  seen: Exchange[];
  /** Runs before a request is forwarded: an Answer replaces the zone's; the promise may wait (a request held). */
  before?: (req: IncomingMessage) => Promise<Answer | undefined> | Answer | undefined;
  /** Evaluate If-Match on the presented (rewritten) ETag, as a gateway storing that ETag would: 412 unless it names it. */
  ifMatch: boolean;
  /** Present objects whose MD5 is a key as multipart-uploaded: that ETag instead, in headers and listings. */
  multipartEtags: Map<string, string>;
  /** Extra headers on answers (e.g. a Content-MD5 the source vouches with). */
  addHeaders?: (req: IncomingMessage, upstream: IncomingHttpHeaders) => Record<string, string> | undefined;
  /** Changes bytes of a request body on its way to the zone (offset = bytes of the body before chunk). */
  mangleRequest?: (req: IncomingMessage, chunk: Buffer, offset: number) => Buffer;
  /** Changes bytes of an answer's body on its way back. */
  /** `offset` counts from the start of the answer's body, attribute prefix (`bodyStart` bytes) included. */
  mangleResponse?: (req: IncomingMessage, chunk: Buffer, offset: number, bodyStart: number) => Buffer;
  close(): Promise<void>;
}

const unq = (v: string | string[] | undefined) => String(Array.isArray(v) ? v[0] : v ?? '').replace(/"/g, '');

export async function startHookProxy(targetPort: number, listenPort: number): Promise<HookProxy> {
  const p: Omit<HookProxy, 'url' | 'close'> = { seen: [], ifMatch: false, multipartEtags: new Map() };
  const server: Server = createServer((req, res) => {
    // Recorded on arrival (status 0 until answered): a request held upstream is still seen.
    const entry: Exchange = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, status: 0, t: Date.now() };
    p.seen.push(entry);
    const record = (status: number) => { entry.status = status; };
    void (async () => {
      const answer = await p.before?.(req);
      if (answer) {
        req.resume();
        record(answer.status);
        res.writeHead(answer.status, { 'content-type': 'application/xml', ...(answer.headers ?? {}) });
        res.end(`<?xml version="1.0"?><Error><Code>${answer.code ?? 'InternalError'}</Code><Message>answered by the test proxy</Message></Error>`);
        return;
      }
      const up = httpRequest({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers }, (ur) => {
        const headers = { ...ur.headers };
        const etag = unq(headers.etag);
        if (headers.etag && p.multipartEtags.has(etag)) headers.etag = `"${p.multipartEtags.get(etag)!}"`;
        const wanted = req.headers['if-match'];
        if (p.ifMatch && wanted !== undefined && (ur.statusCode ?? 0) < 300 && unq(wanted) !== unq(headers.etag)) {
          ur.resume();
          record(412);
          res.writeHead(412, { 'content-type': 'application/xml' });
          res.end('<?xml version="1.0"?><Error><Code>PreconditionFailed</Code></Error>');
          return;
        }
        // The zone compared If-None-Match with the real ETag (the request is signed: it cannot be
        // rewritten); a condition naming the presented one is answered here. (If-Match naming a
        // presented ETag gets the zone's 412: no test combines the two.)
        const none = req.headers['if-none-match'];
        if (p.multipartEtags.size > 0 && none !== undefined && (ur.statusCode ?? 0) === 200 && unq(none) === unq(headers.etag)) {
          ur.resume();
          record(304);
          res.writeHead(304, { etag: headers.etag });
          res.end();
          return;
        }
        Object.assign(headers, p.addHeaders?.(req, ur.headers) ?? {});
        record(ur.statusCode ?? 0);
        const listing = req.method === 'GET' && /^\/[^/?]+\/?(\?|$)/.test(req.url ?? '') && p.multipartEtags.size > 0;
        if (listing) {
          // A listing names ETags in its body: rewrite them there too (the length changes).
          const parts: Buffer[] = [];
          ur.on('data', (c: Buffer) => parts.push(c));
          ur.on('end', () => {
            let text = Buffer.concat(parts).toString('utf8');
            for (const [md5, fake] of p.multipartEtags) text = text.split(md5).join(fake);
            const body = Buffer.from(text);
            res.writeHead(ur.statusCode ?? 502, { ...headers, 'content-length': String(body.length) });
            res.end(body);
          });
          return;
        }
        res.writeHead(ur.statusCode ?? 502, headers);
        let off = 0;
        ur.on('data', (c: Buffer) => {
          const out = p.mangleResponse ? p.mangleResponse(req, c, off, Number(ur.headers['rgwx-embedded-metadata-len'] ?? 0)) : c;
          off += c.length;
          res.write(out);
        });
        ur.on('end', () => res.end());
      });
      up.on('error', () => {
        record(502);
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      let off = 0;
      req.on('data', (c: Buffer) => {
        const out = p.mangleRequest ? p.mangleRequest(req, c, off) : c;
        off += c.length;
        up.write(out);
      });
      req.on('end', () => up.end());
    })();
  });
  await new Promise<void>((resolve) => server.listen(listenPort, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(p, {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  });
}

export interface Logged extends SyncLogger { lines: string[] }
export function logger(): Logged {
  const lines: string[] = [];
  const add = (lvl: string) => (m: string) => { lines.push(`${lvl} ${m}`); };
  return { lines, info: add('info'), warn: add('warn'), error: add('error'), debug: add('debug') };
}

export interface Rig {
  east: RunningZone;
  west: RunningZone;
  /** In front of the source (the agent's GETs and the destination's remote-copy fetches go through it). */
  srcProxy: HookProxy;
  /** In front of the destination (the agent's PUTs, HEADs, admin calls). */
  dstProxy: HookProxy;
  sys: { accessKey: string; secretKey: string };
  context(extra?: Record<string, unknown>): Promise<SyncSetup & { log: Logged }>;
  close(): Promise<void>;
}

export async function startRig(): Promise<Rig> {
  const [srcPort, dstPort] = [await freePort(), await freePort()];
  const t: TestRealm = await makeRealm({ extra: 'metadata_log_shards: 4\ndata_log_shards: 4' });
  const text = readFileSync(t.realmFile, 'utf8')
    .replace(/us-east: \{ endpoint: "http:\/\/127\.0\.0\.1:\d+" \}/, `us-east: { endpoint: "http://127.0.0.1:${srcPort}" }`)
    .replace(/us-west: \{ endpoint: "http:\/\/127\.0\.0\.1:\d+" \}/, `us-west: { endpoint: "http://127.0.0.1:${dstPort}" }`);
  t.realm = parseRealm(text);
  const quietZone = () => undefined;
  const east = await startZone({ realm: t.realm, zoneName: 'us-east', dataDir: join(t.dir, 'east'), port: 0, log: quietZone });
  const west = await startZone({ realm: t.realm, zoneName: 'us-west', dataDir: join(t.dir, 'west'), port: 0, log: quietZone });
  const srcProxy = await startHookProxy(east.port, srcPort);
  const dstProxy = await startHookProxy(west.port, dstPort);
  const sys = { accessKey: t.accessKey, secretKey: t.secretKey };
  const setups: SyncSetup[] = [];
  return {
    east, west, srcProxy, dstProxy, sys,
    async context(extra = {}) {
      const cfg = buildConfig({
        src_access_key: sys.accessKey, src_secret_key: sys.secretKey, dest_access_key: sys.accessKey, dest_secret_key: sys.secretKey,
        destination: dstProxy.url, object_sync_timeout: 10, ...extra,
      }, {}, {});
      const log = logger();
      const s = await createSyncContext(cfg, log);
      setups.push(s);
      return { ...s, log };
    },
    async close() {
      await Promise.all(setups.map((s) => s.close()));
      await Promise.all([srcProxy.close(), dstProxy.close()]);
      await Promise.all([east.close(), west.close()]);
      t.cleanup();
    },
  };
}

/** A user and a bucket of theirs on both zones (as metadata sync would have made them). */
export async function userAndBucket(r: Rig, uid: string, bucket: string): Promise<{ accessKey: string; secretKey: string }> {
  const mk = await call(r.east.url, 'PUT', `/admin/user?uid=${uid}&display-name=${uid}`, r.sys);
  if (mk.status !== 200) throw new Error(`create user ${uid}: ${mk.status} ${mk.text}`);
  const key = mk.json<{ keys: { access_key: string; secret_key: string }[] }>().keys[0];
  const creds = { accessKey: key.access_key, secretKey: key.secret_key };
  // The same user (same keys) on the destination, as metadata sync leaves it.
  const meta = await call(r.east.url, 'GET', `/admin/metadata/user?key=${uid}`, r.sys);
  const put = await call(r.west.url, 'PUT', `/admin/metadata/user?key=${uid}`, r.sys, { body: meta.body, headers: { 'content-type': 'application/json' } });
  if (put.status !== 200 && put.status !== 204) throw new Error(`user ${uid} on the destination: ${put.status} ${put.text}`);
  for (const base of [r.east.url, r.west.url]) {
    const b = await call(base, 'PUT', `/${bucket}`, creds);
    if (b.status !== 200) throw new Error(`bucket ${bucket}: ${b.status} ${b.text}`);
  }
  return creds;
}

export async function putObj(base: string, who: { accessKey: string; secretKey: string }, bucket: string, key: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<string> {
  const r = await call(base, 'PUT', objPath(bucket, key), who, { body, headers });
  if (r.status !== 200) throw new Error(`PUT ${bucket}/${key}: ${r.status} ${r.text}`);
  return unq(r.headers.etag);
}

export async function getObj(base: string, who: { accessKey: string; secretKey: string }, bucket: string, key: string) {
  return call(base, 'GET', objPath(bucket, key), who);
}

/** A GET or PUT of the object itself: no sub-resource, at most the attribute prefix asked for. */
export function isObjectRequest(url: string | undefined, path: string): boolean {
  return url === path || url === `${path}?rgwx-prepend-metadata=true`;
}

/** The agent's requests for one object path (not the zones' own fetches). */
export function agentCalls(p: HookProxy, method: string, bucket: string, key: string): Exchange[] {
  const path = objPath(bucket, key);
  return p.seen.filter((s) => s.method === method && (s.url === path || s.url.startsWith(`${path}?`)) && String(s.headers['user-agent'] ?? '').startsWith('rgw-agent'));
}
