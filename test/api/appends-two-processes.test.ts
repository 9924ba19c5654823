import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeStores, openStores } from '../../server/bootstrap.js';
import type { Stores } from '../../server/context.js';
import { createLogger } from '../../server/logger.js';
import { Appender } from '../../server/services/appends.js';
import { BundleKeys } from '../../server/services/bundle.js';
import { TenantAdmin } from '../../server/services/tenants.js';
import { createBackends, productionAvailable, rid, type TestBackends } from '../helpers/backends.js';
import { spawnServer, type ServerProcess } from '../helpers/spawn.js';

/**
 * Two server processes (the compiled dist/, built by the test command) on the same Postgres, Redis
 * and S3: concurrent appends to one file split across them lose nothing, keep each request's lines
 * together and in order, and never push a log past 1 MiB.
 */
describe.skipIf(!productionAvailable())('appends across two server processes', () => {
  let backends: TestBackends;
  let stores: Stores;
  let servers: ServerProcess[] = [];
  let key: string;
  let tenantId: string;

  beforeAll(async () => {
    backends = await createBackends('production');
    stores = await openStores(backends.config, createLogger('silent'));
    const admin = new TenantAdmin(stores.metadata, backends.config);
    const tenant = await admin.createTenant(`two-${rid(3)}`);
    tenantId = tenant.id;
    key = (await admin.issueDsn(tenant.id, 'two-procs')).api_key;
    servers = await Promise.all([spawnServer(backends.env), spawnServer(backends.env)]);
  }, 90_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop('SIGKILL')));
    if (stores) await closeStores(stores);
    await backends?.cleanup();
  });

  it('every line exactly once, each request contiguous and in order; the log bound holds; SIGTERM exits 0', async () => {
    const run = `run_${rid(4)}`;
    const REQUESTS = 420;
    const PER_REQUEST = 6;
    const LOG_REQUESTS = 48;
    const LOG_PIECE = 40_000; // 48 × ~40 kB ≈ 1.9 MB offered to a 1 MiB file
    const post = (i: number, path: string, body: unknown) =>
      fetch(`${servers[i % 2]!.api}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    const events = Array.from({ length: REQUESTS }, (_, r) =>
      post(r, `/runs/${run}/events`, { events: Array.from({ length: PER_REQUEST }, (_, i) => ({ type: 'probe', data: { r, i } })) }),
    );
    const logs = Array.from({ length: LOG_REQUESTS }, (_, r) => post(r, `/runs/${run}/logs`, { text: `${String(r).padStart(4, '0')}${'ü'.repeat(LOG_PIECE / 2 - 3)}\n` }));
    const responses = await Promise.all([...events, ...logs]);
    const bodies = await Promise.all(responses.map(async (res) => ({ status: res.status, body: (await res.json()) as Record<string, unknown> })));
    for (const b of bodies) expect(b.status, JSON.stringify(b.body)).toBe(200);

    const appender = new Appender(stores.objects, stores.appendLedger);
    const keys = new BundleKeys(tenantId, run);
    const text = (await appender.read(keys.events('run')))!.toString('utf8');
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.slice(0, -1).split('\n').map((l) => JSON.parse(l) as { data: { r: number; i: number } });
    expect(lines).toHaveLength(REQUESTS * PER_REQUEST);
    const seen = new Set<number>();
    for (let k = 0; k < lines.length; k += PER_REQUEST) {
      const r = lines[k]!.data.r;
      expect(seen.has(r), `request ${r} appears twice`).toBe(false);
      seen.add(r);
      expect(lines.slice(k, k + PER_REQUEST).map((l) => l.data)).toEqual(Array.from({ length: PER_REQUEST }, (_, i) => ({ r, i })));
    }
    expect(seen.size).toBe(REQUESTS);

    const log = (await appender.read(keys.log('run')))!;
    expect(log.length).toBeLessThanOrEqual(1_048_576);
    const written = bodies.slice(REQUESTS).reduce((sum, b) => sum + (b.body.bytes_written as number), 0);
    expect(log.length).toBe(written);
    expect(bodies.slice(REQUESTS).some((b) => b.body.truncated === true)).toBe(true);
    expect(log.length).toBeGreaterThan(1_048_576 - LOG_PIECE);
    expect(Buffer.from(log.toString('utf8')).equals(log)).toBe(true);

    const codes = await Promise.all(servers.map((s) => s.stop('SIGTERM')));
    expect(codes).toEqual([0, 0]);
  }, 120_000);
});
