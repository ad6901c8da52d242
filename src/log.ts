/**
 * Logger factory. Human-readable lines on a TTY, JSON lines otherwise or on request. Messages are
 * passed through a redactor so a secret that slips into a message never reaches the log.
 */
import winston from 'winston';
import Transport from 'winston-transport';
import { createWriteStream, type WriteStream } from 'node:fs';

export type LogFormat = 'text' | 'json';
export interface LoggerOptions { level?: string; format?: LogFormat; secrets?: string[]; file?: string }

const SIG_PATTERNS: [RegExp, string][] = [
  [/(Signature=)[0-9a-f]{64}/g, '$1<redacted>'],
  [/(AWS [A-Za-z0-9]+:)[A-Za-z0-9+/=]+/g, '$1<redacted>'],
];

export function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('<redacted>');
  for (const [re, rep] of SIG_PATTERNS) out = out.replace(re, rep);
  return out;
}

/**
 * Appends formatted lines to a file, and reopens it on request (SIGHUP), so logrotate can move the
 * file away without the agent writing into the moved file forever.
 */
export class ReopenableFileTransport extends Transport {
  private stream: WriteStream;

  constructor(readonly filename: string, level?: string) {
    super({ level });
    this.stream = this.open();
  }

  private open(): WriteStream {
    const s = createWriteStream(this.filename, { flags: 'a', mode: 0o640 });
    s.on('error', (e) => process.stderr.write(`rgw-agent: cannot write log file ${this.filename}: ${e.message}\n`));
    return s;
  }

  reopen(): void {
    const old = this.stream;
    this.stream = this.open();
    old.end();
  }

  override log(info: Record<string | symbol, unknown>, next: () => void): void {
    this.stream.write(`${String(info[Symbol.for('message')])}\n`);
    next();
  }

  override close(): void {
    this.stream.end();
  }
}

export function reopenLogFiles(logger: winston.Logger): void {
  for (const t of logger.transports) if (t instanceof ReopenableFileTransport) t.reopen();
}

export function createLogger(opts: LoggerOptions = {}): winston.Logger {
  const secrets = opts.secrets ?? [];
  const scrub = winston.format((info) => {
    info.message = redact(String(info.message), secrets);
    return info;
  });
  const format = (opts.format ?? (process.stderr.isTTY ? 'text' : 'json')) === 'json'
    ? winston.format.combine(scrub(), winston.format.timestamp(), winston.format.json())
    : winston.format.combine(scrub(), winston.format.timestamp(), winston.format.printf((i) => `${String(i.timestamp)} ${i.level.toUpperCase().padEnd(5)} ${String(i.message)}`));
  return winston.createLogger({
    level: opts.level ?? 'info',
    format,
    transports: [
      new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] }),
      ...(opts.file ? [new ReopenableFileTransport(opts.file)] : []),
    ],
  });
}
