import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanJson } from '../../server/http/json-scan.js';
import { MAX_JUDGE_DECISION_BYTES } from '../../server/routes/ingest/judge-decisions.js';
import { MAX_LOG_BYTES } from '../../server/routes/ingest/logs.js';
import { ROUTES } from '../../server/routes/index.js';
import { BundleKeys } from '../../server/services/bundle.js';
import { PROFILES, productionAvailable } from '../helpers/backends.js';
import { expectError } from '../helpers/schemas.js';
import { startTestServer, type TestServer, type TestTenant } from '../helpers/server.js';
import { exampleUrlPath, requestExample, type JsonObject } from '../contract/contract-helpers.js';

/**
 * Bounded work per JSON body: the value limit (AUGUR_MAX_JSON_VALUES, counted by the scan before
 * anything is parsed) on every ingest route, and the bodies whose handling no longer re-encodes or
 * re-reads what a body holds. The limit is made small here so the bodies stay small.
 */
const VALUES = 3000;
const INGEST_ROUTES = ROUTES.filter((r) => r.auth === 'dsn' && r.body);
const JSON_HEADERS = { 'content-type': 'application/json' };
const valuesOf = (text: string) => scanJson(Buffer.from(text), { depth: 64, values: Number.MAX_SAFE_INTEGER }).values;

/** The route's example with `padding: [0,0,…]` of k zeros, as text. */
const padded = (base: JsonObject, k: number) => JSON.stringify({ ...base, padding: new Array<number>(k).fill(0) });

/** The bodies just at and just over `limit` values: the largest padding that fits, and one more zero. */
function atAndOver(base: JsonObject, limit: number): { at: string; over: string } {
  let lo = 0;
  let hi = limit;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (valuesOf(padded(base, mid)) <= limit) lo = mid;
    else hi = mid - 1;
  }
  return { at: padded(base, lo), over: padded(base, lo + 1) };
}

describe.each(PROFILES)('bounded work per JSON body on %s backends', (profile) => {
  const skip = profile === 'production' && !productionAvailable();
  let s: TestServer;
  let t: TestTenant;
  /** A server with the default value limit, for bodies larger than VALUES allows. */
  let wide: TestServer;
  let wt: TestTenant;

  beforeAll(async () => {
    if (skip) return;
    [s, wide] = await Promise.all([startTestServer(profile, { AUGUR_MAX_JSON_VALUES: String(VALUES) }), startTestServer(profile)]);
    [t, wt] = await Promise.all([s.tenant({ modelio: true }), wide.tenant()]);
  });
  afterAll(async () => Promise.all([s?.close(), wide?.close()]));

  const call = (method: string, path: string, body: BodyInit, headers: Record<string, string> = JSON_HEADERS, server = s, tenant = t) =>
    fetch(`${server.api}${path}`, { method, headers: { ...headers, authorization: `Bearer ${tenant.key}` }, body });
  const stored = async (run: string) => {
    const keys: string[] = [];
    for await (const o of s.ctx.stores.objects.list(new BundleKeys(t.id, run).prefix)) keys.push(o.key);
    return keys;
  };

  it.skipIf(skip)('there are JSON ingest routes to check', () => {
    expect(INGEST_ROUTES.length).toBeGreaterThan(10);
  });

  it.skipIf(skip).each(INGEST_ROUTES.map((r) => [`${r.method.toUpperCase()} ${r.path}`, r] as const))(
    `%s: accepted at AUGUR_MAX_JSON_VALUES (${VALUES} here), 413 payload_too_large one value over`,
    async (_name, route) => {
      const { at, over } = atAndOver(requestExample(route) as JsonObject, VALUES);
      expect(valuesOf(at)).toBeLessThanOrEqual(VALUES);
      expect(valuesOf(over)).toBeGreaterThan(VALUES);
      const path = exampleUrlPath(route);
      const ok = await call(route.method.toUpperCase(), path, at);
      expect(ok.status, await ok.text()).toBeLessThan(300);
      const refused = await expectError(await call(route.method.toUpperCase(), path, over), 413, 'payload_too_large');
      expect(refused.detail).toMatch(/too many JSON values \(limit 3000/);
    },
  );

  it.skipIf(skip)('nothing of a refused body is stored, also when it came gzip-compressed', async () => {
    const run = 'run_over_values';
    const step = { step_id: 's0', step_index: 0, status: 'running' };
    const over = atAndOver(step, VALUES).over;
    await expectError(await call('PUT', `/runs/${run}/steps/0`, over), 413, 'payload_too_large');
    await expectError(await call('PUT', `/runs/${run}/steps/0`, gzipSync(over), { ...JSON_HEADERS, 'content-encoding': 'gzip' }), 413, 'payload_too_large');
    const events = { events: [{ ts: '2026-01-01T00:00:00Z', layer: 'planner', kind: 'decision', summary: 's' }] };
    await expectError(await call('POST', `/runs/${run}/events`, atAndOver(events, VALUES).over), 413, 'payload_too_large');
    await expectError(await call('PUT', `/runs/${run}/trace`, atAndOver({ steps: [step] }, VALUES).over), 413, 'payload_too_large');
    await s.ctx.runIndex.flush();
    expect(await stored(run)).toEqual([]);
    expect(await s.ctx.stores.metadata.getRun(t.id, run)).toBeUndefined();
  });

  it.skipIf(skip)('a trace of more than 10,000 steps is 422 naming steps, before any step is validated', async () => {
    const steps = Array.from({ length: 10_001 }, (_, i) => ({ step_index: i, status: i === 5 ? 12345 : 'ok' }));
    const r = await expectError(await call('PUT', '/runs/run_many_steps/trace', JSON.stringify({ steps }), JSON_HEADERS, wide, wt), 422, 'validation_failed');
    expect(r.detail).toContain('steps');
    expect(r.detail).not.toContain('status');
  });

  it.skipIf(skip)('events are stored as sent, one line each; an event spread over lines is put on one', async () => {
    const run = 'run_events_as_sent';
    const text = '{"events": [ {"ts": "2026-01-01T00:00:01Z", "layer": "planner", "kind": "decision", "summary": "\\u00e9"} ,\n{"ts":"2026-01-01T00:00:02Z",\n"layer":"model","kind":"decision","summary":"two"}]}';
    const r = await call('POST', `/runs/${run}/events`, text);
    expect(await r.json()).toMatchObject({ ok: true, appended: 2 });
    const file = await s.ctx.appends.read(new BundleKeys(t.id, run).events('run'));
    expect(file!.toString('utf8')).toBe(
      '{"ts": "2026-01-01T00:00:01Z", "layer": "planner", "kind": "decision", "summary": "\\u00e9"}\n{"ts":"2026-01-01T00:00:02Z","layer":"model","kind":"decision","summary":"two"}\n',
    );
  });

  it.skipIf(skip)('a reasoning record is stored as sent when it is one line, else on one line', async () => {
    const run = 'run_reasoning_as_sent';
    const one = '{"text": "thinking \\u00e9", "step_index": 1}';
    const spread = '{"text": "two",\n "step_index": 2}';
    for (const body of [one, spread]) expect((await call('POST', `/runs/${run}/reasoning`, body)).status).toBe(200);
    const file = await s.ctx.appends.read(new BundleKeys(t.id, run).reasoning);
    expect(file!.toString('utf8')).toBe(`${one}\n{"text":"two","step_index":2}\n`);
  });

  it.skipIf(skip)('a log text of more characters than the bound is cut at a UTF-8 boundary as before', async () => {
    const run = 'run_long_log';
    const text = 'é'.repeat(MAX_LOG_BYTES + 10); // 2 bytes each: twice the bound
    const ack = (await (await call('POST', `/runs/${run}/logs`, JSON.stringify({ text }))).json()) as { bytes_written: number; truncated: boolean };
    expect(ack).toMatchObject({ truncated: true, bytes_written: MAX_LOG_BYTES });
    const file = await s.ctx.appends.read(new BundleKeys(t.id, run).log('run'));
    expect(file!.toString('utf8')).toBe('é'.repeat(MAX_LOG_BYTES / 2));
  });

  it.skipIf(skip)(`a step's judge decisions are bounded to ${MAX_JUDGE_DECISION_BYTES} bytes: the one that would pass it is 422`, async () => {
    const run = 'run_judge_bytes';
    const decision = (i: number, size: number) => JSON.stringify({ judge_id: `j${i}`, judge_type: 'model', verdict: { status: 'passed' }, note: 'n'.repeat(size) });
    const post = (body: string) => call('POST', `/runs/${run}/steps/0/judge-decisions`, body);
    expect((await post(decision(1, MAX_JUDGE_DECISION_BYTES / 2))).status).toBe(200);
    const refused = await expectError(await post(decision(2, MAX_JUDGE_DECISION_BYTES / 2)), 422, 'validation_failed');
    expect(refused.detail).toContain(`at most ${MAX_JUDGE_DECISION_BYTES}`);
    expect(((await (await post(decision(3, 100))).json()) as { judge_decisions: number }).judge_decisions).toBe(2);
  });
});
