import type { MetadataStore, RunTouch } from '../../storage/metadata/index.js';
import type { Logger } from '../logger.js';

/** How far the run index may lag ingest. */
export const RUN_INDEX_FLUSH_MS = 1_000;

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
    if (!prev) {
      this.pending.set(key, { ...t });
      return;
    }
    prev.seen_at = Math.max(prev.seen_at, t.seen_at);
    if (t.create !== false) prev.create = true;
    if (t.step_count !== undefined) prev.step_count = Math.max(prev.step_count ?? 0, t.step_count);
    if (t.status) prev.status = t.status;
    if (t.heartbeat_at !== undefined) prev.heartbeat_at = Math.max(prev.heartbeat_at ?? 0, t.heartbeat_at);
  }

  /** Writes what is pending; concurrent calls queue behind each other. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const batch = [...this.pending.values()];
      this.pending = new Map();
      try {
        if (batch.length) await this.metadata.touchRuns(batch);
      } catch (err) {
        // Keep the facts for the next attempt; merging is idempotent.
        for (const t of batch) this.touch(t);
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
