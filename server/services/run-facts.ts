import type { RunFacts } from '../../storage/metadata/index.js';
import { RUN_ID_RE } from './bundle.js';

/**
 * What the run index learns from the SDK's documents (manifest, trace session, steps, costs).
 * Everything is optional and read leniently: a field of the wrong type, an empty string or a value
 * over its bound is "not reported" (the document itself is stored as sent whatever it holds).
 * Every bound here is what the run index's columns hold.
 */
export const FACT_LIMITS = {
  client_name: 200,
  client_version: 100,
  capture_mode: 64,
  debug_session_id: 200,
  trajectory_fingerprint: 200,
  group_id: 200,
  task: 10_000,
  /** Tags kept per run, and the length of a key and of a value. */
  tags: 64,
  tag_key: 128,
  tag_value: 1_000,
  /** Cost dimensions kept per run, and the length of a dimension's name. */
  costs: 32,
  cost_key: 64,
} as const;

export const RUN_STATUSES = ['running', 'succeeded', 'failed', 'cancelled', 'halted'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
/** The tag an orchestrator session carries (augur_sdk.ORCHESTRATOR_TAG_KEY / _VALUE). */
export const SESSION_TYPE_TAG = 'augur.session_type';
export const ORCHESTRATOR = 'orchestrator';

type Doc = Record<string, unknown>;
const obj = (v: unknown): Doc | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Doc) : undefined);

/** A non-empty string within `max` characters, else undefined. */
export function text(v: unknown, max: number): string | undefined {
  return typeof v === 'string' && v !== '' && v.length <= max ? v : undefined;
}

/** An RFC 3339 time as epoch ms; an empty string or an unparsable value is absent. */
export function time(v: unknown): number | undefined {
  if (typeof v !== 'string' || v === '' || v.length > 64) return undefined;
  const ms = Date.parse(v);
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}

export function status(v: unknown): RunStatus | undefined {
  return (RUN_STATUSES as readonly unknown[]).includes(v) ? (v as RunStatus) : undefined;
}

/** A run id the index can hold, other than the run's own (a run is never its own parent). */
function parentId(v: unknown, self: string): string | undefined {
  return typeof v === 'string' && RUN_ID_RE.test(v) && v !== self ? v : undefined;
}

/** Tags as a string→string map: string values kept, numbers and booleans written as text, the rest dropped. */
export function tags(v: unknown): Record<string, string> | undefined {
  const o = obj(v);
  if (!o) return undefined;
  const out: Record<string, string> = {};
  let n = 0;
  for (const [k, raw] of Object.entries(o)) {
    if (n >= FACT_LIMITS.tags) break;
    const val = typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : raw;
    if (k === '' || k.length > FACT_LIMITS.tag_key || typeof val !== 'string' || val.length > FACT_LIMITS.tag_value) continue;
    out[k] = val;
    n++;
  }
  return out;
}

/** Costs as dimension→number: finite numbers only (total_usd, model_usd, tokens_in, tokens_out, ...). */
export function costs(v: unknown): Record<string, number> | undefined {
  const o = obj(v);
  if (!o) return undefined;
  const out: Record<string, number> = {};
  let n = 0;
  for (const [k, raw] of Object.entries(o)) {
    if (n >= FACT_LIMITS.costs) break;
    if (k === '' || k.length > FACT_LIMITS.cost_key || typeof raw !== 'number' || !Number.isFinite(raw)) continue;
    out[k] = raw;
    n++;
  }
  return Object.keys(out).length ? out : undefined;
}

/** Drops the keys whose value is undefined, so a spread never clears a stored fact. */
function defined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}

function client(v: unknown): Pick<RunFacts, 'client_name' | 'client_version'> {
  const c = obj(v);
  return { client_name: text(c?.name, FACT_LIMITS.client_name), client_version: text(c?.version, FACT_LIMITS.client_version) };
}

/** A step's link to its group: branch_context.parent_run_id and group_id (the SDK copies both onto every step). */
export function stepFacts(step: unknown, runId: string): Pick<RunFacts, 'parent_run_id' | 'group_id'> {
  const s = obj(step);
  return defined({ parent_run_id: parentId(obj(s?.branch_context)?.parent_run_id, runId), group_id: text(s?.group_id, FACT_LIMITS.group_id) });
}

/** The manifest: client, capture mode, ids, costs and its step count. */
export function manifestFacts(m: Doc, runId: string): RunFacts & { step_count?: number } {
  const steps = m.step_count;
  return defined({
    ...client(m.client),
    capture_mode: text(m.capture_mode, FACT_LIMITS.capture_mode),
    debug_session_id: text(m.debug_session_id, FACT_LIMITS.debug_session_id),
    trajectory_fingerprint: text(m.trajectory_fingerprint, FACT_LIMITS.trajectory_fingerprint),
    group_id: text(m.group_id, FACT_LIMITS.group_id),
    parent_run_id: parentId(obj(m.branch_context)?.parent_run_id, runId),
    costs: costs(m.costs),
    step_count: typeof steps === 'number' && Number.isSafeInteger(steps) && steps > 0 && steps <= 1_000_000 ? steps : undefined,
  });
}

/** The trace's session (and, for the group link, its steps when the session has none). */
export function traceFacts(t: Doc, runId: string): RunFacts & { status?: RunStatus } {
  const s = obj(t.session) ?? {};
  const steps = Array.isArray(t.steps) ? t.steps : [];
  let fromSteps: Pick<RunFacts, 'parent_run_id' | 'group_id'> = {};
  for (const step of steps) {
    fromSteps = { ...stepFacts(step, runId), ...fromSteps };
    if (fromSteps.parent_run_id && fromSteps.group_id) break;
  }
  return defined({
    status: status(s.status),
    ...client(s.client),
    capture_mode: text(s.capture_mode, FACT_LIMITS.capture_mode),
    debug_session_id: text(s.debug_session_id, FACT_LIMITS.debug_session_id),
    tags: tags(s.tags),
    costs: costs(s.costs),
    started_at: time(s.started_at),
    ended_at: time(s.ended_at),
    task: text(obj(s.task_spec)?.instruction, FACT_LIMITS.task),
    group_id: text(s.group_id, FACT_LIMITS.group_id) ?? fromSteps.group_id,
    parent_run_id: parentId(obj(s.branch_context)?.parent_run_id, runId) ?? fromSteps.parent_run_id,
  });
}
