import type { SideEffectStatus } from '../../server/services/bundle.js';
import { readdirSync, readFileSync } from 'node:fs';
import { crc32, deflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { framePng } from '../../scripts/lib/frames.js';
import { BundleKeys } from '../../server/services/bundle.js';
import { Diagnostics, diagnosticsFor } from '../../server/services/diagnostics/findings.js';
import { TraceView } from '../../server/services/trace-view.js';
import { PROFILES, productionAvailable } from '../helpers/backends.js';
import { expectError, expectSchema } from '../helpers/schemas.js';
import { startTestServer, type TestServer, type TestTenant } from '../helpers/server.js';
import { pngForm } from './ingest-fixtures.js';
import { get, login } from './read-helpers.js';

const FIX = new URL('../fixtures/sdk-0.1.14/', import.meta.url);
const fixture = (rel: string) => readFileSync(new URL(rel, FIX));
const fixtureJson = (rel: string) => JSON.parse(fixture(rel).toString('utf8')) as Record<string, unknown>;

interface Doc {
  schema_version: string;
  run_id: string;
  generated_at: string;
  findings: Array<{ rule_id: string; severity: string; summary: string; step_index?: number; evidence: Array<{ type: string; ref: string }> }>;
}
/** A PNG built by hand (RGBA, 8 bits): any declared size, any IDAT. */
function rawPng(w: number, h: number, idat: Buffer): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 6;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}
const ids = (d: Doc) => d.findings.map((f) => `${f.rule_id}@${f.step_index ?? '-'}`);

describe.each(PROFILES)('diagnostics on %s backends', (profile) => {
  let s: TestServer;
  let t: TestTenant;
  let cookie: string;
  const skip = profile === 'production' && !productionAvailable();
  beforeAll(async () => {
    if (skip) return;
    s = await startTestServer(profile);
    t = await s.tenant({ modelio: true });
    ({ cookie } = await login(s.api, t.email, t.password));
  });
  afterAll(async () => s?.close());

  const ingest = async (method: string, path: string, body: unknown) => {
    const r = await fetch(`${s.api}${path}`, {
      method,
      headers: { authorization: `Bearer ${t.key}`, ...(body instanceof FormData ? {} : { 'content-type': 'application/json' }) },
      body: body instanceof FormData ? body : JSON.stringify(body),
    });
    expect(r.status, `${method} ${path}: ${await r.clone().text()}`).toBeLessThan(300);
  };
  const shot = (run: string, i: number, kind: string, png: Buffer) => ingest('POST', `/runs/${run}/screenshots/${i}/${kind}`, pngForm(png));
  const findings = async (run: string, query = ''): Promise<Doc> => {
    const r = await get(`${s.api}/runs/${run}/diagnostics/findings.json${query}`, cookie);
    const text = await r.text();
    expect(r.status, text).toBe(200);
    const d = JSON.parse(text) as Doc;
    expectSchema(d, 'findings.schema.json');
    return d;
  };

  it.skipIf(skip)('the SDK 0.1.14 run as the SDK streamed it: its own finding (cua.no_state_change at step 2) and no server finding', async () => {
    const run = 'run_sdk_fixture';
    await ingest('POST', '/runs', { ...fixtureJson('manifest.json'), run_id: run });
    for (const f of readdirSync(new URL('steps/', FIX))) await ingest('PUT', `/runs/${run}/steps/${Number(f.slice(0, 4))}`, fixtureJson(`steps/${f}`));
    for (const f of readdirSync(new URL('screenshots/', FIX))) await shot(run, Number(f.slice(0, 4)), f.slice(5, -4), fixture(`screenshots/${f}`));
    for (const f of readdirSync(new URL('modelio/', FIX))) await ingest('POST', `/runs/${run}/modelio/${f}`, fixtureJson(`modelio/${f}`));
    const keys = new BundleKeys(t.id, run);
    // Side effects as the SDK writes them (their ingest route is not this branch's).
    // Side effects are stored one record per state, as POST /side-effects writes them.
    for (const f of readdirSync(new URL('side_effects/', FIX))) {
      const body = fixture(`side_effects/${f}`);
      const status = (JSON.parse(body.toString('utf8')) as { status: SideEffectStatus }).status;
      await s.ctx.stores.objects.put(keys.sideEffectState(f.replace(/\.json$/, ''), status), body, { contentType: 'application/json' });
    }
    const trace = fixtureJson('trace.json');
    await ingest('PUT', `/runs/${run}/trace`, { ...trace, session: { ...(trace.session as object), run_id: run } });
    await diagnosticsFor(s.ctx).pixels.idle();

    const d = await findings(run);
    expect(d).toMatchObject({ schema_version: '2.0', run_id: run, generated_at: new Date(s.clock.now()).toISOString() });
    expect(ids(d)).toEqual(['cua.no_state_change@2']);
    // The server drew pre-against-post pictures (the SDK sent no diff screenshots).
    const diff = await get(`${s.api}/runs/${run}/diagnostics/diff/0001.png`, cookie);
    expect(diff.status).toBe(200);
    expect(diff.headers.get('content-type')).toBe('image/png');
    expect(PNG.sync.read(Buffer.from(await diff.arrayBuffer()))).toMatchObject({ width: 16, height: 12 });
  });

  it.skipIf(skip)('a failing agent: pixel, loop, model, side-effect, verifier and ledger findings, sorted and filterable', async () => {
    const run = 'run_stuck';
    const page = framePng(160, 100, { x: 10, y: 10, w: 40, h: 20 });
    const base = fixtureJson('steps/0000.json');
    const step = (i: number, extra: Record<string, unknown> = {}) => ({ ...base, step_id: `${run}/step/${i}`, step_index: i, observation_pre: `screenshots/000${i}_pre.png`, observation_post: `screenshots/000${i}_post.png`, ...extra });
    await ingest('POST', '/runs', { ...fixtureJson('manifest.json'), run_id: run, step_count: 7 });
    // Steps 0–3 click the same point and the screen never changes.
    for (const i of [0, 1, 2, 3]) {
      await ingest('PUT', `/runs/${run}/steps/${i}`, step(i, i === 3 ? { failure_class: 'no_state_change' } : {}));
      await shot(run, i, 'pre', page);
      await shot(run, i, 'post', page);
    }
    // Step 4: the verifier says it failed; its screenshots are a PNG with a broken CRC and a 4097-wide one.
    await ingest('PUT', `/runs/${run}/steps/4`, step(4, { action: { type: 'click', coordinate_space: 'viewport_css_px', params: { x: 500, y: 20 } }, verdict: { status: 'failed', reason: 'still on login' }, failure_class: 'wrong_page' }));
    const broken = Buffer.from(framePng(160, 100));
    broken[broken.length - 20]! ^= 0xff;
    await shot(run, 4, 'pre', broken);
    await shot(run, 4, 'post', framePng(4097, 2));
    await s.ctx.appends.append(new BundleKeys(t.id, run).events(4), Buffer.from(`${JSON.stringify({ ts: '2026-12-01T19:13:43Z', layer: 'verifier', kind: 'observation', summary: 'login form still shown', step_index: 4 })}\n`), null, 'application/x-ndjson');
    // Step 5 never arrives, but an event of it does, and a screenshot of step 6; step 6's model call failed.
    await s.ctx.appends.append(new BundleKeys(t.id, run).events(5), Buffer.from(`${JSON.stringify({ ts: '2026-12-01T19:13:44Z', layer: 'model', kind: 'decision', summary: 'retry', step_index: 5 })}\n`), null, 'application/x-ndjson');
    await shot(run, 6, 'pre', page);
    await ingest('POST', `/runs/${run}/modelio/0006-planner-0.json`, { ...fixtureJson('modelio/0001-grounding-0.json'), step_index: 6, error: { type: 'overloaded_error', message: 'Overloaded' } });
    const keys = new BundleKeys(t.id, run);
    await s.ctx.stores.objects.put(keys.sideEffectState('0004-se_pay', 'intent_only'), JSON.stringify({ side_effect_id: 'se_pay', step_index: 4, resource: 'stripe:cus_x', action: 'payment_create', status: 'intent_only', reversibility: 'irreversible' }), { contentType: 'application/json' });
    const steps = [0, 1, 2, 3].map((i) => step(i, i === 3 ? { failure_class: 'no_state_change' } : {}));
    await ingest('PUT', `/runs/${run}/trace`, { session: { ...(fixtureJson('trace.json').session as object), run_id: run, status: 'failed' }, steps });
    await diagnosticsFor(s.ctx).pixels.idle();

    const d = await findings(run);
    expect(ids(d)).toEqual([
      'augur.side_effect_unresolved@4',
      'augur.stuck_loop@3',
      'cua.verifier_disagrees@4',
      'augur.model_error@6',
      'augur.no_op_action@0',
      'cua.repeated_action_stable_frame@1',
      'augur.no_op_action@1',
      'cua.repeated_action_stable_frame@2',
      'augur.no_op_action@2',
      'cua.repeated_action_stable_frame@3',
      'cua.no_state_change@3',
      'augur.no_op_action@3',
      'augur.click_outside_target@4',
      'augur.steps_missing@5',
      'augur.artifacts_without_step@5',
      'augur.artifacts_without_step@6',
    ]);
    const noop = d.findings.find((f) => f.rule_id === 'augur.no_op_action')!;
    expect(noop.evidence).toContainEqual({ type: 'diff', ref: 'diagnostics/diff/0000.png' });
    // Neither undecodable screenshot gave a pixel finding or a diff picture.
    expect(d.findings.filter((f) => f.step_index === 4).map((f) => f.rule_id).sort()).toEqual(['augur.click_outside_target', 'augur.side_effect_unresolved', 'cua.verifier_disagrees']);
    await expectError(await get(`${s.api}/runs/${run}/diagnostics/diff/0004.png`, cookie), 404, 'not_found');
    expect((await get(`${s.api}/runs/${run}/diagnostics/diff/0000.png`, cookie)).status).toBe(200);

    const high = await findings(run, '?severity=high');
    expect(ids(high)).toEqual(['augur.side_effect_unresolved@4', 'augur.stuck_loop@3', 'cua.verifier_disagrees@4', 'augur.model_error@6']);
    expect(ids(await findings(run, '?severity=critical'))).toEqual(['augur.side_effect_unresolved@4']);
    const bad = await expectError(await get(`${s.api}/runs/${run}/diagnostics/findings.json?severity=urgent`, cookie), 422, 'validation_failed');
    expect(bad.errors).toEqual([expect.objectContaining({ loc: ['query', 'severity'] })]);
  });

  it.skipIf(skip)('pixel work is done once: at ingest in the background, then kept in the store for a fresh replica', async () => {
    const run = 'run_incremental';
    const a = framePng(120, 80);
    const b = framePng(120, 80, { x: 30, y: 20, w: 40, h: 30 });
    await diagnosticsFor(s.ctx).pixels.idle();
    const readBefore = diagnosticsFor(s.ctx).pixels.readBack;
    for (const i of [0, 1]) {
      await ingest('PUT', `/runs/${run}/steps/${i}`, { ...fixtureJson('steps/0000.json'), step_index: i });
      await shot(run, i, 'pre', a);
      await shot(run, i, 'post', i === 0 ? b : a);
    }
    const d = diagnosticsFor(s.ctx);
    await d.pixels.idle();
    // Each frame was kept from its upload and a step's pre was still held decoded for its post:
    // nothing was read back from the store.
    expect(d.pixels.readBack - readBefore).toBe(0);
    expect(d.pixels.fresh.busy).toBe(0);
    const before = d.pixels.computed;
    expect(ids(await findings(run))).toEqual(['cua.repeated_action_stable_frame@1', 'augur.no_op_action@1']);
    expect(d.pixels.computed).toBe(before);
    // Another replica (empty memory) reads the stored records and computes nothing.
    const fresh = new Diagnostics(s.ctx);
    const keys = new BundleKeys(t.id, run);
    const doc = await fresh.findings({ keys, runId: run, trace: await new TraceView(s.ctx.stores.objects, s.ctx.logger).load(keys), run: undefined });
    expect(ids(doc as Doc)).toEqual(['cua.repeated_action_stable_frame@1', 'augur.no_op_action@1']);
    expect(fresh.pixels.computed).toBe(0);
    // A replaced screenshot (new ETag) is worked out again, and its finding goes.
    await shot(run, 1, 'post', b);
    await d.pixels.idle();
    expect(ids(await findings(run))).toEqual(['cua.repeated_action_stable_frame@1']);
  });

  it.skipIf(skip)('hostile screenshots through ingest (a decompression bomb, a 4096×4096 image whose data stops short, garbage after the header) give no pixel finding and no error', async () => {
    const run = 'run_hostile';
    const bomb = rawPng(64, 64, deflateSync(Buffer.alloc(64 * 1024 * 1024)));
    const huge = rawPng(4096, 4096, deflateSync(Buffer.alloc(16)));
    const garbage = Buffer.concat([rawPng(32, 32, Buffer.alloc(0)).subarray(0, 33), Buffer.alloc(500, 0x41)]);
    const bodies = [bomb, huge, garbage];
    for (const [i, png] of bodies.entries()) {
      await ingest('PUT', `/runs/${run}/steps/${i}`, { ...fixtureJson('steps/0000.json'), step_index: i, action: { type: 'click', params: { x: 100, y: 200 + i } } });
      await shot(run, i, 'pre', png);
      await shot(run, i, 'post', png);
    }
    await diagnosticsFor(s.ctx).pixels.idle();
    expect(ids(await findings(run))).toEqual([]);
    for (const i of [0, 1, 2]) await expectError(await get(`${s.api}/runs/${run}/diagnostics/diff/000${i}.png`, cookie), 404, 'not_found');
    // The screenshots themselves read back as sent.
    expect(Buffer.from(await (await get(`${s.api}/runs/${run}/screenshots/0000_pre.png`, cookie)).arrayBuffer()).equals(bomb)).toBe(true);
  });

  it.skipIf(skip)('a stalled live run; a missing run is 404', async () => {
    const run = 'run_quiet';
    await ingest('PUT', `/runs/${run}/steps/1`, { ...fixtureJson('steps/0001.json'), observation_pre: null, observation_post: null });
    await s.ctx.runIndex.flush();
    expect(ids(await findings(run))).toEqual([]);
    s.clock.advance(5 * 60_000 + 1000);
    expect(ids(await findings(run))).toEqual(['augur.run_stalled@-']);
    await expectError(await get(`${s.api}/runs/run_nothing/diagnostics/findings.json`, cookie), 404, 'not_found');
    await expectError(await get(`${s.api}/runs/run_nothing/diagnostics/diff/0000.png`, cookie), 404, 'not_found');
  });
});
