import { describe, expect, it } from 'vitest';
import { MemoryRateLimiter } from '../../storage/rate-limiter/memory.js';
import type { ConsumeLimit, Consumed } from '../../storage/rate-limiter/index.js';
import { LeasedLimit, LIMIT_WINDOW_MS } from '../../server/services/rate-limits.js';

/**
 * A shared limiter that cannot answer until `fail()` (a Redis timing out), then fails every call
 * at once (a connection known to be down). Past `maxCalls` it answers again, so a regression shows
 * as a count, not as a test that never ends.
 */
class SilentLimiter extends MemoryRateLimiter {
  calls = 0;
  private release!: () => void;
  private readonly failing = new Promise<void>((resolve) => (this.release = resolve));

  constructor(private readonly maxCalls = 50) {
    super();
  }

  fail(): void {
    this.release();
  }

  override async consume(key: string, points: number, limit: ConsumeLimit, now: number): Promise<Consumed> {
    if (++this.calls > this.maxCalls) return super.consume(key, points, limit, now);
    await this.failing;
    throw new Error('Command timed out');
  }
}

describe('leased limits while the shared limiter cannot answer', () => {
  it('admits a request whose lease outlived its window in the next one, with no further spend', async () => {
    const shared = new SilentLimiter();
    const replica = new LeasedLimit(shared, 'k', 50);
    const w = 100;
    // One request at the end of a window waits for its lease; the next arrives in the next window.
    const late = replica.take('key-1', (w + 1) * LIMIT_WINDOW_MS - 1);
    const next = replica.take('key-1', (w + 1) * LIMIT_WINDOW_MS + 1);
    shared.fail();
    const [a, b] = await Promise.all([late, next]);
    expect(a.allowed && b.allowed, 'both admitted without their limit').toBe(true);
    // One lease per window; the late request spends from the next window's instead of starting
    // its own window's again (which the next window's requests would replace, and so on).
    expect(shared.calls).toBe(2);
    expect(a.resetMs).toBeLessThanOrEqual(LIMIT_WINDOW_MS);
  });
});
