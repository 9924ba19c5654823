import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cuaV1, stepToken } from '../../server/services/diagnostics/fingerprint.js';
import type { PixelRecord } from '../../server/services/diagnostics/pixel-jobs.js';
import {
  type AugurContext,
  clickOutsideTarget,
  completeness,
  costSpikes,
  latencyOutliers,
  MODEL_TIMEOUT_MS,
  modelErrors,
  noOpAction,
  STALL_MS,
  stuckLoop,
  summarizeModelio,
  summarizeSideEffect,
  unresolvedSideEffects,
} from '../../server/services/diagnostics/rules-augur.js';
import { median, scaledMad } from '../../server/services/diagnostics/stats.js';
import { type Finding, sortFindings, type StepDoc } from '../../server/services/diagnostics/types.js';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/sdk-0.1.14/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;
const SDK_STEPS = (fixture('trace.json') as { steps: StepDoc[] }).steps;
const step = (i: number, extra: Record<string, unknown> = {}): StepDoc => ({ ...structuredClone(SDK_STEPS[0]!), step_index: i, ...extra });

const H1 = '0f0f0f0f0f0f0f0f';
const H1_NEAR = '0f0f0f0f0f0f0f0e'; // 1 bit away
const H2 = 'f0f0f0f0f0f0f0f0';
function rec(i: number, over: Partial<PixelRecord> = {}): PixelRecord {
  return { v: 1, step: i, pre: { etag: `a${i}`, width: 10, height: 10, hash: H1 }, post: { etag: `b${i}`, width: 10, height: 10, hash: H1 }, diff: { changed: 0, total: 100, ratio: 0, sizeMismatch: false }, diffImage: true, ...over };
}
function ctx(over: Partial<AugurContext> = {}): AugurContext {
  return { steps: [], pixels: new Map(), ended: true, live: false, now: 1_000_000_000, modelio: new Map(), sideEffects: new Map(), artifactSteps: new Map(), ...over };
}

describe('trajectory fingerprint cua_v1', () => {
  it("gives the SDK bundle's manifest value for its trace", () => {
    expect(cuaV1(SDK_STEPS)).toBe(fixture('manifest.json').trajectory_fingerprint);
    expect(cuaV1(SDK_STEPS)).toBe('cua_v1:25ede68c4121b580939177770d6c462e4962f84d80292bca00bac6c4b5c41849');
  });
  it('tokens: failure class before verdict, labels normalised; order matters', () => {
    expect(stepToken({ action: { type: 'click' }, verdict: { status: 'passed' }, grounding: { target_label: 'Login  Button!' } })).toBe('click:passed:loginbutton');
    expect(stepToken({ action: { type: 'click' }, failure_class: 'no_state_change', verdict: { status: 'failed' } })).toBe('click:no_state_change:');
    expect(stepToken({})).toBe('::');
    expect(cuaV1([...SDK_STEPS].reverse())).not.toBe(cuaV1(SDK_STEPS));
    expect(cuaV1([])).toMatch(/^cua_v1:[0-9a-f]{64}$/);
  });
});

describe('augur.no_op_action', () => {
  it('fires when pre and post are the same picture, pointing at the server diff', () => {
    const f = noOpAction(ctx({ steps: [step(0)], pixels: new Map([[0, rec(0)]]) }));
    expect(f).toMatchObject([{ rule_id: 'augur.no_op_action', severity: 'medium', step_index: 0 }]);
    expect(f[0]!.evidence).toContainEqual({ type: 'diff', ref: 'diagnostics/diff/0000.png' });
  });
  it('does not fire on a visible change, a passive action, a size change or without both frames', () => {
    const changed = rec(0, { diff: { changed: 50, total: 100, ratio: 0.5, sizeMismatch: false } });
    expect(noOpAction(ctx({ steps: [step(0)], pixels: new Map([[0, changed]]) }))).toEqual([]);
    expect(noOpAction(ctx({ steps: [step(0, { action: { type: 'wait', params: {} } })], pixels: new Map([[0, rec(0)]]) }))).toEqual([]);
    expect(noOpAction(ctx({ steps: [step(0)], pixels: new Map([[0, rec(0, { diff: { changed: 100, total: 100, ratio: 1, sizeMismatch: true } })]]) }))).toEqual([]);
    const { diff: _d, ...noDiff } = rec(0);
    expect(noOpAction(ctx({ steps: [step(0)], pixels: new Map([[0, noDiff]]) }))).toEqual([]);
  });
});

describe('augur.stuck_loop', () => {
  const steps = [0, 1, 2, 3].map((i) => step(i));
  it('fires once for three or more repeats of one action on the same frame', () => {
    const pixels = new Map([0, 1, 2, 3].map((i) => [i, rec(i, { post: { etag: 'x', hash: i === 2 ? H1_NEAR : H1 } })]));
    const f = stuckLoop(ctx({ steps, pixels }));
    expect(f).toMatchObject([{ rule_id: 'augur.stuck_loop', severity: 'high', step_index: 3 }]);
    expect(f[0]!.evidence).toHaveLength(4);
  });
  it('does not fire when the frame changes or the action differs', () => {
    const moving = new Map([0, 1, 2, 3].map((i) => [i, rec(i, { post: { etag: 'x', hash: i % 2 ? H2 : H1 } })]));
    expect(stuckLoop(ctx({ steps, pixels: moving }))).toEqual([]);
    const same = new Map([0, 1, 2, 3].map((i) => [i, rec(i)]));
    const varied = steps.map((s, i) => ({ ...s, action: { type: 'click', params: { x: 100 + (i % 2) * 50, y: 200 } } }));
    expect(stuckLoop(ctx({ steps: varied, pixels: same }))).toEqual([]);
    expect(stuckLoop(ctx({ steps: steps.slice(0, 2), pixels: same }))).toEqual([]);
  });
});

describe('augur.click_outside_target', () => {
  it('fires for a click outside the grounded box, or far from a grounded point', () => {
    const box = step(0, { grounding: { provider: 'g', provenance: 'screenshot', coordinates: { x: 10, y: 10, width: 50, height: 20 } } });
    const point = step(1, { action: { type: 'click', coordinate_space: 'viewport_css_px', params: { x: 300, y: 200 } } });
    expect(clickOutsideTarget(ctx({ steps: [box, point] })).map((f) => f.step_index)).toEqual([0, 1]);
  });
  it('does not fire inside the box, near the point, or across coordinate spaces', () => {
    const inside = step(0, { grounding: { provider: 'g', provenance: 'screenshot', coordinates: { x1: 90, y1: 190, x2: 110, y2: 210 } } });
    const otherSpace = step(1, { grounding: { provider: 'g', provenance: 'screenshot', coordinate_space: 'device_px', coordinates: { x: 500, y: 500 } } });
    expect(clickOutsideTarget(ctx({ steps: [inside, otherSpace, ...SDK_STEPS] }))).toEqual([]);
  });
});

describe('outliers', () => {
  it('median and scaled MAD', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([1, 2, 3, 4])).toBe(2.5);
    expect(scaledMad([1, 1, 2, 2, 4, 6, 9])).toBeCloseTo(1.4826, 4);
  });
  it('augur.step_latency_outlier: one step far above the run', () => {
    const steps = [500, 520, 480, 510, 490, 15_000].map((d, i) => step(i, { duration_ms: d }));
    expect(latencyOutliers(ctx({ steps }))).toMatchObject([{ rule_id: 'augur.step_latency_outlier', step_index: 5, severity: 'low' }]);
    expect(latencyOutliers(ctx({ steps: steps.slice(0, 5) }))).toEqual([]);
    expect(latencyOutliers(ctx({ steps: [500, 520, 480, 1400, 490, 510].map((d, i) => step(i, { duration_ms: d })) }))).toEqual([]);
  });
  it('augur.cost_spike: one step far above the run', () => {
    const steps = [0.01, 0.012, 0.011, 0.01, 0.012, 0.5].map((v, i) => step(i, { costs: { total_usd: v } }));
    expect(costSpikes(ctx({ steps }))).toMatchObject([{ rule_id: 'augur.cost_spike', step_index: 5 }]);
    expect(costSpikes(ctx({ steps: steps.slice(0, 5) }))).toEqual([]);
    expect(costSpikes(ctx({ steps: SDK_STEPS }))).toEqual([]);
  });
});

describe('model errors and timeouts', () => {
  const sdkRecord = { schema_version: '0.1', layer: 'grounding', ts: '2026-12-01T19:13:43Z', request: { model: 'm' }, response: { stop_reason: 'tool_use', text: 'ok' }, duration_ms: 830, step_index: 1 };
  it('reads the SDK record shape: a normal call is no finding', () => {
    const m = new Map([['modelio/0001-grounding-0.json', summarizeModelio(sdkRecord)]]);
    expect(modelErrors(ctx({ modelio: m }))).toEqual([]);
  });
  it('an error field, a failing stop_reason or no response is augur.model_error; a timeout is augur.model_timeout', () => {
    const m = new Map([
      ['modelio/0001-grounding-0.json', summarizeModelio({ ...sdkRecord, error: { message: 'overloaded_error' } })],
      ['modelio/0002-planner-0.json', summarizeModelio({ ...sdkRecord, response: null })],
      ['modelio/0003-planner-0.json', summarizeModelio({ ...sdkRecord, response: { stop_reason: 'error' } })],
      ['modelio/0004-planner-0.json', summarizeModelio({ ...sdkRecord, error: 'Request timed out' })],
      ['modelio/run-planner-0.json', summarizeModelio({ ...sdkRecord, step_index: null, duration_ms: MODEL_TIMEOUT_MS })],
    ]);
    const f = modelErrors(ctx({ modelio: m }));
    expect(f.map((x) => `${x.rule_id}@${x.step_index}`)).toEqual(['augur.model_error@1', 'augur.model_error@2', 'augur.model_error@3', 'augur.model_timeout@4', 'augur.model_timeout@undefined']);
    expect(f[0]!.summary).toContain('overloaded_error');
  });
});

describe('augur.side_effect_unresolved', () => {
  const intent = summarizeSideEffect({ side_effect_id: 'se_1', step_index: 2, status: 'intent_only', action: 'payment_create', resource: 'stripe:cus_x', reversibility: 'irreversible' });
  it('an intent never committed or aborted when the run ended; critical when irreversible', () => {
    const f = unresolvedSideEffects(ctx({ sideEffects: new Map([['side_effects/0002-se_1.json', intent]]) }));
    expect(f).toMatchObject([{ severity: 'critical', step_index: 2, evidence: [{ ref: 'side_effects/0002-se_1.json' }, { ref: 'steps/0002.json' }] }]);
  });
  it('nothing while the run is live, or for committed and aborted effects', () => {
    expect(unresolvedSideEffects(ctx({ ended: false, live: true, sideEffects: new Map([['side_effects/0002-se_1.json', intent]]) }))).toEqual([]);
    const done = new Map([
      ['side_effects/0001-a.json', summarizeSideEffect({ status: 'committed', step_index: 1 })],
      ['side_effects/0002-b.json', summarizeSideEffect({ status: 'aborted', step_index: 2 })],
    ]);
    expect(unresolvedSideEffects(ctx({ sideEffects: done }))).toEqual([]);
  });
});

describe('completeness ledger', () => {
  it('steps declared but not received, files of steps never received, declared-missing files, a stalled live run', () => {
    const now = 1_000_000_000;
    const f = completeness(ctx({
      steps: [step(0), step(2)],
      manifest: { step_count: 4, missing: ['screenshots/0000_pre.png'] },
      artifactSteps: new Map([[0, ['screenshots/0000_post.png']], [5, ['events/0005.jsonl', 'screenshots/0005_pre.png']]]),
      ended: false,
      live: true,
      lastSeen: now - STALL_MS - 1,
      now,
    }));
    expect(f.map((x) => `${x.rule_id}:${x.severity}@${x.step_index}`)).toEqual(['augur.steps_missing:low@1', 'augur.artifacts_without_step:low@5', 'augur.declared_missing:info@undefined', 'augur.run_stalled:high@undefined']);
    expect(f[0]!.summary).toContain('1, 3');
  });
  it('nothing for a complete run, or a live one heard from recently', () => {
    const now = 1_000_000_000;
    expect(completeness(ctx({ steps: SDK_STEPS, manifest: fixture('manifest.json'), artifactSteps: new Map([[1, ['events/0001.jsonl']]]) }))).toEqual([]);
    expect(completeness(ctx({ steps: SDK_STEPS, ended: false, live: true, lastSeen: now - STALL_MS + 1000, now }))).toEqual([]);
  });
});

it('findings sort most severe first, then run-level, then by step', () => {
  const f = (severity: Finding['severity'], step_index?: number): Finding => ({ rule_id: 'a.b', severity, summary: '', evidence: [{ type: 'trace', ref: 'trace.json' }], ...(step_index !== undefined ? { step_index } : {}) });
  expect(sortFindings([f('low', 1), f('critical', 9), f('high', 3), f('high'), f('info', 0), f('high', 1)]).map((x) => `${x.severity}@${x.step_index}`)).toEqual([
    'critical@9', 'high@undefined', 'high@1', 'high@3', 'low@1', 'info@0',
  ]);
});

it('fingerprintOfTrace: cua_v1 of a merged trace\'s raw steps', async () => {
  const { fingerprintOfTrace } = await import('../../server/services/diagnostics/fingerprint.js');
  expect(fingerprintOfTrace({ steps: SDK_STEPS.map((s) => ({ raw: JSON.stringify(s) })) })).toBe(fixture('manifest.json').trajectory_fingerprint);
});
