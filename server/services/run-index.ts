import type { MetadataStore, RunTouch } from '../../storage/metadata/index.js';
import type { Logger } from '../logger.js';

/** How far the run index may lag ingest. */
export const RUN_INDEX_FLUSH_MS = 1_000;

/** `later` over `earlier`: counts and times grow, iterations add up, a reported fact replaces an older one. */
export function mergeTouches(earlier: RunTouch, later: RunTouch): RunTouch {
  const out: RunTouch = { ...earlier };
  for (const [k, v] of Object.entries(later) as Array<[keyof RunTouch, unknown]>) {
    if (v !== undefined && v !== null) (out as unknown as Record<string, unknown>)[k] = v;
  }
  out.seen_at = Math.max(earlier.seen_at, later.seen_at);
  out.create = earlier.create !== false || later.create !== false ? undefined : false;
  if (out.create === undefined) delete out.create;
  const most = (a?: number, b?: number) => (a === undefined ? b : b === undefined ? a : Math.max(a, b));
  const stepCount = most(earlier.step_count, later.step_count);
  if (stepCount !== undefined) out.step_count = stepCount;
  const heartbeat = most(earlier.heartbeat_at, later.heartbeat_at);
  if (heartbeat !== undefined) out.heartbeat_at = heartbeat;
  const iterations = (earlier.new_iterations ?? 0) + (later.new_iterations ?? 0);
  if (iterations) out.new_iterations = iterations;
  return out;
}

/**
 * Collects what ingest learns about runs and merges it into the run index in one statement per
 * flush, so an ingest request costs no database write.
 */
export class RunIndexWriter {
  private pending = new Map<string, RunTouch>();
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly metadata: MetadataStore,
    private readonly logger: Logger,
  ) {}

  start(intervalMs = RUN_INDEX_FLUSH_MS): void {
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  touch(t: RunTouch): void {
    const key = `${t.tenant_id}\u0000${t.run_id}`;
    const prev = this.pending.get(key);
    this.pending.set(key, prev ? mergeTouches(prev, t) : { ...t });
  }

  /** Writes what is pending; concurrent calls queue behind each other. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const batch = [...this.pending.values()];
      this.pending = new Map();
      try {
        if (batch.length) await this.metadata.touchRuns(batch);
      } catch (err) {
        // Keep the facts for the next attempt, under anything newer that arrived meanwhile. The
        // iteration counts were not written, so they are added back.
        for (const t of batch) {
          const key = `${t.tenant_id}\u0000${t.run_id}`;
          const newer = this.pending.get(key);
          this.pending.set(key, newer ? mergeTouches(t, newer) : t);
        }
        this.logger.warn({ err, runs: batch.length }, 'run index flush failed; will retry');
      }
    });
    return this.flushing;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }
}
