/**
 * S3 additional checksums (x-amz-checksum-*): which one a PUT asks for, computing it over the body
 * as it streams, and checking it against the value sent in a header or in the aws-chunked trailer.
 */
import { createHash, type Hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { crc32 } from 'node:zlib';
import { Crc32c, crc32c as crc32cOf } from '@aws-crypto/crc32c';
import { HttpError, headerValue } from './http.js';

export const CHECKSUM_ALGORITHMS = ['crc32', 'crc32c', 'sha1', 'sha256'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];
/** Stored with the object: the value as S3 shows it (base64 of the big-endian digest). */
export interface StoredChecksum { algorithm: ChecksumAlgorithm; value: string }

export function checksumHeader(a: ChecksumAlgorithm): string {
  return `x-amz-checksum-${a}`;
}

function isAlgorithm(s: string): s is ChecksumAlgorithm {
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(s);
}

/** CRC-32C (Castagnoli) of one buffer, from the maintained @aws-crypto/crc32c. */
export function crc32c(data: Uint8Array): number {
  return crc32cOf(data);
}

/** One running checksum over a body. */
export class BodyChecksum {
  private crc = 0;
  private readonly hash: Hash | undefined;
  private readonly castagnoli: Crc32c | undefined;
  constructor(readonly algorithm: ChecksumAlgorithm) {
    this.hash = algorithm === 'sha1' || algorithm === 'sha256' ? createHash(algorithm) : undefined;
    this.castagnoli = algorithm === 'crc32c' ? new Crc32c() : undefined;
  }
  update(b: Buffer): void {
    if (this.hash) this.hash.update(b);
    else if (this.castagnoli) this.castagnoli.update(b);
    else this.crc = crc32(b, this.crc);
  }
  /** base64, as the x-amz-checksum-* headers carry it */
  digest(): string {
    if (this.hash) return this.hash.digest('base64');
    const out = Buffer.alloc(4);
    out.writeUInt32BE((this.castagnoli ? this.castagnoli.digest() : this.crc) >>> 0);
    return out.toString('base64');
  }
}

/**
 * What a PUT asks to be checked: the algorithm, and the expected value when a header carries it.
 * When the value is to come in the aws-chunked trailer, `trailer` is true and it is read later.
 */
export interface ChecksumRequest { algorithm: ChecksumAlgorithm; expected?: string; trailer: boolean }

const DIGEST_BYTES: Record<ChecksumAlgorithm, number> = { crc32: 4, crc32c: 4, sha1: 20, sha256: 32 };

export function checkChecksumValue(a: ChecksumAlgorithm, value: string): void {
  const raw = Buffer.from(value, 'base64');
  if (raw.length !== DIGEST_BYTES[a] || raw.toString('base64') !== value) {
    throw new HttpError(400, 'InvalidRequest', `Value for ${checksumHeader(a)} is not a base64 ${a} digest`);
  }
}

/** Reads x-amz-checksum-* and x-amz-trailer; throws 400 for what S3 refuses. */
export function checksumRequest(headers: IncomingHttpHeaders): ChecksumRequest | undefined {
  const named = Object.keys(headers).filter((h) => h.startsWith('x-amz-checksum-') && h !== 'x-amz-checksum-mode' && h !== 'x-amz-checksum-type' && h !== 'x-amz-checksum-algorithm');
  const trailerHdr = headerValue(headers, 'x-amz-trailer');
  const trailers = trailerHdr === undefined ? [] : trailerHdr.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  const inTrailer = trailers.filter((t) => t.startsWith('x-amz-checksum-'));
  if (named.length + inTrailer.length > 1) throw new HttpError(400, 'InvalidRequest', 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
  const name = named[0] ?? inTrailer[0];
  if (name === undefined) return undefined;
  const algo = name.slice('x-amz-checksum-'.length);
  if (!isAlgorithm(algo)) throw new HttpError(400, 'InvalidRequest', `${name} is not supported; the embedded zone checks ${CHECKSUM_ALGORITHMS.join(', ')}`);
  if (named.length === 1) {
    const expected = headerValue(headers, name) ?? '';
    checkChecksumValue(algo, expected);
    return { algorithm: algo, expected, trailer: false };
  }
  return { algorithm: algo, trailer: true };
}

/**
 * Passes the body through while computing the checksum, and fails the stream with BadDigest at
 * its end when the value differs: the file writer then discards the upload. `expected` is asked
 * for at the end, because a trailer value is known only once the framing before it is decoded.
 */
export class ChecksumTap extends Transform {
  private readonly sum: BodyChecksum;
  /** Set once the body ended and matched. */
  verified: StoredChecksum | undefined;

  constructor(algorithm: ChecksumAlgorithm, private readonly expected: () => string | undefined) {
    super();
    this.sum = new BodyChecksum(algorithm);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.sum.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const a = this.sum.algorithm;
    let want: string | undefined;
    try {
      want = this.expected();
    } catch (e) {
      return cb(e as Error);
    }
    if (want === undefined) return cb(new HttpError(400, 'InvalidRequest', `${checksumHeader(a)} was announced in x-amz-trailer but not sent`));
    const got = this.sum.digest();
    if (got !== want) return cb(new HttpError(400, 'BadDigest', `The ${a.toUpperCase()} you specified did not match the calculated checksum.`));
    this.verified = { algorithm: a, value: got };
    cb();
  }
}
