/**
 * aws-chunked request bodies (x-amz-content-sha256: STREAMING-*), decoded as they stream: each
 * chunk is `hex-size[;chunk-signature=sig]\r\n<data>\r\n`, a 0-size chunk ends the data, and
 * trailer lines (x-amz-checksum-*, x-amz-trailer-signature) may follow up to an empty line.
 * Memory is bounded by the line limits below, whatever the chunk sizes: data passes through while
 * it is hashed, and a chunk whose signature turns out wrong fails the stream, which makes the file
 * writer discard everything written so far (nothing is committed before the stream ends well).
 */
import { createHash, createHmac, timingSafeEqual, type Hash } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import type { V4Signing } from './auth.js';
import { checkChecksumValue, checksumHeader, checksumRequest, ChecksumTap, type StoredChecksum } from './checksums.js';
import { HttpError, headerValue } from './http.js';

export type StreamingMode = 'signed' | 'signed-trailer' | 'unsigned-trailer';

const MODES: Record<string, StreamingMode> = {
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD': 'signed',
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER': 'signed-trailer',
  'STREAMING-UNSIGNED-PAYLOAD-TRAILER': 'unsigned-trailer',
};

/** The mode an x-amz-content-sha256 value names; throws 501 for other STREAMING-* (SigV4a). */
export function streamingMode(contentSha256: string | undefined): StreamingMode | undefined {
  if (contentSha256 === undefined || !contentSha256.startsWith('STREAMING-')) return undefined;
  const m = MODES[contentSha256];
  if (!m) throw new HttpError(501, 'NotImplemented', `x-amz-content-sha256 ${contentSha256} is not supported by the embedded zone`);
  return m;
}

/** A chunk header carries at most a size and one signature; anything longer is not aws-chunked. */
const MAX_LINE = 4096;
const MAX_TRAILER_BYTES = 16 * 1024;
const EMPTY_SHA256 = createHash('sha256').digest('hex');

function framing(msg: string): HttpError {
  return new HttpError(400, 'IncompleteBody', `malformed aws-chunked body: ${msg}`);
}

function badSignature(): HttpError {
  return new HttpError(403, 'SignatureDoesNotMatch', 'The chunk signature we calculated does not match the signature you provided.');
}

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'latin1');
  const y = Buffer.from(b, 'latin1');
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface DecoderOptions {
  mode: StreamingMode;
  /** required for the signed modes */
  signing?: V4Signing;
  /** the decoded body may not grow past this (x-amz-decoded-content-length, or the PUT limit) */
  maxBytes: number;
}

type State = 'size' | 'data' | 'crlf' | 'trailer' | 'done';

export class AwsChunkedDecoder extends Transform {
  /** Trailer headers (lowercase names), complete once the stream has ended. */
  readonly trailers = new Map<string, string>();
  private state: State = 'size';
  private line: Buffer[] = [];
  private lineLen = 0;
  private trailerBytes = 0;
  private remaining = 0;
  private crlfSeen = 0;
  private decoded = 0;
  private chunkSig = '';
  private chunkHash: Hash | undefined;
  private previousSig: string;
  private readonly signed: boolean;
  private readonly trailerLines: string[] = [];

  constructor(private readonly o: DecoderOptions) {
    super();
    this.signed = o.mode !== 'unsigned-trailer';
    if (this.signed && !o.signing) throw new Error('AwsChunkedDecoder: signed modes need the request signing context');
    this.previousSig = o.signing?.seedSignature ?? '';
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.consume(chunk);
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    if (this.state !== 'done') return cb(framing('the body ended before the final chunk and its trailer'));
    cb();
  }

  private consume(buf: Buffer): void {
    let i = 0;
    while (i < buf.length) {
      switch (this.state) {
        case 'size':
        case 'trailer': {
          const nl = buf.indexOf(0x0a, i);
          const end = nl < 0 ? buf.length : nl + 1;
          this.lineLen += end - i;
          if (this.lineLen > MAX_LINE) throw framing('a chunk header or trailer line is too long');
          this.line.push(buf.subarray(i, end));
          i = end;
          if (nl >= 0) this.endLine();
          break;
        }
        case 'data': {
          const n = Math.min(this.remaining, buf.length - i);
          const part = buf.subarray(i, i + n);
          this.chunkHash?.update(part);
          this.push(part);
          this.remaining -= n;
          i += n;
          if (this.remaining === 0) this.state = 'crlf';
          break;
        }
        case 'crlf': {
          const want = this.crlfSeen === 0 ? 0x0d : 0x0a;
          if (buf[i] !== want) throw framing('chunk data is not followed by CRLF');
          i++;
          if (++this.crlfSeen === 2) {
            this.crlfSeen = 0;
            this.endChunk();
            this.state = 'size';
          }
          break;
        }
        case 'done':
          throw framing('data after the end of the body');
      }
    }
  }

  private takeLine(): string {
    const raw = Buffer.concat(this.line, this.lineLen);
    this.line = [];
    this.lineLen = 0;
    if (raw.length < 2 || raw[raw.length - 2] !== 0x0d) throw framing('lines must end with CRLF');
    return raw.subarray(0, raw.length - 2).toString('latin1');
  }

  private endLine(): void {
    const text = this.takeLine();
    if (this.state === 'trailer') return this.trailerLine(text);
    const m = this.signed
      ? /^([0-9a-fA-F]{1,16});chunk-signature=([0-9a-f]{64})$/.exec(text)
      : /^([0-9a-fA-F]{1,16})$/.exec(text);
    if (!m) throw framing(this.signed ? 'expected "hex-size;chunk-signature=..."' : 'expected a hex chunk size');
    const size = parseInt(m[1]!, 16);
    if (!Number.isSafeInteger(size) || this.decoded + size > this.o.maxBytes) throw new HttpError(400, 'IncompleteBody', `the decoded body is larger than ${this.o.maxBytes} bytes`);
    this.decoded += size;
    this.chunkSig = m[2] ?? '';
    this.chunkHash = this.signed ? createHash('sha256') : undefined;
    if (size > 0) {
      this.remaining = size;
      this.state = 'data';
      return;
    }
    // The final chunk: its signature covers the empty data; what follows up to an empty line is the trailer.
    this.endChunk();
    this.state = 'trailer';
  }

  private endChunk(): void {
    if (!this.chunkHash) return;
    const s = this.o.signing!;
    const sts = ['AWS4-HMAC-SHA256-PAYLOAD', s.longDate, s.scope, this.previousSig, EMPTY_SHA256, this.chunkHash.digest('hex')].join('\n');
    const expected = createHmac('sha256', s.signingKey).update(sts, 'utf8').digest('hex');
    if (!sameHex(expected, this.chunkSig)) throw badSignature();
    this.previousSig = this.chunkSig;
    this.chunkHash = undefined;
  }

  private trailerLine(text: string): void {
    if (text === '') return this.endTrailer();
    this.trailerBytes += text.length;
    if (this.trailerBytes > MAX_TRAILER_BYTES) throw framing('the trailer is too long');
    const colon = text.indexOf(':');
    if (colon <= 0) throw framing('a trailer line is not "name:value"');
    const name = text.slice(0, colon).trim().toLowerCase();
    const value = text.slice(colon + 1).trim();
    if (name === 'x-amz-trailer-signature') {
      if (this.o.mode !== 'signed-trailer') throw framing('x-amz-trailer-signature in an unsigned trailer');
      if (this.trailers.has(name)) throw framing('x-amz-trailer-signature twice');
      this.trailers.set(name, value);
      return;
    }
    if (this.trailers.has('x-amz-trailer-signature')) throw framing('trailer lines after x-amz-trailer-signature');
    if (this.trailers.has(name)) throw framing(`trailer ${name} twice`);
    this.trailers.set(name, value);
    this.trailerLines.push(`${name}:${value}\n`);
  }

  private endTrailer(): void {
    const mode = this.o.mode;
    if (mode === 'signed' && this.trailers.size > 0) throw framing('a trailer in a body without one announced');
    if (mode === 'signed-trailer') {
      const sig = this.trailers.get('x-amz-trailer-signature');
      if (sig === undefined || !/^[0-9a-f]{64}$/.test(sig)) throw badSignature();
      this.trailers.delete('x-amz-trailer-signature');
      const s = this.o.signing!;
      const digest = createHash('sha256').update(this.trailerLines.join(''), 'utf8').digest('hex');
      const sts = ['AWS4-HMAC-SHA256-TRAILER', s.longDate, s.scope, this.previousSig, digest].join('\n');
      if (!sameHex(createHmac('sha256', s.signingKey).update(sts, 'utf8').digest('hex'), sig)) throw badSignature();
    }
    this.state = 'done';
  }
}

/** A PUT body ready for the file writer: de-framed and checksummed as the request asks. */
export interface UploadBody {
  body: Readable;
  /** decoded size when the request states it */
  size: number | undefined;
  /** the request headers as the object keeps them: aws-chunked is framing, not a Content-Encoding */
  headers: IncomingHttpHeaders;
  /** the verified checksum, once the body has been written without error */
  checksum(): StoredChecksum | undefined;
}

/** Forwards a failure of `from` to `to` without destroying `from`: the server still answers on its socket. */
function feed(from: IncomingMessage, to: Transform): Transform {
  from.once('error', (e) => to.destroy(e));
  from.once('close', () => {
    if (!from.complete) to.destroy(new Error('the client closed the connection before the body ended'));
  });
  return from.pipe(to);
}

export function uploadBody(req: IncomingMessage, signing: V4Signing | undefined, maxBytes: number): UploadBody {
  const { headers } = req;
  const mode = streamingMode(headerValue(headers, 'x-amz-content-sha256'));
  const want = checksumRequest(headers);
  if (want?.trailer && mode !== 'signed-trailer' && mode !== 'unsigned-trailer') {
    throw new HttpError(400, 'InvalidRequest', 'x-amz-trailer needs an x-amz-content-sha256 of STREAMING-*-TRAILER');
  }
  let size: number | undefined;
  let body: Readable = req;
  let decoder: AwsChunkedDecoder | undefined;
  if (mode === undefined) {
    if (headers['transfer-encoding'] !== undefined && headers['content-length'] === undefined) {
      throw new HttpError(411, 'MissingContentLength', 'PUT needs a Content-Length (or an aws-chunked body with x-amz-decoded-content-length)');
    }
    size = Number(headers['content-length'] ?? 0);
  } else {
    if (mode !== 'unsigned-trailer' && signing === undefined) throw new HttpError(400, 'InvalidRequest', 'a signed aws-chunked body needs SigV4 header authentication');
    const declared = headerValue(headers, 'x-amz-decoded-content-length');
    if (declared !== undefined) {
      if (!/^\d{1,16}$/.test(declared)) throw new HttpError(400, 'InvalidArgument', 'x-amz-decoded-content-length must be a byte count');
      size = Number(declared);
    }
    decoder = new AwsChunkedDecoder({ mode, signing, maxBytes: Math.min(size ?? maxBytes, maxBytes) });
    body = feed(req, decoder);
  }
  if (size !== undefined && size > maxBytes) throw new HttpError(400, 'EntityTooLarge', `a single PUT is at most ${maxBytes} bytes`);
  let tap: ChecksumTap | undefined;
  if (want) {
    const name = checksumHeader(want.algorithm);
    const fromTrailer = (): string | undefined => {
      const v = decoder?.trailers.get(name);
      if (v !== undefined) checkChecksumValue(want.algorithm, v);
      return v;
    };
    tap = new ChecksumTap(want.algorithm, want.trailer ? fromTrailer : () => want.expected);
    body = body === req ? feed(req, tap) : pipeline(body, tap, () => undefined);
  }
  return {
    body, size,
    headers: mode === undefined ? headers : withoutAwsChunked(headers),
    checksum: () => tap?.verified,
  };
}

function withoutAwsChunked(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const ce = headerValue(headers, 'content-encoding');
  if (ce === undefined) return headers;
  const rest = ce.split(',').map((s) => s.trim()).filter((s) => s !== '' && s.toLowerCase() !== 'aws-chunked');
  const out: IncomingHttpHeaders = { ...headers };
  if (rest.length > 0) out['content-encoding'] = rest.join(', ');
  else delete out['content-encoding'];
  return out;
}
