/** A client's presence entry: the fields of its last heartbeat plus what ingest stamped since. */
export interface ClientPresence {
  client_id: string;
  last_seen: number;
  fields: Record<string, string>;
}

export interface StampInput {
  tenantId: string;
  dsnId: string;
  /** The heartbeat's client_id (explicit) or the fallback for an ingest call (header or DSN client name). */
  clientId: string;
  /** True for POST /heartbeat: it also remembers this client id as the one behind the DSN key. */
  explicit: boolean;
  fields: Record<string, string>;
  /**
   * Written only where the client's live entry has no value for the field yet: a placeholder that
   * must not replace what the client reported before (the SDK's opening heartbeat says
   * capture_mode "off" before its session knows the real mode, and can arrive after the first
   * loop heartbeat). An entry older than the presence window counts as empty.
   */
  fieldsIfAbsent?: Record<string, string>;
  now: number;
}

export interface AppendReservation {
  /** Position of this append in the file, from 1. */
  seq: number;
  /** Bytes the file held (or had reserved) before this append. */
  before: number;
  /** Bytes this append may store (less than asked when the file's bound is reached). */
  allowed: number;
  /** True when an append with the same idempotency key was reserved before: seq and allowed are its. */
  repeat?: boolean;
}

export interface WindowCount {
  count: number;
  resetAt: number;
}

/** Presence and the small shared state every replica must agree on. */
export interface PresenceStore {
  readonly kind: 'redis' | 'memory';
  /** Records a heartbeat in one round trip; resolves to the client id the entry was stored under. */
  stamp(input: StampInput): Promise<string>;
  /** Clients of a tenant seen within the presence window (60 s), newest first. */
  listClients(tenantId: string, now: number): Promise<ClientPresence[]>;
  /** Allocates the next sequence number of an appended file and reserves bytes against its bound; null when the counter is unknown (call initAppend). */
  reserveAppend(file: string, bytes: number, maxBytes: number | null, idempotencyKey?: string): Promise<AppendReservation | null>;
  /** Seeds an append counter from what the object store holds, unless another replica already did. */
  initAppend(file: string, seq: number, bytes: number): Promise<void>;
  /** Counts `by` events (default one; negative takes them back) in a fixed window (rate limits). */
  hit(key: string, windowMs: number, now: number, by?: number): Promise<WindowCount>;
  /** Reads a window's count without adding to it. */
  peek(key: string, now: number): Promise<WindowCount>;
  publish(channel: string, message: string): Promise<void>;
  subscribe(channel: string, handler: (message: string) => void): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export const PRESENCE_TTL_MS = 60_000;
/** Append counters outlive any live run; a missing one is rebuilt from the object store. */
export const APPEND_COUNTER_TTL_S = 7 * 86_400;
/** How long an append's idempotency key is remembered (a client retrying after that appends again). */
export const IDEMPOTENCY_TTL_S = 86_400;

/** What createPresenceStore() opens: in-process state, or a Redis shared by every replica under one key prefix. */
export type PresenceStoreConfig = { driver: 'memory' } | { driver: 'redis'; url: string; prefix: string };
