import { EventEmitter } from 'node:events';
import { IDEMPOTENCY_TTL_S, PRESENCE_TTL_MS, type AppendReservation, type ClientPresence, type PresenceStore, type StampInput, type WindowCount } from './types.js';

const SWEEP_EVERY_MS = 60_000;

/** In-process presence for a single embedded server: same semantics as Redis, nothing shared. */
export class MemoryPresenceStore implements PresenceStore {
  readonly kind = 'memory' as const;
  private readonly clients = new Map<string, Map<string, ClientPresence>>();
  private readonly dsnClient = new Map<string, string>();
  private readonly appends = new Map<string, { seq: number; bytes: number }>();
  private readonly idempotency = new Map<string, { seq: number; allowed: number; expires: number }>();
  private readonly windows = new Map<string, WindowCount>();
  private readonly bus = new EventEmitter();
  /** Expired idempotency keys and windows are swept at most once a minute (each lookup checks expiry itself). */
  private nextIdempotencySweep = 0;
  private nextWindowSweep = 0;

  async stamp(input: StampInput): Promise<string> {
    let clientId = input.clientId;
    if (input.explicit) this.dsnClient.set(input.dsnId, clientId);
    else clientId = this.dsnClient.get(input.dsnId) ?? clientId;
    let tenant = this.clients.get(input.tenantId);
    if (!tenant) this.clients.set(input.tenantId, (tenant = new Map()));
    const prev = tenant.get(clientId);
    const fresh = prev && prev.last_seen > input.now - PRESENCE_TTL_MS;
    const fields = { ...(fresh ? prev.fields : {}), ...input.fields };
    for (const [k, v] of Object.entries(input.fieldsIfAbsent ?? {})) if (!(k in fields)) fields[k] = v;
    tenant.set(clientId, { client_id: clientId, last_seen: input.now, fields });
    return clientId;
  }

  async listClients(tenantId: string, now: number): Promise<ClientPresence[]> {
    const tenant = this.clients.get(tenantId);
    if (!tenant) return [];
    for (const [id, c] of tenant) if (c.last_seen <= now - PRESENCE_TTL_MS) tenant.delete(id);
    return [...tenant.values()].sort((a, b) => b.last_seen - a.last_seen).map((c) => ({ ...c, fields: { ...c.fields } }));
  }

  async reserveAppend(file: string, bytes: number, maxBytes: number | null, idempotencyKey?: string): Promise<AppendReservation | null> {
    const c = this.appends.get(file);
    if (!c) return null;
    const idem = idempotencyKey === undefined ? undefined : `${file}\u0000${idempotencyKey}`;
    const seen = idem === undefined ? undefined : this.idempotency.get(idem);
    if (seen && seen.expires > Date.now()) return { seq: seen.seq, before: c.bytes, allowed: seen.allowed, repeat: true };
    const allowed = maxBytes === null ? bytes : Math.max(0, Math.min(bytes, maxBytes - c.bytes));
    const r = { seq: ++c.seq, before: c.bytes, allowed };
    c.bytes += allowed;
    if (idem !== undefined) {
      const now = Date.now();
      if (this.idempotency.size > 100_000 && now >= this.nextIdempotencySweep) {
        this.nextIdempotencySweep = now + SWEEP_EVERY_MS;
        for (const [k, v] of this.idempotency) if (v.expires <= now) this.idempotency.delete(k);
      }
      this.idempotency.set(idem, { seq: r.seq, allowed, expires: Date.now() + IDEMPOTENCY_TTL_S * 1000 });
    }
    return r;
  }

  async initAppend(file: string, seq: number, bytes: number): Promise<void> {
    if (!this.appends.has(file)) this.appends.set(file, { seq, bytes });
  }

  async hit(key: string, windowMs: number, now: number, by = 1): Promise<WindowCount> {
    if (this.windows.size > 10_000 && now >= this.nextWindowSweep) {
      this.nextWindowSweep = now + SWEEP_EVERY_MS;
      for (const [k, v] of this.windows) if (v.resetAt <= now) this.windows.delete(k);
    }
    let w = this.windows.get(key);
    if (!w || w.resetAt <= now) this.windows.set(key, (w = { count: 0, resetAt: now + windowMs }));
    w.count = Math.max(0, w.count + by);
    return { ...w };
  }

  async peek(key: string, now: number): Promise<WindowCount> {
    const w = this.windows.get(key);
    return w && w.resetAt > now ? { ...w } : { count: 0, resetAt: now };
  }

  async publish(channel: string, message: string): Promise<void> {
    this.bus.emit(channel, message);
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<void> {
    this.bus.on(channel, handler);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.bus.removeAllListeners();
  }
}
