import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { FastCounter, FastHistogram, type CounterChild, type HistogramChild } from './fast-metrics.js';

/**
 * The Prometheus metrics of one app context. Each context owns its registry (tests build several
 * apps in one process; the global default registry would collide). Series the hot path touches
 * are resolved to prom-client children once, per route and status, so a request costs a few Map
 * look-ups, two `inc` and three `observe`, and allocates no label object.
 *
 * Metric names are documented in the README's Metrics section; keep both in step.
 */

/** Request latencies from 1 ms to 30 s (a held command poll lasts up to AUGUR_COMMANDS_HOLD_MS, 25 s by default). */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30];
/** Store calls: sub-millisecond memory look-ups to multi-second S3 uploads. */
export const BACKEND_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Body sizes from 100 B to 64 MiB (screenshots go to AUGUR_MAX_SCREENSHOT_BYTES, 32 MiB by default). */
export const SIZE_BUCKETS = [100, 1_000, 10_000, 100_000, 1_000_000, 4_000_000, 16_000_000, 64_000_000];

/** Reasons of augur_http_shed_total, each exported at 0 from the start (rate() needs the series to exist). */
export const SHED_REASONS = ['overload', 'in_flight', 'event_loop_lag'] as const;

/** Route label of API requests no route matched (one label, whatever the URL: bounded cardinality). */
export const UNMATCHED_ROUTE = 'unmatched';
/** Route label of everything outside the API prefix (the viewer's files and its SPA fallback). */
export const VIEWER_ROUTE = 'viewer';

/**
 * Ingest items by route: `kind` is the `augur_ingest_items_total` label; `count` how many items one
 * accepted request carried (1 when absent). The request hook counts them from the route it served,
 * so no handler carries metric code.
 */
export const INGEST_KINDS: Readonly<Record<string, { kind: string; count?: (body: unknown) => number }>> = {
  'POST /runs': { kind: 'manifest' },
  'PUT /runs/:run_id/trace': { kind: 'trace' },
  'PUT /runs/:run_id/steps/:step_index': { kind: 'step' },
  'POST /runs/:run_id/steps/:step_index/judge-decisions': { kind: 'judge_decision' },
  'POST /runs/:run_id/events': { kind: 'event', count: (b) => (b as { events?: unknown[] }).events?.length ?? 0 },
  'POST /runs/:run_id/screenshots/:step_index/:kind': { kind: 'screenshot' },
  'POST /runs/:run_id/modelio/:relpath': { kind: 'modelio' },
  'POST /runs/:run_id/logs': { kind: 'log' },
  'POST /heartbeat': { kind: 'heartbeat' },
  'POST /runs/:run_id/side-effects': { kind: 'side_effect' },
  'POST /runs/:run_id/reasoning': { kind: 'reasoning' },
  'POST /runs/:run_id/outcomes': { kind: 'outcome' },
  'POST /runs/:run_id/eval-candidates': { kind: 'eval_candidate' },
  'PUT /runs/:run_id/costs': { kind: 'costs' },
};

interface StatusSeries {
  requests: CounterChild;
  duration: HistogramChild;
  requestBytes: HistogramChild;
  responseBytes: HistogramChild;
}

/** One route (template and method) with its series per status, made on first use. */
export class RouteSeries {
  private readonly byStatus = new Map<number, StatusSeries>();
  readonly ingestItems?: CounterChild;
  readonly ingestBytes?: CounterChild;
  readonly rateLimited: CounterChild;

  constructor(
    private readonly m: Metrics,
    readonly route: string,
    readonly method: string,
    readonly ingest?: { kind: string; count?: (body: unknown) => number },
  ) {
    if (ingest) {
      this.ingestItems = m.ingestItems.labels(ingest.kind);
      this.ingestBytes = m.ingestBytes.labels(ingest.kind);
    }
    this.rateLimited = m.rateLimited.labels(route);
  }

  status(code: number): StatusSeries {
    let s = this.byStatus.get(code);
    if (!s) {
      const status = String(code);
      s = {
        requests: this.m.requests.labels(this.route, this.method, status),
        duration: this.m.duration.labels(this.route, this.method, status),
        requestBytes: this.m.requestBytes.labels(this.route, this.method),
        responseBytes: this.m.responseBytes.labels(this.route, this.method),
      };
      this.byStatus.set(code, s);
    }
    return s;
  }
}

export interface MetricsSources {
  /** Held command polls right now (CommandHub.heldPolls). */
  heldPolls: () => number;
  /** Ingest requests waiting for their tenant's slot right now (TenantSlots.queued). */
  queuedIngest?: () => number;
  /** Screenshot steps whose background pixel work waits or runs right now (PixelJobs.backlog). */
  pixelBacklog?: () => number;
}

export class Metrics {
  readonly registry = new Registry();

  readonly requests = new FastCounter(
    'augur_http_requests_total',
    'HTTP requests answered, by route template, method and status (499: the client went away first).',
    ['route', 'method', 'status'],
    this.registry,
  );
  readonly duration = new FastHistogram(
    'augur_http_request_duration_seconds',
    'Time from the request reaching the server to its answer being handed to the socket.',
    ['route', 'method', 'status'],
    this.registry,
    LATENCY_BUCKETS,
  );
  readonly requestBytes = new FastHistogram(
    'augur_http_request_bytes',
    'Request body bytes (Content-Length, or the JSON body as read when the body was chunked).',
    ['route', 'method'],
    this.registry,
    SIZE_BUCKETS,
  );
  readonly responseBytes = new FastHistogram(
    'augur_http_response_bytes',
    'Response bytes written to the socket, headers included.',
    ['route', 'method'],
    this.registry,
    SIZE_BUCKETS,
  );
  readonly ingestItems = new FastCounter(
    'augur_ingest_items_total',
    'Items accepted by the ingest routes, by kind (events count lines; the others one per accepted request).',
    ['kind'],
    this.registry,
  );
  readonly ingestBytes = new FastCounter(
    'augur_ingest_bytes_total',
    'Request body bytes of accepted ingest requests, by kind (screenshots: the multipart body; logs: the JSON body).',
    ['kind'],
    this.registry,
  );
  readonly rateLimited = new FastCounter(
    'augur_http_rate_limited_total',
    'Requests answered 429 (rate limited), by route template. Counted from the status by the request hook: never increment it by hand.',
    ['route'],
    this.registry,
  );
  readonly shed = new FastCounter(
    'augur_http_shed_total',
    'Requests refused before their handler ran because the replica was overloaded (load shedding), by reason.',
    ['reason'],
    this.registry,
  );
  readonly backendDuration = new FastHistogram(
    'augur_backend_call_duration_seconds',
    'Store calls (objects, metadata, presence, ...) by backend and operation, failed ones included; _count is the call count.',
    ['backend', 'operation'],
    this.registry,
    BACKEND_BUCKETS,
  );
  readonly backendErrors = new FastCounter(
    'augur_backend_call_errors_total',
    'Store calls that threw or rejected, by backend and operation.',
    ['backend', 'operation'],
    this.registry,
  );
  readonly dsnCache = new FastCounter(
    'augur_dsn_cache_lookups_total',
    'DSN key resolutions: hit (answered from the cache) or miss (a metadata look-up, or waiting on one).',
    ['result'],
    this.registry,
  );
  readonly activeUploads = new Gauge({
    name: 'augur_active_uploads',
    help: 'Screenshot uploads streaming into the object store right now.',
    registers: [this.registry],
  });

  readonly dsnHit = this.dsnCache.labels('hit');
  readonly dsnMiss = this.dsnCache.labels('miss');
  private readonly routes = new Map<string, RouteSeries>();
  private readonly unmatched = new Map<string, RouteSeries>();

  constructor(sources: MetricsSources) {
    new Gauge({
      name: 'augur_active_long_polls',
      help: 'Command polls (GET /runs/{run_id}/commands) held open waiting for a command right now.',
      registers: [this.registry],
      collect() {
        this.set(sources.heldPolls());
      },
    });
    new Gauge({
      name: 'augur_ingest_queued',
      help: 'Ingest requests waiting for a slot of their tenant on this replica right now (AUGUR_TENANT_MAX_IN_FLIGHT).',
      registers: [this.registry],
      collect() {
        this.set(sources.queuedIngest?.() ?? 0);
      },
    });
    new Gauge({
      name: 'augur_pixel_work_backlog',
      help: 'Screenshot steps whose background pixel work (frame hashes, pre/post comparison) waits or runs on this replica right now; it waits while uploads are in progress.',
      registers: [this.registry],
      collect() {
        this.set(sources.pixelBacklog?.() ?? 0);
      },
    });
    // Process and Node metrics (CPU, memory, handles, GC, nodejs_eventloop_lag_* among them).
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
    for (const reason of SHED_REASONS) this.shed.labels(reason).inc(0);
  }

  /** The series of an API route (method and Express path under the prefix), made once at start-up. */
  route(method: string, path: string, prefix: string): RouteSeries {
    const key = `${method.toUpperCase()} ${path}`;
    let r = this.routes.get(key);
    if (!r) this.routes.set(key, (r = new RouteSeries(this, prefix + path, method.toUpperCase(), INGEST_KINDS[key])));
    return r;
  }

  /** The series of requests no API route served: one route label, per method (methods not in HTTP's usual set share one). */
  other(method: string, route: string): RouteSeries {
    const m = KNOWN_METHODS.has(method) ? method : 'OTHER';
    const key = `${m} ${route}`;
    let r = this.unmatched.get(key);
    if (!r) this.unmatched.set(key, (r = new RouteSeries(this, route, m)));
    return r;
  }

  /** Store-call series of one backend operation. */
  backend(backend: string, operation: string): { duration: HistogramChild; errors: CounterChild } {
    return { duration: this.backendDuration.labels(backend, operation), errors: this.backendErrors.labels(backend, operation) };
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
