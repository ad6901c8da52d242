/**
 * Object bytes on disk. Every object version is its own file with a random name, written to tmp/,
 * fsynced, then renamed into objects/ before the index points at it: a crash leaves either the old
 * file (still indexed) or an orphan (removed at start), never a torn object. Keys never become
 * paths, so no key can reach outside the data dir.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * `inline`: the body of a small object, kept in the index database with the object's row instead
 * of a file (one fsync for the commit, shared by a group of writes, instead of three per object).
 */
/** `sha256` only when the writer asked for it (a signed payload to check): hashing costs as much as the write. */
export interface WrittenFile { file: string; size: number; md5: string; sha256?: string; inline?: Buffer }

/** Bodies up to this size are kept inline (in SQLite). */
export const INLINE_MAX_BYTES = 128 * 1024;
const INLINE_PREFIX = 'inline:';

export function isInlineFile(file: string): boolean {
  return file.startsWith(INLINE_PREFIX);
}

export class ObjectFiles {
  readonly objectsDir: string;
  readonly tmpDir: string;

  /** `inlineBody`: where committed inline bodies are read from (the store). */
  constructor(dataDir: string, private readonly inlineBody: (file: string) => Buffer | undefined = () => undefined) {
    this.objectsDir = join(dataDir, 'objects');
    this.tmpDir = join(dataDir, 'tmp');
  }

  async init(): Promise<void> {
    await mkdir(this.objectsDir, { recursive: true });
    await rm(this.tmpDir, { recursive: true, force: true });
    await mkdir(this.tmpDir, { recursive: true });
  }

  /** Files are spread over 256 directories so no directory grows without bound. */
  path(file: string): string {
    return join(this.objectsDir, file.slice(0, 2), file);
  }

  /**
   * Streams a body into a durable file. Rejects (and leaves nothing behind) when the stream fails
   * or when its length differs from `expectedSize`.
   */
  async write(body: Readable, expectedSize?: number, o: { sha256?: boolean } = {}): Promise<WrittenFile> {
    if (expectedSize !== undefined && expectedSize <= INLINE_MAX_BYTES) return this.receiveInline(body, expectedSize, o.sha256 === true);
    const file = randomUUID().replace(/-/g, '');
    const tmp = join(this.tmpDir, file);
    const md5 = createHash('md5');
    const sha = o.sha256 ? createHash('sha256') : undefined;
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        md5.update(chunk);
        sha?.update(chunk);
        cb(null, chunk);
      },
    });
    try {
      await pipeline(body, tap, createWriteStream(tmp, { flags: 'wx' }));
      if (expectedSize !== undefined && size !== expectedSize) {
        throw new Error(`body was ${size} bytes, expected ${expectedSize}`);
      }
      const fh = await open(tmp, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      const dir = join(this.objectsDir, file.slice(0, 2));
      await mkdir(dir, { recursive: true });
      await rename(tmp, this.path(file));
      await syncDir(dir);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    return { file, size, md5: md5.digest('hex'), ...(sha ? { sha256: sha.digest('hex') } : {}) };
  }

  /** A small body in memory, to be committed with its row (the commit makes it durable). */
  private async receiveInline(body: Readable, expectedSize: number, sha256: boolean): Promise<WrittenFile> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > expectedSize) throw new Error(`body was more than ${expectedSize} bytes`);
      chunks.push(chunk);
    }
    if (size !== expectedSize) throw new Error(`body was ${size} bytes, expected ${expectedSize}`);
    const data = Buffer.concat(chunks, size);
    return {
      file: `${INLINE_PREFIX}${randomUUID().replace(/-/g, '')}`, size, inline: data,
      md5: createHash('md5').update(data).digest('hex'), ...(sha256 ? { sha256: createHash('sha256').update(data).digest('hex') } : {}),
    };
  }

  /** The body of a committed object; an inline body is read at once, a file as it streams. */
  read(file: string, range?: { start: number; end: number }): Readable {
    if (isInlineFile(file)) {
      const data = this.inlineBody(file);
      if (!data) return Readable.from((async function* () { throw new Error(`inline body ${file} is missing`); })());
      return Readable.from([range ? data.subarray(range.start, range.end + 1) : data]);
    }
    return createReadStream(this.path(file), range ? { start: range.start, end: range.end } : {});
  }

  /** Removes a file; inline bodies go with their row in the store's transaction, so nothing to do. */
  async remove(file: string | undefined): Promise<void> {
    if (!file || isInlineFile(file)) return;
    await unlink(this.path(file)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }

  /** Deletes files the index does not name: left by a crash between rename and commit. */
  async removeOrphans(indexed: Set<string>): Promise<number> {
    let removed = 0;
    for (const sub of await readdir(this.objectsDir)) {
      for (const f of await readdir(join(this.objectsDir, sub))) {
        if (!indexed.has(f)) {
          await rm(join(this.objectsDir, sub, f), { force: true });
          removed++;
        }
      }
    }
    return removed;
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
