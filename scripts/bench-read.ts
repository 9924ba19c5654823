/**
 * Read-side benchmark (`npm run bench:read`): a compiled server in its own process on Postgres,
 * Redis and an S3 server (fauxqs, started here), measured over HTTP with a session cookie.
 *
 *   1. GET /runs (default page of 50) with 10,000 runs in the tenant, against a single indexed
 *      run look-up through the same route, auth and HTTP round trip: GET /runs?limit=1&cursor=<a
 *      keyset position in the middle of the 10,000 runs> (one index seek, one row). Target ≤ 2×.
 *      For context it also prints GET /runs?q=<exact run id>&limit=1 and an in-process
 *      metadata.getRun.
 *   2. trace.json of a live 500-step run (steps PUT one by one, no trace PUT) against one step
 *      GET (steps/0250.json). Target ≤ 5×.
 *
 * Ratios are of medians measured in the same run. Environment: AUGUR_TEST_PG_URL
 * (postgres://postgres@127.0.0.1:5432/test), AUGUR_TEST_REDIS_URL (redis://127.0.0.1:6379),
 * BENCH_ITERATIONS (200).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { closeStores, openStores } from '../server/bootstrap.js';
import { loadConfig } from '../server/config.js';
import { createLogger } from '../server/logger.js';
import { ROOT } from '../server/paths.js';
import { BundleKeys } from '../server/services/bundle.js';
import { encodeCursor } from '../server/services/run-reads.js';
import { TenantAdmin } from '../server/services/tenants.js';
import { freePort, productionBenchBackends } from './lib/harness.js';
import type { RunTouch } from '../storage/metadata/index.js';

const ITER = Number(process.env.BENCH_ITERATIONS ?? 200);
const RUNS = 10_000;
const STEPS = 500;


async function time(label: string, n: number, fn: () => Promise<void>): Promise<{ label: string; median: number; p95: number }> {
  for (let i = 0; i < Math.min(20, n); i++) await fn(); // warm-up
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((a, b) => a - b);
  const r = { label, median: ms[Math.floor(n / 2)]!, p95: ms[Math.floor(n * 0.95)]! };
  console.log(`  ${label.padEnd(58)} median ${r.median.toFixed(2).padStart(7)} ms   p95 ${r.p95.toFixed(2).padStart(7)} ms`);
  return r;
}

async function main(): Promise<void> {
  const started = Date.now();
  const cleanups: Array<() => Promise<unknown>> = [];
  let child: ChildProcess | undefined;
  try {
    // Backends: a fresh database, a Redis key prefix, a bucket on an S3 server started here.
    // fauxqs in its own process, so the S3 server's work never shares a core with the measuring client.
    const backends = await productionBenchBackends(cleanups, ROOT);
    const port = await freePort();
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      AUGUR_HOST: '127.0.0.1',
      ...backends,
      AUGUR_ADMIN_EMAIL: 'admin@example.com',
      AUGUR_ADMIN_PASSWORD: 'admin-password',
      // Throughput flat out: the overload guard (see bench:flood) would only measure itself here.
      AUGUR_MAX_IN_FLIGHT: '0',
      AUGUR_MAX_EVENT_LOOP_LAG_MS: '0',
      AUGUR_LOG_LEVEL: 'warn',
    };

    // Seed through the stores, with the bundle's key layout.
    const config = loadConfig(env);
    const stores = await openStores(config, createLogger('silent'));
    cleanups.unshift(() => closeStores(stores));
    const tenants = new TenantAdmin(stores.metadata, config);
    const tenant = await tenants.createTenant('bench');
    await tenants.createUser('bench@example.com', 'bench-password', 'bench');
    const t0 = Date.now() - RUNS * 1000;
    const touches: RunTouch[] = Array.from({ length: RUNS }, (_, i) => ({
      tenant_id: tenant.id,
      run_id: `run_${String(i).padStart(5, '0')}`,
      seen_at: t0 + i * 1000,
      step_count: i % 40,
      status: i % 7 === 0 ? 'failed' : 'succeeded',
    }));
    for (let i = 0; i < touches.length; i += 1000) await stores.metadata.touchRuns(touches.slice(i, i + 1000));
    const live = new BundleKeys(tenant.id, 'run_live');
    await stores.objects.put(live.manifest, JSON.stringify({ run_id: 'run_live', agent: { name: 'bench' } }), { contentType: 'application/json' });
    const step = (i: number) =>
      JSON.stringify({
        schema_version: '1.0',
        step_index: i,
        started_at: new Date(t0 + i * 2000).toISOString(),
        ended_at: new Date(t0 + i * 2000 + 1500).toISOString(),
        action: { type: 'click', x: 100 + i, y: 200 },
        reasoning: 'The button labelled "Next" is at the bottom right of the dialog; clicking it advances the wizard. '.repeat(6),
        result: { status: 'ok', error: null },
        screenshots: { pre: `screenshots/${String(i).padStart(4, '0')}_pre.png`, post: `screenshots/${String(i).padStart(4, '0')}_post.png` },
      });
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < STEPS) {
          const i = next++;
          await stores.objects.put(live.step(i), step(i), { contentType: 'application/json' });
        }
      }),
    );

    // The server, compiled, in its own process.
    child = spawn(process.execPath, [path.join(ROOT, 'dist', 'scripts', 'augur.js'), 'serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    const api = `http://127.0.0.1:${port}/api/v1`;
    for (const deadline = Date.now() + 30_000; ; ) {
      if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
      const ok = await fetch(`${api}/healthz`).then((r) => r.ok).catch(() => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error('server did not come up');
      await new Promise((r) => setTimeout(r, 100));
    }
    const login = await fetch(`${api}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'bench@example.com', password: 'bench-password' }),
    });
    const cookie = login.headers.getSetCookie().find((c) => c.startsWith('augur_session='))!.split(';')[0]!;
    const read = async (p: string, expect = 200): Promise<void> => {
      const r = await fetch(`${api}${p}`, { headers: { cookie } });
      await r.arrayBuffer();
      if (r.status !== expect) throw new Error(`${p}: ${r.status}`);
    };
    console.log(`seeded ${RUNS} runs and a live ${STEPS}-step run in ${((Date.now() - started) / 1000).toFixed(1)} s; ${ITER} requests per measurement\n`);

    console.log('GET /runs with 10,000 runs in the tenant');
    const mid = touches[RUNS / 2]!;
    const seek = encodeCursor({ created_at: mid.seen_at, run_id: mid.run_id });
    const page = await time('GET /runs (first page of 50)', ITER, () => read('/runs'));
    const deep = await time('GET /runs?cursor=<middle> (page of 50, 5,000 runs deep)', ITER, () => read(`/runs?cursor=${seek}`));
    const base = await time('baseline: GET /runs?limit=1&cursor=<middle> (1 row)', ITER, () => read(`/runs?limit=1&cursor=${seek}`));
    await time('info: GET /runs?q=<exact run id>&limit=1', ITER, () => read(`/runs?q=${mid.run_id}&limit=1`));
    await time('info: metadata.getRun in-process (no HTTP)', ITER, async () => void (await stores.metadata.getRun(tenant.id, mid.run_id)));

    console.log(`\ntrace.json of a live ${STEPS}-step run (no trace PUT)`);
    await read('/runs/run_live/trace.json');
    const snap = live.derived('trace-merged.json');
    for (const deadline = Date.now() + 10_000; !(await stores.objects.head(snap)) && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
    const trace = await time(`GET trace.json (${STEPS} steps)`, ITER, () => read('/runs/run_live/trace.json'));
    const one = await time('baseline: GET steps/0250.json', ITER, () => read('/runs/run_live/steps/0250.json'));
    // A live run keeps growing: one new step before every read (the snapshot catches up each time).
    let extra = STEPS;
    const growing = await time('info: GET trace.json after a new step PUT each time', Math.min(ITER, 100), async () => {
      await stores.objects.put(live.step(extra), step(extra), { contentType: 'application/json' });
      extra++;
      await read('/runs/run_live/trace.json');
    });

    const ratio = (a: { median: number }, b: { median: number }) => a.median / b.median;
    console.log('\nratios (medians)');
    console.log(`  GET /runs (10,000 runs) / indexed look-up      ${ratio(page, base).toFixed(2)}×  (target ≤ 2×)`);
    console.log(`  GET /runs 5,000 deep   / indexed look-up      ${ratio(deep, base).toFixed(2)}×`);
    console.log(`  trace.json (${STEPS} steps) / one step GET        ${ratio(trace, one).toFixed(2)}×  (target ≤ 5×)`);
    console.log(`  trace.json growing run / one step GET          ${ratio(growing, one).toFixed(2)}×  (includes the step PUT)`);
    console.log(`\ndone in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    if (child && child.exitCode === null) {
      const c = child;
      await new Promise((r) => {
        c.once('exit', r);
        c.kill('SIGTERM');
      });
    }
    for (const c of cleanups) await c().catch(() => undefined);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
