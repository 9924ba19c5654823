import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import type { ConsumeLimit, Consumed, WindowCount } from './types.js';

/**
 * Fixed windows over a rate-limiter-flexible limiter (memory or Redis: same calls, atomic
 * increments either way). The library keeps time with its own clock, so it is given no say in
 * where a window ends: the window is part of the key (its index on the caller's clock), and the
 * library's expiry, derived from the caller's now and that window's end, only collects counters
 * of past windows (a counter lives at least until its window ends as long as the caller's clock
 * runs no slower than the machine's: true of the server's clock; a test clock moves forward).
 */
export class Windows {
  constructor(private readonly limiter: RateLimiterAbstract) {}

  private window(key: string, windowMs: number, now: number): { key: string; resetAt: number; options: { customDuration: number } } {
    const index = Math.floor(now / windowMs);
    const resetAt = (index + 1) * windowMs;
    // Whole seconds (the library's unit), rounded up, plus one so a counter never goes before its window ends.
    return { key: `${key}:${windowMs}:${index}`, resetAt, options: { customDuration: Math.ceil((resetAt - now) / 1000) + 1 } };
  }

  async hit(key: string, windowMs: number, now: number, by = 1): Promise<WindowCount> {
    const w = this.window(key, windowMs, now);
    const res = by >= 0 ? await this.limiter.penalty(w.key, by, w.options) : await this.limiter.reward(w.key, -by, w.options);
    return { count: Math.max(0, res.consumedPoints), resetAt: w.resetAt };
  }

  async consume(key: string, points: number, limit: ConsumeLimit, now: number): Promise<Consumed> {
    const w = this.window(key, limit.windowMs, now);
    const res = await this.limiter.penalty(w.key, points, w.options);
    if (res.consumedPoints <= limit.points) return { allowed: true, remaining: limit.points - res.consumedPoints, retryAfterMs: 0 };
    // Over: given back at once, so a refused call spends nothing (others may briefly see it counted).
    const back = await this.limiter.reward(w.key, points, w.options);
    return { allowed: false, remaining: Math.max(0, limit.points - back.consumedPoints), retryAfterMs: w.resetAt - now };
  }
}

/** The library's own per-instance limits, unused: every call passes its window (customDuration) and its limit is checked here. */
export const LIBRARY_DEFAULTS = { points: Number.MAX_SAFE_INTEGER, duration: 1 };
