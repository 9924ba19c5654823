import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  S3ServiceException,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { buffer } from 'node:stream/consumers';
import { ByteLimit } from './limit.js';
import { LeanS3, type ListedObject } from './s3-lean.js';
import { assertSafeKey, TooLargeError, type ObjectInfo, type ObjectStore, type PutMeta, type PutResult } from './types.js';

export interface S3StoreOptions {
  bucket: string;
  region: string;
  endpoint?: string;
  /** The endpoint browsers reach, for presigned URLs (MinIO behind a different host name, say). */
  publicEndpoint?: string;
  forcePathStyle: boolean;
  prefix: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/**
 * Streams on the lean path go in parts of this size (S3 needs a body's length before its first
 * byte, so a part is held in memory; S3's minimum part is 5 MiB). 6 MiB: most screenshots are one
 * PutObject, and a 100 MB upload holds no more than 6 MiB of it at a time.
 */
export const STREAM_PART_BYTES = 6 * 1024 * 1024;
// The SDK path (lib-storage): 5 MiB (S3's minimum) × 2 in flight bounds an upload's footprint.
const PART_SIZE = 5 * 1024 * 1024;
const QUEUE_SIZE = 2;
const CONNECT_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 60_000;
const MAX_ATTEMPTS = 3;

export interface S3Agents {
  http: http.Agent;
  https: https.Agent;
}

export const s3Agents = (): S3Agents => ({
  http: new http.Agent({ keepAlive: true, maxSockets: 256 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 256 }),
});

/**
 * The S3 client settings Augur uses (also what the ingest benchmark's "direct" baseline uses).
 * Checksums only when an operation requires one: S3 still verifies the signed payload SHA-256, and the
 * default per-request CRC32 (computed in JS) costs CPU on every upload.
 */
export function s3ClientConfig(
  opts: Pick<S3StoreOptions, 'region' | 'endpoint' | 'forcePathStyle' | 'credentials'>,
  agents: S3Agents = s3Agents(),
): S3ClientConfig {
  return {
    region: opts.region,
    endpoint: opts.endpoint,
    forcePathStyle: opts.forcePathStyle,
    credentials: opts.credentials,
    maxAttempts: MAX_ATTEMPTS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: new NodeHttpHandler({
      connectionTimeout: CONNECT_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      httpAgent: agents.http,
      httpsAgent: agents.https,
    }),
  };
}

/** Endpoint settings from the environment that only the SDK's endpoint rules know: leave those to the SDK. */
const sdkOnlyEndpointEnv = (env: NodeJS.ProcessEnv) =>
  Boolean(env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || env.AWS_USE_FIPS_ENDPOINT === 'true' || env.AWS_USE_DUALSTACK_ENDPOINT === 'true');

export class S3ObjectStore implements ObjectStore {
  readonly kind = 's3' as const;
  readonly client: S3Client;
  private readonly publicClient: S3Client;
  private readonly prefix: string;
  /** Undefined when the environment asks for endpoint rules the lean path does not follow. */
  private readonly lean?: LeanS3;

  constructor(private readonly opts: S3StoreOptions) {
    const agents = s3Agents();
    this.client = new S3Client(s3ClientConfig(opts, agents));
    this.publicClient = opts.publicEndpoint ? new S3Client({ ...s3ClientConfig(opts, agents), endpoint: opts.publicEndpoint }) : this.client;
    this.prefix = opts.prefix ? `${opts.prefix.replace(/\/+$/, '')}/` : '';
    if (!sdkOnlyEndpointEnv(process.env)) {
      this.lean = new LeanS3(this.client, {
        bucket: opts.bucket,
        region: opts.region,
        endpoint: opts.endpoint,
        forcePathStyle: opts.forcePathStyle,
        agents,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        maxAttempts: MAX_ATTEMPTS,
      });
    }
  }

  /** Which path put() takes: the lean requests, or the SDK where the environment asks for its endpoint rules (for tests). */
  get putPath(): 'lean' | 'sdk' {
    return this.lean ? 'lean' : 'sdk';
  }

  private key(key: string): string {
    assertSafeKey(key);
    return this.prefix + key;
  }

  async put(key: string, body: Readable | Buffer | string, meta: PutMeta): Promise<PutResult> {
    const Key = this.key(key);
    if (typeof body === 'string' || Buffer.isBuffer(body)) {
      const buf = typeof body === 'string' ? Buffer.from(body) : body;
      if (meta.maxBytes !== undefined && buf.length > meta.maxBytes) throw new TooLargeError(meta.maxBytes);
      if (this.lean) return this.putLean(key, Key, [buf], meta, false);
      const upload = new Upload({ client: this.client, params: { Bucket: this.opts.bucket, Key, Body: buf, ContentType: meta.contentType }, partSize: PART_SIZE, queueSize: QUEUE_SIZE, leavePartsOnError: false });
      const out = await upload.done();
      return { key, size: buf.length, etag: out.ETag };
    }
    if (this.lean) return this.putLean(key, Key, body, meta, true);
    const limit = new ByteLimit(meta.maxBytes);
    body.on('error', (err) => limit.destroy(err));
    body.pipe(limit);
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.opts.bucket, Key, Body: limit, ContentType: meta.contentType },
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
      leavePartsOnError: false,
    });
    // The SDK reads the body with an async iterator; make sure an error upstream ends the upload.
    const failed = new Promise<never>((_, reject) => limit.once('error', reject));
    failed.catch(() => upload.abort().catch(() => undefined));
    const out = await Promise.race([upload.done(), failed]);
    return { key, size: limit.bytes, etag: out.ETag };
  }

  /**
   * A body in parts of STREAM_PART_BYTES, read no further while a part uploads, so a streamed upload
   * holds about one part in memory whatever its size. A body of at most one part is one PutObject
   * of the chunks as they arrived (no copy: most screenshots end there). A longer one is a multipart
   * upload, aborted on any failure, so a failed upload leaves the previous object as it was. A
   * stream's later parts are copied into one reused buffer as they arrive (`copyParts`): the arriving
   * chunks then die young, where chunks held for a whole part would outlive two young-generation
   * collections and wait for a full one (see server/http/reclaim.ts). An in-memory body is cut into
   * views of itself instead.
   */
  private async putLean(key: string, Key: string, body: AsyncIterable<Buffer> | Iterable<Buffer>, meta: PutMeta, copyParts: boolean): Promise<PutResult> {
    const lean = this.lean!;
    let chunks: Buffer[] = [];
    let part: Buffer | undefined;
    let pending = 0;
    let size = 0;
    let uploadId: string | undefined;
    const etags: string[] = [];
    const flush = async (bytes: Buffer[]) => {
      uploadId ??= await lean.createMultipart(Key, meta.contentType);
      etags.push(await lean.uploadPart(Key, uploadId, etags.length + 1, bytes));
      chunks = [];
      pending = 0;
      if (copyParts) part ??= Buffer.allocUnsafe(STREAM_PART_BYTES);
    };
    try {
      for await (const chunk of body) {
        size += chunk.length;
        if (meta.maxBytes !== undefined && size > meta.maxBytes) throw new TooLargeError(meta.maxBytes);
        for (let off = 0; off < chunk.length; ) {
          // A full part goes only once more bytes follow: a body of exactly one part stays one PutObject.
          if (pending === STREAM_PART_BYTES) await flush(part ? [part] : chunks);
          const n = Math.min(STREAM_PART_BYTES - pending, chunk.length - off);
          if (part) chunk.copy(part, pending, off, off + n);
          else chunks.push(n === chunk.length ? chunk : chunk.subarray(off, off + n));
          pending += n;
          off += n;
        }
      }
      const rest = part ? [part.subarray(0, pending)] : chunks;
      let etag: string;
      if (uploadId === undefined) etag = await lean.put(Key, rest, meta.contentType);
      else {
        etags.push(await lean.uploadPart(Key, uploadId, etags.length + 1, rest));
        etag = await lean.completeMultipart(Key, uploadId, etags);
      }
      return { key, size, etag };
    } catch (err) {
      if (uploadId !== undefined) await lean.abortMultipart(Key, uploadId).catch(() => undefined);
      throw err;
    }
  }

  async get(key: string): Promise<{ info: ObjectInfo; body: Readable } | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: this.key(key) }));
      return {
        info: {
          key,
          size: out.ContentLength ?? 0,
          etag: out.ETag ?? '""',
          lastModified: out.LastModified ?? new Date(0),
          contentType: out.ContentType,
        },
        body: out.Body as Readable,
      };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async getBuffer(key: string): Promise<Buffer | undefined> {
    const obj = await this.get(key);
    if (!obj) return undefined;
    return buffer(obj.body);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      if (this.lean) return { key, ...(await this.lean.head(this.key(key))) };
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.opts.bucket, Key: this.key(key) }));
      return { key, size: out.ContentLength ?? 0, etag: out.ETag ?? '""', lastModified: out.LastModified ?? new Date(0), contentType: out.ContentType };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    const full = this.prefix + prefix;
    do {
      const page = this.lean ? await this.lean.listPage(full, token) : await this.sdkListPage(full, token);
      const items = page.items.map((o) => ({ ...o, key: o.key.slice(this.prefix.length) }));
      // S3 lists in UTF-8 binary order already; sorting keeps the contract even on servers that do not.
      items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      yield* items;
      token = page.next;
    } while (token);
  }

  private async sdkListPage(prefix: string, token?: string): Promise<{ items: ListedObject[]; next?: string }> {
    const out = await this.client.send(new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: prefix, ContinuationToken: token }));
    return {
      items: (out.Contents ?? []).map((o) => ({ key: o.Key ?? '', size: o.Size ?? 0, etag: o.ETag ?? '""', lastModified: o.LastModified ?? new Date(0) })),
      next: out.IsTruncated ? out.NextContinuationToken : undefined,
    };
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.opts.bucket, Key: this.key(key) }));
  }

  async presignGet(key: string, ttlSeconds: number, contentType?: string): Promise<string> {
    const cmd = new GetObjectCommand({ Bucket: this.opts.bucket, Key: this.key(key), ResponseContentType: contentType });
    return getSignedUrl(this.publicClient, cmd, { expiresIn: ttlSeconds });
  }

  async ping(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.opts.bucket }));
  }

  async close(): Promise<void> {
    this.client.destroy();
    if (this.publicClient !== this.client) this.publicClient.destroy();
  }
}

function isMissing(err: unknown): boolean {
  if (err instanceof S3ServiceException) return err.$metadata.httpStatusCode === 404 || err.name === 'NoSuchKey' || err.name === 'NotFound';
  return false;
}

