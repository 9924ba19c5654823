import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A tiny round-robin load balancer for tests, doing what nginx or an ALB do with a replica that
 * drains: it health-checks `/api/v1/readyz` every `healthEveryMs` and routes only to replicas
 * whose last check answered 200. Requests and bodies are streamed both ways (uploads are never
 * buffered), over keep-alive connections to each replica. Everything it sees is recorded.
 */

export type HealthResult = number | 'refused' | 'error';

export interface Routed {
  id: number;
  backend: string;
  method: string;
  path: string;
  status?: number;
  /** The upstream connection failed (reset, refused) before or during the answer. */
  error?: string;
  done: boolean;
}

export interface Backend {
  name: string;
  port: number;
  healthy: boolean;
  /** Every health check's result, in order. */
  health: HealthResult[];
  agent: http.Agent;
}

export class TestBalancer extends EventEmitter {
  readonly backends: Backend[];
  readonly routed: Routed[] = [];
  private server?: http.Server;
  private timer?: NodeJS.Timeout;
  private next = 0;
  private stopped = false;

  constructor(
    backends: Array<{ name: string; port: number }>,
    private readonly healthEveryMs = 100,
  ) {
    super();
    this.backends = backends.map((b) => ({ ...b, healthy: false, health: [], agent: new http.Agent({ keepAlive: true, maxSockets: 64 }) }));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.proxy(req, res));
    this.server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const loop = async () => {
      await Promise.all(this.backends.map((b) => this.check(b)));
      if (!this.stopped) this.timer = setTimeout(loop, this.healthEveryMs);
    };
    void loop();
  }

  /** Resolves once `predicate` holds, checked after every health check and every routed answer. */
  until(predicate: () => boolean): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (!predicate()) return;
        this.off('change', check);
        resolve();
      };
      this.on('change', check);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    for (const b of this.backends) b.agent.destroy();
  }

  backend(name: string): Backend {
    return this.backends.find((b) => b.name === name)!;
  }

  private check(b: Backend): Promise<void> {
    return new Promise((resolve) => {
      const record = (r: HealthResult) => {
        b.health.push(r);
        b.healthy = r === 200;
        this.emit('change');
        resolve();
      };
      // A fresh connection per check, as load balancers do.
      const req = http.get({ host: '127.0.0.1', port: b.port, path: '/api/v1/readyz', agent: false, timeout: 2_000 }, (res) => {
        res.resume();
        res.on('end', () => record(res.statusCode ?? 0));
        res.on('error', () => record('error'));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err: NodeJS.ErrnoException) => record(err.code === 'ECONNREFUSED' ? 'refused' : 'error'));
    });
  }

  private proxy(req: http.IncomingMessage, res: http.ServerResponse): void {
    const healthy = this.backends.filter((b) => b.healthy);
    if (!healthy.length) {
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"detail":"no healthy replica","code":"not_ready"}');
      return;
    }
    const b = healthy[this.next++ % healthy.length]!;
    const entry: Routed = { id: this.routed.length, backend: b.name, method: req.method!, path: req.url!, done: false };
    this.routed.push(entry);
    this.emit('change');
    const headers = { ...req.headers };
    delete headers.connection;
    delete headers['keep-alive'];
    const up = http.request({ host: '127.0.0.1', port: b.port, method: req.method, path: req.url, headers, agent: b.agent });
    const fail = (err: Error) => {
      if (entry.done) return;
      entry.error = err.message;
      entry.done = true;
      this.emit('change');
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' }).end('{"detail":"upstream failed","code":"bad_gateway"}');
      else res.destroy();
    };
    up.on('error', fail);
    up.on('response', (ures) => {
      entry.status = ures.statusCode;
      const out = { ...ures.headers };
      delete out.connection;
      delete out['keep-alive'];
      res.writeHead(ures.statusCode ?? 502, out);
      ures.pipe(res);
      ures.on('error', fail);
      ures.on('end', () => {
        entry.done = true;
        this.emit('change');
      });
    });
    // The client went away (a test aborting its own long-poll): drop the upstream request too.
    res.on('close', () => {
      if (!entry.done) {
        entry.error ??= 'client closed';
        entry.done = true;
        up.destroy();
        this.emit('change');
      }
    });
    req.pipe(up);
  }
}
