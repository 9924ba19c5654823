import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { ConsumeLimit, Consumed, RateLimiter, WindowCount } from './types.js';
import { LIBRARY_DEFAULTS, Windows } from './windows.js';

/** In-process windows for a single embedded server. */
export class MemoryRateLimiter implements RateLimiter {
  readonly kind = 'memory' as const;
  private readonly windows = new Windows(new RateLimiterMemory(LIBRARY_DEFAULTS));

  hit(key: string, windowMs: number, now: number, by?: number): Promise<WindowCount> {
    return this.windows.hit(key, windowMs, now, by);
  }

  consume(key: string, points: number, limit: ConsumeLimit, now: number): Promise<Consumed> {
    return this.windows.consume(key, points, limit, now);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}
