import { isObj, num, str } from './util.js';

/** What the views need from the API's documents, read leniently: fields land at different times. */
export interface Tenant {
  id: string;
  slug: string;
  name?: string | null;
}
export interface Me {
  user: { id: string; email: string; is_admin: boolean };
  tenant: Tenant;
  home_tenant: Tenant;
  impersonating: boolean;
}

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled' | 'halted' | string;
export const STATUSES = ['running', 'succeeded', 'failed', 'cancelled', 'halted'] as const;

export interface RunRow {
  run_id: string;
  status?: RunStatus | null;
  agent?: string | null;
  task?: string | null;
  created_at?: string;
  updated_at?: string;
  started_at?: string | null;
  ended_at?: string | null;
  step_count?: number;
  iteration_count?: number | null;
  client_name?: string | null;
  client_version?: string | null;
  capture_mode?: string | null;
  costs?: { total_usd?: number } | null;
  cost_usd?: number | null;
  tags?: Record<string, unknown> | null;
  parent_run_id?: string | null;
  group_id?: string | null;
  live?: boolean | null;
  last_heartbeat?: string | null;
  children?: RunRow[];
}

/** Presence lasts 60 s on the server: a run heard from within that is live. */
export const LIVE_MS = 60_000;

export function isLive(r: RunRow, now = Date.now()): boolean {
  if (typeof r.live === 'boolean') return r.live;
  if (r.status && r.status !== 'running') return false;
  const hb = r.last_heartbeat ? Date.parse(r.last_heartbeat) : NaN;
  return Number.isFinite(hb) && now - hb < LIVE_MS;
}

export const runCost = (r: RunRow): number | undefined => num(r.costs?.total_usd) ?? num(r.cost_usd);

export interface Step {
  step_index: number;
  status?: string;
  failure_class?: string | null;
  intent?: string;
  step_type?: string;
  action?: { type?: string; params?: Record<string, unknown>; coordinate_space?: string } & Record<string, unknown>;
  observation_pre?: string;
  observation_post?: string;
  grounding?: { coordinates?: unknown; target_label?: string } & Record<string, unknown>;
  verdict?: { status?: string; reason?: string } & Record<string, unknown>;
  judge_decisions?: Array<Record<string, unknown>>;
  branch_context?: Record<string, unknown>;
  duration_ms?: number;
  started_at?: string;
  ended_at?: string;
  costs?: Record<string, unknown>;
  iterations?: unknown;
  [k: string]: unknown;
}

export interface Trace {
  session?: Record<string, unknown> & { status?: string; started_at?: string; ended_at?: string; tags?: Record<string, unknown> };
  steps?: Step[];
}

const BAD = new Set(['failed', 'error', 'errored', 'halted', 'cancelled', 'aborted']);

/** A step that should stand out: failed, errored, a failed verdict, a failure class, or flagged. */
export function stepFlag(s: Step): 'failed' | 'flagged' | undefined {
  const result = isObj(s.result) ? str(s.result.status) : undefined;
  if (BAD.has(String(s.status)) || result === 'error' || BAD.has(String(s.verdict?.status))) return 'failed';
  if (s.failure_class || s.flagged === true || (Array.isArray(s.judge_decisions) && s.judge_decisions.some((j) => isObj(j.verdict) && BAD.has(String(j.verdict.status))))) return 'flagged';
  return undefined;
}

export function stepStatus(s: Step): string {
  if (s.status) return String(s.status);
  if (isObj(s.result) && str(s.result.status)) return String(s.result.status);
  return 'unknown';
}

export function stepDuration(s: Step): number | undefined {
  if (num(s.duration_ms) !== undefined) return s.duration_ms;
  if (s.started_at && s.ended_at) {
    const d = Date.parse(s.ended_at) - Date.parse(s.started_at);
    return Number.isFinite(d) ? d : undefined;
  }
  return undefined;
}

/** Iterations the SDK made of a step (retries): a count or a list. */
export function iterationsOf(s: Step): number | undefined {
  if (Array.isArray(s.iterations)) return s.iterations.length;
  return num(s.iterations) ?? num(s.iteration_count);
}

/** A finding in either shape: today's {code,title,detail,evidence:any} or the SDK's DiagnosticFinding. */
export interface Finding {
  rule: string;
  severity: string;
  summary: string;
  detail?: string;
  recommendation?: string;
  step_index?: number;
  evidence: Array<{ type: string; ref: string }>;
}

export function normaliseFinding(f: Record<string, unknown>): Finding {
  const evidence: Finding['evidence'] = [];
  if (Array.isArray(f.evidence)) {
    for (const e of f.evidence) if (isObj(e) && str(e.ref)) evidence.push({ type: str(e.type) ?? 'ref', ref: String(e.ref) });
  } else if (isObj(f.evidence)) {
    // Today's findings carry free-form evidence: surface the parts that name a bundle file.
    for (const [k, v] of Object.entries(f.evidence)) {
      if (typeof v === 'string' && /^(screenshots|steps|logs|events|modelio|diagnostics)\//.test(v)) evidence.push({ type: k, ref: v });
    }
  }
  const step = num(f.step_index);
  if (step !== undefined && !evidence.some((e) => e.type === 'step')) evidence.unshift({ type: 'step', ref: `steps/${String(step).padStart(4, '0')}.json` });
  return {
    rule: str(f.rule_id) ?? str(f.code) ?? 'finding',
    severity: str(f.severity) ?? 'info',
    summary: str(f.summary) ?? str(f.title) ?? '',
    detail: str(f.detail),
    recommendation: str(f.recommendation),
    step_index: step,
    evidence,
  };
}

const SEVERITY_RANK: Record<string, number> = { critical: 0, error: 1, high: 1, medium: 2, warning: 2, low: 3, info: 4 };
export const severityRank = (s: string): number => SEVERITY_RANK[s] ?? 5;

/** Where an evidence ref points in the viewer: a step (and which screenshot), or a log line. */
export function evidenceTarget(ref: string): { step?: number; shot?: string; log?: string; line?: number } {
  const [path, anchor] = ref.split('#');
  const line = anchor && /^L(\d+)/.exec(anchor) ? Number(/^L(\d+)/.exec(anchor)![1]) : undefined;
  let m = /^screenshots\/(\d{4,6})_(pre|post|target|diff)\.png$/.exec(path ?? '');
  if (m) return { step: Number(m[1]), shot: m[2] };
  m = /^diagnostics\/diff\/(\d{4,6})\.png$/.exec(path ?? '');
  if (m) return { step: Number(m[1]), shot: 'server-diff' };
  m = /^(?:steps|events)\/(\d{4,6})(?:\.json|\.jsonl|\/)/.exec(path ?? '');
  if (m) return { step: Number(m[1]) };
  m = /^logs\/(.+)\.log$/.exec(path ?? '');
  if (m) {
    const step = /^step-(\d+)$/.exec(m[1]!);
    return { log: m[1], line, step: step ? Number(step[1]) : undefined };
  }
  return {};
}
