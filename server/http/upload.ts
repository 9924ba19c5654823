import { AsyncResource } from 'node:async_hooks';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { crc32 } from 'node:zlib';
import type { Request, RequestHandler } from 'express';
import { Busboy, type BusboyHeaders } from '@fastify/busboy';
import type { ObjectStore } from '../../storage/objects/index.js';
import { TooLargeError } from '../../storage/objects/index.js';
import { ApiError } from '../errors.js';
import type { UploadMemory } from './upload-memory.js';
import type { FrameCapture } from '../services/diagnostics/fresh-frames.js';

/**
 * Screenshot uploads: the multipart form parsed as it streams (pngUpload), the `image` part
 * streamed straight into the object store (never buffered whole). The part must be declared
 * image/png and its first 33 bytes must be the PNG signature and a sane IHDR chunk, checked as
 * the bytes stream by; anything else is 415 and stores nothing.
 */

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Signature (8) + IHDR length, type, 13 data bytes and CRC (25). */
export const PNG_HEAD_BYTES = 33;
/** Width × height cap: 100 megapixels (a 10,000 × 10,000 screen), far above any real display, far below a decompression bomb. */
export const MAX_PNG_PIXELS = 100_000_000;

/** Allowed bit depths per PNG colour type (PNG spec, table 11.1). */
const BIT_DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

/** Why the first 33 bytes are not a PNG this server accepts, or undefined when they are. */
export function pngHeadProblem(head: Buffer): string | undefined {
  if (head.length < PNG_HEAD_BYTES) return 'file too short to be a PNG';
  if (!head.subarray(0, 8).equals(PNG_SIGNATURE)) return 'not a PNG (signature missing)';
  if (head.readUInt32BE(8) !== 13 || head.toString('latin1', 12, 16) !== 'IHDR') return 'PNG does not start with an IHDR chunk';
  if (crc32(head.subarray(12, 29)) !== head.readUInt32BE(29)) return 'PNG IHDR chunk is corrupt (CRC mismatch)';
  const width = head.readUInt32BE(16);
  const height = head.readUInt32BE(20);
  if (width < 1 || height < 1 || width > 0x7fffffff || height > 0x7fffffff) return `PNG size ${width}×${height} is invalid`;
  if (width * height > MAX_PNG_PIXELS) return `PNG is ${width}×${height} pixels; at most ${MAX_PNG_PIXELS.toLocaleString('en')} pixels are accepted`;
  const [depth, colour, compression, filter, interlace] = [head[24]!, head[25]!, head[26]!, head[27]!, head[28]!];
  if (!BIT_DEPTHS[colour]?.includes(depth)) return `PNG colour type ${colour} with bit depth ${depth} is invalid`;
  if (compression !== 0 || filter !== 0 || interlace > 1) return 'PNG IHDR has an unknown compression, filter or interlace method';
  return undefined;
}

/** Holds back the first 33 bytes until they pass pngHeadProblem, then passes everything through (counted for `memory`). */
export class PngHeadCheck extends Transform {
  private head: Buffer[] = [];
  private headLength = 0;
  private received = 0;
  private checked = false;

  constructor(
    private readonly memory?: UploadMemory,
    /** Also copies what passes into a capture (the diagnostics' fresh frames). */
    private readonly capture?: FrameCapture,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.received += chunk.length;
    this.memory?.count(chunk.length, this.received);
    if (this.checked) {
      this.capture?.write(chunk);
      return cb(null, chunk);
    }
    this.head.push(chunk);
    this.headLength += chunk.length;
    if (this.headLength < PNG_HEAD_BYTES) return cb();
    const all = this.head.length === 1 ? chunk : Buffer.concat(this.head);
    this.head = [];
    const problem = pngHeadProblem(all);
    if (problem) return cb(new ApiError('unsupported_media_type', `Screenshot rejected: ${problem}`));
    this.checked = true;
    this.capture?.write(all);
    cb(null, all);
  }

  override _flush(cb: TransformCallback): void {
    if (this.checked) cb();
    else cb(new ApiError('unsupported_media_type', `Screenshot rejected: ${pngHeadProblem(Buffer.concat(this.head)) ?? 'not a PNG'}`));
  }
}

/** Errors of the store itself (not of the client's upload): they stay 5xx. */
const serverFaults = new WeakSet<object>();

export interface PngStorageOptions {
  objects: ObjectStore;
  maxBytes: number;
  /** The object key for this request's image (from its authenticated tenant and path). */
  key: (req: Request) => string;
  memory?: UploadMemory;
  /** Uploads in progress (the augur_active_uploads gauge): up when the part starts streaming, down when it is stored or failed. */
  active?: { inc(): void; dec(): void };
  /** Where this request's bytes are also copied as they pass (kept once stored, dropped on failure), if anywhere. */
  capture?: (req: Request) => FrameCapture | undefined;
}

/** What the upload stored: the object key, its size and the ETag the object store gave it (both stores do for a streamed put). */
export interface StoredFile {
  path: string;
  size: number;
  etag?: string;
}

const storedFiles = new WeakMap<Request, StoredFile>();
/** The image this request's upload stored; undefined when the form had no `image` file part. */
export const storedFile = (req: Request): StoredFile | undefined => storedFiles.get(req);

/**
 * Streams one image part into ObjectStore.put. The stores write atomically (temp file + rename, or
 * one S3 object/multipart upload completed only at the end), so a rejected, oversized or aborted
 * upload leaves the previous object as it was; nothing here deletes. `stop` ends the part early
 * (the form failed elsewhere): the put then fails and stores nothing.
 */
function storeImage(req: Request, file: Readable, mimetype: string, opts: PngStorageOptions): { stored: Promise<StoredFile>; stop: (err: Error) => void } {
  // Refused before a byte is stored: the part is read and dropped.
  const refused = (err: unknown) => {
    file.resume();
    return { stored: Promise.reject(err), stop: () => undefined };
  };
  if (mimetype !== 'image/png') return refused(new ApiError('unsupported_media_type', `Screenshot rejected: the image part is ${mimetype}, expected image/png`));
  let key: string;
  try {
    key = opts.key(req);
  } catch (err) {
    return refused(err);
  }
  let clientFault = false;
  const capture = opts.capture?.(req);
  const check = new PngHeadCheck(opts.memory, capture);
  // pipe() forwards data, not errors: a part cut short must fail the write.
  file.once('error', (err) => {
    clientFault = true;
    check.destroy(err);
  });
  check.once('error', () => {
    clientFault = true;
    file.unpipe(check);
    file.resume();
  });
  file.pipe(check);
  opts.active?.inc();
  const stored = opts.objects.put(key, check, { contentType: 'image/png', maxBytes: opts.maxBytes }).then(
    (info) => {
      opts.active?.dec();
      // Without an ETag the stored frame cannot be named: it is read back when needed.
      if (info.etag) capture?.done(key, info.etag);
      else capture?.drop();
      return { path: key, size: info.size, ...(info.etag ? { etag: info.etag } : {}) };
    },
    (err: unknown) => {
      opts.active?.dec();
      capture?.drop();
      if (!clientFault && !(err instanceof TooLargeError) && !(err instanceof ApiError) && err && typeof err === 'object') serverFaults.add(err);
      throw err;
    },
  );
  return { stored, stop: (err) => check.destroy(err) };
}

/** 415 unless the body is multipart/form-data. */
export const requireMultipart: RequestHandler = (req, _res, next) => {
  if (!req.is('multipart/form-data')) {
    throw new ApiError('unsupported_media_type', `Send the screenshot as multipart/form-data with an image part (got ${req.get('content-type') ?? 'no Content-Type'})`);
  }
  next();
};

/** The form's limits: one `image` file and a few small fields, nothing else. */
export const FORM_LIMITS = { files: 1, fields: 8, parts: 10, fieldSize: 64 * 1024, fieldNameSize: 100, headerPairs: 20 } as const;

const FORM_PROBLEMS = {
  LIMIT_PART_COUNT: 'Too many parts',
  LIMIT_FILE_COUNT: 'Too many files',
  LIMIT_FIELD_KEY: 'Field name too long',
  LIMIT_FIELD_VALUE: 'Field value too long',
  LIMIT_FIELD_COUNT: 'Too many fields',
  LIMIT_UNEXPECTED_FILE: 'Unexpected file field',
} as const;

/** 422 for a form outside FORM_LIMITS, naming the field. */
function formError(code: keyof typeof FORM_PROBLEMS, field = 'image'): ApiError {
  const msg = FORM_PROBLEMS[code];
  return new ApiError('validation_failed', `Multipart form: ${msg}`, { errors: [{ loc: ['body', field], msg, type: code.toLowerCase() }] });
}

/** Client-side failures (a malformed body, a client that went away) are 400; ours and the limits' keep their own status. */
const classify = (err: unknown): unknown =>
  err instanceof ApiError || err instanceof TooLargeError || (typeof err === 'object' && err !== null && serverFaults.has(err))
    ? err
    : new ApiError('bad_request', `Malformed multipart body: ${(err as Error)?.message ?? String(err)}`);

/**
 * The multipart form of a screenshot upload, parsed by @fastify/busboy (its boundary search is
 * Buffer.indexOf: measured on a 5 MiB upload, busboy's JavaScript search was the server's largest
 * single cost), the `image` part streamed into the object store as it arrives (storeImage). Limits
 * are FORM_LIMITS and maxBytes (413); a form outside them is 422 and a malformed one 400. On any
 * failure the rest of the body is read and dropped before the answer (a client still sending
 * would otherwise see its connection reset instead of the JSON error).
 */
export function pngUpload(opts: PngStorageOptions): RequestHandler {
  return (req, _res, next) => {
    // The form's events come from the request stream: answer in the request's own async context.
    const scope = new AsyncResource('augur.upload');
    let bb: InstanceType<typeof Busboy>;
    try {
      bb = new Busboy({
        headers: req.headers as BusboyHeaders,
        // @fastify/busboy reports a limit once it is exceeded: exactly at it is allowed.
        limits: { ...FORM_LIMITS, fileSize: opts.maxBytes },
      });
    } catch (err) {
      return next(classify(err));
    }
    let failure: unknown;
    let pending = 0;
    let parsed = false;
    let answered = false;
    let stopPart: ((err: Error) => void) | undefined;
    const answer = () => {
      if (answered) return;
      answered = true;
      req.unpipe(bb);
      bb.removeAllListeners();
      bb.on('error', () => undefined);
      const err = failure === undefined ? undefined : classify(failure);
      const go = () => scope.runInAsyncScope(next, null, err);
      if (err !== undefined && req.readable && !req.destroyed) {
        let once = false;
        const drained = () => {
          if (once) return;
          once = true;
          go();
        };
        req.once('end', drained);
        req.once('close', drained);
        req.resume();
        return;
      }
      go();
    };
    const settle = () => {
      if (pending === 0 && (parsed || failure !== undefined)) answer();
    };
    const fail = (err: unknown) => {
      if (failure !== undefined) return;
      failure = err;
      stopPart?.(err instanceof Error ? err : new Error(String(err)));
      settle();
    };
    bb.on('file', (field: string, file: Readable & { truncated?: boolean }, filename: string | undefined, _encoding: string, mimetype: string) => {
      if (failure !== undefined) return file.resume();
      if (field !== 'image') {
        file.resume();
        return fail(formError('LIMIT_UNEXPECTED_FILE', field));
      }
      if (!filename) return file.resume(); // a part without a file name carries no file
      file.once('limit', () => fail(new ApiError('payload_too_large', `Screenshot larger than ${opts.maxBytes} bytes`)));
      const { stored, stop } = storeImage(req, file, mimetype, opts);
      stopPart = stop;
      pending++;
      stored.then(
        (info) => {
          storedFiles.set(req, info);
          stopPart = undefined; // stored: a later close of the request has nothing to stop
          pending--;
          settle();
        },
        (err: unknown) => {
          pending--;
          fail(err);
          settle();
        },
      );
    });
    bb.on('field', (name: string, _value: string, nameTruncated: boolean, valueTruncated: boolean) => {
      if (nameTruncated || name.length > FORM_LIMITS.fieldNameSize) return fail(formError('LIMIT_FIELD_KEY', name.slice(0, FORM_LIMITS.fieldNameSize)));
      if (valueTruncated) fail(formError('LIMIT_FIELD_VALUE', name));
    });
    bb.on('partsLimit', () => fail(formError('LIMIT_PART_COUNT')));
    bb.on('filesLimit', () => fail(formError('LIMIT_FILE_COUNT')));
    bb.on('fieldsLimit', () => fail(formError('LIMIT_FIELD_COUNT')));
    bb.on('error', (err: unknown) => fail(err));
    bb.on('finish', () => {
      parsed = true;
      settle();
    });
    req.on('aborted', () => fail(new Error('Request aborted')));
    req.on('close', () => {
      if (!req.readableEnded) fail(new Error('Request closed'));
    });
    req.pipe(bb);
  };
}
