import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { translateDbError } from './errors.js';
import { migrationSource } from './migrations/index.js';
import type {
  ChildrenSummary,
  Dsn,
  ManifestFields,
  MetadataStore,
  ReadToken,
  RunFacts,
  RunHead,
  RunListQuery,
  RunRow,
  RunTouch,
  Session,
  Tenant,
  TenantCounts,
  User,
} from './types.js';

// bigint columns hold epoch milliseconds and counts, well inside Number's exact range.
pg.types.setTypeParser(20, (v) => Number(v));

const MIGRATION_LOCK_ID = 4_211_337; // pg advisory lock key shared by every replica

export function createKnex(opts: { databaseUrl?: string; sqliteFile?: string }): Knex {
  if (opts.databaseUrl) {
    return knexFactory({
      client: 'pg',
      connection: { connectionString: opts.databaseUrl, connectionTimeoutMillis: 5_000, statement_timeout: 15_000, query_timeout: 20_000 },
      pool: { min: 0, max: 10, acquireTimeoutMillis: 10_000 },
      acquireConnectionTimeout: 10_000,
    });
  }
  return knexFactory({
    client: 'better-sqlite3',
    connection: { filename: opts.sqliteFile ?? ':memory:', options: { timeout: 5_000 } } as Knex.Sqlite3ConnectionConfig,
    useNullAsDefault: true,
    pool: {
      min: 1,
      max: 1,
      afterCreate: (conn: { pragma: (s: string) => void }, done: (err: Error | null, conn: unknown) => void) => {
        // WAL lets the CLI read and write while a server holds the file open.
        conn.pragma('journal_mode = WAL');
        conn.pragma('busy_timeout = 5000');
        conn.pragma('foreign_keys = ON');
        done(null, conn);
      },
    },
  });
}

const bool = (v: unknown): boolean => v === true || v === 1 || v === '1';
const tenantRow = (r: Record<string, unknown>): Tenant => ({ ...(r as unknown as Tenant), modelio_enabled: bool(r.modelio_enabled) });
const userRow = (r: Record<string, unknown>): User => ({ ...(r as unknown as User), is_admin: bool(r.is_admin) });
const parseJson = <T>(v: unknown): T | null => {
  if (typeof v !== 'string' || v === '') return null;
  try {
    return JSON.parse(v) as T;
  } catch {
    return null;
  }
};
const runRow = (r: Record<string, unknown>): RunRow => {
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
const FACT_COLUMNS = ['client_name', 'client_version', 'capture_mode', 'debug_session_id', 'trajectory_fingerprint', 'group_id', 'parent_run_id', 'task', 'started_at', 'ended_at'] as const;

/** The columns a set of facts writes; absent facts write nothing (or null in a new row: `withNulls`). */
function factColumns(f: RunFacts, withNulls: boolean): Record<string, unknown> {
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

export class KnexMetadataStore implements MetadataStore {
  readonly kind: 'postgres' | 'sqlite';

  constructor(readonly db: Knex) {
    this.kind = db.client.config.client === 'pg' ? 'postgres' : 'sqlite';
  }

  private async run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw translateDbError(err);
    }
  }

  async migrate(): Promise<void> {
    if (this.kind === 'sqlite') {
      await this.db.migrate.latest({ migrationSource });
      return;
    }
    // knex's own lock table is created racily on an empty database; an advisory lock serialises
    // replicas that start together, and knex's lock still guards the migrations themselves.
    const conn = await this.db.client.acquireConnection();
    try {
      await conn.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
      try {
        await this.db.migrate.latest({ migrationSource });
      } finally {
        await conn.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]);
      }
    } finally {
      await this.db.client.releaseConnection(conn);
    }
  }

  async ping(): Promise<void> {
    await this.db.raw('select 1');
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  // tenants
  async createTenant(t: Omit<Tenant, 'created_at'> & { created_at?: number }): Promise<Tenant> {
    const row = { ...t, created_at: t.created_at ?? Date.now() };
    await this.run(() => this.db('tenants').insert(row));
    return row;
  }

  async updateTenant(id: string, patch: Partial<Pick<Tenant, 'name' | 'modelio_enabled'>>): Promise<Tenant | undefined> {
    if (Object.keys(patch).length) await this.run(() => this.db('tenants').where({ id }).update(patch));
    return this.getTenant(id);
  }

  async getTenant(id: string): Promise<Tenant | undefined> {
    const r = await this.db('tenants').where({ id }).first();
    return r ? tenantRow(r) : undefined;
  }

  async getTenantBySlug(slug: string): Promise<Tenant | undefined> {
    const r = await this.db('tenants').where({ slug }).first();
    return r ? tenantRow(r) : undefined;
  }

  async listTenants(): Promise<Array<Tenant & { counts: TenantCounts }>> {
    const count = (table: string, extra?: (q: Knex.QueryBuilder) => void) =>
      this.db(table)
        .select('tenant_id')
        .count({ n: '*' })
        .groupBy('tenant_id')
        .modify((q) => extra?.(q))
        .then((rows: Array<Record<string, unknown>>) => new Map<string, number>(rows.map((r) => [String(r.tenant_id), Number(r.n)])));
    const [tenants, users, dsns, runs] = await Promise.all([
      this.db('tenants').orderBy('created_at', 'asc'),
      count('users'),
      count('dsns', (q) => q.whereNull('revoked_at')),
      count('runs'),
    ]);
    return tenants.map((r) => ({
      ...tenantRow(r),
      counts: { users: users.get(r.id) ?? 0, dsns: dsns.get(r.id) ?? 0, runs: runs.get(r.id) ?? 0 },
    }));
  }

  async countTenants(): Promise<number> {
    const r = await this.db('tenants').count({ n: '*' }).first();
    return Number(r?.n ?? 0);
  }

  // users
  async createUser(u: Omit<User, 'created_at'> & { created_at?: number }): Promise<User> {
    const row = { ...u, email: u.email.toLowerCase(), created_at: u.created_at ?? Date.now() };
    await this.run(() => this.db('users').insert(row));
    return row;
  }

  async getUser(id: string): Promise<User | undefined> {
    const r = await this.db('users').where({ id }).first();
    return r ? userRow(r) : undefined;
  }

  async getUserByEmail(email: string): Promise<User | undefined> {
    const r = await this.db('users').where({ email: email.toLowerCase() }).first();
    return r ? userRow(r) : undefined;
  }

  // DSNs
  async createDsn(d: Omit<Dsn, 'created_at' | 'last_used_at' | 'revoked_at'>): Promise<Dsn> {
    const row: Dsn = { ...d, created_at: Date.now(), last_used_at: null, revoked_at: null };
    await this.run(() => this.db('dsns').insert(row));
    return row;
  }

  async findDsnByHash(hash: string): Promise<{ dsn: Dsn; tenant: Tenant } | undefined> {
    const r = await this.db('dsns')
      .join('tenants', 'tenants.id', 'dsns.tenant_id')
      .where('dsns.key_hash', hash)
      .select('dsns.*', 'tenants.slug as t_slug', 'tenants.name as t_name', 'tenants.modelio_enabled as t_modelio', 'tenants.created_at as t_created')
      .first();
    if (!r) return undefined;
    const { t_slug, t_name, t_modelio, t_created, ...dsn } = r;
    return {
      dsn: dsn as Dsn,
      tenant: { id: dsn.tenant_id, slug: t_slug, name: t_name, modelio_enabled: bool(t_modelio), created_at: t_created },
    };
  }

  async getDsn(id: string): Promise<Dsn | undefined> {
    return (await this.db('dsns').where({ id }).first()) ?? undefined;
  }

  async listDsns(tenantId: string): Promise<Dsn[]> {
    return this.db('dsns').where({ tenant_id: tenantId }).orderBy('created_at', 'desc');
  }

  async revokeDsn(id: string, tenantId?: string): Promise<Dsn | undefined> {
    const q = this.db('dsns').where({ id }).whereNull('revoked_at');
    if (tenantId) q.andWhere({ tenant_id: tenantId });
    await q.update({ revoked_at: Date.now() });
    const row = await this.getDsn(id);
    return row && (!tenantId || row.tenant_id === tenantId) ? row : undefined;
  }

  async touchDsns(lastUsed: Map<string, number>): Promise<void> {
    await this.touchLastUsed('dsns', lastUsed);
  }

  async touchReadTokens(lastUsed: Map<string, number>): Promise<void> {
    await this.touchLastUsed('read_tokens', lastUsed);
  }

  /** last_used_at only moves forward, whichever replica flushes first. One transaction per flush. */
  private async touchLastUsed(table: 'dsns' | 'read_tokens', lastUsed: Map<string, number>): Promise<void> {
    if (!lastUsed.size) return;
    await this.db.transaction(async (trx) => {
      for (const [id, at] of lastUsed) {
        await trx(table).where({ id }).andWhere((q) => q.whereNull('last_used_at').orWhere('last_used_at', '<', at)).update({ last_used_at: at });
      }
    });
  }

  // sessions
  async createSession(s: Session): Promise<void> {
    await this.run(() => this.db('sessions').insert(s));
  }

  async findSession(tokenHash: string, now: number): Promise<Session | undefined> {
    return (await this.db('sessions').where({ token_hash: tokenHash }).andWhere('expires_at', '>', now).first()) ?? undefined;
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.db('sessions').where({ token_hash: tokenHash }).delete();
  }

  async deleteExpiredSessions(now: number): Promise<number> {
    return this.db('sessions').where('expires_at', '<=', now).delete();
  }

  // read tokens
  async createReadToken(t: Omit<ReadToken, 'last_used_at' | 'revoked_at'>): Promise<ReadToken> {
    const row: ReadToken = { ...t, last_used_at: null, revoked_at: null };
    await this.run(() => this.db('read_tokens').insert(row));
    return row;
  }

  async findReadToken(hash: string, now: number): Promise<ReadToken | undefined> {
    const r = await this.db('read_tokens')
      .where({ token_hash: hash })
      .whereNull('revoked_at')
      .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', now))
      .first();
    return r ?? undefined;
  }

  async listReadTokens(userId: string): Promise<ReadToken[]> {
    return this.db('read_tokens').where({ user_id: userId }).whereNull('revoked_at').orderBy('created_at', 'desc');
  }

  async revokeReadToken(id: string, userId: string): Promise<boolean> {
    const n = await this.db('read_tokens').where({ id, user_id: userId }).whereNull('revoked_at').update({ revoked_at: Date.now() });
    return n > 0;
  }

  // run index
  private get max(): string {
    return this.kind === 'postgres' ? 'GREATEST' : 'MAX';
  }

  async upsertManifest(tenantId: string, runId: string, f: ManifestFields, now: number): Promise<boolean> {
    const key = { tenant_id: tenantId, run_id: runId };
    const steps = f.step_count ?? 0;
    const fields = {
      ...factColumns(f, false),
      ...(f.status ? { status: f.status } : {}),
      ...(steps > 0 ? { step_count: this.db.raw(`${this.max}(step_count, ?)`, [steps]) } : {}),
      updated_at: now,
    };
    // Two attempts: a batched index flush may create the row (without a manifest) between them.
    for (let attempt = 0; attempt < 2; attempt++) {
      const claimed = await this.db('runs').where(key).andWhere('has_manifest', false).update({ ...fields, has_manifest: true });
      if (claimed > 0) return true;
      const inserted = await this.run(() =>
        this.db('runs')
          .insert({ ...key, created_at: now, status: f.status ?? 'running', ...factColumns(f, true), updated_at: now, step_count: steps, has_manifest: true })
          .onConflict(['tenant_id', 'run_id'])
          .ignore()
          .returning('run_id'),
      );
      if (inserted.length > 0) return true;
      const existing = await this.getRun(tenantId, runId);
      if (existing?.has_manifest) {
        await this.db('runs').where(key).update(fields);
        return false;
      }
    }
    await this.db('runs').where(key).update({ ...fields, has_manifest: true });
    return false;
  }

  async touchRuns(all: RunTouch[]): Promise<void> {
    const max = this.max;
    // Touches that must not create a run (heartbeats): plain updates, in one transaction.
    const updates = all.filter((x) => x.create === false);
    if (updates.length) {
      await this.db.transaction(async (trx) => {
        for (const t of updates) {
          await trx('runs')
            .where({ tenant_id: t.tenant_id, run_id: t.run_id })
            .update({
              updated_at: this.db.raw(`${max}(updated_at, ?)`, [t.seen_at]),
              ...(t.heartbeat_at !== undefined ? { last_heartbeat_at: this.db.raw(`${max}(COALESCE(last_heartbeat_at, 0), ?)`, [t.heartbeat_at]) } : {}),
            });
        }
      });
    }
    const touches = all.filter((x) => x.create !== false);
    if (!touches.length) return;
    const rows = touches.map((t) => ({
      tenant_id: t.tenant_id,
      run_id: t.run_id,
      created_at: t.seen_at,
      updated_at: t.seen_at,
      status: t.status ?? 'running',
      step_count: t.step_count ?? 0,
      extra_iterations: t.new_iterations ?? 0,
      has_manifest: false,
      last_heartbeat_at: t.heartbeat_at ?? null,
      ...factColumns(t, true),
    }));
    const statusGiven = new Set(touches.filter((t) => t.status).map((t) => `${t.tenant_id}\u0000${t.run_id}`));
    // Rows whose touch carries no status keep theirs: split so the merge can say which column wins.
    const withStatus = rows.filter((r) => statusGiven.has(`${r.tenant_id}\u0000${r.run_id}`));
    const without = rows.filter((r) => !statusGiven.has(`${r.tenant_id}\u0000${r.run_id}`));
    // A fact the touch does not report is null in `excluded` and the stored value stays.
    const facts = Object.fromEntries([...FACT_COLUMNS, 'tags', 'costs'].map((c) => [c, this.db.raw(`COALESCE(excluded.${c}, runs.${c})`)]));
    const merge = (status: boolean) => ({
      updated_at: this.db.raw(`${max}(runs.updated_at, excluded.updated_at)`),
      step_count: this.db.raw(`${max}(runs.step_count, excluded.step_count)`),
      extra_iterations: this.db.raw('runs.extra_iterations + excluded.extra_iterations'),
      last_heartbeat_at: this.db.raw(
        `NULLIF(${max}(COALESCE(runs.last_heartbeat_at, 0), COALESCE(excluded.last_heartbeat_at, 0)), 0)`,
      ),
      ...facts,
      // total_usd follows costs: new costs without a total clear it.
      total_usd: this.db.raw('CASE WHEN excluded.costs IS NOT NULL THEN excluded.total_usd ELSE runs.total_usd END'),
      ...(status ? { status: this.db.raw('excluded.status') } : {}),
    });
    for (const [batch, status] of [
      [withStatus, true],
      [without, false],
    ] as const) {
      for (let i = 0; i < batch.length; i += 200) {
        await this.run(() => this.db('runs').insert(batch.slice(i, i + 200)).onConflict(['tenant_id', 'run_id']).merge(merge(status)));
      }
    }
  }

  async getRun(tenantId: string, runId: string): Promise<RunRow | undefined> {
    const r = await this.db('runs').where({ tenant_id: tenantId, run_id: runId }).first();
    return r ? runRow(r) : undefined;
  }

  async listRuns(q: RunListQuery): Promise<RunRow[]> {
    const query = this.db('runs').where('tenant_id', q.tenant_id);
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
      // Keys are checked by the caller (no quote or backslash), so the SQLite JSON path is safe.
      if (this.kind === 'postgres') {
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

  async listRunHeads(q: Pick<RunListQuery, 'tenant_id' | 'limit' | 'before' | 'since'>): Promise<RunHead[]> {
    // Runs without a parent, and one entry per parent id that no run of the tenant has (created
    // when its first child was). A child whose parent exists is listed under that parent only.
    // Each half applies the keyset and the limit itself, so the first walks the newest-first index
    // and stops after `limit` rows instead of sorting the tenant's runs.
    const b = q.before;
    const own = this.db('runs')
      .select('run_id', 'created_at', this.db.raw('0 as synthetic'))
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
    const synthesised = this.db('runs as c')
      .select('c.parent_run_id as run_id', this.db.raw('min(c.created_at) as created_at'), this.db.raw('1 as synthetic'))
      .where('c.tenant_id', q.tenant_id)
      .whereNotNull('c.parent_run_id')
      .whereRaw('not exists (select 1 from runs p where p.tenant_id = c.tenant_id and p.run_id = c.parent_run_id)')
      .groupBy('c.parent_run_id')
      .modify((w) => {
        if (b) w.havingRaw('(min(c.created_at) < ? or (min(c.created_at) = ? and c.parent_run_id < ?))', [b.created_at, b.created_at, b.run_id]);
        if (q.since !== undefined) w.havingRaw('min(c.created_at) >= ?', [q.since]);
      });
    const heads = this.db.select('*').from(own.as('own')).unionAll(this.db.select('*').from(synthesised.as('synthesised')), false);
    const rows: Array<Record<string, unknown>> = await this.db
      .select('*')
      .from(heads.as('heads'))
      .orderBy([
        { column: 'created_at', order: 'desc' },
        { column: 'run_id', order: 'desc' },
      ])
      .limit(q.limit);
    return rows.map((r) => ({ run_id: String(r.run_id), created_at: Number(r.created_at), synthetic: Number(r.synthetic) === 1 }));
  }

  async getRuns(tenantId: string, runIds: string[]): Promise<RunRow[]> {
    if (!runIds.length) return [];
    return (await this.db('runs').where('tenant_id', tenantId).whereIn('run_id', runIds)).map(runRow);
  }

  async listChildren(tenantId: string, parentIds: string[], perParent: number): Promise<RunRow[]> {
    if (!parentIds.length) return [];
    const ranked = this.db('runs')
      .select('*', this.db.raw('row_number() over (partition by parent_run_id order by created_at, run_id) as rn'))
      .where('tenant_id', tenantId)
      .whereIn('parent_run_id', parentIds);
    const rows: Array<Record<string, unknown>> = await this.db
      .select('*')
      .from(ranked.as('ranked'))
      .where('rn', '<=', perParent)
      .orderBy([{ column: 'parent_run_id' }, { column: 'created_at' }, { column: 'run_id' }]);
    return rows.map(({ rn: _rn, ...r }) => runRow(r));
  }

  async summarizeChildren(tenantId: string, parentIds: string[]): Promise<ChildrenSummary[]> {
    if (!parentIds.length) return [];
    const raw = (sql: string) => this.db.raw(sql);
    // A value every child shares: one distinct value and no child without one.
    const shared = (c: string) => raw(`case when count(distinct ${c}) = 1 and count(${c}) = count(*) then min(${c}) end as ${c}`);
    const [rollups, statuses] = await Promise.all([
      this.db('runs')
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
      this.db('runs')
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
}
