import type { Response } from 'express';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { ApiError } from '../errors.js';
import type { Metrics } from './metrics.js';

/** What a request is to the guard: ingest is shed first, reads only past twice the bounds. */
export type LoadClass = 'ingest' | 'read';

export interface OverloadOptions {
  /** Requests in flight past which ingest is shed (reads past twice this); 0: no bound. */
  maxInFlight: number;
  /** Event-loop delay (ms) past which ingest is shed (reads past twice this); 0: no bound. */
  maxLagMs: number;
  /** The current event-loop delay in ms; by default sampled from perf_hooks (tests give their own). */
  lag?: () => number;
}

const SAMPLE_MS = 1_000;
const noop = (): void => undefined;
const RESOLUTION_MS = 10;

/**
 * One replica's overload guard: sheds with 503 `overloaded` before latency collapses, when the
 * requests it is serving or its event-loop delay pass their bounds. The delay is the p99 of
 * perf_hooks' histogram over the last second, read by one timer (never per request). Ingest
 * (which the SDK retries) goes first; reads only past twice the bounds; routes marked `neverShed`
 * (health checks, metrics) are never asked.
 */
export class OverloadGuard {
  private inFlight = 0;
  private sampledLag = 0;
  private readonly histogram?: IntervalHistogram;
  private readonly timer?: NodeJS.Timeout;
  private readonly lag: () => number;

  constructor(
    private readonly opts: OverloadOptions,
    private readonly metrics: Metrics,
  ) {
    if (opts.lag) this.lag = opts.lag;
    else {
      this.lag = () => this.sampledLag;
      if (opts.maxLagMs > 0) {
        const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
        h.enable();
        this.histogram = h;
        this.timer = setInterval(() => {
          // The histogram holds each timer turn's whole delay: the resolution itself is not lag.
          this.sampledLag = h.count > 0 ? Math.max(0, h.percentile(99) / 1e6 - RESOLUTION_MS) : 0;
          h.reset();
        }, SAMPLE_MS);
        this.timer.unref();
      }
    }
  }

  /** Requests counted in flight now. */
  get current(): number {
    return this.inFlight;
  }

  /**
   * Throws 503 `overloaded` (counted in augur_http_shed_total) when a request of this class must be
   * shed; else counts it in flight until its response closes. A held long poll (`counted` false)
   * is checked but not counted: it waits, it does not work. Resolves to the function that stops
   * counting it early (a refusal held back on purpose: it waits too).
   */
  admit(res: Response, cls: LoadClass, counted = true): () => void {
    const factor = cls === 'ingest' ? 1 : 2;
    const { maxInFlight, maxLagMs } = this.opts;
    if (maxInFlight > 0 && this.inFlight >= maxInFlight * factor) throw this.shed('in_flight', 1);
    if (maxLagMs > 0) {
      const lag = this.lag();
      if (lag > maxLagMs * factor) throw this.shed('event_loop_lag', Math.max(1, Math.ceil(lag / 1000)));
    }
    return counted ? this.count(res) : noop;
  }

  /**
   * Counts an admitted request in flight again, unchecked, until its response closes (one that
   * waited for its tenant's slot, uncounted, and starts work now). Resolves to the function that
   * stops counting it early.
   */
  count(res: Response): () => void {
    this.inFlight++;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      res.off('close', release);
      this.inFlight--;
    };
    res.once('close', release);
    return release;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.histogram?.disable();
  }

  private shed(reason: 'in_flight' | 'event_loop_lag', retryAfter: number): ApiError {
    this.metrics.shed.labels(reason).inc();
    const why = reason === 'in_flight' ? 'too many requests in flight' : 'event loop delayed';
    return new ApiError('overloaded', `Server overloaded (${why}); retry after Retry-After seconds`, { headers: { 'Retry-After': String(retryAfter) } });
  }
}
