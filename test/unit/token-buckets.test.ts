import { describe, expect, it } from 'vitest';
import { TokenBuckets } from '../../server/services/token-buckets.js';

describe('token buckets', () => {
  it('starts full, takes whole tokens only, and refills continuously up to its capacity', () => {
    const b = new TokenBuckets(4, 2); // 4 tokens, one back every 500 ms
    const t0 = 1_000_000;
    expect([1, 2, 3, 4, 5].map(() => b.take('a', t0))).toEqual([3, 2, 1, 0, undefined]);
    expect(b.msToToken('a', t0)).toBe(500);
    expect(b.take('a', t0 + 250)).toBeUndefined();
    expect(b.msToToken('a', t0 + 250)).toBe(250);
    expect(b.take('a', t0 + 500)).toBe(0);
    // Never more than the capacity, however long it rests.
    expect(b.take('a', t0 + 60_000)).toBe(3);
    // Ids are apart.
    expect(b.take('b', t0)).toBe(3);
  });

  it('gives a token back, empties on demand, and refills nothing when the clock steps back', () => {
    const b = new TokenBuckets(2, 1);
    const t0 = 5_000;
    b.take('a', t0);
    b.take('a', t0);
    b.give('a', t0);
    expect(b.take('a', t0)).toBe(0);
    b.give('a', t0);
    b.give('a', t0);
    b.give('a', t0);
    expect(b.take('a', t0)).toBe(1); // capped at 2 before the take
    b.empty('a', t0);
    expect(b.take('a', t0 - 10_000)).toBeUndefined();
    expect(b.take('a', t0 + 1_000)).toBe(0);
  });

  it('forgets buckets that are full again, which is the same as keeping them', () => {
    const b = new TokenBuckets(10, 5);
    const t0 = 0;
    for (let i = 0; i < 10; i++) b.take('spent', t0);
    b.take('light', t0);
    b.sweep(t0 + 1_000); // light is full again after 200 ms; spent needs 2 s
    expect(b.size).toBe(1);
    b.sweep(t0 + 2_000);
    expect(b.size).toBe(0);
    expect(b.take('spent', t0 + 2_000)).toBe(9);
  });
});
