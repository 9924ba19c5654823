import type { Request } from 'express';
import { ApiError, type FieldError } from '../errors.js';
import type { MetadataStore, RunRow, TagFilter } from '../../storage/metadata/index.js';
import { RUN_ID_RE } from './bundle.js';
import { RUN_STATUSES, type RunStatus } from './run-facts.js';
import { listGroupedRuns } from './run-groups.js';
import { runSummary } from './run-summary.js';

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;
const MAX_Q = 200;
// RFC 3339 date-time (what `format: date-time` accepts), with an offset or Z.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;


/** Tag filters per request. */
export const MAX_TAG_FILTERS = 8;
/** A tag filter's key: what the index keeps, without `:` (it separates the value), quotes or control characters. */
const TAG_KEY_RE = /^[^:"\\\x00-\x1f]{1,128}$/;
const MAX_TAG_VALUE = 1_000;
const MAX_ID_FILTER = 200;

/** Keyset cursor: base64url of {"c": created_at (epoch ms), "r": run_id} of the last row of a page. */
export function encodeCursor(r: Pick<RunRow, 'created_at' | 'run_id'>): string {
  return Buffer.from(JSON.stringify({ c: r.created_at, r: r.run_id })).toString('base64url');
}

export function decodeCursor(s: string): { created_at: number; run_id: string } | undefined {
  if (!/^[A-Za-z0-9_-]{1,600}$/.test(s)) return undefined;
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
  status?: RunStatus;
  since?: number;
  q?: string;
  tags?: TagFilter[];
  group_id?: string;
  parent_run_id?: string;
  fingerprint?: string;
  /** A flat list of runs instead of parent rows with their children. */
  flat: boolean;
}

/** Parses `tag=key:value` (the value after the first colon; `tag=key` asks for the key alone). */
export function parseTagFilter(raw: string): TagFilter | undefined {
  const i = raw.indexOf(':');
  const key = i < 0 ? raw : raw.slice(0, i);
  const value = i < 0 ? undefined : raw.slice(i + 1);
  if (!TAG_KEY_RE.test(key) || (value !== undefined && value.length > MAX_TAG_VALUE)) return undefined;
  return value === undefined ? { key } : { key, value };
}

/** Parses GET /runs's query; every bad value is a 422 naming the parameter. */
export function parseRunsQuery(req: Request): RunsQuery {
  const one = (name: string): string | undefined => {
    const v = req.query[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw queryError(name, 'give the parameter once', 'type');
    return v === '' ? undefined : v;
  };
  const out: RunsQuery = { limit: DEFAULT_LIMIT, flat: false };
  const limit = req.query.limit === '' ? '' : one('limit');
  if (limit !== undefined) {
    if (!/^\d{1,6}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_LIMIT) {
      throw queryError('limit', `must be an integer from 1 to ${MAX_LIMIT}`, 'maximum');
    }
    out.limit = Number(limit);
  }
  const cursor = one('cursor');
  if (cursor !== undefined) {
    const c = decodeCursor(cursor);
    if (!c) throw queryError('cursor', 'not a cursor this server issued (pass next_cursor as is)', 'format');
    out.before = c;
  }
  const status = one('status');
  if (status !== undefined) {
    if (!(RUN_STATUSES as readonly string[]).includes(status)) throw queryError('status', `must be one of ${RUN_STATUSES.join(', ')}`, 'enum');
    out.status = status as RunStatus;
  }
  const since = one('since');
  if (since !== undefined) {
    const ms = RFC3339.test(since) ? Date.parse(since) : NaN;
    if (!Number.isFinite(ms)) throw queryError('since', 'must be an RFC 3339 date-time, e.g. 2025-01-15T10:00:00Z', 'format');
    out.since = ms;
  }
  const q = one('q');
  if (q !== undefined) {
    if (q.length > MAX_Q) throw queryError('q', `at most ${MAX_Q} characters`, 'maxLength');
    out.q = q;
  }
  const rawTags = req.query.tag;
  if (rawTags !== undefined) {
    // An empty tag= is no filter, like any empty parameter.
    const list = (Array.isArray(rawTags) ? rawTags : [rawTags]).filter((t) => t !== '');
    if (list.length > MAX_TAG_FILTERS) throw queryError('tag', `at most ${MAX_TAG_FILTERS} tag filters`, 'maxItems');
    if (list.length) out.tags = list.map((t) => {
      const f = typeof t === 'string' ? parseTagFilter(t) : undefined;
      if (!f) throw queryError('tag', `must be key:value or key (a key of 1 to 128 characters without ':', quotes or control characters; a value of at most ${MAX_TAG_VALUE})`, 'pattern');
      return f;
    });
  }
  for (const name of ['group_id', 'fingerprint'] as const) {
    const v = one(name);
    if (v === undefined) continue;
    if (v.length > MAX_ID_FILTER) throw queryError(name, `at most ${MAX_ID_FILTER} characters`, 'maxLength');
    out[name] = v;
  }
  const parent = one('parent_run_id');
  if (parent !== undefined) {
    if (!RUN_ID_RE.test(parent)) throw queryError('parent_run_id', 'not a run id', 'pattern');
    out.parent_run_id = parent;
  }
  const flat = one('flat');
  if (flat !== undefined) {
    if (flat !== 'true' && flat !== 'false') throw queryError('flat', 'must be true or false', 'type');
    out.flat = flat === 'true';
  }
  return out;
}

/** Grouping applies unless the query selects runs by what they are (a filter other than since) or asks for a flat list. */
export function isGrouped(q: RunsQuery): boolean {
  return !q.flat && !q.status && !q.q && !q.tags?.length && q.group_id === undefined && q.parent_run_id === undefined && q.fingerprint === undefined;
}

/** One page of the run index (never an object-store listing). */
export async function listRuns(metadata: MetadataStore, tenantId: string, q: RunsQuery) {
  if (isGrouped(q)) return listGroupedRuns(metadata, tenantId, q, encodeCursor);
  const rows = await metadata.listRuns({
    tenant_id: tenantId,
    limit: q.limit + 1,
    before: q.before,
    status: q.status,
    since: q.since,
    q: q.q,
    tags: q.tags,
    group_id: q.group_id,
    parent_run_id: q.parent_run_id,
    trajectory_fingerprint: q.fingerprint,
  });
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return { runs: page.map(runSummary), next_cursor: rows.length > q.limit && last ? encodeCursor(last) : null };
}
