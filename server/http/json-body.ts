import { isAscii, isUtf8 } from 'node:buffer';
import { createGunzip, createInflate } from 'node:zlib';
import type { Request } from 'express';
import type { Transform } from 'node:stream';
import { ApiError } from '../errors.js';
import { ARRAY_COST, DICT_KEY_COST, FAST_KEYS, OBJECT_COST, SHAPE_COST, scanJson } from './json-scan.js';
import { MAX_JSON_DEPTH } from './validator.js';

/** What one JSON body may be: bytes after decompression (AUGUR_MAX_JSON_BYTES), values (AUGUR_MAX_JSON_VALUES, see json-scan.ts). */
export interface JsonBodyLimits {
  bytes: number;
  values: number;
}

const INFLATE_CHUNK = 256 * 1024;
/** Bodies of non-ASCII text over this size are decoded a slice at a time, yielding between slices. */
const DECODE_SLICE = 1 << 20;

export function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/** application/json or application/<x>+json; a charset other than UTF-8 is refused. */
export function isJson(req: Request): boolean {
  const type = req.headers['content-type'];
  if (!type) return false;
  const semi = type.indexOf(';');
  const mime = (semi < 0 ? type : type.slice(0, semi)).trim().toLowerCase();
  if (mime !== 'application/json' && !(mime.startsWith('application/') && mime.endsWith('+json'))) return false;
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(type)?.[1]?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new ApiError('unsupported_media_type', `Unsupported charset ${charset} (send UTF-8 JSON)`);
  }
  return true;
}

/**
 * Reads a JSON body: only JSON content types (else 415), gzip/deflate accepted with the same limit
 * on the decompressed size (else 413, without inflating past the limit), UTF-8 only (else 400),
 * bounded nesting (else 422), no repeated key (else 400), at most `limits.values` values (else 413,
 * see json-scan.ts), malformed JSON 400. Keeps the raw bytes on req.rawBody so documents are
 * stored verbatim. Written by hand because it is on every ingest request: a generic body parser
 * costs more CPU.
 */
export async function readJsonBody(req: Request, limits: JsonBodyLimits, elementsOf?: string): Promise<unknown> {
  if (!hasBody(req)) return undefined;
  if (!isJson(req)) throw new ApiError('unsupported_media_type', `Send the body as application/json (got ${req.get('content-type') ?? 'no Content-Type'})`);
  const declared = Number(req.headers['content-length'] ?? NaN);
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  let decoder: Transform | undefined;
  // Inflated in pieces of INFLATE_CHUNK: zlib's default 16 KiB made 1,024 callbacks on the event loop for 16 MiB.
  if (encoding === 'gzip' || encoding === 'x-gzip') decoder = createGunzip({ chunkSize: INFLATE_CHUNK });
  else if (encoding === 'deflate') decoder = createInflate({ chunkSize: INFLATE_CHUNK });
  else if (encoding !== 'identity') throw new ApiError('unsupported_media_type', `Unsupported Content-Encoding ${encoding} (use gzip, deflate or none)`);
  if (!decoder && declared > limits.bytes) {
    req.resume();
    throw tooLarge(limits.bytes);
  }
  const raw = await collect(req, decoder, limits.bytes);
  req.rawBody = raw;
  // Refused before decoding or parsing, so none of it is built: a deep body, a repeated key (one
  // rule on every route: the stored bytes and the parsed value must agree), a body whose parse
  // would hold the event loop too long.
  const { problem, elements } = scanJson(raw, { depth: MAX_JSON_DEPTH, values: limits.values, elementsOf });
  req.bodyElements = elements;
  if (problem?.problem === 'depth') {
    throw new ApiError('validation_failed', `JSON nested deeper than ${MAX_JSON_DEPTH} levels`, {
      errors: [{ loc: ['body'], msg: `nesting deeper than ${MAX_JSON_DEPTH}`, type: 'depth' }],
    });
  }
  if (problem?.problem === 'duplicate') {
    throw new ApiError('malformed_json', `Request body repeats the key ${JSON.stringify(problem.key.slice(0, 100))} in one object (every key must be unique)`);
  }
  if (problem?.problem === 'values') throw tooManyValues(limits.values);
  const text = await decodeUtf8(raw);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ApiError('malformed_json', 'Request body is not valid JSON');
  }
}

const tooLarge = (limit: number) => new ApiError('payload_too_large', `Request body too large (limit ${limit} bytes)`);

export const tooManyValues = (limit: number) =>
  new ApiError(
    'payload_too_large',
    `Request body holds too many JSON values (limit ${limit}, counted before parsing: each value and key one, an object ${OBJECT_COST}, an array ${ARRAY_COST}, an object layout first seen ${1 + SHAPE_COST}, a key past an object's ${FAST_KEYS}th ${DICT_KEY_COST}); send less in one body`,
  );

/**
 * The body as text. Bytes that are not UTF-8 are refused (400) on every route, never stored or
 * rewritten; a leading byte-order mark is dropped. ASCII (nearly every body) is decoded at once
 * (~1 ns a byte). Other text costs ~6 ns a byte, so a large body of it is decoded a slice at a
 * time, yielding to the event loop between slices, and the slices joined into one flat string
 * (16 MiB decoded at once held the loop ~100 ms; JSON.parse of a string built by `+=` flattened it
 * for another 30–100 ms).
 */
async function decodeUtf8(raw: Buffer): Promise<string> {
  if (!isUtf8(raw)) throw new ApiError('malformed_json', 'Request body is not valid UTF-8');
  const from = raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf ? 3 : 0;
  if (raw.length - from <= DECODE_SLICE || isAscii(raw)) return raw.toString('utf8', from);
  const pieces: string[] = [];
  for (let at = from; at < raw.length; ) {
    let end = Math.min(raw.length, at + DECODE_SLICE);
    while (end < raw.length && (raw[end]! & 0xc0) === 0x80) end++; // never split a character
    if (pieces.length) await yieldToLoop();
    pieces.push(raw.toString('utf8', at, end));
    at = end;
  }
  return pieces.join('');
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

function collect(req: Request, decoder: Transform | undefined, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const source = decoder ?? req;
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      if (decoder) {
        req.unpipe(decoder);
        decoder.destroy();
      }
      req.resume(); // drain what is left so the connection can answer
      reject(err);
    };
    source.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) return fail(tooLarge(limit));
      chunks.push(c);
    });
    source.once('end', () => {
      if (done) return;
      done = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    source.once('error', () => fail(new ApiError('bad_request', decoder ? 'Request body is not valid gzip/deflate data' : 'Request body could not be read')));
    req.once('aborted', () => fail(new ApiError('bad_request', 'Request aborted by the client')));
    if (decoder) {
      req.once('error', () => fail(new ApiError('bad_request', 'Request body could not be read')));
      req.pipe(decoder);
    }
  });
}
