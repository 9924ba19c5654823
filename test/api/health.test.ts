import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROFILES, productionAvailable } from '../helpers/backends.js';
import { expectError } from '../helpers/schemas.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe.each(PROFILES)('health on %s backends', (profile) => {
  let s: TestServer;
  const skip = profile === 'production' && !productionAvailable();
  beforeAll(async () => {
    if (!skip) s = await startTestServer(profile);
  });
  afterAll(async () => s?.close());

  it.skipIf(skip)('answers liveness with a request id and no X-Powered-By', async () => {
    const r = await fetch(`${s.api}/healthz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: 'ok' });
    expect(r.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.headers.get('x-powered-by')).toBeNull();
  });

  it.skipIf(skip)('reports every backend as ready, naming it', async () => {
    const r = await fetch(`${s.api}/readyz`);
    const body = (await r.json()) as { checks: Record<string, { backend: string; ok: boolean }> };
    expect(r.status).toBe(200);
    const expected = profile === 'production' ? ['s3', 'postgres', 'redis'] : ['fs', 'sqlite', 'memory'];
    expect([body.checks.objects!.backend, body.checks.metadata!.backend, body.checks.presence!.backend]).toEqual(expected);
    expect(Object.values(body.checks).every((c) => c.ok)).toBe(true);
  });

  it.skipIf(skip)('draining: readyz answers 503 draining at once, every answer says Connection: close, liveness stays 200', async () => {
    s.ctx.lifecycle.draining = true;
    s.front.beginDrain();
    try {
      const r = await fetch(`${s.api}/readyz`);
      expect(r.headers.get('connection')).toBe('close');
      const body = await expectError(r, 503, 'draining');
      expect(body.detail).toMatch(/shutting down/);
      const live = await fetch(`${s.api}/healthz`);
      expect(live.status).toBe(200);
      expect(live.headers.get('connection')).toBe('close');
    } finally {
      s.ctx.lifecycle.draining = false;
    }
  });

  it.skipIf(skip)('answers a broken percent-encoding with a 4xx, never a 500', async () => {
    const read = await fetch(`${s.api}/runs/%E0%A4%A/trace.json`);
    expect(read.status).toBe(404);
    expect(((await read.json()) as { code: string }).code).toBe('not_found');
    const write = await fetch(`${s.api}/runs/abc%/steps/0`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(write.status).toBe(400);
    expect(((await write.json()) as { code: string }).code).toBe('bad_request');
    expect((await fetch(`${s.api}/schema/%ZZ.schema.json`)).status).toBe(404);
  });

  it.skipIf(skip)('answers unknown routes with a 404 in the error shape', async () => {
    const r = await fetch(`${s.api}/no/such/route`);
    expect(r.status).toBe(404);
    expect(await r.json()).toEqual({ detail: 'No route for GET /api/v1/no/such/route', code: 'not_found' });
  });
});
