import type { Server } from 'node:http';
import { createApp } from './app.js';
import { closeContext, createContext, openStores } from './bootstrap.js';
import { loadConfig, type Config } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { TenantAdmin } from './services/tenants.js';
import { HttpFront, STORES_CLOSE_MS } from './http/listener.js';
import { exposeGc } from './http/upload-memory.js';


/**
 * config → stores → app → listen. SIGTERM drains (README "Shutting down a replica"):
 *   1. `/readyz` answers 503 `draining` at once; every response says Connection: close; the
 *      replica keeps serving for AUGUR_DRAIN_DELAY_MS while the load balancer notices;
 *   2. held command polls are released, the listener closes, idle connections end, and in-flight
 *      requests (uploads included) get AUGUR_DRAIN_TIMEOUT_MS to finish;
 *   3. the stores close and the process exits 0.
 * A second SIGTERM/SIGINT skips what is left of the delay.
 */
export async function serve(config: Config = loadConfig(), logger: Logger = createLogger(config.logLevel)): Promise<Server> {
  const stores = await openStores(config, logger);
  await new TenantAdmin(stores.metadata, config).bootstrap(config, logger, (text) => process.stderr.write(text));
  const ctx = await createContext(config, logger, stores, Date.now, exposeGc());
  const front = new HttpFront(createApp(ctx), { headersTimeoutMs: config.headersTimeoutMs, bodyIdleTimeoutMs: config.bodyIdleTimeoutMs }, logger);
  await front.listen(config.port, config.host);
  logger.info({ port: front.port, host: config.host, public_url: config.publicUrl }, `augur listening on ${config.host}:${front.port}`);

  let skipDelay: (() => void) | undefined;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      skipDelay?.();
      return;
    }
    stopping = true;
    // Last resort: whatever hangs, the process is gone within delay + timeout + store close.
    setTimeout(() => {
      logger.error('shutdown did not finish in time; exiting');
      logger.flush();
      process.exit(1);
    }, config.drainDelayMs + config.drainTimeoutMs + STORES_CLOSE_MS).unref();
    ctx.lifecycle.draining = true;
    front.beginDrain();
    logger.info({ signal, delay_ms: config.drainDelayMs }, 'draining: /readyz answers 503, still serving while the load balancer moves traffic away');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, config.drainDelayMs);
      skipDelay = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    // Held command polls answer now (with what they have), or the drain would wait out their hold.
    ctx.commands.shutdown();
    logger.info({ connections: front.connections, in_flight: front.requestsInFlight, timeout_ms: config.drainTimeoutMs }, 'listener closed: finishing in-flight requests');
    const { cut } = await front.close(config.drainTimeoutMs);
    if (cut > 0) logger.warn({ cut }, 'drain timeout: connections still busy were cut');
    await closeContext(ctx);
    logger.info('stopped');
    logger.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  return front.server;
}
