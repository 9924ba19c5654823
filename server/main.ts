import type { Server } from 'node:http';
import { createApp } from './app.js';
import { closeContext, createContext, openStores } from './bootstrap.js';
import { loadConfig, type Config } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { TenantAdmin } from './services/tenants.js';
import { exposeGc } from './http/upload-memory.js';

/** In-flight requests get this long after SIGTERM; the process is gone well before 10 s. */
const DRAIN_MS = 7_000;
const HARD_STOP_MS = 9_500;

/** config → stores → app → listen; SIGTERM stops accepting, drains, closes the stores, exits 0. */
export async function serve(config: Config = loadConfig(), logger: Logger = createLogger(config.logLevel)): Promise<Server> {
  const stores = await openStores(config, logger);
  await new TenantAdmin(stores.metadata, config).bootstrap(config, logger, (text) => process.stderr.write(text));
  const ctx = await createContext(config, logger, stores, Date.now, exposeGc());
  const app = createApp(ctx);
  const server = app.listen(config.port, config.host);
  // Explicit timeouts: slow clients cannot hold sockets forever; keep-alive outlives the load balancer's.
  server.requestTimeout = 300_000;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  logger.info({ port, host: config.host, public_url: config.publicUrl }, `augur listening on ${config.host}:${port}`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new connections, draining in-flight requests');
    // Held command polls answer now (with what they have), or the drain would wait out their hold.
    ctx.commands.shutdown();
    const force = setTimeout(() => server.closeAllConnections(), DRAIN_MS);
    force.unref();
    // Last resort: a store that hangs while closing must not keep the process past 10 s.
    setTimeout(() => {
      logger.error('stores did not close in time; exiting');
      logger.flush();
      process.exit(1);
    }, HARD_STOP_MS).unref();
    server.close(async () => {
      clearTimeout(force);
      await closeContext(ctx);
      logger.info('stopped');
      logger.flush();
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return server;
}
