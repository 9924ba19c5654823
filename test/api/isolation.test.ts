import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../server/routes/index.js';
import { PROFILES, productionAvailable } from '../helpers/backends.js';
import { startTestServer, type TestServer, type TestTenant } from '../helpers/server.js';
import { get, login, seedRun } from './read-helpers.js';

/**
 * Every read route of a run × {own run, another tenant's run, a missing run, encoded traversal}.
 * The route list comes from the route table itself: a new GET route under /runs/:run_id without a
 * case here fails the suite.
 */
const CASES: Record<string, { file: string; traversal: string[] }> = {
  '/runs/:run_id/manifest.json': { file: 'manifest.json', traversal: [] },
  '/runs/:run_id/trace.json': { file: 'trace.json', traversal: [] },
  '/runs/:run_id/steps/:step.json': { file: 'steps/0001.json', traversal: ['steps/%2e%2e%2Fmanifest.json', 'steps/..%2F..%2F0001.json', 'steps/0001%00.json'] },
  '/runs/:run_id/steps/:step/:iteration.json': { file: 'steps/0001/0a1b2c3d.json', traversal: ['steps/0001/..%2F..%2Fmanifest.json', 'steps/0001/0a1b2c3d%00.json', 'steps/0001/%2e%2e.json'] },
  '/runs/:run_id/events/:name.jsonl': { file: 'events/0001.jsonl', traversal: ['events/%2e%2e%2F..%2Frun.jsonl', 'events/run%00.jsonl'] },
  '/runs/:run_id/screenshots/:shot.png': { file: 'screenshots/0001_post.png', traversal: ['screenshots/..%2F0001_post.png', 'screenshots/0001_post%2F..%2F..%2Fx.png'] },
  '/runs/:run_id/modelio/:relpath': { file: 'modelio/0001-planner-0.json', traversal: ['modelio/..%2F..%2Fmanifest.json', 'modelio/%2e%2e', 'modelio/0001-planner-0.json%00'] },
  '/runs/:run_id/logs/:name.log': { file: 'logs/run.log', traversal: ['logs/..%2Frun.log', 'logs/%2e%2e.log', 'logs/run%00.log', `logs/${'l'.repeat(129)}.log`] },
  '/runs/:run_id/diagnostics/findings.json': { file: 'diagnostics/findings.json', traversal: [] },
  '/runs/:run_id/side_effects/:name.json': { file: 'side_effects/0001-se_1.json', traversal: ['side_effects/..%2F0001-se_1.json', 'side_effects/0001-se_1%00.json', 'side_effects/0001-..%2F..%2Fmanifest.json', 'side_effects/0001-se_1%2Fcommitted.json'] },
  '/runs/:run_id/events/reasoning.jsonl': { file: 'events/reasoning.jsonl', traversal: ['events/reasoning%00.jsonl', 'events/..%2Freasoning.jsonl'] },
  '/runs/:run_id/outcomes.json': { file: 'outcomes.json', traversal: [] },
  '/runs/:run_id/eval_candidates.json': { file: 'eval_candidates.json', traversal: [] },
  '/runs/:run_id/files': { file: 'files', traversal: [] },
  '/runs/:run_id/commands.json': { file: 'commands.json', traversal: [] },
  '/runs/:run_id/costs.json': { file: 'costs.json', traversal: [] },
};

// Read routes only: the SDK's command poll (DSN key) scopes by the key's tenant and has its own isolation test.
const RUN_ROUTES = ROUTES.filter((r) => r.method === 'get' && r.auth !== 'dsn' && r.path.startsWith('/runs/:run_id/')).map((r) => r.path);

/** Run ids that try to leave the run or the tenant once decoded. */
function runTraversals(otherTenantId: string): string[] {
  return [
    '%2e%2e',
    '.%2e',
    '%2e%2e%2F%2e%2e',
    `..%2F..%2F${otherTenantId}%2Fruns%2Frun_b`,
    `run_a%2F..%2F..%2F..%2F${otherTenantId}%2Fruns%2Frun_b`,
    'run_a%00',
    '%00',
    'r'.repeat(129),
    '%EF%BC%8E%EF%BC%8E', // full-width dots (U+FF0E)
    '%EF%BC%8E%EF%BC%8E%EF%BC%8F%EF%BC%8E%EF%BC%8E', // ．．／．．
    '%252e%252e', // double-encoded
    '%5C..%5C..',
  ];
}

/** A GET whose path goes on the wire byte for byte (fetch would resolve dot segments such as %2e%2e first). */
function rawGet(base: string, path: string, cookie: string): Promise<{ status: number; text: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path, method: 'GET', headers: { cookie } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Every document carries its tenant's marker, so a read served from the wrong tenant shows. */
const marker = (tenant: TestTenant) => `marker-of-${tenant.slug}`;

async function seedFull(s: TestServer, tenant: TestTenant, runId: string) {
  const m = marker(tenant);
  const keys = await seedRun(s.ctx, tenant.id, runId, {
    manifest: { marker: m },
    steps: [{ step_index: 1, result: { status: 'error', error: `failed in ${m}` }, marker: m }],
    trace: { session: { status: 'running', marker: m }, steps: [{ step_index: 1, result: { status: 'error', error: `failed in ${m}` }, marker: m }] },
    events: [{ step: 1, lines: [{ type: 'x', message: m }] }],
    logs: [{ name: 'run', text: `hello from ${m}\n` }],
    screenshots: [[1, 'post']],
    modelio: [['0001-planner-0.json', { request: { marker: m } }]],
    costs: { total_usd: 1, marker: m },
  });
  const { objects } = s.ctx.stores;
  const json = (v: unknown) => JSON.stringify(v);
  await Promise.all([
    objects.put(keys.stepIteration(1, '0a1b2c3d'), json({ step_id: `${runId}/step/0001-b`, step_index: 1, marker: m }), { contentType: 'application/json' }),
    objects.put(keys.sideEffectState('0001-se_1', 'committed'), json({ side_effect_id: 'se_1', step_index: 1, status: 'committed', marker: m }), { contentType: 'application/json' }),
    // Its id carries the marker, so the file list shows whose run it is.
    objects.put(keys.sideEffectState(`0002-${m}`, 'intent_only'), json({ side_effect_id: m, step_index: 2, status: 'intent_only' }), { contentType: 'application/json' }),
    objects.put(keys.outcome('session'), json({ scope: 'session', marker: m }), { contentType: 'application/json' }),
    objects.put(keys.evalCandidate(1), json({ step_index: 1, marker: m }), { contentType: 'application/json' }),
    s.ctx.appends.append(keys.reasoning, Buffer.from(`${json({ text: m })}\n`), null, 'application/x-ndjson'),
    s.ctx.commands.issue({ tenantId: tenant.id, runId, type: 'inject_hint', payload: { text: m }, userId: 'u', email: 'u@example.com', now: Date.now() }),
  ]);
  return keys;
}

it('every GET route of a run has an isolation case', () => {
  expect(RUN_ROUTES.length).toBeGreaterThanOrEqual(8);
  expect(RUN_ROUTES.filter((p) => !CASES[p])).toEqual([]);
});

describe.each(PROFILES)('tenant isolation on %s backends', (profile) => {
  let s: TestServer;
  let a: TestTenant;
  let b: TestTenant;
  let cookie: string;
  const skip = profile === 'production' && !productionAvailable();
  beforeAll(async () => {
    if (skip) return;
    s = await startTestServer(profile);
    a = await s.tenant();
    b = await s.tenant();
    await seedFull(s, a, 'run_a');
    await seedFull(s, b, 'run_b');
    // Same run id in both tenants: each sees its own.
    await seedFull(s, b, 'run_a');
    ({ cookie } = await login(s.api, a.email, a.password));
  });
  afterAll(async () => s?.close());

  describe.each(RUN_ROUTES)('%s', (path) => {
    const c = CASES[path]!;
    it.skipIf(skip)('own run → 200, with its own content (tenant b has a run_a too)', async () => {
      const r = await get(`${s.api}/runs/run_a/${c.file}`, cookie);
      const text = await r.text();
      expect(r.status, text).toBe(200);
      if (!c.file.endsWith('.png')) {
        expect(text).toContain(marker(a));
        expect(text).not.toContain(marker(b));
      }
    });

    it.skipIf(skip)("another tenant's run → the same 404 as a missing run", async () => {
      const other = await get(`${s.api}/runs/run_b/${c.file}`, cookie);
      const missing = await get(`${s.api}/runs/run_missing/${c.file}`, cookie);
      expect(other.status).toBe(404);
      expect(missing.status).toBe(404);
      expect(await other.text()).toBe(await missing.text());
      expect(other.headers.get('content-type')).toBe(missing.headers.get('content-type'));
    });

    it.skipIf(skip)('encoded traversal → 404', async () => {
      const paths = [...runTraversals(b.id).map((rid) => `/api/v1/runs/${rid}/${c.file}`), ...c.traversal.map((f) => `/api/v1/runs/run_a/${f}`)];
      for (const path of paths) {
        const r = await rawGet(s.url, path, cookie);
        expect(r.status, `${path}: ${r.text}`).toBe(404);
        expect(JSON.parse(r.text)).toMatchObject({ code: 'not_found' });
      }
      // Nothing under the other tenant is ever reachable: the same paths aimed at run_b's files.
      const r = await rawGet(s.url, `/api/v1/runs/run_a/..%2F..%2F..%2F${b.id}%2Fruns%2Frun_b%2F${c.file.replace(/\//g, '%2F')}`, cookie);
      expect(r.status).toBe(404);
    });
  });

  it.skipIf(skip)("lists only the tenant's own runs", async () => {
    const page = (await (await get(`${s.api}/runs`, cookie)).json()) as { runs: Array<{ run_id: string }> };
    expect(page.runs.map((r) => r.run_id)).toEqual(['run_a']);
  });

  it.skipIf(skip)("reads its own copy of a run id another tenant also uses", async () => {
    const r = await get(`${s.api}/runs/run_a/logs/run.log`, cookie);
    expect(await r.text()).toBe(`hello from ${marker(a)}\n`);
    const { cookie: cb } = await login(s.api, b.email, b.password);
    const manifest = (await (await get(`${s.api}/runs/run_a/manifest.json`, cb)).json()) as { run_id: string; marker: string };
    expect(manifest).toMatchObject({ run_id: 'run_a', marker: marker(b) });
  });
});
