import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { API_PREFIX, createApp } from '../../server/app.js';
import { ROOT } from '../../server/paths.js';
import { ROUTES } from '../../server/routes/index.js';
import { DOC_ROUTES } from '../../server/routes/docs.js';
import { INGEST_KINDS, UNMATCHED_ROUTE, VIEWER_ROUTE } from '../../server/services/metrics.js';
import { PROFILES, productionAvailable, rid } from '../helpers/backends.js';
import { expectError } from '../helpers/schemas.js';
import { startTestServer, type TestServer, type TestTenant } from '../helpers/server.js';
import { makePng, pngForm } from './ingest-fixtures.js';
import { login } from './read-helpers.js';

const TOKEN = `metrics-${rid(16)}`;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the Prometheus text format (0.0.4): every line is a comment, blank, or
 * `name{label="value",...} number`; every sample's family has a TYPE line before it. Throws on
 * anything else, so a malformed exposition fails the test.
 */
function parseExposition(text: string): Sample[] {
  const types = new Map<string, string>();
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') {
        expect(['counter', 'gauge', 'histogram', 'summary', 'untyped'], line).toContain(meta[3]);
        types.set(meta[2]!, meta[3]!);
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;
    let at = 0;
    while (at < body.length) {
      re.lastIndex = at;
      const l = re.exec(body);
      if (!l) throw new Error(`bad labels: ${line}`);
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      at = re.lastIndex;
    }
    const raw = m[3]!;
    // Go's ParseFloat, which Prometheus uses, reads NaN in any case (prom-client writes `Nan`).
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : /^nan$/i.test(raw) ? NaN : Number(raw);
    if (Number.isNaN(value) && !/^nan$/i.test(raw)) throw new Error(`bad value: ${line}`);
    const family = m[1]!.replace(/_(bucket|sum|count|total|created)$/, '');
    if (!types.has(m[1]!) && !types.has(family)) throw new Error(`sample without TYPE: ${line}`);
    out.push({ name: m[1]!, labels, value });
  }
  return out;
}

/** The sum of the samples of `name` whose labels include `where` (0 when there is none). */
function total(samples: Sample[], name: string, where: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

const template = (path: string): string => `${API_PREFIX}${path}`;
const STEP = template('/runs/:run_id/steps/:step_index');
const EVENTS = template('/runs/:run_id/events');
const SHOT = template('/runs/:run_id/screenshots/:step_index/:kind');
const TRACE_READ = template('/runs/:run_id/trace.json');

describe('ingest kinds', () => {
  it('name exactly the DSN routes that write (every one counted, none that does not exist)', () => {
    const writes = ROUTES.filter((r) => r.auth === 'dsn' && r.method !== 'get').map((r) => `${r.method.toUpperCase()} ${r.path}`);
    expect(Object.keys(INGEST_KINDS).sort()).toEqual(writes.sort());
    const kinds = Object.values(INGEST_KINDS).map((k) => k.kind);
    expect(new Set(kinds).size).toBe(kinds.length);
  });
});

describe.each(PROFILES)('GET /api/v1/metrics on %s backends', (profile) => {
  const skip = profile === 'production' && !productionAvailable();
  let off: TestServer;
  let s: TestServer;
  let t: TestTenant;

  beforeAll(async () => {
    if (skip) return;
    [off, s] = await Promise.all([startTestServer(profile), startTestServer(profile, { AUGUR_METRICS_TOKEN: TOKEN })]);
    t = await s.tenant();
  });
  afterAll(async () => {
    await Promise.all([off?.close(), s?.close()]);
  });

  const scrapeText = async (server = s): Promise<string> => {
    const r = await fetch(`${server.api}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const text = await r.text();
    expect(r.status, text).toBe(200);
    const type = r.headers.get('content-type') ?? '';
    expect(type).toMatch(/^text\/plain;/);
    expect(type).toMatch(/; version=0\.0\.4\b/);
    return text;
  };
  const scrape = async (): Promise<Sample[]> => parseExposition(await scrapeText());
  const dsn = (method: string, path: string, body?: unknown, key = t.key) =>
    fetch(`${s.api}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it.skipIf(skip)('without AUGUR_METRICS_TOKEN the path answers exactly as an unknown path does (404)', async () => {
    for (const path of ['/metrics', '/METRICS', '/metrics/']) {
      const r = await fetch(`${off.api}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const body = await expectError(r, 404, 'not_found');
      expect(body.detail).toBe(`No route for GET /api/v1${path}`);
    }
    const unknown = await expectError(await fetch(`${off.api}/no-such-route`), 404, 'not_found');
    expect(unknown.detail).toBe('No route for GET /api/v1/no-such-route');
  });

  it.skipIf(skip)('401 {detail, code} without the token, with a wrong one (same length or not) and with a malformed header', async () => {
    await expectError(await fetch(`${s.api}/metrics`), 401, 'not_authenticated');
    const wrongSameLength = TOKEN.slice(0, -1) + (TOKEN.endsWith('a') ? 'b' : 'a');
    for (const wrong of [wrongSameLength, `${TOKEN}x`, 'short', t.key]) {
      await expectError(await fetch(`${s.api}/metrics`, { headers: { authorization: `Bearer ${wrong}` } }), 401, 'invalid_credential');
    }
    await expectError(await fetch(`${s.api}/metrics`, { headers: { authorization: `Basic ${TOKEN}` } }), 401, 'invalid_credential');
  });

  it.skipIf(skip)('the text parses and carries every documented family, process and Node metrics (event-loop lag) among them', async () => {
    const samples = await scrape();
    const names = new Set(samples.map((x) => x.name));
    for (const name of [
      'augur_http_requests_total',
      'augur_http_request_duration_seconds_bucket',
      'augur_http_request_bytes_bucket',
      'augur_http_response_bytes_bucket',
      'augur_backend_call_duration_seconds_count',
      'augur_dsn_cache_lookups_total',
      'augur_http_shed_total',
      'augur_active_long_polls',
      'augur_active_uploads',
      'augur_ingest_queued',
      'augur_pixel_work_backlog',
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_heap_size_used_bytes',
    ]) {
      expect(names.has(name), name).toBe(true);
    }
    expect(total(samples, 'augur_http_shed_total', { reason: 'overload' })).toBe(0);
    expect(total(samples, 'augur_http_shed_total', { reason: 'in_flight' })).toBe(0);
    expect(total(samples, 'augur_http_shed_total', { reason: 'event_loop_lag' })).toBe(0);
    // Every family of Augur's own is documented in the README's Metrics section.
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const metricsSection = readme.slice(readme.indexOf('## Metrics'), readme.indexOf('\n## ', readme.indexOf('## Metrics') + 1));
    const families = [...(await scrapeText()).matchAll(/^# TYPE (augur_\w+) /gm)].map((m) => m[1]!);
    expect(families.length).toBeGreaterThan(10);
    expect(families.filter((f) => !metricsSection.includes(`\`${f}\``))).toEqual([]);
    // The latency buckets span 1 ms to 30 s.
    const les = samples.filter((x) => x.name === 'augur_http_request_duration_seconds_bucket').map((x) => x.labels.le);
    expect(les).toContain('0.001');
    expect(les).toContain('30');
  });

  it.skipIf(skip)('counters move by exactly the requests made: a step, an event batch, a screenshot, a trace read; ingest items by kind', async () => {
    const run = `run_metrics_${rid(4)}`;
    const png = makePng(8, 6);
    const before = await scrape();

    expect((await dsn('PUT', `/runs/${run}/steps/0`, { step_index: 0, action: { type: 'click', params: {} } })).status).toBe(200);
    expect((await dsn('POST', `/runs/${run}/events`, { events: [{ kind: 'a' }, { kind: 'b' }, { kind: 'c' }] })).status).toBe(200);
    const shot = await fetch(`${s.api}/runs/${run}/screenshots/0/pre`, { method: 'POST', headers: { authorization: `Bearer ${t.key}` }, body: pngForm(png) });
    expect(shot.status, await shot.text()).toBeLessThan(300);
    expect((await dsn('PUT', `/runs/${run}/trace`, { session: { run_id: run, status: 'running' }, steps: [] })).status).toBe(200);
    const { cookie } = await login(s.api, t.email, t.password);
    const read = await fetch(`${s.api}/runs/${run}/trace.json`, { headers: { cookie } });
    expect(read.status, await read.text()).toBe(200);
    // A screenshot that is not a PNG: refused, counted under its route with its status, and no item.
    const bad = await fetch(`${s.api}/runs/${run}/screenshots/0/post`, { method: 'POST', headers: { authorization: `Bearer ${t.key}` }, body: pngForm(Buffer.from('not a png at all, not at all'), 'image/png') });
    expect(bad.status).toBe(415);

    const after = await scrape();
    const delta = (name: string, where: Record<string, string> = {}) => total(after, name, where) - total(before, name, where);
    expect(delta('augur_http_requests_total', { route: STEP, method: 'PUT', status: '200' })).toBe(1);
    expect(delta('augur_http_requests_total', { route: EVENTS, method: 'POST', status: '200' })).toBe(1);
    expect(delta('augur_http_requests_total', { route: SHOT, method: 'POST' })).toBe(2);
    expect(delta('augur_http_requests_total', { route: SHOT, method: 'POST', status: '415' })).toBe(1);
    expect(delta('augur_http_requests_total', { route: TRACE_READ, method: 'GET', status: '200' })).toBe(1);
    expect(delta('augur_http_request_duration_seconds_count', { route: STEP, method: 'PUT', status: '200' })).toBe(1);
    expect(delta('augur_http_request_duration_seconds_count', { route: TRACE_READ })).toBe(1);
    expect(delta('augur_http_request_bytes_count', { route: SHOT })).toBe(2);
    expect(delta('augur_http_response_bytes_count', { route: TRACE_READ })).toBe(1);
    expect(delta('augur_http_response_bytes_sum', { route: TRACE_READ })).toBeGreaterThan(0);

    expect(delta('augur_ingest_items_total', { kind: 'step' })).toBe(1);
    expect(delta('augur_ingest_items_total', { kind: 'event' })).toBe(3);
    expect(delta('augur_ingest_items_total', { kind: 'screenshot' })).toBe(1);
    expect(delta('augur_ingest_items_total', { kind: 'trace' })).toBe(1);
    expect(delta('augur_ingest_bytes_total', { kind: 'screenshot' })).toBeGreaterThan(png.length);
    expect(delta('augur_ingest_bytes_total', { kind: 'step' })).toBe(JSON.stringify({ step_index: 0, action: { type: 'click', params: {} } }).length);
    expect(total(after, 'augur_active_uploads')).toBe(0);
    // The refused PNG failed the object store's put, but by the client's fault: no backend error.
    expect(delta('augur_backend_call_errors_total', { backend: 'objects' })).toBe(0);
    expect(delta('augur_backend_call_duration_seconds_count', { backend: 'objects', operation: 'put' })).toBeGreaterThanOrEqual(4);
  });

  it.skipIf(skip)('route labels are templates (never a raw URL); unknown API paths share one label', async () => {
    const run = `run_label_${rid(4)}`;
    expect((await dsn('PUT', `/runs/${run}/steps/7`, { step_index: 7, action: { type: 'click', params: {} } })).status).toBe(200);
    const before = await scrape();
    const stray = `/no-such-${rid(4)}`;
    expect((await fetch(`${s.api}${stray}`)).status).toBe(404);
    await (await fetch(`${s.url}/runs/${run}`)).text(); // the viewer's page (or its 503 where the viewer is not built)
    const after = await scrape();
    expect(total(after, 'augur_http_requests_total', { route: VIEWER_ROUTE, method: 'GET' }) - total(before, 'augur_http_requests_total', { route: VIEWER_ROUTE, method: 'GET' })).toBe(1);
    const text = await scrapeText();
    expect(text).not.toContain(run);
    expect(text).not.toContain(stray);
    expect(total(after, 'augur_http_requests_total', { route: UNMATCHED_ROUTE, method: 'GET', status: '404' }) - total(before, 'augur_http_requests_total', { route: UNMATCHED_ROUTE, method: 'GET', status: '404' })).toBe(1);
    const allowed = new Set([...ROUTES.map((r) => template(r.path)), ...DOC_ROUTES.map((r) => template(r.path)), UNMATCHED_ROUTE, VIEWER_ROUTE]);
    const labels = new Set(after.filter((x) => x.name === 'augur_http_requests_total').map((x) => x.labels.route!));
    expect([...labels].filter((l) => !allowed.has(l))).toEqual([]);
    expect(labels.has(STEP)).toBe(true);
  });

  it.skipIf(skip)('the route shortcut and the router label an ingest request alike (by its template)', async () => {
    // The same context behind an app without the shortcut: the router dispatches the step PUT.
    const routerOnly = createApp(s.ctx, ROUTES, { routeShortcut: false });
    const server: Server = await new Promise((resolve) => {
      const listening = routerOnly.listen(0, '127.0.0.1', () => resolve(listening));
    });
    try {
      const run = `run_router_${rid(4)}`;
      const where = { route: STEP, method: 'PUT', status: '200' };
      const before = await scrape();
      const body = JSON.stringify({ step_index: 1, action: { type: 'click', params: {} } });
      const headers = { authorization: `Bearer ${t.key}`, 'content-type': 'application/json' };
      const viaRouter = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/runs/${run}/steps/1`, { method: 'PUT', headers, body });
      expect(viaRouter.status).toBe(200);
      const mid = await scrape();
      expect((await fetch(`${s.api}/runs/${run}/steps/2`, { method: 'PUT', headers, body: body.replace('"step_index":1', '"step_index":2') })).status).toBe(200);
      const after = await scrape();
      expect(total(mid, 'augur_http_requests_total', where) - total(before, 'augur_http_requests_total', where)).toBe(1);
      expect(total(after, 'augur_http_requests_total', where) - total(mid, 'augur_http_requests_total', where)).toBe(1);
      expect(total(after, 'augur_http_requests_total', { route: UNMATCHED_ROUTE }) - total(before, 'augur_http_requests_total', { route: UNMATCHED_ROUTE })).toBe(0);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it.skipIf(skip)('store calls are counted per backend and operation; a fresh DSN key is one cache miss and one metadata look-up, then hits', async () => {
    const fresh = await s.tenant();
    const run = `run_backend_${rid(4)}`;
    const before = await scrape();
    expect((await dsn('POST', `/runs/${run}/events`, { events: [{ kind: 'x' }] }, fresh.key)).status).toBe(200);
    const mid = await scrape();
    expect((await dsn('POST', `/runs/${run}/logs`, { text: 'hello\n' }, fresh.key)).status).toBe(200);
    const after = await scrape();
    const d = (a: Sample[], b: Sample[], name: string, where: Record<string, string>) => total(b, name, where) - total(a, name, where);

    expect(d(before, mid, 'augur_dsn_cache_lookups_total', { result: 'miss' })).toBe(1);
    expect(d(before, mid, 'augur_dsn_cache_lookups_total', { result: 'hit' })).toBe(0);
    expect(d(before, mid, 'augur_backend_call_duration_seconds_count', { backend: 'metadata', operation: 'findDsnByHash' })).toBe(1);
    expect(d(mid, after, 'augur_dsn_cache_lookups_total', { result: 'hit' })).toBe(1);
    expect(d(mid, after, 'augur_dsn_cache_lookups_total', { result: 'miss' })).toBe(0);
    expect(d(mid, after, 'augur_backend_call_duration_seconds_count', { backend: 'metadata', operation: 'findDsnByHash' })).toBe(0);

    // The appends went through the object store and the presence store (its append sequence).
    for (const backend of ['objects', 'presence']) {
      expect(d(before, after, 'augur_backend_call_duration_seconds_count', { backend }), backend).toBeGreaterThan(0);
    }
    const backends = new Set(after.filter((x) => x.name === 'augur_backend_call_duration_seconds_count').map((x) => x.labels.backend));
    for (const b of ['objects', 'metadata', 'presence']) expect(backends.has(b), b).toBe(true);
    expect(d(before, after, 'augur_backend_call_errors_total', {})).toBe(0);
  });

  it.skipIf(skip)('a store call that fails is counted as an error of its backend and operation', async () => {
    const before = await scrape();
    // A body that fails midway: the write is refused on every driver.
    const failing = new Readable({
      read() {
        this.destroy(new Error('the body broke'));
      },
    });
    await expect(s.ctx.stores.objects.put(`metrics-test/${rid(4)}`, failing, { contentType: 'text/plain' })).rejects.toThrow();
    const after = await scrape();
    const where = { backend: 'objects', operation: 'put' };
    expect(total(after, 'augur_backend_call_errors_total', where) - total(before, 'augur_backend_call_errors_total', where)).toBe(1);
    // The failed call is timed too; background work (a trace snapshot, a pixel record) may put meanwhile.
    expect(total(after, 'augur_backend_call_duration_seconds_count', where) - total(before, 'augur_backend_call_duration_seconds_count', where)).toBeGreaterThanOrEqual(1);
  });

  it.skipIf(skip)('augur_active_long_polls counts a held command poll while it is held', async () => {
    const run = `run_poll_${rid(4)}`;
    const hub = s.ctx.commands;
    const isHeld = new Promise<void>((resolve) => {
      const on = (_t: string, r: string) => {
        if (r !== run) return;
        hub.events.off('hold', on);
        resolve();
      };
      hub.events.on('hold', on);
    });
    const abort = new AbortController();
    const pending = fetch(`${s.api}/runs/${run}/commands`, { headers: { authorization: `Bearer ${t.key}` }, signal: abort.signal }).catch((err: unknown) => err);
    await isHeld;
    expect(total(await scrape(), 'augur_active_long_polls')).toBe(1);
    const gone = new Promise<void>((resolve) => hub.events.on('gone', (_t: string, r: string) => r === run && resolve()));
    abort.abort();
    await gone;
    await pending;
    expect(total(await scrape(), 'augur_active_long_polls')).toBe(0);
  });

  it.skipIf(skip)('each app has its own registry: one app\'s requests never show in another\'s metrics', async () => {
    expect(off.ctx.metrics.registry).not.toBe(s.ctx.metrics.registry);
    const label = { route: template('/healthz'), method: 'GET', status: '200' };
    const own = parseExposition(await off.ctx.metrics.text());
    const theirs = await scrape();
    expect((await fetch(`${off.api}/healthz`)).status).toBe(200);
    const ownAfter = parseExposition(await off.ctx.metrics.text());
    expect(total(ownAfter, 'augur_http_requests_total', label) - total(own, 'augur_http_requests_total', label)).toBe(1);
    expect(total(await scrape(), 'augur_http_requests_total', label)).toBe(total(theirs, 'augur_http_requests_total', label));
  });
});
