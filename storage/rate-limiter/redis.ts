import { RateLimiterRedis } from 'rate-limiter-flexible';
import type { RedisTarget } from '../redis/connection.js';
import { RedisDriver } from '../redis/driver.js';
import type { ConsumeLimit, Consumed, RateLimiter, WindowCount } from './types.js';
import { LIBRARY_DEFAULTS, Windows } from './windows.js';

/** Windows in Redis, shared by every replica (the library's one-script increment, on the shared connection). */
export class RedisRateLimiter extends RedisDriver implements RateLimiter {
  private readonly windows: Windows;

  constructor(target: RedisTarget) {
    super(target);
    this.windows = new Windows(new RateLimiterRedis({ ...LIBRARY_DEFAULTS, storeClient: this.redis, keyPrefix: `${this.prefix}rl` }));
  }

  hit(key: string, windowMs: number, now: number, by?: number): Promise<WindowCount> {
    return this.windows.hit(key, windowMs, now, by);
  }

  consume(key: string, points: number, limit: ConsumeLimit, now: number): Promise<Consumed> {
    return this.windows.consume(key, points, limit, now);
  }
}
