import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROFILES, productionAvailable } from '../helpers/backends.js';
import { expectError, expectSchema } from '../helpers/schemas.js';
import { startTestServer, type TestServer, type TestTenant } from '../helpers/server.js';
import { traceFacts } from '../../server/services/run-facts.js';
import { get, login } from './read-helpers.js';

/** What the real SDK 0.1.14 sent for one run (../shared/sdk-wire). */
const WIRE = path.resolve(import.meta.dirname, '../../../shared/sdk-wire/augur-sdk-0.1.14-main/requests.jsonl');
const wire = readFileSync(WIRE, 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as { method: string; path: string; body?: string });
const sdkRun = 'run_sdk_e2e_1796152423';
const sdkManifest = wire.find((r) => r.method === 'POST' && r.path === '/api/v1/runs')!.body!;
const sdkTrace = wire.find((r) => r.method === 'PUT' && r.path.endsWith('/trace'))!.body!;

interface Summary {
  run_id: string;
  status: string | null;
  client_name: string | null;
  client_version: string | null;
  capture_mode: string | null;
  step_count: number;
  iteration_count: number;
  costs: Record<string, number> | null;
  tags: Record<string, string>;
  session_type: string | null;
  started_at: string | null;
  ended_at: string | null;
  group_id: string | null;
  parent_run_id: string | null;
  synthetic?: boolean;
  children_count?: number;
  children?: Summary[];
  [k: string]: unknown;
}
interface Page {
  runs: Summary[];
  next_cursor: string | null;
}

describe.each(PROFILES)('the runs list on %s backends', (profile) => {
  const skip = profile === 'production' && !productionAvailable();
  let s: TestServer;
  beforeAll(async () => {
    if (!skip) s = await startTestServer(profile);
  });
  afterAll(async () => s?.close());

  /** A tenant of its own, and helpers that speak to the API as its SDK and as its user. */
  async function tenant() {
    const t: TestTenant = await s.tenant();
    const { cookie } = await login(s.api, t.email, t.password);
    const ingest = async (method: string, p: string, body: unknown): Promise<Response> => {
      const r = await fetch(`${s.api}${p}`, {
        method,
        headers: { authorization: `Bearer ${t.key}`, 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      expect(r.status, `${method} ${p}: ${await r.clone().text()}`).toBeLessThan(300);
      s.clock.advance(1_000); // created_at orders the list; each call is a second later
      return r;
    };
    const list = async (query = ''): Promise<Page> => {
      await s.ctx.runIndex.flush();
      const r = await get(`${s.api}/runs${query ? `?${query}` : ''}`, cookie);
      const text = await r.text();
      expect(r.status, text).toBe(200);
      const page = JSON.parse(text) as Page;
      expectSchema(page, 'runs-page.schema.json');
      return page;
    };
    const ids = async (query: string) => (await list(query)).runs.map((r) => r.run_id);
    return { t, cookie, ingest, list, ids };
  }

  it.skipIf(skip)('shows what the SDK sent: manifest, trace session, then live costs', async () => {
    const { ingest, list, cookie } = await tenant();
    await ingest('POST', '/runs', sdkManifest);
    let [run] = (await list()).runs;
    expect(run).toMatchObject({
      run_id: sdkRun, status: 'running', client_name: 'myagent', client_version: '0.1.0', capture_mode: 'full', step_count: 3, iteration_count: 3,
      costs: { total_usd: 0.05, model_usd: 0.04, tokens_in: 3600, tokens_out: 120 }, debug_session_id: 'dbg_c862e53fc716416b',
      trajectory_fingerprint: 'cua_v1:25ede68c4121b580939177770d6c462e4962f84d80292bca00bac6c4b5c41849', tags: {}, parent_run_id: null, group_id: null,
      synthetic: false, children_count: 0, children: [],
    });
    expect(run).not.toHaveProperty('agent');
    await ingest('PUT', `/runs/${sdkRun}/trace`, sdkTrace);
    [run] = (await list()).runs;
    expect(run).toMatchObject({
      status: 'failed', tags: { env: 'local', task: 'log in as alice', tenant: 'demo' }, started_at: '2026-12-01T19:13:43.000Z', ended_at: '2026-12-01T19:13:44.000Z',
      session_type: null,
    });
    // SDK 0.3.1+: the session's cumulative costs, latest wins whole.
    const put = await ingest('PUT', `/runs/${sdkRun}/costs`, { total_usd: 0.07, model_usd: 0.05, tokens_in: 4000, tokens_out: 150, cache_hit_tokens: 800 });
    expect(await put.json()).toEqual({ ok: true, run_id: sdkRun, file: 'costs.json' });
    await ingest('PUT', `/runs/${sdkRun}/costs`, { total_usd: 0.09, tokens_in: 4200 });
    expect((await list()).runs[0]!.costs).toEqual({ total_usd: 0.09, tokens_in: 4200 });
    const stored = await get(`${s.api}/runs/${sdkRun}/costs.json`, cookie);
    expect(stored.status).toBe(200);
    expect(await stored.text()).toBe('{"total_usd":0.09,"tokens_in":4200}');
    expect((await get(`${s.api}/runs/no_such_run/costs.json`, cookie)).status).toBe(404);
    // Whichever route reported costs last wins, also within one flush of the index.
    await ingest('PUT', `/runs/${sdkRun}/costs`, { total_usd: 0.2 });
    await ingest('POST', '/runs', sdkManifest);
    expect((await list()).runs[0]!.costs).toEqual({ total_usd: 0.05, model_usd: 0.04, tokens_in: 3600, tokens_out: 120 });
  });

  it.skipIf(skip)('every session status the SDK has, and the status filter', async () => {
    const { t, ingest, ids } = await tenant();
    for (const status of ['running', 'succeeded', 'failed']) {
      await ingest('PUT', `/runs/run_${status}/trace`, { session: { status }, steps: [] });
    }
    // trace.schema.json does not take these two yet (its rewrite does): what the trace route reports for them.
    for (const status of ['cancelled', 'halted']) {
      s.ctx.runIndex.touch({ tenant_id: t.id, run_id: `run_${status}`, seen_at: s.clock.now(), ...traceFacts({ session: { status }, steps: [] }, `run_${status}`) });
      s.clock.advance(1_000);
    }
    for (const status of ['running', 'succeeded', 'failed', 'cancelled', 'halted']) expect(await ids(`status=${status}`)).toEqual([`run_${status}`]);
    const body = await expectError(await get(`${s.api}/runs?status=aborted`, (await tenant()).cookie), 422, 'validation_failed');
    expect((body.errors as Array<{ loc: string[] }>)[0]!.loc).toEqual(['query', 'status']);
  });

  it.skipIf(skip)('counts iterations on top of steps', async () => {
    const { t, list } = await tenant();
    // What the step route reports for a second step_id at a known index (the lead's step route sends it).
    s.ctx.runIndex.touch({ tenant_id: t.id, run_id: 'run_iter', seen_at: s.clock.now(), step_count: 2 });
    s.ctx.runIndex.touch({ tenant_id: t.id, run_id: 'run_iter', seen_at: s.clock.now(), new_iterations: 1 });
    s.ctx.runIndex.touch({ tenant_id: t.id, run_id: 'run_iter', seen_at: s.clock.now(), new_iterations: 1 });
    expect((await list()).runs[0]).toMatchObject({ run_id: 'run_iter', step_count: 2, iteration_count: 4 });
  });

  it.skipIf(skip)('filters on tags, group, parent and fingerprint; q searches run id, client, task and tags', async () => {
    const { ingest, ids, list, cookie } = await tenant();
    await ingest('PUT', '/runs/run_prod/trace', { session: { status: 'succeeded', tags: { env: 'prod', 'team.name': 'ops:core' }, client: { name: 'Planner-Bot' }, group_id: 'batch-1' }, steps: [] });
    await ingest('PUT', '/runs/run_dev/trace', { session: { status: 'running', tags: { env: 'dev' }, task_spec: { instruction: 'Enable DARK mode' } }, steps: [] });
    await ingest('PUT', '/runs/run_dev/steps/0', { step_index: 0, step_id: 'run_dev/step/0000', group_id: 'batch-1', branch_context: { parent_run_id: 'run_prod', branch_point_step_index: 0, mutated_axis: 'action' } });
    await ingest('POST', '/runs', { run_id: 'run_fp', trajectory_fingerprint: 'cua_v1:abc' });
    // Costs as a tag (the SDK schema's text form), shown when no structured costs came.
    await ingest('PUT', '/runs/run_tagcost/trace', { session: { status: 'succeeded', tags: { cost_usd: '0.42' } }, steps: [] });
    expect((await list('tag=cost_usd')).runs.map((r) => [r.run_id, r.costs])).toEqual([['run_tagcost', { total_usd: 0.42 }]]);
    expect(await ids('tag=env:prod')).toEqual(['run_prod']);
    expect(await ids('tag=env')).toEqual(['run_dev', 'run_prod']);
    expect(await ids('tag=env:prod&tag=team.name:ops:core')).toEqual(['run_prod']);
    expect(await ids('tag=env:prod&tag=team.name:ops')).toEqual([]);
    expect(await ids('group_id=batch-1')).toEqual(['run_dev', 'run_prod']);
    expect(await ids('parent_run_id=run_prod')).toEqual(['run_dev']);
    expect(await ids('fingerprint=cua_v1:abc')).toEqual(['run_fp']);
    expect(await ids('q=planner-bot')).toEqual(['run_prod']);
    expect(await ids('q=dark')).toEqual(['run_dev']);
    expect(await ids('q=ops:core')).toEqual(['run_prod']);
    expect(await ids('tag=env:dev&status=running&group_id=batch-1')).toEqual(['run_dev']);
    expect((await list('tag=')).runs.map((r) => r.run_id)).toEqual(['run_tagcost', 'run_fp', 'run_prod']); // no filter: grouped, run_dev under run_prod
    for (const q of ['tag=:x', 'tag=a"b:c', `tag=${'k'.repeat(129)}`, Array.from({ length: 9 }, (_, i) => `tag=k${i}`).join('&'), 'parent_run_id=a/b', `group_id=${'g'.repeat(201)}`, 'flat=yes', 'fingerprint=a&fingerprint=b']) {
      const body = await expectError(await get(`${s.api}/runs?${q}`, cookie), 422, 'validation_failed');
      expect((body.errors as Array<{ loc: string[] }>)[0]!.loc[0]).toBe('query');
    }
  });

  it.skipIf(skip)('groups fan-out workers under their orchestrator, and synthesises a parent nobody sent', async () => {
    const { ingest, list, ids } = await tenant();
    await ingest('PUT', '/runs/solo/trace', { session: { status: 'succeeded' }, steps: [] });
    // An orchestrator session (DebugSession.open_orchestrator): tags only, no steps.
    await ingest('PUT', '/runs/fanout-1/trace', { session: { status: 'running', tags: { 'augur.session_type': 'orchestrator', phase1_workers: '2' }, costs: { total_usd: 1.5 } }, steps: [] });
    const worker = (parent: string, i: number, status: string, extra: Record<string, unknown> = {}) =>
      ingest('PUT', `/runs/${parent}.w${i}/trace`, {
        session: { status, client: { name: 'producer', version: '0.4.0' }, ...extra },
        steps: [{ step_index: 0, branch_context: { parent_run_id: parent, branch_point_step_index: 0, mutated_axis: 'action', branch_id: `${parent}.w${i}` } }],
      });
    await worker('fanout-1', 1, 'succeeded');
    await worker('fanout-1', 2, 'running');
    // Workers of a parent that never opened a session of its own.
    await worker('fanout-2', 1, 'failed', { costs: { total_usd: 0.25 }, started_at: '2026-12-01T10:00:00Z', ended_at: '2026-12-01T10:05:00Z' });
    await worker('fanout-2', 2, 'succeeded', { costs: { total_usd: 0.5 }, started_at: '2026-12-01T09:59:00Z', ended_at: '2026-12-01T10:06:00Z' });
    const page = await list();
    expect(page.runs.map((r) => [r.run_id, r.synthetic, r.children_count])).toEqual([
      ['fanout-2', true, 2],
      ['fanout-1', false, 2],
      ['solo', false, 0],
    ]);
    const [synth, orch] = page.runs;
    expect(orch).toMatchObject({ session_type: 'orchestrator', status: 'running', costs: { total_usd: 1.5 }, tags: { phase1_workers: '2' } });
    expect(orch!.children!.map((c) => [c.run_id, c.status, c.parent_run_id])).toEqual([
      ['fanout-1.w1', 'succeeded', 'fanout-1'],
      ['fanout-1.w2', 'running', 'fanout-1'],
    ]);
    expect(synth).toMatchObject({
      status: 'failed', client_name: 'producer', client_version: '0.4.0', step_count: 2, iteration_count: 2, costs: { total_usd: 0.75 },
      started_at: '2026-12-01T09:59:00.000Z', ended_at: '2026-12-01T10:06:00.000Z', tags: {}, parent_run_id: null, session_type: null,
    });
    expect(synth!.children!.map((c) => c.run_id)).toEqual(['fanout-2.w1', 'fanout-2.w2']);
    // Pages count parent rows only: children never shift them.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const p: Page = await list(`limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...p.runs.map((r) => r.run_id));
      cursor = p.next_cursor;
    } while (cursor);
    expect(seen).toEqual(['fanout-2', 'fanout-1', 'solo']);
    // A filter, or flat=true, lists runs themselves.
    expect(await ids('flat=true')).toEqual(['fanout-2.w2', 'fanout-2.w1', 'fanout-1.w2', 'fanout-1.w1', 'fanout-1', 'solo']);
    expect((await list('flat=true')).runs[0]).not.toHaveProperty('children');
    expect(await ids('parent_run_id=fanout-2')).toEqual(['fanout-2.w2', 'fanout-2.w1']);
    // The orchestrator of fanout-2 arrives late: the synthesised row becomes the real one.
    await ingest('PUT', '/runs/fanout-2/trace', { session: { status: 'succeeded', tags: { 'augur.session_type': 'orchestrator' } }, steps: [] });
    const after = await list();
    expect(after.runs.map((r) => [r.run_id, r.synthetic, r.children_count])).toEqual([
      ['fanout-2', false, 2],
      ['fanout-1', false, 2],
      ['solo', false, 0],
    ]);
    expect(after.runs[0]).toMatchObject({ status: 'succeeded', session_type: 'orchestrator' });
  });
});
