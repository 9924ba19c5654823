import { finished, type Readable } from 'node:stream';
import { S3ServiceException } from '@aws-sdk/client-s3';
import { readAll } from './read-all.js';
import { LeanS3 } from './s3-lean.js';
import { assertSafeKey, TooLargeError, type ObjectInfo, type ObjectStore, type ObjectStoreConfig, type PutMeta, type PutResult } from './types.js';

/** The s3 driver's config; `driver` may be left out when the store is built directly. */
export type S3StoreOptions = Omit<Extract<ObjectStoreConfig, { driver: 's3' }>, 'driver'> & { driver?: 's3' };

/**
 * A body goes in parts of this size (S3 needs a body's length before its first byte, so a part is
 * held in memory; S3's minimum part is 5 MiB). 6 MiB: most screenshots are one PutObject, and a
 * 100 MB upload holds no more than one part of it at a time.
 */
export const STREAM_PART_BYTES = 6 * 1024 * 1024;
/** Part buffers the store keeps between uploads (their pages stay resident: at most 4 × 6 MiB). */
const IDLE_PARTS = 4;

/** Objects in one S3 bucket (under a key prefix), every request made by the lean signed client. */
export class S3ObjectStore implements ObjectStore {
  readonly kind = 's3' as const;
  private readonly s3: LeanS3;
  private readonly prefix: string;
  private readonly idleParts: Buffer[] = [];

  constructor(private readonly opts: S3StoreOptions) {
    this.s3 = new LeanS3({ ...opts, stepTimeoutMs: opts.timeoutMs ?? 5_000, maxAttempts: 3 });
    this.prefix = opts.prefix ? `${opts.prefix.replace(/\/+$/, '')}/` : '';
  }

  private key(key: string): string {
    assertSafeKey(key);
    return this.prefix + key;
  }

  async put(key: string, body: Readable | Buffer | string, meta: PutMeta): Promise<PutResult> {
    const Key = this.key(key);
    if (typeof body !== 'string' && !Buffer.isBuffer(body)) return this.putStream(key, Key, body, meta);
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    if (meta.maxBytes !== undefined && buf.length > meta.maxBytes) throw new TooLargeError(meta.maxBytes);
    if (buf.length <= STREAM_PART_BYTES) return { key, size: buf.length, etag: await this.s3.put(Key, buf, meta.contentType) };
    // Longer than a part: a multipart upload of views of the buffer itself.
    return this.multipart(key, Key, meta, async (send) => {
      for (let off = 0; off < buf.length; off += STREAM_PART_BYTES) await send([buf.subarray(off, Math.min(buf.length, off + STREAM_PART_BYTES))]);
      return buf.length;
    });
  }

  /**
   * A stream in parts of STREAM_PART_BYTES, copied as it arrives into one part buffer that every
   * part of the upload reuses, taken from a small pool kept by the store. Nothing more is read while
   * a part uploads (the stream is paused, so the socket's own flow control holds the
   * client back): an upload holds one part in memory whatever its size, and each arriving chunk is
   * garbage at once, while it is young and cheap to collect (held until its part was sent, the
   * chunks of a 5 MB screenshot outlived young collections and cost full ones). A body of at most
   * one part is one PutObject; a longer one is a multipart upload.
   */
  private putStream(key: string, Key: string, body: Readable, meta: PutMeta): Promise<PutResult> {
    const part = this.idleParts.pop() ?? Buffer.allocUnsafeSlow(STREAM_PART_BYTES);
    let pending = 0;
    let size = 0;
    let uploadId: string | undefined;
    const etags: string[] = [];
    const sendPart = async () => {
      uploadId ??= await this.s3.createMultipart(Key, meta.contentType);
      etags.push(await this.s3.uploadPart(Key, uploadId, etags.length + 1, part.subarray(0, pending)));
      pending = 0;
    };
    // Read with 'data' events rather than an async iterator: behind the PNG check's Transform, the
    // iterator's promise and 'readable' round per chunk cost more than copying the chunk did.
    return new Promise<PutResult>((resolve, reject) => {
      let settled = false;
      /** The part upload in progress, and the copy after it. */
      let sending: Promise<void> | undefined;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        body.off('data', onData);
        body.destroy(); // a stream read no further is destroyed, as for-await does
        // The part is dropped, not pooled: a request that failed mid-send may still hold it.
        const aborted = uploadId !== undefined ? this.s3.abortMultipart(Key, uploadId).catch(() => undefined) : Promise.resolve();
        void aborted.then(() => reject(err));
      };
      /**
       * Copies `chunk` from `off` on; true once it is all in the part. A full part goes only once
       * more bytes follow (a body of exactly one part stays one PutObject); while it uploads nothing
       * more is read (the socket's flow control holds the client back), and the rest of the chunk
       * is copied after it (false).
       */
      const copy = (chunk: Buffer, off: number): boolean => {
        while (off < chunk.length) {
          if (pending === STREAM_PART_BYTES) {
            body.pause();
            sending = sendPart().then(() => {
              if (!settled && copy(chunk, off)) body.resume();
            });
            sending.catch(fail);
            return false;
          }
          const n = chunk.copy(part, pending, off);
          pending += n;
          off += n;
        }
        return true;
      };
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (meta.maxBytes !== undefined && size > meta.maxBytes) return fail(new TooLargeError(meta.maxBytes));
        copy(chunk, 0);
      };
      const finish = async () => {
        // The stream may end while its last part uploads: the rest of that chunk goes in first.
        // (A part sent from inside that copy replaces `sending`: wait until it stays the same.)
        for (let s = sending; s; ) {
          await s;
          s = s === sending ? undefined : sending;
        }
        let etag: string;
        if (uploadId === undefined) etag = await this.s3.put(Key, part.subarray(0, pending), meta.contentType);
        else {
          await sendPart();
          etag = await this.s3.completeMultipart(Key, uploadId, etags);
        }
        return etag;
      };
      body.on('data', onData);
      // finished() reports an error, or a stream closed before its end, as the error it is.
      finished(body, (err) => {
        if (err) return fail(err);
        if (settled) return;
        finish().then((etag) => {
          if (settled) return;
          settled = true;
          if (this.idleParts.length < IDLE_PARTS) this.idleParts.push(part);
          resolve({ key, size, etag });
        }, fail);
      });
    });
  }

  /**
   * One multipart upload: `fill` sends the parts in order through `send` and resolves with the byte
   * count. Any failure aborts the upload, so a failed put leaves the previous object as it was.
   */
  private async multipart(
    key: string,
    Key: string,
    meta: PutMeta,
    fill: (send: (part: Buffer[]) => Promise<void>) => Promise<number>,
  ): Promise<PutResult> {
    const uploadId = await this.s3.createMultipart(Key, meta.contentType);
    const etags: string[] = [];
    try {
      const size = await fill(async (part) => {
        etags.push(await this.s3.uploadPart(Key, uploadId, etags.length + 1, part));
      });
      return { key, size, etag: await this.s3.completeMultipart(Key, uploadId, etags) };
    } catch (err) {
      await this.s3.abortMultipart(Key, uploadId).catch(() => undefined);
      throw err;
    }
  }

  async get(key: string, idleMs?: number): Promise<{ info: ObjectInfo; body: Readable } | undefined> {
    try {
      const { info, body } = await this.s3.get(this.key(key), idleMs);
      return { info: { key, ...info }, body };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async getBuffer(key: string): Promise<Buffer | undefined> {
    // Read here at once, so the body may idle no longer than one step.
    const obj = await this.get(key, this.opts.timeoutMs ?? 5_000);
    return obj ? readAll(obj.body) : undefined;
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      return { key, ...(await this.s3.head(this.key(key))) };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    const full = this.prefix + prefix;
    do {
      const page = await this.s3.listPage(full, token);
      const items = page.items.map((o) => ({ ...o, key: o.key.slice(this.prefix.length) }));
      // S3 lists in UTF-8 binary order already; sorting keeps the contract even on servers that do not.
      items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      yield* items;
      token = page.next;
    } while (token);
  }

  async delete(key: string): Promise<void> {
    await this.s3.delete(this.key(key));
  }

  presignGet(key: string, ttlSeconds: number, contentType?: string): Promise<string> {
    return this.s3.presignGet(this.key(key), ttlSeconds, { endpoint: this.opts.publicEndpoint, contentType });
  }

  async ping(): Promise<void> {
    await this.s3.headBucket();
  }

  async close(): Promise<void> {
    this.s3.close();
  }
}

function isMissing(err: unknown): boolean {
  return err instanceof S3ServiceException && (err.$metadata.httpStatusCode === 404 || err.name === 'NoSuchKey' || err.name === 'NotFound');
}
