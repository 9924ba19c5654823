import type { AppendLedger } from '../../storage/append-ledger/index.js';
import { ApiError } from '../errors.js';

/** A lease ends by itself after this long, so a replica that died holding one blocks nobody for long. */
export const STEP_LOCK_MS = 5_000;
/** A writer waits at most this long for a step held by another replica, then answers 503. */
const WAIT_MS = 6_000;

const tails = new Map<string, Promise<unknown>>();

/**
 * Runs `fn` while holding the step's lock: first in this process (writers of one step queue on a
 * promise chain), then across replicas through a lease in the append ledger (taken only when
 * free, given back by its token; else we retry with backoff). Every write of a step is a
 * read-compare-write (step-receipts.ts), and S3 has no conditional writes.
 */
export async function withStepLock<T>(ledger: AppendLedger, key: string, now: () => number, fn: () => Promise<T>): Promise<T> {
  const prev = tails.get(key) ?? Promise.resolve();
  const run = prev.then(
    () => holdShared(ledger, key, now, fn),
    () => holdShared(ledger, key, now, fn),
  );
  const tail = run.catch(() => undefined);
  tails.set(key, tail);
  try {
    return await run;
  } finally {
    if (tails.get(key) === tail) tails.delete(key);
  }
}

async function holdShared<T>(ledger: AppendLedger, key: string, now: () => number, fn: () => Promise<T>): Promise<T> {
  const lockKey = `steplock:${key}`;
  // The wait is bounded in real time (it sleeps in real time), whatever the injected clock says.
  const started = Date.now();
  let delay = 5;
  let token: string | null;
  while (!(token = await ledger.lease(lockKey, STEP_LOCK_MS, now()))) {
    if (Date.now() - started > WAIT_MS) {
      throw new ApiError('step_busy', 'Another replica is writing this step; retry shortly', { headers: { 'Retry-After': '1' } });
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 200);
  }
  try {
    return await fn();
  } finally {
    const held = token;
    ledger.release(lockKey, held).catch(() => undefined);
  }
}
