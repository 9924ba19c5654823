import type { Knex } from 'knex';
import type { ChildrenSummary, RunFacts, RunHead, RunListQuery, RunRow } from './types.js';

// The run index's rows and the runs list's queries (flat and grouped), for SQLite and Postgres alike.

const bool = (v: unknown): boolean => v === true || v === 1 || v === '1';
const parseJson = <T>(v: unknown): T | null => {
  if (typeof v !== 'string' || v === '') return null;
  try {
    return JSON.parse(v) as T;
  } catch {
    return null;
  }
};

export const runRow = (r: Record<string, unknown>): RunRow => {
  const { total_usd: _usd, ...rest } = r;
  return {
    ...(rest as unknown as RunRow),
    has_manifest: bool(r.has_manifest),
    extra_iterations: Number(r.extra_iterations ?? 0),
    tags: parseJson<Record<string, string>>(r.tags),
    costs: parseJson<Record<string, number>>(r.costs),
  };
};

/** Scalar facts: stored as given, a later value replaces an earlier one. */
export const FACT_COLUMNS = ['client_name', 'client_version', 'capture_mode', 'debug_session_id', 'trajectory_fingerprint', 'group_id', 'parent_run_id', 'task', 'started_at', 'ended_at'] as const;

/** The columns a set of facts writes; absent facts write nothing (or null in a new row: `withNulls`). */
export function factColumns(f: RunFacts, withNulls: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of FACT_COLUMNS) if (f[c] !== undefined || withNulls) out[c] = f[c] ?? null;
  if (f.tags !== undefined || withNulls) out.tags = f.tags === undefined ? null : JSON.stringify(f.tags);
  if (f.costs !== undefined || withNulls) {
    out.costs = f.costs === undefined ? null : JSON.stringify(f.costs);
    out.total_usd = f.costs?.total_usd ?? null;
  }
  return out;
}

/** Escapes LIKE wildcards; the pattern matches anywhere, case-insensitively (the column is lowered). */
const likeAnywhere = (q: string): string => `%${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** A flat page, newest first, every filter applied. */
export async function listRuns(db: Knex, kind: 'postgres' | 'sqlite', q: RunListQuery): Promise<RunRow[]> {
  const query = db('runs').where('tenant_id', q.tenant_id);
  if (q.before) {
    const b = q.before;
    query.andWhere((w) => w.where('created_at', '<', b.created_at).orWhere((x) => x.where('created_at', b.created_at).andWhere('run_id', '<', b.run_id)));
  }
  if (q.status) query.andWhere('status', q.status);
  if (q.since !== undefined) query.andWhere('created_at', '>=', q.since);
  if (q.group_id !== undefined) query.andWhere('group_id', q.group_id);
  if (q.parent_run_id !== undefined) query.andWhere('parent_run_id', q.parent_run_id);
  if (q.trajectory_fingerprint !== undefined) query.andWhere('trajectory_fingerprint', q.trajectory_fingerprint);
  for (const tag of q.tags ?? []) {
    // A quote would end SQLite's JSON path label (callers refuse such keys already).
    if (/["\\]/.test(tag.key)) throw new Error('tag filter key with a quote or backslash');
    if (kind === 'postgres') {
      if (tag.value === undefined) query.andWhereRaw('(tags::jsonb ->> ?) is not null', [tag.key]);
      else query.andWhereRaw('(tags::jsonb ->> ?) = ?', [tag.key, tag.value]);
    } else {
      const path = `$."${tag.key}"`;
      if (tag.value === undefined) query.andWhereRaw("json_type(tags, ?) = 'text'", [path]);
      else query.andWhereRaw("json_type(tags, ?) = 'text' and json_extract(tags, ?) = ?", [path, path, tag.value]);
    }
  }
  if (q.q) {
    const like = likeAnywhere(q.q);
    query.andWhere((w) =>
      w
        .whereRaw(`lower(run_id) like ? escape '\\'`, [like])
        .orWhereRaw(`lower(coalesce(client_name, '')) like ? escape '\\'`, [like])
        .orWhereRaw(`lower(coalesce(task, '')) like ? escape '\\'`, [like])
        .orWhereRaw(`lower(coalesce(tags, '')) like ? escape '\\'`, [like]),
    );
  }
  const rows = await query.orderBy([
    { column: 'created_at', order: 'desc' },
    { column: 'run_id', order: 'desc' },
  ]).limit(q.limit);
  return rows.map(runRow);
}

/** The grouped list's top-level entries, newest first. */
export async function listRunHeads(db: Knex, q: Pick<RunListQuery, 'tenant_id' | 'limit' | 'before' | 'since'>): Promise<RunHead[]> {
  // Runs without a parent, and one entry per parent id that no run of the tenant has (created
  // when its first child was). A child whose parent exists is listed under that parent only.
  // Each half applies the keyset and the limit itself, so the first walks the newest-first index
  // and stops after `limit` rows instead of sorting the tenant's runs.
  const b = q.before;
  const own = db('runs')
    .select('run_id', 'created_at', db.raw('0 as synthetic'))
    .where('tenant_id', q.tenant_id)
    .whereNull('parent_run_id')
    .modify((w) => {
      if (b) w.andWhere((x) => x.where('created_at', '<', b.created_at).orWhere((y) => y.where('created_at', b.created_at).andWhere('run_id', '<', b.run_id)));
      if (q.since !== undefined) w.andWhere('created_at', '>=', q.since);
    })
    .orderBy([
      { column: 'created_at', order: 'desc' },
      { column: 'run_id', order: 'desc' },
    ])
    .limit(q.limit);
  const synthesised = db('runs as c')
    .select('c.parent_run_id as run_id', db.raw('min(c.created_at) as created_at'), db.raw('1 as synthetic'))
    .where('c.tenant_id', q.tenant_id)
    .whereNotNull('c.parent_run_id')
    .whereRaw('not exists (select 1 from runs p where p.tenant_id = c.tenant_id and p.run_id = c.parent_run_id)')
    .groupBy('c.parent_run_id')
    .modify((w) => {
      if (b) w.havingRaw('(min(c.created_at) < ? or (min(c.created_at) = ? and c.parent_run_id < ?))', [b.created_at, b.created_at, b.run_id]);
      if (q.since !== undefined) w.havingRaw('min(c.created_at) >= ?', [q.since]);
    });
  const heads = db.select('*').from(own.as('own')).unionAll(db.select('*').from(synthesised.as('synthesised')), false);
  const rows: Array<Record<string, unknown>> = await db
    .select('*')
    .from(heads.as('heads'))
    .orderBy([
      { column: 'created_at', order: 'desc' },
      { column: 'run_id', order: 'desc' },
    ])
    .limit(q.limit);
  return rows.map((r) => ({ run_id: String(r.run_id), created_at: Number(r.created_at), synthetic: Number(r.synthetic) === 1 }));
}

/** Children of these parents, oldest first, at most `perParent` each (a window function, one query). */
export async function listChildren(db: Knex, tenantId: string, parentIds: string[], perParent: number): Promise<RunRow[]> {
  if (!parentIds.length) return [];
  const ranked = db('runs')
    .select('*', db.raw('row_number() over (partition by parent_run_id order by created_at, run_id) as rn'))
    .where('tenant_id', tenantId)
    .whereIn('parent_run_id', parentIds);
  const rows: Array<Record<string, unknown>> = await db
    .select('*')
    .from(ranked.as('ranked'))
    .where('rn', '<=', perParent)
    .orderBy([{ column: 'parent_run_id' }, { column: 'created_at' }, { column: 'run_id' }]);
  return rows.map(({ rn: _rn, ...r }) => runRow(r));
}

/** One roll-up per parent: sums, extremes, status counts and the values all children share. */
export async function summarizeChildren(db: Knex, tenantId: string, parentIds: string[]): Promise<ChildrenSummary[]> {
  if (!parentIds.length) return [];
  const raw = (sql: string) => db.raw(sql);
  // A value every child shares: one distinct value and no child without one.
  const shared = (c: string) => raw(`case when count(distinct ${c}) = 1 and count(${c}) = count(*) then min(${c}) end as ${c}`);
  const [rollups, statuses] = await Promise.all([
    db('runs')
      .where('tenant_id', tenantId)
      .whereIn('parent_run_id', parentIds)
      .groupBy('parent_run_id')
      .select(
        'parent_run_id',
        raw('count(*) as count'),
        raw('min(created_at) as first_created_at'),
        raw('max(updated_at) as last_updated_at'),
        raw('sum(step_count) as step_count'),
        raw('sum(extra_iterations) as extra_iterations'),
        raw('sum(total_usd) as total_usd'),
        raw('min(started_at) as started_at'),
        raw('case when count(ended_at) = count(*) then max(ended_at) end as ended_at'),
        raw('max(last_heartbeat_at) as last_heartbeat_at'),
        shared('client_name'),
        shared('client_version'),
        shared('capture_mode'),
        shared('group_id'),
      ),
    db('runs')
      .where('tenant_id', tenantId)
      .whereIn('parent_run_id', parentIds)
      .whereNotNull('status')
      .groupBy('parent_run_id', 'status')
      .select('parent_run_id', 'status', raw('count(*) as n')),
  ]);
  const byParent = new Map<string, Record<string, number>>();
  for (const r of statuses as Array<{ parent_run_id: string; status: string; n: unknown }>) {
    const m = byParent.get(r.parent_run_id) ?? {};
    m[r.status] = Number(r.n);
    byParent.set(r.parent_run_id, m);
  }
  const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
  return (rollups as Array<Record<string, unknown>>).map((r) => ({
    parent_run_id: String(r.parent_run_id),
    count: Number(r.count),
    first_created_at: Number(r.first_created_at),
    last_updated_at: Number(r.last_updated_at),
    step_count: Number(r.step_count ?? 0),
    extra_iterations: Number(r.extra_iterations ?? 0),
    total_usd: num(r.total_usd),
    started_at: num(r.started_at),
    ended_at: num(r.ended_at),
    last_heartbeat_at: num(r.last_heartbeat_at),
    statuses: byParent.get(String(r.parent_run_id)) ?? {},
    client_name: (r.client_name as string | null) ?? null,
    client_version: (r.client_version as string | null) ?? null,
    capture_mode: (r.capture_mode as string | null) ?? null,
    group_id: (r.group_id as string | null) ?? null,
  }));
}
