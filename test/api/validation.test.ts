import { deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteDef } from '../../server/http/route.js';
import { MAX_JSON_DEPTH } from '../../server/http/validator.js';
import { ROUTES } from '../../server/routes/index.js';
import { BundleKeys } from '../../server/services/bundle.js';
import { PROFILES, productionAvailable } from '../helpers/backends.js';
import { expectError, validator } from '../helpers/schemas.js';
import { startTestServer, type TestServer, type TestTenant } from '../helpers/server.js';
import { exampleUrlPath, requestExample, schemas, type Json, type JsonObject } from '../contract/contract-helpers.js';

// Every route that takes a JSON body, so this suite grows with the route table.
const BODY_ROUTES = ROUTES.filter((r) => r.body);
const SMALL_LIMIT = 2048;
const JSON_HEADERS = { 'content-type': 'application/json' };

// Bodies whose documented example names things this test's tenant does not have.
const OWN_BODIES: Record<string, (t: TestTenant) => JsonObject> = {
  'login-body.schema.json': (t) => ({ email: t.email, password: t.password }),
  'impersonate-body.schema.json': (t) => ({ tenant: t.slug }),
};

/** A body the route accepts: the documented example, or one naming the test tenant's own user or slug. */
function validBody(route: RouteDef, t: TestTenant): JsonObject {
  const own = OWN_BODIES[route.body!];
  if (own) return own(t);
  const body = requestExample(route) as JsonObject | undefined;
  if (!body) throw new Error(`${route.method} ${route.path}: the OpenAPI document gives no request example`);
  expect(validator.get(route.body!)(body), `${route.path} example`).toBe(true);
  return body;
}

function bodySchema(route: RouteDef): { required: string[]; properties: string[] } {
  const schema = schemas.get(route.body!)!;
  return { required: (schema.required ?? []) as string[], properties: Object.keys((schema.properties ?? {}) as JsonObject) };
}

/** The body with its first required field set to a value of the wrong type, when some value is wrong. */
function wrongType(route: RouteDef, body: JsonObject): { field: string; body: JsonObject } | undefined {
  const check = validator.get(route.body!);
  for (const field of bodySchema(route).required) {
    for (const value of [12345, 'not-this', [], {}, true] as Json[]) {
      const candidate = { ...body, [field]: value };
      if (!check(candidate)) return { field, body: candidate };
    }
  }
  return undefined;
}

const nested = (depth: number): Json => {
  let v: Json = 'bottom';
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};

async function expect422(res: Response, field?: string): Promise<void> {
  const body = (await expectError(res, 422, 'validation_failed')) as { detail: string; errors: Array<{ loc: unknown[]; msg: string; type: string }> };
  expect(body.errors.length).toBeGreaterThan(0);
  for (const e of body.errors) {
    expect(Array.isArray(e.loc) && e.loc[0] === 'body', JSON.stringify(e)).toBe(true);
    expect(e.msg).toMatch(/\S/);
    expect(e.type).toMatch(/\S/);
  }
  if (field) {
    expect(body.detail).toContain(field);
    expect(body.errors.some((e) => e.loc.includes(field)), JSON.stringify(body.errors)).toBe(true);
  }
}

describe.each(PROFILES)('request validation on %s backends', (profile) => {
  const skip = profile === 'production' && !productionAvailable();
  let s: TestServer;
  let small: TestServer;
  const tenants = new Map<TestServer, TestTenant>();
  const sessions = new Map<TestServer, string>();

  beforeAll(async () => {
    if (skip) return;
    [s, small] = await Promise.all([startTestServer(profile), startTestServer(profile, { AUGUR_MAX_JSON_BYTES: String(SMALL_LIMIT) })]);
    for (const server of [s, small]) {
      const t = await server.tenant({ admin: true, modelio: true });
      tenants.set(server, t);
      // The documented examples name run_abc: routes that act on a known run (issuing a command) need it indexed.
      await server.ctx.stores.metadata.touchRuns([{ tenant_id: t.id, run_id: 'run_abc', seen_at: Date.now() }]);
    }
  });
  afterAll(async () => {
    await Promise.all([s?.close(), small?.close()]);
  });

  /** Credentials the route takes: the DSN key on ingest, a signed-in session on account and tenant writes. */
  async function auth(server: TestServer, route: RouteDef): Promise<Record<string, string>> {
    const t = tenants.get(server)!;
    if (route.auth === 'dsn') return { authorization: `Bearer ${t.key}` };
    if (route.auth === 'none') return {};
    let cookie = sessions.get(server);
    if (!cookie) {
      const r = await fetch(`${server.api}/auth/login`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ email: t.email, password: t.password }) });
      expect(r.status, `sign in: ${await r.clone().text()}`).toBe(200);
      cookie = r.headers
        .getSetCookie()
        .map((c) => c.split(';')[0]!)
        .join('; ');
      sessions.set(server, cookie);
    }
    return { cookie };
  }

  async function send(server: TestServer, route: RouteDef, body: BodyInit, headers: Record<string, string> = JSON_HEADERS): Promise<Response> {
    return fetch(`${server.api}${exampleUrlPath(route)}`, { method: route.method.toUpperCase(), headers: { ...(await auth(server, route)), ...headers }, body });
  }

  it.skipIf(skip)('there are JSON-body routes to check', () => {
    expect(BODY_ROUTES.length).toBeGreaterThan(0);
  });

  describe.each(BODY_ROUTES.map((r) => [`${r.method.toUpperCase()} ${r.path}`, r] as const))('%s', (_name, route) => {
    it.skipIf(skip)('accepts the documented example', async () => {
      const r = await send(s, route, JSON.stringify(validBody(route, tenants.get(s)!)));
      expect(r.status, await r.text()).toBeLessThan(300);
    });

    it.skipIf(skip)('422 validation_failed naming the missing required field (an empty body where no field is required)', async () => {
      const { required } = bodySchema(route);
      if (!required.length) {
        // A body of optional fields only (costs): it must still say something.
        expect(schemas.get(route.body!)!.minProperties, `${route.body} has no required field and no minProperties`).toBeGreaterThan(0);
        await expect422(await send(s, route, '{}'));
        return;
      }
      const body = validBody(route, tenants.get(s)!);
      delete body[required[0]!];
      await expect422(await send(s, route, JSON.stringify(body)), required[0]);
    });

    it.skipIf(skip)('422 validation_failed naming a field of the wrong type, and for a body that is not an object', async () => {
      const broken = wrongType(route, validBody(route, tenants.get(s)!));
      if (broken) await expect422(await send(s, route, JSON.stringify(broken.body)), broken.field);
      await expect422(await send(s, route, '[]'));
    });

    it.skipIf(skip)('400 malformed_json for a body that is not JSON', async () => {
      await expectError(await send(s, route, '{"text": "unterminated'), 400, 'malformed_json');
    });

    it.skipIf(skip)('400 malformed_json naming the key for a body that repeats a key, at the top or deeper', async () => {
      const body = validBody(route, tenants.get(s)!);
      const json = JSON.stringify(body);
      const [first] = Object.keys(body);
      // The first key again at the end, with another value: JSON.parse would keep the last one.
      const top = `${json.slice(0, -1)},${JSON.stringify(first)}:${JSON.stringify(body[first!] ?? null)}}`;
      const deep = `${json.slice(0, -1)},"nested_dup":{"a":[{"run_id":"x","run_id":"y"}]}}`;
      for (const text of [top, deep]) {
        const r = await expectError(await send(s, route, text), 400, 'malformed_json');
        expect(r.detail).toContain(text === top ? JSON.stringify(first) : '"run_id"');
      }
      // Not a duplicate: the same key in sibling and nested objects.
      const siblings = `${json.slice(0, -1)},"sib":[{"k":1},{"k":2}],"k":{"k":{"k":3}}}`;
      const r = await send(s, route, siblings);
      expect(r.status, await r.text()).not.toBe(400);
    });

    it.skipIf(skip)('400 malformed_json for a body that is not UTF-8, whatever route (nothing stored or rewritten)', async () => {
      const json = JSON.stringify(validBody(route, tenants.get(s)!));
      // A lone continuation byte inside the first string value.
      const at = json.indexOf('"', 1) + 1;
      const bytes = Buffer.concat([Buffer.from(json.slice(0, at)), Buffer.from([0x80]), Buffer.from(json.slice(at))]);
      await expectError(await send(s, route, bytes), 400, 'malformed_json');
    });

    it.skipIf(skip)('415 unsupported_media_type for a body that is not sent as JSON', async () => {
      const json = JSON.stringify(validBody(route, tenants.get(s)!));
      await expectError(await send(s, route, json, { 'content-type': 'text/plain' }), 415, 'unsupported_media_type');
      await expectError(await send(s, route, json, { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'unsupported_media_type');
    });

    it.skipIf(skip)(`413 payload_too_large above AUGUR_MAX_JSON_BYTES (${SMALL_LIMIT} here)`, async () => {
      const body = { ...validBody(route, tenants.get(small)!), padding: 'x'.repeat(SMALL_LIMIT) };
      await expectError(await send(small, route, JSON.stringify(body)), 413, 'payload_too_large');
    });

    it.skipIf(skip)('accepts gzip and deflate bodies', async () => {
      const json = JSON.stringify(validBody(route, tenants.get(s)!));
      for (const [encoding, bytes] of [
        ['gzip', gzipSync(json)],
        ['deflate', deflateSync(json)],
      ] as const) {
        const r = await send(s, route, bytes, { ...JSON_HEADERS, 'content-encoding': encoding });
        expect(r.status, `${encoding}: ${await r.text()}`).toBeLessThan(300);
      }
    });

    it.skipIf(skip)('413 for a small gzip body that inflates past the limit (a gzip bomb)', async () => {
      const bomb = gzipSync(JSON.stringify({ ...validBody(route, tenants.get(small)!), padding: ' '.repeat(1 << 20) }));
      expect(bomb.length).toBeLessThan(SMALL_LIMIT);
      await expectError(await send(small, route, bomb, { ...JSON_HEADERS, 'content-encoding': 'gzip' }), 413, 'payload_too_large');
    });

    it.skipIf(skip)(`422 for JSON nested deeper than ${MAX_JSON_DEPTH} levels`, async () => {
      const body = { ...validBody(route, tenants.get(s)!), deep: nested(MAX_JSON_DEPTH + 10) };
      await expect422(await send(s, route, JSON.stringify(body)));
    });

    it.skipIf(skip)('accepts null for every optional field (null means absent)', async () => {
      const { required, properties } = bodySchema(route);
      const body = validBody(route, tenants.get(s)!);
      for (const p of properties) if (!required.includes(p)) body[p] = null;
      const r = await send(s, route, JSON.stringify(body));
      expect(r.status, `${JSON.stringify(body)} → ${await r.text()}`).toBeLessThan(300);
    });
  });

  it.skipIf(skip)('a step whose body repeats step_index, or run_id, is refused before anything is stored', async () => {
    const t = tenants.get(s)!;
    const run = 'run_dup_keys';
    const put = (i: number, text: string) =>
      fetch(`${s.api}/runs/${run}/steps/${i}`, { method: 'PUT', headers: { ...JSON_HEADERS, authorization: `Bearer ${t.key}` }, body: text });
    const a = await expectError(await put(8, '{"step_id":"s8","step_index":9,"step_index":8,"status":"ok"}'), 400, 'malformed_json');
    expect(a.detail).toContain('"step_index"');
    const b = await expectError(await put(3, `{"step_id":"s3","step_index":3,"run_id":"${run}","status":"ok","run_id":"other_run"}`), 400, 'malformed_json');
    expect(b.detail).toContain('"run_id"');
    const keys = new BundleKeys(t.id, run);
    for (const i of [3, 8, 9]) expect(await s.ctx.stores.objects.get(keys.step(i)), `step ${i}`).toBeUndefined();
  });

  // Query parameters and path parameters of the routes without a JSON body (or beyond it).
  describe('query and path parameters of the SDK ledger and commands routes', () => {
    const dsnGet = (path: string) => fetch(`${s.api}${path}`, { headers: { authorization: `Bearer ${tenants.get(s)!.key}` } });

    it.skipIf(skip)('GET /runs/{run_id}/commands: a bad cursor, wait or run id is 422 naming it', async () => {
      for (const [q, name] of [
        ['cursor=abc', 'cursor'],
        ['cursor=1.5', 'cursor'],
        ['cursor=1234567890123456', 'cursor'],
        ['wait=121', 'wait'],
        ['wait=-1', 'wait'],
        ['wait=ten', 'wait'],
        ['cursor=1&cursor=2', 'cursor'],
      ] as const) {
        const body = (await expectError(await dsnGet(`/runs/run_abc/commands?${q}`), 422, 'validation_failed')) as { errors: Array<{ loc: unknown[] }> };
        expect(body.errors[0]!.loc, q).toEqual(['query', name]);
      }
      await expectError(await dsnGet('/runs/..%2Fx/commands?wait=0'), 422, 'validation_failed');
      const r = await dsnGet('/runs/run_abc/commands?cursor=&wait=0');
      expect(r.status, await r.clone().text()).toBe(200);
    });

    it.skipIf(skip)('GET /runs/{run_id}/commands.json: a bad cursor is 422; reads of invalid names are 404', async () => {
      const cookie = (await auth(s, { auth: 'reader' } as RouteDef)).cookie!;
      const read = (path: string) => fetch(`${s.api}${path}`, { headers: { cookie } });
      await expectError(await read('/runs/run_abc/commands.json?cursor=x'), 422, 'validation_failed');
      for (const path of ['/runs/run_abc/side_effects/1-se.json', '/runs/run_abc/side_effects/0001-.json', '/runs/run_abc/side_effects/0001-a%2Fb.json', '/runs/.x/files', '/runs/.x/outcomes.json']) {
        await expectError(await read(path), 404, 'not_found');
      }
    });
  });
});
