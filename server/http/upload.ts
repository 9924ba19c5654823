import { Transform, type TransformCallback } from 'node:stream';
import { crc32 } from 'node:zlib';
import type { Request, RequestHandler } from 'express';
import multer, { MulterError, type StorageEngine } from 'multer';
import type { ObjectStore } from '../../storage/objects/index.js';
import { TooLargeError } from '../../storage/objects/index.js';
import { ApiError } from '../errors.js';
import type { UploadMemory } from './upload-memory.js';
import type { FrameCapture } from '../services/diagnostics/fresh-frames.js';

/**
 * Screenshot uploads: multipart parsed by multer, the `image` part streamed straight into the
 * object store through a custom StorageEngine (never buffered whole). The part must be declared
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

/**
 * A multer StorageEngine that streams the file into ObjectStore.put. The stores write atomically
 * (temp file + rename, or one S3 object/multipart upload completed only at the end), so a rejected,
 * oversized or aborted upload leaves the previous object as it was; this engine never deletes.
 */
export class PngObjectStorage implements StorageEngine {
  constructor(private readonly opts: PngStorageOptions) {}

  _handleFile(req: Request, file: Express.Multer.File, cb: (error?: unknown, info?: Partial<Express.Multer.File>) => void): void {
    if (file.mimetype !== 'image/png') {
      file.stream.resume();
      return cb(new ApiError('unsupported_media_type', `Screenshot rejected: the image part is ${file.mimetype}, expected image/png`));
    }
    let key: string;
    try {
      key = this.opts.key(req);
    } catch (err) {
      file.stream.resume();
      return cb(err);
    }
    let clientFault = false;
    const capture = this.opts.capture?.(req);
    const check = new PngHeadCheck(this.opts.memory, capture);
    // pipe() forwards data, not errors: an aborted request must fail the write.
    file.stream.once('error', (err) => {
      clientFault = true;
      check.destroy(err);
    });
    check.once('error', () => {
      clientFault = true;
      file.stream.unpipe(check);
      file.stream.resume();
    });
    file.stream.pipe(check);
    const active = this.opts.active;
    active?.inc();
    this.opts.objects.put(key, check, { contentType: 'image/png', maxBytes: this.opts.maxBytes }).then(
      (info) => {
        active?.dec();
        // Without an ETag the stored frame cannot be named: it is read back when needed.
        if (info.etag) capture?.done(key, info.etag);
        else capture?.drop();
        cb(null, { size: info.size, path: key, ...(info.etag ? { etag: info.etag } : {}) } as Partial<Express.Multer.File>);
      },
      (err: unknown) => {
        active?.dec();
        capture?.drop();
        if (!clientFault && !(err instanceof TooLargeError) && !(err instanceof ApiError) && err && typeof err === 'object') serverFaults.add(err);
        cb(err);
      },
    );
  }

  /** Never deletes: a stored object is already the new version, and deleting would lose the old one. */
  _removeFile(_req: Request, _file: Express.Multer.File, cb: (error: Error | null) => void): void {
    cb(null);
  }
}

/** The ETag the object store gave the stored file, when it gave one (S3 does; the file store does not). */
export const storedEtag = (file: Express.Multer.File): string | undefined => (file as { etag?: string }).etag;

/** 415 unless the body is multipart/form-data (multer silently skips other bodies). */
export const requireMultipart: RequestHandler = (req, _res, next) => {
  if (!req.is('multipart/form-data')) {
    throw new ApiError('unsupported_media_type', `Send the screenshot as multipart/form-data with an image part (got ${req.get('content-type') ?? 'no Content-Type'})`);
  }
  next();
};

/**
 * multer for one `image` file part. Its limits keep the rest of the form tiny. Parser errors
 * (a malformed body, a client that went away) are the client's: 400 bad_request. Limit errors are
 * MulterErrors (413 for the file size, 422 otherwise); store failures stay 5xx.
 */
export function pngUpload(opts: PngStorageOptions): RequestHandler {
  const upload = multer({
    storage: new PngObjectStorage(opts),
    limits: { fileSize: opts.maxBytes, files: 1, fields: 8, parts: 10, fieldSize: 64 * 1024, fieldNameSize: 100, headerPairs: 20 },
  }).single('image');
  return (req, res, next) => {
    upload(req, res, (err?: unknown) => {
      if (err === undefined || err === null) return next();
      if (err instanceof ApiError || err instanceof MulterError || err instanceof TooLargeError || (typeof err === 'object' && serverFaults.has(err))) return next(err);
      next(new ApiError('bad_request', `Malformed multipart body: ${(err as Error).message ?? String(err)}`));
    });
  };
}
