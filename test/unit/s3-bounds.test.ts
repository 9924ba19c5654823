import http from 'node:http';
import net from 'node:net';
import { buffer } from 'node:stream/consumers';
import { afterEach, describe, expect, it } from 'vitest';
import { classifyBackendError } from '../../server/services/backend-failure.js';
import { LeanS3 } from '../../storage/objects/s3-lean.js';

/**
 * The S3 client's bounds against loopback servers that misbehave on purpose: retries only for
 * operations safe to repeat, and a call that meets a silent server ends with a timeout (classified
 * as an object store outage) instead of waiting.
 */
const STEP_MS = 200;
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  closers.push(
    () =>
      new Promise<void>((r) => {
        (server as http.Server).closeAllConnections?.();
        server.close(() => r());
      }),
  );
  return (server.address() as net.AddressInfo).port;
}

const client = (port: number) =>
  new LeanS3({
    bucket: 'b',
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${port}`,
    forcePathStyle: true,
    credentials: { accessKeyId: 'k', secretAccessKey: 's' },
    stepTimeoutMs: STEP_MS,
    maxAttempts: 3,
  });

describe('LeanS3 bounds', () => {
  it('retries a whole-object PUT on 503 but sends a multipart POST once; both end as an objects outage', async () => {
    const seen: string[] = [];
    const port = await listen(
      http.createServer((req, res) => {
        seen.push(req.method!);
        req.resume();
        req.on('end', () => res.writeHead(503).end('<Error><Code>SlowDown</Code></Error>'));
      }),
    );
    const s3 = client(port);
    closers.push(async () => s3.close());
    const put = await s3.put('k', Buffer.from('x'), 'text/plain').catch((e: unknown) => e);
    // Retried while the call's bound (2 × the step) leaves room for the backoff: two or three attempts.
    expect(seen.filter((m) => m === 'PUT').length).toBeGreaterThanOrEqual(2);
    expect(seen.filter((m) => m === 'PUT').length).toBeLessThanOrEqual(3);
    expect(classifyBackendError(put)?.backend).toBe('objects');
    const post = await s3.createMultipart('k', 'text/plain').catch((e: unknown) => e);
    expect(seen.filter((m) => m === 'POST')).toHaveLength(1);
    expect(classifyBackendError(post)?.backend).toBe('objects');
  });

  it('a server that accepts and never answers: the call ends with ETIMEDOUT within its bound, retries included', async () => {
    let connections = 0;
    const sockets: net.Socket[] = [];
    const port = await listen(
      net.createServer((s) => {
        connections++;
        sockets.push(s);
        s.on('error', () => undefined);
      }),
    );
    closers.push(async () => sockets.forEach((s) => s.destroy()));
    const s3 = client(port);
    closers.push(async () => s3.close());
    const t0 = Date.now();
    const err = (await s3.head('k').catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err.code).toBe('ETIMEDOUT');
    expect(classifyBackendError(err)?.backend).toBe('objects');
    // The call's bound is 2 × the step (400 ms): far below this coarse ceiling, which catches a hang.
    expect(Date.now() - t0).toBeLessThan(10 * STEP_MS);
    expect(connections).toBeGreaterThanOrEqual(1);
    expect(connections).toBeLessThanOrEqual(3);
  });

  it('a GET whose body stops midway fails the reader instead of hanging it', async () => {
    const port = await listen(
      http.createServer((_req, res) => {
        res.writeHead(200, { 'content-length': '100', 'content-type': 'application/octet-stream' });
        res.write('only part of it'); // and then nothing
      }),
    );
    const s3 = client(port);
    closers.push(async () => s3.close());
    const { body } = await s3.get('k', STEP_MS);
    const err = (await buffer(body).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err).toBeInstanceOf(Error);
    // Raised by the body stream, not by a store method: the client marks it as the object store's itself.
    expect(classifyBackendError(err)?.backend).toBe('objects');
  });
});
