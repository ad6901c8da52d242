/**
 * Prometheus metrics and /healthz for the sync daemon. Counters start at zero in each process;
 * gauges (lag, retries pending) come from the syncer's view, which starts from the bounds.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Counts } from './accounting.js';
import type { Syncer, PassSummary } from './sync/incremental.js';

export interface Health { phase: 'starting' | 'full-sync' | 'incremental' | 'stopping'; lastPassOkMs?: number; lastError?: string }

/** Adds the growth of a running total since the last scrape to a counter. */
function deltaCounter(c: Counter<string>, labels: Record<string, string>, read: () => number): () => void {
  let last = 0;
  c.inc(labels, 0); // every series exists from the start, so rates work from the first scrape
  return () => {
    const now = read();
    if (now > last) c.inc(labels, now - last);
    last = now;
  };
}

export class AgentMetrics {
  readonly registry = new Registry();
  readonly health: Health = { phase: 'starting' };
  private readonly passDuration: Histogram<string>;
  private readonly passes: Counter<string>;
  private syncer: Syncer | undefined;

  constructor(stats: Readonly<Counts>, private readonly maxPassAgeMs: number) {
    collectDefaultMetrics({ register: this.registry, prefix: 'rgw_agent_process_' });
    const r = [this.registry];
    const updates: (() => void)[] = [];
    // Registered first, so its collect brings every counter up to date before they are read.
    new Gauge({ name: 'rgw_agent_up', help: '1 while the agent runs', registers: r, collect() { for (const u of updates) u(); this.set(1); } });
    const objects = new Counter({ name: 'rgw_agent_objects_synced_total', help: 'Objects made equal on the destination, by result', labelNames: ['result'], registers: r });
    const bytes = new Counter({ name: 'rgw_agent_bytes_synced_total', help: 'Bytes copied (where the gateway reports sizes)', registers: r });
    const metadata = new Counter({ name: 'rgw_agent_metadata_synced_total', help: 'Metadata entries copied or removed', labelNames: ['result'], registers: r });
    const errors = new Counter({ name: 'rgw_agent_errors_total', help: 'Failures by kind: object, metadata and bucket failures each became a retry item; pass counts failed passes and failed start-up attempts', labelNames: ['kind'], registers: r });
    const contention = new Counter({ name: 'rgw_agent_lock_contention_total', help: 'Shard locks found held by another agent', registers: r });
    const lost = new Counter({ name: 'rgw_agent_locks_lost_total', help: 'Shard locks lost while working (work stopped, no bound written)', registers: r });
    updates.push(
      deltaCounter(objects, { result: 'copied' }, () => stats.objectsCopied),
      deltaCounter(objects, { result: 'unchanged' }, () => stats.objectsUnchanged),
      deltaCounter(objects, { result: 'deleted' }, () => stats.objectsDeleted),
      deltaCounter(bytes, {}, () => stats.bytesCopied),
      deltaCounter(metadata, { result: 'written' }, () => stats.metadataSynced),
      deltaCounter(metadata, { result: 'removed' }, () => stats.metadataRemoved),
      deltaCounter(contention, {}, () => stats.lockBusy),
      deltaCounter(lost, {}, () => stats.locksLost),
      ...['object', 'metadata', 'bucket', 'pass'].map((kind) => deltaCounter(errors, { kind }, () => stats.errors[kind as keyof Counts['errors']])),
    );
    const self = this;
    new Gauge({
      name: 'rgw_agent_versioned_source_buckets', help: 'Versioned source buckets seen (synced version by version)', registers: r,
      collect() { if (self.syncer) this.set(self.syncer.ctx.versioning.count); },
    });
    new Gauge({
      name: 'rgw_agent_retry_items_pending', help: 'Retry items owed by metadata and data shards', registers: r,
      collect() { if (self.syncer) this.set(self.syncer.pendingRetries); },
    });
    new Gauge({
      name: 'rgw_agent_shard_lag_seconds', help: 'Age of the oldest source change not yet synced, per log shard (0 = caught up)', labelNames: ['type', 'shard'], registers: r,
      collect() { for (const l of self.syncer?.lag() ?? []) this.set({ type: l.type, shard: String(l.shard) }, l.seconds); },
    });
    new Gauge({
      name: 'rgw_agent_object_concurrency', help: 'Object copies allowed in flight now (object_concurrency, lower while the destination answers 503/SlowDown)', registers: r,
      collect() { if (self.syncer) this.set(self.syncer.ctx.objects.limit); },
    });
    new Gauge({
      name: 'rgw_agent_objects_in_flight', help: 'Object copies running or waiting for a slot', registers: r,
      collect() { if (self.syncer) this.set(self.syncer.ctx.objects.inFlight); },
    });
    this.passDuration = new Histogram({ name: 'rgw_agent_pass_duration_seconds', help: 'Duration of incremental passes', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300], registers: r });
    this.passes = new Counter({ name: 'rgw_agent_passes_total', help: 'Incremental passes completed', registers: r });
  }

  attach(syncer: Syncer): void {
    this.syncer = syncer;
  }

  passDone(s: PassSummary): void {
    this.passDuration.observe(s.durationMs / 1000);
    this.passes.inc();
    this.health.lastPassOkMs = Date.now();
    this.health.lastError = undefined;
  }

  passFailed(e: Error): void {
    this.health.lastError = e.message;
  }

  /** Healthy while starting or full-syncing, and while passes keep completing. */
  healthy(): { ok: boolean; reason: string } {
    const h = this.health;
    if (h.phase !== 'incremental') return { ok: true, reason: h.phase };
    const age = h.lastPassOkMs === undefined ? Infinity : Date.now() - h.lastPassOkMs;
    if (age <= this.maxPassAgeMs) return { ok: true, reason: `last pass ${(age / 1000).toFixed(1)}s ago` };
    return { ok: false, reason: `no pass completed for ${h.lastPassOkMs === undefined ? 'ever' : `${(age / 1000).toFixed(0)}s`}${h.lastError ? `; last error: ${h.lastError}` : ''}` };
  }

  async serve(host: string, port: number): Promise<{ url: string; close(): Promise<void> }> {
    const server: Server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405).end();
      } else if (path === '/metrics') {
        this.registry.metrics().then((text) => {
          res.writeHead(200, { 'Content-Type': this.registry.contentType });
          res.end(text);
        }, (e: Error) => {
          res.writeHead(500).end(e.message);
        });
      } else if (path === '/healthz') {
        const h = this.healthy();
        res.writeHead(h.ok ? 200 : 503, { 'Content-Type': 'text/plain' });
        res.end(`${h.ok ? 'ok' : 'unhealthy'}: ${h.reason}\n`);
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const actual = (server.address() as AddressInfo).port;
    return {
      url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}`,
      close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
    };
  }
}
