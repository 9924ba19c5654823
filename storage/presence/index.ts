import { MemoryPresenceStore } from './memory.js';
import { RedisPresenceStore } from './redis.js';
import type { PresenceStore, PresenceStoreConfig } from './types.js';

export * from './types.js';

/** Redis when configured (every replica lists the same clients); in-process otherwise. */
export function createPresenceStore(config: PresenceStoreConfig): PresenceStore {
  return config.driver === 'redis' ? new RedisPresenceStore(config) : new MemoryPresenceStore();
}
