import { describe, expect, it } from 'vitest';
import type { Response } from 'express';
import { EventEmitter } from 'node:events';
import { createRateLimiter, type ConsumeLimit, type Consumed, type RateLimiter, type WindowCount } from '../../storage/rate-limiter/index.js';
import { IngestLimits, LeasedLimit, LIMIT_WINDOW_MS } from '../../server/services/rate-limits.js';
import { OverloadGuard } from '../../server/services/overload.js';
import { Metrics } from '../../server/services/metrics.js';
import { ApiError } from '../../server/errors.js';
import { rid } from '../helpers/backends.js';
import { describeDrivers } from '../helpers/port-drivers.js';

/** The shared limiter (either driver), counting the round trips replicas make to it. */
class CountingLimiter implements RateLimiter {
  calls = 0;
  constructor(private readonly inner: RateLimiter) {}
  get kind() {
    return this.inner.kind;
  }
  hit(key: string, windowMs: number, now: number, by?: number): Promise<WindowCount> {
    return this.inner.hit(key, windowMs, now, by);
  }
  consume(key: string, points: number, limit: ConsumeLimit, now: number): Promise<Consumed> {
    this.calls++;
    return this.inner.consume(key, points, limit, now);
  }
  ping(): Promise<void> {
    return this.inner.ping();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The start of a window well away from any other test's keys (every test also uses its own ids). */
const windowStart = (n: number) => (900_000_000 + n) * LIMIT_WINDOW_MS;

// The shared window budgets live behind the port, so each behaviour runs on both drivers; the
// token buckets are this replica's, read on the same test clock.
describeDrivers('leased limits', createRateLimiter, ({ runs, store }) => {
  it.skipIf(!runs)('lets three replicas together admit exactly the window budget, at one shared call per block', async () => {
    const shared = new CountingLimiter(store());
    // 50/s → 100 points per 2 s window, leased 5 at a time.
    const replicas = [0, 1, 2].map(() => new LeasedLimit(shared, 'k', 50));
    expect(replicas[0]!.block).toBe(5);
    const id = `key-${rid()}`;
    const now = windowStart(10) + 1;
    let admitted = 0;
    for (let i = 0; i < 400; i++) if ((await replicas[i % 3]!.take(id, now)).allowed) admitted++;
    expect(admitted).toBe(100);
    // 20 blocks, plus a last refused call per replica; a flood past that is refused locally.
    expect(shared.calls).toBeLessThanOrEqual(20 + 3 * 2);
    const before = shared.calls;
    for (let i = 0; i < 100; i++) expect((await replicas[i % 3]!.take(id, now)).allowed).toBe(false);
    expect(shared.calls).toBe(before);
    // The next window has the whole budget again (and the buckets 2 s of refill).
    expect((await replicas[0]!.take(id, now + LIMIT_WINDOW_MS)).allowed).toBe(true);
  });

  it.skipIf(!runs)('shares one lease among concurrent requests of a replica', async () => {
    const shared = new CountingLimiter(store());
    const replica = new LeasedLimit(shared, 'k', 50);
    const id = `key-${rid()}`;
    const verdicts = await Promise.all(Array.from({ length: 5 }, () => replica.take(id, windowStart(11))));
    expect(verdicts.every((v) => v.allowed)).toBe(true);
    expect(shared.calls).toBe(1);
  });

  it.skipIf(!runs)('admits a burst of twice the rate at once, then a token per 1/R s', async () => {
    // 5/s: a bucket of 10 tokens, one back every 200 ms; a shared budget of 10 per 2 s window.
    const limit = new LeasedLimit(store(), 'k', 5);
    const id = `burst-${rid()}`;
    const t0 = windowStart(20);
    const burst = [];
    for (let i = 0; i < 10; i++) burst.push(await limit.take(id, t0));
    expect(burst.map((v) => v.allowed)).toEqual(Array(10).fill(true));
    expect(burst.map((v) => v.remaining)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    // The window's budget is spent too: refused until the window ends, and told so.
    expect(await limit.take(id, t0 + 100)).toMatchObject({ allowed: false, remaining: 0, retryMs: LIMIT_WINDOW_MS - 100 });

    // The next window. The client asked again at t0 + 100, so its bucket refilled from then:
    // 1.9 s × 5/s = 9.5 tokens, 9 requests at once.
    const t1 = t0 + LIMIT_WINDOW_MS;
    const next = [];
    for (let i = 0; i < 10; i++) next.push(await limit.take(id, t1));
    expect(next.map((v) => v.allowed)).toEqual([...Array(9).fill(true), false]);
    // Refused by the bucket, not the window (it has a point left): the wait is for a token.
    expect(next[9]).toMatchObject({ allowed: false, remaining: 0, retryMs: 100 });
    expect((await limit.take(id, t1 + 99)).allowed).toBe(false);
    expect((await limit.take(id, t1 + 100)).allowed).toBe(true);
  });

  it.skipIf(!runs)('paces a steady flood at R per second across windows instead of letting it burst at each window start', async () => {
    const limit = new LeasedLimit(store(), 'k', 5);
    const id = `flood-${rid()}`;
    // Starting with a full bucket 700 ms into a window, a request every 10 ms for 6 s.
    const t0 = windowStart(30) + 700;
    const admittedAt: number[] = [];
    for (let t = 0; t < 6_000; t += 10) if ((await limit.take(id, t0 + t)).allowed) admittedAt.push(t);
    // The burst: the first 10 asked. The window is then spent until it ends (at 1300 ms), and each
    // refusal empties the bucket, so the next window starts paced: its first token at 1490 ms
    // (20 ticks of 0.05), then one every 200 ms, 10 per window: R per second, never two at once.
    const paced = Array.from({ length: 23 }, (_, i) => 1_490 + 200 * i);
    expect(admittedAt).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, ...paced]);
  });

  it.skipIf(!runs)('gives a client that waits Retry-After out its whole burst back', async () => {
    const limit = new LeasedLimit(store(), 'k', 5);
    const id = `patient-${rid()}`;
    const t0 = windowStart(40) + 500;
    for (let i = 0; i < 10; i++) await limit.take(id, t0);
    const refused = await limit.take(id, t0);
    expect(refused).toMatchObject({ allowed: false, retryMs: 1_500 });
    // Back 2 s later (Retry-After rounded up): 2 s × 5/s refilled, a full bucket in a fresh window.
    expect(await limit.take(id, t0 + 2_000)).toMatchObject({ allowed: true, remaining: 9 });
  });

  it.skipIf(!runs)('gives back the token and the point of a request another limit refused', async () => {
    const limits = new IngestLimits(store(), { perKey: 5, perTenant: 2 });
    const key = `key-${rid()}`;
    const tenant = `tenant-${rid()}`;
    const t0 = windowStart(50);
    // The tenant's 4 go first; the key's 5th request is refused by the tenant.
    for (let i = 0; i < 4; i++) await limits.check(key, tenant, t0);
    await expect(limits.check(key, tenant, t0)).rejects.toMatchObject({ code: 'rate_limited', message: expect.stringContaining('tenant') });
    // The key had 10: 6 are left, none lost to the refusal (each request here from a fresh tenant).
    let admitted = 0;
    for (;;) {
      const r = await limits.check(key, `tenant-${rid()}`, t0).catch((e: unknown) => e as ApiError);
      if (r instanceof ApiError) {
        expect(r.message).toContain('DSN key');
        break;
      }
      admitted++;
    }
    expect(admitted).toBe(6);
  });

  it.skipIf(!runs)('answers integer Retry-After and X-RateLimit-* headers: the window end when it is spent, the next token when only paced', async () => {
    const limits = new IngestLimits(store(), { perKey: 3, perTenant: 0 });
    const key = `key-${rid()}`;
    const headersOf = (p: Promise<unknown>) => p.then((h) => h, (e: unknown) => (e as ApiError).extra.headers);
    const t0 = windowStart(60) + 500;
    for (let i = 0; i < 6; i++) await limits.check(key, 't', t0);
    expect(await headersOf(limits.check(key, 't', t0))).toEqual({ 'X-RateLimit-Limit': '6', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': '2', 'Retry-After': '2' });
    // Another key, spent just before a window ends: the next window has its 6 points but the bucket
    // only 1.5 s × 3/s = 4.5 tokens.
    const other = `key-${rid()}`;
    for (let i = 0; i < 6; i++) await limits.check(other, 't', t0);
    const t1 = t0 + 1_500;
    const seen = [];
    for (let i = 0; i < 4; i++) seen.push(await headersOf(limits.check(other, 't', t1)));
    expect(seen.map((h) => (h as Record<string, string>)['X-RateLimit-Remaining'])).toEqual(['3', '2', '1', '0']);
    // Paced: a token in 167 ms, so Retry-After 1, while the window ends in 2 s.
    expect(await headersOf(limits.check(other, 't', t1))).toEqual({ 'X-RateLimit-Limit': '6', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': '2', 'Retry-After': '1' });
  });
});

describe('leased limits without the shared limiter', () => {
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
