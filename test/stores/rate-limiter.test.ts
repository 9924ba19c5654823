import { expect, it } from 'vitest';
import { createRateLimiter } from '../../storage/rate-limiter/index.js';
import { rid } from '../helpers/backends.js';
import { describeDrivers } from '../helpers/port-drivers.js';

// Windows are aligned on the injected clock and named by it in the key, so moving now into the
// next window starts a fresh count on both drivers; Redis's own expiry (derived from now and the
// window's end) only collects old windows and is never waited for.
describeDrivers('rate limiter contract', createRateLimiter, ({ runs, store }) => {
  const windowMs = 60_000;
  const start = 1_800_000_000_000; // a multiple of the window: the window is [start, start + windowMs)

  it.skipIf(!runs)('counts events in a fixed window, takes them back, and starts over in the next window', async () => {
    const key = `k-${rid()}`;
    for (let i = 1; i <= 3; i++) expect(await store().hit(key, windowMs, start + i)).toEqual({ count: i, resetAt: start + windowMs });
    expect(await store().hit(key, windowMs, start + 10, -1)).toEqual({ count: 2, resetAt: start + windowMs });
    expect((await store().hit(key, windowMs, start + windowMs - 1)).count).toBe(3);
    expect(await store().hit(key, windowMs, start + windowMs)).toEqual({ count: 1, resetAt: start + 2 * windowMs });
    // Other keys are apart.
    expect((await store().hit(`k-${rid()}`, windowMs, start)).count).toBe(1);
  });

  it.skipIf(!runs)('counts concurrent events atomically', async () => {
    const key = `k-${rid()}`;
    const counts = await Promise.all(Array.from({ length: 20 }, () => store().hit(key, windowMs, start)));
    expect(counts.map((c) => c.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it.skipIf(!runs)('consumes points while the window has them, refuses with the time to its end, spends nothing when refused', async () => {
    const key = `c-${rid()}`;
    const limit = { points: 10, windowMs };
    expect(await store().consume(key, 4, limit, start)).toEqual({ allowed: true, remaining: 6, retryAfterMs: 0 });
    expect(await store().consume(key, 6, limit, start + 1)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
    expect(await store().consume(key, 1, limit, start + 15_000)).toEqual({ allowed: false, remaining: 0, retryAfterMs: windowMs - 15_000 });
    expect(await store().consume(key, 1, limit, start + windowMs)).toEqual({ allowed: true, remaining: 9, retryAfterMs: 0 });
    expect(await store().consume(key, 20, limit, start + windowMs)).toEqual({ allowed: false, remaining: 9, retryAfterMs: windowMs });
    expect(await store().consume(key, 9, limit, start + windowMs + 1)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
  });
});
