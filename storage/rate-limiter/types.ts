import type { RedisTarget } from '../redis/connection.js';

export interface WindowCount {
  count: number;
  /** When the window ends, on the clock the caller gave. */
  resetAt: number;
}

export interface Consumed {
  allowed: boolean;
  /** Points left in the window after this call (nothing is spent by a refused call). */
  remaining: number;
  /** 0 when allowed; else how long until the window ends and points are back. */
  retryAfterMs: number;
}

export interface ConsumeLimit {
  /** Points a key may spend per window. */
  points: number;
  windowMs: number;
}

/**
 * Rate windows shared by every replica. Windows are fixed and aligned on the given clock
 * (`[k·windowMs, (k+1)·windowMs)` of `now`), so every replica and both drivers agree where one
 * ends without keeping a start time; a key's counter lives only as long as its window.
 */
export interface RateLimiter {
  readonly kind: 'redis' | 'memory';
  /** Counts `by` events (default one; negative takes them back) in `now`'s window of `windowMs`. */
  hit(key: string, windowMs: number, now: number, by?: number): Promise<WindowCount>;
  /** Spends `points` of the key's budget in `now`'s window when that many are left; a refused call spends nothing. */
  consume(key: string, points: number, limit: ConsumeLimit, now: number): Promise<Consumed>;
  /** Resolves when the backend answers (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type RateLimiterConfig = { driver: 'memory' } | ({ driver: 'redis' } & RedisTarget);
