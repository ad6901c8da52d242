#!/usr/bin/env node
/** rgw-agent command line. */
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { createLogger, reopenLogFiles, type LogFormat } from './log.js';
// Each command loads what it runs (the zone and SQLite, the demo, verify, status, metrics) when it
// runs: an agent process starts sooner and smaller without the zone's modules, and --help at once.
import type { Realm } from './zone/realm.js';
import type { RunningZone } from './zone/server.js';
import { buildConfig, CONFIG_KEYS, ConfigError, readConfigFile, reloadConfig, type AgentConfig } from './config.js';
import { createReadContext, createSyncContext, type ReadSetup, type SyncSetup } from './sync/setup.js';
import { Syncer } from './sync/incremental.js';
import type { FullSyncSummary } from './sync/full.js';
import { AgentError } from './client/errors.js';
import { sleep } from './worker/sleep.js';
import { Stopped } from './worker/pool.js';
import type { AgentMetrics } from './metrics.js';
import { startProgress } from './progress.js';
import { applyHeapPolicy } from './heap.js';

applyHeapPolicy();

/** Exit code for a configuration or start-up problem the operator must fix. */
const EXIT_USAGE = 2;

function fail(message: string): never {
  process.stderr.write(`rgw-agent: ${message}\n`);
  process.exit(EXIT_USAGE);
}

function zoneLogger(level: string, format: LogFormat | undefined, realm: Realm, zone: string) {
  const logger = createLogger({ level, format, secrets: [realm.systemUser.secretKey] });
  return { logger, log: (lvl: 'info' | 'warn' | 'error' | 'debug', msg: string) => logger.log(lvl, `[${zone}] ${msg}`) };
}

/** Stops every zone on SIGTERM/SIGINT, then exits 0. */
function stopOnSignal(zones: RunningZone[], onStop: (sig: string) => void): void {
  let stopping = false;
  const stop = (sig: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    onStop(sig);
    void Promise.all(zones.map((z) => z.close())).then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function parseListen(listen: string | undefined): { host?: string; port?: number } {
  if (listen === undefined) return {};
  const m = /^(?:\[?([^\]]*)\]?:)?(\d+)$/.exec(listen);
  if (!m || Number(m[2]) > 65535) fail(`--listen must be PORT or HOST:PORT (got "${listen}")`);
  return { host: m[1] || undefined, port: Number(m[2]) };
}

/** A duration: seconds, or a number with s, m, h or d. */
function parseAge(v: string, flag: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(v.trim());
  if (!m || Number(m[1]) === 0) fail(`${flag} must be a positive duration such as 3600, 90m, 12h or 7d (got "${v}")`);
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}

async function serveZone(args: { realm: string; zone: string; dataDir: string; listen?: string; abandonedUploadAge: string; logLevel: string; logFormat?: LogFormat }): Promise<void> {
  const abandonedUploadSeconds = parseAge(args.abandonedUploadAge, '--abandoned-upload-age');
  const { loadRealm, RealmError } = await import('./zone/realm.js');
  const { startZone, ZoneStartError } = await import('./zone/server.js');
  let realm: Realm;
  try {
    realm = loadRealm(args.realm);
  } catch (e) {
    fail((e as Error).message);
  }
  if (!realm.zones.some((z) => z.name === args.zone)) {
    fail(`zone "${args.zone}" is not in realm file ${args.realm} (zones: ${realm.zones.map((z) => z.name).join(', ')})`);
  }
  const { logger, log } = zoneLogger(args.logLevel, args.logFormat, realm, args.zone);
  let zone: RunningZone;
  try {
    zone = await startZone({ realm, zoneName: args.zone, dataDir: args.dataDir, log, abandonedUploadSeconds, ...parseListen(args.listen) });
  } catch (e) {
    if (e instanceof ZoneStartError || e instanceof RealmError) fail(e.message);
    throw e;
  }
  logger.info(`zone ${args.zone} of zonegroup ${realm.zonegroup} listening on ${zone.url} (data dir ${args.dataDir})`);
  stopOnSignal([zone], (sig) => logger.info(`${sig}: stopping zone ${args.zone}`));
}

async function demo(args: { logLevel: string; logFormat?: LogFormat; objects: number; seconds: number; keep: boolean }): Promise<void> {
  const logger = createLogger({ level: args.logLevel === 'info' ? 'warn' : args.logLevel, format: args.logFormat });
  const { runDemo } = await import('./demo.js');
  const ok = await runDemo({ objects: args.objects, seconds: args.seconds, keep: args.keep, log: logger, out: (line) => process.stdout.write(`${line}\n`) });
  process.exitCode = ok ? 0 : 1;
}

/** Every config key is also a --kebab-case flag; flags win over the file. */
function configOptions<T>(y: Argv<T>) {
  let out = commonLogOptions(y)
    .option('config', { alias: 'c', type: 'string', describe: 'Config file (YAML, radosgw-agent key names)' });
  for (const [key, spec] of Object.entries(CONFIG_KEYS)) {
    const type = spec.kind === 'bool' ? 'boolean' : spec.kind === 'posint' || spec.kind === 'nonnegint' ? 'number' : 'string';
    out = out.option(key.replace(/_/g, '-'), { type, describe: `${spec.describe}${spec.dflt !== undefined ? ` [default: ${String(spec.dflt)}]` : ''}`, group: 'Config (file keys as flags):' }) as typeof out;
  }
  return out;
}

/** Config file + environment + flags; throws ConfigError. */
function readAgentConfig(a: Record<string, unknown>): AgentConfig {
  const file = typeof a.config === 'string' ? readConfigFile(a.config) : {};
  const flags: Record<string, unknown> = {};
  for (const key of Object.keys(CONFIG_KEYS)) flags[key] = a[key.replace(/_/g, '-')];
  return buildConfig(file, flags, process.env, typeof a.config === 'string' ? `config file ${a.config}` : 'config');
}

function loadAgentConfig(a: Record<string, unknown>): AgentConfig {
  try {
    return readAgentConfig(a);
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message);
    throw e;
  }
}

function agentLogger(cfg: AgentConfig, a: { logLevel: string; logFormat?: LogFormat }) {
  return createLogger({ level: a.logLevel, format: a.logFormat, secrets: [cfg.srcSecretKey, cfg.destSecretKey], file: cfg.logFile });
}

function describeSummary(s: FullSyncSummary): string {
  const lost = s.unfinished.metadata.size + s.unfinished.data.size - s.busyShards;
  return `${s.failedMetadata.length} metadata entries, ${s.failedBuckets.length} buckets (${s.failedObjects} objects) failed; ${s.busyShards} shards were locked by another agent${lost > 0 ? `, ${lost} lost their lock` : ''} (those stay owed)`;
}

/** A live progress line on a TTY; a log line every 5 s otherwise. */
function progressFor(setup: SyncSetup, log: ReturnType<typeof createLogger>): () => void {
  return startProgress(setup.ctx.acct.counts, { tty: process.stderr.isTTY === true, write: (s) => process.stderr.write(s), log: (s) => log.info(s) });
}

interface AgentRun { cfg: AgentConfig; log: ReturnType<typeof createLogger>; setup: SyncSetup; stop: AbortSignal }

/**
 * Shared start of the agent commands: config, logger, clients, and graceful stop. The first
 * SIGTERM/SIGINT stops new work and lets work in flight finish (up to stop_timeout); bounds only
 * ever cover finished work, so a second signal, or the timeout, may exit at once.
 */
async function startAgent(a: Record<string, unknown> & { logLevel: string; logFormat?: LogFormat }, what: string): Promise<AgentRun> {
  const cfg = loadAgentConfig(a);
  const log = agentLogger(cfg, a);
  const stop = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (++signals > 1) {
      log.warn(`${sig} again: exiting now; nothing is lost (bounds only cover finished work)`);
      process.exit(0);
    }
    log.info(`${sig}: stopping ${what}: no new work; letting work in flight finish (up to ${cfg.stopTimeout}s)`);
    stop.abort(new Error('stopping'));
    setTimeout(() => {
      log.warn(`work in flight did not finish within ${cfg.stopTimeout}s; exiting; unfinished work was not recorded and will be redone`);
      process.exit(0);
    }, cfg.stopTimeout * 1000).unref();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // SIGHUP: reopen the log file (logrotate) and reload the settings that can change while running.
  process.on('SIGHUP', () => {
    reopenLogFiles(log);
    let next: AgentConfig;
    try {
      next = readAgentConfig(a);
    } catch (e) {
      log.error(`SIGHUP: log file reopened; config NOT reloaded: ${(e as Error).message}`);
      return;
    }
    const { changed, needsRestart } = reloadConfig(cfg, next);
    log.info(`SIGHUP: log file reopened; config reloaded${changed.length ? `: ${changed.join(', ')}` : ' (no changes)'}`);
    if (needsRestart.length) log.warn(`SIGHUP: these settings change only on restart: ${needsRestart.join(', ')}`);
  });
  let setup: SyncSetup;
  try {
    setup = await createSyncContext(cfg, log, stop.signal);
  } catch (e) {
    if (e instanceof AgentError) fail(e.message);
    throw e;
  }
  return { cfg, log, setup, stop: stop.signal };
}

async function runFullSync(a: Record<string, unknown> & { logLevel: string; logFormat?: LogFormat }): Promise<void> {
  const { log, setup, stop } = await startAgent(a, 'the full sync');
  try {
    const t0 = Date.now();
    let summary: FullSyncSummary;
    const stopProgress = progressFor(setup, log);
    const syncer = new Syncer(setup.ctx);
    try {
      summary = await syncer.fullSync();
      // What this run reached becomes visible to agents that trim the source's logs.
      await syncer.trim.tick(true);
    } catch (e) {
      stopProgress();
      if (!(e instanceof Stopped) || !stop.aborted) throw e;
      log.info('full sync stopped; finished work is recorded. "rgw-agent sync" (or full-sync again) resumes the shards that did not finish');
      return;
    }
    stopProgress();
    const unfinished = summary.unfinished.metadata.size + summary.unfinished.data.size;
    if (stop.aborted && unfinished > 0) {
      log.info(`full sync stopped; finished work is recorded; ${unfinished} shards did not finish and are still owed: "rgw-agent sync" (or full-sync again) resumes them`);
      return;
    }
    const st = setup.ctx.acct.counts;
    const failed = summary.failedMetadata.length + summary.failedBuckets.length + unfinished;
    log.info(`full sync finished in ${((Date.now() - t0) / 1000).toFixed(1)}s: ${st.metadataSynced} metadata entries, ${st.objectsCopied} objects copied, ${st.objectsUnchanged} unchanged, ${st.objectsDeleted} deleted`);
    if (failed > 0) {
      log.error(`full sync incomplete: ${describeSummary(summary)}. Failed items are stored as retries; "rgw-agent sync" will retry them.`);
      for (const m of summary.failedMetadata.slice(0, 20)) log.error(`  failed metadata: ${m}`);
      for (const b of summary.failedBuckets.slice(0, 20)) log.error(`  bucket with failures: ${b}`);
      process.exitCode = 1;
    }
  } finally {
    await setup.close();
  }
}

async function runSync(a: Record<string, unknown> & { logLevel: string; logFormat?: LogFormat; once?: boolean }): Promise<void> {
  const { cfg, log, setup, stop } = await startAgent(a, 'sync');
  const syncer = new Syncer(setup.ctx);
  let metrics: AgentMetrics | undefined;
  let metricsServer: { url: string; close(): Promise<void> } | undefined;
  if (cfg.metricsPort !== undefined) {
    const { AgentMetrics } = await import('./metrics.js');
    metrics = new AgentMetrics(setup.ctx.acct.counts, Math.max(120_000, (cfg.incrementalSyncDelay * 10 + cfg.objectSyncTimeout) * 1000));
    metrics.attach(syncer);
    try {
      metricsServer = await metrics.serve(cfg.metricsHost, cfg.metricsPort);
    } catch (e) {
      await setup.close();
      fail(`cannot serve metrics on ${cfg.metricsHost}:${cfg.metricsPort}: ${(e as Error).message}`);
    }
    log.info(`metrics on ${metricsServer.url}/metrics, health on ${metricsServer.url}/healthz`);
  }
  try {
    // Start-up survives zones that are down for a while: a daemon keeps trying, like a pass does.
    for (let started = false; !started && !stop.aborted;) {
      try {
        await syncer.init();
        if (syncer.needsFullSync || cfg.syncScope === 'full') {
          log.info(cfg.syncScope === 'full' ? 'sync_scope is full: running a full sync first' : 'shards without sync bounds on the destination: running a full sync of those first');
          if (metrics) metrics.health.phase = 'full-sync';
          const stopProgress = progressFor(setup, log);
          const summary = await syncer.fullSync(cfg.syncScope === 'full').finally(stopProgress);
          if (summary.failedMetadata.length + summary.failedBuckets.length > 0) log.warn(`full sync left retries: ${describeSummary(summary)}`);
        }
        started = true;
      } catch (e) {
        if (e instanceof Stopped && stop.aborted) break;
        if (!(e instanceof AgentError) || a.once) throw e;
        // Counted like a failed pass: an alert on failing passes must also fire for a daemon that
        // never gets past its start-up full sync.
        setup.ctx.acct.failed('pass');
        metrics?.passFailed(e);
        log.error(`cannot start syncing: ${e.message}; trying again in ${cfg.prepareErrorDelay}s`);
        await sleep(cfg.prepareErrorDelay * 1000, stop);
      }
    }
    if (!stop.aborted) {
      if (a.once) {
        const s = await syncer.pass();
        await syncer.trim.tick(true);
        log.info(`pass done: ${s.metadataShards} metadata and ${s.dataShards} data shards had work; ${s.pendingRetries} retry items pending; ${s.busy} shards busy`);
      } else {
        if (metrics) metrics.health.phase = 'incremental';
        await syncer.run(stop, (s) => {
          metrics?.passDone(s);
          if (s.metadataShards + s.dataShards > 0) log.info(`pass: ${s.metadataShards} metadata and ${s.dataShards} data shards synced in ${(s.durationMs / 1000).toFixed(2)}s; ${s.pendingRetries} retry items pending${s.busy ? `; ${s.busy} shards busy (another agent)` : ''}`);
        }, (e) => metrics?.passFailed(e));
      }
    }
    if (stop.aborted) log.info('stopped: finished work is recorded, locks released');
  } finally {
    await metricsServer?.close();
    await setup.close();
  }
}

async function runStatus(a: Record<string, unknown> & { logLevel: string; logFormat?: LogFormat; json?: boolean }): Promise<void> {
  const cfg = loadAgentConfig(a);
  const log = createLogger({ level: a.logLevel === 'info' ? 'warn' : a.logLevel, format: a.logFormat, secrets: [cfg.srcSecretKey, cfg.destSecretKey] });
  let setup: ReadSetup;
  try {
    setup = await createReadContext(cfg, log);
  } catch (e) {
    if (e instanceof AgentError) fail(e.message);
    throw e;
  }
  try {
    const { collectStatus, formatStatus } = await import('./sync/status.js');
    const report = await collectStatus(setup.ctx);
    process.stdout.write(a.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatStatus(report)}\n`);
    process.exitCode = report.caught_up ? 0 : 1;
  } catch (e) {
    if (e instanceof AgentError) fail(`cannot read sync status: ${e.message}`);
    throw e;
  } finally {
    await setup.close();
  }
}

async function runVerifyCommand(a: Record<string, unknown> & { logLevel: string; logFormat?: LogFormat; json?: boolean; bucket?: string; metadata?: boolean; acl?: boolean; versionIds?: boolean }): Promise<void> {
  const cfg = loadAgentConfig(a);
  const log = createLogger({ level: a.logLevel, format: a.logFormat, secrets: [cfg.srcSecretKey, cfg.destSecretKey] });
  const { runVerify } = await import('./verify.js');
  process.exitCode = await runVerify(cfg, {
    bucket: a.bucket, json: a.json ?? false, log, checkMetadata: a.metadata ?? true, checkAcl: a.acl ?? false, versionIds: a.versionIds ?? true,
    out: (line) => process.stdout.write(`${line}\n`),
  });
}

function commonLogOptions<T>(y: Argv<T>) {
  return y
    .option('log-level', { type: 'string', default: 'info', choices: ['error', 'warn', 'info', 'debug'], describe: 'Log verbosity' })
    .option('log-format', { type: 'string', choices: ['text', 'json'] as const, describe: 'Log line format (default: text on a TTY, JSON lines otherwise)' });
}

await yargs(hideBin(process.argv))
  .scriptName('rgw-agent')
  .usage('$0 <command> [options]\n\nSync agent for Ceph-RGW-style object stores, and an embedded RGW-compatible zone.')
  .command('zone', 'Run or manage an embedded zone', (y) =>
    y.command(
      'serve',
      'Serve one zone of a realm file on its endpoint (creates the store and system user on first start)',
      (yy) => commonLogOptions(yy)
        .option('realm', { type: 'string', demandOption: true, describe: 'Realm file (YAML): zonegroup, master_zone, zones, system_user' })
        .option('zone', { type: 'string', demandOption: true, describe: 'Name of the zone to serve (a key under "zones")' })
        .option('data-dir', { type: 'string', demandOption: true, describe: 'Directory for the SQLite index and object files' })
        .option('listen', { type: 'string', describe: 'Listen on HOST:PORT instead of the endpoint\'s (when a proxy or load balancer owns the advertised endpoint)' })
        .option('abandoned-upload-age', { type: 'string', default: '7d', describe: 'Remove multipart uploads neither completed nor aborted this long after they were initiated (seconds, or with s/m/h/d)' }),
      (a) => serveZone({ realm: a.realm, zone: a.zone, dataDir: a.dataDir, listen: a.listen, abandonedUploadAge: a.abandonedUploadAge, logLevel: a.logLevel, logFormat: a.logFormat as LogFormat | undefined }),
    ).demandCommand(1, 'name a zone subcommand: serve'),
  )
  .command('sync', 'Incremental sync daemon: full sync first when the destination has no bounds, then passes forever', (y) =>
    configOptions(y).option('once', { type: 'boolean', default: false, describe: 'Run one incremental pass and exit' }),
  (a) => runSync(a as unknown as Record<string, unknown> & { logLevel: string; once: boolean }))
  .command('full-sync', 'One-shot full sync; exit 0 when everything synced, 1 with a summary of what failed (kept as retries)', (y) => configOptions(y),
    (a) => runFullSync(a as unknown as Record<string, unknown> & { logLevel: string }))
  .command('status', 'Sync status like "radosgw-admin sync status": shards caught up / behind / with retries; exit 0 caught up, 1 behind, 2 error', (y) =>
    configOptions(y).option('json', { type: 'boolean', default: false, describe: 'One JSON document for machines' }),
  (a) => runStatus(a as unknown as Record<string, unknown> & { logLevel: string; json: boolean }))
  .command('verify', 'Compare source and destination (users, buckets, keys, sizes, ETags, replicated attributes); exit 0 equal, 1 differences, 2 error', (y) =>
    configOptions(y)
      .option('bucket', { type: 'string', describe: 'Only this bucket' })
      .option('json', { type: 'boolean', default: false, describe: 'One JSON document for machines' })
      .option('metadata', { type: 'boolean', default: true, describe: 'Also compare replicated headers, x-amz-meta-*, storage class and tags (a HEAD per object on each side, tags read where a HEAD counts any; --no-metadata skips it)' })
      .option('acl', { type: 'boolean', default: false, describe: 'Also compare object ACL grants (GET ?acl per object on each side; with --metadata)' })
      .option('version-ids', { type: 'boolean', default: true, describe: 'Versioned buckets: compare version ids as well as the order, ETags, sizes and delete markers of every key\'s versions (--no-version-ids for a destination that cannot keep the source\'s ids; see the README)' }),
  (a) => runVerifyCommand(a as unknown as Record<string, unknown> & { logLevel: string; json: boolean; bucket?: string; metadata: boolean; acl: boolean; versionIds: boolean }))
  .command('demo', 'Two embedded zones in a temp dir: fill the source, full sync, incremental sync under writes and deletes, prove the destination equals the source', (y) =>
    commonLogOptions(y)
      .option('objects', { type: 'number', default: 300, describe: 'Objects to create on the source before the full sync' })
      .option('seconds', { type: 'number', default: 5, describe: 'How long to keep writing and deleting during incremental sync' })
      .option('keep', { type: 'boolean', default: false, describe: 'Keep the temp dir (zones\' data) afterwards' }),
  (a) => demo({ logLevel: a.logLevel, logFormat: a.logFormat as LogFormat | undefined, objects: a.objects, seconds: a.seconds, keep: a.keep }))
  .demandCommand(1, 'name a command (see --help)')
  .strict()
  .fail((msg, err, y) => {
    if (err instanceof AgentError) {
      process.stderr.write(`rgw-agent: ${err.message}\n`);
      process.exit(1);
    }
    if (err) throw err;
    process.stderr.write(`${y.help().toString()}\n\nrgw-agent: ${msg}\n`);
    process.exit(EXIT_USAGE);
  })
  .help()
  .parseAsync();
