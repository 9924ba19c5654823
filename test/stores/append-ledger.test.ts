import { expect, it } from 'vitest';
import { createAppendLedger, IDEMPOTENCY_TTL_MS } from '../../storage/append-ledger/index.js';
import { rid } from '../helpers/backends.js';
import { describeDrivers } from '../helpers/port-drivers.js';

// Expiries that matter are judged against the injected `now` in both drivers: the Redis values
// carry their end on that clock (idempotency keys, leases), so a test moves now past them.
describeDrivers('append ledger contract', createAppendLedger, ({ runs, store }) => {
  const now = 1_800_000_000_000;

  it.skipIf(!runs)('hands out append sequence numbers and bytes under a bound, atomically', async () => {
    const file = `f-${rid()}`;
    expect(await store().reserve(file, 10, 100, now)).toBeNull();
    await store().init(file, 3, 40);
    await store().init(file, 0, 0); // a second init does not reset
    const rs = await Promise.all(Array.from({ length: 10 }, () => store().reserve(file, 10, 100, now)));
    expect(rs.map((r) => r!.seq).sort((a, b) => a - b)).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    expect(rs.reduce((s, r) => s + r!.allowed, 0)).toBe(60);
    expect(rs.filter((r) => r!.allowed === 0)).toHaveLength(4);
    const unbounded = await store().reserve(file, 1000, null, now);
    expect(unbounded).toEqual({ seq: 14, before: 100, allowed: 1000 });
  });

  it.skipIf(!runs)('gives a repeat its first reservation until the idempotency key ends, on the given clock', async () => {
    const file = `f-${rid()}`;
    await store().init(file, 0, 0);
    expect(await store().reserve(file, 5, 100, now, 'k1')).toEqual({ seq: 1, before: 0, allowed: 5 });
    expect(await store().reserve(file, 5, 100, now + IDEMPOTENCY_TTL_MS - 1, 'k1')).toEqual({ seq: 1, before: 5, allowed: 5, repeat: true });
    expect(await store().reserve(file, 5, 100, now, 'k2')).toEqual({ seq: 2, before: 5, allowed: 5 });
    // At the key's end it is forgotten: the same key appends again.
    expect(await store().reserve(file, 5, 100, now + IDEMPOTENCY_TTL_MS, 'k1')).toEqual({ seq: 3, before: 10, allowed: 5 });
    expect(await store().reserve(file, 5, 100, now + IDEMPOTENCY_TTL_MS + 1, 'k1')).toEqual({ seq: 3, before: 15, allowed: 5, repeat: true });
  });

  it.skipIf(!runs)('leases a key to one holder until it is released or its lease ends', async () => {
    const key = `l-${rid()}`;
    const first = await store().lease(key, 5_000, now);
    expect(first).toEqual(expect.any(String));
    const contenders = await Promise.all(Array.from({ length: 5 }, () => store().lease(key, 5_000, now + 4_999)));
    expect(contenders).toEqual([null, null, null, null, null]);
    // Released: free at once.
    await store().release(key, first!);
    const second = await store().lease(key, 5_000, now + 1);
    expect(second).toEqual(expect.any(String));
    expect(second).not.toBe(first);
    // Not released: free when the lease ends by the given clock, and the late holder's release leaves the new lease alone.
    expect(await store().lease(key, 5_000, now + 5_000)).toBeNull();
    const third = await store().lease(key, 5_000, now + 5_001);
    expect(third).toEqual(expect.any(String));
    await store().release(key, second!);
    expect(await store().lease(key, 5_000, now + 5_002)).toBeNull();
    await store().release(key, third!);
    expect(await store().lease(key, 5_000, now + 5_002)).toEqual(expect.any(String));
  });
});
