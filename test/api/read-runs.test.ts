import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleKeys } from '../../server/services/bundle.js';
import { encodeCursor } from '../../server/services/run-reads.js';
import { renderTrace, SNAPSHOT_NAME, TraceView } from '../../server/services/trace-view.js';
import { PROFILES, productionAvailable } from '../helpers/backends.js';
import { expectError, expectSchema } from '../helpers/schemas.js';
import { startTestServer, type TestServer, type TestTenant } from '../helpers/server.js';
import { get, login, PNG, seedRun } from './read-helpers.js';

interface Page {
  runs: Array<{ run_id: string; status: string | null; client_name: string | null; task: string | null; step_count: number; last_heartbeat: string | null }>;
  next_cursor: string | null;
}
interface Trace {
  run_id: string;
  session?: { status?: string } | null;
  steps: Array<{ step_index: number; v?: string; [k: string]: unknown }>;
  [k: string]: unknown;
}

describe.each(PROFILES)('run reads on %s backends', (profile) => {
  let s: TestServer;
  let a: TestTenant;
  let b: TestTenant;
  let cookie: string;
  const skip = profile === 'production' && !productionAvailable();
  const json = { contentType: 'application/json' };
  beforeAll(async () => {
    if (skip) return;
    s = await startTestServer(profile);
    a = await s.tenant();
    b = await s.tenant();
    ({ cookie } = await login(s.api, a.email, a.password));
  });
  afterAll(async () => s?.close());
  const read = (path: string, headers: Record<string, string> = {}) => get(`${s.api}${path}`, cookie, headers);
  const readJson = async <T>(path: string, schema?: string): Promise<T> => {
    const r = await read(path);
    const text = await r.text();
    expect(r.status, `${path}: ${text}`).toBe(200);
    const body = JSON.parse(text) as T;
    if (schema) expectSchema(body, schema);
    return body;
  };

  describe.skipIf(skip)('GET /runs', () => {
    it('lists the tenant\'s runs newest first, with exact cursor pages while runs are being created', async () => {
      const t = await s.tenant();
      const { cookie: c } = await login(s.api, t.email, t.password);
      const base = s.clock.now();
      // Seven runs, two sharing a created_at (the run id breaks the tie).
      const ids = ['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
      for (const [i, id] of ids.entries()) await seedRun(s.ctx, t.id, id, { at: base + (i === 6 ? 5 : i) * 1000 });
      await seedRun(s.ctx, b.id, 'r_other', { at: base + 10_000 });
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const r = await get(`${s.api}/runs?limit=3${cursor ? `&cursor=${cursor}` : ''}`, c);
        const page = (await r.json()) as Page;
        expectSchema(page, 'runs-page.schema.json');
        seen.push(...page.runs.map((x) => x.run_id));
        cursor = page.next_cursor;
        // A run created mid-listing lands before the cursor, never inside a later page.
        if (pages++ === 0) await seedRun(s.ctx, t.id, 'r_new', { at: base + 60_000 });
      } while (cursor);
      expect(seen).toEqual(['r6', 'r5', 'r4', 'r3', 'r2', 'r1', 'r0']);
      const all = (await (await get(`${s.api}/runs`, c)).json()) as Page;
      expect(all.runs.map((x) => x.run_id)).toEqual(['r_new', 'r6', 'r5', 'r4', 'r3', 'r2', 'r1', 'r0']);
      expect(all.next_cursor).toBeNull();
      expect(all.runs[1]).toMatchObject({ client_name: 'agent-x', client_version: '1.0', status: 'running', step_count: 0 });
    });

    it('filters by status, since and q', async () => {
      const t = await s.tenant();
      const { cookie: c } = await login(s.api, t.email, t.password);
      const base = s.clock.now();
      await seedRun(s.ctx, t.id, 'alpha_run', { at: base - 3_600_000, manifest: { client: { name: 'Planner-Bot' } }, status: 'succeeded' });
      await seedRun(s.ctx, t.id, 'beta_run', { at: base, facts: { task: 'Enable DARK mode' }, heartbeatAt: base });
      const ids = async (q: string) => ((await (await get(`${s.api}/runs?${q}`, c)).json()) as Page).runs.map((x) => x.run_id);
      expect(await ids('status=succeeded')).toEqual(['alpha_run']);
      expect(await ids('status=running')).toEqual(['beta_run']);
      expect(await ids(`since=${encodeURIComponent(new Date(base - 60_000).toISOString())}`)).toEqual(['beta_run']);
      expect(await ids('since=2000-01-01T00:00:00%2B02:00')).toEqual(['beta_run', 'alpha_run']);
      expect(await ids('q=planner-bot')).toEqual(['alpha_run']);
      expect(await ids('q=dark')).toEqual(['beta_run']);
      expect(await ids('q=ALPHA_')).toEqual(['alpha_run']);
      expect(await ids('q=100%25')).toEqual([]);
      const beta = ((await (await get(`${s.api}/runs?q=beta_run`, c)).json()) as Page).runs[0]!;
      expect(beta.last_heartbeat).toBe(new Date(base).toISOString());
    });

    it('refuses bad query values with 422', async () => {
      for (const q of ['limit=201', 'limit=0', 'limit=ten', 'limit=1&limit=2', 'cursor=nonsense!', `cursor=${Buffer.from('{"c":"x"}').toString('base64url')}`, 'since=yesterday', 'since=2025-13-45T00:00:00Z']) {
        const body = await expectError(await read(`/runs?${q}`), 422, 'validation_failed');
        expect((body.errors as Array<{ loc: string[] }>)[0]!.loc[0]).toBe('query');
      }
      expect((await read('/runs?limit=200')).status).toBe(200);
      expect((await read(`/runs?cursor=${encodeCursor({ created_at: 0, run_id: 'x' })}`)).status).toBe(200);
    });
  });

  describe.skipIf(skip)('bundle files', () => {
    beforeAll(async () => {
      if (skip) return;
      await seedRun(s.ctx, a.id, 'run_full', {
        manifest: { created_at: '2025-01-15T10:00:00Z', sdk: { name: 'augur-py', version: '1', language: 'python' }, x_custom: { kept: [1, 2] } },
        steps: [
          { step_index: 0, action: { type: 'click', x: 1, y: 2 }, result: { status: 'ok' } },
          { step_index: 3, result: { status: 'ok' }, extra_field: 'kept' },
        ],
        events: [
          { step: 3, lines: [{ type: 'verifier_failed', step_index: 3 }, { type: 'retry', step_index: 3 }] },
          { step: 'run', lines: [{ type: 'started' }] },
        ],
        logs: [{ name: 'step-3', text: 'retrying after verifier failure\n' }],
        screenshots: [[0, 'post']],
        modelio: [['0003-planner-0.json', { request: { messages: [] }, model: 'm' }]],
      });
      // A second append to the same file: read back in order.
      await s.ctx.appends.append(new BundleKeys(a.id, 'run_full').events(3), Buffer.from('{"type":"third"}\n'), null, 'application/x-ndjson');
    });

    it('manifest.json exactly as sent: every field unchanged, nothing added', async () => {
      const env = await readJson<Record<string, unknown>>('/runs/run_full/manifest.json', 'manifest.schema.json');
      expect(env).toMatchObject({ run_id: 'run_full', created_at: '2025-01-15T10:00:00Z', x_custom: { kept: [1, 2] }, client: { name: 'agent-x' } });
      expect(env).not.toHaveProperty('counts');
      expect(env).not.toHaveProperty('received_at');
      await expectError(await read('/runs/no_such_run/manifest.json'), 404, 'not_found');
    });

    it('steps/NNNN.json as stored; non-canonical or missing indexes are 404', async () => {
      const r = await read('/runs/run_full/steps/0003.json');
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^application\/json/);
      const step = (await r.json()) as Record<string, unknown>;
      expectSchema(step, 'step.schema.json');
      expect(step).toEqual({ step_index: 3, result: { status: 'ok' }, extra_field: 'kept' });
      for (const p of ['steps/003.json', 'steps/00003.json', 'steps/0001.json', 'steps/3.json', 'steps/1234567.json']) {
        await expectError(await read(`/runs/run_full/${p}`), 404, 'not_found');
      }
    });

    it('events/{NNNN|run}.jsonl in append order, as NDJSON', async () => {
      const r = await read('/runs/run_full/events/0003.jsonl');
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
      const lines = (await r.text()).trim().split('\n').map((l) => JSON.parse(l) as { type: string });
      expect(lines.map((l) => l.type)).toEqual(['verifier_failed', 'retry', 'third']);
      for (const l of lines) expectSchema(l, 'decision-event.schema.json');
      expect(await (await read('/runs/run_full/events/run.jsonl')).text()).toBe('{"type":"started"}\n');
      await expectError(await read('/runs/run_full/events/0004.jsonl'), 404, 'not_found');
      await expectError(await read('/runs/run_full/events/other.jsonl'), 404, 'not_found');
    });

    it('logs/{name}.log and modelio/{relpath}', async () => {
      const log = await read('/runs/run_full/logs/step-3.log');
      expect(log.status).toBe(200);
      expect(log.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await log.text()).toBe('retrying after verifier failure\n');
      await expectError(await read('/runs/run_full/logs/run.log'), 404, 'not_found');
      const m = await readJson<Record<string, unknown>>('/runs/run_full/modelio/0003-planner-0.json', 'modelio-record.schema.json');
      expect(m).toEqual({ request: { messages: [] }, model: 'm' });
      await expectError(await read('/runs/run_full/modelio/0003-planner-1.json'), 404, 'not_found');
      await expectError(await read('/runs/run_full/modelio/..%2Fmanifest.json'), 404, 'not_found');
    });

    it('screenshots: streamed with ETag, Content-Length and nosniff; 304 on If-None-Match', async () => {
      const r = await read('/runs/run_full/screenshots/0000_post.png');
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('image/png');
      expect(r.headers.get('content-length')).toBe(String(PNG.length));
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(r.headers.get('cache-control')).toMatch(/private/);
      const etag = r.headers.get('etag')!;
      expect(etag).toMatch(/^"/);
      expect(Buffer.from(await r.arrayBuffer())).toEqual(PNG);
      const again = await read('/runs/run_full/screenshots/0000_post.png', { 'if-none-match': etag });
      expect(again.status).toBe(304);
      expect(again.headers.get('etag')).toBe(etag);
      expect(await again.text()).toBe('');
      expect((await read('/runs/run_full/screenshots/0000_post.png', { 'if-none-match': '"stale"' })).status).toBe(200);
      await expectError(await read('/runs/run_full/screenshots/0000_pre.png'), 404, 'not_found');
      await expectError(await read('/runs/run_full/screenshots/0000_side.png'), 404, 'not_found');
    });
  });

  describe.skipIf(skip)('trace.json', () => {
    it('a live run that never PUT a trace: session running and the steps received so far', async () => {
      await seedRun(s.ctx, a.id, 'run_live', { steps: [2, 0, 1, 12345].map((i) => ({ step_index: i, v: 'step' })) });
      const t = await readJson<Trace>('/runs/run_live/trace.json', 'trace.schema.json');
      expect(t.session).toEqual({ run_id: 'run_live', status: 'running' });
      expect(t.steps.map((x) => x.step_index)).toEqual([0, 1, 2, 12345]);
    });

    it('the union of the PUT trace and the step PUTs, the most recently received version winning', async () => {
      const keys = await seedRun(s.ctx, a.id, 'run_merge', {
        trace: { run_id: 'run_merge', session: { status: 'running', started_at: '2025-01-15T10:00:00Z' }, custom_top: 1, steps: [0, 1, 2].map((i) => ({ step_index: i, v: 'trace' })) },
      });
      const { objects } = s.ctx.stores;
      // Step 1 arrives again, alone, after the trace: it wins. Step 3 exists only as a step PUT.
      await objects.put(keys.step(1), JSON.stringify({ step_index: 1, v: 'step' }), json);
      await objects.put(keys.step(3), JSON.stringify({ step_index: 3, v: 'step' }), json);
      let t = await readJson<Trace>('/runs/run_merge/trace.json', 'trace.schema.json');
      expect(t.steps.map((x) => `${x.step_index}:${x.v}`)).toEqual(['0:trace', '1:step', '2:trace', '3:step']);
      expect(t).toMatchObject({ custom_top: 1, session: { status: 'running' } });
      // The snapshot is rewritten in the background after the answer: poll for it.
      const snapDeadline = Date.now() + 5_000;
      while (!(await objects.head(keys.derived(SNAPSHOT_NAME))) && Date.now() < snapDeadline) await new Promise((r) => setImmediate(r));
      expect(await objects.head(keys.derived(SNAPSHOT_NAME))).toBeDefined();

      // A later full trace wins over the earlier step PUTs (receipt order is LastModified: wait
      // until the store's clock has moved past the step's, which takes up to a second on S3).
      const stepAt = (await objects.head(keys.step(1)))!.lastModified.getTime();
      const final = { run_id: 'run_merge', session: { status: 'succeeded' }, steps: [0, 1, 2, 3].map((i) => ({ step_index: i, v: 'final' })) };
      const deadline = Date.now() + 5_000;
      do await objects.put(keys.trace, JSON.stringify(final), json);
      while ((await objects.head(keys.trace))!.lastModified.getTime() <= stepAt && Date.now() < deadline);
      t = await readJson<Trace>('/runs/run_merge/trace.json', 'trace.schema.json');
      expect(t.steps.map((x) => `${x.step_index}:${x.v}`)).toEqual(['0:final', '1:final', '2:final', '3:final']);
      expect(t.session).toEqual({ status: 'succeeded' });

      // And a step re-sent after that wins again.
      const traceAt = (await objects.head(keys.trace))!.lastModified.getTime();
      do await objects.put(keys.step(2), JSON.stringify({ step_index: 2, v: 'late' }), json);
      while ((await objects.head(keys.step(2)))!.lastModified.getTime() < traceAt && Date.now() < deadline + 5_000);
      t = await readJson<Trace>('/runs/run_merge/trace.json');
      expect(t.steps.map((x) => `${x.step_index}:${x.v}`)).toEqual(['0:final', '1:final', '2:late', '3:final']);

      // The trace again, then step 2 again with the very same bytes: on S3 its ETag does not change,
      // only its LastModified, and that alone must make it win again.
      const lateAt = (await objects.head(keys.step(2)))!.lastModified.getTime();
      do await objects.put(keys.trace, JSON.stringify(final), json);
      while ((await objects.head(keys.trace))!.lastModified.getTime() <= lateAt && Date.now() < deadline + 10_000);
      expect((await readJson<Trace>('/runs/run_merge/trace.json')).steps[2]!.v).toBe('final');
      const againAt = (await objects.head(keys.trace))!.lastModified.getTime();
      do await objects.put(keys.step(2), JSON.stringify({ step_index: 2, v: 'late' }), json);
      while ((await objects.head(keys.step(2)))!.lastModified.getTime() < againAt && Date.now() < deadline + 15_000);
      t = await readJson<Trace>('/runs/run_merge/trace.json');
      expect(t.steps.map((x) => `${x.step_index}:${x.v}`)).toEqual(['0:final', '1:final', '2:late', '3:final']);
    });

    it('stays correct whatever the snapshot holds (missing, corrupt, stale), and drops deleted steps', async () => {
      const keys = await seedRun(s.ctx, a.id, 'run_snap', { steps: [0, 1, 2].map((i) => ({ step_index: i, v: 'a' })) });
      const { objects } = s.ctx.stores;
      // Over HTTP (this replica keeps its snapshot in memory) and as a replica without that memory,
      // which reads the stored snapshot every time: both must give the same trace.
      const cold = new TraceView(objects, s.ctx.logger, 0);
      const ids = async () => {
        const viaHttp = (await readJson<Trace>('/runs/run_snap/trace.json')).steps.map((x) => `${x.step_index}:${x.v}`);
        const merged = await cold.load(keys);
        const viaStored = (JSON.parse(renderTrace('run_snap', merged!).toString('utf8')) as Trace).steps.map((x) => `${x.step_index}:${x.v}`);
        expect(viaStored).toEqual(viaHttp);
        return viaHttp;
      };
      expect(await ids()).toEqual(['0:a', '1:a', '2:a']);
      await objects.put(keys.derived(SNAPSHOT_NAME), '{not json', json);
      expect(await ids()).toEqual(['0:a', '1:a', '2:a']);
      await objects.put(keys.step(1), JSON.stringify({ step_index: 1, v: 'b' }), json);
      await objects.delete(keys.step(2));
      expect(await ids()).toEqual(['0:a', '1:b']);
      // Entries of the right version but the wrong shape: dropped and fetched again, never a 500.
      await objects.put(keys.derived(SNAPSHOT_NAME), JSON.stringify({ v: 1, trace: { etag: 1 }, steps: { 0: { etag: 'x', lm: 0 }, 1: null } }), json);
      expect(await ids()).toEqual(['0:a', '1:b']);
      // Another tenant's snapshot format or a foreign version: ignored.
      await objects.put(keys.derived(SNAPSHOT_NAME), JSON.stringify({ v: 99, steps: { 0: { etag: 'x', lm: 0, raw: '{"step_index":0,"v":"forged"}' } } }), json);
      expect(await ids()).toEqual(['0:a', '1:b']);
      // The snapshot never shows up as a bundle file.
      await expectError(await read('/runs/run_snap/.derived/trace-merged.json'), 404, 'not_found');
      await expectError(await read('/runs/run_snap/%2Ederived%2Ftrace-merged.json'), 404, 'not_found');
    });

    it('a run with only a manifest has an empty live trace; a run with nothing is 404', async () => {
      await seedRun(s.ctx, a.id, 'run_empty');
      const t = await readJson<Trace>('/runs/run_empty/trace.json', 'trace.schema.json');
      expect(t).toEqual({ session: { run_id: 'run_empty', status: 'running' }, steps: [] });
      await expectError(await read('/runs/run_nothing/trace.json'), 404, 'not_found');
    });
  });

  describe.skipIf(skip)('diagnostics/findings.json', () => {
    interface Findings {
      generated_at: string;
      findings: Array<{ code: string; severity: string; step_index?: number | null }>;
    }
    it('reports step errors, screenshots named but never received, and a live run gone quiet', async () => {
      const now = s.clock.now();
      await seedRun(s.ctx, a.id, 'run_diag', {
        steps: [
          { step_index: 0, screenshots: { pre: 'screenshots/0000_pre.png', post: 'screenshots/0000_post.png' }, result: { status: 'ok' } },
          { step_index: 1, screenshots: ['pre', 'target'], result: { status: 'error', error: 'element not found' } },
          { step_index: 2, screenshots: { diff: null }, result: { status: 'ok' } },
        ],
        screenshots: [[0, 'pre'], [0, 'post'], [1, 'pre']],
        heartbeatAt: now,
      });
      let f = await readJson<Findings>('/runs/run_diag/diagnostics/findings.json', 'findings.schema.json');
      expect(f.generated_at).toBe(new Date(now).toISOString());
      expect(f.findings.map((x) => `${x.code}@${x.step_index}:${x.severity}`)).toEqual(['step_error@1:error', 'screenshot_missing@1:warning']);

      s.clock.advance(5 * 60_000 + 1_000);
      f = await readJson<Findings>('/runs/run_diag/diagnostics/findings.json', 'findings.schema.json');
      expect(f.findings.map((x) => x.code)).toEqual(['step_error', 'run_stalled', 'screenshot_missing']);
      expect(f.generated_at).toBe(new Date(s.clock.now()).toISOString());
    });

    it('is empty for a healthy finished run, and 404 for a missing one', async () => {
      await seedRun(s.ctx, a.id, 'run_ok', {
        trace: { session: { status: 'succeeded' }, steps: [{ step_index: 0, result: { status: 'ok' } }] },
        at: s.clock.now() - 3_600_000,
      });
      const f = await readJson<Findings>('/runs/run_ok/diagnostics/findings.json', 'findings.schema.json');
      expect(f.findings).toEqual([]);
      await expectError(await read('/runs/run_nothing/diagnostics/findings.json'), 404, 'not_found');
    });
  });

  describe.skipIf(skip)('GET /connections', () => {
    it('lists the tenant\'s clients seen in the last 60 s, with their fields', async () => {
      const { presence } = s.ctx.stores;
      const now = s.clock.now();
      await presence.stamp({ tenantId: a.id, dsnId: a.dsn.id, clientId: 'cli-a', explicit: true, fields: { client_name: 'myagent', client_version: '0.3.1', run_id: 'run_full', dsn_id: a.dsn.id, last_event: '{"type":"step"}' }, now });
      await presence.stamp({ tenantId: b.id, dsnId: b.dsn.id, clientId: 'cli-b', explicit: true, fields: { client_name: 'other' }, now });
      const page = await readJson<{ connections: Array<Record<string, unknown>> }>('/connections', 'connections-page.schema.json');
      expect(page.connections).toEqual([
        {
          client_id: 'cli-a',
          client_name: 'myagent',
          client_version: '0.3.1',
          capture_mode: null,
          run_id: 'run_full',
          last_event: { type: 'step' },
          last_seen: new Date(now).toISOString(),
          dsn_id: a.dsn.id,
        },
      ]);
      s.clock.advance(61_000);
      expect((await readJson<{ connections: unknown[] }>('/connections')).connections).toEqual([]);
    });
  });
});

describe.skipIf(!productionAvailable())('screenshots in presign mode (S3)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer('production', { AUGUR_SCREENSHOT_READS: 'presign' });
  });
  afterAll(async () => s?.close());

  it('redirects to a short-lived presigned URL that serves the bytes', async () => {
    const t = await s.tenant();
    const { cookie } = await login(s.api, t.email, t.password);
    await seedRun(s.ctx, t.id, 'run_p', { screenshots: [[7, 'diff']] });
    const r = await get(`${s.api}/runs/run_p/screenshots/0007_diff.png`, cookie);
    expect(r.status).toBe(302);
    const location = r.headers.get('location')!;
    const u = new URL(location);
    expect(u.searchParams.get('X-Amz-Expires')).toBe('300');
    const img = await fetch(location);
    expect(img.status).toBe(200);
    expect(Buffer.from(await img.arrayBuffer())).toEqual(PNG);
    await expectError(await get(`${s.api}/runs/run_p/screenshots/0007_pre.png`, cookie), 404, 'not_found');
  });
});
