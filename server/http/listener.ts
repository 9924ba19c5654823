import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ERROR_CODES, type ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import { API_HEADERS } from './security-headers.js';

/**
 * The HTTP listener around the Express app: Node's own limits made explicit, its refusals (a
 * malformed request line, headers too slow or too big) answered in the API's `{detail, code}`
 * shape, a body that stops moving refused, and the drain a SIGTERM starts (server/main.ts).
 */

/** Request line and headers together; Node's default, stated here so it is a documented limit. */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Whole request (headers and body) at most this long: 32 MiB at 0.9 Mbit/s. The body idle bound catches stalls long before. */
export const REQUEST_TIMEOUT_MS = 300_000;
/** Above nginx's upstream keepalive_timeout (60 s, deploy/nginx.conf): the balancer drops an idle connection first. */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;
/** Closing the stores after a drain gets this long (server/main.ts); a store that hangs must not keep the process. */
export const STORES_CLOSE_MS = 5_000;
/** After a refusal the client gets this long to read it before the socket is destroyed. */
const LINGER_MS = 2_000;

export interface HttpBounds {
  headersTimeoutMs: number;
  bodyIdleTimeoutMs: number;
}

/** What a connection is doing, tracked from public events only. */
interface ConnState {
  /** Requests whose response has not closed yet. */
  inflight: number;
  /** socket.bytesRead when the connection last had no request in flight (connect, or the last answer's end): more bytes since are a next request arriving. */
  bytesAtIdle: number;
  /** The response of the request in flight, if any. */
  current?: ServerResponse;
  /** While draining: when the sweep first saw a next request arriving (its headers bound starts there). */
  sendingSince?: number;
}

interface BodyWatch {
  req: IncomingMessage;
  res: ServerResponse;
  bytes: number;
  movedAt: number;
}

/** A JSON error response as raw HTTP, for sockets Express never saw. */
function rawError(status: number, code: ErrorCode, detail: string): string {
  const body = `${JSON.stringify({ detail, code })}\n`;
  const headers = [
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    `X-Request-Id: ${randomUUID()}`,
    ...API_HEADERS.map(([k, v]) => `${k}: ${v}`),
    'Connection: close',
  ];
  return `${headers.join('\r\n')}\r\n\r\n${body}`;
}

export class HttpFront {
  readonly server: http.Server;
  private readonly conns = new Map<Socket, ConnState>();
  private readonly bodies = new Set<BodyWatch>();
  private bodyTimer: NodeJS.Timeout | undefined;
  private draining = false;
  private closing = false;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly answered = new WeakSet<Socket>();

  constructor(
    app: RequestListener,
    readonly bounds: HttpBounds,
    private readonly logger: Logger,
  ) {
    this.server = http.createServer({
      maxHeaderSize: MAX_HEADER_BYTES,
      headersTimeout: bounds.headersTimeoutMs,
      requestTimeout: Math.max(REQUEST_TIMEOUT_MS, bounds.headersTimeoutMs),
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      // Node checks the two timeouts above this often (30 s by default, which let a slowloris
      // hold a socket 60–90 s): a quarter of the headers bound, at most a second.
      connectionsCheckingInterval: Math.min(1_000, Math.max(25, Math.floor(bounds.headersTimeoutMs / 4))),
    });
    this.server.on('connection', (socket: Socket) => {
      this.conns.set(socket, { inflight: 0, bytesAtIdle: 0 });
      socket.once('close', () => this.conns.delete(socket));
    });
    // Before the app: connection bookkeeping, the drain's Connection: close, the body watch.
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res));
    this.server.on('request', app);
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket));
  }

  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  get port(): number {
    const addr = this.server.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  /** Connections open right now (a figure for the drain's log lines). */
  get connections(): number {
    return this.conns.size;
  }

  /** Requests whose answer has not ended yet. */
  get requestsInFlight(): number {
    let n = 0;
    for (const c of this.conns.values()) n += c.inflight;
    return n;
  }

  /** From now on every response says Connection: close, so clients and balancers reconnect elsewhere. */
  beginDrain(): void {
    this.draining = true;
    // Requests already in flight too, where their answer has not started.
    for (const c of this.conns.values()) if (c.current && !c.current.headersSent) c.current.setHeader('Connection', 'close');
  }

  /**
   * Stops accepting and ends idle connections; resolves once every connection has ended (each
   * in-flight request answered, its connection then closed), or after timeoutMs with whatever is
   * left cut. Node stops enforcing its header and request timeouts once the listener is closed,
   * so a sweep does that here: a connection with nothing in flight that sends no next request is
   * ended at once, one that is sending one gets the headers bound.
   */
  close(timeoutMs: number): Promise<{ cut: number }> {
    this.beginDrain();
    this.closing = true;
    return new Promise((resolve) => {
      let settled = false;
      const finish = (cut: number) => {
        if (settled) return;
        settled = true;
        clearInterval(this.sweepTimer);
        clearTimeout(force);
        resolve({ cut });
      };
      const force = setTimeout(() => {
        const cut = this.conns.size;
        this.server.closeAllConnections();
        for (const socket of this.conns.keys()) socket.destroy();
        finish(cut);
      }, timeoutMs);
      this.server.close(() => finish(0));
      this.sweep();
      this.sweepTimer = setInterval(() => this.sweep(), Math.min(250, this.bounds.headersTimeoutMs));
    });
  }

  private sweep(): void {
    const now = Date.now();
    for (const [socket, c] of this.conns) {
      if (c.inflight > 0) continue;
      if (socket.bytesRead === c.bytesAtIdle) {
        socket.destroy();
        continue;
      }
      c.sendingSince ??= now;
      if (now - c.sendingSince >= this.bounds.headersTimeoutMs) socket.destroy();
    }
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    const c = this.conns.get(socket);
    if (c) {
      c.inflight++;
      c.current = res;
    }
    res.once('close', () => {
      if (!c) return;
      c.inflight--;
      if (c.current === res) c.current = undefined;
      c.bytesAtIdle = socket.bytesRead;
      c.sendingSince = undefined;
      // Draining: a keep-alive connection whose last answer just went out is ended now.
      if (this.closing && c.inflight === 0) setImmediate(() => this.sweep());
    });
    if (this.draining) res.setHeader('Connection', 'close');
    const te = req.headers['transfer-encoding'];
    const length = Number(req.headers['content-length'] ?? 0);
    if (te !== undefined || length > 0) this.watchBody(req, res);
  }

  /**
   * A body that delivers no byte for bodyIdleTimeoutMs is refused, while one that trickles in
   * slowly is left alone (Node's requestTimeout bounds the whole request only). Bytes are counted
   * on the socket, so the watch never touches the request stream its route reads; a body that
   * waits on the server (its buffer full: the store is slow, or nothing reads it yet) is not idle.
   */
  private watchBody(req: IncomingMessage, res: ServerResponse): void {
    this.bodies.add({ req, res, bytes: req.socket.bytesRead, movedAt: Date.now() });
    if (!this.bodyTimer) {
      const every = Math.min(1_000, Math.max(25, Math.floor(this.bounds.bodyIdleTimeoutMs / 4)));
      this.bodyTimer = setInterval(() => this.checkBodies(), every);
      this.bodyTimer.unref();
    }
  }

  private checkBodies(): void {
    const now = Date.now();
    for (const w of this.bodies) {
      const { req, res } = w;
      // Watched until the body is in, even once answered: Node reads the rest of an unread body
      // before the connection serves its next request.
      if (req.complete || req.destroyed) {
        this.bodies.delete(w);
        continue;
      }
      const bytes = req.socket.bytesRead;
      if (bytes > w.bytes || req.readableLength >= req.readableHighWaterMark) {
        w.bytes = bytes;
        w.movedAt = now;
        continue;
      }
      if (now - w.movedAt < this.bounds.bodyIdleTimeoutMs) continue;
      this.bodies.delete(w);
      this.refuseIdleBody(req, res);
    }
    if (this.bodies.size === 0) {
      clearInterval(this.bodyTimer);
      this.bodyTimer = undefined;
    }
  }

  private refuseIdleBody(req: IncomingMessage, res: ServerResponse): void {
    const detail = `Request body stalled: no bytes for ${this.bounds.bodyIdleTimeoutMs} ms (AUGUR_BODY_IDLE_TIMEOUT_MS)`;
    this.logger.info({ req_id: (req as { id?: string }).id, method: req.method, url: req.url, status: 408, code: 'request_timeout' }, detail);
    if (res.headersSent) {
      req.socket.destroy();
      return;
    }
    // The route is still waiting on the body: answer for it, then the connection closes, which
    // fails its read (an upload stores nothing: object writes complete only at their end).
    const body = `${JSON.stringify({ detail, code: 'request_timeout' })}\n`;
    res.statusCode = ERROR_CODES.request_timeout;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.setHeader('Connection', 'close');
    res.end(body, () => setTimeout(() => req.socket.destroy(), LINGER_MS).unref());
  }

  /** Node's refusals before Express sees a request, in the API's error shape. */
  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (this.answered.has(socket)) return;
    this.answered.add(socket);
    const c = this.conns.get(socket);
    const inRequest = (c?.inflight ?? 0) > 0;
    const started = c?.current?.headersSent ?? false;
    let answer: [number, ErrorCode, string] | undefined;
    switch (err.code) {
      case 'HPE_HEADER_OVERFLOW':
        answer = [431, 'headers_too_large', `Request line and headers larger than ${MAX_HEADER_BYTES} bytes`];
        break;
      case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
        answer = [413, 'payload_too_large', 'Chunk extensions too large'];
        break;
      case 'ERR_HTTP_REQUEST_TIMEOUT':
        answer = inRequest
          ? [408, 'request_timeout', `Request not received within ${REQUEST_TIMEOUT_MS} ms`]
          : [408, 'request_timeout', `Request headers not received within ${this.bounds.headersTimeoutMs} ms (AUGUR_HEADERS_TIMEOUT_MS)`];
        break;
      default:
        if (err.code?.startsWith('HPE_')) answer = [400, 'bad_request', `Malformed HTTP request: ${(err as { reason?: string }).reason ?? err.message}`];
    }
    // Only where no response of ours has started on this socket (as Node's own handler does).
    if (!answer || !socket.writable || started) {
      socket.destroy();
      return;
    }
    this.logger.info({ status: answer[0], code: answer[1], err_code: err.code }, answer[2]);
    socket.end(rawError(...answer));
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  }
}
