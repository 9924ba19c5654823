import { PRESENCE_TTL_MS, type ClientPresence, type PresenceStore, type StampInput } from './types.js';

/** In-process presence for a single embedded server: same semantics as Redis, nothing shared. */
export class MemoryPresenceStore implements PresenceStore {
  readonly kind = 'memory' as const;
  private readonly clients = new Map<string, Map<string, ClientPresence>>();
  private readonly dsnClient = new Map<string, string>();

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

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}
