import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { ConflictError, translateDbError } from './errors.js';
import { migrationSource } from './migrations/index.js';
import * as runQueries from './knex-runs.js';
import { FACT_COLUMNS, factColumns, runRow } from './knex-runs.js';
import type {
  ChildrenSummary,
  Dsn,
  ManifestFields,
  MetadataStoreConfig,
  MetadataStore,
  ReadToken,
  RunCommand,
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

export function createKnex(config: MetadataStoreConfig): Knex {
  if (config.driver === 'postgres') {
    const stepMs = config.timeoutMs ?? 5_000;
    const statementMs = config.statementTimeoutMs ?? stepMs;
    return knexFactory({
      client: 'pg',
      connection: {
        connectionString: config.url,
        // Every wait is bounded: connecting, a statement on the server (57014), and the client's own
        // read timeout, a little longer, for a database that accepts and never answers.
        connectionTimeoutMillis: stepMs,
        statement_timeout: statementMs,
        query_timeout: statementMs + 500,
        idle_in_transaction_session_timeout: Math.max(1_000, 2 * statementMs),
        // A peer gone without a FIN (a partition) is found by the kernel instead of never.
        keepAlive: true,
        keepAliveInitialDelayMillis: 10_000,
      } as Knex.PgConnectionConfig,
      pool: {
        min: 0,
        max: config.poolMax ?? 10,
        acquireTimeoutMillis: stepMs,
        // Checked on every acquire: a connection whose query timed out still has that query in
        // flight (node-postgres keeps it and queues the next one behind it), so it is destroyed,
        // not handed out again; dead ones are dropped by knex itself (its error/end handlers).
        validate: (conn: PgClientState) => {
          if (healthy(conn)) return true;
          conn.connection?.stream?.destroy();
          return false;
        },
      },
      acquireConnectionTimeout: stepMs,
    });
  }
  return knexFactory({
    client: 'better-sqlite3',
    connection: { filename: config.file, options: { timeout: 5_000 } } as Knex.Sqlite3ConnectionConfig,
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

/** What node-postgres's Client exposes about its state (not in its types). */
interface PgClientState {
  _activeQuery?: unknown;
  _queryQueue?: unknown[];
  _ending?: boolean;
  _queryable?: boolean;
  connection?: { stream?: { destroy(): void; destroyed?: boolean } };
}

/** Idle and usable: nothing in flight, not ending, its socket open. */
function healthy(conn: PgClientState): boolean {
  if (conn._ending || conn._queryable === false) return false;
  if (conn._activeQuery || (conn._queryQueue?.length ?? 0) > 0) return false;
  return !conn.connection?.stream?.destroyed;
}

const bool = (v: unknown): boolean => v === true || v === 1 || v === '1';
const tenantRow = (r: Record<string, unknown>): Tenant => ({ ...(r as unknown as Tenant), modelio_enabled: bool(r.modelio_enabled) });
const userRow = (r: Record<string, unknown>): User => ({ ...(r as unknown as User), is_admin: bool(r.is_admin) });
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
    // On a connection pool of their own without the request timeouts: waiting for another
    // replica's migration, or building an index on a large table, may take longer than a request.
    const cfg = this.db.client.config as Knex.Config;
    const migrator = knexFactory({
      ...cfg,
      connection: { ...(cfg.connection as Knex.PgConnectionConfig), statement_timeout: 0, query_timeout: 0, idle_in_transaction_session_timeout: 0 } as Knex.PgConnectionConfig,
      pool: { min: 0, max: 3 },
    });
    try {
      const conn = await migrator.client.acquireConnection();
      try {
        await conn.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
        try {
          await migrator.migrate.latest({ migrationSource });
        } finally {
          await conn.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]);
        }
      } finally {
        await migrator.client.releaseConnection(conn);
      }
    } finally {
      await migrator.destroy();
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

  private async dsnById(id: string): Promise<Dsn | undefined> {
    return (await this.db('dsns').where({ id }).first()) ?? undefined;
  }

  async listDsns(tenantId: string): Promise<Dsn[]> {
    return this.db('dsns').where({ tenant_id: tenantId }).orderBy('created_at', 'desc');
  }

  async revokeDsn(id: string, tenantId?: string): Promise<Dsn | undefined> {
    const q = this.db('dsns').where({ id }).whereNull('revoked_at');
    if (tenantId) q.andWhere({ tenant_id: tenantId });
    await q.update({ revoked_at: Date.now() });
    const row = await this.dsnById(id);
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

  listRuns(q: RunListQuery): Promise<RunRow[]> {
    return runQueries.listRuns(this.db, this.kind, q);
  }

  listRunHeads(q: Pick<RunListQuery, 'tenant_id' | 'limit' | 'before' | 'since'>): Promise<RunHead[]> {
    return runQueries.listRunHeads(this.db, q);
  }

  async getRuns(tenantId: string, runIds: string[]): Promise<RunRow[]> {
    if (!runIds.length) return [];
    return (await this.db('runs').where('tenant_id', tenantId).whereIn('run_id', runIds)).map(runRow);
  }

  listChildren(tenantId: string, parentIds: string[], perParent: number): Promise<RunRow[]> {
    return runQueries.listChildren(this.db, tenantId, parentIds, perParent);
  }

  summarizeChildren(tenantId: string, parentIds: string[]): Promise<ChildrenSummary[]> {
    return runQueries.summarizeChildren(this.db, tenantId, parentIds);
  }

  // run commands
  async addRunCommand(c: Omit<RunCommand, 'seq'>): Promise<RunCommand> {
    // max + 1 under the primary key: a concurrent issuer that took the same seq makes this insert
    // fail (on Postgres only once the other commits), and the retry takes the next one.
    for (let attempt = 1; ; attempt++) {
      const last = await this.db('run_commands').where({ tenant_id: c.tenant_id, run_id: c.run_id }).max({ m: 'seq' }).first();
      const row: RunCommand = { ...c, seq: Number(last?.m ?? 0) + 1 };
      try {
        await this.run(() => this.db('run_commands').insert(row));
        return row;
      } catch (err) {
        if (!(err instanceof ConflictError) || attempt >= 50) throw err;
      }
    }
  }

  async listRunCommands(tenantId: string, runId: string, afterSeq: number, limit: number): Promise<RunCommand[]> {
    const rows = await this.db('run_commands')
      .where({ tenant_id: tenantId, run_id: runId })
      .andWhere('seq', '>', afterSeq)
      .orderBy('seq', 'asc')
      .limit(limit);
    return rows.map((r: Record<string, unknown>) => ({ ...(r as unknown as RunCommand), seq: Number(r.seq), issued_at: Number(r.issued_at) }));
  }
}
