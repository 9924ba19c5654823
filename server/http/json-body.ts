import { createGunzip, createInflate } from 'node:zlib';
import type { Request } from 'express';
import type { Transform } from 'node:stream';
import { ApiError } from '../errors.js';
import { MAX_JSON_DEPTH } from './validator.js';

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Objects with up to this many keys compare their keys' hashes in a list; larger ones switch to a Set of strings. */
const SMALL_OBJECT_KEYS = 12;
/** Strings are walked byte by byte up to this length; longer ones are skipped with indexOf (a native call costs more than a short walk). */
const SHORT_STRING = 48;

export type JsonScanProblem = { problem: 'depth' } | { problem: 'duplicate'; key: string };

/**
 * The keys of one open object: small ones as (hash, start, end) triples into the text (escaped
 * keys as their decoded bytes in `decoded`, start -1 - index), large ones as a Set of strings.
 */
interface KeySet {
  small: number[];
  large?: Set<string>;
}

/**
 * One pass over JSON text, before it is parsed: whether arrays and objects nest deeper than
 * `depthLimit`, and whether an object repeats a key at any depth (JSON.parse would keep the last
 * one silently while the stored bytes keep both: `{"step_index":9,"step_index":8}` would be stored
 * as sent and acted on as 8). Long strings are skipped with indexOf (memchr); keys are compared as
 * their raw bytes, or decoded when they hold an escape (`"a"` and `"\u0061"` are the same key).
 * Malformed text may pass: JSON.parse refuses it next.
 */
export function scanJson(buf: Buffer, depthLimit: number): JsonScanProblem | undefined {
  // One entry per open container: its keys (objects) or null (arrays).
  const stack: Array<KeySet | null> = [];
  const decoded: Buffer[] = [];
  let expectKey = false;
  const n = buf.length;
  for (let i = 0; i < n; i++) {
    const c = buf[i]!;
    if (c === 0x22) {
      const start = i + 1;
      let end = -1;
      let hash = 0x811c9dc5;
      let escaped = false;
      // Short strings: walked here, hashing as we go (FNV-1a).
      const stop = Math.min(n, start + SHORT_STRING);
      for (let j = start; j < stop; j++) {
        const b = buf[j]!;
        if (b === 0x22) {
          end = j;
          break;
        }
        if (b === 0x5c) {
          escaped = true;
          j++;
          continue;
        }
        hash = Math.imul(hash ^ b, 0x01000193);
      }
      if (end < 0) {
        if (stop === n) return undefined; // unterminated: JSON.parse refuses it
        end = buf.indexOf(0x22, stop);
        for (;;) {
          if (end < 0) return undefined;
          let k = end - 1;
          while (k >= start && buf[k] === 0x5c) k--;
          if ((end - 1 - k) % 2 === 0) break; // an even run of backslashes: the quote is not escaped
          end = buf.indexOf(0x22, end + 1);
        }
        if (expectKey) {
          hash = 0x811c9dc5;
          for (let j = start; j < end; j++) {
            if (buf[j] === 0x5c) escaped = true;
            hash = Math.imul(hash ^ buf[j]!, 0x01000193);
          }
        }
      }
      if (expectKey) {
        const keys = stack[stack.length - 1];
        if (keys) {
          let ks = start;
          let ke = end;
          let src = buf;
          if (escaped) {
            const bytes = decodeKey(buf, start, end);
            if (!bytes) return undefined;
            decoded.push(bytes);
            ks = -decoded.length;
            ke = bytes.length;
            src = bytes;
            hash = 0x811c9dc5;
            for (const b of bytes) hash = Math.imul(hash ^ b, 0x01000193);
          }
          if (keys.large) {
            const key = src.toString('latin1', ks < 0 ? 0 : ks, ke);
            if (keys.large.has(key)) return duplicate(Buffer.from(key, 'latin1').toString('utf8'));
            keys.large.add(key);
          } else {
            const small = keys.small;
            for (let k = 0; k < small.length; k += 3) {
              if (small[k] === hash && sameKey(buf, decoded, small[k + 1]!, small[k + 2]!, ks, ke)) return duplicate(keyText(buf, decoded, ks, ke));
            }
            small.push(hash, ks, ke);
            if (small.length > SMALL_OBJECT_KEYS * 3) {
              keys.large = new Set();
              for (let k = 0; k < small.length; k += 3) keys.large.add(keyText(buf, decoded, small[k + 1]!, small[k + 2]!, 'latin1'));
            }
          }
        }
        expectKey = false;
      }
      i = end;
    } else if (c === 0x7b) {
      if (stack.length >= depthLimit) return { problem: 'depth' };
      stack.push({ small: [] });
      expectKey = true;
    } else if (c === 0x5b) {
      if (stack.length >= depthLimit) return { problem: 'depth' };
      stack.push(null);
      expectKey = false;
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c) {
      expectKey = stack.length > 0 && stack[stack.length - 1] !== null;
    }
  }
  return undefined;
}

/** A key holding an escape, as the UTF-8 bytes of what it means. */
function decodeKey(buf: Buffer, start: number, end: number): Buffer | undefined {
  try {
    return Buffer.from(JSON.parse(buf.toString('utf8', start - 1, end + 1)) as string, 'utf8');
  } catch {
    return undefined;
  }
}

/** A key's bytes: a range of the text, or (start < 0) one of the decoded keys. */
function keyBytes(buf: Buffer, decoded: Buffer[], start: number, end: number): Buffer {
  return start < 0 ? decoded[-start - 1]!.subarray(0, end) : buf.subarray(start, end);
}

function sameKey(buf: Buffer, decoded: Buffer[], s1: number, e1: number, s2: number, e2: number): boolean {
  return keyBytes(buf, decoded, s1, e1).equals(keyBytes(buf, decoded, s2, e2));
}

function keyText(buf: Buffer, decoded: Buffer[], start: number, end: number, encoding: 'utf8' | 'latin1' = 'utf8'): string {
  return keyBytes(buf, decoded, start, end).toString(encoding);
}

const duplicate = (key: string): JsonScanProblem => ({ problem: 'duplicate', key });

/** Whether JSON text nests arrays and objects deeper than `limit` (see scanJson). */
export function nestingExceeds(buf: Buffer, limit: number): boolean {
  return scanJson(buf, limit)?.problem === 'depth';
}

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
 * on the decompressed size (else 413, without inflating past the limit), bounded nesting (else
 * 422), malformed JSON 400. Keeps the raw bytes on req.rawBody so documents are stored verbatim.
 * Written by hand because it is on every ingest request: a generic body parser costs more CPU.
 */
export async function readJsonBody(req: Request, limit: number): Promise<unknown> {
  if (!hasBody(req)) return undefined;
  if (!isJson(req)) throw new ApiError('unsupported_media_type', `Send the body as application/json (got ${req.get('content-type') ?? 'no Content-Type'})`);
  const declared = Number(req.headers['content-length'] ?? NaN);
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  let decoder: Transform | undefined;
  if (encoding === 'gzip' || encoding === 'x-gzip') decoder = createGunzip();
  else if (encoding === 'deflate') decoder = createInflate();
  else if (encoding !== 'identity') throw new ApiError('unsupported_media_type', `Unsupported Content-Encoding ${encoding} (use gzip, deflate or none)`);
  if (!decoder && declared > limit) {
    req.resume();
    throw tooLarge(limit);
  }
  const raw = await collect(req, decoder, limit);
  req.rawBody = raw;
  let text: string;
  try {
    text = UTF8.decode(raw);
  } catch {
    // One rule for every route: bytes that are not UTF-8 are refused, never stored or rewritten.
    throw new ApiError('malformed_json', 'Request body is not valid UTF-8');
  }
  // Refused before parsing: a deep body never gets to allocate its tree, and a repeated key is
  // refused on every route alike (one rule: the stored bytes and the parsed value must agree).
  const problem = scanJson(raw, MAX_JSON_DEPTH);
  if (problem?.problem === 'depth') {
    throw new ApiError('validation_failed', `JSON nested deeper than ${MAX_JSON_DEPTH} levels`, {
      errors: [{ loc: ['body'], msg: `nesting deeper than ${MAX_JSON_DEPTH}`, type: 'depth' }],
    });
  }
  if (problem?.problem === 'duplicate') {
    throw new ApiError('malformed_json', `Request body repeats the key ${JSON.stringify(problem.key.slice(0, 100))} in one object (every key must be unique)`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ApiError('malformed_json', 'Request body is not valid JSON');
  }
}

const tooLarge = (limit: number) => new ApiError('payload_too_large', `Request body too large (limit ${limit} bytes)`);

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
