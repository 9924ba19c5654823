import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, createMetadataStore, type MetadataStore, type RunHead, type RunListQuery, type RunTouch, type Tenant } from '../../storage/metadata/index.js';
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
    expect(await store.upsertManifest(tenant.id, 'run_a', { client_name: 'a', step_count: 4 }, 10)).toBe(true);
    expect(await store.upsertManifest(tenant.id, 'run_a', { client_name: 'b', capture_mode: 'full', step_count: 2 }, 20)).toBe(false);
    expect(await store.getRun(tenant.id, 'run_a')).toMatchObject({ client_name: 'b', capture_mode: 'full', step_count: 4 });
    await store.touchRuns([{ tenant_id: tenant.id, run_id: 'run_b', seen_at: 30, step_count: 3 }]);
    expect((await store.getRun(tenant.id, 'run_b'))?.has_manifest).toBe(false);
    expect(await store.upsertManifest(tenant.id, 'run_b', { client_name: 'c' }, 40)).toBe(true);
    const results = await Promise.all(Array.from({ length: 8 }, () => store.upsertManifest(tenant.id, 'run_c', {}, 50)));
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

  it.skipIf(skip)('run commands: concurrent issuers get consecutive seqs of their run, listed in order after a cursor, per tenant and run', async () => {
    const other = await store.createTenant({ id: randomUUID(), slug: `cmd-${driver}`, name: 'C', modelio_enabled: false });
    const add = (tenantId: string, runId: string, i: number) =>
      store.addRunCommand({ tenant_id: tenantId, run_id: runId, command_id: randomUUID(), type: 'inject_hint', payload: JSON.stringify({ text: `h${i}` }), issued_by: 'u', issued_by_email: 'u@example.com', issued_at: 1000 + i });
    const rows = await Promise.all(Array.from({ length: 20 }, (_, i) => add(tenant.id, 'run_cmd', i)));
    expect(rows.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await add(other.id, 'run_cmd', 99);
    await add(tenant.id, 'run_other', 98);
    const all = await store.listRunCommands(tenant.id, 'run_cmd', 0, 100);
    expect(all.map((r) => r.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(all.map((r) => r.command_id).sort()).toEqual(rows.map((r) => r.command_id).sort());
    expect(typeof all[0]!.issued_at).toBe('number');
    expect((await store.listRunCommands(tenant.id, 'run_cmd', 17, 100)).map((r) => r.seq)).toEqual([18, 19, 20]);
    expect((await store.listRunCommands(tenant.id, 'run_cmd', 0, 5)).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect((await store.listRunCommands(other.id, 'run_cmd', 0, 100)).map((r) => r.payload)).toEqual([JSON.stringify({ text: 'h99' })]);
    expect(await store.listRunCommands(tenant.id, 'run_none', 0, 100)).toEqual([]);
  });

  describe('what the SDK reports, in the run index', () => {
    let t: Tenant;
    beforeAll(async () => {
      if (!skip) t = await store.createTenant({ id: randomUUID(), slug: `sdk-${driver}`, name: 'S', modelio_enabled: false });
    });
    const touch = (run_id: string, seen_at: number, more: Partial<RunTouch> = {}): RunTouch => ({ tenant_id: t.id, run_id, seen_at, ...more });

    it.skipIf(skip)('keeps every fact; a later report replaces it, an absent one keeps it', async () => {
      await store.touchRuns([
        touch('run_f', 10, {
          client_name: 'myagent', client_version: '0.1.0', capture_mode: 'full', debug_session_id: 'dbg_1', trajectory_fingerprint: 'cua_v1:ab',
          group_id: 'batch-7', parent_run_id: 'run_p', task: 'log in', tags: { env: 'prod', 'augur.session_type': 'orchestrator' },
          costs: { total_usd: 0.05, tokens_in: 3600 }, started_at: 1_000, ended_at: 2_000, status: 'failed',
        }),
      ]);
      expect(await store.getRun(t.id, 'run_f')).toMatchObject({
        client_name: 'myagent', client_version: '0.1.0', capture_mode: 'full', debug_session_id: 'dbg_1', trajectory_fingerprint: 'cua_v1:ab',
        group_id: 'batch-7', parent_run_id: 'run_p', task: 'log in', tags: { env: 'prod', 'augur.session_type': 'orchestrator' },
        costs: { total_usd: 0.05, tokens_in: 3600 }, started_at: 1_000, ended_at: 2_000, status: 'failed', extra_iterations: 0,
      });
      await store.touchRuns([touch('run_f', 20, { client_version: '0.2.0', tags: { env: 'dev' }, costs: { model_usd: 1 } })]);
      expect(await store.getRun(t.id, 'run_f')).toMatchObject({
        client_name: 'myagent', client_version: '0.2.0', tags: { env: 'dev' }, costs: { model_usd: 1 }, group_id: 'batch-7', status: 'failed',
      });
      // costs replaced without a total: the parents' sum no longer counts this run.
      await store.touchRuns([touch('run_kid', 30, { parent_run_id: 'run_f', costs: { total_usd: 2 } })]);
      expect((await store.summarizeChildren(t.id, ['run_f']))[0]!.total_usd).toBe(2);
    });

    it.skipIf(skip)('adds iterations up, in one batch and across batches', async () => {
      await store.touchRuns([touch('run_i', 1, { step_count: 2, new_iterations: 1 })]);
      await store.touchRuns([touch('run_i', 2, { new_iterations: 2 }), touch('run_j', 2, { new_iterations: 1 })]);
      expect(await store.getRun(t.id, 'run_i')).toMatchObject({ step_count: 2, extra_iterations: 3 });
      expect((await store.getRun(t.id, 'run_j'))?.extra_iterations).toBe(1);
    });

    it.skipIf(skip)('filters on status, tags, group, parent and fingerprint', async () => {
      const u = await store.createTenant({ id: randomUUID(), slug: `flt-${driver}`, name: 'F', modelio_enabled: false });
      const at = (run_id: string, seen_at: number, more: Partial<RunTouch>) => ({ tenant_id: u.id, run_id, seen_at, ...more });
      await store.touchRuns([
        at('a', 1, { status: 'succeeded', tags: { env: 'prod', team: 'x' }, group_id: 'g1', trajectory_fingerprint: 'fp1', client_name: 'Planner' }),
        at('b', 2, { status: 'failed', tags: { env: 'prod' }, group_id: 'g1', parent_run_id: 'a' }),
        at('c', 3, { status: 'halted', tags: { env: 'dev', 'odd key.with-dots': 'v:1' }, parent_run_id: 'a', trajectory_fingerprint: 'fp1' }),
        at('d', 4, {}),
      ]);
      const ids = async (q: Partial<RunListQuery>) => (await store.listRuns({ tenant_id: u.id, limit: 50, ...q })).map((r) => r.run_id);
      expect(await ids({ status: 'halted' })).toEqual(['c']);
      expect(await ids({ status: 'running' })).toEqual(['d']);
      expect(await ids({ tags: [{ key: 'env', value: 'prod' }] })).toEqual(['b', 'a']);
      expect(await ids({ tags: [{ key: 'env', value: 'prod' }, { key: 'team', value: 'x' }] })).toEqual(['a']);
      expect(await ids({ tags: [{ key: 'team' }] })).toEqual(['a']);
      expect(await ids({ tags: [{ key: 'odd key.with-dots', value: 'v:1' }] })).toEqual(['c']);
      expect(await ids({ tags: [{ key: 'env', value: 'PROD' }] })).toEqual([]);
      expect(await ids({ group_id: 'g1' })).toEqual(['b', 'a']);
      expect(await ids({ parent_run_id: 'a' })).toEqual(['c', 'b']);
      expect(await ids({ trajectory_fingerprint: 'fp1' })).toEqual(['c', 'a']);
      expect(await ids({ q: 'planner' })).toEqual(['a']);
      expect(await ids({ q: 'v:1' })).toEqual(['c']);
    });

    it.skipIf(skip)('groups children under their parent: a real parent, or one synthesised from them, with exact pages', async () => {
      const g = await store.createTenant({ id: randomUUID(), slug: `grp-${driver}`, name: 'G', modelio_enabled: false });
      const at = (run_id: string, seen_at: number, more: Partial<RunTouch> = {}) => ({ tenant_id: g.id, run_id, seen_at, ...more });
      await store.touchRuns([
        at('solo', 1),
        at('orch', 2, { tags: { 'augur.session_type': 'orchestrator' } }),
        at('orch:w1', 3, { parent_run_id: 'orch', status: 'succeeded' }),
        at('orch:w2', 4, { parent_run_id: 'orch' }),
        // Two workers of a parent that never sent anything.
        at('fan:w1', 5, { parent_run_id: 'fan', status: 'failed', step_count: 3, new_iterations: 1, costs: { total_usd: 0.1 }, client_name: 'bot', started_at: 50, ended_at: 60 }),
        at('fan:w2', 6, { parent_run_id: 'fan', status: 'succeeded', step_count: 2, costs: { total_usd: 0.2 }, client_name: 'bot', started_at: 40, ended_at: 70 }),
        at('late', 7),
      ]);
      const heads: RunHead[] = [];
      let before: { created_at: number; run_id: string } | undefined;
      for (;;) {
        const page = await store.listRunHeads({ tenant_id: g.id, limit: 2, before });
        if (!page.length) break;
        heads.push(...page);
        before = page[page.length - 1]!;
      }
      expect(heads).toEqual([
        { run_id: 'late', created_at: 7, synthetic: false },
        { run_id: 'fan', created_at: 5, synthetic: true },
        { run_id: 'orch', created_at: 2, synthetic: false },
        { run_id: 'solo', created_at: 1, synthetic: false },
      ]);
      expect((await store.listRunHeads({ tenant_id: g.id, limit: 10, since: 5 })).map((h) => h.run_id)).toEqual(['late', 'fan']);
      // since and a cursor together, on both kinds of entry.
      expect((await store.listRunHeads({ tenant_id: g.id, limit: 10, since: 2, before: { created_at: 7, run_id: 'late' } })).map((h) => h.run_id)).toEqual(['fan', 'orch']);
      expect((await store.listRunHeads({ tenant_id: g.id, limit: 10, since: 6, before: { created_at: 7, run_id: 'late' } })).map((h) => h.run_id)).toEqual([]);
      const kids = await store.listChildren(g.id, ['orch', 'fan', 'solo'], 1);
      expect(kids.map((k) => k.run_id)).toEqual(['fan:w1', 'orch:w1']);
      const [fan] = await store.summarizeChildren(g.id, ['fan']);
      expect(fan).toMatchObject({
        parent_run_id: 'fan', count: 2, first_created_at: 5, last_updated_at: 6, step_count: 5, extra_iterations: 1, started_at: 40, ended_at: 70,
        statuses: { failed: 1, succeeded: 1 }, client_name: 'bot', group_id: null,
      });
      expect(fan!.total_usd).toBeCloseTo(0.3, 10);
      // A parent that arrives late turns the synthesised row into the real one.
      await store.touchRuns([at('fan', 8)]);
      expect((await store.listRunHeads({ tenant_id: g.id, limit: 10 })).map((h) => `${h.run_id}${h.synthetic ? '*' : ''}`)).toEqual(['fan', 'late', 'orch', 'solo']);
      expect((await store.getRuns(g.id, ['fan', 'solo', 'nope'])).map((r) => r.run_id).sort()).toEqual(['fan', 'solo']);
    });

    it.skipIf(skip)('holds run ids of 200 characters', async () => {
      const long = `r${'x'.repeat(199)}`;
      await store.touchRuns([touch(long, 1, { parent_run_id: `p${'y'.repeat(199)}` })]);
      expect((await store.getRun(t.id, long))?.parent_run_id).toHaveLength(200);
    });
  });
});
