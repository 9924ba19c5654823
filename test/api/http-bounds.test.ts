import net from 'node:net';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_HEADER_BYTES } from '../../server/http/listener.js';
import { BundleKeys } from '../../server/services/bundle.js';
import { PROFILES, productionAvailable } from '../helpers/backends.js';
import { expectSchema } from '../helpers/schemas.js';
import { startTestServer, type TestServer, type TestTenant } from '../helpers/server.js';

/**
 * Bounds Node enforces below Express, answered in the API's error shape: over raw sockets, since
 * fetch cannot send a malformed request line, stall a body or trickle headers. The bounds are
 * made small through their variables so the refusals come quickly.
 */
const HEADERS_TIMEOUT_MS = 600;
const BODY_IDLE_MS = 1_200;

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection (after answering). */
  closed: boolean;
}

/** Parses the first HTTP response in `raw`. */
function parseAnswer(raw: Buffer, closed: boolean): RawAnswer {
  const text = raw.toString('utf8');
  const split = text.indexOf('\r\n\r\n');
  expect(split, `no complete response in ${JSON.stringify(text.slice(0, 200))}`).toBeGreaterThan(0);
  const [statusLine, ...lines] = text.slice(0, split).split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  const length = Number(headers['content-length'] ?? 0);
  return { status: Number(statusLine!.split(' ')[1]), headers, body: text.slice(split + 4, split + 4 + length), closed };
}

/**
 * Opens a connection, writes `first`, then calls `more` every `everyMs` (pacing a slow client)
 * until it returns undefined or the server closes; resolves with the answer once the server
 * closes the connection.
 */
function exchange(port: number, first: Buffer | string, more?: { everyMs: number; next: () => Buffer | string | undefined }): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', (err) => {
      // A reset after the answer arrived still leaves the answer to check.
      if (chunks.length) return;
      clearInterval(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearInterval(timer);
      resolve(parseAnswer(Buffer.concat(chunks), true));
    });
    socket.write(first);
    if (more) {
      timer = setInterval(() => {
        if (socket.destroyed || chunks.length) return clearInterval(timer);
        const piece = more.next();
        if (piece === undefined) return clearInterval(timer);
        socket.write(piece);
      }, more.everyMs);
    }
  });
}

function expectRefusal(answer: RawAnswer, status: number, code: string): Record<string, unknown> {
  expect(answer.status, answer.body).toBe(status);
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  expect(answer.headers['x-request-id']).toMatch(/\S/);
  expect(answer.headers.connection?.toLowerCase()).toBe('close');
  expect(answer.closed).toBe(true);
  const body = JSON.parse(answer.body) as Record<string, unknown>;
  expect(body.code).toBe(code);
  expectSchema(body, 'error.schema.json');
  return body;
}

function png(width: number, height: number): Buffer {
  const p = new PNG({ width, height });
  for (let i = 0; i < p.data.length; i++) p.data[i] = (i * 7919) & 0xff; // noise: compresses badly, so the file is big
  return PNG.sync.write(p);
}

function multipart(image: Buffer): { body: Buffer; type: string } {
  const boundary = 'augurboundary7MA4YWxkTrZu0gW';
  const pre = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="shot.png"\r\nContent-Type: image/png\r\n\r\n`);
  const post = Buffer.from(`\r\n--${boundary}--\r\n`);
  return { body: Buffer.concat([pre, image, post]), type: `multipart/form-data; boundary=${boundary}` };
}

describe.each(PROFILES)('HTTP-level bounds on %s backends', (profile) => {
  const skip = profile === 'production' && !productionAvailable();
  let s: TestServer;
  let t: TestTenant;
  let port: number;

  beforeAll(async () => {
    if (skip) return;
    s = await startTestServer(profile, { AUGUR_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS), AUGUR_BODY_IDLE_TIMEOUT_MS: String(BODY_IDLE_MS) });
    t = await s.tenant();
    port = Number(new URL(s.url).port);
  });
  afterAll(async () => s?.close());

  const requestHead = (method: string, path: string, headers: Record<string, string | number>) =>
    `${method} /api/v1${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${t.key}\r\n${Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}\r\n`;

  it.skipIf(skip)('a JSON body that stops moving gets 408 request_timeout JSON and the connection closed; nothing is stored', async () => {
    const run = 'run_stalled_json';
    const body = JSON.stringify({ step_id: 's0', step_index: 0, status: 'ok', padding: 'x'.repeat(2000) });
    const answer = await exchange(port, requestHead('PUT', `/runs/${run}/steps/0`, { 'Content-Type': 'application/json', 'Content-Length': body.length }) + body.slice(0, 500));
    const refused = expectRefusal(answer, 408, 'request_timeout');
    expect(refused.detail).toContain('no bytes');
    expect(await s.ctx.stores.objects.get(new BundleKeys(t.id, run).step(0))).toBeUndefined();
  });

  it.skipIf(skip)('a screenshot upload declared 50 MB that stalls after its first bytes gets 408 JSON; nothing is stored', async () => {
    const run = 'run_stalled_upload';
    const { body, type } = multipart(png(256, 256));
    const answer = await exchange(port, Buffer.concat([Buffer.from(requestHead('POST', `/runs/${run}/screenshots/0/pre`, { 'Content-Type': type, 'Content-Length': 50_000_000 })), body.subarray(0, body.length - 100)]));
    expectRefusal(answer, 408, 'request_timeout');
    expect(await s.ctx.stores.objects.get(new BundleKeys(t.id, run).screenshot(0, 'pre'))).toBeUndefined();
  });

  it.skipIf(skip)('a slow upload that keeps moving is not cut, however long it takes past the idle bound', async () => {
    const run = 'run_slow_upload';
    const image = png(512, 512);
    const { body, type } = multipart(image);
    const pieces = 16; // sent a piece every quarter of the idle bound: four times the bound in all
    const size = Math.ceil(body.length / pieces);
    let sent = 0;
    const answer = await exchange(port, requestHead('POST', `/runs/${run}/screenshots/0/pre`, { 'Content-Type': type, 'Content-Length': body.length, Connection: 'close' }), {
      everyMs: BODY_IDLE_MS / 4,
      next: () => {
        if (sent >= body.length) return undefined;
        const piece = body.subarray(sent, sent + size);
        sent += piece.length;
        return piece;
      },
    });
    expect(answer.status, answer.body).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ ok: true, bytes: image.length });
    const stored = await s.ctx.stores.objects.get(new BundleKeys(t.id, run).screenshot(0, 'pre'));
    expect(Buffer.concat(await stored!.body.toArray()).equals(image)).toBe(true);
  });

  it.skipIf(skip)('headers trickled in (slowloris) are cut at the headers bound with 408 JSON', async () => {
    let n = 0;
    const answer = await exchange(port, `GET /api/v1/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n`, { everyMs: 50, next: () => `X-Slow-${n++}: still sending\r\n` });
    const refused = expectRefusal(answer, 408, 'request_timeout');
    expect(refused.detail).toContain('headers');
    expect(n).toBeGreaterThan(0);
  });

  it.skipIf(skip)('a connection that sends nothing is closed at the headers bound', async () => {
    const closed = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.resume(); // read, or the server's close would go unseen
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(true));
    });
    expect(closed).toBe(true);
  });

  it.skipIf(skip)('a malformed request line gets 400 bad_request JSON', async () => {
    for (const line of ['THIS IS NOT HTTP\r\n\r\n', 'GET /api/v1/healthz HTTP/9.9\r\nHost: x\r\n\r\n', 'G\x01T / HTTP/1.1\r\n\r\n']) {
      expectRefusal(await exchange(port, line), 400, 'bad_request');
    }
  });

  it.skipIf(skip)(`headers over ${MAX_HEADER_BYTES} bytes get 431 headers_too_large JSON`, async () => {
    const answer = await exchange(port, `GET /api/v1/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(MAX_HEADER_BYTES + 100)}\r\n\r\n`);
    expectRefusal(answer, 431, 'headers_too_large');
  });

  it.skipIf(skip)('a request just under the header limit is served', async () => {
    const r = await fetch(`${s.api}/healthz`, { headers: { 'x-big': 'a'.repeat(MAX_HEADER_BYTES - 1024) } });
    expect(r.status).toBe(200);
  });
});
