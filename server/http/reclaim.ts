import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Prompt return of upload buffers. A request body arrives as 64 KiB socket buffers that are garbage
 * once stored, but V8 frees such off-heap memory only when the (small) JS heap needs a collection or
 * the off-heap total passes about 64 MiB: a 100 MB upload would leave the process tens of MB bigger
 * than a 1 MB one. A young-generation collection every RECLAIM_EVERY_BYTES of upload received hands
 * them back; it takes well under a millisecond, because the young generation holds little.
 *
 * gc() is reached the way Jest's leak detector reaches it: expose it for one fresh context, take it
 * from there, and switch the flag off again, so the process's own global never gains a gc().
 */
export const RECLAIM_EVERY_BYTES = 4 * 1024 * 1024;

type Gc = (options: { type: 'minor' | 'major'; execution: 'sync' | 'async' }) => void;

function exposeGc(): Gc | undefined {
  // Started with --expose-gc: use it, and leave the flag as it was.
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === 'function') return own as Gc;
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as Gc;
  } catch {
    return undefined; // a runtime without it: uploads then wait for V8's own collections
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

const gc = exposeGc();
let received = 0;

/** Uploads longer than this get one full collection (see countUploadBytes). */
export const LARGE_UPLOAD_BYTES = 8 * 1024 * 1024;

/**
 * Counts upload bytes received: `total` is this upload's count so far, `bytes` what just arrived.
 * Collects the young generation every RECLAIM_EVERY_BYTES received by all uploads, and starts one
 * full (incremental) collection when an upload passes LARGE_UPLOAD_BYTES: the S3 store holds a
 * long upload's first part as the chunks that arrived, and those live long enough to leave the young
 * generation, so only a full collection returns them.
 */
export function countUploadBytes(bytes: number, total: number): void {
  if (total > LARGE_UPLOAD_BYTES && total - bytes <= LARGE_UPLOAD_BYTES) gc?.({ type: 'major', execution: 'async' });
  received += bytes;
  if (received < RECLAIM_EVERY_BYTES) return;
  received = 0;
  gc?.({ type: 'minor', execution: 'sync' });
}
