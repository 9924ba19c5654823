import { randomBytes } from 'node:crypto';
import { IDEMPOTENCY_TTL_MS, type AppendLedger, type AppendReservation } from './types.js';

const SWEEP_EVERY_MS = 60_000;
const SWEEP_ABOVE = 100_000;

/** In-process ledger for a single embedded server: same semantics as Redis, against the given clock. */
export class MemoryAppendLedger implements AppendLedger {
  readonly kind = 'memory' as const;
  private readonly appends = new Map<string, { seq: number; bytes: number }>();
  private readonly idempotency = new Map<string, { seq: number; allowed: number; expires: number }>();
  private readonly leases = new Map<string, { token: string; until: number }>();
  /** Expired idempotency keys are swept at most once a minute of the given clock (each lookup checks expiry itself). */
  private nextSweep = 0;

  async reserve(file: string, bytes: number, maxBytes: number | null, now: number, idempotencyKey?: string): Promise<AppendReservation | null> {
    const c = this.appends.get(file);
    if (!c) return null;
    const idem = idempotencyKey === undefined ? undefined : `${file}\u0000${idempotencyKey}`;
    const seen = idem === undefined ? undefined : this.idempotency.get(idem);
    if (seen && seen.expires > now) return { seq: seen.seq, before: c.bytes, allowed: seen.allowed, repeat: true };
    const allowed = maxBytes === null ? bytes : Math.max(0, Math.min(bytes, maxBytes - c.bytes));
    const r = { seq: ++c.seq, before: c.bytes, allowed };
    c.bytes += allowed;
    if (idem !== undefined) {
      if (this.idempotency.size > SWEEP_ABOVE && now >= this.nextSweep) {
        this.nextSweep = now + SWEEP_EVERY_MS;
        for (const [k, v] of this.idempotency) if (v.expires <= now) this.idempotency.delete(k);
      }
      this.idempotency.set(idem, { seq: r.seq, allowed, expires: now + IDEMPOTENCY_TTL_MS });
    }
    return r;
  }

  async init(file: string, seq: number, bytes: number): Promise<void> {
    if (!this.appends.has(file)) this.appends.set(file, { seq, bytes });
  }

  async lease(key: string, leaseMs: number, now: number): Promise<string | null> {
    const held = this.leases.get(key);
    if (held && held.until > now) return null;
    const token = randomBytes(8).toString('hex');
    this.leases.set(key, { token, until: now + leaseMs });
    return token;
  }

  async release(key: string, token: string): Promise<void> {
    if (this.leases.get(key)?.token === token) this.leases.delete(key);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}
