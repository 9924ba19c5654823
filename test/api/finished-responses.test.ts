import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeStores, openStores } from '../../server/bootstrap.js';
import type { Stores } from '../../server/context.js';
import { createLogger } from '../../server/logger.js';
import { TenantAdmin } from '../../server/services/tenants.js';
import { createBackends, PROFILES, productionAvailable, rid, type TestBackends } from '../helpers/backends.js';
import { spawnServer, type ServerProcess } from '../helpers/spawn.js';
import { PNG } from './read-helpers.js';

/** A raw request that reads the status line and hangs up before the body is read. */
function hangUpEarly(url: string, cookie: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { cookie } }, (res) => {
      resolve(res.statusCode ?? 0);
      res.socket.destroy();
    });
    req.on('error', reject);
  });
}

/** Reads that finish (or that a client leaves early) log nothing at error level. */
for (const profile of PROFILES) {
  describe.skipIf(profile === 'production' && !productionAvailable())(`finished responses (${profile})`, () => {
    let backends: TestBackends;
    let stores: Stores;
    let server: ServerProcess;
    let key: string;
    let cookie: string;
    beforeAll(async () => {
      backends = await createBackends(profile, { AUGUR_LOG_LEVEL: 'warn' });
      stores = await openStores(backends.config, createLogger('silent'));
      const admin = new TenantAdmin(stores.metadata, backends.config);
      const tenant = await admin.createTenant(`fin-${rid(3)}`, { modelio: true });
      key = (await admin.issueDsn(tenant.id, 'fin')).api_key;
      await admin.createUser('fin@example.com', 'fin-password', tenant.slug, false);
      await closeStores(stores);
      server = await spawnServer(backends.env);
      const login = await fetch(`${server.api}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'fin@example.com', password: 'fin-password' }) });
      cookie = login.headers.getSetCookie()[0]!.split(';')[0]!;
    }, 90_000);
    afterAll(async () => {
      await server?.stop('SIGKILL');
      await backends?.cleanup();
    });

    it('GET, HEAD and early hang-ups of steps, modelio and screenshots log no error', async () => {
      const auth = { authorization: `Bearer ${key}` };
      const json = { ...auth, 'content-type': 'application/json' };
      expect((await fetch(`${server.api}/runs/r1/steps/0`, { method: 'PUT', headers: json, body: JSON.stringify({ step_index: 0, pad: 'x'.repeat(200_000) }) })).status).toBe(200);
      expect((await fetch(`${server.api}/runs/r1/modelio/0000-planner-0.json`, { method: 'POST', headers: json, body: JSON.stringify({ request: { pad: 'y'.repeat(200_000) } }) })).status).toBe(200);
      const form = new FormData();
      form.append('image', new Blob([PNG], { type: 'image/png' }), 'x.png');
      expect((await fetch(`${server.api}/runs/r1/screenshots/0/post`, { method: 'POST', headers: auth, body: form })).status).toBe(200);
      const paths = ['steps/0000.json', 'modelio/0000-planner-0.json', 'screenshots/0000_post.png', 'events/run.jsonl'];
      await fetch(`${server.api}/runs/r1/events`, { method: 'POST', headers: json, body: JSON.stringify({ events: [{ summary: 'x'.repeat(200_000) }] }) });
      for (let i = 0; i < 3; i++) {
        for (const p of paths) {
          const url = `${server.api}/runs/r1/${p}`;
          const got = await fetch(url, { headers: { cookie } });
          expect(got.status, p).toBe(200);
          await got.arrayBuffer();
          const head = await fetch(url, { method: 'HEAD', headers: { cookie } });
          expect(head.status, p).toBe(200);
          expect(await hangUpEarly(url, cookie)).toBe(200);
        }
      }
      // A request after the others: its answer means the server has handled (and logged) them.
      expect((await fetch(`${server.api}/healthz`)).status).toBe(200);
      const errors = server.stderr().split('\n').filter((l) => l.includes('"level":50'));
      expect(errors).toEqual([]);
    });
  });
}
