import type { RedisTarget } from '../redis/connection.js';

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

/** Which clients are connected: heartbeats and ingest calls, kept for the presence window. */
export interface PresenceStore {
  readonly kind: 'redis' | 'memory';
  /** Records a heartbeat at `now` in one round trip; resolves to the client id the entry was stored under. */
  stamp(input: StampInput): Promise<string>;
  /** Clients of a tenant seen within the presence window (60 s) before `now`, newest first. */
  listClients(tenantId: string, now: number): Promise<ClientPresence[]>;
  /** Resolves when the backend answers (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export const PRESENCE_TTL_MS = 60_000;

/** What createPresenceStore() opens: in-process state, or a Redis shared by every replica under one key prefix. */
export type PresenceStoreConfig = { driver: 'memory' } | ({ driver: 'redis' } & RedisTarget);
