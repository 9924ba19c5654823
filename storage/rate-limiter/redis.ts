import type { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { acquireRedis, type RedisTarget } from '../redis/connection.js';
import { FlexibleRateLimiter } from './windows.js';

/** Windows in Redis, shared by every replica (the library's one-script increment, on the shared connection). */
export class RedisRateLimiter extends FlexibleRateLimiter {
  readonly kind = 'redis' as const;
  protected readonly limiter: RateLimiterRedis;
  private readonly redis: Redis;
  private readonly release: () => void;

  constructor(target: RedisTarget) {
    super();
    const { redis, release } = acquireRedis(target.url);
    this.redis = redis;
    this.release = release;
    this.limiter = new RateLimiterRedis({ storeClient: redis, keyPrefix: `${target.prefix}rl`, points: Number.MAX_SAFE_INTEGER, duration: 1 });
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    this.release();
  }
}
