import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.js';
import { errorHandler, notFoundHandler } from '../../server/http/error-handler.js';
import { VIEWER_DIR, viewerRouter } from '../../server/http/viewer.js';
import { createLogger } from '../../server/logger.js';
import { PROFILES, productionAvailable } from '../helpers/backends.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** The viewer as Augur serves it at `/` (the browser tests drive the app itself). */
describe.each(PROFILES)('viewer serving on %s backends', (profile) => {
  let s: TestServer;
  const skip = profile === 'production' && !productionAvailable();
  beforeAll(async () => {
    if (!existsSync(path.join(VIEWER_DIR, 'index.html'))) throw new Error('the viewer is not built: run npm run build');
    if (!skip) s = await startTestServer(profile);
  });
  afterAll(async () => s?.close());

  it.skipIf(skip)('answers / and every deep link with index.html, uncached, under the viewer CSP', async () => {
    for (const p of ['/', '/runs/run_a', '/runs/run.v2/steps/12', '/runs/run_a/logs/step-3', '/settings', '/no/such/page']) {
      const r = await fetch(`${s.url}${p}`);
      expect(r.status, p).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^text\/html/);
      expect(r.headers.get('cache-control')).toBe('no-cache');
      const csp = r.headers.get('content-security-policy')!;
      for (const d of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "object-src 'none'"]) expect(csp).toContain(d);
      expect(csp).not.toContain('unsafe');
      expect(await r.text()).toContain('<div id="root"></div>');
    }
    const head = await fetch(`${s.url}/runs/run_a`, { method: 'HEAD' });
    expect(head.status).toBe(200);
  });

  it.skipIf(skip)('serves hashed assets for a year, immutable, and misses as JSON 404s', async () => {
    const html = await (await fetch(`${s.url}/`)).text();
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const a of assets) {
      const r = await fetch(`${s.url}${a}`);
      expect(r.status, a).toBe(200);
      expect(r.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    }
    for (const p of ['/assets/index-missing.js', '/favicon.ico']) {
      const r = await fetch(`${s.url}${p}`);
      expect(r.status, p).toBe(404);
      expect(await r.json()).toMatchObject({ code: 'not_found' });
    }
  });

  it.skipIf(skip)('never answers under the API prefix, nor anything but GET and HEAD', async () => {
    for (const p of ['/api/v1/no/such/route', '/API/V1/runs-nope', '/api/v1']) {
      const r = await fetch(`${s.url}${p}`);
      expect(r.status, p).toBe(404);
      expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    }
    const post = await fetch(`${s.url}/runs/run_a`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(post.status).toBe(404);
    expect(await post.json()).toMatchObject({ code: 'not_found' });
  });
});

describe('viewer serving before a build', () => {
  let dir: string;
  let url: string;
  let close: () => void;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'augur-viewer-'));
    mkdirSync(path.join(dir, 'assets'));
    const app = express();
    app.use(viewerRouter(loadConfig({}), '/api/v1', dir));
    app.use(notFoundHandler);
    app.use(errorHandler(createLogger('silent')));
    const server = await new Promise<import('node:http').Server>((resolve) => {
      const srv = app.listen(0, '127.0.0.1', () => resolve(srv));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => server.close();
  });
  afterAll(() => {
    close?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it('says how to build it (503), then serves the build once it exists', async () => {
    const before = await fetch(`${url}/runs/x`);
    expect(before.status).toBe(503);
    expect(await before.text()).toContain('npm run build');
    writeFileSync(path.join(dir, 'index.html'), '<!DOCTYPE html><div id="root"></div>');
    const after = await fetch(`${url}/runs/x`);
    expect(after.status).toBe(200);
    expect(await after.text()).toContain('id="root"');
  });
});
