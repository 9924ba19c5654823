import { LRUCache } from 'lru-cache';
import type { Dsn, MetadataStore, Tenant } from '../../storage/metadata/index.js';
import type { MessageBus } from '../../storage/bus/index.js';
import type { Logger } from '../logger.js';
import { sameDigest, sha256 } from './credentials.js';
import { LastUsedBatch } from './last-used.js';

export interface ResolvedDsn {
  dsn: Dsn;
  tenant: Tenant;
}

/** How long a replica trusts what it read about a key or a tenant; revocations and modelio switches reach every replica within this. */
export const DSN_CACHE_TTL_MS = 5_000;
const CHANNEL = 'dsn-cache';

/**
 * Resolves DSN keys with no metadata query on a warm path. Entries (also "unknown key" answers)
 * live DSN_CACHE_TTL_MS; a revocation or tenant change is also broadcast so most replicas drop
 * the entry at once, and the TTL bounds the rest.
 */
export class DsnCache {
  private readonly cache: LRUCache<string, ResolvedDsn | false>;
  private readonly lastUsed: LastUsedBatch;

  constructor(
    private readonly metadata: MetadataStore,
    private readonly bus: MessageBus,
    private readonly logger: Logger,
    private readonly now: () => number,
    ttlMs = DSN_CACHE_TTL_MS,
    /** Counters of warm answers and of look-ups (augur_dsn_cache_lookups_total). */
    private readonly counts?: { hit: { inc(): void }; miss: { inc(): void } },
    /** The TTL's clock (tests move it; default performance.now). */
    clock?: { now(): number },
  ) {
    this.lastUsed = new LastUsedBatch((batch) => this.metadata.touchDsns(batch));
    this.cache = new LRUCache<string, ResolvedDsn | false>({
      max: 50_000,
      ttl: ttlMs,
      ...(clock ? { perf: clock, ttlResolution: 0 } : {}),
      // Concurrent requests with one key share a single look-up (one query per key per TTL, not
      // per request). An expired entry is never trusted, so a revocation holds within the TTL even
      // when its broadcast was missed; only while the database fails is the last answer kept
      // (stale-while-error: a key known before the outage keeps working, retried each TTL).
      // A key never looked up cannot be answered then: the error goes to the caller (503), never
      // "unknown" (lru-cache's allowStaleOnFetchRejection would resolve it as undefined: a 403).
      fetchMethod: async (apiKey, stale) => {
        const hash = sha256(apiKey);
        try {
          const found = await this.metadata.findDsnByHash(hash);
          return found && !found.dsn.revoked_at && sameDigest(found.dsn.key_hash, hash) ? found : false;
        } catch (err) {
          if (stale === undefined) throw err;
          this.logger.warn({ err }, 'metadata store failing: a DSN key is served from its last look-up');
          return stale;
        }
      },
    });
  }

  async start(): Promise<void> {
    await this.bus.subscribe(CHANNEL, (msg) => this.drop(msg));
  }

  /** The key's DSN and tenant, or undefined when the key is unknown or revoked. */
  async resolve(apiKey: string): Promise<ResolvedDsn | undefined> {
    // Keyed by the key itself so a warm call costs no hashing; it lives only in this process's memory.
    // A live entry is read with get() (no promise, no fetch bookkeeping); anything else goes through
    // fetch(), which also keeps an expired entry's answer while the database fails.
    const live = this.cache.get(apiKey, { noDeleteOnStaleGet: true });
    if (live !== undefined) this.counts?.hit.inc();
    else this.counts?.miss.inc();
    const hit = live !== undefined ? live : await this.cache.fetch(apiKey);
    if (!hit) return undefined;
    this.lastUsed.mark(hit.dsn.id, this.now());
    return hit;
  }

  /** Tells every replica to forget a key (by DSN id) or every key of a tenant. */
  async broadcast(change: { dsnId?: string; tenantId?: string }): Promise<void> {
    const msg = JSON.stringify(change);
    this.drop(msg);
    try {
      await this.bus.publish(CHANNEL, msg);
    } catch (err) {
      this.logger.warn({ err }, 'could not broadcast a key change; other replicas catch up within the cache TTL');
    }
  }

  private drop(msg: string): void {
    let change: { dsnId?: string; tenantId?: string };
    try {
      change = JSON.parse(msg) as typeof change;
    } catch {
      return;
    }
    for (const [key, v] of this.cache.entries()) {
      if (!v) continue;
      if (v.dsn.id === change.dsnId || v.tenant.id === change.tenantId) this.cache.delete(key);
    }
  }

  /** last_used_at is written in batches, never per request. */
  flush(): Promise<void> {
    return this.lastUsed.flush();
  }
}
