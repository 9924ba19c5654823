import type { Readable } from 'node:stream';

/** Static S3 credentials; without them the AWS default chain is used (env, profile, SSO, IMDS, IRSA). */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** What createObjectStore() opens: files under a root folder, or one S3 (or MinIO, LocalStack) bucket. */
export type ObjectStoreConfig =
  | { driver: 'fs'; root: string }
  | {
      driver: 's3';
      bucket: string;
      /** Unset: AWS (https://s3.{region}.amazonaws.com). */
      endpoint?: string;
      /** The endpoint browsers reach, for presigned URLs (MinIO behind another host name, say). */
      publicEndpoint?: string;
      region: string;
      /** https://host/bucket/key instead of https://bucket.host/key (MinIO, LocalStack). */
      forcePathStyle: boolean;
      /** Key prefix inside the bucket, without slashes at either end ('' for none). */
      prefix: string;
      credentials?: S3Credentials;
      /**
       * Longest wait for one step, ms (default 5,000): connecting, the first byte of an answer, an
       * idle body. One call with its retries gives up after 2 × this.
       */
      timeoutMs?: number;
    };

export interface ObjectInfo {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
  contentType?: string;
}

/** What put() stored; head() gives the rest. */
export interface PutResult {
  key: string;
  size: number;
  /** The new object's ETag, as head() will report it (the file store names it for streamed bodies only: small documents are written without a stat). */
  etag?: string;
}

export interface PutMeta {
  contentType: string;
  /** Refuse (TooLargeError) and store nothing when the body grows past this many bytes. */
  maxBytes?: number;
}

/** Raised by put() when a streamed body exceeds maxBytes; nothing is written. */
export class TooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`object larger than ${limit} bytes`);
  }
}

/** Keys are '/'-separated and relative to the store's root (or the S3 prefix). */
export interface ObjectStore {
  readonly kind: 'fs' | 's3';
  /** Streams body to key; resolves once durable. A failed or aborted write leaves the previous object untouched. */
  put(key: string, body: Readable | Buffer | string, meta: PutMeta): Promise<PutResult>;
  /** Opens the object for reading; undefined when it does not exist. */
  get(key: string): Promise<{ info: ObjectInfo; body: Readable } | undefined>;
  /** Reads a (small) object whole; undefined when it does not exist. */
  getBuffer(key: string): Promise<Buffer | undefined>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every object under prefix, in ascending key order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Deletes one object; deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** A short-lived URL a browser can GET the object from, when the store supports it. */
  presignGet?(key: string, ttlSeconds: number, contentType?: string): Promise<string>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** A leading slash, an empty, `.` or `..` segment, a backslash or a control character. */
const UNSAFE_KEY = /^\/|\/\/|\/$|(?:^|\/)\.{1,2}(?:\/|$)|[\\\u0000-\u001f\u007f]/;

/** Rejects keys that could escape a root: absolute, empty or dot segments, backslashes, control characters. */
export function assertSafeKey(key: string): void {
  // One pattern (no split): this runs on every write of the ingest hot path.
  if (key.length === 0 || key.length > 1024 || UNSAFE_KEY.test(key)) throw new Error(`unsafe object key ${JSON.stringify(key)}`);
}
