import type { RedisTarget } from '../redis/connection.js';

export interface AppendReservation {
  /** Position of this append in the file, from 1. */
  seq: number;
  /** Bytes the file held (or had reserved) before this append. */
  before: number;
  /** Bytes this append may store (less than asked when the file's bound is reached). */
  allowed: number;
  /** True when an append with the same idempotency key was reserved before: seq and allowed are its. */
  repeat?: boolean;
}

/**
 * The small records every replica must agree on atomically: each appended file's sequence
 * number and reserved bytes, the idempotency keys of appends, and short leases (the step lock).
 */
export interface AppendLedger {
  readonly kind: 'redis' | 'memory';
  /**
   * Allocates the next sequence number of an appended file and reserves bytes against its bound;
   * null when the counter is unknown (call init). With an idempotency key seen within
   * IDEMPOTENCY_TTL_MS before `now`, resolves to that first reservation instead.
   */
  reserve(file: string, bytes: number, maxBytes: number | null, now: number, idempotencyKey?: string): Promise<AppendReservation | null>;
  /** Seeds an append counter from what the object store holds, unless another replica already did. */
  init(file: string, seq: number, bytes: number): Promise<void>;
  /**
   * Takes the lease on `key` when nobody holds it (or the holder's lease ended by `now`), until
   * now + leaseMs; resolves to the holder's token, or null when it is held.
   */
  lease(key: string, leaseMs: number, now: number): Promise<string | null>;
  /** Gives a lease back; a lease that ended and was taken by someone else is left alone. */
  release(key: string, token: string): Promise<void>;
  /** Resolves when the backend answers (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Append counters outlive any live run; a missing one is rebuilt from the object store. */
export const APPEND_COUNTER_TTL_S = 7 * 86_400;
/** How long an append's idempotency key is remembered (a client retrying after that appends again). */
export const IDEMPOTENCY_TTL_MS = 86_400_000;

export type AppendLedgerConfig = { driver: 'memory' } | ({ driver: 'redis' } & RedisTarget);
