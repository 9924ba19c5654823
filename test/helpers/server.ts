import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createApp } from '../../server/app.js';
import { HttpFront } from '../../server/http/listener.js';
import { closeContext, createContext, openStores } from '../../server/bootstrap.js';
import type { AppContext } from '../../server/context.js';
import { createLogger } from '../../server/logger.js';
import { TenantAdmin, type DsnMint } from '../../server/services/tenants.js';
import { createBackends, rid, type Profile, type TestBackends } from './backends.js';

/** A clock tests move by hand instead of sleeping. */
export class TestClock {
  constructor(public t = Date.now()) {}
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface TestServer {
  url: string;
  api: string;
  ctx: AppContext;
  backends: TestBackends;
  admin: TenantAdmin;
  clock: TestClock;
  /** The HTTP listener (drain, bounds). */
  front: HttpFront;
  /** A fresh tenant with a DSN key and a user. */
  tenant(opts?: { modelio?: boolean; admin?: boolean }): Promise<TestTenant>;
  close(): Promise<void>;
}

export interface TestTenant {
  id: string;
  slug: string;
  dsn: DsnMint;
  key: string;
  email: string;
  password: string;
}

/** The real app on real backends, listening on a free loopback port in this process. */
export async function startTestServer(profile: Profile, env: Record<string, string> = {}): Promise<TestServer> {
  const backends = await createBackends(profile, env);
  const logger = createLogger(backends.config.logLevel);
  const stores = await openStores(backends.config, logger);
  const clock = new TestClock();
  const ctx = await createContext(backends.config, logger, stores, clock.now);
  const admin = new TenantAdmin(stores.metadata, backends.config);
  await admin.bootstrap(backends.config, logger, () => undefined);
  // The listener main.ts uses: Node's limits and refusals as in production.
  const front = new HttpFront(createApp(ctx), { headersTimeoutMs: backends.config.headersTimeoutMs, bodyIdleTimeoutMs: backends.config.bodyIdleTimeoutMs }, logger);
  await front.listen(0, '127.0.0.1');
  const server: Server = front.server;
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    api: `${url}/api/v1`,
    ctx,
    backends,
    admin,
    clock,
    front,
    async tenant(opts = {}) {
      const slug = `t-${rid(4)}`;
      const t = await admin.createTenant(slug, { modelio: opts.modelio ?? true });
      const dsn = await admin.issueDsn(t.id, `client-${slug}`);
      const email = `user-${slug}@example.com`;
      const password = `pw-${rid(6)}`;
      await admin.createUser(email, password, slug, opts.admin ?? false);
      return { id: t.id, slug, dsn, key: dsn.api_key, email, password };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await closeContext(ctx);
      await backends.cleanup();
    },
  };
}
