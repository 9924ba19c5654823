import { MemoryPresenceStore } from './memory.js';
import { RedisPresenceStore } from './redis.js';
import type { PresenceStore, PresenceStoreConfig } from './types.js';

export * from './types.js';

/** Redis when configured (replicas must share presence, counters and rate limits); in-process otherwise. */
export function createPresenceStore(config: PresenceStoreConfig): PresenceStore {
  return config.driver === 'redis' ? new RedisPresenceStore(config.url, config.prefix) : new MemoryPresenceStore();
}
