/**
 * The embedded zone's HTTP server: authenticates, routes /admin/* to the admin API and everything
 * else to the S3 subset, and maps every failure to an RGW-style error answer. Nothing a client
 * sends may crash the process.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdir, access, constants as fsConstants } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { authenticate } from './auth.js';
import { HttpError, isDiskFull, newRequestId, parseUrl, redactUrl, sendError, sendJson, type RequestContext } from './http.js';
import { ObjectFiles } from './objectfiles.js';
import { findZone, periodConfig, type Realm } from './realm.js';
import { Store, StoreError } from './store.js';
import type { ZoneContext } from './context.js';
import { regionMap } from './admin/config.js';
import { handleLog } from './admin/log.js';
import { handleReplicaLog } from './admin/replica_log.js';
import { handleMetadata } from './admin/metadata.js';
import { handleOpState } from './admin/opstate.js';
import { handleRealm } from './admin/realm.js';
import { handleUser, newUserData } from './admin/user.js';
import { handleS3 } from './s3.js';
import { DEFAULT_ABANDONED_UPLOAD_SECONDS, startUploadSweeper } from './multipart.js';

export interface ZoneServerOptions {
  realm: Realm;
  zoneName: string;
  dataDir: string;
  /** Overrides the endpoint's port (0 = ephemeral) and host: listen behind a proxy that owns the endpoint. */
  port?: number;
  host?: string;
  log?: ZoneContext['log'];
  /** Multipart uploads neither completed nor aborted this long after initiate are removed (default 7 days). */
  abandonedUploadSeconds?: number;
}

export class ZoneStartError extends Error {}

export interface RunningZone {
  url: string;
  port: number;
  context: ZoneContext;
  server: Server;
  close(): Promise<void>;
}

async function route(ctx: RequestContext, zc: ZoneContext): Promise<void> {
  const { path } = ctx.url;
  const admin = path === '/admin' || path.startsWith('/admin/');
  const rgwx = [...ctx.url.query.keys()].some((k) => k.startsWith('rgwx-'));
  if ((admin || rgwx) && !ctx.user.key.system) throw new HttpError(403, 'AccessDenied', 'only system users may use the admin API and rgwx- parameters');
  if (!admin) return handleS3(ctx, zc);
  const rest = path.slice('/admin/'.length);
  const slash = rest.indexOf('/');
  const resource = slash < 0 ? rest : rest.slice(0, slash);
  const sub = slash < 0 ? '' : rest.slice(slash + 1);
  switch (resource) {
    case 'config':
      if (ctx.req.method !== 'GET') throw new HttpError(405, 'MethodNotAllowed');
      return sendJson(ctx.res, 200, regionMap(zc.realm));
    case 'log':
      return handleLog(ctx, zc);
    case 'replica_log':
      return handleReplicaLog(ctx, zc);
    case 'metadata':
      return handleMetadata(ctx, zc, sub);
    case 'opstate':
      return handleOpState(ctx, zc);
    case 'realm':
      return handleRealm(ctx, zc, sub);
    case 'user':
      return handleUser(ctx, zc);
    default:
      // RGW answers an unknown admin resource with 405 MethodNotAllowed.
      throw new HttpError(405, 'MethodNotAllowed', `unknown admin resource ${resource}`);
  }
}

function toHttpError(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof StoreError) return new HttpError(e.status, e.code, e.message);
  // Nothing was stored; clients retry a 5xx. Said plainly: "internal error" would hide the cause.
  if (isDiskFull(e)) return new HttpError(507, 'InsufficientCapacity', 'the zone\'s disk is full: nothing was stored');
  return new HttpError(500, 'InternalError', 'internal error');
}

export async function startZone(opts: ZoneServerOptions): Promise<RunningZone> {
  const zone = findZone(opts.realm, opts.zoneName);
  const log = opts.log ?? (() => undefined);
  try {
    await mkdir(opts.dataDir, { recursive: true });
    await access(opts.dataDir, fsConstants.R_OK | fsConstants.W_OK);
  } catch (e) {
    throw new ZoneStartError(`data dir ${opts.dataDir} is not usable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let store: Store;
  try {
    store = new Store({
      dataDir: opts.dataDir, zoneName: zone.name, zonegroup: opts.realm.zonegroup,
      metadataLogShards: opts.realm.metadataLogShards, dataLogShards: opts.realm.dataLogShards,
      dataLogWindowSeconds: opts.realm.dataLogWindowSeconds, period: periodConfig(opts.realm),
    });
  } catch (e) {
    throw new ZoneStartError(`cannot open the zone database in ${opts.dataDir}: ${(e as Error).message}`);
  }
  const period = store.currentPeriod();
  // A first start logs one line when ready, so its first period is only debug news.
  if (store.periodAtOpen === 'created') log('debug', `created period ${period.id} (realm epoch ${period.realm_epoch})`);
  // Editing the realm file and restarting is this zone's `period update --commit`: say so, since
  // agents must now drain the old period's metadata log before reading the new one.
  if (store.periodAtOpen === 'committed') {
    log('info', `realm file changed: committed period ${period.id} (realm epoch ${period.realm_epoch}, predecessor ${period.predecessor})`);
  }
  const files = new ObjectFiles(opts.dataDir, (file) => store.inlineBody(file));
  await files.init();
  const orphans = await files.removeOrphans(store.allObjectFiles());
  if (orphans > 0) log('warn', `removed ${orphans} object file(s) left by an interrupted write`);
  store.pruneOpState(24 * 3600 * 1000);

  const su = opts.realm.systemUser;
  const existing = store.getUser(su.uid);
  if (!existing || !existing.data.keys.some((k) => k.access_key === su.accessKey && k.secret_key === su.secretKey) || existing.data.system !== 'true') {
    store.putUser(newUserData(su.uid, 'Sync system user', { accessKey: su.accessKey, secretKey: su.secretKey, system: true }));
  }

  const zc: ZoneContext = { store, files, realm: opts.realm, zone, log };

  // Requests still being handled: close() lets them finish (bounded) before the store closes.
  let inflight = 0;
  const drained = new Set<() => void>();
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    inflight++;
    const requestId = newRequestId(zone.name);
    let admin = (req.url ?? '').startsWith('/admin');
    const run = async () => {
      const url = parseUrl(req.url ?? '/');
      admin = url.path === '/admin' || url.path.startsWith('/admin/');
      const auth = authenticate({ method: req.method ?? 'GET', rawUrl: req.url ?? '/', headers: req.headers }, (ak) => store.lookupKey(ak));
      if (!auth.ok) throw new HttpError(auth.status, auth.code, auth.message);
      const ctx: RequestContext = {
        req, res, url, requestId, payloadSha256: auth.payloadSha256, signing: auth.signing,
        user: { uid: auth.key.uid, key: auth.key, accessKey: auth.accessKey },
      };
      res.setHeader('x-amz-request-id', requestId);
      await route(ctx, zc);
    };
    run().catch((e: unknown) => {
      const err = toHttpError(e);
      const shown = redactUrl(req.url ?? '/');
      // A feature this zone lacks is the client's news, not a fault: one line at warn, no stack.
      if (err.status === 501) log('warn', `${req.method} ${shown}: 501 ${err.message}`);
      else if (err.status === 507) log('error', `${req.method} ${shown}: 507 the disk of the data dir is full (${(e as Error).message}); free space, nothing needs a restart`);
      else if (err.status >= 500) log('error', `${req.method} ${shown}: ${(e as Error).stack ?? String(e)}`);
      else log('debug', `${req.method} ${shown} -> ${err.status} ${err.code}`);
      sendError(res, err, { admin, requestId, zone: zone.name, method: req.method ?? 'GET' });
      // An unread request body would otherwise be parsed as the next request on this connection.
      if (!req.complete) req.resume();
    }).finally(() => {
      if (--inflight === 0) for (const d of drained) d();
    });
  };

  const server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 300_000, headersTimeout: 60_000, keepAliveTimeout: 65_000 }, handler);
  const failedSockets = new WeakSet<object>();
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (failedSockets.has(socket)) return; // the parser repeats its error for every later chunk
    failedSockets.add(socket);
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const answer = (): void => {
      // Bytes after a complete request failed to parse: answer that request first, or the client
      // takes this error for its answer (and its request is dropped, or worse, applied anyway).
      const pending = (socket as unknown as { _httpMessage?: ServerResponse | null })._httpMessage;
      if (pending && !pending.writableFinished) {
        if (pending.req.complete) return void pending.once('finish', answer);
        if (pending.headersSent) return void socket.destroy();
      }
      if (!socket.writable) return void socket.destroy();
      socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    answer();
  });

  const port = opts.port ?? zone.port;
  const host = opts.host ?? zone.host;
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      store.close();
      reject(new ZoneStartError(e.code === 'EADDRINUSE' ? `port ${port} on ${host} is already in use` : `cannot listen on ${host}:${port}: ${e.message}`));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  // After listen: a zone that failed to start has nothing to stop.
  const stopSweeper = startUploadSweeper(zc, opts.abandonedUploadSeconds ?? DEFAULT_ABANDONED_UPLOAD_SECONDS);
  const actual = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${actual}`;
  return {
    url,
    port: actual,
    context: zc,
    server,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inflight > 0) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(finish, 5_000);
          function finish() { clearTimeout(t); drained.delete(finish); resolve(); }
          drained.add(finish);
        });
      }
      server.closeAllConnections();
      await closed;
      await stopSweeper();
      store.close();
    },
  };
}
