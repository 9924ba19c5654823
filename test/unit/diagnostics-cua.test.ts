import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CUA_RULES, type CuaContext, cuaEventSteps, runCuaRules } from '../../server/services/diagnostics/rules-cua.js';
import type { StepDoc } from '../../server/services/diagnostics/types.js';
import { expectSchema } from '../helpers/schemas.js';

/** The SDK bundle's steps, as the SDK 0.1.14 wrote them. */
const SDK_STEPS = (JSON.parse(readFileSync(new URL('../fixtures/sdk-0.1.14/trace.json', import.meta.url), 'utf8')) as { steps: StepDoc[] }).steps;
const base = (i: number, extra: Record<string, unknown> = {}): StepDoc => ({ ...structuredClone(SDK_STEPS[0]!), step_index: i, ...extra });

function ctx(steps: StepDoc[], over: Partial<CuaContext> = {}): CuaContext {
  return { steps, declaredMissing: new Set(), present: new Set(steps.flatMap((s) => [s.observation_pre, s.observation_post].filter((x): x is string => typeof x === 'string'))), events: () => [], logPaths: [], replayFixtures: [], ...over };
}
const fired = (id: string, c: CuaContext) => CUA_RULES.find((r) => r.id === id)!.run(c);

describe('cua rule pack', () => {
  it('has the SDK\'s twelve rules with its severities', () => {
    expect(CUA_RULES.map((r) => `${r.id}:${r.severity}`)).toEqual([
      'cua.repeated_action_stable_frame:medium',
      'cua.click_outside_viewport:high',
      'cua.coordinate_space_mismatch:high',
      'cua.dom_used_as_runtime_target:high',
      'cua.no_state_change:medium',
      'cua.verifier_disagrees:high',
      'cua.dispatch_ok_state_fail:high',
      'cua.invalid_action_schema:critical',
      'cua.missing_observation:low',
      'cua.replay_diff:medium',
      'cua.high_cost_infra_failure:high',
      'cua.uncategorized_failure:low',
    ]);
  });

  it('on the SDK bundle: only cua.no_state_change fires (step 2), as the SDK\'s own engine would', () => {
    const f = runCuaRules(ctx(SDK_STEPS));
    expect(f.map((x) => `${x.rule_id}@${x.step_index}`)).toEqual(['cua.no_state_change@2']);
    for (const x of f) expectSchema({ schema_version: '2.0', run_id: 'r', generated_at: '2025-01-01T00:00:00Z', findings: [x] }, 'findings.schema.json');
  });

  it('cua.repeated_action_stable_frame: same coordinates twice with no state change', () => {
    const a = base(0, { failure_class: 'no_state_change' });
    const b = base(1);
    expect(fired('cua.repeated_action_stable_frame', ctx([a, b]))).toMatchObject([{ step_index: 1, evidence: [{ ref: 'steps/0000.json' }, { ref: 'steps/0001.json' }] }]);
    // Other coordinates, or a failure of another class, do not count.
    expect(fired('cua.repeated_action_stable_frame', ctx([a, base(1, { action: { type: 'click', params: { x: 101, y: 200 } } })]))).toEqual([]);
    expect(fired('cua.repeated_action_stable_frame', ctx([a, base(1, { failure_class: 'grounding_miss' })]))).toEqual([]);
  });

  it('cua.click_outside_viewport: viewport_css_px coordinates beyond the declared viewport', () => {
    const meta = { observation_pre_meta: { viewport: { width: 1280, height: 800 } } };
    expect(fired('cua.click_outside_viewport', ctx([base(0, { ...meta, action: { type: 'click', coordinate_space: 'viewport_css_px', params: { x: 1300, y: 10 } } })]))).toHaveLength(1);
    expect(fired('cua.click_outside_viewport', ctx([base(0, { ...meta })]))).toEqual([]);
    // Without a declared viewport there is nothing to compare with.
    expect(fired('cua.click_outside_viewport', ctx([base(0, { action: { type: 'click', coordinate_space: 'viewport_css_px', params: { x: 9999, y: 10 } } })]))).toEqual([]);
  });

  it('cua.coordinate_space_mismatch and cua.dom_used_as_runtime_target: DOM-grounded targets', () => {
    const dom = base(0, { grounding: { provider: 'p', provenance: 'dom' } });
    expect(fired('cua.coordinate_space_mismatch', ctx([dom]))).toHaveLength(1);
    expect(fired('cua.dom_used_as_runtime_target', ctx([dom]))).toHaveLength(1);
    const deviceSpace = base(0, { grounding: { provider: 'p', provenance: 'dom' }, action: { type: 'key', coordinate_space: 'device_px', params: { key: 'Enter' } } });
    expect(fired('cua.coordinate_space_mismatch', ctx([deviceSpace]))).toEqual([]);
    expect(fired('cua.dom_used_as_runtime_target', ctx([deviceSpace]))).toEqual([]);
    expect(fired('cua.coordinate_space_mismatch', ctx([base(0)]))).toEqual([]);
    expect(fired('cua.dom_used_as_runtime_target', ctx([base(0)]))).toEqual([]);
  });

  it('cua.no_state_change: the failure class, or a recoverable verdict saying so', () => {
    expect(fired('cua.no_state_change', ctx([base(0, { verdict: { status: 'recoverable', reason: 'No visible state change after click' } })]))).toHaveLength(1);
    expect(fired('cua.no_state_change', ctx([base(0, { verdict: { status: 'failed', reason: 'no visible state change' } })]))).toEqual([]);
  });

  it('cua.verifier_disagrees: a failed verdict backed by a verifier event', () => {
    const s = base(0, { verdict: { status: 'failed', reason: 'x' } });
    expect(cuaEventSteps([s, base(1)])).toEqual([0]);
    expect(fired('cua.verifier_disagrees', ctx([s], { events: () => [{ layer: 'verifier', kind: 'observation' }] }))).toHaveLength(1);
    expect(fired('cua.verifier_disagrees', ctx([s], { events: () => [{ layer: 'model', kind: 'decision' }] }))).toEqual([]);
  });

  it('cua.dispatch_ok_state_fail, cua.invalid_action_schema', () => {
    expect(fired('cua.dispatch_ok_state_fail', ctx([base(0, { failure_class: 'dispatch_ok_state_fail' })]))).toHaveLength(1);
    expect(fired('cua.dispatch_ok_state_fail', ctx([base(0)]))).toEqual([]);
    expect(fired('cua.invalid_action_schema', ctx([base(0, { action: { params: {} } }), base(1, { action: { type: '' } })])).map((f) => f.severity)).toEqual(['critical', 'critical']);
    expect(fired('cua.invalid_action_schema', ctx([base(0)]))).toEqual([]);
  });

  it('cua.missing_observation: named, absent and not declared missing', () => {
    const s = base(0);
    expect(fired('cua.missing_observation', ctx([s], { present: new Set(['screenshots/0000_pre.png']) }))).toMatchObject([{ severity: 'low', summary: expect.stringContaining('screenshots/0000_post.png') }]);
    expect(fired('cua.missing_observation', ctx([s], { present: new Set(['screenshots/0000_pre.png']), declaredMissing: new Set(['screenshots/0000_post.png']) }))).toEqual([]);
    expect(fired('cua.missing_observation', ctx([s]))).toEqual([]);
  });

  it('cua.replay_diff: a fixture for a failing step', () => {
    const s = base(3, { verdict: { status: 'failed' } });
    expect(fired('cua.replay_diff', ctx([s], { replayFixtures: ['replay/0003_fixture.json'] }))).toMatchObject([{ step_index: 3, evidence: [{ ref: 'steps/0003.json' }, { ref: 'replay/0003_fixture.json' }] }]);
    expect(fired('cua.replay_diff', ctx([base(3)], { replayFixtures: ['replay/0003_fixture.json'] }))).toEqual([]);
  });

  it('cua.high_cost_infra_failure: an infra failure in the first three steps, with the logs as evidence', () => {
    const steps = [base(0), base(1, { failure_class: 'infra_failure' })];
    expect(fired('cua.high_cost_infra_failure', ctx(steps, { logPaths: ['logs/run.log'] }))).toMatchObject([{ step_index: 1, evidence: [{ ref: 'steps/0001.json' }, { type: 'log', ref: 'logs/run.log' }] }]);
    const late = [base(0), base(1), base(2), base(3, { failure_class: 'infra_failure' })];
    expect(fired('cua.high_cost_infra_failure', ctx(late))).toEqual([]);
  });

  it('cua.uncategorized_failure: a failed step without a usable failure class', () => {
    expect(fired('cua.uncategorized_failure', ctx([base(0, { status: 'failed' }), base(1, { status: 'failed', failure_class: 'unknown' })]))).toHaveLength(2);
    expect(fired('cua.uncategorized_failure', ctx([base(0, { status: 'failed', failure_class: 'grounding_miss' }), base(1)]))).toEqual([]);
  });
});
