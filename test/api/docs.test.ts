import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEMA_DIR } from '../../server/paths.js';
import { PROFILES, productionAvailable } from '../helpers/backends.js';
import { expectError } from '../helpers/schemas.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const manual = { redirect: 'manual' } as const;

describe.each(PROFILES)('doc routes on %s backends', (profile) => {
  let s: TestServer;
  const skip = profile === 'production' && !productionAvailable();
  beforeAll(async () => {
    if (!skip) s = await startTestServer(profile);
  });
  afterAll(async () => s?.close());

  it.skipIf(skip)('serves the OpenAPI document as JSON without credentials', async () => {
    const r = await fetch(`${s.api}/openapi.json`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    const doc = (await r.json()) as { openapi: string; paths: Record<string, unknown>; 'x-error-codes': Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.paths['/runs/{run_id}/steps/{step_index}']).toBeDefined();
    expect(Object.keys(doc['x-error-codes'])).toContain('validation_failed');
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]*"/g) ?? [];
    expect(refs.length).toBeGreaterThan(100);
    expect(refs.filter((r) => !r.startsWith('"$ref":"#/'))).toEqual([]);
  });

  it.skipIf(skip)('serves each schema file byte for byte', async () => {
    for (const name of ['step', 'error', 'params', 'modelio-record']) {
      const r = await fetch(`${s.api}/schema/${name}.schema.json`);
      expect(r.status, name).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await r.text()).toBe(readFileSync(path.join(SCHEMA_DIR, `${name}.schema.json`), 'utf8'));
    }
  });

  it.skipIf(skip)('answers unknown or malformed schema names with 404 not_found', async () => {
    await expectError(await fetch(`${s.api}/schema/nope.schema.json`), 404, 'not_found');
    await expectError(await fetch(`${s.api}/schema/Step.schema.json`), 404, 'not_found');
    await expectError(await fetch(`${s.api}/schema/..%2Fpackage.schema.json`), 404, 'not_found');
    await expectError(await fetch(`${s.api}/schema/step.json`), 404, 'not_found');
  });

  it.skipIf(skip)('Swagger UI: /docs redirects to /docs/, whose page loads its init script from a file', async () => {
    const redirect = await fetch(`${s.api}/docs?x=1`, manual);
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toBe('docs/?x=1');
    const r = await fetch(`${s.api}/docs/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await r.text();
    expect(html).toContain('<div id="swagger-ui">');
    expect(html).toContain('<script src="./swagger-ui-init.js">');
    // No inline script: every <script> has a src and an empty body.
    expect([...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)].every((m) => /\bsrc=/.test(m[1]!) && m[2]!.trim() === '')).toBe(true);
    const init = await fetch(`${s.api}/docs/swagger-ui-init.js`);
    expect(init.headers.get('content-type')).toMatch(/javascript/);
    const js = await init.text();
    expect(js).toContain('"url": "../openapi.json"');
    expect(js).toContain('"validatorUrl": null');
  });

  it.skipIf(skip)("serves Swagger UI's own assets and nothing else from its package", async () => {
    for (const asset of ['swagger-ui.css', 'swagger-ui-bundle.js', 'swagger-ui-standalone-preset.js', 'favicon-32x32.png']) {
      const r = await fetch(`${s.api}/docs/${asset}`);
      expect(r.status, asset).toBe(200);
      await r.arrayBuffer();
    }
    // swagger-ui-dist's demo page and initializer point at petstore.swagger.io.
    for (const asset of ['index.html', 'swagger-initializer.js', 'package.json', 'oauth2-redirect.html']) {
      await expectError(await fetch(`${s.api}/docs/${asset}`), 404, 'not_found');
    }
  });

  it.skipIf(skip)('ReDoc: a page of our own around the locally served standalone bundle', async () => {
    const r = await fetch(`${s.api}/redoc`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await r.text();
    expect(html).toContain('<redoc spec-url="openapi.json"></redoc>');
    expect(html).toContain('<script src="redoc/redoc.standalone.js"></script>');
    expect([...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)].every((m) => /\bsrc=/.test(m[1]!) && m[2]!.trim() === '')).toBe(true);
    const bundle = await fetch(`${s.api}/redoc/redoc.standalone.js`);
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('content-type')).toMatch(/javascript/);
    expect((await bundle.text()).length).toBeGreaterThan(500_000);
    const slash = await fetch(`${s.api}/redoc/`, manual);
    expect(slash.status).toBe(301);
    expect(slash.headers.get('location')).toBe('../redoc');
  });

  it.skipIf(skip)("helmet's CSP holds for the doc pages: scripts from self only, blob: workers for ReDoc", async () => {
    for (const page of ['/docs/', '/redoc']) {
      const csp = (await fetch(`${s.api}${page}`)).headers.get('content-security-policy') ?? '';
      const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k!, v]));
      expect(directives.get('script-src'), page).toEqual(["'self'"]);
      expect(directives.get('script-src-attr'), page).toEqual(["'none'"]);
      expect(directives.get('worker-src'), page).toEqual(expect.arrayContaining(["'self'", 'blob:']));
      expect(directives.get('connect-src'), page).toEqual(["'self'"]);
      expect(directives.get('default-src'), page).toEqual(["'self'"]);
    }
  });

  it.skipIf(skip)('doc routes refuse other methods with 404 in the error shape', async () => {
    await expectError(await fetch(`${s.api}/openapi.json`, { method: 'POST' }), 404, 'not_found');
    await expectError(await fetch(`${s.api}/docs/swagger-ui-init.js`, { method: 'POST' }), 404, 'not_found');
  });
});
