import type { PresenceStore } from '../../storage/presence/index.js';
import { ApiError } from '../errors.js';

/** A lock is taken back by the store after this long, so a replica that died holding one blocks nobody for long. */
export const STEP_LOCK_MS = 5_000;
/** A writer waits at most this long for a step held by another replica, then answers 503. */
const WAIT_MS = 6_000;

const tails = new Map<string, Promise<unknown>>();

/**
 * Runs `fn` while holding the step's lock: first in this process (writers of one step queue on a
 * promise chain), then across replicas through the presence store's window counter (count 1 means
 * ours; more means another replica holds it, so we give ours back and retry with backoff). Every
 * write of a step is a read-compare-write (step-receipts.ts), and S3 has no conditional writes.
 */
export async function withStepLock<T>(presence: PresenceStore, key: string, now: () => number, fn: () => Promise<T>): Promise<T> {
  const prev = tails.get(key) ?? Promise.resolve();
  const run = prev.then(
    () => holdShared(presence, key, now, fn),
    () => holdShared(presence, key, now, fn),
  );
  const tail = run.catch(() => undefined);
  tails.set(key, tail);
  try {
    return await run;
  } finally {
    if (tails.get(key) === tail) tails.delete(key);
  }
}

async function holdShared<T>(presence: PresenceStore, key: string, now: () => number, fn: () => Promise<T>): Promise<T> {
  const lockKey = `steplock:${key}`;
  const started = Date.now();
  let delay = 5;
  for (;;) {
    const w = await presence.hit(lockKey, STEP_LOCK_MS, now());
    if (w.count === 1) break;
    await presence.hit(lockKey, STEP_LOCK_MS, now(), -1);
    if (Date.now() - started > WAIT_MS) {
      throw new ApiError('step_busy', 'Another replica is writing this step; retry shortly', { headers: { 'Retry-After': '1' } });
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 200);
  }
  try {
    return await fn();
  } finally {
    presence.hit(lockKey, STEP_LOCK_MS, now(), -1).catch(() => undefined);
  }
}
