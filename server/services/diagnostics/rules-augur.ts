import type { PixelRecord } from './pixel-jobs.js';
import { sameFrame } from './phash.js';
import { NO_OP_MAX_CHANGED_RATIO } from './pixels.js';
import { type OutlierBound, outlierThreshold, median } from './stats.js';
import { type Evidence, type Finding, isObject, num, obj, pad, type StepDoc, stepRef, str } from './types.js';

/**
 * The server's own rules (`augur.*`): what only a server holding the pixels, the model I/O, the
 * side effects and the ingest ledger can tell. Pure functions of an AugurContext; thresholds are
 * named constants, documented in the README.
 */
export interface ModelioSummary {
  step_index?: number;
  layer?: string;
  /** The call failed: the record's error, the response's error, a failing stop_reason, or no response at all. */
  error?: string;
  timeout: boolean;
  duration_ms?: number;
}

export interface SideEffectSummary {
  side_effect_id?: string;
  step_index?: number;
  status?: string;
  action?: string;
  resource?: string;
  reversibility?: string;
}

export interface AugurContext {
  steps: StepDoc[];
  /** Pixel records of the steps that have screenshots. */
  pixels: ReadonlyMap<number, PixelRecord>;
  /** manifest.json, when it arrived. */
  manifest?: Record<string, unknown>;
  /** The run's final status is known (session status other than running, or ended_at). */
  ended: boolean;
  /** A live run: no final status yet. */
  live: boolean;
  /** Last time anything was heard from the run (heartbeat or ingest), epoch ms. */
  lastSeen?: number;
  now: number;
  /** modelio records by bundle-relative path (`modelio/0003-planner-0.json`). */
  modelio: ReadonlyMap<string, ModelioSummary>;
  /** Side effects by bundle-relative path. */
  sideEffects: ReadonlyMap<string, SideEffectSummary>;
  /** Step indexes that have an events file, screenshots or modelio records. */
  artifactSteps: ReadonlyMap<number, string[]>;
}

const action = (s: StepDoc) => obj(s.action);
const shot = (i: number, kind: string): Evidence => ({ type: 'screenshot', ref: `screenshots/${pad(i)}_${kind}.png` });

// --- no-op action --------------------------------------------------------------------------

/** Action types that are not meant to change the screen. */
export const PASSIVE_ACTIONS = new Set(['wait', 'sleep', 'noop', 'no_op', 'none', 'screenshot', 'observe', 'done', 'finish', 'stop', 'answer', 'terminate']);

export function noOpAction(ctx: AugurContext): Finding[] {
  const out: Finding[] = [];
  for (const s of ctx.steps) {
    const rec = ctx.pixels.get(s.step_index);
    const d = rec?.diff;
    const type = str(action(s).type);
    if (!rec || !d || d.sizeMismatch || !type || PASSIVE_ACTIONS.has(type.toLowerCase())) continue;
    if (d.ratio > NO_OP_MAX_CHANGED_RATIO) continue;
    const i = s.step_index;
    const diff: Evidence[] = rec.sdkDiff ? [{ type: 'diff', ref: `screenshots/${pad(i)}_diff.png` }] : rec.diffImage ? [{ type: 'diff', ref: `diagnostics/diff/${pad(i)}.png` }] : [];
    out.push({
      rule_id: 'augur.no_op_action',
      severity: 'medium',
      summary: `Step ${i}: the ${type} action left the screen unchanged (${d.changed} of ${d.total} pixels differ between pre and post).`,
      evidence: [shot(i, 'pre'), shot(i, 'post'), ...diff, stepRef(i)],
      step_index: i,
      recommendation: 'The action did not take: check the target coordinates against the pre screenshot, the coordinate space, and whether the control was enabled.',
    });
  }
  return out;
}

// --- stuck loop ----------------------------------------------------------------------------

/** Steps in a row repeating one action on the same frame before it is a loop. */
export const STUCK_LOOP_MIN_STEPS = 3;

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObject(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}
const actionKey = (s: StepDoc): string | undefined => {
  const a = action(s);
  return typeof a.type === 'string' && a.type ? canonical({ t: a.type, p: a.params ?? null }) : undefined;
};
const frameOf = (r: PixelRecord | undefined): string | undefined => r?.post?.hash ?? r?.pre?.hash;

export function stuckLoop(ctx: AugurContext): Finding[] {
  const out: Finding[] = [];
  let streak: StepDoc[] = [];
  let firstFrame: string | undefined;
  const flush = () => {
    if (streak.length >= STUCK_LOOP_MIN_STEPS) {
      const last = streak[streak.length - 1]!;
      const shown = streak.slice(-10);
      out.push({
        rule_id: 'augur.stuck_loop',
        severity: 'high',
        summary: `Steps ${streak[0]!.step_index}–${last.step_index}: the agent repeated the same ${str(action(last).type)} action ${streak.length} times on the same screen.`,
        evidence: shown.map((s) => {
          const r = ctx.pixels.get(s.step_index);
          return shot(s.step_index, r?.post?.hash ? 'post' : 'pre');
        }),
        step_index: last.step_index,
        recommendation: 'The agent is looping: the action does not change the screen and the planner does not notice. Add a repeat guard, or feed the unchanged frame back to the planner.',
      });
    }
  };
  let prev: StepDoc | undefined;
  for (const s of ctx.steps) {
    const key = actionKey(s);
    const frame = frameOf(ctx.pixels.get(s.step_index));
    const continues = prev !== undefined && streak.length > 0 && prev.step_index === s.step_index - 1 && key !== undefined && key === actionKey(prev) && frame !== undefined && firstFrame !== undefined && sameFrame(firstFrame, frame);
    if (continues) streak.push(s);
    else {
      flush();
      streak = key !== undefined && frame !== undefined ? [s] : [];
      firstFrame = frame;
    }
    prev = s;
  }
  flush();
  return out;
}

// --- click outside the grounded target -----------------------------------------------------

/** A grounded point (no box) is missed when the click lands farther than this, in the action's units. */
export const POINT_TARGET_RADIUS = 24;

type Box = { x1: number; y1: number; x2: number; y2: number };

/** A box from grounding.coordinates: {x, y, width|w, height|h}, {x1, y1, x2, y2}, {left, top, right, bottom} or bbox [x1, y1, x2, y2]. */
export function groundedBox(g: Record<string, unknown>): Box | { x: number; y: number } | undefined {
  const c = obj(g.coordinates);
  const n = (k: string) => num(c[k]);
  const bbox = Array.isArray(c.bbox) ? c.bbox : Array.isArray(g.bbox) ? g.bbox : undefined;
  if (bbox && bbox.length === 4 && bbox.every((v) => num(v) !== undefined)) {
    const [x1, y1, x2, y2] = bbox as number[];
    return { x1: x1!, y1: y1!, x2: x2!, y2: y2! };
  }
  const x1 = n('x1') ?? n('left');
  const y1 = n('y1') ?? n('top');
  const x2 = n('x2') ?? n('right');
  const y2 = n('y2') ?? n('bottom');
  if (x1 !== undefined && y1 !== undefined && x2 !== undefined && y2 !== undefined) return { x1, y1, x2, y2 };
  const x = n('x');
  const y = n('y');
  const w = n('width') ?? n('w');
  const h = n('height') ?? n('h');
  if (x !== undefined && y !== undefined && w !== undefined && h !== undefined) return { x1: x, y1: y, x2: x + w, y2: y + h };
  if (x !== undefined && y !== undefined) return { x, y };
  return undefined;
}

export function clickOutsideTarget(ctx: AugurContext): Finding[] {
  const out: Finding[] = [];
  for (const s of ctx.steps) {
    const a = action(s);
    const p = obj(a.params);
    const x = num(p.x);
    const y = num(p.y);
    const g = obj(s.grounding);
    if (x === undefined || y === undefined || g.provenance === 'dom') continue;
    // Grounding has no coordinate space of its own in the SDK: its coordinates are the action's.
    // When one is declared and differs, the two cannot be compared here.
    const gSpace = str(g.coordinate_space) ?? str(obj(g.coordinates).coordinate_space);
    if (gSpace !== undefined && gSpace !== str(a.coordinate_space)) continue;
    const box = groundedBox(g);
    if (!box) continue;
    let miss: string | undefined;
    if ('x1' in box) {
      const [l, r] = [Math.min(box.x1, box.x2), Math.max(box.x1, box.x2)];
      const [t, b] = [Math.min(box.y1, box.y2), Math.max(box.y1, box.y2)];
      if (x < l || x > r || y < t || y > b) miss = `outside the grounded box (${l},${t})–(${r},${b})`;
    } else {
      const d = Math.hypot(x - box.x, y - box.y);
      if (d > POINT_TARGET_RADIUS) miss = `${Math.round(d)} px from the grounded point (${box.x},${box.y})`;
    }
    if (!miss) continue;
    const label = str(g.target_label);
    out.push({
      rule_id: 'augur.click_outside_target',
      severity: 'medium',
      summary: `Step ${s.step_index}: the action at (${x},${y}) lands ${miss}${label ? ` of "${label}"` : ''}.`,
      evidence: [stepRef(s.step_index), shot(s.step_index, 'pre')],
      step_index: s.step_index,
      recommendation: 'The dispatched coordinates are not the grounded ones: check the scaling between grounding and dispatch, and whether the model rewrote the coordinates.',
    });
  }
  return out;
}

// --- latency and cost outliers -------------------------------------------------------------

/** A step is slow when over median + 5 scaled MADs, 3× the median and the median + 1 s, with 5+ timed steps. */
export const LATENCY_OUTLIER: OutlierBound = { minCount: 5, k: 5, minRatio: 3, minExcess: 1000 };
/** Cost spikes: the same bound on total_usd (at least $0.01 over the median) or, without it, tokens (1,000 over). */
export const COST_OUTLIER_USD: OutlierBound = { minCount: 5, k: 5, minRatio: 3, minExcess: 0.01 };
export const COST_OUTLIER_TOKENS: OutlierBound = { minCount: 5, k: 5, minRatio: 3, minExcess: 1000 };

export function latencyOutliers(ctx: AugurContext): Finding[] {
  const timed = ctx.steps.flatMap((s) => {
    const d = num(s.duration_ms);
    return d !== undefined && d >= 0 ? [{ s, d }] : [];
  });
  const bound = outlierThreshold(timed.map((t) => t.d), LATENCY_OUTLIER);
  if (bound === undefined) return [];
  const m = median(timed.map((t) => t.d));
  return timed
    .filter((t) => t.d > bound)
    .map(({ s, d }) => ({
      rule_id: 'augur.step_latency_outlier',
      severity: 'low' as const,
      summary: `Step ${s.step_index} took ${Math.round(d)} ms, against a median of ${Math.round(m)} ms for the run.`,
      evidence: [stepRef(s.step_index)],
      step_index: s.step_index,
      recommendation: "Look at the step's latency breakdown and model calls: a retry, a slow page or a model timeout.",
    }));
}

export function costSpikes(ctx: AugurContext): Finding[] {
  const usd = ctx.steps.flatMap((s) => {
    const v = num(obj(s.costs).total_usd);
    return v !== undefined ? [{ s, v }] : [];
  });
  const tokens = ctx.steps.flatMap((s) => {
    const c = obj(s.costs);
    const a = num(c.tokens_in);
    const b = num(c.tokens_out);
    return a !== undefined || b !== undefined ? [{ s, v: (a ?? 0) + (b ?? 0) }] : [];
  });
  const [series, bound, unit] =
    usd.length >= COST_OUTLIER_USD.minCount ? [usd, COST_OUTLIER_USD, 'USD'] : [tokens, COST_OUTLIER_TOKENS, 'tokens'];
  const t = outlierThreshold(series.map((x) => x.v), bound);
  if (t === undefined) return [];
  const m = median(series.map((x) => x.v));
  const fmt = (v: number) => (unit === 'USD' ? `$${v.toFixed(4)}` : `${Math.round(v)} tokens`);
  return series
    .filter((x) => x.v > t)
    .map(({ s, v }) => ({
      rule_id: 'augur.cost_spike',
      severity: 'low' as const,
      summary: `Step ${s.step_index} cost ${fmt(v)}, against a median of ${fmt(m)} per step.`,
      evidence: [stepRef(s.step_index)],
      step_index: s.step_index,
      recommendation: "Check the step's model calls: a long context, images re-sent, or retries.",
    }));
}

// --- model errors and timeouts -------------------------------------------------------------

/** A model call that took this long is reported as a timeout even without an error. */
export const MODEL_TIMEOUT_MS = 120_000;
const FAILING_STOP = /^(error|timeout|timed_out|cancelled|canceled|aborted|failed)$/i;
const TIMEOUT_TEXT = /time(?:d)?[\s_-]?out|deadline/i;

function errorText(e: unknown): string | undefined {
  if (e === undefined || e === null || e === false || e === '') return undefined;
  if (typeof e === 'string') return e;
  if (isObject(e)) return str(e.message) ?? str(e.type) ?? str(e.code) ?? JSON.stringify(e).slice(0, 200);
  return String(e);
}

/** What the rules need of one modelio record (see DocSummaries). */
export function summarizeModelio(doc: unknown): ModelioSummary {
  if (!isObject(doc)) return { error: 'unreadable modelio record', timeout: false };
  const r = doc.response;
  const stop = isObject(r) ? str(r.stop_reason) : undefined;
  let error = errorText(doc.error) ?? (isObject(r) ? errorText(r.error) : undefined);
  if (!error && stop && FAILING_STOP.test(stop)) error = `stop_reason ${stop}`;
  if (!error && (r === undefined || r === null)) error = 'no response recorded';
  const duration = num(doc.duration_ms) ?? num(doc.latency_ms);
  const timeout = (error !== undefined && TIMEOUT_TEXT.test(error)) || (duration !== undefined && duration >= MODEL_TIMEOUT_MS);
  const step = num(doc.step_index);
  return {
    ...(step !== undefined ? { step_index: step } : {}),
    ...(str(doc.layer) ? { layer: str(doc.layer)! } : {}),
    ...(error !== undefined ? { error: error.slice(0, 300) } : {}),
    timeout,
    ...(duration !== undefined ? { duration_ms: duration } : {}),
  };
}

/** Step of a modelio file from its name (`0003-planner-0.json`), else from the record. */
const modelioStep = (rel: string, m: ModelioSummary): number | undefined => {
  const x = /^modelio\/([0-9]{4,6})-/.exec(rel);
  return x ? Number(x[1]) : m.step_index;
};

export function modelErrors(ctx: AugurContext): Finding[] {
  const out: Finding[] = [];
  for (const [rel, m] of [...ctx.modelio].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!m.error && !m.timeout) continue;
    const step = modelioStep(rel, m);
    const where = `${step === undefined ? 'A run-level' : `Step ${step}'s`} ${m.layer ?? 'model'} call`;
    out.push({
      rule_id: m.timeout ? 'augur.model_timeout' : 'augur.model_error',
      severity: m.timeout ? 'medium' : 'high',
      summary: m.timeout
        ? `${where} timed out${m.duration_ms !== undefined ? ` after ${Math.round(m.duration_ms)} ms` : ''}${m.error ? ` (${m.error})` : ''}.`
        : `${where} failed: ${m.error}.`,
      evidence: [{ type: 'trace', ref: rel }, ...(step !== undefined ? [stepRef(step)] : [])],
      ...(step !== undefined ? { step_index: step } : {}),
      recommendation: m.timeout ? "Check the provider's latency and the request's size; retry with a timeout budget the run can afford." : 'Read the modelio record: a provider error, a refused request or a malformed one.',
    });
  }
  return out;
}

// --- side effects --------------------------------------------------------------------------

export function summarizeSideEffect(doc: unknown): SideEffectSummary {
  if (!isObject(doc)) return {};
  const out: SideEffectSummary = {};
  for (const k of ['side_effect_id', 'status', 'action', 'resource', 'reversibility'] as const) if (str(doc[k]) !== undefined) out[k] = str(doc[k])!;
  const i = num(doc.step_index);
  if (i !== undefined && Number.isInteger(i) && i >= 0) out.step_index = i;
  return out;
}

export function unresolvedSideEffects(ctx: AugurContext): Finding[] {
  if (!ctx.ended) return [];
  const out: Finding[] = [];
  for (const [rel, se] of [...ctx.sideEffects].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (se.status !== 'intent_only') continue;
    const irreversible = se.reversibility === 'irreversible';
    out.push({
      rule_id: 'augur.side_effect_unresolved',
      severity: irreversible ? 'critical' : 'high',
      summary: `Side effect ${se.side_effect_id ?? rel} (${se.action ?? 'action'} on ${se.resource ?? 'a resource'}) was declared but never committed or aborted before the run ended${irreversible ? '; it is irreversible' : ''}.`,
      evidence: [{ type: 'trace', ref: rel }, ...(se.step_index !== undefined ? [stepRef(se.step_index)] : [])],
      ...(se.step_index !== undefined ? { step_index: se.step_index } : {}),
      recommendation: 'Find out whether the effect happened (check the resource), then record it as committed or aborted; the agent must commit or abort every effect it declares.',
    });
  }
  return out;
}

// --- completeness ledger -------------------------------------------------------------------

/** A live run with nothing heard for this long is stalled. */
export const STALL_MS = 5 * 60_000;
const LIST_CAP = 20;

const listOf = (xs: number[]) => (xs.length > LIST_CAP ? `${xs.slice(0, LIST_CAP).join(', ')} … (${xs.length} in all)` : xs.join(', '));

export function completeness(ctx: AugurContext): Finding[] {
  const out: Finding[] = [];
  const received = new Set(ctx.steps.map((s) => s.step_index));
  const declared = num(ctx.manifest?.step_count);
  if (declared !== undefined && Number.isInteger(declared) && declared > 0) {
    const missing: number[] = [];
    for (let i = 0; i < Math.min(declared, 1_000_000); i++) if (!received.has(i)) missing.push(i);
    if (missing.length) {
      out.push({
        rule_id: 'augur.steps_missing',
        severity: ctx.ended ? 'medium' : 'low',
        summary: `The manifest declares ${declared} steps but ${missing.length} never arrived: ${listOf(missing)}.`,
        evidence: [{ type: 'trace', ref: 'manifest.json' }, { type: 'trace', ref: 'trace.json' }],
        step_index: missing[0]!,
        recommendation: 'The client lost step uploads (crash, network, a full queue): check its logs around those steps.',
      });
    }
  }
  for (const [i, files] of [...ctx.artifactSteps].sort(([a], [b]) => a - b)) {
    if (received.has(i)) continue;
    out.push({
      rule_id: 'augur.artifacts_without_step',
      severity: 'low',
      summary: `Step ${i} never arrived, but ${files.length} of its files did (${files.slice(0, 3).join(', ')}${files.length > 3 ? ', …' : ''}).`,
      evidence: files.slice(0, 5).map((f): Evidence => ({ type: f.startsWith('screenshots/') ? 'screenshot' : f.startsWith('events/') ? 'event' : 'trace', ref: f })),
      step_index: i,
      recommendation: 'The step document was lost or never sent: the run is incomplete from this step on.',
    });
  }
  const missingDecl = ctx.manifest?.missing;
  if (Array.isArray(missingDecl)) {
    const paths = missingDecl.filter((p): p is string => typeof p === 'string');
    if (paths.length) {
      out.push({
        rule_id: 'augur.declared_missing',
        severity: 'info',
        summary: `The producer declares ${paths.length} file(s) absent on purpose (manifest.missing): ${paths.slice(0, 5).join(', ')}${paths.length > 5 ? ', …' : ''}.`,
        evidence: [{ type: 'trace', ref: 'manifest.json' }],
      });
    }
  }
  if (ctx.live && ctx.lastSeen !== undefined && ctx.lastSeen > 0 && ctx.now - ctx.lastSeen >= STALL_MS) {
    const minutes = Math.floor((ctx.now - ctx.lastSeen) / 60_000);
    out.push({
      rule_id: 'augur.run_stalled',
      severity: 'high',
      summary: `The run is still live but nothing has been heard from its client for ${minutes} minutes (last at ${new Date(ctx.lastSeen).toISOString()}).`,
      evidence: [{ type: 'trace', ref: 'trace.json' }],
      recommendation: 'The agent may have crashed or hung: check the host it runs on; a run that ended without close() never sends its final status.',
    });
  }
  return out;
}

export const AUGUR_RULES: Array<(ctx: AugurContext) => Finding[]> = [
  noOpAction,
  stuckLoop,
  clickOutsideTarget,
  latencyOutliers,
  costSpikes,
  modelErrors,
  unresolvedSideEffects,
  completeness,
];

export const runAugurRules = (ctx: AugurContext): Finding[] => AUGUR_RULES.flatMap((r) => r(ctx));
