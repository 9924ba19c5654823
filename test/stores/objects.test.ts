import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { inject } from 'vitest';
import { createObjectStore, TooLargeError, type ObjectStore } from '../../storage/objects/index.js';
import { S3ObjectStore, STREAM_PART_BYTES } from '../../storage/objects/s3.js';
import { crc32Base64, LeanS3, objectTarget, payloadHash, UNSIGNED_PUT_BYTES } from '../../storage/objects/s3-lean.js';
import { createBucket, rid, S3_CREDENTIALS } from '../helpers/backends.js';
import { mkdtempSync, rmSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const collect = async (s: Readable): Promise<Buffer> => {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
};

/** A stream that yields some bytes and then fails, like a client that disconnects mid-upload. */
function failingStream(bytes: number): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(Buffer.alloc(bytes, 7));
      } else this.destroy(new Error('client aborted'));
    },
  });
}

const drivers = ['fs', 's3'] as const;

describe.each(drivers)('object store contract: %s', (driver) => {
  let store: ObjectStore;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'augur-objects-'));
    store =
      driver === 'fs'
        ? await createObjectStore({ driver: 'fs', root: path.join(dir, 'objects') })
        : await createObjectStore({ driver: 's3', bucket: await createBucket(inject('s3Endpoint')), endpoint: inject('s3Endpoint'), region: 'us-east-1', forcePathStyle: true, prefix: `p-${rid()}` });
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('puts, heads, gets and deletes', async () => {
    const key = `a/${rid()}/doc.json`;
    const info = await store.put(key, Buffer.from('{"x":1}'), { contentType: 'application/json' });
    expect(info.size).toBe(7);
    const head = await store.head(key);
    expect(head?.size).toBe(7);
    expect(head?.etag).toMatch(/^".+"$/);
    const got = await store.get(key);
    expect((await collect(got!.body)).toString()).toBe('{"x":1}');
    expect((await store.getBuffer(key))?.toString()).toBe('{"x":1}');
    await store.delete(key);
    expect(await store.head(key)).toBeUndefined();
    expect(await store.get(key)).toBeUndefined();
    await store.delete(key); // deleting twice is fine
  });

  it('names the ETag of a streamed body as head() then reports it', async () => {
    const key = `a/${rid()}/shot.png`;
    const put = await store.put(key, Readable.from([Buffer.alloc(70_000, 1), Buffer.alloc(10, 2)]), { contentType: 'image/png' });
    expect(put.etag).toMatch(/^".+"$/);
    expect((await store.head(key))?.etag).toBe(put.etag);
    const again = await store.put(key, Readable.from([Buffer.alloc(70_000, 3)]), { contentType: 'image/png' });
    expect(again.etag).not.toBe(put.etag);
    expect((await store.head(key))?.etag).toBe(again.etag);
  });

  /** `size` bytes in 64 KiB chunks, each chunk's bytes from its offset, so a misplaced chunk shows. */
  const patterned = (size: number, failAt?: number) =>
    Readable.from(
      (function* () {
        for (let sent = 0; sent < size; sent += 64 * 1024) {
          if (failAt !== undefined && sent >= failAt) throw new Error('client aborted');
          const c = Buffer.alloc(Math.min(64 * 1024, size - sent));
          for (let i = 0; i < c.length; i++) c[i] = (sent + i) % 251;
          yield c;
        }
      })(),
    );

  it('streams bodies across part boundaries byte for byte (one part, exactly one part, three parts)', async () => {
    for (const size of [STREAM_PART_BYTES - 1, STREAM_PART_BYTES, 2 * STREAM_PART_BYTES + 70_000 + 123]) {
      const key = `big/${rid()}.bin`;
      const info = await store.put(key, patterned(size), { contentType: 'application/octet-stream' });
      expect(info.size).toBe(size);
      expect((await store.head(key))?.size).toBe(size);
      expect((await store.getBuffer(key))!.equals(await collect(patterned(size)))).toBe(true);
    }
  });

  it('fails a long stream that breaks after two parts and keeps the previous object', async () => {
    const key = `big-abort/${rid()}.bin`;
    await store.put(key, Buffer.from('previous'), { contentType: 'application/octet-stream' });
    await expect(store.put(key, patterned(3 * STREAM_PART_BYTES, 2 * STREAM_PART_BYTES + 100_000), { contentType: 'application/octet-stream' })).rejects.toThrow(/client aborted/);
    expect((await store.getBuffer(key))?.toString()).toBe('previous');
  });

  it('refuses a body over maxBytes and keeps the previous object', async () => {
    const key = `limit/${rid()}.png`;
    await store.put(key, Buffer.from('previous'), { contentType: 'image/png' });
    await expect(store.put(key, Readable.from([Buffer.alloc(4096), Buffer.alloc(4096)]), { contentType: 'image/png', maxBytes: 5000 })).rejects.toBeInstanceOf(TooLargeError);
    await expect(store.put(key, Buffer.alloc(6000), { contentType: 'image/png', maxBytes: 5000 })).rejects.toBeInstanceOf(TooLargeError);
    expect((await store.getBuffer(key))?.toString()).toBe('previous');
  });

  it('leaves the previous object intact when the upload stream fails', async () => {
    const key = `abort/${rid()}.png`;
    await store.put(key, Buffer.from('previous'), { contentType: 'image/png' });
    await expect(store.put(key, failingStream(1000), { contentType: 'image/png' })).rejects.toThrow();
    expect((await store.getBuffer(key))?.toString()).toBe('previous');
    if (driver === 'fs') expect(readdirSync(path.dirname(path.join(dir, 'objects', key)))).toEqual([path.basename(key)]); // no temp file left behind
  });

  it('lists a prefix in key order, and nothing outside it', async () => {
    const p = `list-${rid()}/`;
    for (const k of ['b/2', 'a', 'b/1', 'c']) await store.put(p + k, Buffer.from(k), { contentType: 'text/plain' });
    await store.put(`${p.slice(0, -1)}x/other`, Buffer.from('x'), { contentType: 'text/plain' });
    const keys: string[] = [];
    for await (const o of store.list(p)) keys.push(o.key);
    expect(keys).toEqual([`${p}a`, `${p}b/1`, `${p}b/2`, `${p}c`]);
    const none: string[] = [];
    for await (const o of store.list(`missing-${rid()}/`)) none.push(o.key);
    expect(none).toEqual([]);
  });

  it('rejects keys that could escape the root', async () => {
    for (const key of ['../x', 'a/../../x', '/abs', 'a//b', 'a/./b', 'a\\b', 'nul\u0000byte', '']) {
      await expect(store.put(key, Buffer.from('x'), { contentType: 'text/plain' })).rejects.toThrow(/unsafe object key|outside/);
    }
  });

  it('answers a ping', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });

  it('round-trips keys with spaces, unicode, + = and !\'()*', async () => {
    const p = `odd-${rid()}/`;
    const keys = ['with space/a b.json', 'ünïcødé/日本語 ✓.json', 'plus/a+b+c.json', 'eq/a=b&c=d.json', "bang/!'()*.json", "mix/a b+c=d!e'f(g)h*i~j%41.json"].map((k) => p + k);
    const lean = driver === 's3' ? vi.spyOn(LeanS3.prototype, 'put') : undefined;
    for (const k of keys) await store.put(k, Buffer.from(k), { contentType: 'text/plain' });
    if (lean) expect(lean).toHaveBeenCalledTimes(keys.length); // small buffers take the lean signed PUT
    lean?.mockRestore();
    for (const k of keys) {
      expect((await store.getBuffer(k))?.toString()).toBe(k);
      expect((await store.head(k))?.size).toBe(Buffer.byteLength(k));
    }
    const listed: string[] = [];
    for await (const o of store.list(p)) listed.push(o.key);
    expect(listed).toEqual([...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    for (const k of keys) await store.delete(k);
    expect(await store.head(keys[0]!)).toBeUndefined();
  });

  it('overwrites on put, small and large bodies alike', async () => {
    const key = `over/${rid()}.json`;
    await store.put(key, Buffer.from('first version'), { contentType: 'application/json' });
    await store.put(key, '{"second":true}', { contentType: 'application/json' });
    expect((await store.getBuffer(key))?.toString()).toBe('{"second":true}');
    const big = Buffer.alloc(STREAM_PART_BYTES + 1, 3); // longer than a part: a multipart upload of one part
    await store.put(key, big, { contentType: 'application/octet-stream' });
    expect((await store.head(key))?.size).toBe(big.length);
    await store.put(key, Buffer.from('small again'), { contentType: 'text/plain' });
    expect((await store.getBuffer(key))?.toString()).toBe('small again');
  });
});

describe('S3 store errors (fauxqs)', () => {
  it('rejects a put to a missing bucket with the S3 error code and the bucket in the message', async () => {
    const bucket = `augur-missing-${rid()}`;
    const store = new S3ObjectStore({ bucket, endpoint: inject('s3Endpoint'), region: 'us-east-1', forcePathStyle: true, prefix: '', credentials: S3_CREDENTIALS });
    try {
      const err = await store.put('a/b.json', Buffer.from('{}'), { contentType: 'application/json' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(S3ServiceException);
      expect((err as S3ServiceException).name).toBe('NoSuchBucket');
      expect((err as S3ServiceException).$metadata.httpStatusCode).toBe(404);
      expect((err as Error).message).toContain(bucket);
      expect((err as Error).message).toMatch(/HTTP 404 NoSuchBucket/);
      // A stream, and one long enough for a multipart upload, fail the same way.
      await expect(store.put('a/c.bin', Readable.from([Buffer.alloc(10)]), { contentType: 'application/octet-stream' })).rejects.toMatchObject({ name: 'NoSuchBucket' });
      await expect(store.put('a/d.bin', Readable.from([Buffer.alloc(STREAM_PART_BYTES + 1)]), { contentType: 'application/octet-stream' })).rejects.toMatchObject({ name: 'NoSuchBucket' });
    } finally {
      await store.close();
    }
  });
});

/**
 * SigV4 as S3 checks it, written from the spec (not from the SDK): the canonical URI is the received
 * path decoded and re-encoded strictly (unreserved characters only), so a client that signs one
 * encoding and sends another, or leaves !'()* unescaped, fails here as it would on AWS.
 */
function verifySigV4(method: string, rawPath: string, headers: http.IncomingHttpHeaders, body: Buffer, secret: string): string | undefined {
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(String(headers.authorization));
  if (!m) return `bad authorization header ${headers.authorization}`;
  const [, , date, region, signed, signature] = m as unknown as [string, string, string, string, string, string];
  const payloadHash = String(headers['x-amz-content-sha256']);
  if (payloadHash === 'UNSIGNED-PAYLOAD') {
    // An unsigned body must carry its CRC-32, and it must match (S3 refuses the object otherwise).
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    if (headers['x-amz-checksum-crc32'] !== crc.toString('base64')) return 'unsigned body without a matching x-amz-checksum-crc32';
  } else if (payloadHash !== createHash('sha256').update(body).digest('hex')) return 'x-amz-content-sha256 does not match the body';
  const strict = (s: string) => Array.from(Buffer.from(s, 'utf8'), (b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
  const [sentPath, sentQuery = ''] = rawPath.split('?') as [string, string?];
  const canonicalUri = sentPath.split('/').map((seg) => strict(decodeURIComponent(seg))).join('/');
  if (canonicalUri !== sentPath) return `path not strictly encoded: ${rawPath}`;
  const query = [...new URLSearchParams(sentQuery)].map(([k, v]) => `${strict(k)}=${strict(v)}`).sort().join('&');
  const names = signed.split(';');
  for (const required of ['host', 'x-amz-content-sha256', 'x-amz-date']) if (!names.includes(required)) return `${required} not signed`;
  const canonicalHeaders = names.map((n) => `${n}:${String(headers[n]).trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonical = [method, canonicalUri, query, canonicalHeaders, signed, payloadHash].join('\n');
  const scope = `${date}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', String(headers['x-amz-date']), scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const hmac = (k: string | Buffer, d: string) => createHmac('sha256', k).update(d).digest();
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), 's3'), 'aws4_request');
  const expected = createHmac('sha256', key).update(toSign).digest('hex');
  return expected === signature ? undefined : 'signature mismatch';
}

describe('lean S3 PUT on the wire', () => {
  interface Seen {
    method: string;
    url: string;
    headers: http.IncomingHttpHeaders;
    body: Buffer;
    verdict?: string;
  }
  let seen: Seen[] = [];
  /** Answers per request, in order; the default is 200 with an ETag. */
  let script: Array<(res: http.ServerResponse) => void> = [];
  let server: http.Server;
  let endpoint: string;
  let store: S3ObjectStore;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body, verdict: verifySigV4(req.method!, req.url!, req.headers, body, S3_CREDENTIALS.secretAccessKey) });
        const next = script.shift();
        if (next) return next(res);
        res.writeHead(200, { etag: '"abc123"' }).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    store = new S3ObjectStore({ bucket: 'wire-bucket', endpoint, region: 'eu-west-3', forcePathStyle: true, prefix: 'pre', credentials: S3_CREDENTIALS });
  });
  afterAll(async () => {
    await store.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  afterEach(() => {
    seen = [];
    script = [];
  });

  const odd = ['steps/0001.json', 'a b/c+d=e.json', "x/!'()*~.json", 'ü/日本 語.json', 'sum/100%.json'];

  it('signs what it sends, as the SDK does, for awkward keys', async () => {
    for (const key of odd) {
      const info = await store.put(key, Buffer.from(`{"k":${JSON.stringify(key)}}`), { contentType: 'application/json' });
      expect(info.etag).toBe('"abc123"');
    }
    // The verifier accepts the SDK's own requests for the same keys (so it is checking the right thing).
    const sdkClient = new S3Client({ endpoint, region: 'eu-west-3', forcePathStyle: true, credentials: S3_CREDENTIALS, requestChecksumCalculation: 'WHEN_REQUIRED' });
    for (const key of odd) await sdkClient.send(new PutObjectCommand({ Bucket: 'wire-bucket', Key: `pre/${key}`, Body: Buffer.from('{}'), ContentType: 'application/json' }));
    sdkClient.destroy();
    expect(seen).toHaveLength(odd.length * 2);
    for (const s of seen) expect(s.verdict, `${s.url}`).toBeUndefined();
    const lean = seen.slice(0, odd.length);
    const sdk = seen.slice(odd.length);
    expect(lean.map((s) => s.url)).toEqual(sdk.map((s) => s.url.replace('?x-id=PutObject', ''))); // same path bytes as the SDK
    expect(lean[1]!.url).toBe('/wire-bucket/pre/a%20b/c%2Bd%3De.json');
    expect(lean[2]!.url).toBe("/wire-bucket/pre/x/%21%27%28%29%2A~.json");
    const h = lean[0]!.headers;
    expect(h['content-type']).toBe('application/json');
    expect(h['content-length']).toBe(String(lean[0]!.body.length));
    expect(h.authorization).toContain('/eu-west-3/s3/aws4_request');
    expect(h['x-amz-checksum-crc32']).toBeUndefined();
  });

  it('sends a screenshot-sized body UNSIGNED-PAYLOAD with its CRC-32, the CRC header signed', async () => {
    const big = Buffer.alloc(UNSIGNED_PUT_BYTES, 7);
    big[100] = 1;
    await store.put('shots/0001_pre.png', big, { contentType: 'image/png' });
    await store.put('shots/0002_pre.png', Readable.from([big.subarray(0, 1000), big.subarray(1000)]), { contentType: 'image/png' });
    expect(seen).toHaveLength(2);
    for (const r of seen) {
      expect(r.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
      expect(r.headers.authorization).toMatch(/SignedHeaders=[^,]*x-amz-checksum-crc32/);
      expect(r.body.equals(big)).toBe(true);
      expect(r.verdict).toBeUndefined();
    }
    // One byte less: hashed and signed as before.
    seen = [];
    await store.put('shots/0003_pre.png', big.subarray(1), { contentType: 'image/png' });
    expect(seen[0]!.headers['x-amz-content-sha256']).toBe(createHash('sha256').update(big.subarray(1)).digest('hex'));
    expect(seen[0]!.headers['x-amz-checksum-crc32']).toBeUndefined();
    expect(seen[0]!.verdict).toBeUndefined();
  });

  it('signs its listings, pages through them and decodes XML-escaped keys', async () => {
    const page = (keys: string[], next?: string) => (res: http.ServerResponse) =>
      res
        .writeHead(200, { 'content-type': 'application/xml' })
        .end(
          `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><IsTruncated>${next ? 'true' : 'false'}</IsTruncated>` +
            keys.map((k) => `<Contents><Key>${k}</Key><LastModified>2026-11-28T10:00:00.000Z</LastModified><ETag>&quot;e1&quot;</ETag><Size>7</Size></Contents>`).join('') +
            (next ? `<NextContinuationToken>${next}</NextContinuationToken>` : '') +
            '</ListBucketResult>',
        );
    script = [page(['pre/l/a &amp; b.json', 'pre/l/c.json'], 'tok/2+='), page(['pre/l/d.json'])];
    const listed: Array<{ key: string; etag: string; size: number }> = [];
    for await (const o of store.list('l/')) listed.push({ key: o.key, etag: o.etag, size: o.size });
    expect(listed).toEqual([
      { key: 'l/a & b.json', etag: '"e1"', size: 7 },
      { key: 'l/c.json', etag: '"e1"', size: 7 },
      { key: 'l/d.json', etag: '"e1"', size: 7 },
    ]);
    expect(seen).toHaveLength(2);
    for (const s of seen) expect(s.verdict, s.url).toBeUndefined();
    expect(seen[0]!.method).toBe('GET');
    expect(new URL(seen[0]!.url, 'http://x').searchParams.get('prefix')).toBe('pre/l/');
    expect(new URL(seen[1]!.url, 'http://x').searchParams.get('continuation-token')).toBe('tok/2+=');
  });

  it('retries a 503 and a reset connection, then succeeds', async () => {
    script = [(res) => res.writeHead(503).end('<Error><Code>SlowDown</Code></Error>'), (res) => res.socket!.destroy()];
    await expect(store.put('r/1.json', Buffer.from('{}'), { contentType: 'application/json' })).resolves.toMatchObject({ etag: '"abc123"' });
    expect(seen).toHaveLength(3);
  });

  it('gives up after three attempts and maps the XML error', async () => {
    const fail = (res: http.ServerResponse) =>
      res.writeHead(500, { 'x-amz-request-id': 'REQ1' }).end('<?xml version="1.0"?><Error><Code>InternalError</Code><Message>We encountered an internal error</Message></Error>');
    script = [fail, fail, fail];
    const err = (await store.put('r/2.json', Buffer.from('{}'), { contentType: 'application/json' }).catch((e: unknown) => e)) as S3ServiceException;
    expect(seen).toHaveLength(3);
    expect(err).toBeInstanceOf(S3ServiceException);
    expect(err.name).toBe('InternalError');
    expect(err.$metadata).toMatchObject({ httpStatusCode: 500, requestId: 'REQ1' });
    expect(err.message).toBe('S3 PutObject s3://wire-bucket/pre/r/2.json failed: HTTP 500 InternalError: We encountered an internal error');
  });

  it('does not retry a 403', async () => {
    script = [(res) => res.writeHead(403).end('<Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error>')];
    await expect(store.put('r/3.json', Buffer.from('{}'), { contentType: 'application/json' })).rejects.toThrow(/HTTP 403 SignatureDoesNotMatch: no/);
    expect(seen).toHaveLength(1);
  });

  it('HEADs signed, reading size, ETag, LastModified and type; a 404 is undefined', async () => {
    script = [
      (res) => res.writeHead(200, { etag: '"h1"', 'content-length': '42', 'last-modified': 'Sat, 28 Nov 2026 10:00:00 GMT', 'content-type': 'application/json' }).end(),
      (res) => res.writeHead(404).end(),
    ];
    expect(await store.head('h/1.json')).toEqual({ key: 'h/1.json', size: 42, etag: '"h1"', lastModified: new Date('2026-11-28T10:00:00Z'), contentType: 'application/json' });
    expect(await store.head('h/2.json')).toBeUndefined();
    expect(seen.map((s) => `${s.method} ${s.url} ${s.verdict ?? 'signed'}`)).toEqual(['HEAD /wire-bucket/pre/h/1.json signed', 'HEAD /wire-bucket/pre/h/2.json signed']);
  });

  it('sends a short stream as one signed PUT', async () => {
    await store.put('s/1.bin', Readable.from([Buffer.alloc(100, 1), Buffer.alloc(50, 2)]), { contentType: 'application/octet-stream' });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'PUT', url: '/wire-bucket/pre/s/1.bin', verdict: undefined });
    expect(seen[0]!.body.equals(Buffer.concat([Buffer.alloc(100, 1), Buffer.alloc(50, 2)]))).toBe(true);
  });

  it('sends a long stream as a signed multipart upload: create, parts in order, complete', async () => {
    const uploadId = 'up/1+2=';
    script = [
      (res) => res.writeHead(200).end(`<InitiateMultipartUploadResult><Bucket>wire-bucket</Bucket><Key>pre/m/1.bin</Key><UploadId>${uploadId}</UploadId></InitiateMultipartUploadResult>`),
      (res) => res.writeHead(200, { etag: '"p1"' }).end(),
      (res) => res.writeHead(200, { etag: '"p2"' }).end(),
      (res) => res.writeHead(200).end('<CompleteMultipartUploadResult><ETag>&quot;whole-2&quot;</ETag></CompleteMultipartUploadResult>'),
    ];
    const body = Buffer.alloc(STREAM_PART_BYTES + 10, 9);
    // Part 1 is the first two chunks as they came (exactly a part); the last 10 bytes are part 2.
    const info = await store.put('m/1.bin', Readable.from([body.subarray(0, 1000), body.subarray(1000, STREAM_PART_BYTES), body.subarray(STREAM_PART_BYTES)]), { contentType: 'image/png' });
    expect(info).toMatchObject({ size: body.length, etag: '"whole-2"' });
    for (const s of seen) expect(s.verdict, s.url).toBeUndefined();
    const q = (i: number) => Object.fromEntries(new URL(seen[i]!.url, 'http://x').searchParams);
    expect(seen.map((s) => s.method)).toEqual(['POST', 'PUT', 'PUT', 'POST']);
    expect(q(0)).toEqual({ uploads: '' });
    expect(seen[0]!.headers['content-type']).toBe('image/png');
    expect(q(1)).toEqual({ partNumber: '1', uploadId });
    expect(q(2)).toEqual({ partNumber: '2', uploadId });
    expect(Buffer.concat([seen[1]!.body, seen[2]!.body]).equals(body)).toBe(true);
    expect(seen[2]!.body.length).toBe(10);
    expect(q(3)).toEqual({ uploadId });
    expect(seen[3]!.body.toString()).toBe(
      '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;p1&quot;</ETag></Part><Part><PartNumber>2</PartNumber><ETag>&quot;p2&quot;</ETag></Part></CompleteMultipartUpload>',
    );
  });

  it('aborts the multipart upload when a part fails, and when S3 fails the completion inside a 200', async () => {
    const created = (res: http.ServerResponse) => res.writeHead(200).end('<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>');
    const denied = (res: http.ServerResponse) => res.writeHead(403).end('<Error><Code>AccessDenied</Code><Message>no</Message></Error>');
    script = [created, denied];
    await expect(store.put('m/2.bin', Readable.from([Buffer.alloc(STREAM_PART_BYTES + 1)]), { contentType: 'image/png' })).rejects.toThrow(/UploadPart .* HTTP 403 AccessDenied/);
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual(['POST /wire-bucket/pre/m/2.bin?uploads=', 'PUT /wire-bucket/pre/m/2.bin?partNumber=1&uploadId=u1', 'DELETE /wire-bucket/pre/m/2.bin?uploadId=u1']);
    seen = [];
    const inBody = (res: http.ServerResponse) => res.writeHead(200).end('<Error><Code>InternalError</Code><Message>try again</Message></Error>');
    const part = (res: http.ServerResponse) => res.writeHead(200, { etag: '"p"' }).end();
    script = [created, part, part, inBody, inBody, inBody];
    await expect(store.put('m/3.bin', Readable.from([Buffer.alloc(STREAM_PART_BYTES + 1)]), { contentType: 'image/png' })).rejects.toThrow(/CompleteMultipartUpload .* InternalError: try again/);
    expect(seen.map((s) => s.method)).toEqual(['POST', 'PUT', 'PUT', 'POST', 'POST', 'POST', 'DELETE']);
    // A transient error inside a 200 is retried like a 500: the second completion stands.
    seen = [];
    script = [created, part, part, inBody, (res) => res.writeHead(200).end('<CompleteMultipartUploadResult><ETag>&quot;done&quot;</ETag></CompleteMultipartUploadResult>')];
    await expect(store.put('m/4.bin', Readable.from([Buffer.alloc(STREAM_PART_BYTES + 1)]), { contentType: 'image/png' })).resolves.toMatchObject({ etag: '"done"' });
    expect(seen.map((s) => s.method)).toEqual(['POST', 'PUT', 'PUT', 'POST', 'POST']);
    for (const s of seen) expect(s.verdict, s.url).toBeUndefined();
  });

  it('GETs, DELETEs and HEADs the bucket signed; a missing object is undefined', async () => {
    script = [
      (res) => res.writeHead(200, { etag: '"g1"', 'content-length': '5', 'last-modified': 'Sat, 28 Nov 2026 10:00:00 GMT', 'content-type': 'text/plain' }).end('hello'),
      (res) => res.writeHead(404).end('<Error><Code>NoSuchKey</Code></Error>'),
      (res) => res.writeHead(204).end(),
      (res) => res.writeHead(200).end(),
    ];
    const got = await store.get('g/1.txt');
    expect(got?.info).toEqual({ key: 'g/1.txt', size: 5, etag: '"g1"', lastModified: new Date('2026-11-28T10:00:00Z'), contentType: 'text/plain' });
    expect((await collect(got!.body)).toString()).toBe('hello');
    expect(await store.get('g/2.txt')).toBeUndefined();
    await store.delete('g/1.txt');
    await store.ping();
    expect(seen.map((s) => `${s.method} ${s.url} ${s.verdict ?? 'signed'}`)).toEqual([
      'GET /wire-bucket/pre/g/1.txt signed',
      'GET /wire-bucket/pre/g/2.txt signed',
      'DELETE /wire-bucket/pre/g/1.txt signed',
      'HEAD /wire-bucket/ signed',
    ]);
  });

  it('presigns a GET that verifies as a query-signed request', async () => {
    const url = new URL(await store.presignGet('p/1.png', 300, 'image/png'));
    expect(`${url.origin}${url.pathname}`).toBe(`${endpoint}/wire-bucket/pre/p/1.png`);
    const q = url.searchParams;
    expect(q.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(q.get('X-Amz-Expires')).toBe('300');
    expect(q.get('X-Amz-SignedHeaders')).toBe('host');
    expect(q.get('response-content-type')).toBe('image/png');
    expect(q.get('X-Amz-Credential')).toMatch(/^test\/\d{8}\/eu-west-3\/s3\/aws4_request$/);
    // Recompute the signature from the spec: canonical query sorted, payload UNSIGNED-PAYLOAD.
    const strict = (v: string) => encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    const query = [...q].filter(([k]) => k !== 'X-Amz-Signature').map(([k, v]) => `${strict(k)}=${strict(v)}`).sort().join('&');
    const canonical = ['GET', url.pathname, query, `host:${url.host}\n`, 'host', 'UNSIGNED-PAYLOAD'].join('\n');
    const date = q.get('X-Amz-Date')!;
    const scope = `${date.slice(0, 8)}/eu-west-3/s3/aws4_request`;
    const toSign = ['AWS4-HMAC-SHA256', date, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
    const hmac = (k: string | Buffer, d: string) => createHmac('sha256', k).update(d).digest();
    const key = hmac(hmac(hmac(hmac(`AWS4${S3_CREDENTIALS.secretAccessKey}`, date.slice(0, 8)), 'eu-west-3'), 's3'), 'aws4_request');
    expect(q.get('X-Amz-Signature')).toBe(createHmac('sha256', key).update(toSign).digest('hex'));
  });
});

describe('lean S3 PUT addressing', () => {
  const t = (o: { bucket?: string; region?: string; endpoint?: string; forcePathStyle?: boolean }, key = 'a b/c.json') => {
    const r = objectTarget({ bucket: 'my-bucket', region: 'eu-central-1', forcePathStyle: false, ...o }, key);
    return `${r.protocol}//${r.host}${r.path}`;
  };
  it('uses AWS virtual-hosted URLs when no endpoint is set', () => {
    expect(t({})).toBe('https://my-bucket.s3.eu-central-1.amazonaws.com/a%20b/c.json');
    expect(t({ forcePathStyle: true })).toBe('https://s3.eu-central-1.amazonaws.com/my-bucket/a%20b/c.json');
    expect(t({ region: 'cn-north-1' })).toBe('https://my-bucket.s3.cn-north-1.amazonaws.com.cn/a%20b/c.json');
  });
  it('follows a custom endpoint, path-style when forced, for IP hosts and for dotted buckets', () => {
    expect(t({ endpoint: 'http://minio:9000', forcePathStyle: true })).toBe('http://minio:9000/my-bucket/a%20b/c.json');
    expect(t({ endpoint: 'https://storage.example.com' })).toBe('https://my-bucket.storage.example.com/a%20b/c.json');
    expect(t({ endpoint: 'http://10.0.0.5:9000' })).toBe('http://10.0.0.5:9000/my-bucket/a%20b/c.json');
    expect(t({ endpoint: 'https://storage.example.com', bucket: 'my.bucket' })).toBe('https://storage.example.com/my.bucket/a%20b/c.json');
    expect(t({ endpoint: 'https://gw.example.com/s3/', forcePathStyle: true })).toBe('https://gw.example.com/s3/my-bucket/a%20b/c.json');
  });
});

/**
 * What an S3-compatible server (MinIO, LocalStack) checks in the headers: the bucket in the Host
 * (virtual-hosted) or in the path (path-style), the payload's SHA-256 in x-amz-content-sha256, and
 * the configured region in the credential scope. A resolver sends every host name to loopback.
 */
describe('S3 requests as an S3-compatible server sees them', () => {
  let server: http.Server;
  let port: number;
  let seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: Buffer }> = [];
  const lookup = (_host: string, o: { all?: boolean }, cb: (...a: unknown[]) => void) => (o.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4));
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(200, { etag: '"e"' }).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  afterEach(() => {
    seen = [];
  });

  for (const forcePathStyle of [false, true]) {
    it(`puts with the bucket in the ${forcePathStyle ? 'path (MinIO, LocalStack)' : 'host name (virtual-hosted)'}`, async () => {
      const agents = { http: new http.Agent({ keepAlive: true, lookup } as http.AgentOptions), https: new (await import('node:https')).Agent() };
      const s = new LeanS3({ bucket: 'aug-bucket', region: 'ap-south-1', endpoint: `http://s3.test:${port}`, forcePathStyle, credentials: S3_CREDENTIALS, agents });
      const body = Buffer.from('{"a":1}');
      await s.put('runs/r1/manifest.json', body, 'application/json');
      agents.http.destroy();
      const r = seen[0]!;
      expect(r.headers.host).toBe(forcePathStyle ? `s3.test:${port}` : `aug-bucket.s3.test:${port}`);
      expect(r.url).toBe(forcePathStyle ? '/aug-bucket/runs/r1/manifest.json' : '/runs/r1/manifest.json');
      expect(r.headers['x-amz-content-sha256']).toBe(createHash('sha256').update(body).digest('hex'));
      expect(r.headers.authorization).toMatch(/Credential=test\/\d{8}\/ap-south-1\/s3\/aws4_request, SignedHeaders=[^,]*host[^,]*x-amz-content-sha256[^,]*x-amz-date/);
      expect(verifySigV4(r.method, r.url, r.headers, r.body, S3_CREDENTIALS.secretAccessKey)).toBeUndefined();
    });
  }
});

describe('S3 payload hash', () => {
  it('hashes bodies over plain HTTP and leaves them unsigned over TLS; an empty body has the empty hash either way', () => {
    const body = [Buffer.from('ab'), Buffer.from('c')];
    expect(payloadHash('http:', body)).toBe(createHash('sha256').update('abc').digest('hex'));
    expect(payloadHash('https:', body)).toBe('UNSIGNED-PAYLOAD');
    const empty = createHash('sha256').digest('hex');
    expect(payloadHash('https:', [])).toBe(empty);
    expect(payloadHash('http:', [])).toBe(empty);
  });

  it('leaves a whole-object PUT from UNSIGNED_PUT_BYTES unsigned over plain HTTP, never a part', () => {
    const big = [Buffer.alloc(UNSIGNED_PUT_BYTES - 1), Buffer.alloc(1)];
    expect(payloadHash('http:', big, true)).toBe('UNSIGNED-PAYLOAD');
    expect(payloadHash('http:', big)).toBe(createHash('sha256').update(Buffer.concat(big)).digest('hex'));
    expect(payloadHash('http:', [Buffer.alloc(UNSIGNED_PUT_BYTES - 1)], true)).toBe(createHash('sha256').update(Buffer.alloc(UNSIGNED_PUT_BYTES - 1)).digest('hex'));
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat(big)));
    expect(crc32Base64(big)).toBe(crc.toString('base64'));
  });
});
