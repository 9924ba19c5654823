import { eventsRef, type Evidence, type Finding, num, obj, type StepDoc, stepRef, str } from './types.js';

/**
 * The SDK's generic rule pack (`cua.*`), evaluated by the server on what the run holds. Each rule
 * is a pure function of a CuaContext and keeps the SDK's conditions, thresholds and severities,
 * so a finding means the same thing whichever side computed it.
 */
export interface CuaContext {
  /** The run's steps, by ascending step_index. */
  steps: StepDoc[];
  /** manifest.missing: paths the producer declared absent on purpose. */
  declaredMissing: ReadonlySet<string>;
  /** Bundle-relative paths of the run's stored screenshots. */
  present: ReadonlySet<string>;
  /** Decision events of a step (events/NNNN.jsonl); only the steps cuaEventSteps() names need loading. */
  events: (step: number) => ReadonlyArray<Record<string, unknown>>;
  /** Bundle-relative log paths (`logs/run.log`), sorted. */
  logPaths: readonly string[];
  /** Bundle-relative replay fixture paths (`replay/0003_fixture.json`). */
  replayFixtures: readonly string[];
}

export type CuaRule = { id: string; severity: Finding['severity']; run: (ctx: CuaContext) => Finding[] };

const action = (s: StepDoc) => obj(s.action);
const params = (s: StepDoc) => obj(action(s).params);
const grounding = (s: StepDoc) => obj(s.grounding);
const verdict = (s: StepDoc) => obj(s.verdict);

/** The action's x/y when params carries both (numbers, or numeric strings as Python's float() reads them). */
export function actionCoords(s: StepDoc): [number, number] | undefined {
  const p = params(s);
  if (!('x' in p) || !('y' in p)) return undefined;
  const f = (v: unknown) => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN);
  const x = f(p.x);
  const y = f(p.y);
  return Number.isFinite(x) && Number.isFinite(y) ? [x, y] : undefined;
}

const noChangeOrUnset = (s: StepDoc) => s.failure_class === undefined || s.failure_class === null || s.failure_class === 'no_state_change';

function rule(id: string, severity: Finding['severity'], fn: (ctx: CuaContext, emit: (f: Omit<Finding, 'rule_id' | 'severity'>) => void) => void): CuaRule {
  return {
    id,
    severity,
    run: (ctx) => {
      const out: Finding[] = [];
      fn(ctx, (f) => out.push({ rule_id: id, severity, ...f }));
      return out;
    },
  };
}

export const repeatedActionStableFrame = rule('cua.repeated_action_stable_frame', 'medium', (ctx, emit) => {
  let prev: StepDoc | undefined;
  for (const s of ctx.steps) {
    const cur = actionCoords(s);
    const before = prev && actionCoords(prev);
    if (prev && cur && before && cur[0] === before[0] && cur[1] === before[1] && noChangeOrUnset(s) && noChangeOrUnset(prev)) {
      emit({
        summary: `Steps ${prev.step_index} and ${s.step_index} acted on the same coordinates (${cur[0]},${cur[1]}) and nothing changed.`,
        evidence: [stepRef(prev.step_index), stepRef(s.step_index)],
        step_index: s.step_index,
        recommendation: 'Check where the target came from (grounding provenance) and its coordinate space before retrying the same point.',
      });
    }
    prev = s;
  }
});

/** The viewport the producer stamped on the step (`observation_pre_meta.viewport`), if any. */
function stepViewport(s: StepDoc): [number, number] | undefined {
  const vp = obj(obj(s.observation_pre_meta).viewport);
  const w = num(vp.width);
  const h = num(vp.height);
  return w !== undefined && h !== undefined ? [Math.trunc(w), Math.trunc(h)] : undefined;
}

export const clickOutsideViewport = rule('cua.click_outside_viewport', 'high', (ctx, emit) => {
  for (const s of ctx.steps) {
    const c = actionCoords(s);
    if (!c || action(s).coordinate_space !== 'viewport_css_px') continue;
    const vp = stepViewport(s);
    if (!vp) continue;
    const [x, y] = c;
    const [w, h] = vp;
    if (x < 0 || y < 0 || x > w || y > h) {
      emit({
        summary: `Step ${s.step_index} acts at (${x},${y}), outside its ${w}x${h} viewport.`,
        evidence: [stepRef(s.step_index)],
        step_index: s.step_index,
        recommendation: 'Check the grounding output and the coordinate_space label; device_px screenshots need their coordinates scaled.',
      });
    }
  }
});

export const coordinateSpaceMismatch = rule('cua.coordinate_space_mismatch', 'high', (ctx, emit) => {
  for (const s of ctx.steps) {
    if (grounding(s).provenance === 'dom' && action(s).coordinate_space === 'viewport_css_px') {
      emit({
        summary: `Step ${s.step_index}: the target was grounded from the DOM but the action is in viewport_css_px.`,
        evidence: [stepRef(s.step_index)],
        step_index: s.step_index,
        recommendation: 'DOM-derived targets are for diagnosis only: fix the grounding, or relabel its provenance.',
      });
    }
  }
});

export const domUsedAsRuntimeTarget = rule('cua.dom_used_as_runtime_target', 'high', (ctx, emit) => {
  for (const s of ctx.steps) {
    if (grounding(s).provenance !== 'dom') continue;
    const p = params(s);
    if (typeof p.x !== 'number' || typeof p.y !== 'number') continue;
    emit({
      summary: `Step ${s.step_index} dispatched a DOM-derived coordinate (${p.x},${p.y}) as its runtime target; runtime targets must come from the screenshot.`,
      evidence: [stepRef(s.step_index)],
      step_index: s.step_index,
      recommendation: "Ground the action on the screenshot and dispatch that. A deliberate DOM override should say so in grounding.provenance ('human_override' or 'replay_candidate').",
    });
  }
});

export const noStateChange = rule('cua.no_state_change', 'medium', (ctx, emit) => {
  for (const s of ctx.steps) {
    const v = verdict(s);
    const reason = (str(v.reason) ?? '').toLowerCase();
    if (!(s.failure_class === 'no_state_change' || (v.status === 'recoverable' && reason.includes('no visible state change')))) continue;
    emit({
      summary: `Step ${s.step_index}: the action was dispatched and nothing visible changed.`,
      evidence: [stepRef(s.step_index), eventsRef(s.step_index)],
      step_index: s.step_index,
      recommendation: 'Check that the action hit the intended control: compare the pre and post screenshots. Identical frames mean a grounding miss or a dispatch that did not take.',
    });
  }
});

const verifierCandidate = (s: StepDoc) => s.failure_class === 'verifier_disagrees' || verdict(s).status === 'failed';

export const verifierDisagrees = rule('cua.verifier_disagrees', 'high', (ctx, emit) => {
  for (const s of ctx.steps) {
    if (!verifierCandidate(s)) continue;
    // As in the SDK: only when a verifier event backs the verdict.
    if (!ctx.events(s.step_index).some((e) => e.layer === 'verifier')) continue;
    emit({
      summary: `Step ${s.step_index}: the verifier contradicts the action's reported success.`,
      evidence: [stepRef(s.step_index), eventsRef(s.step_index)],
      step_index: s.step_index,
      recommendation: "Read the verifier's event: if its evidence is right, the action's success report is the bug.",
    });
  }
});

export const dispatchOkStateFail = rule('cua.dispatch_ok_state_fail', 'high', (ctx, emit) => {
  for (const s of ctx.steps) {
    if (s.failure_class !== 'dispatch_ok_state_fail') continue;
    emit({
      summary: `Step ${s.step_index}: dispatch reported success, yet the state did not change.`,
      evidence: [stepRef(s.step_index), eventsRef(s.step_index)],
      step_index: s.step_index,
      recommendation: "Often coordinate-space drift between the screenshot and the dispatcher: capture the device_px viewport and compare it with the action's coordinate_space.",
    });
  }
});

export const invalidActionSchema = rule('cua.invalid_action_schema', 'critical', (ctx, emit) => {
  for (const s of ctx.steps) {
    const t = action(s).type;
    // Python truthiness: missing, null, "", 0 and false are all "no type".
    if (t !== undefined && t !== null && t !== '' && t !== 0 && t !== false) continue;
    emit({
      summary: `Step ${s.step_index}: the action has no \`type\`.`,
      evidence: [stepRef(s.step_index)],
      step_index: s.step_index,
      recommendation: "Validate the model's action against the action schema before dispatching it.",
    });
  }
});

export const missingObservation = rule('cua.missing_observation', 'low', (ctx, emit) => {
  for (const s of ctx.steps) {
    for (const field of ['observation_pre', 'observation_post'] as const) {
      const ref = s[field];
      if (typeof ref !== 'string' || !ref.startsWith('screenshots/')) continue;
      if (ctx.present.has(ref) || ctx.declaredMissing.has(ref)) continue;
      emit({
        summary: `Step ${s.step_index}: ${field} names ${ref}, which never arrived and is not listed in manifest.missing.`,
        evidence: [stepRef(s.step_index)],
        step_index: s.step_index,
        recommendation: 'Capture the screenshot, or list its path in manifest.missing when it is absent on purpose.',
      });
    }
  }
});

export const replayDiff = rule('cua.replay_diff', 'medium', (ctx, emit) => {
  const byIndex = new Map(ctx.steps.map((s) => [s.step_index, s]));
  for (const rel of [...ctx.replayFixtures].sort()) {
    const m = /^replay\/([^/]*)_fixture\.json$/.exec(rel);
    if (!m) continue;
    const head = m[1]!.split('_', 1)[0]!;
    if (!/^\s*[+-]?\d+\s*$/.test(head)) continue;
    const s = byIndex.get(Number(head));
    if (!s) continue;
    const st = verdict(s).status;
    if (st !== 'failed' && st !== 'recoverable') continue;
    emit({
      summary: `Step ${s.step_index}: a replay fixture exists for this failing step; replaying it tells whether the current code still fails.`,
      evidence: [stepRef(s.step_index), { type: 'step', ref: rel }],
      step_index: s.step_index,
    });
  }
});

const INFRA = new Set(['infra_failure', 'mantis.modal_signature_missing']);

export const highCostInfraFailure = rule('cua.high_cost_infra_failure', 'high', (ctx, emit) => {
  for (const s of ctx.steps.slice(0, 3)) {
    const fc = s.failure_class;
    if (typeof fc !== 'string' || !INFRA.has(fc)) continue;
    emit({
      summary: `The run stopped early on an infrastructure failure at step ${s.step_index} (${fc}); this early, it is usually the environment or the deployment, not the agent.`,
      evidence: [stepRef(s.step_index), ...ctx.logPaths.map((p): Evidence => ({ type: 'log', ref: p }))],
      step_index: s.step_index,
      recommendation: 'Check the deployment signature and the proxy or tunnel before running again.',
    });
  }
});

export const uncategorizedFailure = rule('cua.uncategorized_failure', 'low', (ctx, emit) => {
  for (const s of ctx.steps) {
    if (s.status !== 'failed') continue;
    const fc = s.failure_class;
    if (fc && fc !== 'unknown') continue;
    const intent = (typeof s.intent === 'string' && s.intent) || '(no intent)';
    emit({
      summary: `Step ${s.step_index} failed with failure_class ${fc === undefined || fc === null ? 'unset' : JSON.stringify(fc)}: the producer's classifier did not recognise it.`,
      evidence: [stepRef(s.step_index)],
      step_index: s.step_index,
      recommendation: `Read step ${s.step_index} (${JSON.stringify(intent)}) and its verdict.reason to name the failure, then teach the producer's classifier that case.`,
    });
  }
});

export const CUA_RULES: CuaRule[] = [
  repeatedActionStableFrame,
  clickOutsideViewport,
  coordinateSpaceMismatch,
  domUsedAsRuntimeTarget,
  noStateChange,
  verifierDisagrees,
  dispatchOkStateFail,
  invalidActionSchema,
  missingObservation,
  replayDiff,
  highCostInfraFailure,
  uncategorizedFailure,
];

/** The steps whose events cua.verifier_disagrees reads: load only these. */
export const cuaEventSteps = (steps: StepDoc[]): number[] => steps.filter(verifierCandidate).map((s) => s.step_index);

export function runCuaRules(ctx: CuaContext): Finding[] {
  return CUA_RULES.flatMap((r) => r.run(ctx));
}
