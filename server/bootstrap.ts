import type { Config } from './config.js';
import { describeBackends } from './config.js';
import type { AppContext, Stores } from './context.js';
import type { Logger } from './logger.js';
import { Validator } from './http/validator.js';
import { Appender } from './services/appends.js';
import { CommandHub } from './services/commands.js';
import { closeDiagnostics } from './services/diagnostics/findings.js';
import { DsnCache } from './services/dsn-cache.js';
import { LastUsedBatch } from './services/last-used.js';
import { RunIndexWriter } from './services/run-index.js';
import { createObjectStore } from '../storage/objects/index.js';
import { createMetadataStore } from '../storage/metadata/index.js';
import { createPresenceStore } from '../storage/presence/index.js';

const SESSION_SWEEP_MS = 3_600_000;

/** Opens the three stores the configuration names and runs pending migrations. */
export async function openStores(config: Config, logger: Logger): Promise<Stores> {
  const backends = describeBackends(config);
  logger.info({ backends }, `backends: objects=${backends.objects}; metadata=${backends.metadata}; presence=${backends.presence}`);
  const objects = await createObjectStore(config);
  const metadata = createMetadataStore(config);
  const presence = createPresenceStore(config);
  try {
    await metadata.migrate();
  } catch (err) {
    await Promise.allSettled([objects.close(), metadata.close(), presence.close()]);
    throw err;
  }
  return { objects, metadata, presence };
}

/** Builds the per-process services around the stores. */
export async function createContext(config: Config, logger: Logger, stores: Stores, now: () => number = Date.now): Promise<AppContext> {
  const dsnCache = new DsnCache(stores.metadata, stores.presence, logger, now);
  await dsnCache.start();
  // Expired sessions are refused on read already; sweeping them keeps the table small.
  let lastSweep = 0;
  const sweepSessions = async () => {
    if (now() - lastSweep < SESSION_SWEEP_MS) return;
    lastSweep = now();
    await stores.metadata.deleteExpiredSessions(lastSweep);
  };
  const tokenUse = new LastUsedBatch((batch) => stores.metadata.touchReadTokens(batch));
  const runIndex = new RunIndexWriter(stores.metadata, logger, [() => dsnCache.flush(), () => tokenUse.flush(), sweepSessions]);
  runIndex.start();
  const commands = new CommandHub(stores.metadata, stores.presence, logger, { holdMs: config.commandsHoldMs, recheckMs: config.commandsRecheckMs });
  await commands.start();
  return {
    config,
    stores,
    logger,
    validator: new Validator(),
    dsnCache,
    runIndex,
    appends: new Appender(stores.objects, stores.presence),
    tokenUse,
    commands,
    now,
  };
}

/** Flushes what is buffered, then closes every store. */
export async function closeContext(ctx: AppContext): Promise<void> {
  ctx.commands.shutdown();
  await ctx.runIndex.stop().catch((err) => ctx.logger.warn({ err }, 'final run index flush failed'));
  await closeDiagnostics(ctx).catch((err) => ctx.logger.warn({ err }, 'could not stop the pixel worker'));
  await Promise.allSettled([ctx.stores.objects.close(), ctx.stores.metadata.close(), ctx.stores.presence.close()]);
}
