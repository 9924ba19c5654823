import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { ROOT } from '../../server/paths.js';

/**
 * Seeds SDK-shaped runs through the ingest API with a DSN key, as the SDK would send them. The
 * documents come from the SDK 0.1.14 bundle in test/fixtures/sdk-0.1.14 (screenshots are drawn
 * here at a realistic size). What today's server refuses is noted where it is sent; extend
 * SEED_EXTRAS when new ingest routes land.
 */
export const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'sdk-0.1.14');

export type Json = Record<string, unknown>;
const fixture = (rel: string): string => readFileSync(path.join(FIXTURE, rel), 'utf8');
export const fixtureJson = (rel: string): Json => JSON.parse(fixture(rel)) as Json;
export const fixtureJsonl = (rel: string): Json[] =>
  fixture(rel)
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Json);

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
  rgb: [number, number, number];
}

/** A PNG of a plain "page" with some boxes on it: enough to see where an action landed. */
export function drawPng(width: number, height: number, rects: Rect[] = [], bg: [number, number, number] = [245, 246, 248]): Buffer {
  const png = new PNG({ width, height });
  const d = png.data;
  for (let i = 0; i < width * height; i++) {
    d[i * 4] = bg[0];
    d[i * 4 + 1] = bg[1];
    d[i * 4 + 2] = bg[2];
    d[i * 4 + 3] = 255;
  }
  for (const r of rects) {
    for (let y = Math.max(0, r.y); y < Math.min(height, r.y + r.h); y++) {
      for (let x = Math.max(0, r.x); x < Math.min(width, r.x + r.w); x++) {
        const o = (y * width + x) * 4;
        d[o] = r.rgb[0];
        d[o + 1] = r.rgb[1];
        d[o + 2] = r.rgb[2];
      }
    }
  }
  return PNG.sync.write(png);
}

/** A login page: header bar, a form card, two inputs and a button. */
export function loginPage(width = 1280, height = 800, variant = 0): Buffer {
  return drawPng(width, height, [
    { x: 0, y: 0, w: width, h: 56, rgb: [47, 95, 208] },
    { x: 60, y: 120, w: 420, h: 360, rgb: [255, 255, 255] },
    { x: 80, y: 180, w: 380, h: 40, rgb: variant === 1 ? [220, 235, 255] : [232, 234, 238] },
    { x: 80, y: 250, w: 380, h: 40, rgb: [232, 234, 238] },
    { x: 80, y: 320, w: 160, h: 44, rgb: variant === 2 ? [198, 40, 40] : [31, 138, 76] },
  ]);
}

/** Adds a screenshot to the first message of a model call, as a base64 image part. */
function withImage(rec: Json, png: Buffer): void {
  const msg = ((rec.request as Json).messages as Json[])[0]!;
  (msg.content as Json[]).push({ type: 'image', source: { type: 'base64', media_type: 'image/png', data: png.toString('base64') } });
}

export class Ingest {
  constructor(
    public api: string,
    private key: string,
  ) {}

  private async call(method: string, p: string, body?: unknown, ok: number[] = [200, 201]): Promise<Response> {
    const res = await fetch(`${this.api}${p}`, {
      method,
      headers: { Authorization: `Bearer ${this.key}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!ok.includes(res.status)) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
    return res;
  }

  manifest(runId: string, m: Json): Promise<Response> {
    return this.call('POST', '/runs', { ...m, run_id: runId });
  }
  step(runId: string, s: Json): Promise<Response> {
    return this.call('PUT', `/runs/${encodeURIComponent(runId)}/steps/${s.step_index as number}`, s);
  }
  trace(runId: string, t: Json): Promise<Response> {
    return this.call('PUT', `/runs/${encodeURIComponent(runId)}/trace`, t);
  }
  heartbeat(body: Json): Promise<Response> {
    return this.call('POST', '/heartbeat', body);
  }
  logs(runId: string, text: string, stepIndex?: number): Promise<Response> {
    return this.call('POST', `/runs/${encodeURIComponent(runId)}/logs`, { text, ...(stepIndex === undefined ? {} : { step_index: stepIndex }) });
  }
  modelio(runId: string, rel: string, rec: Json): Promise<Response> {
    return this.call('POST', `/runs/${encodeURIComponent(runId)}/modelio/${rel}`, rec);
  }
  /**
   * SDK decision events ({ts, layer, kind, summary, detail}), sent as the SDK sends them.
   */
  events(runId: string, events: Json[], stepIndex?: number): Promise<Response> {
    const body = { events, ...(stepIndex === undefined ? {} : { step_index: stepIndex }) };
    return this.call('POST', `/runs/${encodeURIComponent(runId)}/events`, body);
  }
  async screenshot(runId: string, stepIndex: number, kind: string, png: Buffer): Promise<void> {
    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'shot.png');
    const res = await fetch(`${this.api}/runs/${encodeURIComponent(runId)}/screenshots/${stepIndex}/${kind}`, { method: 'POST', headers: { Authorization: `Bearer ${this.key}` }, body: form });
    if (res.status !== 200) throw new Error(`screenshot ${stepIndex}/${kind}: ${res.status} ${await res.text()}`);
  }
  /** Best effort: a route of the SDK that may not exist on this server yet (404/405 tolerated). */
  async optional(method: string, p: string, body: unknown): Promise<boolean> {
    const res = await this.call(method, p, body, [200, 201, 204, 404, 405, 422]);
    await res.arrayBuffer();
    return res.status < 300;
  }
}

export interface SeedOptions {
  runId: string;
  status: 'running' | 'succeeded' | 'failed' | 'cancelled' | 'halted';
  tags?: Json;
  /** Steps to send; default the fixture's three. */
  steps?: Json[];
  /** Screenshots for these step indexes (pre and post), drawn at 1280×800. */
  shots?: number[];
  startedAt?: string;
  client?: { name: string; version: string };
}

/** The fixture's steps, with today's findings hook (`result.status: error`) on the failed one. */
export function fixtureSteps(): Json[] {
  return [0, 1, 2].map((i) => {
    const s = fixtureJson(`steps/000${i}.json`);
    if (s.status === 'failed') s.result = { status: 'error', error: String((s.verdict as Json | undefined)?.reason ?? 'failed') };
    return s;
  });
}

/** One SDK-shaped run: manifest, steps, screenshots, events, logs, model I/O, then the trace. */
export async function seedRun(ing: Ingest, o: SeedOptions): Promise<void> {
  const manifest = fixtureJson('manifest.json');
  const session = fixtureJson('trace.json').session as Json;
  const client = o.client ?? (manifest.client as { name: string; version: string });
  const steps = (o.steps ?? fixtureSteps()).map((s) => ({ ...s, step_id: `${o.runId}/step/${String(s.step_index).padStart(4, '0')}` }));
  await ing.heartbeat({ client_id: `sdk_${o.runId.slice(-12)}`, client_name: client.name, client_version: client.version, capture_mode: 'full', run_id: o.runId });
  await ing.manifest(o.runId, { ...manifest, client, step_count: steps.length, created_at: o.startedAt ?? manifest.created_at });
  for (const s of steps) await ing.step(o.runId, s);
  for (const i of o.shots ?? []) {
    await ing.screenshot(o.runId, i, 'pre', loginPage(1280, 800, i === 1 ? 1 : 0));
    await ing.screenshot(o.runId, i, 'post', loginPage(1280, 800, i === 2 ? 2 : i === 1 ? 1 : 0));
  }
  if (!o.steps) {
    for (const i of [0, 1, 2]) await ing.events(o.runId, fixtureJsonl(`events/000${i}.jsonl`), i);
    await ing.events(o.runId, fixtureJsonl('events/run.jsonl'));
    for (const rel of ['0000-grounding-0.json', '0001-grounding-0.json', '0002-grounding-0.json', 'run-planner-0.json']) {
      const rec = fixtureJson(`modelio/${rel}`);
      if (rel.startsWith('0000')) withImage(rec, drawPng(64, 40, [{ x: 8, y: 8, w: 48, h: 24, rgb: [31, 138, 76] }]));
      await ing.modelio(o.runId, rel, rec);
    }
    await ing.logs(o.runId, 'clicked submit\nwaiting for navigation\nstill on /login after 3000 ms\n', 2);
    await ing.logs(o.runId, 'session opened\nplan: open, type, submit\nsession closed: failed\n');
    await seedSdkExtras(ing, o.runId);
  }
  if (o.status !== 'running') {
    await ing.trace(o.runId, {
      session: { ...session, run_id: o.runId, status: o.status, client, tags: o.tags ?? session.tags, started_at: o.startedAt ?? session.started_at },
      steps,
    });
  } else {
    await ing.trace(o.runId, { session: { ...session, run_id: o.runId, status: 'running', client, tags: o.tags ?? session.tags, ended_at: null }, steps });
  }
}

/** Paths of SDK calls this server may not have yet: reasoning, side effects, outcomes, eval candidates, judge decisions. */
const SDK_EXTRAS = /^\/api\/v1\/runs\/[^/]+\/(reasoning|side-effects|outcomes|eval-candidates|steps\/\d+\/judge-decisions)$/;

/**
 * Replays the real SDK's calls for the newer bundle files (fixture requests.jsonl, recorded from
 * SDK 0.1.14) against a run, best effort: each route the server does not have yet answers 404
 * and is skipped. Returns how many the server took, by kind.
 */
export async function seedSdkExtras(ing: Ingest, runId: string): Promise<Record<string, number>> {
  const taken: Record<string, number> = {};
  const recorded = fixture('requests.jsonl')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { run_id: string; method: string; path: string; body?: string });
  for (const r of recorded) {
    const m = SDK_EXTRAS.exec(r.path);
    if (!m || !r.body) continue;
    const body = JSON.parse(r.body.split(r.run_id).join(runId)) as unknown;
    const p = r.path.slice('/api/v1'.length).split(r.run_id).join(encodeURIComponent(runId));
    if (await ing.optional(r.method, p, body)) taken[m[1]!.replace(/^steps\/\d+\//, '')] = (taken[m[1]!.replace(/^steps\/\d+\//, '')] ?? 0) + 1;
  }
  return taken;
}

/** A step of a synthetic long run: clicks walking across the page, every 50th failing. */
export function syntheticStep(i: number): Json {
  const failed = i % 50 === 49;
  return {
    step_id: `long/step/${i}`,
    step_index: i,
    step_type: 'click',
    status: failed ? 'failed' : 'succeeded',
    ...(failed ? { failure_class: 'no_state_change' } : {}),
    intent: `Step ${i}: click item ${i % 20}`,
    action: { type: 'click', coordinate_space: 'viewport_css_px', params: { x: 40 + ((i * 37) % 1200), y: 80 + ((i * 53) % 680) } },
    grounding: { coordinates: { x: 40 + ((i * 37) % 1200), y: 80 + ((i * 53) % 680) }, target_label: `item ${i % 20}` },
    verdict: { status: failed ? 'failed' : 'passed', reason: failed ? 'nothing changed' : 'ok' },
    duration_ms: 300 + (i % 7) * 40,
    costs: { total_usd: 0.002 },
  };
}
