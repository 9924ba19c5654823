import type { Config } from './config.js';
import type { Logger } from './logger.js';
import type { ObjectStore } from '../storage/objects/index.js';
import type { MetadataStore } from '../storage/metadata/index.js';
import type { PresenceStore } from '../storage/presence/index.js';
import type { AppendLedger } from '../storage/append-ledger/index.js';
import type { RateLimiter } from '../storage/rate-limiter/index.js';
import type { MessageBus } from '../storage/bus/index.js';
import type { Validator } from './http/validator.js';
import type { DsnCache } from './services/dsn-cache.js';
import type { RunIndexWriter } from './services/run-index.js';
import type { Appender } from './services/appends.js';
import type { LastUsedBatch } from './services/last-used.js';
import type { Housekeeping } from './services/housekeeping.js';
import type { UploadMemory } from './http/upload-memory.js';
import type { CommandHub } from './services/commands.js';
import type { Metrics } from './services/metrics.js';
import type { IngestLimits } from './services/rate-limits.js';
import type { OverloadGuard } from './services/overload.js';
import type { TenantSlots } from './services/tenant-slots.js';

export interface Stores {
  objects: ObjectStore;
  metadata: MetadataStore;
  presence: PresenceStore;
  appendLedger: AppendLedger;
  rateLimiter: RateLimiter;
  bus: MessageBus;
}

/** Everything a request handler may use; built once per process by createContext(). */
export interface AppContext {
  config: Config;
  stores: Stores;
  logger: Logger;
  validator: Validator;
  dsnCache: DsnCache;
  runIndex: RunIndexWriter;
  /** Credentials' last use and the session sweep. */
  housekeeping: Housekeeping;
  appends: Appender;
  /** Read tokens' last use, written in batches. */
  tokenUse: LastUsedBatch;
  /** Returns upload buffers promptly in a serving process. */
  uploadMemory: UploadMemory;
  /** The intervention channel: issued commands and held polls. */
  commands: CommandHub;
  /** This context's Prometheus registry and the series the request path updates. */
  metrics: Metrics;
  /** Set at SIGTERM (server/main.ts): `/readyz` answers 503 `draining` from then on. */
  lifecycle: { draining: boolean };
  /** Per DSN key and per tenant ingest limits, shared by every replica. */
  ingestLimits: IngestLimits;
  /** This replica's load shedding (in-flight and event-loop bounds). */
  overload: OverloadGuard;
  /** Fairness between tenants on this replica: each tenant's ingest works in its own few slots. */
  tenantSlots: TenantSlots;
  /** Injected so tests can move time without sleeping. */
  now: () => number;
}
