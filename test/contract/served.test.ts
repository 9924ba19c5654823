import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  collectRefs,
  externalUrls,
  matchesTemplate,
  openapiOperations,
  resolvePointer,
  samePathShape,
  schemaFiles,
  SEED_PAGE,
  seedCurlCalls,
  seedEndpoints,
  type JsonObject,
} from './contract-helpers.js';

// The served document is what SDK authors and agents build against: check it over HTTP, as served.
describe('served OpenAPI document and doc pages', () => {
  let s: TestServer;
  let doc: JsonObject;
  beforeAll(async () => {
    s = await startTestServer('embedded');
    const r = await fetch(`${s.api}/openapi.json`);
    expect(r.status).toBe(200);
    doc = (await r.json()) as JsonObject;
  });
  afterAll(async () => s?.close());

  it('validates with @apidevtools/swagger-parser (OpenAPI 3.1, every ref resolved)', async () => {
    // validate() dereferences in place; keep `doc` for the other tests.
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeTruthy();
  });

  it('is self-contained: every $ref is local and resolves, every schema file is a component', () => {
    const refs = collectRefs(doc);
    expect(refs.filter((r) => !r.ref.startsWith('#/'))).toEqual([]);
    expect(refs.filter((r) => resolvePointer(doc, r.ref.slice(1)) === undefined)).toEqual([]);
    const components = (doc.components as JsonObject).schemas as JsonObject;
    expect(Object.keys(components).sort()).toEqual(schemaFiles.map((f) => f.replace(/\.schema\.json$/, '')).sort());
    for (const [name, schema] of Object.entries(components) as Array<[string, JsonObject]>) {
      expect(schema.$id, name).toBeUndefined();
      expect(schema.$schema, name).toBeUndefined();
    }
  });

  it.skipIf(!seedEndpoints())(`contains every endpoint of the reference page (${SEED_PAGE})`, () => {
    const ops = openapiOperations(doc);
    expect(seedEndpoints()!.length).toBeGreaterThanOrEqual(20);
    const missing = seedEndpoints()!.filter((e) => !ops.some((o) => o.method === e.method && samePathShape(e.path, o.path)));
    expect(missing).toEqual([]);
    // The page's curl examples hit documented endpoints too.
    const calls = seedCurlCalls();
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.filter((c) => !ops.some((o) => o.method === c.method && matchesTemplate(c.path, o.path)))).toEqual([]);
  });

  it('the external-URL check finds CDN scripts, fonts and protocol-relative URLs, not XML namespaces', () => {
    const page = `<svg xmlns="http://www.w3.org/2000/svg"></svg><script src="https://cdn.example.com/x.js"></script>
      <link href="//fonts.googleapis.com/css?family=Roboto"> // a comment <a href="openapi.json">`;
    expect(externalUrls(page)).toEqual(['https://cdn.example.com/x.js', '//fonts.googleapis.com/css?family=Roboto']);
  });

  it('the doc pages and their init scripts reference no other host', async () => {
    const urls = ['/docs/', '/docs/swagger-ui-init.js', '/redoc'];
    for (const u of urls) {
      const r = await fetch(`${s.api}${u}`);
      expect(r.status, u).toBe(200);
      const text = await r.text();
      expect(externalUrls(text), u).toEqual([]);
      expect(text, u).not.toMatch(/\/\/cdn|fonts\.googleapis|unpkg\.com|jsdelivr/i);
    }
  });

  it('every script and stylesheet the pages load is served by Augur from beside the page', async () => {
    for (const page of ['/docs/', '/redoc']) {
      const html = await (await fetch(`${s.api}${page}`)).text();
      const refs = [...html.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!).filter((u) => !u.startsWith('data:'));
      expect(refs.length, page).toBeGreaterThan(0);
      for (const ref of refs) {
        const url = new URL(ref, `${s.api}${page}`);
        expect(url.origin, `${page} → ${ref}`).toBe(new URL(s.url).origin);
        const r = await fetch(url);
        expect(r.status, `${page} → ${ref}`).toBe(200);
        await r.arrayBuffer();
      }
    }
  });

  it("the ReDoc bundle Augur serves fetches nothing from another host (its cdn.redoc.ly logo is removed)", async () => {
    const js = await (await fetch(`${s.api}/redoc/redoc.standalone.js`)).text();
    expect(js).not.toContain('cdn.redoc.ly');
    expect(js).not.toMatch(/fonts\.googleapis|fonts\.gstatic/);
  });
});
