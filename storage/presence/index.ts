import type { Config } from '../../server/config.js';
import { MemoryPresenceStore } from './memory.js';
import { RedisPresenceStore } from './redis.js';
import type { PresenceStore } from './types.js';

export * from './types.js';

/** Redis when configured (replicas must share presence, counters and rate limits); in-process otherwise. */
export function createPresenceStore(config: Pick<Config, 'redisUrl' | 'redisPrefix'>): PresenceStore {
  return config.redisUrl ? new RedisPresenceStore(config.redisUrl, config.redisPrefix) : new MemoryPresenceStore();
}
