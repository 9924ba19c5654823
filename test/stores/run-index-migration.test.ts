import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createKnex, KnexMetadataStore } from '../../storage/metadata/knex.js';
import { migrationSource } from '../../storage/metadata/migrations/index.js';
import { createPgDatabase, productionAvailable } from '../helpers/backends.js';

/** 20261201B on a database that already holds runs of the first schema. */
describe.each(['sqlite', 'postgres'] as const)('run index migration on %s', (driver) => {
  const skip = driver === 'postgres' && !productionAvailable();

  it.skipIf(skip)('keeps existing runs, drops agent, maps statuses to the SDK\'s five, takes 200-character run ids', async () => {
    let db: ReturnType<typeof createKnex>;
    let cleanup: () => Promise<void>;
    if (driver === 'sqlite') {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'augur-mig-'));
      db = createKnex({ driver: 'sqlite', file: path.join(dir, 'augur.sqlite') });
      cleanup = async () => rmSync(dir, { recursive: true, force: true });
    } else {
      const pgdb = await createPgDatabase();
      db = createKnex({ driver: 'postgres', url: pgdb.url });
      cleanup = pgdb.drop;
    }
    try {
      await db.migrate.up({ migrationSource, name: '20261128A-initial' });
      const tenant = randomUUID();
      await db('tenants').insert({ id: tenant, slug: 'm', name: 'M', modelio_enabled: false, created_at: 1 });
      const run = (run_id: string, status: string | null) => ({ tenant_id: tenant, run_id, created_at: 1, updated_at: 2, status, agent: 'bot 1', task: 'do it', step_count: 3, has_manifest: true });
      await db('runs').insert([run('ok', 'succeeded'), run('ab', 'aborted'), run('odd', 'weird'), run('none', null)]);
      const store = new KnexMetadataStore(db);
      await store.migrate();
      const rows = await store.getRuns(tenant, ['ok', 'ab', 'odd', 'none']);
      const byId = Object.fromEntries(rows.map((r) => [r.run_id, r]));
      expect(byId.ok).toMatchObject({ status: 'succeeded', task: 'do it', step_count: 3, has_manifest: true, extra_iterations: 0, tags: null, costs: null, client_name: null });
      expect(byId.ab!.status).toBe('cancelled');
      expect(byId.odd!.status).toBeNull();
      expect(byId.none!.status).toBeNull();
      expect(byId.ok).not.toHaveProperty('agent');
      const long = `r${'x'.repeat(199)}`;
      await store.touchRuns([{ tenant_id: tenant, run_id: long, seen_at: 5 }]);
      expect((await store.getRun(tenant, long))?.run_id).toBe(long);
    } finally {
      await db.destroy();
      await cleanup();
    }
  });
});
