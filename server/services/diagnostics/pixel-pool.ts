import { Worker } from 'node:worker_threads';
import type { Logger } from '../../logger.js';
import { PixelEngine, type StepIn, type StepOut } from './pixel-engine.js';

/**
 * One worker thread for the pixel work, so decoding and comparing screenshots takes neither the
 * event loop that serves ingest nor its heap: the worker's heap is capped (WORKER_HEAP_MB), and a
 * PNG that still manages to exhaust it ends the worker, not the server (the step's frames are then
 * recorded as not decodable and a new worker starts for the next step). The worker keeps the
 * process alive only while it has work. Where no worker can start, the work runs in process.
 */
export const WORKER_HEAP_MB = 768;
/** A step whose work takes longer than this is abandoned (the worker is restarted). */
export const STEP_TIMEOUT_MS = 60_000;

interface Pending {
  task: StepIn;
  resolve: (o: StepOut) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** The pool was closed (shutdown): the work was not done, nothing is known about the frames. */
export class ClosedError extends Error {
  constructor() {
    super('pixel pool closed');
  }
}

export class PixelPool {
  private closed = false;
  private worker?: Worker;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private failures = 0;
  /** A worker answered at least once: threads work here. */
  private worked = false;
  private local?: PixelEngine;

  constructor(private readonly logger: Logger) {}

  private start(): Worker | undefined {
    if (this.worker) return this.worker;
    // Three failed starts in a row: give up on threads for this process.
    if (this.failures >= 3) return undefined;
    try {
      const ts = import.meta.url.endsWith('.ts');
      const url = new URL(`./pixel-worker.${ts ? 'ts' : 'js'}`, import.meta.url);
      const limits = { resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } };
      // From the TypeScript sources (tests, tsx) the worker registers tsx's loader before loading its module.
      const w = ts
        ? new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`, { eval: true, ...limits })
        : new Worker(url, limits);
      w.unref();
      w.on('message', (m: { id: number; out?: StepOut; error?: string }) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        clearTimeout(p.timer);
        if (!this.pending.size) w.unref();
        this.failures = 0;
        this.worked = true;
        if (m.out) p.resolve(m.out);
        else p.reject(new Error(m.error ?? 'pixel worker error'));
      });
      const lost = (why: string) => (err?: unknown) => {
        if (this.worker !== w) return;
        this.worker = undefined;
        this.failures++;
        // A worker that never answered could not start here: run in process from now on, these tasks too.
        const unusable = !this.worked;
        if (unusable) this.failures = 3;
        this.logger.warn({ err, why }, unusable ? 'pixel worker could not start; pixel work runs in process' : 'pixel worker stopped; its step is recorded as not decodable');
        for (const [id, p] of this.pending) {
          clearTimeout(p.timer);
          this.pending.delete(id);
          if (unusable) this.runLocal(p.task).then(p.resolve, p.reject);
          else p.reject(new Error(`pixel worker ${why}`));
        }
      };
      w.on('error', lost('failed'));
      w.on('exit', lost('exited'));
      this.worker = w;
      return w;
    } catch (err) {
      this.failures++;
      this.logger.warn({ err }, 'could not start the pixel worker');
      return undefined;
    }
  }

  /** Whether a worker thread has done work (false: nothing yet, or the work runs in process). */
  get threaded(): boolean {
    return this.worked;
  }

  private runLocal(task: StepIn): Promise<StepOut> {
    this.local ??= new PixelEngine();
    try {
      return Promise.resolve(this.local.run(task));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** One step's pixel work; rejects when the worker dies or times out on it. */
  run(task: StepIn): Promise<StepOut> {
    if (this.closed) return Promise.reject(new ClosedError());
    const w = this.start();
    if (!w) return this.runLocal(task);
    const id = ++this.seq;
    return new Promise<StepOut>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.pending.has(id)) return;
        this.logger.warn({ id }, 'pixel work timed out; restarting the worker');
        void w.terminate();
      }, STEP_TIMEOUT_MS);
      timer.unref();
      // Referenced while it has work, so a process waiting on it does not exit under it.
      if (!this.pending.size) w.ref();
      this.pending.set(id, { task, resolve, reject, timer });
      // Once a worker has answered, the PNG bytes are moved to it, not copied (the caller is done
      // with them). Before that they are copied: a worker that cannot start hands its tasks back
      // to run in process, which needs the bytes.
      w.postMessage({ id, task }, this.worked ? transferable(task) : []);
    });
  }

  /** Stops the worker; work still pending rejects with a ClosedError (not a verdict on the frames). */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(new ClosedError());
    }
    if (w) await w.terminate();
  }
}

/** The frames' buffers that own their whole memory, to be moved rather than copied. */
function transferable(task: StepIn): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const f of [task.pre, task.post]) {
    const b = f?.buf;
    // Shared memory (a fresh frame's slot) is shared, never moved; a slice of a larger buffer is copied.
    if (!b || !(b.buffer instanceof ArrayBuffer) || out.includes(b.buffer)) continue;
    if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) out.push(b.buffer);
  }
  return out;
}
