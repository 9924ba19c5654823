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

/**
 * What the SDK's documents say about a run, as the run index keeps it. In a write, an absent field
 * is "not reported" and keeps the stored value; the latest reported value wins.
 */
export interface RunFacts {
  client_name?: string;
  client_version?: string;
  capture_mode?: string;
  debug_session_id?: string;
  trajectory_fingerprint?: string;
  /** Rollouts of one training batch (session.group_id, copied onto every step). */
  group_id?: string;
  /** branch_context.parent_run_id: the run this one is a branch or fan-out worker of. */
  parent_run_id?: string;
  /** session.task_spec.instruction. */
  task?: string;
  /** session.tags, replaced whole. */
  tags?: Record<string, string>;
  /** Cumulative costs (total_usd, model_usd, tokens_in, ...), replaced whole. */
  costs?: Record<string, number>;
  started_at?: number;
  ended_at?: number;
}

export interface RunRow {
  tenant_id: string;
  run_id: string;
  created_at: number;
  updated_at: number;
  status: string | null;
  step_count: number;
  /** Step emissions beyond the first of each step index (the SDK's step iterations). */
  extra_iterations: number;
  has_manifest: boolean;
  last_heartbeat_at: number | null;
  client_name: string | null;
  client_version: string | null;
  capture_mode: string | null;
  debug_session_id: string | null;
  trajectory_fingerprint: string | null;
  group_id: string | null;
  parent_run_id: string | null;
  task: string | null;
  tags: Record<string, string> | null;
  costs: Record<string, number> | null;
  started_at: number | null;
  ended_at: number | null;
}

/** What ingest learned about a run since the last flush; merged into the run index in batches. */
export interface RunTouch extends RunFacts {
  tenant_id: string;
  run_id: string;
  seen_at: number;
  /** Highest step index seen + 1. */
  step_count?: number;
  status?: string | null;
  heartbeat_at?: number;
  /** Added to the run's iteration count (not max-merged): the step route reports 1 for a new step_id at a known step index. */
  new_iterations?: number;
  /** False: only update a run that exists (a heartbeat naming a run never creates one). Default true. */
  create?: boolean;
}

/** What POST /runs writes into the index beside claiming the manifest. */
export interface ManifestFields extends RunFacts {
  status?: string | null;
  /** The manifest's step_count: max-merged like every step count. */
  step_count?: number;
}

export interface TagFilter {
  key: string;
  /** Absent: the run has the tag, whatever its value. */
  value?: string;
}

export interface RunListQuery {
  tenant_id: string;
  limit: number;
  /** Keyset: rows strictly older than (created_at, run_id). */
  before?: { created_at: number; run_id: string };
  status?: string;
  since?: number;
  q?: string;
  /** Every tag filter must hold. */
  tags?: TagFilter[];
  group_id?: string;
  parent_run_id?: string;
  trajectory_fingerprint?: string;
}

/** A top-level entry of the grouped runs list: a run without a parent, or a parent no run stands for. */
export interface RunHead {
  run_id: string;
  created_at: number;
  /** True when no run has this id: the entry stands for the runs that name it as their parent. */
  synthetic: boolean;
}

/** Roll-up of the runs that share one parent. */
export interface ChildrenSummary {
  parent_run_id: string;
  count: number;
  first_created_at: number;
  last_updated_at: number;
  step_count: number;
  extra_iterations: number;
  /** Sum of costs.total_usd over the children that report one; null when none does. */
  total_usd: number | null;
  started_at: number | null;
  /** Latest end; null while a child has none. */
  ended_at: number | null;
  last_heartbeat_at: number | null;
  statuses: Record<string, number>;
  /** The value every child shares, else null. */
  client_name: string | null;
  client_version: string | null;
  capture_mode: string | null;
  group_id: string | null;
}

/** An operator's intervention command to a live run; `seq` numbers the run's commands from 1. */
export interface RunCommand {
  tenant_id: string;
  run_id: string;
  seq: number;
  command_id: string;
  type: string;
  /** JSON object text, or null. */
  payload: string | null;
  issued_by: string;
  issued_by_email: string;
  issued_at: number;
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
  /** A flat page of runs, newest first, every filter applied. */
  listRuns(q: RunListQuery): Promise<RunRow[]>;

  /** Stores a command as the run's next (seq = last + 1, allocated safely under concurrent issuers). */
  addRunCommand(c: Omit<RunCommand, 'seq'>): Promise<RunCommand>;
  /** A run's commands after `afterSeq`, oldest first, at most `limit`. */
  listRunCommands(tenantId: string, runId: string, afterSeq: number, limit: number): Promise<RunCommand[]>;
  /** A page of the grouped list's top-level entries, newest first (keyset on created_at, run_id). */
  listRunHeads(q: Pick<RunListQuery, 'tenant_id' | 'limit' | 'before' | 'since'>): Promise<RunHead[]>;
  /** The runs with these ids (any order). */
  getRuns(tenantId: string, runIds: string[]): Promise<RunRow[]>;
  /** Children of these parents, oldest first, at most `perParent` of each. */
  listChildren(tenantId: string, parentIds: string[], perParent: number): Promise<RunRow[]>;
  /** One roll-up per parent that has children. */
  summarizeChildren(tenantId: string, parentIds: string[]): Promise<ChildrenSummary[]>;
}

/** What createMetadataStore() opens: a SQLite file (one process), or Postgres shared by every replica. */
export type MetadataStoreConfig =
  | { driver: 'sqlite'; file: string }
  | {
      driver: 'postgres';
      url: string;
      /** Pool size per process (default 10). */
      poolMax?: number;
      /** Per-statement limit, ms (default: timeoutMs). */
      statementTimeoutMs?: number;
      /**
       * Longest wait for one step, ms (default 5,000): connecting, acquiring a pooled connection,
       * a statement (server side, and client side + 500 ms for a database that stopped answering).
       * A metadata call meets a failing database for at most 2 × this + 500 ms.
       */
      timeoutMs?: number;
    };
