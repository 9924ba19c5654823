import { RateLimiterMemory } from 'rate-limiter-flexible';
import { FlexibleRateLimiter } from './windows.js';

/** In-process windows for a single embedded server. */
export class MemoryRateLimiter extends FlexibleRateLimiter {
  readonly kind = 'memory' as const;
  // points and duration are the library's defaults for calls without their own; every call here passes both.
  protected readonly limiter = new RateLimiterMemory({ points: Number.MAX_SAFE_INTEGER, duration: 1 });

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}
