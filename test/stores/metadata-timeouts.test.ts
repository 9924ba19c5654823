import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy } from '../../scripts/lib/fault-proxy.js';
import { classifyBackendError } from '../../server/services/backend-failure.js';
import { createKnex } from '../../storage/metadata/knex.js';
import { createPgDatabase, productionAvailable } from '../helpers/backends.js';

/**
 * Postgres behind a proxy that stalls: a query that meets the stall fails with a timeout (an
 * outage, not a bug), and the connection it ran on is never handed out again. node-postgres keeps
 * a timed-out query in flight on its connection; reusing it would queue every later query behind
 * a query whose answer may never come.
 */
describe.skipIf(!productionAvailable())('metadata timeouts on Postgres', () => {
  let db: { url: string; drop: () => Promise<void> };
  let proxy: FaultProxy;

  beforeAll(async () => {
    db = await createPgDatabase();
    const u = new URL(db.url);
    proxy = new FaultProxy(u.hostname, Number(u.port || 5432));
    await proxy.start();
  });
  afterAll(async () => {
    await proxy?.stop();
    await db?.drop();
  });

  it('a stalled query times out as an outage; the next query after the stall runs on a new connection', async () => {
    const u = new URL(db.url);
    u.hostname = '127.0.0.1';
    u.port = String(proxy.port);
    const knex = createKnex({ driver: 'postgres', url: u.href, timeoutMs: 300, poolMax: 1 });
    try {
      const pid = async () => ((await knex.raw('select pg_backend_pid() as pid')) as { rows: Array<{ pid: number }> }).rows[0]!.pid;
      const before = await pid();
      await proxy.set('stall');
      const err = await knex.raw('select 1').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(classifyBackendError(err)?.backend).toBe('metadata');
      await proxy.set('pass');
      const after = await pid();
      expect(after).not.toBe(before);
      // And it keeps working on the new one.
      expect(await pid()).toBe(after);
    } finally {
      await knex.destroy();
    }
  });
});
