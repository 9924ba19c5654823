import net from 'node:net';

/**
 * A TCP proxy for outage tests: put it between a server and a backend (Postgres, Redis, S3) and
 * switch what the backend looks like to the server:
 * - `pass`: bytes flow both ways;
 * - `cut`: every open connection is reset and new ones are closed at once (a backend gone);
 * - `refuse`: the listening socket is closed, so connecting fails with ECONNREFUSED;
 * - `stall`: connections stay open and new ones are accepted, but no byte moves either way (a
 *   partition, or a backend that accepts and never answers); what is sent meanwhile waits in the
 *   socket buffers and moves on when the mode goes back to `pass`, as after a healed partition.
 * Loopback only: it listens on 127.0.0.1 and connects to the target given.
 */
export type FaultMode = 'pass' | 'cut' | 'refuse' | 'stall';

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  piped: boolean;
}

export class FaultProxy {
  private server?: net.Server;
  private mode: FaultMode = 'pass';
  private readonly pairs = new Set<Pair>();
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(port = 0): Promise<number> {
    this.server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port || this.port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  get url(): string {
    return `127.0.0.1:${this.port}`;
  }

  async set(mode: FaultMode): Promise<void> {
    const was = this.mode;
    this.mode = mode;
    if (mode === 'cut' || mode === 'refuse') for (const p of this.pairs) this.drop(p);
    if (mode === 'refuse' && this.server) {
      const s = this.server;
      this.server = undefined;
      await new Promise<void>((r) => s.close(() => r()));
    }
    if (was === 'refuse' && mode !== 'refuse' && !this.server) await this.start(this.port);
    for (const p of this.pairs) this.apply(p);
  }

  async stop(): Promise<void> {
    for (const p of this.pairs) this.drop(p);
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  private accept(client: net.Socket): void {
    client.on('error', () => undefined);
    if (this.mode === 'cut') {
      client.destroy();
      return;
    }
    const upstream = net.connect(this.targetPort, this.targetHost);
    upstream.on('error', () => this.drop(pair));
    client.on('close', () => this.drop(pair));
    upstream.on('close', () => this.drop(pair));
    const pair: Pair = { client, upstream, piped: false };
    this.pairs.add(pair);
    this.apply(pair);
  }

  /** A stalled pair reads nothing, so nothing moves and back-pressure holds the rest in the buffers. */
  private apply(p: Pair): void {
    if (this.mode === 'stall' && p.piped) {
      p.client.unpipe(p.upstream);
      p.upstream.unpipe(p.client);
      p.client.pause();
      p.upstream.pause();
      p.piped = false;
    } else if (this.mode === 'pass' && !p.piped) {
      p.client.pipe(p.upstream);
      p.upstream.pipe(p.client);
      p.piped = true;
    }
  }

  private drop(p: Pair): void {
    if (!this.pairs.delete(p)) return;
    p.client.resetAndDestroy?.();
    p.upstream.destroy();
  }
}
