/** A free TCP port on 127.0.0.1 right now (the demo and tests place zones on such ports). */
import { createServer } from 'node:net';

/**
 * Below Linux's ephemeral range (32768-60999): a port handed out here is written into a realm file
 * and bound a moment later, and in between any outgoing connection of the machine could take one
 * from the ephemeral range as its local port (a busy test run has thousands). Clear of the ports
 * the Ceph test clusters and bench:ceph use (3300-8001, 23300-28001).
 */
const LOW = 28_100;
const HIGH = 32_700;
/** Handed out by this process: not handed out again, even if its user has not bound it yet. */
const given = new Set<number>();

function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => {
      const { port: got } = s.address() as { port: number };
      s.close(() => resolve(got));
    });
  });
}

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (given.has(port)) continue;
    if ((await tryListen(port)) === port) {
      given.add(port);
      return port;
    }
  }
  const port = await tryListen(0);
  if (port === undefined) throw new Error('no free TCP port on 127.0.0.1');
  given.add(port);
  return port;
}
