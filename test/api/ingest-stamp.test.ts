import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PresenceStore, StampInput } from '../../storage/presence/index.js';
import { PROFILES, productionAvailable, rid } from '../helpers/backends.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { makePng, pngForm } from './ingest-fixtures.js';

/**
 * The heartbeat stamp of an ingest call is best effort and never waited for: with presence held
 * back (the real store, its stamps released only when the test says), ingest calls still answer.
 * Were an answer to wait for its stamp, the call would hang and the test time out.
 */
describe.each(PROFILES)('ingest answers without waiting for presence (%s)', (profile) => {
  const skip = profile === 'production' && !productionAvailable();
  let s: TestServer;
  let real: PresenceStore;
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const held: Array<Promise<string>> = [];
  beforeAll(async () => {
    if (skip) return;
    s = await startTestServer(profile);
    real = s.ctx.stores.presence;
    const slow: PresenceStore = {
      kind: real.kind,
      stamp: (input: StampInput) => {
        const p = gate.then(() => real.stamp(input));
        held.push(p);
        return p;
      },
      listClients: (tenantId, now) => real.listClients(tenantId, now),
      ping: () => real.ping(),
      close: () => real.close(),
    };
    s.ctx.stores.presence = slow;
  });
  afterAll(async () => {
    open();
    await s?.close();
  });

  it.skipIf(skip)('answers step, event and screenshot calls while their stamps are pending, and the stamps land after', async () => {
    const t = await s.tenant();
    const run = `run_${rid(4)}`;
    const headers = { authorization: `Bearer ${t.key}` };
    const json = { ...headers, 'content-type': 'application/json' };
    const step = await fetch(`${s.api}/runs/${run}/steps/0`, { method: 'PUT', headers: json, body: JSON.stringify({ step_index: 0 }) });
    expect(step.status).toBe(200);
    const events = await fetch(`${s.api}/runs/${run}/events`, { method: 'POST', headers: json, body: JSON.stringify({ events: [{ type: 'probe', data: {} }] }) });
    expect(events.status).toBe(200);
    const shot = await fetch(`${s.api}/runs/${run}/screenshots/0/pre`, { method: 'POST', headers, body: pngForm(makePng()) });
    expect(shot.status).toBe(200);
    expect(held).toHaveLength(3);
    expect(await real.listClients(t.id, s.clock.now())).toEqual([]);
    open();
    await Promise.all(held);
    const clients = await real.listClients(t.id, s.clock.now());
    expect(clients.map((c) => c.client_id)).toEqual([t.dsn.client_name]);
    expect(clients[0]!.fields.run_id).toBe(run);
  });
});
