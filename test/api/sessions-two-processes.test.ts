import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackends, productionAvailable, type TestBackends } from '../helpers/backends.js';
import { expectError } from '../helpers/schemas.js';
import { spawnServer, type ServerProcess } from '../helpers/spawn.js';
import { get, login, send } from './read-helpers.js';

const ADMIN = { email: 'admin@example.com', password: 'admin-password' };

/** Two replicas (compiled server processes) on the same Postgres, Redis and bucket. */
describe.skipIf(!productionAvailable())('sessions and DSN revocation across two server processes', () => {
  let backends: TestBackends;
  let a: ServerProcess;
  let b: ServerProcess;
  beforeAll(async () => {
    backends = await createBackends('production');
    a = await spawnServer(backends.env);
    b = await spawnServer(backends.env);
  }, 90_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await backends?.cleanup();
  });

  it('signs in on one replica, reads and signs out on the other; the replayed cookie is refused by both', async () => {
    const { cookie } = await login(a.api, ADMIN.email, ADMIN.password);
    const me = await get(`${b.api}/auth/me`, cookie);
    expect(me.status).toBe(200);
    expect(((await me.json()) as { user: { email: string } }).user.email).toBe(ADMIN.email);
    expect((await get(`${b.api}/runs`, cookie)).status).toBe(200);
    expect((await send('POST', `${b.api}/auth/logout`, cookie)).status).toBe(204);
    await expectError(await get(`${a.api}/auth/me`, cookie), 401, 'invalid_credential');
    await expectError(await get(`${b.api}/runs`, cookie), 401, 'invalid_credential');
  });

  it('a DSN revoked through one replica is refused by both within 10 s', async () => {
    const { cookie } = await login(b.api, ADMIN.email, ADMIN.password);
    const mint = (await (await send('POST', `${b.api}/tenant/dsns`, cookie, { client_name: 'replica-test' })).json()) as { id: string; api_key: string };
    const beat = (server: ServerProcess) =>
      fetch(`${server.api}/heartbeat`, {
        method: 'POST',
        headers: { authorization: `Bearer ${mint.api_key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: 'replica-client' }),
      });
    // Both replicas know (and cache) the key.
    for (const server of [a, b]) expect((await beat(server)).status).toBe(200);

    expect((await send('DELETE', `${b.api}/tenant/dsns/${mint.id}`, cookie)).status).toBe(204);
    const revokedAt = Date.now();
    for (const server of [a, b]) {
      let status = 0;
      while (Date.now() - revokedAt < 10_000) {
        const r = await beat(server);
        status = r.status;
        if (status === 403) {
          expect(((await r.json()) as { code: string }).code).toBe('unknown_key');
          break;
        }
        await r.arrayBuffer();
      }
      expect(status, `replica ${server.url} still accepts the revoked key`).toBe(403);
    }
    expect(Date.now() - revokedAt).toBeLessThan(10_000);
  });
});
