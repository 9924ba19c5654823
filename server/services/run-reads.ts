import type { Request } from 'express';
import { ApiError, type FieldError } from '../errors.js';
import type { MetadataStore, RunRow } from '../../storage/metadata/index.js';
import type { ObjectStore } from '../../storage/objects/index.js';
import { Appender } from './appends.js';
import { BundleKeys, RUN_ID_RE } from './bundle.js';
import { iso, isoOrNull } from './time.js';

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;
const MAX_Q = 200;
// RFC 3339 date-time (what `format: date-time` accepts), with an offset or Z.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;


export function runSummary(r: RunRow) {
  return {
    run_id: r.run_id,
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
    status: r.status,
    agent: r.agent,
    task: r.task,
    step_count: r.step_count,
    last_heartbeat: isoOrNull(r.last_heartbeat_at),
  };
}

/** Keyset cursor: base64url of {"c": created_at (epoch ms), "r": run_id} of the last row of a page. */
export function encodeCursor(r: Pick<RunRow, 'created_at' | 'run_id'>): string {
  return Buffer.from(JSON.stringify({ c: r.created_at, r: r.run_id })).toString('base64url');
}

export function decodeCursor(s: string): { created_at: number; run_id: string } | undefined {
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(s)) return undefined;
  try {
    const v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as { c?: unknown; r?: unknown };
    if (typeof v !== 'object' || v === null) return undefined;
    if (typeof v.c !== 'number' || !Number.isSafeInteger(v.c) || v.c < 0) return undefined;
    if (typeof v.r !== 'string' || !RUN_ID_RE.test(v.r)) return undefined;
    return { created_at: v.c, run_id: v.r };
  } catch {
    return undefined;
  }
}

function queryError(name: string, msg: string, type: string): ApiError {
  const e: FieldError = { loc: ['query', name], msg, type };
  return new ApiError('validation_failed', `Invalid request query: ${name}: ${msg}`, { errors: [e] });
}

export interface RunsQuery {
  limit: number;
  before?: { created_at: number; run_id: string };
  status?: string;
  since?: number;
  q?: string;
}

/** Parses GET /runs's query; every bad value is a 422 naming the parameter. */
export function parseRunsQuery(req: Request): RunsQuery {
  const one = (name: string): string | undefined => {
    const v = req.query[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw queryError(name, 'give the parameter once', 'type');
    return v;
  };
  const out: RunsQuery = { limit: DEFAULT_LIMIT };
  const limit = one('limit');
  if (limit !== undefined) {
    if (!/^\d{1,6}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_LIMIT) {
      throw queryError('limit', `must be an integer from 1 to ${MAX_LIMIT}`, 'maximum');
    }
    out.limit = Number(limit);
  }
  const cursor = one('cursor');
  if (cursor !== undefined && cursor !== '') {
    const c = decodeCursor(cursor);
    if (!c) throw queryError('cursor', 'not a cursor this server issued (pass next_cursor as is)', 'format');
    out.before = c;
  }
  const status = one('status');
  if (status !== undefined && status !== '') {
    if (status.length > 64) throw queryError('status', 'at most 64 characters', 'maxLength');
    out.status = status;
  }
  const since = one('since');
  if (since !== undefined && since !== '') {
    const ms = RFC3339.test(since) ? Date.parse(since) : NaN;
    if (!Number.isFinite(ms)) throw queryError('since', 'must be an RFC 3339 date-time, e.g. 2025-01-15T10:00:00Z', 'format');
    out.since = ms;
  }
  const q = one('q');
  if (q !== undefined && q !== '') {
    if (q.length > MAX_Q) throw queryError('q', `at most ${MAX_Q} characters`, 'maxLength');
    out.q = q;
  }
  return out;
}

/** One page of the run index (never an object-store listing). */
export async function listRuns(metadata: MetadataStore, tenantId: string, q: RunsQuery) {
  const rows = await metadata.listRuns({ tenant_id: tenantId, limit: q.limit + 1, before: q.before, status: q.status, since: q.since, q: q.q });
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return { runs: page.map(runSummary), next_cursor: rows.length > q.limit && last ? encodeCursor(last) : null };
}

export interface BundleCounts {
  steps: number;
  screenshots: number;
  events_files: number;
  modelio: number;
  logs: number;
}

/**
 * Counts the files of a bundle from one listing of the run's prefix. Appended files (events,
 * logs) are stored as chunks under `.appends/<file>/`, so a file counts once whether it is
 * chunked or whole.
 */
export async function bundleCounts(objects: ObjectStore, keys: BundleKeys): Promise<BundleCounts> {
  const counts: BundleCounts = { steps: 0, screenshots: 0, events_files: 0, modelio: 0, logs: 0 };
  const events = new Set<string>();
  const logs = new Set<string>();
  const appendsRoot = Appender.chunkPrefix(`${keys.prefix}x`).slice(0, -2); // "<run>/.appends/"
  for await (const o of objects.list(keys.prefix)) {
    const rel = o.key.slice(keys.prefix.length);
    let m: RegExpExecArray | null;
    if ((m = /^steps\/[0-9]{4,6}\.json$/.exec(rel))) counts.steps++;
    else if (/^screenshots\/[0-9]{4,6}_(?:pre|post|target|diff)\.png$/.test(rel)) counts.screenshots++;
    else if (/^modelio\/[^/]+\.json$/.test(rel)) counts.modelio++;
    else if ((m = /^events\/([^/]+\.jsonl)$/.exec(rel))) events.add(m[1]!);
    else if ((m = /^logs\/([^/]+\.log)$/.exec(rel))) logs.add(m[1]!);
    else if (o.key.startsWith(appendsRoot)) {
      const inner = o.key.slice(appendsRoot.length);
      if ((m = /^events\/([^/]+\.jsonl)\//.exec(inner))) events.add(m[1]!);
      else if ((m = /^logs\/([^/]+\.log)\//.exec(inner))) logs.add(m[1]!);
    }
  }
  counts.events_files = events.size;
  counts.logs = logs.size;
  return counts;
}
