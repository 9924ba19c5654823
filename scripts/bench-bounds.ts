/**
 * Bounded work per request: `npm run bench:bounds` (compiles the server, then runs this file with tsx).
 *
 * One compiled server (`node dist/scripts/augur.js serve`) on embedded backends in its own process,
 * with its default body limits unless the environment sets AUGUR_MAX_JSON_BYTES /
 * AUGUR_MAX_JSON_VALUES itself (rate limits and the overload guard off, so nothing is shed). Every
 * JSON ingest route of the route table, with its OpenAPI example as the base body, gets each
 * hostile shape of scripts/lib/hostile-bodies.ts sized to the limits (and a few gzip bodies that
 * inflate to the byte limit); the screenshot route gets multipart bodies at the form's limits (FORM_LIMITS). For
 * each request, measured on the server process:
 * - the longest block: a 1 ms timer in the server process (a preloaded hook, HOOK below) reads the
 *   main thread's CPU time at each tick; the most CPU between two ticks is the longest time the
 *   event loop was held, in CPU time, so a busy machine does not inflate it;
 * - main-thread CPU (ms) from /proc/<pid>/task/<pid>/schedstat over the request: everything the
 *   event loop did for it (the time the thread waited for a core is reported apart);
 * - the longest event-loop delay, the server's own monitorEventLoopDelay max (10 ms resolution,
 *   read from /api/v1/metrics, which resets it): wall clock, so a busy machine inflates it;
 * - peak RSS growth over the RSS after a full collection just before (VmHWM, reset through
 *   /proc/<pid>/clear_refs), against the body's size.
 * Before each request: a full collection, then AUGUR_BENCH_WARM small calls of the same route.
 * Each case runs AUGUR_BENCH_REPEAT times (default 3; medians printed). AUGUR_BENCH_ONLY=<text>
 * keeps the cases whose "route shape" contains the text; AUGUR_BENCH_NODE_ARGS adds flags to the
 * server's node (`--cpu-prof --cpu-prof-dir=/tmp/prof`); AUGUR_BENCH_CLI measures another build.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { Pool } from 'undici';
import { parse } from 'yaml';
import { loadConfig } from '../server/config.js';
import { scanJson } from '../server/http/json-scan.js';
import { OPENAPI_FILE, ROOT } from '../server/paths.js';
import { ROUTES } from '../server/routes/index.js';
import { embeddedBenchEnv, freePort } from './lib/harness.js';
import { mintKeys } from './lib/bench-tenants.js';
import { bodyWith, fit, SHAPES, type Shape } from './lib/hostile-bodies.js';

/** AUGUR_BENCH_MARKS=<file>: each measured request's monotonic window (µs), to cut a server --cpu-prof to it. */
const MARKS = process.env.AUGUR_BENCH_MARKS;
const marks: string[] = [];
/** AUGUR_BENCH_NO_GC=1: no full collection before each request (RSS growth then also counts garbage left by earlier requests). */
const NO_GC = process.env.AUGUR_BENCH_NO_GC === '1';
/** AUGUR_BENCH_WARM: small requests (the route's baseline) between the collection and each measured request (default 20). */
const WARM = Number(process.env.AUGUR_BENCH_WARM ?? 20);
const REPEAT = Number(process.env.AUGUR_BENCH_REPEAT ?? 3);
const ONLY = process.env.AUGUR_BENCH_ONLY;
/** AUGUR_BENCH_CLI: another build's dist/scripts/augur.js to measure (an earlier commit, say). */
const CLI = process.env.AUGUR_BENCH_CLI ?? path.join(ROOT, 'dist', 'scripts', 'augur.js');
const METRICS_TOKEN = 'bench-bounds-metrics-token';
/** Room left under the limits for the route's own fields around the hostile value. */
const SLACK_BYTES = 16 * 1024;
const SLACK_VALUES = 4000;

/**
 * Preloaded into the server (--import): gc on request, and the longest block in CPU time, from a
 * 1 ms timer reading the main thread's CPU clock (/proc/self/task/<pid>/schedstat) at each tick.
 */
const HOOK = `
import { openSync, readSync } from 'node:fs';
const fd = openSync('/proc/self/task/' + process.pid + '/schedstat', 'r');
const buf = Buffer.alloc(128);
const cpu = () => Number(buf.toString('latin1', 0, readSync(fd, buf, 0, 128, 0)).split(' ')[0]) / 1e6;
let lastWall = performance.now(), lastCpu = cpu(), maxCpu = 0, maxWall = 0;
const tick = () => {
  const w = performance.now(), c = cpu();
  maxWall = Math.max(maxWall, w - lastWall);
  maxCpu = Math.max(maxCpu, c - lastCpu);
  lastWall = w;
  lastCpu = c;
};
setInterval(tick, 1).unref();
process.on('message', (m) => {
  if (m === 'gc') { globalThis.gc(); process.send('ok'); }
  else if (m === 'reset') { tick(); maxCpu = 0; maxWall = 0; process.send('ok'); }
  else if (m === 'read') { tick(); process.send({ cpu: maxCpu, wall: maxWall }); }
});
process.channel?.unref();
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

/** The OpenAPI document's example body and concrete path of a route (refs followed), as the contract tests take them. */
function openapiExamples(): (route: { method: string; path: string }) => { body?: JsonObject; path: string } {
  const doc = parse(readFileSync(OPENAPI_FILE, 'utf8')) as JsonObject;
  const deref = (n: Json): Json => {
    if (n && typeof n === 'object' && !Array.isArray(n) && typeof n.$ref === 'string' && n.$ref.startsWith('#/')) {
      return deref(n.$ref.slice(2).split('/').reduce<Json>((o, k) => (o as JsonObject)[k.replace(/~1/g, '/').replace(/~0/g, '~')]!, doc));
    }
    return n;
  };
  return (route) => {
    const oaPath = route.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
    const item = (doc.paths as JsonObject)[oaPath] as JsonObject;
    const op = item[route.method] as JsonObject;
    const params = [...((item.parameters ?? []) as Json[]), ...((op.parameters ?? []) as Json[])].map((p) => deref(p) as JsonObject);
    const concrete = route.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, (_m, name: string) => {
      const p = params.find((x) => x.in === 'path' && x.name === name)!;
      return encodeURIComponent(String(p.example ?? ((p.schema as JsonObject).examples as Json[])[0]));
    });
    const media = op.requestBody ? (deref(((deref(op.requestBody) as JsonObject).content as JsonObject)['application/json'] ?? null) as JsonObject | null) : null;
    const examples = Object.values((media?.examples ?? {}) as JsonObject).map((e) => (deref(e) as JsonObject).value);
    return { body: (media?.example ?? examples[0]) as JsonObject | undefined, path: concrete };
  };
}

/** The server process as /proc shows it. */
class ProcStats {
  constructor(readonly pid: number) {}
  private read(file: string): string {
    return readFileSync(`/proc/${this.pid}/${file}`, 'utf8');
  }
  /** Main (JS) thread: ns on a core, ns waiting for one. */
  mainThread(): { run: number; wait: number } {
    const [run, wait] = this.read(`task/${this.pid}/schedstat`).trim().split(/\s+/).map(Number);
    return { run: run!, wait: wait! };
  }
  /** All threads' CPU (ms): utime + stime. */
  processCpuMs(): number {
    const stat = this.read('stat');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  }
  private kb(field: string): number {
    return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(this.read('status'))![1]) * 1024;
  }
  rss(): number {
    return this.kb('VmRSS');
  }
  peak(): number {
    return this.kb('VmHWM');
  }
  resetPeak(): void {
    writeFileSync(`/proc/${this.pid}/clear_refs`, '5');
  }
}

interface Case {
  route: string;
  shape: string;
  what: string;
  method: string;
  /** Path under /api/v1, with RUN where the run id goes. */
  path: string;
  /** The body for one run (built before the request is measured). */
  bodyFor: (run: string) => Buffer;
  headers: Record<string, string>;
  /** Decompressed bytes and values (as the server counts them). */
  bytes: number;
  values?: number;
  /** Bodies sent first to the same run, unmeasured (a step re-PUT reads the stored step back). */
  primes?: (run: string, body: Buffer) => Buffer[];
}

interface Sample {
  status: number;
  code?: string;
  cpuMs: number;
  /** The longest stretch the event loop was held, in main-thread CPU ms. */
  blockMs: number;
  waitMs: number;
  procMs: number;
  lagMs: number;
  rssGrowth: number;
  wallMs: number;
}

function multipart(parts: Array<{ name: string; value: Buffer; filename?: string; type?: string }>): { body: Buffer; type: string } {
  const boundary = 'augurbenchboundary9f3c';
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}`;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${p.type ? `Content-Type: ${p.type}\r\n` : ''}\r\n`), p.value, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), type: `multipart/form-data; boundary=${boundary}` };
}

function noisePng(width: number, height: number): Buffer {
  const p = new PNG({ width, height });
  let x = 1;
  for (let i = 0; i < p.data.length; i++) p.data[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
  return PNG.sync.write(p);
}

/** A PNG signature and IHDR (1000×1000), padded to `size` bytes: what the server checks before streaming it away. */
function paddedPng(size: number): Buffer {
  const head = noisePng(1, 1).subarray(0, 33);
  return Buffer.concat([head, Buffer.alloc(size - head.length, 0x41)]);
}

function buildCases(maxBytes: number, maxValues: number, maxShot: number): Case[] {
  const example = openapiExamples();
  const jsonRoutes = ROUTES.filter((r) => r.auth === 'dsn' && r.body);
  const cases: Case[] = [];
  const json = { 'content-type': 'application/json' };
  const values = (b: Buffer) => scanJson(b, { depth: 64, values: Number.MAX_SAFE_INTEGER }).values;
  const routes = jsonRoutes.map((r) => {
    const ex = example(r);
    if (!ex.body) throw new Error(`${r.method} ${r.path}: the OpenAPI document gives no request example`);
    const base = { ...ex.body };
    // One run per request: the URL's run id goes in the body wherever the example names one.
    if ('run_id' in base) base.run_id = RUN_ID_MARK;
    const name = `${r.method.toUpperCase()} ${r.path.replace(/:([a-z_]+)/g, '{$1}')}`;
    const urlPath = ex.path.replace(/^\/runs\/[^/]+/, '/runs/RUN');
    return { r, base, name, urlPath };
  });
  const keep = (route: string, shape: string) => !ONLY || `${route} ${shape}`.includes(ONLY);
  /** A body naming the run (a manifest's run_id) is built per run; others once. */
  const bodies = (text: string, gzip = false): ((run: string) => Buffer) => {
    const make = (t: string) => (gzip ? gzipSync(t, { level: 9 }) : Buffer.from(t));
    if (!text.includes(RUN_MARK)) {
      const once = make(text);
      return () => once;
    }
    return (run) => make(text.replaceAll(RUN_MARK, run));
  };
  for (const { r, base, name, urlPath } of routes) {
    const text = JSON.stringify(base);
    const body = Buffer.from(text);
    cases.push({ route: name, shape: 'baseline', what: 'the OpenAPI example', method: r.method, path: urlPath, bodyFor: bodies(text), headers: json, bytes: body.length, values: values(body), primes: isStepPut(r) ? again : undefined });
  }
  // Each hostile value is sized once, against the byte and value limits less room for the route's fields.
  const fitted = new Map<string, string>();
  for (const shape of SHAPES) {
    const routesFor = routes.filter(({ r, base, name }) => keep(name, shape.name) && applies(shape, r.path, base));
    if (!routesFor.length) continue;
    const t0 = performance.now();
    const f = fit(shape, (v) => `{"x":${v}}`, maxBytes - SLACK_BYTES, maxValues - SLACK_VALUES);
    fitted.set(shape.name, shape.make(f.k));
    process.stderr.write(`sized ${shape.name}: k=${f.k}, ${f.body.length} bytes, ${f.values} values (${Math.round(performance.now() - t0)} ms)\n`);
    for (const { r, base, name, urlPath } of routesFor) {
      const slot = shape.slot === 'text' ? ('text' in base ? 'text' : 'x') : shape.slot === 'steps' && !('steps' in base) ? 'x' : shape.slot;
      const text = bodyWith(base, slot, fitted.get(shape.name)!);
      const body = Buffer.from(text);
      const common = { route: name, method: r.method, path: urlPath, bytes: body.length, values: values(body), primes: isStepPut(r) ? again : undefined };
      cases.push({ ...common, shape: shape.name, what: shape.what, bodyFor: bodies(text), headers: json });
      if (GZIP_SHAPES.has(shape.name)) {
        const gz = gzipSync(body, { level: 9 }).length;
        cases.push({ ...common, shape: `${shape.name}.gz`, what: `${shape.what}, sent as gzip (${gz} bytes)`, bodyFor: bodies(text, true), headers: { ...json, 'content-encoding': 'gzip' } });
      }
    }
  }
  // Judge decisions are kept per step in one list each post reads and rewrites: three large ones first.
  const judge = routes.find(({ r }) => r.path.endsWith('/judge-decisions'));
  if (judge && keep(judge.name, 'history')) {
    const decision = (i: number) => bodyWith({ ...judge.base, judged_at: `2026-01-01T00:00:0${i}Z` }, 'x', JSON.stringify('h'.repeat(Math.floor(maxBytes / 4))));
    const text = decision(9);
    cases.push({
      route: judge.name,
      shape: 'history',
      what: 'a 4 MiB decision after three others on the step',
      method: judge.r.method,
      path: judge.urlPath,
      bodyFor: bodies(text),
      headers: json,
      bytes: Buffer.byteLength(text),
      values: values(Buffer.from(text)),
      primes: () => [0, 1, 2].map((i) => Buffer.from(decision(i))),
    });
  }
  const shot = ROUTES.find((r) => r.path.includes('/screenshots/') && r.method === 'post')!;
  const shotName = `POST ${shot.path.replace(/:([a-z_]+)/g, '{$1}')}`;
  const shotPath = (kind: string) => `/runs/RUN/screenshots/0/${kind}`;
  const fields = Array.from({ length: 8 }, (_, i) => ({ name: `f${i}`.padEnd(100, 'f'), value: Buffer.alloc(64 * 1024, 0x61) }));
  const small = noisePng(64, 48);
  const shots: Array<{ shape: string; what: string; kind: string; parts: Parameters<typeof multipart>[0] }> = [
    { shape: 'baseline', what: 'a 64×48 PNG', kind: 'pre', parts: [{ name: 'image', value: small, filename: 's.png', type: 'image/png' }] },
    { shape: 'fields', what: '8 fields of 64 KiB with 100-byte names, then a small PNG', kind: 'pre', parts: [...fields, { name: 'image', value: small, filename: 's.png', type: 'image/png' }] },
    { shape: 'png-1280x800', what: 'a 1280×800 noise PNG (pixel work follows, off the main thread)', kind: 'pre', parts: [{ name: 'image', value: noisePng(1280, 800), filename: 's.png', type: 'image/png' }] },
    { shape: 'max-size', what: `an image part of ${maxShot - 4096} bytes`, kind: 'target', parts: [{ name: 'image', value: paddedPng(maxShot - 4096), filename: 's.png', type: 'image/png' }] },
  ];
  for (const s of shots) {
    if (!keep(shotName, s.shape)) continue;
    const m = multipart(s.parts);
    cases.push({ route: shotName, shape: s.shape, what: s.what, method: 'post', path: shotPath(s.kind), bodyFor: () => m.body, headers: { 'content-type': m.type }, bytes: m.body.length });
  }
  return cases;
}

const RUN_ID_MARK = '\u0001run\u0001';
/** The run id mark as JSON text. */
const RUN_MARK = JSON.stringify(RUN_ID_MARK).slice(1, -1);
const GZIP_SHAPES = new Set(['tiny-over', 'string-ascii']);
const again = (_run: string, body: Buffer) => [body];
const isStepPut = (r: { method: string; path: string }) => r.method === 'put' && r.path.includes('/steps/:step_index');

/** Whether a shape is meant for a route: steps and events shapes for their own route only. */
function applies(shape: Shape, routePath: string, base: Record<string, unknown>): boolean {
  if (shape.name === 'minimal-steps') return 'steps' in base;
  if (shape.slot === 'events') return routePath.endsWith('/events');
  return true;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'augur-bounds-'));
  const port = await freePort();
  const env = embeddedBenchEnv(dir, port, METRICS_TOKEN, { AUGUR_RATE_LIMIT_PER_KEY: '0', AUGUR_RATE_LIMIT_PER_TENANT: '0', AUGUR_MAX_EVENT_LOOP_LAG_MS: '0' }, [
    'AUGUR_MAX_JSON_BYTES',
    'AUGUR_MAX_JSON_VALUES',
    'AUGUR_MAX_SCREENSHOT_BYTES',
  ]);
  const config = loadConfig(env);
  const [key] = await mintKeys(env, ['bounds'], { modelio: true });

  const cases = buildCases(config.maxJsonBytes, config.maxJsonValues, config.maxScreenshotBytes);
  let child: ChildProcess | undefined;
  try {
    const hookFile = path.join(dir, 'bench-hook.mjs');
    writeFileSync(hookFile, HOOK);
    // No bytecode flushing: the forced collections would age out code the next request then compiles again.
    const nodeArgs = (process.env.AUGUR_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    child = spawn(process.execPath, ['--expose-gc', '--no-flush-bytecode', ...nodeArgs, '--import', hookFile, CLI, 'serve'], { env, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const replies: Array<(m: unknown) => void> = [];
    child.on('message', (m) => replies.shift()?.(m));
    const ask = <T>(cmd: string) => new Promise<T>((resolve) => (replies.push(resolve as (m: unknown) => void), child!.send(cmd)));
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      if (await fetch(`${url}/api/v1/healthz`).then((r) => r.ok, () => false)) break;
      if (i > 300) throw new Error('server did not come up');
      await sleep(100);
    }
    const proc = new ProcStats(child.pid!);
    const pool = new Pool(url, { connections: 2, bodyTimeout: 120_000, headersTimeout: 120_000 });
    const lagMax = async (): Promise<number> => {
      const r = await pool.request({ method: 'GET', path: '/api/v1/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      const text = await r.body.text();
      return Number(/^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text)?.[1] ?? NaN) * 1000;
    };
    let runs = 0;
    const send = async (c: Case, run: string, body = c.bodyFor(run)) => {
      const r = await pool.request({ method: c.method.toUpperCase() as 'PUT', path: `/api/v1${c.path.replace('RUN', run)}`, headers: { ...c.headers, authorization: `Bearer ${key}` }, body });
      const text = await r.body.text();
      let code: string | undefined;
      if (r.statusCode >= 400) code = (JSON.parse(text) as { code?: string }).code;
      return { status: r.statusCode, code };
    };
    const measure = async (c: Case): Promise<Sample> => {
      const run = `run_bounds_${String(runs++).padStart(5, '0')}`;
      const body = c.bodyFor(run);
      for (const b of c.primes?.(run, body) ?? []) await send(c, run, b);
      if (!NO_GC) await ask('gc');
      // A server between SDK calls, not one straight out of a collection: a full collection drops
      // optimised code (V8 deoptimises code whose embedded maps died), and the small calls that
      // always come between large ones get it optimised again.
      const warm = baselineOf.get(c.route);
      for (let i = 0; i < WARM && warm; i++) await send(warm, `run_warm_${runs}_${i}`);
      await sleep(100);
      await lagMax(); // resets the server's event-loop delay histogram
      await sleep(20);
      await ask('reset');
      const rss0 = proc.rss();
      proc.resetPeak();
      const cpu0 = proc.mainThread();
      const proc0 = proc.processCpuMs();
      const t0 = performance.now();
      const mark0 = process.hrtime.bigint() / 1000n;
      const answer = await send(c, run, body);
      const wallMs = performance.now() - t0;
      await sleep(30); // what the server does right after answering (the response's end, logging)
      const block = await ask<{ cpu: number; wall: number }>('read');
      const cpu1 = proc.mainThread();
      const proc1 = proc.processCpuMs();
      const peak = proc.peak();
      if (MARKS) marks.push(`${c.route} ${c.shape}\t${mark0}\t${process.hrtime.bigint() / 1000n}`);
      const lagMs = await lagMax();
      return { ...answer, cpuMs: (cpu1.run - cpu0.run) / 1e6, blockMs: block.cpu, waitMs: (cpu1.wait - cpu0.wait) / 1e6, procMs: proc1 - proc0, lagMs, rssGrowth: Math.max(0, peak - rss0), wallMs };
    };

    const baselineOf = new Map(cases.filter((x) => x.shape === 'baseline').map((x) => [x.route, x]));
    // Warm-up: every route's baseline a few times, so the code is compiled before anything is measured.
    for (let i = 0; i < 5; i++) for (const c of cases.filter((x) => x.shape === 'baseline')) await send(c, `run_warm_${i}`);

    console.log(`limits: AUGUR_MAX_JSON_BYTES ${config.maxJsonBytes}, AUGUR_MAX_JSON_VALUES ${config.maxJsonValues}, AUGUR_MAX_SCREENSHOT_BYTES ${config.maxScreenshotBytes}; ${REPEAT} run(s) per case, medians; load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    const head = ['route', 'shape', 'bytes', 'values', 'status', 'block', 'cpu ms', 'wait ms', 'proc ms', 'lag ms', 'wall ms', 'rss +MB', 'rss/body'];
    const widths = [54, 16, 9, 8, 22, 6, 7, 7, 7, 7, 8, 8, 8];
    const row = (cells: string[]) => console.log(cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' '));
    row(head);
    const results: Array<{ c: Case; s: Sample }> = [];
    for (const c of cases) {
      const samples: Sample[] = [];
      for (let i = 0; i < REPEAT; i++) samples.push(await measure(c));
      const s: Sample = {
        status: samples[0]!.status,
        code: samples[0]!.code,
        cpuMs: median(samples.map((x) => x.cpuMs)),
        blockMs: median(samples.map((x) => x.blockMs)),
        waitMs: median(samples.map((x) => x.waitMs)),
        procMs: median(samples.map((x) => x.procMs)),
        lagMs: median(samples.map((x) => x.lagMs)),
        wallMs: median(samples.map((x) => x.wallMs)),
        rssGrowth: median(samples.map((x) => x.rssGrowth)),
      };
      results.push({ c, s });
      const statuses = [...new Set(samples.map((x) => `${x.status}${x.code ? ` ${x.code}` : ''}`))].join('/');
      row([c.route, c.shape, String(c.bytes), c.values === undefined ? '' : String(c.values), statuses, s.blockMs.toFixed(1), s.cpuMs.toFixed(1), s.waitMs.toFixed(1), s.procMs.toFixed(0), s.lagMs.toFixed(0), s.wallMs.toFixed(0), (s.rssGrowth / 1e6).toFixed(1), (s.rssGrowth / c.bytes).toFixed(2)]);
    }
    await pool.close();
    if (MARKS) writeFileSync(MARKS, `${marks.join('\n')}\n`);

    const baselines = results.filter((x) => x.c.shape === 'baseline');
    const base = median(baselines.map((x) => x.s.cpuMs));
    const worst = (pick: (x: { c: Case; s: Sample }) => number) => results.reduce((a, b) => (pick(b) > pick(a) ? b : a));
    const describe = (x: { c: Case; s: Sample }) => `${x.c.route} ${x.c.shape} (${x.c.what}; ${x.c.bytes} bytes${x.c.values === undefined ? '' : `, ${x.c.values} values`}; answered ${x.s.status}${x.s.code ? ` ${x.s.code}` : ''})`;
    const block = worst((x) => x.s.blockMs);
    const cpu = worst((x) => x.s.cpuMs);
    const lag = worst((x) => x.s.lagMs);
    const big = results.filter((x) => x.c.bytes >= 1 << 20);
    const rss = big.length ? big.reduce((a, b) => (b.s.rssGrowth / b.c.bytes > a.s.rssGrowth / a.c.bytes ? b : a)) : undefined;
    console.log(`\nbaseline (each route's OpenAPI example): median ${base.toFixed(2)} ms main-thread CPU per request`);
    console.log(`worst block (longest the event loop was held, main-thread CPU): ${block.s.blockMs.toFixed(1)} ms (request CPU ${block.s.cpuMs.toFixed(1)} ms, event-loop delay ${block.s.lagMs.toFixed(0)} ms): ${describe(block)}`);
    console.log(`worst main-thread CPU per request: ${cpu.s.cpuMs.toFixed(1)} ms (${(cpu.s.cpuMs / base).toFixed(0)}× the baseline; longest event-loop delay ${cpu.s.lagMs.toFixed(0)} ms): ${describe(cpu)}`);
    console.log(`worst event-loop delay: ${lag.s.lagMs.toFixed(0)} ms (main-thread CPU ${lag.s.cpuMs.toFixed(1)} ms, waited for a core ${lag.s.waitMs.toFixed(1)} ms): ${describe(lag)}`);
    if (rss) console.log(`worst RSS growth for a body of 1 MiB or more: ${(rss.s.rssGrowth / 1e6).toFixed(1)} MB = ${(rss.s.rssGrowth / rss.c.bytes).toFixed(2)}× its ${rss.c.bytes} bytes: ${describe(rss)}`);
    const maxRss = worst((x) => x.s.rssGrowth);
    console.log(`largest RSS growth: ${(maxRss.s.rssGrowth / 1e6).toFixed(1)} MB: ${describe(maxRss)}`);
  } finally {
    child?.kill('SIGTERM');
    await new Promise((r) => (child && child.exitCode === null ? child.once('exit', r) : r(undefined)));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
