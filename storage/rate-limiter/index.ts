import { MemoryRateLimiter } from './memory.js';
import { RedisRateLimiter } from './redis.js';
import type { RateLimiter, RateLimiterConfig } from './types.js';

export * from './types.js';

/** Redis when configured (replicas must share sign-in limits); in-process otherwise. */
export function createRateLimiter(config: RateLimiterConfig): RateLimiter {
  return config.driver === 'redis' ? new RedisRateLimiter(config) : new MemoryRateLimiter();
}
