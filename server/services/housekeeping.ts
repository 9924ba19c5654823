import type { MetadataStore } from '../../storage/metadata/index.js';
import type { Logger } from '../logger.js';
import type { DsnCache } from './dsn-cache.js';
import type { LastUsedBatch } from './last-used.js';

/** How often credentials' last use is written. */
export const LAST_USED_FLUSH_MS = 1_000;
/** Expired sessions are refused on read already; sweeping them hourly keeps the table small. */
export const SESSION_SWEEP_MS = 3_600_000;

/**
 * The per-process chores beside the run index: write DSN keys' and read tokens' last use in
 * batches (never per request), and delete expired sign-in sessions once an hour.
 */
export class Housekeeping {
  private timer?: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();
  private lastSweep = 0;

  constructor(
    private readonly deps: { metadata: MetadataStore; dsnCache: DsnCache; tokenUse: LastUsedBatch; logger: Logger; now: () => number },
  ) {}

  start(intervalMs = LAST_USED_FLUSH_MS): void {
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  /** One round of chores; concurrent calls queue behind each other, and a failed chore is retried next round. */
  flush(): Promise<void> {
    this.running = this.running.then(async () => {
      const { dsnCache, tokenUse, metadata, logger, now } = this.deps;
      const chores: Array<[string, () => Promise<void>]> = [
        ['DSN last use', () => dsnCache.flush()],
        ['read token last use', () => tokenUse.flush()],
        ['session sweep', () => this.sweepSessions(metadata, now())],
      ];
      for (const [name, chore] of chores) await chore().catch((err: unknown) => logger.warn({ err }, `${name} failed; will retry`));
    });
    return this.running;
  }

  private async sweepSessions(metadata: MetadataStore, at: number): Promise<void> {
    if (at - this.lastSweep < SESSION_SWEEP_MS) return;
    this.lastSweep = at;
    await metadata.deleteExpiredSessions(at);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }
}
