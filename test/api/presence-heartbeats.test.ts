import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROFILES, productionAvailable } from '../helpers/backends.js';
import { expectSchema } from '../helpers/schemas.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { get, login } from './read-helpers.js';

/** The two heartbeats the real SDK 0.1.14 sent at the start of a run (../shared/sdk-wire). */
const WIRE = path.resolve(import.meta.dirname, '../../../shared/sdk-wire/augur-sdk-0.1.14-main/requests.jsonl');
const recorded = readFileSync(WIRE, 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as { path: string; body?: string })
  .filter((r) => r.path === '/api/v1/heartbeat')
  .map((r) => JSON.parse(r.body!) as Record<string, unknown>);
const opening = recorded.find((b) => b.last_event === 'session_opened')!;
const loop = recorded.find((b) => b.last_event === undefined && b.run_id)!;

interface Connection {
  client_id: string;
  client_name: string | null;
  client_version: string | null;
  capture_mode: string | null;
  run_id: string | null;
  last_event: unknown;
}

describe.each(PROFILES)('presence on %s backends', (profile) => {
  const skip = profile === 'production' && !productionAvailable();
  let s: TestServer;
  beforeAll(async () => {
    if (!skip) s = await startTestServer(profile);
  });
  afterAll(async () => s?.close());

  async function beat(key: string, body: Record<string, unknown>): Promise<void> {
    const r = await fetch(`${s.api}/heartbeat`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(r.status, await r.clone().text()).toBe(200);
  }
  async function connections(email: string, password: string): Promise<Connection[]> {
    const { cookie } = await login(s.api, email, password);
    const page = (await (await get(`${s.api}/connections`, cookie)).json()) as { connections: Connection[] };
    expectSchema(page, 'connections-page.schema.json');
    return page.connections;
  }

  it.skipIf(skip)('the recorded wire holds the two heartbeats this rule is about', () => {
    expect(opening).toMatchObject({ capture_mode: 'off', last_event: 'session_opened' });
    expect(loop).toMatchObject({ capture_mode: 'full', client_id: opening.client_id });
  });

  it.skipIf(skip).each([
    ['opening heartbeat first', () => [opening, loop]],
    ['opening heartbeat after the first loop heartbeat', () => [loop, opening]],
  ])('%s: the real capture mode is shown', async (_name, order) => {
    const t = await s.tenant();
    for (const body of order()) {
      await beat(t.key, body);
      s.clock.advance(1);
    }
    const [c] = await connections(t.email, t.password);
    expect(c).toMatchObject({ client_id: opening.client_id, client_name: 'myagent', client_version: '0.1.0', capture_mode: 'full', run_id: loop.run_id });
  });

  it.skipIf(skip)('the opening heartbeat alone shows its mode: nothing better is known', async () => {
    const t = await s.tenant();
    await beat(t.key, opening);
    expect((await connections(t.email, t.password))[0]).toMatchObject({ capture_mode: 'off', last_event: 'session_opened' });
  });

  it.skipIf(skip)('empty strings are shown as null and never replace a reported value', async () => {
    const t = await s.tenant();
    await beat(t.key, { client_id: 'sdk_empty', client_name: 'myagent', client_version: '', capture_mode: '', last_event: '' });
    expect((await connections(t.email, t.password))[0]).toMatchObject({ client_version: null, capture_mode: null, last_event: null });
    await beat(t.key, { client_id: 'sdk_empty', client_version: '0.2.0', capture_mode: 'full' });
    await beat(t.key, { client_id: 'sdk_empty', client_name: '', client_version: '', capture_mode: '' });
    expect((await connections(t.email, t.password))[0]).toMatchObject({ client_name: 'myagent', client_version: '0.2.0', capture_mode: 'full' });
  });
});
