/**
 * A fault-injecting HTTP proxy in front of a zone, for the chaos soak. Each request is forwarded or,
 * with probability `rate` (decided by a seeded generator, so a run can be repeated), meets one
 * fault: an error answer (500, 503 SlowDown), the connection reset before any answer or in the
 * middle of the body, a stall of a few seconds, a truncated body, or an answer delayed past the
 * client's timeout. Counts what it injected by kind.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const FAULT_KINDS = ['error_500', 'slow_down_503', 'reset_before_answer', 'reset_mid_body', 'stall', 'truncated_body', 'past_client_timeout'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** mulberry32: small, fast, and the same sequence for the same seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FaultProxy {
  name: string;
  url: string;
  port: number;
  /** Faults are injected only while enabled. */
  enabled: boolean;
  rate: number;
  injected: Record<FaultKind, number>;
  forwarded: number;
  /** Successful answers to object PUTs (copies written through this proxy). */
  objectPuts: number;
  /** Of those, copies of a version the key already had from the previous copy (same ETag): repeated work. */
  repeatedPuts: number;
  close(): Promise<void>;
}

export interface FaultProxyOptions {
  name: string;
  target: number;
  listenPort?: number;
  rate: number;
  random: () => number;
  /** How long a stall lasts and how far past the client's timeout a late answer comes. */
  stallMs: number;
  lateMs: number;
  /** A bucket whose PUTs are not copies (the agent's state bucket). */
  notCopies?: string;
}

const isObjectPut = (req: IncomingMessage, notCopies?: string) => req.method === 'PUT' && /^\/[^/?]+\/[^?]/.test(req.url ?? '')
  && !/[?&](acl|tagging|partNumber)=?/.test(req.url ?? '') && (notCopies === undefined || !(req.url ?? '').startsWith(`/${notCopies}/`));

export async function startFaultProxy(o: FaultProxyOptions): Promise<FaultProxy> {
  const injected = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  const open = new Set<import('node:net').Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => { timers.delete(t); fn(); }, ms);
    timers.add(t);
  };
  const p: FaultProxy = { name: o.name, url: '', port: 0, enabled: true, rate: o.rate, injected, forwarded: 0, objectPuts: 0, repeatedPuts: 0, close: async () => undefined };
  const lastEtag = new Map<string, string>();

  const forward = (req: IncomingMessage, res: ServerResponse, fault?: FaultKind) => {
    p.forwarded++;
    const up = httpRequest({ host: '127.0.0.1', port: o.target, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      if ((ur.statusCode ?? 0) < 300 && isObjectPut(req, o.notCopies)) {
        p.objectPuts++;
        const path = (req.url ?? '').split('?')[0];
        const note = (etag: string) => {
          if (etag !== '' && lastEtag.get(path) === etag) p.repeatedPuts++;
          lastEtag.set(path, etag);
        };
        if (ur.headers.etag !== undefined) note(String(ur.headers.etag).replace(/"/g, ''));
        else {
          // A remote copy answers CopyObjectResult: the ETag is in its (small) body.
          let text = '';
          ur.on('data', (c: Buffer) => { if (text.length < 4096) text += c.toString('utf8'); });
          ur.on('end', () => note((/<ETag>([^<]*)<\/ETag>/.exec(text)?.[1] ?? '').replace(/&quot;|"/g, '')));
        }
      }
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      if (fault === 'reset_mid_body' || fault === 'truncated_body') {
        let sent = 0;
        const declared = Number(ur.headers['content-length'] ?? 0);
        ur.on('data', (c: Buffer) => {
          // Half the body (at least one byte short), then the connection goes.
          const room = Math.max(0, Math.floor(declared / 2) - sent);
          if (room > 0) res.write(c.subarray(0, room));
          sent += Math.min(room, c.length);
          if (sent >= Math.floor(declared / 2)) {
            ur.destroy();
            if (fault === 'reset_mid_body') res.socket?.resetAndDestroy(); else res.socket?.end();
          }
        });
        ur.on('end', () => { if (fault === 'reset_mid_body') res.socket?.resetAndDestroy(); else res.socket?.end(); });
        return;
      }
      ur.pipe(res);
    });
    up.on('error', () => { if (!res.headersSent) res.writeHead(502); res.end(); });
    req.pipe(up);
  };

  const server: Server = createServer((req, res) => {
    const fault = p.enabled && o.random() < p.rate ? FAULT_KINDS[Math.floor(o.random() * FAULT_KINDS.length)] : undefined;
    if (!fault) return forward(req, res);
    injected[fault]++;
    switch (fault) {
      case 'error_500':
      case 'slow_down_503': {
        req.resume();
        const [status, code] = fault === 'error_500' ? [500, 'InternalError'] : [503, 'SlowDown'];
        const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected by the chaos proxy</Message></Error>`;
        res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        return void res.end(body);
      }
      case 'reset_before_answer':
        req.resume();
        return void req.socket.resetAndDestroy();
      case 'stall':
        // The request waits (its body unread) and then goes on as usual.
        req.pause();
        return later(o.stallMs, () => { req.resume(); forward(req, res); });
      case 'past_client_timeout':
        req.resume();
        return later(o.lateMs, () => {
          if (res.destroyed) return;
          res.writeHead(503, { 'content-type': 'application/xml' });
          res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>late</Message></Error>');
        });
      default:
        return forward(req, res, fault);
    }
  });
  server.on('connection', (s) => { open.add(s); s.on('close', () => open.delete(s)); });
  server.on('clientError', (_e, s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(o.listenPort ?? 0, '127.0.0.1', resolve));
  p.port = (server.address() as AddressInfo).port;
  p.url = `http://127.0.0.1:${p.port}`;
  p.close = async () => {
    for (const t of timers) clearTimeout(t);
    for (const s of open) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return p;
}
