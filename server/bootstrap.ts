import type { Config } from './config.js';
import { describeBackends } from './config.js';
import type { AppContext, Stores } from './context.js';
import type { Logger } from './logger.js';
import { Validator } from './http/validator.js';
import { Appender } from './services/appends.js';
import { CommandHub } from './services/commands.js';
import { closeDiagnostics, pixelBacklog } from './services/diagnostics/findings.js';
import { DsnCache } from './services/dsn-cache.js';
import { Metrics } from './services/metrics.js';
import { instrumentStores } from './services/store-metrics.js';
import { LastUsedBatch } from './services/last-used.js';
import { RunIndexWriter } from './services/run-index.js';
import { Housekeeping } from './services/housekeeping.js';
import { UploadMemory, type Gc } from './http/upload-memory.js';
import path from 'node:path';
import { tagStore } from './services/backend-failure.js';
import { createObjectStore, TooLargeError, type ObjectStoreConfig } from '../storage/objects/index.js';
import { ConflictError, createMetadataStore, type MetadataStoreConfig } from '../storage/metadata/index.js';
import { ApiError } from './errors.js';
import { createPresenceStore, type PresenceStoreConfig } from '../storage/presence/index.js';
import { createAppendLedger, type AppendLedgerConfig } from '../storage/append-ledger/index.js';
import { createRateLimiter, type RateLimiterConfig } from '../storage/rate-limiter/index.js';
import { createMessageBus, type MessageBusConfig } from '../storage/bus/index.js';
import { IngestLimits } from './services/rate-limits.js';
import { OverloadGuard } from './services/overload.js';
import { TenantSlots } from './services/tenant-slots.js';

export interface StoreConfigs {
  objects: ObjectStoreConfig;
  metadata: MetadataStoreConfig;
  presence: PresenceStoreConfig;
  appendLedger: AppendLedgerConfig;
  rateLimiter: RateLimiterConfig;
  bus: MessageBusConfig;
}

/** The server's configuration put in each port's terms: a production backend where its variable is set, the embedded one otherwise. */
export function storeConfigs(config: Config): StoreConfigs {
  const shared = config.redisUrl ? ({ driver: 'redis', url: config.redisUrl, prefix: config.redisPrefix, timeoutMs: config.backendTimeoutMs } as const) : ({ driver: 'memory' } as const);
  return {
    objects: config.s3 ? { driver: 's3', ...config.s3, timeoutMs: config.backendTimeoutMs } : { driver: 'fs', root: path.join(config.dataDir, 'objects') },
    metadata: config.databaseUrl ? { driver: 'postgres', url: config.databaseUrl, timeoutMs: config.backendTimeoutMs } : { driver: 'sqlite', file: path.join(config.dataDir, 'augur.sqlite') },
    // The four small shared-state ports all live in the one Redis when it is configured (one
    // command connection per process, see storage/redis/connection.ts), in-process otherwise.
    presence: shared,
    appendLedger: shared,
    rateLimiter: shared,
    bus: shared,
  };
}

/** Opens the stores the configuration names and runs pending migrations. */
export async function openStores(config: Config, logger: Logger): Promise<Stores> {
  const backends = describeBackends(config);
  logger.info({ backends }, `backends: objects=${backends.objects}; metadata=${backends.metadata}; presence=${backends.presence}`);
  const configs = storeConfigs(config);
  // Tagged so a bare ECONNRESET still says which store failed (503 backend_unavailable names it).
  const stores: Stores = {
    objects: tagStore(await createObjectStore(configs.objects), 'objects'),
    metadata: tagStore(createMetadataStore(configs.metadata), 'metadata'),
    presence: tagStore(createPresenceStore(configs.presence), 'presence'),
    appendLedger: tagStore(createAppendLedger(configs.appendLedger), 'presence'),
    rateLimiter: tagStore(createRateLimiter(configs.rateLimiter), 'presence'),
    bus: tagStore(createMessageBus(configs.bus), 'presence'),
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
  await Promise.allSettled(Object.values(stores).map((s: { close(): Promise<void> }) => s.close()));
}

/**
 * Builds the per-process services around the stores. `gc` is for a serving process only (see
 * server/http/upload-memory.ts): without it uploads leave their buffers to V8's own schedule.
 */
export async function createContext(config: Config, logger: Logger, openedStores: Stores, now: () => number = Date.now, gc?: Gc): Promise<AppContext> {
  // One registry per context (several apps share a test process). Held polls are read at scrape time.
  let commands: CommandHub | undefined;
  let built: AppContext | undefined;
  const tenantSlots = new TenantSlots({ maxInFlight: config.tenantMaxInFlight, maxQueued: config.tenantMaxQueued });
  const metrics = new Metrics({
    heldPolls: () => commands?.heldPolls ?? 0,
    queuedIngest: () => tenantSlots.queued,
    pixelBacklog: () => (built ? pixelBacklog(built) : 0),
  });
  // Every store call is timed at this boundary, whatever its driver: one generic wrapper per port.
  const stores = instrumentStores(openedStores, metrics, callerFault);
  const dsnCache = new DsnCache(stores.metadata, stores.bus, logger, now, undefined, { hit: metrics.dsnHit, miss: metrics.dsnMiss });
  await dsnCache.start();
  const tokenUse = new LastUsedBatch((batch) => stores.metadata.touchReadTokens(batch));
  const runIndex = new RunIndexWriter(stores.metadata, logger);
  runIndex.start();
  const housekeeping = new Housekeeping({ metadata: stores.metadata, dsnCache, tokenUse, logger, now });
  housekeeping.start();
  commands = new CommandHub(stores.metadata, stores.bus, logger, { holdMs: config.commandsHoldMs, recheckMs: config.commandsRecheckMs });
  await commands.start();
  built = {
    config,
    stores,
    logger,
    validator: new Validator(),
    dsnCache,
    runIndex,
    housekeeping,
    appends: new Appender(stores.objects, stores.appendLedger),
    tokenUse,
    uploadMemory: new UploadMemory(gc),
    commands,
    metrics,
    lifecycle: { draining: false },
    ingestLimits: new IngestLimits(stores.rateLimiter, { perKey: config.rateLimitPerKey, perTenant: config.rateLimitPerTenant }, logger),
    overload: new OverloadGuard({ maxInFlight: config.maxInFlight, maxLagMs: config.maxEventLoopLagMs }, metrics),
    tenantSlots,
    now,
  };
  return built;
}

/** Store refusals the caller caused (not counted as backend errors): a unique conflict, an upload over its limit, an upload refused for its content (a non-PNG). */
function callerFault(err: unknown): boolean {
  return err instanceof ConflictError || err instanceof TooLargeError || err instanceof ApiError;
}

/** Flushes what is buffered, then closes every store. */
export async function closeContext(ctx: AppContext): Promise<void> {
  ctx.commands.shutdown();
  ctx.overload.stop();
  await ctx.runIndex.stop().catch((err) => ctx.logger.warn({ err }, 'final run index flush failed'));
  await closeDiagnostics(ctx).catch((err) => ctx.logger.warn({ err }, 'could not stop the pixel worker'));
  await ctx.housekeeping.stop();
  await closeStores(ctx.stores);
}
