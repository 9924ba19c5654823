import { ApiError } from '../errors.js';
import type { RateLimiter } from '../../storage/rate-limiter/index.js';
import { sha256 } from './credentials.js';

/** Failed sign-ins allowed per window, per account and per client address. */
export const LOGIN_WINDOW_MS = 15 * 60_000;
export const MAX_FAILURES_PER_ACCOUNT = 10;
export const MAX_FAILURES_PER_ADDRESS = 100;

/**
 * Failed-login limits, counted in the rate limiter so every replica shares them (Redis in
 * production, memory when embedded), in fixed windows of the injected clock. Every attempt is counted atomically before the password is
 * verified, so concurrent attempts cannot slip past the limit (and a locked account costs no
 * scrypt work); a successful or refused attempt is taken back, so only failures count.
 */
export class LoginLimiter {
  constructor(private readonly limiter: RateLimiter) {}

  private keys(email: string, address: string): [string, number][] {
    // Hashed so the Redis key space holds no email addresses.
    return [
      [`login:acct:${sha256(email.trim().toLowerCase())}`, MAX_FAILURES_PER_ACCOUNT],
      [`login:addr:${address}`, MAX_FAILURES_PER_ADDRESS],
    ];
  }

  /**
   * Counts an attempt; throws 429 rate_limited (with Retry-After) when it goes over either limit.
   * Resolves to the function that takes the attempt back (call it when the sign-in succeeds).
   */
  async begin(email: string, address: string, now: number): Promise<() => Promise<void>> {
    const keys = this.keys(email, address);
    const counts = await Promise.all(keys.map(async ([key, max]) => ({ max, w: await this.limiter.hit(key, LOGIN_WINDOW_MS, now) })));
    const takeBack = async () => {
      await Promise.all(keys.map(([key]) => this.limiter.hit(key, LOGIN_WINDOW_MS, now, -1)));
    };
    const blocked = counts.filter((c) => c.w.count > c.max);
    if (!blocked.length) return takeBack;
    await takeBack();
    const resetAt = Math.max(...blocked.map((c) => c.w.resetAt));
    const retryAfter = Math.max(1, Math.ceil((resetAt - now) / 1000));
    throw new ApiError('rate_limited', 'Too many failed sign-in attempts; try again later', { headers: { 'Retry-After': String(retryAfter) } });
  }
}
