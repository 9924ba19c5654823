import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, createMetadataStore, type MetadataStore, type Tenant } from '../../storage/metadata/index.js';
import { createPgDatabase, productionAvailable } from '../helpers/backends.js';

const drivers = ['sqlite', 'postgres'] as const;

describe.each(drivers)('metadata store contract: %s', (driver) => {
  const skip = driver === 'postgres' && !productionAvailable();
  let store: MetadataStore;
  let cleanup: () => Promise<void>;
  let tenant: Tenant;

  beforeAll(async () => {
    if (skip) return;
    if (driver === 'sqlite') {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'augur-meta-'));
      store = createMetadataStore({ driver: 'sqlite', file: path.join(dir, 'augur.sqlite') });
      cleanup = async () => rmSync(dir, { recursive: true, force: true });
    } else {
      const db = await createPgDatabase();
      store = createMetadataStore({ driver: 'postgres', url: db.url });
      cleanup = db.drop;
    }
    await store.migrate();
    await store.migrate(); // a second run finds nothing to do
    tenant = await store.createTenant({ id: randomUUID(), slug: `t-${driver}`, name: 'T', modelio_enabled: false });
  });
  afterAll(async () => {
    if (skip) return;
    await store.close();
    await cleanup();
  });

  it.skipIf(skip)('creates and updates tenants; a taken slug is a conflict', async () => {
    expect((await store.getTenantBySlug(`t-${driver}`))?.id).toBe(tenant.id);
    await expect(store.createTenant({ id: randomUUID(), slug: `t-${driver}`, name: 'again', modelio_enabled: false })).rejects.toBeInstanceOf(ConflictError);
    const updated = await store.updateTenant(tenant.id, { modelio_enabled: true });
    expect(updated?.modelio_enabled).toBe(true);
    await store.updateTenant(tenant.id, { modelio_enabled: false });
    expect(await store.getTenant(randomUUID())).toBeUndefined();
  });

  it.skipIf(skip)('stores users with case-insensitive unique emails', async () => {
    const u = await store.createUser({ id: randomUUID(), email: 'Ada@Example.com', password_hash: 'h', tenant_id: tenant.id, is_admin: true });
    expect((await store.getUserByEmail('ada@example.COM'))?.id).toBe(u.id);
    expect((await store.getUser(u.id))?.is_admin).toBe(true);
    await expect(store.createUser({ id: randomUUID(), email: 'ada@example.com', password_hash: 'h', tenant_id: tenant.id, is_admin: false })).rejects.toBeInstanceOf(ConflictError);
  });

  it.skipIf(skip)('finds DSNs by hash with their tenant, revokes them, batches last use', async () => {
    const d = await store.createDsn({ id: randomUUID(), tenant_id: tenant.id, client_name: 'bot', key_prefix: 'aug_00000000', key_hash: 'a'.repeat(64) });
    const found = await store.findDsnByHash('a'.repeat(64));
    expect(found?.dsn.id).toBe(d.id);
    expect(found?.tenant.slug).toBe(tenant.slug);
    expect(await store.findDsnByHash('b'.repeat(64))).toBeUndefined();
    await store.touchDsns(new Map([[d.id, 1234]]));
    await store.touchDsns(new Map([[d.id, 1000]])); // never moves back
    expect((await store.listDsns(tenant.id)).find((x) => x.id === d.id)?.last_used_at).toBe(1234);
    expect(await store.revokeDsn(d.id, randomUUID())).toBeUndefined(); // another tenant cannot
    expect((await store.revokeDsn(d.id, tenant.id))?.revoked_at).toBeGreaterThan(0);
    expect((await store.findDsnByHash('a'.repeat(64)))?.dsn.revoked_at).toBeGreaterThan(0);
    expect((await store.listDsns(tenant.id)).map((x) => x.id)).toContain(d.id);
  });

  it.skipIf(skip)('expires and deletes sessions', async () => {
    const u = await store.createUser({ id: randomUUID(), email: `s-${driver}@x.y`, password_hash: 'h', tenant_id: tenant.id, is_admin: false });
    await store.createSession({ id: randomUUID(), token_hash: 'c'.repeat(64), user_id: u.id, created_at: 0, expires_at: 1000 });
    expect((await store.findSession('c'.repeat(64), 999))?.user_id).toBe(u.id);
    expect(await store.findSession('c'.repeat(64), 1000)).toBeUndefined();
    expect(await store.deleteExpiredSessions(2000)).toBe(1);
    await store.createSession({ id: randomUUID(), token_hash: 'd'.repeat(64), user_id: u.id, created_at: 0, expires_at: 5000 });
    await store.deleteSession('d'.repeat(64));
    expect(await store.findSession('d'.repeat(64), 0)).toBeUndefined();
  });

  it.skipIf(skip)('keeps read tokens hashed, revocable and expiring', async () => {
    const u = await store.createUser({ id: randomUUID(), email: `r-${driver}@x.y`, password_hash: 'h', tenant_id: tenant.id, is_admin: false });
    const t = await store.createReadToken({ id: randomUUID(), user_id: u.id, name: 'agent', token_prefix: 'augr_0', token_hash: 'e'.repeat(64), created_at: 0, expires_at: 100 });
    expect((await store.findReadToken('e'.repeat(64), 50))?.id).toBe(t.id);
    expect(await store.findReadToken('e'.repeat(64), 100)).toBeUndefined();
    expect((await store.listReadTokens(u.id)).map((x) => x.id)).toEqual([t.id]);
    expect(await store.revokeReadToken(t.id, randomUUID())).toBe(false);
    expect(await store.revokeReadToken(t.id, u.id)).toBe(true);
    expect(await store.findReadToken('e'.repeat(64), 50)).toBeUndefined();
  });

  it.skipIf(skip)('claims a run\'s first manifest exactly once, also after out-of-order creation', async () => {
    expect(await store.upsertManifest(tenant.id, 'run_a', { agent: 'a', task: 't', status: null }, 10)).toBe(true);
    expect(await store.upsertManifest(tenant.id, 'run_a', { agent: 'b', task: 't', status: null }, 20)).toBe(false);
    expect((await store.getRun(tenant.id, 'run_a'))?.agent).toBe('b');
    await store.touchRuns([{ tenant_id: tenant.id, run_id: 'run_b', seen_at: 30, step_count: 3 }]);
    expect((await store.getRun(tenant.id, 'run_b'))?.has_manifest).toBe(false);
    expect(await store.upsertManifest(tenant.id, 'run_b', { agent: 'c', task: null, status: null }, 40)).toBe(true);
    const results = await Promise.all(Array.from({ length: 8 }, () => store.upsertManifest(tenant.id, 'run_c', { agent: null, task: null, status: null }, 50)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it.skipIf(skip)('merges run touches: counts and times only grow, status when given', async () => {
    await store.touchRuns([{ tenant_id: tenant.id, run_id: 'run_m', seen_at: 100, step_count: 5, heartbeat_at: 90 }]);
    await store.touchRuns([{ tenant_id: tenant.id, run_id: 'run_m', seen_at: 80, step_count: 2, status: 'succeeded' }]);
    const r = await store.getRun(tenant.id, 'run_m');
    expect(r).toMatchObject({ created_at: 100, updated_at: 100, step_count: 5, status: 'succeeded', last_heartbeat_at: 90 });
    await store.touchRuns([{ tenant_id: tenant.id, run_id: 'run_m', seen_at: 200 }]);
    expect(await store.getRun(tenant.id, 'run_m')).toMatchObject({ updated_at: 200, status: 'succeeded', step_count: 5 });
  });

  it.skipIf(skip)('lists runs newest first with an exact keyset and filters', async () => {
    const other = await store.createTenant({ id: randomUUID(), slug: `o-${driver}`, name: 'O', modelio_enabled: false });
    const touches = Array.from({ length: 25 }, (_, i) => ({ tenant_id: other.id, run_id: `r${String(i).padStart(2, '0')}`, seen_at: 1000 + Math.floor(i / 2) }));
    await store.touchRuns(touches);
    const seen: string[] = [];
    let before: { created_at: number; run_id: string } | undefined;
    for (;;) {
      const page = await store.listRuns({ tenant_id: other.id, limit: 7, before });
      if (!page.length) break;
      seen.push(...page.map((r) => r.run_id));
      const last = page[page.length - 1]!;
      before = { created_at: last.created_at, run_id: last.run_id };
    }
    expect(seen).toEqual(touches.map((t) => t.run_id).reverse());
    expect((await store.listRuns({ tenant_id: other.id, limit: 50, q: 'R1' })).map((r) => r.run_id).sort()).toEqual(
      ['r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'r16', 'r17', 'r18', 'r19'],
    );
    expect((await store.listRuns({ tenant_id: other.id, limit: 50, q: '%' })).length).toBe(0);
    expect((await store.listRuns({ tenant_id: other.id, limit: 50, since: 1011 })).map((r) => r.run_id)).toEqual(['r24', 'r23', 'r22']);
    const tenants = await store.listTenants();
    expect(tenants.find((t) => t.id === other.id)?.counts).toEqual({ users: 0, dsns: 0, runs: 25 });
  });
});
