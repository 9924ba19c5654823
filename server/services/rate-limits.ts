import { ApiError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { RateLimiter } from '../../storage/rate-limiter/index.js';
import { TokenBuckets } from './token-buckets.js';

/**
 * A limit of R requests per second with bursts of 2R is a token bucket (2R tokens, refilled at R
 * per second) on each replica, in front of a ceiling of 2R points per fixed window of 2 s shared by
 * every replica. The bucket spreads what a busy client is admitted evenly in time (one request
 * every 1/R s once its burst is spent) instead of letting it spend a window's budget at once at the
 * window's start; the shared window holds all replicas together to R per second.
 */
export const LIMIT_WINDOW_MS = 2_000;
/** A replica leases this fraction of a window's budget at a time (at least one point). */
export const LEASE_FRACTION = 20;
/**
 * A refusal is answered only after this long. A client that ignores Retry-After and asks again at
 * once (a runaway loop over many connections) is then held to connections ÷ this many requests per
 * second instead of as many 429s as the replica can write, which would take the CPU its tenant's
 * neighbours need. The SDK sleeps Retry-After anyway, so it loses nothing it would not wait for.
 */
export const REFUSAL_PAUSE_MS = 500;

export interface Verdict {
  allowed: boolean;
  /** The burst: tokens of a full bucket, and points per shared window. */
  limit: number;
  /** Requests admitted now if asked at once: the bucket's whole tokens, at most what the window has left as this replica knows it. */
  remaining: number;
  /** Milliseconds until the shared window ends. */
  resetMs: number;
  /** Refused: milliseconds until a request may be admitted (the window's end when its budget is spent, else the bucket's next token). */
  retryMs: number;
}

interface Lease {
  window: number;
  /** Points leased from the shared limiter and not spent yet. */
  left: number;
  /** Points the shared limiter had left after this replica's last lease. */
  shared: number;
  /** The shared limiter had nothing left for this window: refuse locally until it ends. */
  exhausted: boolean;
  pending?: Promise<void>;
}

/**
 * One limit (per DSN key, or per tenant): a token bucket per id on this replica (server/services/
 * token-buckets.ts) in front of a window budget shared by every replica through the rate limiter
 * port, without a round trip per request: a replica leases a block of points (1/LEASE_FRACTION of
 * the window's budget) and spends it locally until it runs out or the window ends. A block is taken
 * from the shared counter before any of it is spent, so all replicas together never admit more
 * than the window's budget; the price is that up to one partly spent block per replica may sit
 * unused when a client is refused (N replicas refuse at most N blocks early). Once the shared
 * counter is empty the replica refuses locally for the rest of the window, so a flood costs Redis
 * nothing. A request needs a leased point and a token; the bucket is asked second, so a client
 * whose window is spent is told to wait for the window's end, not for a token.
 */
export class LeasedLimit {
  readonly points: number;
  readonly block: number;
  private readonly leases = new Map<string, Lease>();
  private readonly buckets: TokenBuckets;
  private sweptWindow = 0;
  private warnedWindow = -1;

  constructor(
    private readonly limiter: RateLimiter,
    private readonly prefix: string,
    perSecond: number,
    private readonly logger?: Logger,
  ) {
    this.points = Math.max(1, Math.round((perSecond * LIMIT_WINDOW_MS) / 1000));
    this.block = Math.max(1, Math.floor(this.points / LEASE_FRACTION));
    this.buckets = new TokenBuckets(this.points, perSecond);
  }

  async take(id: string, now: number): Promise<Verdict> {
    let window = Math.floor(now / LIMIT_WINDOW_MS);
    let resetMs = (window + 1) * LIMIT_WINDOW_MS - now;
    this.sweep(window, now);
    for (;;) {
      let lease = this.leases.get(id);
      if (lease && lease.window > window) {
        // This request waited (a slow lease: Redis timing out) into a later window: it counts
        // there. Starting its own window's lease again would replace the later one, whose
        // requests would replace it back, each with a new spend: without end, and at once when
        // the calls fail fast (the replica's event loop never got out of it).
        window = lease.window;
        now = Math.max(now, window * LIMIT_WINDOW_MS);
        resetMs = (window + 1) * LIMIT_WINDOW_MS - now;
      }
      if (!lease || lease.window < window) {
        lease = { window, left: 0, shared: this.points, exhausted: false };
        this.leases.set(id, lease);
      }
      if (lease.left > 0) {
        const tokens = this.buckets.take(id, now);
        // No token: paced. The leased point stays for the next request (no shared call is wasted).
        if (tokens === undefined) return { allowed: false, limit: this.points, remaining: 0, resetMs, retryMs: this.buckets.msToToken(id, now) };
        lease.left--;
        return { allowed: true, limit: this.points, remaining: Math.floor(Math.min(tokens, lease.shared + lease.left)), resetMs, retryMs: 0 };
      }
      if (lease.exhausted) return this.spent(id, now, resetMs);
      if (!lease.pending) {
        const l = lease;
        l.pending = this.lease(id, l, now).finally(() => (l.pending = undefined));
        await l.pending;
        // Spend from what was leased; nothing leased (another replica took the rest): refused.
        if (l.left > 0 || l.exhausted) continue;
        return this.spent(id, now, resetMs);
      }
      await lease.pending;
    }
  }

  /** Returns what a request took in `now`'s window (it was refused by another limit, or not served). */
  giveBack(id: string, now: number): void {
    const lease = this.leases.get(id);
    if (lease && lease.window === Math.floor(now / LIMIT_WINDOW_MS)) {
      lease.left++;
      this.buckets.give(id, now);
    }
  }

  /**
   * Refused: the window's budget is spent. The bucket is emptied too: tokens the shared budget
   * cannot back are not kept, so a client that keeps asking meets the next window paced (its
   * tokens refill from its last refusal) rather than with a burst it saved up while refused;
   * one that waits Retry-After out meets it with what it earned while waiting.
   */
  private spent(id: string, now: number, resetMs: number): Verdict {
    this.buckets.empty(id, now);
    return { allowed: false, limit: this.points, remaining: 0, resetMs, retryMs: resetMs };
  }

  private async lease(id: string, lease: Lease, now: number): Promise<void> {
    const key = `${this.prefix}:${id}`;
    const limit = { points: this.points, windowMs: LIMIT_WINDOW_MS };
    try {
      const want = Math.max(1, Math.min(this.block, lease.shared));
      let r = await this.limiter.consume(key, want, limit, now);
      let got = want;
      // Less than a block left: take what is left rather than refusing with points unspent.
      if (!r.allowed && r.remaining > 0) {
        got = Math.min(want, r.remaining);
        r = await this.limiter.consume(key, got, limit, now);
      }
      if (r.allowed) lease.left += got;
      lease.shared = r.remaining;
      if (!r.allowed && r.remaining === 0) lease.exhausted = true;
    } catch (err) {
      // The shared limiter is down: admit (limits protect fairness; refusing all ingest would be worse).
      lease.left += this.block;
      if (this.warnedWindow !== lease.window) {
        this.warnedWindow = lease.window;
        this.logger?.warn({ err }, 'rate limiter unavailable; ingest admitted without its limit');
      }
    }
  }

  /** Drops leases of past windows and buckets that are full again, once per window. */
  private sweep(window: number, now: number): void {
    if (window <= this.sweptWindow) return;
    this.sweptWindow = window;
    for (const [id, lease] of this.leases) if (lease.window < window && !lease.pending) this.leases.delete(id);
    this.buckets.sweep(now);
  }
}

export interface IngestLimitOptions {
  perKey: number;
  perTenant: number;
}

/** The per DSN key and per tenant ingest limits (each 0 = off). */
export class IngestLimits {
  private readonly perKey?: LeasedLimit;
  private readonly perTenant?: LeasedLimit;

  constructor(limiter: RateLimiter, opts: IngestLimitOptions, logger?: Logger) {
    if (opts.perKey > 0) this.perKey = new LeasedLimit(limiter, 'ingest:key', opts.perKey, logger);
    if (opts.perTenant > 0) this.perTenant = new LeasedLimit(limiter, 'ingest:tenant', opts.perTenant, logger);
  }

  get enabled(): boolean {
    return this.perKey !== undefined || this.perTenant !== undefined;
  }

  /**
   * Spends one request of the key's and the tenant's budgets; throws 429 `rate_limited` with
   * Retry-After when either is spent. Resolves to the X-RateLimit-* headers of the tighter limit.
   */
  async check(keyId: string, tenantId: string, now: number): Promise<Record<string, string> | undefined> {
    const k = this.perKey ? await this.perKey.take(keyId, now) : undefined;
    if (k && !k.allowed) throw refusal(k, 'this DSN key');
    const t = this.perTenant ? await this.perTenant.take(tenantId, now) : undefined;
    if (t && !t.allowed) {
      this.perKey?.giveBack(keyId, now);
      throw refusal(t, 'this tenant');
    }
    const tighter = k && t ? (k.remaining <= t.remaining ? k : t) : (k ?? t);
    return tighter && headersOf(tighter);
  }

  /** Returns the request `check` admitted at `now` to both budgets (it was refused afterwards, before any work). */
  giveBack(keyId: string, tenantId: string, now: number): void {
    this.perKey?.giveBack(keyId, now);
    this.perTenant?.giveBack(tenantId, now);
  }
}

function headersOf(v: Verdict): Record<string, string> {
  return {
    'X-RateLimit-Limit': String(v.limit),
    'X-RateLimit-Remaining': String(v.remaining),
    'X-RateLimit-Reset': String(Math.max(1, Math.ceil(v.resetMs / 1000))),
  };
}

function refusal(v: Verdict, whose: string): ApiError {
  const headers = { ...headersOf(v), 'Retry-After': String(Math.max(1, Math.ceil(v.retryMs / 1000))) };
  return new ApiError('rate_limited', `Ingest rate limit of ${whose} reached (${v.limit / 2} requests per second, bursts of ${v.limit}); retry after Retry-After seconds`, { headers });
}
