import { createGunzip, createInflate } from 'node:zlib';
import type { Request } from 'express';
import type { Transform } from 'node:stream';
import { ApiError } from '../errors.js';
import { MAX_JSON_DEPTH } from './validator.js';

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Whether JSON text nests arrays and objects deeper than `limit`: one pass over the bytes, brackets
 * inside strings skipped. Malformed text may pass; JSON.parse refuses it next.
 */
export function nestingExceeds(buf: Buffer, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
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
  // Refused before parsing: a deep body never gets to allocate its tree.
  if (nestingExceeds(raw, MAX_JSON_DEPTH)) {
    throw new ApiError('validation_failed', `JSON nested deeper than ${MAX_JSON_DEPTH} levels`, {
      errors: [{ loc: ['body'], msg: `nesting deeper than ${MAX_JSON_DEPTH}`, type: 'depth' }],
    });
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
