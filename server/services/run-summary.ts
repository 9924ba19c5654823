import type { ChildrenSummary, RunRow } from '../../storage/metadata/index.js';
import { SESSION_TYPE_TAG, status, type RunStatus } from './run-facts.js';
import { iso, isoOrNull } from './time.js';

// The two kinds of row of GET /runs (run-summary.schema.json): a run, and a parent synthesised from its children.

/** Sums of dollars without binary-fraction noise (0.1 + 0.2 shows as 0.3). */
const sumUsd = (v: number): number => Math.round(v * 1e10) / 1e10;

/**
 * The SDK's schema lets producers put the cost in `tags.cost_usd` (text) for older run lists; the
 * structured `costs` wins when present.
 */
function tagCosts(tags: Record<string, string>): Record<string, number> | null {
  const v = tags.cost_usd;
  if (v === undefined || !/^\s*\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\s*$/.test(v)) return null;
  const n = Number(v);
  return Number.isFinite(n) ? { total_usd: n } : null;
}

/** One run as GET /runs shows it (run-summary.schema.json). */
export function runSummary(r: RunRow) {
  const tags = r.tags ?? {};
  return {
    run_id: r.run_id,
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
    // Rows written before the five statuses were enforced may hold others: shown as unknown.
    status: status(r.status) ?? null,
    client_name: r.client_name,
    client_version: r.client_version,
    capture_mode: r.capture_mode,
    task: r.task,
    step_count: r.step_count,
    iteration_count: r.step_count + r.extra_iterations,
    costs: r.costs ?? tagCosts(tags),
    tags,
    session_type: typeof tags[SESSION_TYPE_TAG] === 'string' ? tags[SESSION_TYPE_TAG] : null,
    started_at: isoOrNull(r.started_at),
    ended_at: isoOrNull(r.ended_at),
    debug_session_id: r.debug_session_id,
    trajectory_fingerprint: r.trajectory_fingerprint,
    group_id: r.group_id,
    parent_run_id: r.parent_run_id,
    last_heartbeat: isoOrNull(r.last_heartbeat_at),
  };
}

export type RunSummary = ReturnType<typeof runSummary>;

/** A synthesised parent's status: running while any child runs, else the worst ending, else succeeded. */
export function groupStatus(statuses: Record<string, number>): RunStatus | null {
  for (const s of ['running', 'failed', 'halted', 'cancelled', 'succeeded'] as const) if ((statuses[s] ?? 0) > 0) return s;
  return null;
}

/** The parent row of runs whose parent is no run: what their roll-up tells. */
export function syntheticParent(c: ChildrenSummary): RunSummary {
  return {
    run_id: c.parent_run_id,
    created_at: iso(c.first_created_at),
    updated_at: iso(c.last_updated_at),
    status: groupStatus(c.statuses),
    client_name: c.client_name,
    client_version: c.client_version,
    capture_mode: c.capture_mode,
    task: null,
    step_count: c.step_count,
    iteration_count: c.step_count + c.extra_iterations,
    costs: c.total_usd === null ? null : { total_usd: sumUsd(c.total_usd) },
    tags: {},
    session_type: null,
    started_at: isoOrNull(c.started_at),
    ended_at: isoOrNull(c.ended_at),
    debug_session_id: null,
    trajectory_fingerprint: null,
    group_id: c.group_id,
    parent_run_id: null,
    last_heartbeat: isoOrNull(c.last_heartbeat_at),
  };
}
