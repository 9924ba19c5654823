import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Prompt return of upload buffers. A request body arrives as 64 KiB buffers that are garbage once
 * stored, but V8 frees such off-heap memory on its own schedule: measured on the benchmark, a
 * 100 MB screenshot then leaves the server 28–37 MB bigger than a 1 MB one, with or without
 * copying every chunk into the one reused part buffer, where the bound is 16 MB. Once an upload
 * passes LARGE_UPLOAD_BYTES, one full incremental collection (its first part's chunks live long
 * enough to leave the young generation) and a young-generation collection every
 * RECLAIM_EVERY_BYTES of it (well under a millisecond: the young generation holds little) bring
 * that to a few MB. Ordinary screenshots (a few MB) never ask: V8's own schedule serves them, and
 * collecting for them cost more CPU per upload than parsing the multipart body.
 *
 * Only a serving process asks for collections: `serve()` reaches gc() once at start (see
 * exposeGc), and everything else that builds the app (tests, the CLI) passes nothing here, so
 * importing the server changes no V8 flag and forces nothing.
 */
export const RECLAIM_EVERY_BYTES = 2 * 1024 * 1024;
/** Uploads longer than this get one full collection. */
export const LARGE_UPLOAD_BYTES = 6 * 1024 * 1024;

export type Gc = (options: { type: 'minor' | 'major'; execution: 'sync' | 'async' }) => void;

/** Counts long uploads' bytes and asks for the collections above; a no-op without a gc(). */
export class UploadMemory {
  private received = 0;
  constructor(private readonly gc?: Gc) {}

  /** `bytes` just arrived; `total` is this upload's count so far, them included. */
  count(bytes: number, total: number): void {
    if (!this.gc || total <= LARGE_UPLOAD_BYTES) return;
    if (total - bytes <= LARGE_UPLOAD_BYTES) this.gc({ type: 'major', execution: 'async' });
    this.received += bytes;
    if (this.received < RECLAIM_EVERY_BYTES) return;
    this.received = 0;
    this.gc({ type: 'minor', execution: 'sync' });
  }
}

/**
 * gc() the way Jest's leak detector reaches it: expose it for one fresh context, take it from
 * there and switch the flag off again, so the process's own global never gains a gc(). A process
 * started with --expose-gc uses its own. Undefined on a runtime without it.
 */
export function exposeGc(): Gc | undefined {
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === 'function') return own as Gc;
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as Gc;
  } catch {
    return undefined;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}
