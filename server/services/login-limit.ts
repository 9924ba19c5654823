import { ApiError } from '../errors.js';
import type { PresenceStore } from '../../storage/presence/index.js';
import { sha256 } from './credentials.js';

/** Failed sign-ins allowed per window, per account and per client address. */
export const LOGIN_WINDOW_MS = 15 * 60_000;
export const MAX_FAILURES_PER_ACCOUNT = 10;
export const MAX_FAILURES_PER_ADDRESS = 100;

/**
 * Failed-login limits, counted in the presence store so every replica shares them (Redis in
 * production, memory when embedded). Only failures count; a limit is checked before the password
 * is verified, so a locked account costs no scrypt work.
 */
export class LoginLimiter {
  constructor(private readonly presence: PresenceStore) {}

  private keys(email: string, address: string): [string, number][] {
    // Hashed so the Redis key space holds no email addresses.
    return [
      [`login:acct:${sha256(email.trim().toLowerCase())}`, MAX_FAILURES_PER_ACCOUNT],
      [`login:addr:${address}`, MAX_FAILURES_PER_ADDRESS],
    ];
  }

  /** Throws 429 rate_limited (with Retry-After) when either limit is used up. */
  async check(email: string, address: string, now: number): Promise<void> {
    const counts = await Promise.all(this.keys(email, address).map(async ([key, max]) => ({ max, w: await this.presence.peek(key, now) })));
    const blocked = counts.filter((c) => c.w.count >= c.max);
    if (!blocked.length) return;
    const resetAt = Math.max(...blocked.map((c) => c.w.resetAt));
    const retryAfter = Math.max(1, Math.ceil((resetAt - now) / 1000));
    throw new ApiError('rate_limited', 'Too many failed sign-in attempts; try again later', { headers: { 'Retry-After': String(retryAfter) } });
  }

  async recordFailure(email: string, address: string, now: number): Promise<void> {
    await Promise.all(this.keys(email, address).map(([key]) => this.presence.hit(key, LOGIN_WINDOW_MS, now)));
  }
}
