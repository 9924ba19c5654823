import { describe, expect, it } from 'vitest';
import type { Response } from 'express';
import { EventEmitter } from 'node:events';
import { MemoryRateLimiter } from '../../storage/rate-limiter/memory.js';
import type { ConsumeLimit, Consumed, RateLimiter } from '../../storage/rate-limiter/index.js';
import { LeasedLimit, LIMIT_WINDOW_MS } from '../../server/services/rate-limits.js';
import { OverloadGuard } from '../../server/services/overload.js';
import { Metrics } from '../../server/services/metrics.js';
import { ApiError } from '../../server/errors.js';

/** The shared limiter, counting the round trips replicas make to it. */
class CountingLimiter extends MemoryRateLimiter {
  calls = 0;
  override consume(key: string, points: number, limit: ConsumeLimit, now: number): Promise<Consumed> {
    this.calls++;
    return super.consume(key, points, limit, now);
  }
}

describe('leased limits', () => {
  it('lets three replicas together admit exactly the window budget, at one shared call per block', async () => {
    const shared = new CountingLimiter();
    // 50/s → 100 points per 2 s window, leased 5 at a time.
    const replicas = [0, 1, 2].map(() => new LeasedLimit(shared, 'k', 50));
    expect(replicas[0]!.block).toBe(5);
    const now = 10 * LIMIT_WINDOW_MS + 1;
    let admitted = 0;
    for (let i = 0; i < 400; i++) if ((await replicas[i % 3]!.take('key-1', now)).allowed) admitted++;
    expect(admitted).toBe(100);
    // 20 blocks, plus a last refused call per replica; a flood past that is refused locally.
    expect(shared.calls).toBeLessThanOrEqual(20 + 3 * 2);
    const before = shared.calls;
    for (let i = 0; i < 100; i++) expect((await replicas[i % 3]!.take('key-1', now)).allowed).toBe(false);
    expect(shared.calls).toBe(before);
    // The next window has the whole budget again.
    expect((await replicas[0]!.take('key-1', now + LIMIT_WINDOW_MS)).allowed).toBe(true);
  });

  it('shares one lease among concurrent requests of a replica', async () => {
    const shared = new CountingLimiter();
    const replica = new LeasedLimit(shared, 'k', 50);
    const verdicts = await Promise.all(Array.from({ length: 5 }, () => replica.take('key-2', 1)));
    expect(verdicts.every((v) => v.allowed)).toBe(true);
    expect(shared.calls).toBe(1);
  });

  it('admits when the shared limiter is down (limits protect fairness, not correctness)', async () => {
    const down = { consume: () => Promise.reject(new Error('connection refused')) } as unknown as RateLimiter;
    expect((await new LeasedLimit(down, 'k', 1).take('key-3', 1)).allowed).toBe(true);
  });
});

const fakeRes = () => new EventEmitter() as unknown as Response;

describe('overload guard', () => {
  it('sheds ingest past the lag bound and reads only past twice it', () => {
    let lag = 0;
    const metrics = new Metrics({ heldPolls: () => 0 });
    const guard = new OverloadGuard({ maxInFlight: 0, maxLagMs: 100, lag: () => lag }, metrics);
    lag = 150;
    expect(() => guard.admit(fakeRes(), 'ingest')).toThrow(ApiError);
    guard.admit(fakeRes(), 'read');
    lag = 250;
    expect(() => guard.admit(fakeRes(), 'read')).toThrow(expect.objectContaining({ code: 'overloaded', status: 503 }));
    expect(metrics.shed.labels('event_loop_lag').value).toBe(2);
  });

  it('counts requests in flight until their response closes; a long poll is checked, not counted', () => {
    const metrics = new Metrics({ heldPolls: () => 0 });
    const guard = new OverloadGuard({ maxInFlight: 1, maxLagMs: 0 }, metrics);
    const res = fakeRes();
    guard.admit(res, 'ingest');
    expect(() => guard.admit(fakeRes(), 'ingest', false)).toThrow(ApiError);
    guard.admit(fakeRes(), 'read', false);
    expect(guard.current).toBe(1);
    res.emit('close');
    expect(guard.current).toBe(0);
    guard.admit(fakeRes(), 'ingest', false);
    expect(guard.current).toBe(0);
  });
});
