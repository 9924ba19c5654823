/**
 * Noisy-neighbour benchmark: `npm run bench:flood` (compiles the server, then runs this file with tsx).
 *
 * One compiled server (`node dist/scripts/augur.js serve`) on embedded backends (SQLite and files in
 * a temp folder), with its default limits unless the environment sets AUGUR_RATE_LIMIT_* itself. A
 * victim tenant sends SDK-shaped step PUTs (the recorded SDK run's step 0, a new step each time) at
 * a modest open-loop rate; its latency is measured alone, then while a flooding tenant hammers
 * `POST /runs/{id}/events` over many connections as fast as the server answers. Printed: the
 * victim's p50/p99 in both phases and their ratio, the server's event-loop delay in each phase (its
 * own metrics: how long the server was unable to run anything), and the flood's answers by status
 * (429 expected).
 * Environment: AUGUR_BENCH_SECONDS (per phase, default 5), AUGUR_BENCH_VICTIM_RPS (default 20),
 * AUGUR_BENCH_FLOOD_CONNECTIONS (default 64).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { loadConfig } from '../server/config.js';
import { ROOT } from '../server/paths.js';
import { embeddedBenchEnv, freePort } from './lib/harness.js';
import { mintKeys } from './lib/bench-tenants.js';

const SECONDS = Number(process.env.AUGUR_BENCH_SECONDS ?? 5);
const VICTIM_RPS = Number(process.env.AUGUR_BENCH_VICTIM_RPS ?? 20);
const FLOOD_CONNECTIONS = Number(process.env.AUGUR_BENCH_FLOOD_CONNECTIONS ?? 64);
const CLI = path.join(ROOT, 'dist', 'scripts', 'augur.js');
const METRICS_TOKEN = 'bench-flood-metrics-token';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'augur-flood-'));
  const port = await freePort();
  const env = embeddedBenchEnv(dir, port, METRICS_TOKEN, {}, [
    'AUGUR_RATE_LIMIT_PER_KEY',
    'AUGUR_RATE_LIMIT_PER_TENANT',
    'AUGUR_TENANT_MAX_IN_FLIGHT',
    'AUGUR_TENANT_MAX_QUEUED',
    'AUGUR_MAX_IN_FLIGHT',
    'AUGUR_MAX_EVENT_LOOP_LAG_MS',
  ]);
  const config = loadConfig(env);
  const [victimKey, floodKey] = await mintKeys(env, ['victim', 'flood']);

  let child: ChildProcess | undefined;
  try {
    child = spawn(process.execPath, [CLI, 'serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      const ok = await fetch(`${url}/api/v1/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
      if (i > 300) throw new Error('server did not come up');
      await sleep(100);
    }
    console.log(`limits: per key ${config.rateLimitPerKey}/s, per tenant ${config.rateLimitPerTenant}/s, tenant slots ${config.tenantMaxInFlight} + ${config.tenantMaxQueued} queued (0 = off); ${SECONDS} s per phase; victim ${VICTIM_RPS} step PUT/s; flood ${FLOOD_CONNECTIONS} connections`);

    const sdkStep = JSON.parse(readFileSync(path.join(ROOT, 'test/fixtures/sdk-0.1.14/bundle/steps/0000.json'), 'utf8')) as Record<string, unknown>;
    const victimPool = new Pool(url, { connections: 8 });
    let stepIndex = 0;
    const victimPut = async (): Promise<{ ms: number; status: number }> => {
      const i = stepIndex++;
      const body = JSON.stringify({ ...sdkStep, step_index: i, step_id: `run_victim/step/${String(i).padStart(4, '0')}` });
      const t0 = performance.now();
      const r = await victimPool.request({
        method: 'PUT',
        path: `/api/v1/runs/run_victim/steps/${i}`,
        headers: { authorization: `Bearer ${victimKey}`, 'content-type': 'application/json' },
        body,
      });
      await r.body.dump();
      return { ms: performance.now() - t0, status: r.statusCode };
    };
    /** Open loop: a request every 1/VICTIM_RPS s whatever the answers, for `seconds`. */
    const victim = async (seconds: number) => {
      const runs: Array<Promise<{ ms: number; status: number }>> = [];
      const every = 1000 / VICTIM_RPS;
      const start = performance.now();
      for (let n = 0; n < seconds * VICTIM_RPS; n++) {
        const due = start + n * every - performance.now();
        if (due > 0) await sleep(due);
        runs.push(victimPut());
      }
      const done = await Promise.all(runs);
      const bad = done.filter((d) => d.status !== 200).length;
      return { p50: pct(done.map((d) => d.ms), 50), p99: pct(done.map((d) => d.ms), 99), n: done.length, bad };
    };

    /**
     * The server's event-loop delay since the last scrape, beyond the 10 ms sampling tick (prom-client
     * resets its histogram at each scrape): p99 and max in ms. It counts every stall the server's
     * requests could have met, the process being descheduled included; a victim p99 well above it
     * was spent outside the server (the three processes sharing this machine's cores).
     */
    const loopDelay = async (): Promise<{ p99: number; max: number }> => {
      const text = await (await fetch(`${url}/api/v1/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
      const gauge = (name: string) => Math.max(0, Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) * 1000 - 10);
      return { p99: gauge('nodejs_eventloop_lag_p99_seconds'), max: gauge('nodejs_eventloop_lag_max_seconds') };
    };

    await victim(1); // warm-up
    await loopDelay();
    const alone = await victim(SECONDS);
    const aloneLoop = await loopDelay();

    // The flood runs in its own process so its event loop does not delay the victim's measurements.
    const flood = spawn(process.execPath, ['--input-type=module', '-e', FLOOD_SOURCE], {
      cwd: ROOT,
      env: { ...process.env, FLOOD_URL: url, FLOOD_KEY: floodKey, FLOOD_CONNECTIONS: String(FLOOD_CONNECTIONS) },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let floodOut = '';
    flood.stdout!.on('data', (d: Buffer) => (floodOut += d.toString()));
    await sleep(1000); // the flood reaches its pace before the victim is measured again
    flood.stdin!.write('mark\n');
    const floodStart = performance.now();
    await loopDelay();
    const flooded = await victim(SECONDS);
    const floodLoop = await loopDelay();
    const floodSeconds = (performance.now() - floodStart) / 1000;
    flood.stdin!.end('stop\n');
    await new Promise((r) => flood.once('exit', r));
    await victimPool.close();
    const counts = JSON.parse(floodOut.trim().split('\n').pop()!) as { before: Record<string, number>; after: Record<string, number> };
    const statuses = new Map(Object.entries(counts.after).map(([k, v]) => [Number(k), v]));
    const before = new Map(Object.entries(counts.before).map(([k, v]) => [Number(k), v]));
    const during = [...statuses].map(([code, n]) => [code, n - (before.get(code) ?? 0)] as const).sort((a, b) => a[0] - b[0]);
    const floodTotal = during.reduce((s, [, n]) => s + n, 0);
    const f = (x: number) => x.toFixed(1);
    console.log(`victim alone:      p50 ${f(alone.p50)} ms  p99 ${f(alone.p99)} ms  (${alone.n} PUTs, ${alone.bad} not 200)`);
    console.log(`victim with flood: p50 ${f(flooded.p50)} ms  p99 ${f(flooded.p99)} ms  (${flooded.n} PUTs, ${flooded.bad} not 200)`);
    console.log(`p99 ratio (flood / alone): ${(flooded.p99 / alone.p99).toFixed(2)}   p50 ratio: ${(flooded.p50 / alone.p50).toFixed(2)}`);
    console.log(`server event-loop delay p99 / max: alone ${f(aloneLoop.p99)} / ${f(aloneLoop.max)} ms, with flood ${f(floodLoop.p99)} / ${f(floodLoop.max)} ms`);
    console.log(`flood: ${Math.round(floodTotal / floodSeconds)} req/s answered; by status: ${during.map(([c, n]) => `${c}: ${n} (${Math.round(n / floodSeconds)}/s)`).join(', ')}`);
  } finally {
    child?.kill('SIGTERM');
    await new Promise((r) => (child && child.exitCode === null ? child.once('exit', r) : r(undefined)));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The flooding client: FLOOD_CONNECTIONS loops posting events; counts answers by status between "mark" and "stop" on stdin. */
const FLOOD_SOURCE = `
import { Pool } from 'undici';
const pool = new Pool(process.env.FLOOD_URL, { connections: Number(process.env.FLOOD_CONNECTIONS) });
const statuses = {};
let before = {};
let on = true;
const body = JSON.stringify({ events: [{ ts: new Date().toISOString(), layer: 'planner', kind: 'decision', summary: 'flood', detail: {} }] });
const loop = async () => {
  while (on) {
    const r = await pool.request({ method: 'POST', path: '/api/v1/runs/run_flood/events', headers: { authorization: 'Bearer ' + process.env.FLOOD_KEY, 'content-type': 'application/json' }, body });
    await r.body.dump();
    statuses[r.statusCode] = (statuses[r.statusCode] ?? 0) + 1;
  }
};
const loops = Array.from({ length: Number(process.env.FLOOD_CONNECTIONS) }, loop);
process.stdin.on('data', async (d) => {
  if (String(d).includes('mark')) before = { ...statuses };
  if (String(d).includes('stop')) {
    const after = { ...statuses };
    on = false;
    await Promise.all(loops);
    await pool.close();
    console.log(JSON.stringify({ before, after }));
  }
});
`;

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
