import { RateLimiterRedis } from 'rate-limiter-flexible';
import { CONNECTION_LOST, lost, type RedisTarget } from '../redis/connection.js';
import { RedisDriver } from '../redis/driver.js';
import type { ConsumeLimit, Consumed, RateLimiter, WindowCount } from './types.js';
import { LIBRARY_DEFAULTS, Windows } from './windows.js';

/**
 * Windows in Redis, shared by every replica (the library's one-script increment, on the shared
 * connection). A call made while that connection is lost fails at once instead of waiting in the
 * offline queue: the ingest limits then admit without their limit (server/services/rate-limits.ts)
 * at once rather than after a command timeout, and no spend is left queued to land once Redis is
 * back. (The library's own rejectIfRedisNotReady would also refuse the calls made before the
 * first connect.)
 */
export class RedisRateLimiter extends RedisDriver implements RateLimiter {
  private readonly windows: Windows;

  constructor(target: RedisTarget) {
    super(target);
    this.windows = new Windows(new RateLimiterRedis({ ...LIBRARY_DEFAULTS, storeClient: this.redis, keyPrefix: `${this.prefix}rl` }));
  }

  async hit(key: string, windowMs: number, now: number, by?: number): Promise<WindowCount> {
    this.connected();
    return this.windows.hit(key, windowMs, now, by);
  }

  async consume(key: string, points: number, limit: ConsumeLimit, now: number): Promise<Consumed> {
    this.connected();
    return this.windows.consume(key, points, limit, now);
  }

  private connected(): void {
    if (lost(this.redis)) throw new Error(CONNECTION_LOST);
  }
}
