/**
 * A real HTTP proxy in front of a zone: every request is forwarded and recorded; a fault rule can
 * answer an error instead (the destination "answering 500 for that key").
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Seen { method: string; url: string; status: number; agent: string; t: number }

export interface Proxy {
  url: string;
  port: number;
  seen: Seen[];
  /** A status to answer instead of forwarding, or 'hang' to never answer (until close). */
  fault: ((req: IncomingMessage) => number | 'hang' | undefined) | undefined;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number, listenPort = 0): Promise<Proxy> {
  const p: Partial<Proxy> & { seen: Seen[] } = { seen: [], fault: undefined };
  const server: Server = createServer((req, res) => {
    const record = (status: number) => p.seen.push({ method: req.method ?? '', url: req.url ?? '', status, agent: String(req.headers['user-agent'] ?? ''), t: Date.now() });
    const injected = p.fault?.(req);
    if (injected === 'hang') {
      record(0);
      req.resume();
      return;
    }
    if (injected !== undefined) {
      req.resume();
      record(injected);
      res.writeHead(injected, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0"?><Error><Code>InternalError</Code><Message>injected by the test proxy</Message></Error>');
      return;
    }
    const up = httpRequest({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      record(ur.statusCode ?? 0);
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => {
      record(502);
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(listenPort, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(p, {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  }) as Proxy;
}
