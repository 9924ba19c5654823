/**
 * The S3 client: every request the store makes (PutObject, the multipart upload calls, GetObject,
 * HeadObject, ListObjectsV2, DeleteObject, HeadBucket) and presigned GET URLs, built and signed here.
 *
 * Why not the AWS SDK's S3Client: it spends about 1.3–2 ms of CPU on every send() (middleware stack,
 * the S3 endpoint rule set, checksum and retry plumbing) before a byte goes out, more than the rest of
 * an ingest request, and its XML deserialiser costs ~17 ms of CPU per 500 listed keys. Requests are
 * signed with the SDK's own SigV4 signer (@smithy/signature-v4) and credentials come from the SDK's
 * default provider chain (@aws-sdk/credential-provider-node: env, profile, SSO, instance profile,
 * IRSA, with their refresh: not ours to rewrite). Failures are raised as the SDK's
 * S3ServiceException (name = the S3 error code, $metadata.httpStatusCode), the one error type
 * callers check; that class is all this file takes from @aws-sdk/client-s3. Bodies go out as the
 * chunk lists they are given, over a keep-alive agent. Addressing follows the endpoint, region and
 * path-style settings only: nothing is read from the environment here.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { S3ServiceException } from '@aws-sdk/client-s3';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { S3Credentials } from './types.js';

export interface LeanS3Options {
  bucket: string;
  region: string;
  /** Unset: AWS (https://s3.{region}.amazonaws.com). */
  endpoint?: string;
  forcePathStyle: boolean;
  /** Static credentials; unset: the AWS default provider chain. */
  credentials?: S3Credentials;
  /** Keep-alive agents (one pair per store by default). */
  agents?: { http: http.Agent; https: https.Agent };
  /**
   * Longest wait for one step of an attempt (default 5,000 ms): connecting, the first byte of the
   * answer once the request is sent, a socket idle mid-request, a buffered body idle.
   */
  stepTimeoutMs?: number;
  /** Longest a call takes with its retries (default 2 × stepTimeoutMs): no new attempt starts after it, the running one is aborted. */
  callTimeoutMs?: number;
  /**
   * A streamed GetObject body may idle this long (default max(stepTimeoutMs, 30 s)): it is read at
   * the pace of the client it is piped to, so back-pressure alone must not cut it.
   */
  streamIdleMs?: number;
  maxAttempts?: number;
}

export interface Target {
  protocol: 'http:' | 'https:';
  hostname: string;
  port?: number;
  /** The Host header (hostname plus a non-default port). */
  host: string;
  /** Encoded path, sent and signed as is. */
  path: string;
}

/** S3's key encoding: each segment percent-encoded, including !'()* (which encodeURIComponent leaves). */
export function encodeKey(key: string): string {
  return key
    .split('/')
    .map((seg) => encodeURIComponent(seg).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
}

/**
 * Where PutObject goes, following the SDK's rules for the cases Augur configures: path-style when
 * forced, or when the bucket cannot be a host label (dots, upper case) or the endpoint is an IP;
 * virtual-hosted ({bucket}.{host}) otherwise.
 */
export function objectTarget(o: Pick<LeanS3Options, 'bucket' | 'region' | 'endpoint' | 'forcePathStyle'>, key: string): Target {
  return withKey(bucketBase(o), key);
}

/** Where the bucket is: everything of a Target but the key, worked out once per store. */
interface BucketBase extends Omit<Target, 'path'> {
  /** The encoded path up to the key's leading slash. */
  pathPrefix: string;
}

const withKey = (b: BucketBase, key: string): Target => ({
  protocol: b.protocol,
  hostname: b.hostname,
  port: b.port,
  host: b.host,
  path: `${b.pathPrefix}/${key ? encodeKey(key) : ''}`,
});

function bucketBase(o: Pick<LeanS3Options, 'bucket' | 'region' | 'endpoint' | 'forcePathStyle'>): BucketBase {
  const suffix = o.region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  const base = new URL(o.endpoint ?? `https://s3.${o.region}.${suffix}`);
  const basePath = base.pathname.replace(/\/+$/, '');
  const ip = net.isIP(base.hostname.replace(/^\[|\]$/g, '')) !== 0;
  const hostable = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(o.bucket) && !o.bucket.includes('--');
  const pathStyle = o.forcePathStyle || ip || !hostable;
  const hostname = pathStyle ? base.hostname : `${o.bucket}.${base.hostname}`;
  return {
    protocol: base.protocol === 'http:' ? 'http:' : 'https:',
    hostname: hostname.replace(/^\[|\]$/g, ''),
    port: base.port ? Number(base.port) : undefined,
    host: base.port ? `${hostname}:${base.port}` : hostname,
    pathPrefix: `${basePath}${pathStyle ? `/${o.bucket}` : ''}`,
  };
}

/** SHA-256 / HMAC-SHA-256 on node:crypto, in the shape the SigV4 signer wants. */
class Sha256 {
  private h!: Hash | Hmac;
  constructor(private readonly secret?: string | ArrayBuffer | ArrayBufferView) {
    this.reset();
  }
  update(data: Uint8Array): void {
    this.h.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return this.h.digest();
  }
  reset(): void {
    const s = this.secret;
    if (s === undefined) this.h = createHash('sha256');
    else this.h = createHmac('sha256', typeof s === 'string' ? s : ArrayBuffer.isView(s) ? new Uint8Array(s.buffer, s.byteOffset, s.byteLength) : new Uint8Array(s));
  }
}

interface Answer {
  status: number;
  etag?: string;
  requestId?: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** A streamed 2xx answer's body (GetObject); `body` is then empty. */
  stream?: http.IncomingMessage;
}

/** What HeadObject tells about an object. */
export interface HeadAnswer {
  size: number;
  etag: string;
  lastModified: Date;
  contentType?: string;
}

/**
 * Marks an error as the object store's (the server's backend-failure classifier reads this
 * registry symbol; nothing is imported from server/): a body stream's error reaches the caller
 * from the stream, not from a store method, and would otherwise say nothing of whose it was.
 */
const BACKEND = Symbol.for('augur.backend');
function mark<E>(err: E): E {
  if (err !== null && typeof err === 'object' && !(BACKEND in err)) Object.defineProperty(err, BACKEND, { value: 'objects', enumerable: false });
  return err;
}

const RETRY_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']);
/**
 * Operations safe to send twice: a whole-object PUT, reads, DELETE. A multipart call (a POST, or a
 * part that a later complete depends on) is sent once and its failure returned to the caller.
 */
const IDEMPOTENT = new Set(['PutObject', 'GetObject', 'HeadObject', 'ListObjectsV2', 'DeleteObject', 'HeadBucket']);
const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);
/** Error codes inside a 200 answer worth another attempt. */
const IN_BODY_TRANSIENT = new Set(['InternalError', 'SlowDown']);

export class LeanS3 {
  private readonly signer: SignatureV4;
  private readonly stepMs: number;
  private readonly callMs: number;
  private readonly streamIdleMs: number;
  private readonly attempts: number;
  private readonly base: BucketBase;
  private readonly agents: { http: http.Agent; https: https.Agent };

  constructor(private readonly o: LeanS3Options) {
    const credentials = o.credentials ? async () => o.credentials! : defaultProvider();
    this.signer = new SignatureV4({ service: 's3', region: o.region, credentials, sha256: Sha256, uriEscapePath: false });
    this.stepMs = o.stepTimeoutMs ?? 5_000;
    this.callMs = o.callTimeoutMs ?? 2 * this.stepMs;
    this.streamIdleMs = o.streamIdleMs ?? Math.max(this.stepMs, 30_000);
    this.attempts = o.maxAttempts ?? 3;
    this.base = bucketBase(o);
    this.agents = o.agents ?? { http: new http.Agent({ keepAlive: true, maxSockets: 256 }), https: new https.Agent({ keepAlive: true, maxSockets: 256 }) };
  }

  /** PUTs body (one buffer or a list of chunks, sent as they are) to key (the full S3 key, prefix included); resolves with the ETag. */
  async put(key: string, body: Body, contentType: string): Promise<string> {
    const chunks = Buffer.isBuffer(body) ? [body] : body;
    const extra: Record<string, string> = { 'content-type': contentType };
    // An unsigned body carries its CRC-32, which S3 checks before it stores the object.
    if (sendsUnsigned(this.base.protocol, chunks)) extra['x-amz-checksum-crc32'] = crc32Base64(chunks);
    const answer = await this.request('PutObject', 'PUT', key, {}, body, extra);
    return answer.etag ?? '""';
  }

  /**
   * Multipart uploads for streams longer than one part. The parts are lists of chunks kept as they
   * arrived (no copy into one buffer); each is signed with its SHA-256 like any other body.
   */
  async createMultipart(key: string, contentType: string): Promise<string> {
    const answer = await this.request('CreateMultipartUpload', 'POST', key, { uploads: '' }, undefined, { 'content-type': contentType });
    const id = xmlTag(answer.body.toString('utf8'), 'UploadId');
    if (!id) throw s3Error('CreateMultipartUpload', `s3://${this.o.bucket}/${key}`, { ...answer, status: 502 });
    return id;
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Body): Promise<string> {
    const answer = await this.request('UploadPart', 'PUT', key, { partNumber: String(partNumber), uploadId }, body, {});
    return answer.etag ?? '""';
  }

  /** Completes the upload from its parts' ETags, in order; resolves with the object's ETag. */
  async completeMultipart(key: string, uploadId: string, etags: readonly string[]): Promise<string> {
    const xml = `<CompleteMultipartUpload>${etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${xmlEscape(e)}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
    // S3 may answer 200 and still fail: the error then is in the body (retried when transient, as the SDK does).
    const answer = await this.request('CompleteMultipartUpload', 'POST', key, { uploadId }, Buffer.from(xml), { 'content-type': 'application/xml' }, key, true);
    return xmlTag(answer.body.toString('utf8'), 'ETag') ?? answer.etag ?? '""';
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    await this.request('AbortMultipartUpload', 'DELETE', key, { uploadId }, undefined, {});
  }

  /** HeadObject (trace.json HEADs the trace on every read); a missing object is an S3ServiceException with status 404. */
  async head(key: string): Promise<HeadAnswer> {
    return headAnswer(await this.request('HeadObject', 'HEAD', key, {}, undefined, {}));
  }

  /**
   * One page of ListObjectsV2 under prefix (the full S3 prefix). Keys come back as S3 sorts them
   * (UTF-8 binary order).
   */
  async listPage(prefix: string, token?: string): Promise<{ items: ListedObject[]; next?: string }> {
    const query: Record<string, string> = { 'list-type': '2', prefix, ...(token ? { 'continuation-token': token } : {}) };
    const answer = await this.request('ListObjectsV2', 'GET', '', query, undefined, {}, prefix);
    return parseListing(answer.body.toString('utf8'));
  }

  /**
   * GetObject, its body streamed; a missing object is an S3ServiceException with status 404. The
   * body may idle for `idleMs` (default: streamIdleMs; a reader that buffers it passes less).
   */
  async get(key: string, idleMs = this.streamIdleMs): Promise<{ info: HeadAnswer; body: Readable }> {
    const answer = await this.request('GetObject', 'GET', key, {}, undefined, {}, key, false, idleMs);
    return { info: headAnswer(answer), body: answer.stream! };
  }

  /** DeleteObject (S3 answers 204 for a missing key too). */
  async delete(key: string): Promise<void> {
    await this.request('DeleteObject', 'DELETE', key, {}, undefined, {});
  }

  /** HeadBucket: the readiness check. */
  async headBucket(): Promise<void> {
    await this.request('HeadBucket', 'HEAD', '', {}, undefined, {}, '');
  }

  /**
   * A presigned GET URL (SigV4 query signing with UNSIGNED-PAYLOAD, as the SDK's presigner does),
   * on `endpoint` when given (the one browsers reach), else the store's own.
   */
  async presignGet(key: string, ttlSeconds: number, opts: { endpoint?: string; contentType?: string } = {}): Promise<string> {
    const base = opts.endpoint ? bucketBase({ ...this.o, endpoint: opts.endpoint }) : this.base;
    const t = withKey(base, key);
    const query: Record<string, string> = opts.contentType ? { 'response-content-type': opts.contentType } : {};
    const signed = await this.signer.presign(
      { method: 'GET', protocol: t.protocol, hostname: t.hostname, port: t.port, path: t.path, query, headers: { host: t.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } },
      { expiresIn: ttlSeconds },
    );
    const qs = Object.entries(signed.query ?? {})
      .map(([k, v]) => `${encodeKey(k)}=${encodeKey(String(v)).replace(/\//g, '%2F')}`)
      .join('&');
    return `${t.protocol}//${t.host}${t.path}?${qs}`;
  }

  close(): void {
    if (this.o.agents) return; // shared agents belong to whoever made them
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  /**
   * One signed request, retried on connection errors and 429/5xx with the SDK's backoff; resolves
   * with a 2xx answer, else rejects with an S3ServiceException named for the S3 error code. With
   * `inBodyErrors`, a 2xx whose body is an <Error> counts as failed (CompleteMultipartUpload does
   * that), retried like a 500 when transient.
   */
  private async request(
    op: string,
    method: string,
    key: string,
    query: Record<string, string>,
    body: Body | undefined,
    extra: Record<string, string>,
    where = key,
    inBodyErrors = false,
    /** A streamed answer: its body's idle limit, ms. */
    stream?: number,
  ): Promise<Answer> {
    const t = withKey(this.base, key);
    const qs = Object.entries(query)
      .map(([k, v]) => `${encodeKey(k)}=${encodeKey(v).replace(/\//g, '%2F')}`)
      .join('&');
    const chunks = body === undefined ? [] : Buffer.isBuffer(body) ? [body] : body;
    const length = chunks.reduce((n, c) => n + c.length, 0);
    const headers: Record<string, string> = { host: t.host, ...extra, 'x-amz-content-sha256': payloadHash(t.protocol, chunks, op === 'PutObject') };
    if (body !== undefined) headers['content-length'] = String(length);
    // The whole call, retries included, ends by this time: a retry starts only if its backoff
    // leaves time, and the running attempt is aborted when the deadline comes.
    const deadline = Date.now() + this.callMs;
    const idempotent = IDEMPOTENT.has(op);
    // `allowed`: an idempotent operation; or S3 itself asking for another try in a 200's body
    // (CompleteMultipartUpload's InternalError/SlowDown: nothing was completed).
    const retry = async (attempt: number, allowed = idempotent): Promise<boolean> => {
      if (!allowed || attempt >= this.attempts) return false;
      const wait = backoffMs(attempt);
      if (Date.now() + wait >= deadline) return false;
      await new Promise((r) => setTimeout(r, wait));
      return true;
    };
    for (let attempt = 1; ; attempt++) {
      let answer: Answer;
      try {
        // Signed per attempt: the date is part of the signature.
        const signed = await this.signer.sign({ method, protocol: t.protocol, hostname: t.hostname, port: t.port, path: t.path, query, headers });
        answer = await this.send(t, signed.headers, chunks, method, qs ? `${t.path}?${qs}` : t.path, deadline, stream);
      } catch (err) {
        if (RETRY_CODES.has((err as NodeJS.ErrnoException).code ?? '') && (await retry(attempt))) continue;
        throw err;
      }
      if (answer.status >= 200 && answer.status < 300) {
        const text = inBodyErrors ? answer.body.toString('utf8') : '';
        if (!/<Error>/.test(text)) return answer;
        if (IN_BODY_TRANSIENT.has(xmlTag(text, 'Code') ?? '') && (await retry(attempt, true))) continue;
        throw s3Error(op, `s3://${this.o.bucket}/${where}`, { ...answer, status: 500 });
      }
      if (RETRY_STATUS.has(answer.status) && (await retry(attempt))) continue;
      throw s3Error(op, `s3://${this.o.bucket}/${where}`, answer);
    }
  }

  /**
   * One attempt. Aborted (an ETIMEDOUT error, the socket destroyed so the agent never reuses it)
   * when connecting, the first byte after the request went out, or any idle gap takes longer than
   * the step timeout, or when the call's deadline comes.
   */
  private send(t: Target, headers: Record<string, string>, chunks: readonly Buffer[], method: string, path: string, deadline: number, stream?: number): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      const mod = t.protocol === 'http:' ? http : https;
      const agent = t.protocol === 'http:' ? this.agents.http : this.agents.https;
      const req = mod.request({ method, hostname: t.hostname, port: t.port, path, headers, agent });
      const where = `S3 ${method} ${t.host}${path}`;
      const fail = (message: string) => req.destroy(mark(Object.assign(new Error(`${where}: ${message}`), { code: 'ETIMEDOUT' })));
      const step = this.stepMs;
      const timers: NodeJS.Timeout[] = [];
      const clear = () => timers.forEach(clearTimeout);
      const after = (ms: number, message: string) => timers.push(setTimeout(() => fail(message), Math.max(0, ms)));
      after(deadline - Date.now(), `no answer within the call's ${this.callMs} ms`);
      // No byte either way for a step: a partition, or a server that accepts and never answers.
      req.setTimeout(step, () => fail(`idle for ${step} ms`));
      req.once('socket', (socket) => {
        if (!socket.connecting) return;
        const connect = setTimeout(() => fail(`no connection in ${step} ms`), step);
        socket.once('connect', () => clearTimeout(connect));
        socket.once('close', () => clearTimeout(connect));
      });
      req.once('finish', () => after(step, `no answer ${step} ms after the request was sent`));
      req.once('error', (err) => {
        clear();
        reject(err);
      });
      req.once('response', (res) => {
        const status = res.statusCode ?? 0;
        if (stream !== undefined && status >= 200 && status < 300) {
          // The caller reads the body, at its own pace: from here on only a long-idle body times out.
          clear();
          req.setTimeout(0);
          res.on('error', mark);
          res.setTimeout(stream, () => res.destroy(mark(Object.assign(new Error(`${where}: body idle for ${stream} ms`), { code: 'ETIMEDOUT' }))));
          return resolve({ status, etag: res.headers.etag, headers: res.headers, body: EMPTY, stream: res });
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('error', (err) => {
          clear();
          reject(err);
        });
        // Destroyed mid-body by a timer: 'error' may not follow on the response, so settle here too.
        res.once('close', () => {
          if (res.complete) return;
          clear();
          reject(mark(Object.assign(new Error(`${where}: answer cut short`), { code: 'ECONNRESET' })));
        });
        res.once('end', () => {
          clear();
          const h = res.headers;
          resolve({ status: res.statusCode ?? 0, etag: h.etag, requestId: h['x-amz-request-id'] as string | undefined, headers: h, body: Buffer.concat(chunks) });
        });
      });
      // Corked, the chunks leave in one writev.
      req.cork();
      for (const c of chunks) req.write(c);
      req.end();
    });
  }
}

const headAnswer = (a: Answer): HeadAnswer => ({
  size: Number(a.headers['content-length'] ?? 0),
  etag: a.etag ?? '""',
  lastModified: a.headers['last-modified'] ? new Date(a.headers['last-modified']) : new Date(0),
  contentType: a.headers['content-type'],
});

/** Full jitter on 100 ms × 2^n, as the SDK's standard retry strategy. */
const backoffMs = (attempt: number) => Math.random() * Math.min(20_000, 100 * 2 ** attempt);

export interface ListedObject {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
}

const EMPTY = Buffer.alloc(0);

/** A request body: one buffer, or chunks sent back to back. */
export type Body = Buffer | readonly Buffer[];

const EMPTY_SHA256 = createHash('sha256').digest('hex');

/**
 * A whole-object PUT body from this size up is sent UNSIGNED-PAYLOAD with its CRC-32
 * (`x-amz-checksum-crc32`) over plain HTTP too. SHA-256 costs ~1.4–3 ms of CPU per MB here, the
 * largest per-byte cost of a screenshot upload after the socket copies; zlib's CRC-32 costs a few
 * hundredths of that, and S3 (and MinIO, LocalStack) refuse a body whose CRC does not match, so a
 * screenshot corrupted on the way is still never stored. What a CRC does not give is what the
 * signed hash gives on an untrusted network: proof against a body altered on purpose. Plain-HTTP
 * S3 is a private network's (compose, in-cluster MinIO); over the internet use TLS, where every
 * body goes unsigned anyway (as minio-go and the AWS SDKs send it). Smaller bodies (step
 * documents, manifests, event lines) stay hashed and signed over plain HTTP: hashing them costs
 * microseconds.
 */
export const UNSIGNED_PUT_BYTES = 64 * 1024;

const lengthOf = (chunks: readonly Buffer[]) => chunks.reduce((n, c) => n + c.length, 0);

/** Whether a whole-object PUT of these chunks goes UNSIGNED-PAYLOAD (and so carries its CRC-32). */
export function sendsUnsigned(protocol: 'http:' | 'https:', chunks: readonly Buffer[]): boolean {
  return chunks.length > 0 && (protocol === 'https:' || lengthOf(chunks) >= UNSIGNED_PUT_BYTES);
}

/**
 * What x-amz-content-sha256 says. Over TLS, UNSIGNED-PAYLOAD (as minio-go does): TLS already keeps
 * the body from being altered on the way. Over plain HTTP the body is hashed and signed, except a
 * whole-object PUT of UNSIGNED_PUT_BYTES or more (`wholeObject`), which carries its CRC-32 instead.
 * A multipart part is always hashed over plain HTTP: a part may carry a checksum only when the
 * upload was created with one, and the parts of >6 MiB uploads are rare enough not to matter.
 */
export function payloadHash(protocol: 'http:' | 'https:', chunks: readonly Buffer[], wholeObject = false): string {
  if (chunks.length === 0) return EMPTY_SHA256;
  if (protocol === 'https:' || (wholeObject && sendsUnsigned(protocol, chunks))) return 'UNSIGNED-PAYLOAD';
  return sha256Hex(chunks);
}

/** The chunks' CRC-32 as S3's x-amz-checksum-crc32 wants it: the 4 big-endian bytes, base64. */
export function crc32Base64(chunks: readonly Buffer[]): string {
  let crc = 0;
  for (const c of chunks) crc = crc32(c, crc);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc >>> 0);
  return b.toString('base64');
}

function sha256Hex(chunks: readonly Buffer[]): string {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
}

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
/** One compiled pattern per tag name: a listing reads four tags from each of up to 1000 entries. */
const TAG_RES = new Map<string, RegExp>();
const xmlTag = (xml: string, name: string) => {
  let re = TAG_RES.get(name);
  if (!re) TAG_RES.set(name, (re = new RegExp(`<${name}>([^<]*)</${name}>`)));
  const m = re.exec(xml);
  return m ? xmlText(m[1]!) : undefined;
};

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
function xmlText(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, e: string) =>
    e.startsWith('#x') ? String.fromCodePoint(parseInt(e.slice(2), 16)) : e.startsWith('#') ? String.fromCodePoint(Number(e.slice(1))) : XML_ENTITIES[e]!,
  );
}

/** Reads the flat ListObjectsV2 result: one <Contents> per object. */
export function parseListing(xml: string): { items: ListedObject[]; next?: string } {
  const items: ListedObject[] = [];
  for (const m of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
    const block = m[1]!;
    const key = xmlTag(block, 'Key');
    if (key === undefined) continue;
    items.push({ key, size: Number(xmlTag(block, 'Size') ?? 0), etag: xmlTag(block, 'ETag') ?? '""', lastModified: new Date(xmlTag(block, 'LastModified') ?? 0) });
  }
  const truncated = xmlTag(xml, 'IsTruncated') === 'true';
  return { items, next: truncated ? xmlTag(xml, 'NextContinuationToken') : undefined };
}

/** An S3ServiceException like the SDK's own: name is the S3 error code, $metadata carries the status. */
function s3Error(operation: string, where: string, a: Answer): S3ServiceException {
  const xml = a.body.toString('utf8');
  const tag = (name: string) => xmlTag(xml, name);
  const code = tag('Code') ?? (a.status === 404 ? 'NotFound' : `Http${a.status}`);
  const detail = tag('Message');
  return new S3ServiceException({
    name: code,
    $fault: a.status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: a.status, requestId: a.requestId },
    message: `S3 ${operation} ${where} failed: HTTP ${a.status} ${code}${detail ? `: ${detail}` : ''}`,
  });
}
