interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date, on the caller's clock. */
  at: number;
}

/**
 * Token buckets, one per id: `capacity` tokens, refilled continuously at `perSecond`, one token per
 * request. Kept lazily: a bucket is brought up to date when it is used, from the time passed since
 * (never a timer), and a bucket not kept is full, so an idle id costs no memory once swept. Time
 * is the caller's (tests move a clock by hand); a clock that steps back refills nothing.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(
    readonly capacity: number,
    perSecond: number,
  ) {
    this.perMs = perSecond / 1000;
  }

  /** Takes a token when there is a whole one: resolves to the tokens left, else undefined (nothing taken). */
  take(id: string, now: number): number | undefined {
    const b = this.fill(id, now);
    if (b.tokens < 1) return undefined;
    b.tokens -= 1;
    return b.tokens;
  }

  /** Puts back a token `take` gave (the request was refused afterwards). */
  give(id: string, now: number): void {
    const b = this.fill(id, now);
    b.tokens = Math.min(this.capacity, b.tokens + 1);
  }

  /** Empties the bucket: it refills from now. */
  empty(id: string, now: number): void {
    const b = this.fill(id, now);
    b.tokens = 0;
  }

  /** Milliseconds until the bucket holds a whole token (0 when it does). */
  msToToken(id: string, now: number): number {
    const b = this.fill(id, now);
    return b.tokens >= 1 ? 0 : Math.ceil((1 - b.tokens) / this.perMs);
  }

  /** Forgets the buckets that are full again by now (the same as not kept). */
  sweep(now: number): void {
    for (const [id, b] of this.buckets) if (b.tokens + Math.max(0, now - b.at) * this.perMs >= this.capacity) this.buckets.delete(id);
  }

  /** Buckets kept (not full). */
  get size(): number {
    return this.buckets.size;
  }

  private fill(id: string, now: number): Bucket {
    let b = this.buckets.get(id);
    if (!b) {
      b = { tokens: this.capacity, at: now };
      this.buckets.set(id, b);
    } else if (now > b.at) {
      // Rounded to a millionth of a token, so refills that add up to a whole token count as one.
      b.tokens = Math.min(this.capacity, Math.round((b.tokens + (now - b.at) * this.perMs) * 1e6) / 1e6);
      b.at = now;
    }
    return b;
  }
}
