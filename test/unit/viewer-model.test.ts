import { describe, expect, it } from 'vitest';
import { evidenceTarget, isLive, normaliseFinding, stepFlag, type Step } from '../../viewer/src/model.js';
import { overlayOf, spaceScale } from '../../viewer/src/overlay.js';
import { groupRuns, tagMatch } from '../../viewer/src/runs-model.js';

/** The viewer's pure rules: where an action is drawn, which steps stand out, where evidence leads. */
describe('viewer overlay geometry', () => {
  const click = (space: string, extra: Record<string, unknown> = {}): Step => ({
    step_index: 0,
    action: { type: 'click', coordinate_space: space, params: { x: 100, y: 50, ...extra } },
  });

  it('draws viewport CSS px at viewport scale unless the viewport or a scale is known', () => {
    expect(spaceScale(click('viewport_css_px'), 1280)).toBe(1);
    expect(spaceScale({ ...click('viewport_css_px'), viewport: { width: 640 } }, 1280)).toBe(2);
    expect(spaceScale(click('viewport_css_px', { screenshot_scale: 0.5 }), 640)).toBe(0.5);
    expect(overlayOf({ ...click('viewport_css_px'), viewport: { width: 640 } }, 1280).points).toEqual([{ x: 200, y: 100 }]);
  });

  it('maps device px through the device scale factor when the viewport is known', () => {
    expect(spaceScale(click('device_px'), 2560)).toBe(1);
    expect(spaceScale({ ...click('device_px', { device_scale_factor: 2 }), viewport: { width: 1280 } }, 1280)).toBe(0.5);
    expect(spaceScale(click('screenshot_px'), 999)).toBe(1);
  });

  it('reads points, drag paths, typed text and grounding boxes in their usual shapes', () => {
    expect(overlayOf({ step_index: 0, action: { type: 'left_click', params: { coordinate: [7, 9] } } }, 100).points).toEqual([{ x: 7, y: 9 }]);
    const drag = overlayOf({ step_index: 0, action: { type: 'drag', params: { path: [[1, 2], { x: 3, y: 4 }, [5, 6]] } } }, 100);
    expect(drag.path).toEqual([{ x: 1, y: 2 }, { x: 3, y: 4 }, { x: 5, y: 6 }]);
    expect(drag.points).toEqual([]);
    expect(overlayOf({ step_index: 0, action: { type: 'drag', params: { start: [0, 0], end: [10, 20] } } }, 100).path).toEqual([{ x: 0, y: 0 }, { x: 10, y: 20 }]);
    expect(overlayOf({ step_index: 0, action: { type: 'type', params: { text: 'alice' } } }, 100).text).toBe('alice');
    expect(overlayOf({ step_index: 0, grounding: { coordinates: [10, 20, 30, 60], target_label: 'OK' } }, 100)).toMatchObject({ grounding: { x: 10, y: 20, w: 20, h: 40 }, label: 'OK' });
    expect(overlayOf({ step_index: 0, grounding: { coordinates: { x: 1, y: 2, width: 3, height: 4 } } }, 100).grounding).toEqual({ x: 1, y: 2, w: 3, h: 4 });
  });
});

describe('viewer step and finding rules', () => {
  it('makes failed and flagged steps stand out', () => {
    expect(stepFlag({ step_index: 0, status: 'succeeded' })).toBeUndefined();
    expect(stepFlag({ step_index: 0, status: 'failed' })).toBe('failed');
    expect(stepFlag({ step_index: 0, result: { status: 'error' } })).toBe('failed');
    expect(stepFlag({ step_index: 0, status: 'succeeded', failure_class: 'no_state_change' })).toBe('flagged');
    expect(stepFlag({ step_index: 0, judge_decisions: [{ verdict: { status: 'failed' } }] })).toBe('flagged');
  });

  it('reads findings in both shapes and links evidence to steps, screenshots and log lines', () => {
    const sdk = normaliseFinding({ rule_id: 'cua.no_state_change', severity: 'high', summary: 's', step_index: 2, evidence: [{ type: 'screenshot', ref: 'screenshots/0002_post.png' }, { type: 'log', ref: 'logs/run.log#L12' }] });
    expect(sdk).toMatchObject({ rule: 'cua.no_state_change', severity: 'high', step_index: 2 });
    expect(sdk.evidence.map((e) => e.type)).toEqual(['step', 'screenshot', 'log']);
    expect(normaliseFinding({ code: 'step_error', severity: 'error', title: 'Step 2 failed', detail: 'd', step_index: 2, evidence: { x: 1 } })).toMatchObject({ rule: 'step_error', summary: 'Step 2 failed', evidence: [{ type: 'step', ref: 'steps/0002.json' }] });
    expect(evidenceTarget('screenshots/0002_post.png')).toEqual({ step: 2, shot: 'post' });
    expect(evidenceTarget('diagnostics/diff/0003.png')).toEqual({ step: 3, shot: 'server-diff' });
    expect(evidenceTarget('events/0004.jsonl')).toEqual({ step: 4 });
    expect(evidenceTarget('logs/run.log#L12')).toEqual({ log: 'run', line: 12, step: undefined });
    expect(evidenceTarget('logs/step-5.log#L3-L9')).toEqual({ log: 'step-5', line: 3, step: 5 });
    expect(evidenceTarget('trace.json')).toEqual({});
  });

  it('calls a run live from its flag, else from a heartbeat in the last 60 s while running', () => {
    const now = Date.parse('2026-12-01T12:00:00Z');
    expect(isLive({ run_id: 'a', live: true, status: 'failed' }, now)).toBe(true);
    expect(isLive({ run_id: 'a', status: 'running', last_heartbeat: '2026-12-01T11:59:30Z' }, now)).toBe(true);
    expect(isLive({ run_id: 'a', status: 'running', last_heartbeat: '2026-12-01T11:58:00Z' }, now)).toBe(false);
    expect(isLive({ run_id: 'a', status: 'succeeded', last_heartbeat: '2026-12-01T11:59:59Z' }, now)).toBe(false);
  });
});

describe('viewer runs list rules', () => {
  it('filters on a tag as key=value, key:value or a bare key', () => {
    const r = { run_id: 'a', tags: { env: 'CI', team: 'web' } };
    expect(tagMatch(r, '')).toBe(true);
    expect(tagMatch(r, 'env=ci')).toBe(true);
    expect(tagMatch(r, 'env: ci')).toBe(true);
    expect(tagMatch(r, 'env=prod')).toBe(false);
    expect(tagMatch(r, 'team')).toBe(true);
    expect(tagMatch({ run_id: 'b' }, 'team')).toBe(false);
  });

  it('nests child runs under their parent row, with a stand-in when the parent is not listed', () => {
    const rows = [
      { run_id: 'p', created_at: 't' },
      { run_id: 'p:branch:1a2b3c4d', created_at: 't' },
      { run_id: 'c2', parent_run_id: 'p', created_at: 't' },
      { run_id: 'orphan', parent_run_id: 'gone', created_at: 't' },
      { run_id: 'g1', group_id: 'G', created_at: 't' },
      { run_id: 'g2', group_id: 'G', created_at: 't' },
      { run_id: 'solo', group_id: 'H', created_at: 't' },
    ];
    const out = groupRuns(rows);
    expect(out.map((r) => r.run_id)).toEqual(['p', 'gone', 'group G', 'solo']);
    expect(out[0]!.children!.map((r) => r.run_id)).toEqual(['p:branch:1a2b3c4d', 'c2']);
    expect(out[1]!.children!.map((r) => r.run_id)).toEqual(['orphan']);
    expect(out[2]!.children!.map((r) => r.run_id)).toEqual(['g1', 'g2']);
  });
});
