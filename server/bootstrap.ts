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
import { Housekeeping } from './services/housekeeping.js';
import { UploadMemory, type Gc } from './http/upload-memory.js';
import path from 'node:path';
import { tagStore } from './services/backend-failure.js';
import { createObjectStore, type ObjectStoreConfig } from '../storage/objects/index.js';
import { createMetadataStore, type MetadataStoreConfig } from '../storage/metadata/index.js';
import { createPresenceStore, type PresenceStoreConfig } from '../storage/presence/index.js';

export interface StoreConfigs {
  objects: ObjectStoreConfig;
  metadata: MetadataStoreConfig;
  presence: PresenceStoreConfig;
}

/** The server's configuration put in each port's terms: a production backend where its variable is set, the embedded one otherwise. */
export function storeConfigs(config: Config): StoreConfigs {
  return {
    objects: config.s3 ? { driver: 's3', ...config.s3, timeoutMs: config.backendTimeoutMs } : { driver: 'fs', root: path.join(config.dataDir, 'objects') },
    metadata: config.databaseUrl
      ? { driver: 'postgres', url: config.databaseUrl, timeoutMs: config.backendTimeoutMs }
      : { driver: 'sqlite', file: path.join(config.dataDir, 'augur.sqlite') },
    presence: config.redisUrl ? { driver: 'redis', url: config.redisUrl, prefix: config.redisPrefix } : { driver: 'memory' },
  };
}

/** Opens the three stores the configuration names and runs pending migrations. */
export async function openStores(config: Config, logger: Logger): Promise<Stores> {
  const backends = describeBackends(config);
  logger.info({ backends }, `backends: objects=${backends.objects}; metadata=${backends.metadata}; presence=${backends.presence}`);
  const configs = storeConfigs(config);
  // Tagged so a bare ECONNRESET still says which store failed (503 backend_unavailable names it).
  const stores: Stores = {
    objects: tagStore(await createObjectStore(configs.objects), 'objects'),
    metadata: tagStore(createMetadataStore(configs.metadata), 'metadata'),
    presence: tagStore(createPresenceStore(configs.presence), 'presence'),
  };
  try {
    await stores.metadata.migrate();
  } catch (err) {
    await closeStores(stores);
    throw err;
  }
  return stores;
}

/** Closes every store; one failing to close does not keep the others open. */
export async function closeStores(stores: Stores): Promise<void> {
  await Promise.allSettled([stores.objects.close(), stores.metadata.close(), stores.presence.close()]);
}

/**
 * Builds the per-process services around the stores. `gc` is for a serving process only (see
 * server/http/upload-memory.ts): without it uploads leave their buffers to V8's own schedule.
 */
export async function createContext(config: Config, logger: Logger, stores: Stores, now: () => number = Date.now, gc?: Gc): Promise<AppContext> {
  const dsnCache = new DsnCache(stores.metadata, stores.presence, logger, now);
  await dsnCache.start();
  const tokenUse = new LastUsedBatch((batch) => stores.metadata.touchReadTokens(batch));
  const runIndex = new RunIndexWriter(stores.metadata, logger);
  runIndex.start();
  const housekeeping = new Housekeeping({ metadata: stores.metadata, dsnCache, tokenUse, logger, now });
  housekeeping.start();
  const commands = new CommandHub(stores.metadata, stores.presence, logger, { holdMs: config.commandsHoldMs, recheckMs: config.commandsRecheckMs });
  await commands.start();
  return {
    config,
    stores,
    logger,
    validator: new Validator(),
    dsnCache,
    runIndex,
    housekeeping,
    appends: new Appender(stores.objects, stores.presence),
    tokenUse,
    uploadMemory: new UploadMemory(gc),
    commands,
    now,
  };
}

/** Flushes what is buffered, then closes every store. */
export async function closeContext(ctx: AppContext): Promise<void> {
  ctx.commands.shutdown();
  await ctx.runIndex.stop().catch((err) => ctx.logger.warn({ err }, 'final run index flush failed'));
  await closeDiagnostics(ctx).catch((err) => ctx.logger.warn({ err }, 'could not stop the pixel worker'));
  await ctx.housekeeping.stop();
  await closeStores(ctx.stores);
}
