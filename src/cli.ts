#!/usr/bin/env node
/** rgw-agent command line. */
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createLogger, type LogFormat } from './log.js';
import { loadRealm, RealmError, type Realm } from './zone/realm.js';
import { startZone, ZoneStartError, type RunningZone } from './zone/server.js';

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

async function serveZone(args: { realm: string; zone: string; dataDir: string; logLevel: string; logFormat?: LogFormat }): Promise<void> {
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
    zone = await startZone({ realm, zoneName: args.zone, dataDir: args.dataDir, log });
  } catch (e) {
    if (e instanceof ZoneStartError || e instanceof RealmError) fail(e.message);
    throw e;
  }
  logger.info(`zone ${args.zone} of zonegroup ${realm.zonegroup} listening on ${zone.url} (data dir ${args.dataDir})`);
  stopOnSignal([zone], (sig) => logger.info(`${sig}: stopping zone ${args.zone}`));
}

async function demoRealm(args: { logLevel: string; logFormat?: LogFormat }): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'rgw-agent-demo-'));
  const accessKey = `SYNC${randomBytes(8).toString('hex').toUpperCase()}`;
  const secretKey = randomBytes(30).toString('base64url');
  const realmFile = join(dir, 'realm.yaml');
  writeFileSync(realmFile, [
    'zonegroup: us',
    'master_zone: us-east',
    'zones:',
    '  us-east: { endpoint: "http://127.0.0.1:8101" }',
    '  us-west: { endpoint: "http://127.0.0.1:8102" }',
    `system_user: { uid: sync-agent, access_key: "${accessKey}", secret_key: "${secretKey}" }`,
    '',
  ].join('\n'), { mode: 0o600 });
  const realm = loadRealm(realmFile);
  const { logger, log } = zoneLogger(args.logLevel, args.logFormat, realm, 'demo');
  const zones: RunningZone[] = [];
  try {
    for (const z of realm.zones) zones.push(await startZone({ realm, zoneName: z.name, dataDir: join(dir, z.name), log }));
  } catch (e) {
    await Promise.all(zones.map((z) => z.close()));
    fail(`${(e as Error).message} (the demo needs ports 8101 and 8102 free)`);
  }
  process.stdout.write([
    '',
    'Two embedded zones of zonegroup "us" are running:',
    ...zones.map((z, i) => `  ${realm.zones[i].name.padEnd(8)} ${z.url}   data: ${join(dir, realm.zones[i].name)}`),
    `Realm file: ${realmFile}`,
    `System user: sync-agent, access key ${accessKey} (secret key in the realm file, mode 0600)`,
    '',
    'Try:  AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... aws --endpoint-url http://127.0.0.1:8101 s3 ls',
    'The sync agent itself is not built yet (see README "Status"); this demo only serves the zones.',
    'Press Ctrl-C to stop.',
    '',
  ].join('\n'));
  stopOnSignal(zones, (sig) => logger.info(`${sig}: stopping the demo zones`));
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
        .option('data-dir', { type: 'string', demandOption: true, describe: 'Directory for the SQLite index and object files' }),
      (a) => serveZone({ realm: a.realm, zone: a.zone, dataDir: a.dataDir, logLevel: a.logLevel, logFormat: a.logFormat as LogFormat | undefined }),
    ).demandCommand(1, 'name a zone subcommand: serve'),
  )
  .command('demo', 'Start two embedded zones (us-east, us-west) in a temp dir and print how to reach them', (y) => commonLogOptions(y),
    (a) => demoRealm({ logLevel: a.logLevel, logFormat: a.logFormat as LogFormat | undefined }))
  .demandCommand(1, 'name a command (see --help)')
  .strict()
  .fail((msg, err, y) => {
    if (err) throw err;
    process.stderr.write(`${y.help().toString()}\n\nrgw-agent: ${msg}\n`);
    process.exit(EXIT_USAGE);
  })
  .help()
  .parseAsync();
