/**
 * Diagnostics benchmark (`npm run bench:diagnostics`): GET /runs/{id}/diagnostics/findings.json of
 * a 500-step run with a pre and a post screenshot per step (1280×800), served in this process
 * over HTTP with a session cookie, on the embedded backends and, when Postgres and Redis answer,
 * on the production ones (Postgres, Redis, an S3 server: fauxqs in its own process).
 *
 *   background  the per-screenshot work ingest starts (decode, compare, hash, diff picture),
 *               per step, as it runs after uploads;
 *   warm        a read on a replica that has read the run before (median of BENCH_ITERATIONS);
 *   cold        the first read on a fresh replica (empty memory; the stored derived records in
 *               place, as the background work leaves them);
 *   from nothing  (BENCH_FROM_NOTHING=1) the first read on a fresh replica with every derived
 *               record deleted: all the pixel work happens in that read (for context: ingest
 *               normally did it already).
 *
 * Each line also gives the CPU time the process spent per read (server and client share it): on a
 * machine shared with other work the wall times stretch, the CPU times much less.
 *
 * Targets: warm ≤ 50 ms, cold ≤ 5 s. Environment: AUGUR_TEST_PG_URL, AUGUR_TEST_REDIS_URL,
 * BENCH_ITERATIONS (30), BENCH_STEPS (500), BENCH_SIZE (1280x800), BENCH_ONLY=embedded|production.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { PNG } from 'pngjs';
import { createApp } from '../server/app.js';
import { closeStores, createContext, openStores } from '../server/bootstrap.js';
import { loadConfig } from '../server/config.js';
import type { AppContext, Stores } from '../server/context.js';
import { createLogger } from '../server/logger.js';
import { ROOT } from '../server/paths.js';
import { BundleKeys } from '../server/services/bundle.js';
import { diagnosticsFor } from '../server/services/diagnostics/findings.js';
import { TenantAdmin } from '../server/services/tenants.js';
import { frame } from './lib/frames.js';
import { productionBenchBackends, TEST_PG_URL, TEST_REDIS_URL } from './lib/harness.js';

const ITER = Number(process.env.BENCH_ITERATIONS ?? 30);
const STEPS = Number(process.env.BENCH_STEPS ?? 500);
const [W, H] = (process.env.BENCH_SIZE ?? '1280x800').split('x').map(Number) as [number, number];
const FROM_NOTHING = process.env.BENCH_FROM_NOTHING === '1';
const rid = (n = 6) => randomBytes(n).toString('hex');
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

/** A handful of distinct 1280×800 screens, encoded as a browser would (pngjs defaults). */
function screens(): Buffer[] {
  return Array.from({ length: 6 }, (_, k) => {
    const img = frame(W, H, { x: 40 + k * 150, y: 60 + k * 80, w: 300, h: 120 });
    const p = new PNG({ width: W, height: H });
    p.data = img.data;
    return PNG.sync.write(p);
  });
}

async function seed(ctx: AppContext, tenantId: string, runId: string, shots: Buffer[]): Promise<BundleKeys> {
  const { objects } = ctx.stores;
  const keys = new BundleKeys(tenantId, runId);
  const json = { contentType: 'application/json' };
  await objects.put(keys.manifest, JSON.stringify({ schema_version: '0.1', bundle_format: 'augur-bundle', run_id: runId, step_count: STEPS, client: { name: 'bench' } }), json);
  await ctx.stores.metadata.upsertManifest(tenantId, runId, { client_name: 'bench', step_count: STEPS }, ctx.now());
  const steps = Array.from({ length: STEPS }, (_, i) => ({
    step_id: `${runId}/step/${i}`,
    step_index: i,
    status: i % 50 === 7 ? 'failed' : 'succeeded',
    action: { type: 'click', coordinate_space: 'viewport_css_px', params: { x: 100 + (i % 7) * 10, y: 200 } },
    grounding: { provider: 'g', provenance: 'screenshot', coordinates: { x: 100 + (i % 7) * 10, y: 200 }, target_label: `target ${i % 9}` },
    observation_pre: `screenshots/${String(i).padStart(4, '0')}_pre.png`,
    observation_post: `screenshots/${String(i).padStart(4, '0')}_post.png`,
    verdict: { status: i % 50 === 7 ? 'failed' : 'passed', reason: 'ok' },
    duration_ms: 500 + (i % 13) * 10 + (i === 321 ? 20_000 : 0),
    costs: { total_usd: 0.01 },
    intent: `step ${i}`,
  }));
  for (let i = 0; i < STEPS; i += 50) {
    await Promise.all(
      steps.slice(i, i + 50).flatMap((s) => [
        objects.put(keys.step(s.step_index), JSON.stringify(s), json),
        objects.put(keys.screenshot(s.step_index, 'pre'), shots[s.step_index % shots.length]!, { contentType: 'image/png' }),
        // Every tenth step changes nothing on screen.
        objects.put(keys.screenshot(s.step_index, 'post'), shots[(s.step_index + (s.step_index % 10 === 0 ? 0 : 1)) % shots.length]!, { contentType: 'image/png' }),
        objects.put(keys.modelio(`${String(s.step_index).padStart(4, '0')}-planner-0.json`), JSON.stringify({ schema_version: '0.1', layer: 'planner', ts: '2026-01-01T00:00:00Z', request: { model: 'm', messages: [{ role: 'user', content: 'x'.repeat(2000) }] }, response: { stop_reason: 'tool_use', text: 'ok' }, duration_ms: 800, step_index: s.step_index }), json),
      ]),
    );
  }
  ctx.runIndex.touch({ tenant_id: tenantId, run_id: runId, seen_at: ctx.now(), step_count: STEPS });
  await ctx.runIndex.flush();
  return keys;
}

async function serve(ctx: AppContext): Promise<{ api: string; close: () => Promise<void> }> {
  const server: Server = await new Promise((resolve) => {
    const s = createApp(ctx).listen(0, '127.0.0.1', () => resolve(s));
  });
  return { api: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`, close: () => new Promise((r) => server.close(() => r())) };
}

async function profile(name: string, env: Record<string, string>): Promise<void> {
  const logger = createLogger('warn');
  const config = loadConfig(env);
  const stores: Stores = await openStores(config, logger);
  const contexts: AppContext[] = [];
  const newContext = async () => {
    const c = await createContext(config, logger, stores);
    contexts.push(c);
    return c;
  };
  try {
    const ctx = await newContext();
    const admin = new TenantAdmin(stores.metadata, config);
    const tenant = await admin.createTenant(`bench-${rid(3)}`);
    await admin.createUser('bench@example.com', 'bench-password', tenant.slug);
    const runId = 'run_bench';
    let t0 = process.hrtime.bigint();
    const keys = await seed(ctx, tenant.id, runId, screens());
    console.log(`${name}: seeded ${STEPS} steps, ${STEPS * 2} screenshots of ${W}×${H} in ${(ms(t0) / 1000).toFixed(1)} s`);

    // The background work ingest starts after each screenshot upload.
    const d = diagnosticsFor(ctx);
    t0 = process.hrtime.bigint();
    for (let i = 0; i < STEPS; i++) d.pixels.screenshotStored(keys, i);
    await d.pixels.idle();
    const bg = ms(t0);
    console.log(`  background per-screenshot work     ${(bg / STEPS).toFixed(1)} ms per step (${(bg / 1000).toFixed(1)} s for the run)`);

    const srv = await serve(ctx);
    const login = await fetch(`${srv.api}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'bench@example.com', password: 'bench-password' }) });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    const read = async (api: string) => {
      const r = await fetch(`${api}/runs/${runId}/diagnostics/findings.json`, { headers: { cookie } });
      const body = (await r.json()) as { findings: Array<{ rule_id: string }> };
      if (r.status !== 200) throw new Error(`findings: ${r.status}`);
      return body.findings.length;
    };
    const n = await read(srv.api);
    const warm: number[] = [];
    const c0 = process.cpuUsage();
    for (let i = 0; i < ITER; i++) {
      t0 = process.hrtime.bigint();
      await read(srv.api);
      warm.push(ms(t0));
    }
    const cpu = process.cpuUsage(c0);
    warm.sort((a, b) => a - b);
    // CPU per read (server and client share this process) is the figure to trust on a busy machine.
    console.log(`  warm read (${n} findings)           median ${warm[warm.length >> 1]!.toFixed(1)} ms   p95 ${warm[Math.floor(warm.length * 0.95)]!.toFixed(1)} ms   CPU ${((cpu.user + cpu.system) / 1000 / ITER).toFixed(1)} ms per read   (target ≤ 50 ms)`);
    await srv.close();

    // A fresh replica: its own trace view and diagnostics, nothing in memory.
    const cold = await serve(await newContext());
    t0 = process.hrtime.bigint();
    const c1 = process.cpuUsage();
    await read(cold.api);
    const cc = process.cpuUsage(c1);
    console.log(`  cold read (fresh replica)           ${ms(t0).toFixed(0)} ms   CPU ${((cc.user + cc.system) / 1000).toFixed(0)} ms   (target ≤ 5,000 ms)`);
    await cold.close();

    if (!FROM_NOTHING) return;
    // From nothing: no derived record at all.
    for await (const o of stores.objects.list(`${keys.prefix}.derived/`)) await stores.objects.delete(o.key);
    for await (const o of stores.objects.list(`${keys.prefix}diagnostics/`)) await stores.objects.delete(o.key);
    const bare = await serve(await newContext());
    t0 = process.hrtime.bigint();
    await read(bare.api);
    console.log(`  read from nothing (all pixel work at read)  ${ms(t0).toFixed(0)} ms   (context: ingest normally did it)`);
    await bare.close();
  } finally {
    for (const c of contexts) await c.runIndex.stop().catch(() => undefined);
    await closeStores(stores);
  }
}

async function productionAvailable(): Promise<boolean> {
  try {
    const c = new pg.Client({ connectionString: TEST_PG_URL, connectionTimeoutMillis: 2000 });
    await c.connect();
    await c.end();
    const { Redis } = await import('ioredis');
    const r = new Redis(TEST_REDIS_URL, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0 });
    await r.connect();
    r.disconnect();
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const only = process.env.BENCH_ONLY;
  const cleanups: Array<() => Promise<unknown>> = [];
  const base = { PATH: process.env.PATH ?? '', AUGUR_LOG_LEVEL: 'warn', AUGUR_SCRYPT_LOG_N: '10', AUGUR_RATE_LIMIT_PER_KEY: '0', AUGUR_RATE_LIMIT_PER_TENANT: '0', AUGUR_TENANT_MAX_IN_FLIGHT: '0', AUGUR_MAX_IN_FLIGHT: '0', AUGUR_MAX_EVENT_LOOP_LAG_MS: '0' };
  try {
    if (!only || only === 'embedded') {
      const dataDir = mkdtempSync(path.join(os.tmpdir(), 'augur-bench-diag-'));
      cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
      await profile('embedded (SQLite, files, memory)', { ...base, AUGUR_DATA_DIR: dataDir });
    }
    if (only && only !== 'production') return;
    if (!(await productionAvailable())) {
      console.log('production: skipped (Postgres or Redis not answering)');
      return;
    }
    const backends = await productionBenchBackends(cleanups, ROOT);
    await profile('production (Postgres, S3 on fauxqs, Redis)', { ...base, ...backends });
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
