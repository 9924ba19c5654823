import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iterationName } from '../../server/services/step-receipts.js';
import { PROFILES, productionAvailable } from '../helpers/backends.js';
import { startTestServer, type TestServer, type TestTenant } from '../helpers/server.js';
import { get, login } from './read-helpers.js';

/** Steps as the SDK sends them: updates out of order, iterations, judge decisions, branch run ids. */
for (const profile of PROFILES) {
  describe.skipIf(profile === 'production' && !productionAvailable())(`SDK steps (${profile})`, () => {
    let s: TestServer;
    let t: TestTenant;
    let cookie: string;
    beforeAll(async () => {
      s = await startTestServer(profile);
      t = await s.tenant();
      ({ cookie } = await login(s.api, t.email, t.password));
    });
    afterAll(async () => s?.close());

    const put = (run: string, i: number, body: unknown) =>
      fetch(`${s.api}/runs/${encodeURIComponent(run)}/steps/${i}`, { method: 'PUT', headers: { authorization: `Bearer ${t.key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const read = async (run: string, rel: string) => {
      const r = await get(`${s.api}/runs/${encodeURIComponent(run)}/${rel}`, cookie);
      return { status: r.status, body: r.status === 200 ? ((await r.json()) as Record<string, unknown>) : undefined };
    };
    const base = (run: string, i: number, extra: Record<string, unknown> = {}) => ({ step_id: `${run}/step/${String(i).padStart(4, '0')}`, step_index: i, step_type: 'click', started_at: '2026-12-01T19:13:43.750Z', ...extra });

    it('keeps the receipt furthest along whatever the arrival order, and steps/NNNN.json agrees with trace.json', async () => {
      const run = 'run_order';
      const full = base(run, 0, { status: 'succeeded', verdict: { status: 'passed', reason: 'ok', score: 1 }, costs: { total_usd: 0.01 } });
      const partial = base(run, 0, { status: 'succeeded', verdict: { status: 'passed' } });
      const early = base(run, 0, { status: 'running' });
      expect((await put(run, 0, full)).status).toBe(200);
      const late = await put(run, 0, partial);
      expect(await late.json()).toMatchObject({ ok: true, current: false });
      await put(run, 0, early);
      expect((await read(run, 'steps/0000.json')).body).toEqual(full);
      // A trace PUT holding an older state of the step: trace.json still shows the current one.
      const tr = await fetch(`${s.api}/runs/${run}/trace`, { method: 'PUT', headers: { authorization: `Bearer ${t.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ session: { run_id: run, status: 'succeeded' }, steps: [partial] }) });
      expect(tr.status).toBe(200);
      const trace = (await read(run, 'trace.json')).body as { session: unknown; steps: unknown[] };
      expect(trace.steps).toEqual([full]);
      expect(trace.session).toEqual({ run_id: run, status: 'succeeded' });
      expect((await read(run, 'steps/0000.json')).body).toEqual(trace.steps[0]);
    });

    it('stores a second step_id of an index as an iteration; the earliest started_at is canonical', async () => {
      const run = 'run_iter';
      const first = base(run, 2, { step_id: 'it-a', status: 'failed', started_at: '2026-12-01T10:00:00Z' });
      const second = base(run, 2, { step_id: 'it-b', status: 'succeeded', started_at: '2026-12-01T10:00:05Z' });
      // The second iteration's PUT arrives first.
      expect(await (await put(run, 2, second)).json()).toMatchObject({ file: 'steps/0002.json' });
      expect(await (await put(run, 2, first)).json()).toMatchObject({ file: 'steps/0002.json' });
      expect((await read(run, 'steps/0002.json')).body).toEqual(first);
      expect((await read(run, `steps/0002/${iterationName('it-b')}.json`)).body).toEqual(second);
      const third = base(run, 2, { step_id: 'it-c', status: 'succeeded', started_at: '2026-12-01T10:00:09Z' });
      expect(await (await put(run, 2, third)).json()).toMatchObject({ iteration: true, file: `steps/0002/${iterationName('it-c')}.json` });
      expect((await read(run, `steps/0002/${iterationName('it-c')}.json`)).body).toEqual(third);
      expect((await read(run, 'steps/0002/00000000.json')).status).toBe(404);
    });

    it('keeps posted judge decisions and shows them in the step, once, after its own', async () => {
      const run = 'run_abc:branch:1a2b3c4d';
      const own = { judge_id: 'rule', judge_type: 'rule', verdict: { status: 'failed' }, judged_at: '2026-12-01T10:00:00Z' };
      const posted = { judge_id: 'gpt-judge', judge_type: 'model', verdict: { status: 'failed', reason: 'still on login' }, confidence: 0.8, judged_at: '2026-12-01T10:00:01Z' };
      const post = (body: unknown) =>
        fetch(`${s.api}/runs/${encodeURIComponent(run)}/steps/1/judge-decisions`, { method: 'POST', headers: { authorization: `Bearer ${t.key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(await (await post(posted)).json()).toMatchObject({ ok: true, judge_decisions: 1 });
      expect(await (await post(posted)).json()).toMatchObject({ judge_decisions: 1, repeat: true });
      expect((await put(run, 1, base(run, 1, { status: 'failed', judge_decisions: [own], branch_context: { parent_run_id: 'run_abc' } }))).status).toBe(200);
      const step = (await read(run, 'steps/0001.json')).body!;
      expect(step.judge_decisions).toEqual([own, posted]);
      const trace = (await read(run, 'trace.json')).body as { steps: Array<Record<string, unknown>> };
      expect(trace.steps[0]!.judge_decisions).toEqual([own, posted]);
      // A step PUT that already holds the posted decision shows it once.
      await put(run, 1, base(run, 1, { status: 'failed', judge_decisions: [own, posted], branch_context: { parent_run_id: 'run_abc' }, note: 'x' }));
      expect((await read(run, 'steps/0001.json')).body!.judge_decisions).toEqual([own, posted]);
    });

    it('accepts the SDK adapters\' empty start time and refuses unsafe run ids', async () => {
      expect((await put('run_empty_ts', 0, base('run_empty_ts', 0, { started_at: '', ended_at: '' }))).status).toBe(200);
      expect((await put('run_bad_ts', 0, base('run_bad_ts', 0, { started_at: 'yesterday' }))).status).toBe(422);
      for (const bad of ['a b', 'a\\b', '..', '.', 'x'.repeat(201)]) expect((await put(bad, 0, { step_index: 0 })).status, bad).toBeGreaterThanOrEqual(400);
      expect((await put('y'.repeat(200), 0, { step_index: 0 })).status).toBe(200);
    });
  });
}
