import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../server/app.js';
import { rid } from '../helpers/backends.js';
import { startTestServer, type TestServer, type TestTenant } from '../helpers/server.js';
import { makePng, pngForm } from './ingest-fixtures.js';

/**
 * Ingest routes are dispatched before Express's router (server/http/route-shortcut.ts). The same
 * requests sent to an app without the shortcut must get the same answers: routing is backend-free,
 * so the embedded backends suffice.
 */
describe('ingest route shortcut answers as the router does', () => {
  let s: TestServer;
  let t: TestTenant;
  let plain: Server;
  let plainApi: string;

  beforeAll(async () => {
    s = await startTestServer('embedded');
    t = await s.tenant({ modelio: true });
    plain = await new Promise<Server>((resolve) => {
      const srv = createApp(s.ctx, undefined, { routeShortcut: false }).listen(0, '127.0.0.1', () => resolve(srv));
    });
    plainApi = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => plain.close(r));
    await s.close();
  });

  const step = (i: number, run?: string) => JSON.stringify({ step_index: i, ...(run ? { run_id: run } : {}) });
  /** The answer, with `run` written as RUN so that two apps' answers for their own runs compare. */
  const answer = async (base: string, path: string, init: { method: string; body?: BodyInit; json?: boolean; headers?: Record<string, string> }, run: string) => {
    const res = await fetch(`${base}${path}`, {
      method: init.method,
      headers: { authorization: `Bearer ${t.key}`, ...(init.json === false ? {} : { 'content-type': 'application/json' }), ...init.headers },
      body: init.body,
    });
    const text = (await res.text()).split(run).join('RUN');
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = { text };
    }
    // Both apps spend one key's rate budget, so what remains of it differs from call to call.
    const headers = Object.fromEntries([...res.headers].filter(([k]) => !['date', 'x-request-id', 'keep-alive', 'connection', 'x-ratelimit-remaining'].includes(k)));
    return { status: res.status, body, headers };
  };

  it('gives the same status, body and headers for odd paths, methods and escapes', async () => {
    // Each app gets its own run (ids of equal length): some calls create state.
    const runs = [`sc_${rid(4)}`, `sc_${rid(4)}`] as const;
    const cases = (run: string): Array<[string, { method: string; body?: BodyInit; json?: boolean }]> => [
      [`/api/v1/runs/${run}/steps/3`, { method: 'PUT', body: step(3) }],
      [`/API/V1/Runs/${run}/STEPS/3`, { method: 'PUT', body: step(3) }],
      [`/api/v1/runs/${run}/steps/3/`, { method: 'PUT', body: step(3) }],
      [`/api/v1/runs/${run}/steps/3?x=1`, { method: 'PUT', body: step(3) }],
      [`/api/v1/runs/sc%5F${run.slice(3)}/steps/4`, { method: 'PUT', body: step(4, run) }],
      ['/api/v1/runs/%E0%A4%A/steps/3', { method: 'PUT', body: step(3) }],
      ['/api/v1/runs/a%2Fb/steps/3', { method: 'PUT', body: step(3) }],
      ['/api/v1/runs/%2e%2e/steps/3', { method: 'PUT', body: step(3) }],
      [`/api/v1/runs/${run}/steps/3`, { method: 'POST', body: step(3) }],
      [`/api/v1/runs/${run}/steps/3`, { method: 'OPTIONS', json: false }],
      [`/api/v1/runs/${run}/steps`, { method: 'PUT', body: step(3) }],
      [`/api/v1x/runs/${run}/steps/3`, { method: 'PUT', body: step(3) }],
      [`/api/v1/runs/${run}/events`, { method: 'POST', body: JSON.stringify({ events: [{ type: 'a' }] }) }],
      ['/api/v1/runs', { method: 'POST', body: JSON.stringify({ run_id: run }) }],
      ['/api/v1/runs', { method: 'POST', body: JSON.stringify({ run_id: run }) }],
      ['/api/v1/heartbeat', { method: 'POST', body: JSON.stringify({ client_id: 'c1' }) }],
      [`/api/v1/runs/${run}/modelio/0003-planner-0.json`, { method: 'POST', body: JSON.stringify({ request: {}, response: {} }) }],
    ];
    const [viaShortcut, viaRouter] = [cases(runs[0]), cases(runs[1])];
    for (let i = 0; i < viaShortcut.length; i++) {
      const [path, init] = viaShortcut[i]!;
      const a = await answer(s.url, path, init, runs[0]);
      const b = await answer(plainApi, viaRouter[i]![0], viaRouter[i]![1], runs[1]);
      expect(a, `${init.method} ${path}`).toEqual(b);
    }
    // API answers carry helmet's headers for JSON (captured once at start-up, set per answer).
    const first = await answer(s.url, `/api/v1/runs/${runs[0]}/steps/3`, { method: 'PUT', body: step(3) }, runs[0]);
    expect(first.headers).toMatchObject({
      'content-security-policy': "default-src 'none';frame-ancestors 'none'",
      'strict-transport-security': 'max-age=31536000; includeSubDomains',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cross-origin-resource-policy': 'same-origin',
    });
    // And the shortcut really served the ingest calls: the run holds what they stored.
    expect((await s.ctx.stores.objects.head(`tenants/${t.id}/runs/${runs[0]}/steps/0003.json`))?.size).toBe(step(3).length);
  });

  it('takes multipart screenshots the same way', async () => {
    const run = `sc_${rid(4)}`;
    for (const base of [s.url, plainApi]) {
      const res = await fetch(`${base}/api/v1/runs/${run}/screenshots/1/post`, { method: 'POST', headers: { authorization: `Bearer ${t.key}` }, body: pngForm(makePng()) });
      expect(res.status, await res.clone().text()).toBe(200);
      expect(await res.json()).toMatchObject({ ok: true, file: 'screenshots/0001_post.png' });
    }
  });
});
