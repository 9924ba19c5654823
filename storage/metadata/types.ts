/** Times are epoch milliseconds in the store; the HTTP layer turns them into ISO strings. */
export interface Tenant {
  id: string;
  slug: string;
  name: string;
  modelio_enabled: boolean;
  created_at: number;
}

export interface User {
  id: string;
  email: string;
  password_hash: string;
  tenant_id: string;
  is_admin: boolean;
  created_at: number;
}

export interface Dsn {
  id: string;
  tenant_id: string;
  client_name: string;
  key_prefix: string;
  key_hash: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface Session {
  id: string;
  token_hash: string;
  user_id: string;
  created_at: number;
  expires_at: number;
}

export interface ReadToken {
  id: string;
  user_id: string;
  name: string;
  token_prefix: string;
  token_hash: string;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface RunRow {
  tenant_id: string;
  run_id: string;
  created_at: number;
  updated_at: number;
  status: string | null;
  agent: string | null;
  task: string | null;
  step_count: number;
  has_manifest: boolean;
  last_heartbeat_at: number | null;
}

/** What ingest learned about a run since the last flush; merged into the run index in batches. */
export interface RunTouch {
  tenant_id: string;
  run_id: string;
  seen_at: number;
  /** Highest step index seen + 1. */
  step_count?: number;
  status?: string | null;
  heartbeat_at?: number;
  /** False: only update a run that exists (a heartbeat naming a run never creates one). Default true. */
  create?: boolean;
}

export interface ManifestFields {
  status: string | null;
  agent: string | null;
  task: string | null;
}

export interface RunListQuery {
  tenant_id: string;
  limit: number;
  /** Keyset: rows strictly older than (created_at, run_id). */
  before?: { created_at: number; run_id: string };
  status?: string;
  since?: number;
  q?: string;
}

export interface TenantCounts {
  users: number;
  dsns: number;
  runs: number;
}

/** Relational metadata: tenants, users, DSNs, sessions, read tokens and the run index. */
export interface MetadataStore {
  readonly kind: 'postgres' | 'sqlite';
  /** Applies pending migrations; safe when several replicas call it at once. */
  migrate(): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;

  createTenant(t: Omit<Tenant, 'created_at'> & { created_at?: number }): Promise<Tenant>;
  updateTenant(id: string, patch: Partial<Pick<Tenant, 'name' | 'modelio_enabled'>>): Promise<Tenant | undefined>;
  getTenant(id: string): Promise<Tenant | undefined>;
  getTenantBySlug(slug: string): Promise<Tenant | undefined>;
  listTenants(): Promise<Array<Tenant & { counts: TenantCounts }>>;
  countTenants(): Promise<number>;

  createUser(u: Omit<User, 'created_at'> & { created_at?: number }): Promise<User>;
  getUser(id: string): Promise<User | undefined>;
  getUserByEmail(email: string): Promise<User | undefined>;

  createDsn(d: Omit<Dsn, 'created_at' | 'last_used_at' | 'revoked_at'>): Promise<Dsn>;
  /** The key's row joined with its tenant, revoked or not (the caller decides). */
  findDsnByHash(hash: string): Promise<{ dsn: Dsn; tenant: Tenant } | undefined>;
  listDsns(tenantId: string): Promise<Dsn[]>;
  revokeDsn(id: string, tenantId?: string): Promise<Dsn | undefined>;
  /** Batched from memory so ingest never writes per request. */
  touchDsns(lastUsed: Map<string, number>): Promise<void>;

  createSession(s: Session): Promise<void>;
  findSession(tokenHash: string, now: number): Promise<Session | undefined>;
  deleteSession(tokenHash: string): Promise<void>;
  deleteExpiredSessions(now: number): Promise<number>;

  createReadToken(t: Omit<ReadToken, 'last_used_at' | 'revoked_at'>): Promise<ReadToken>;
  findReadToken(hash: string, now: number): Promise<ReadToken | undefined>;
  listReadTokens(userId: string): Promise<ReadToken[]>;
  revokeReadToken(id: string, userId: string): Promise<boolean>;
  /** Batched like touchDsns. */
  touchReadTokens(lastUsed: Map<string, number>): Promise<void>;

  /** Records a manifest; true when it is the run's first manifest (the run may already exist from out-of-order calls). */
  upsertManifest(tenantId: string, runId: string, fields: ManifestFields, now: number): Promise<boolean>;
  /** Merges batched ingest facts into the run index, creating missing rows. */
  touchRuns(touches: RunTouch[]): Promise<void>;
  getRun(tenantId: string, runId: string): Promise<RunRow | undefined>;
  listRuns(q: RunListQuery): Promise<RunRow[]>;
}

/** What createMetadataStore() opens: a SQLite file (one process), or Postgres shared by every replica. */
export type MetadataStoreConfig =
  | { driver: 'sqlite'; file: string }
  | {
      driver: 'postgres';
      url: string;
      /** Pool size per process (default 10). */
      poolMax?: number;
      /** Per-statement limit, ms (default 15,000). */
      statementTimeoutMs?: number;
    };
