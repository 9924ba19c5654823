import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteDef } from '../../server/http/route.js';
import { ROUTES } from '../../server/routes/index.js';
import { exampleUrlPath, requestExample, schemas, type Json, type JsonObject } from '../contract/contract-helpers.js';
import { PROFILES, productionAvailable } from '../helpers/backends.js';
import { startTestServer, type TestServer, type TestTenant } from '../helpers/server.js';

/**
 * Bad-input fuzzing: every JSON route gets bodies built from its schema and its documented example,
 * mutated into wrong types, huge and out-of-range numbers, deep nesting, odd strings and prototype
 * keys. Whatever comes in, the answer is never a 5xx and the server keeps serving. Seeded and
 * bounded: the same bodies on every run.
 */
const SEED = 20261201;
const RUNS_PER_ROUTE = 30;
const BODY_ROUTES = ROUTES.filter((r) => r.body);
const JSON_HEADERS = { 'content-type': 'application/json' };

const exampleBody = (route: RouteDef): Json => requestExample(route) ?? {};

/** Every place in a document a value can go: each property and array item, nested. */
function paths(doc: Json, at: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [at];
  if (Array.isArray(doc)) doc.forEach((v, i) => out.push(...paths(v, [...at, i])));
  else if (doc && typeof doc === 'object') for (const [k, v] of Object.entries(doc)) out.push(...paths(v, [...at, k]));
  return out;
}

/** Text spliced in raw, where JSON.stringify cannot say it (numbers past double range, very deep nesting). */
const RAW = [
  '1e400',
  '-1e400',
  '123456789012345678901234567890123456789',
  '0.000000000000000000000000000000000000000000000000000001',
  '-0',
  '9007199254740993',
  `${'['.repeat(70)}${']'.repeat(70)}`,
  `${'{"a":'.repeat(70)}1${'}'.repeat(70)}`,
  `${'['.repeat(5_000)}${']'.repeat(5_000)}`,
  '{"__proto__":{"polluted":true}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
];
const RAW_MARK = (i: number) => `\u0001raw${i}\u0001`;

const nested = (depth: number): Json => (depth === 0 ? 1 : [nested(depth - 1)]);
const odd: fc.Arbitrary<Json> = fc.oneof(
  // wrong types
  fc.constantFrom<Json>(null, true, false, 0, -1, '', [], {}, [null], { a: {} }, '0', 'true', 'null'),
  // huge, tiny and out-of-range numbers
  fc.constantFrom<Json>(1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 2 ** 63, -(2 ** 63), 5e-324, 999_999_999_999, -999_999),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  // odd strings
  fc.constantFrom<Json>('\u0000', '\ud800', '\udfff', '\u202e', '💥'.repeat(500), 'a'.repeat(70_000), '../../etc/passwd', '%00', '<script>alert(1)</script>', '__proto__', '\r\n', ' ', "'; drop table runs; --"),
  fc.string({ unit: 'binary', maxLength: 40 }),
  // deep nesting within and past the validator's depth limit
  fc.constantFrom<Json>(nested(30), nested(63), nested(65)),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
  fc.integer({ min: 0, max: RAW.length - 1 }).map((i) => RAW_MARK(i)),
);

const isContainer = (v: Json | undefined): v is Record<string | number, Json> => typeof v === 'object' && v !== null;

/** The document with the value at `at`; a missing or scalar step on the way becomes an object. */
function setAt(doc: Json, at: Array<string | number>, value: Json): Json {
  if (at.length === 0) return value;
  const copy = isContainer(doc) ? (structuredClone(doc) as Record<string | number, Json>) : {};
  let node = copy;
  for (const k of at.slice(0, -1)) {
    const next = node[k];
    node = isContainer(next) ? next : (node[k] = {});
  }
  node[at.at(-1)!] = value;
  return copy as Json;
}

function text(body: Json): string {
  let s = JSON.stringify(body);
  RAW.forEach((raw, i) => (s = s.split(JSON.stringify(RAW_MARK(i))).join(raw)));
  return s;
}

/** One body for a route: its example with one place (or a schema property, present or not) set to an odd value. */
function bodies(route: RouteDef): fc.Arbitrary<string> {
  const example = exampleBody(route);
  const schema = schemas.get(route.body!)!;
  const props = Object.keys((schema.properties ?? {}) as JsonObject).map((k) => [k]);
  const places = [...paths(example), ...props];
  return fc.tuple(fc.constantFrom(...places), odd, fc.boolean()).map(([at, value, twice]) => {
    let body = setAt(example, at, value);
    // Sometimes a second mutation, at the root's first property: two wrongs at once.
    if (twice && props[0]) body = setAt(body, props[0], value);
    return text(body);
  });
}

describe.each(PROFILES)('bad-input fuzzing on %s backends', (profile) => {
  const skip = profile === 'production' && !productionAvailable();
  let s: TestServer;
  let t: TestTenant;
  let cookie: string;

  beforeAll(async () => {
    if (skip) return;
    s = await startTestServer(profile);
    t = await s.tenant({ admin: true, modelio: true });
    await s.ctx.stores.metadata.touchRuns([{ tenant_id: t.id, run_id: 'run_abc', seen_at: Date.now() }]);
    const r = await fetch(`${s.api}/auth/login`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ email: t.email, password: t.password }) });
    expect(r.status).toBe(200);
    cookie = r.headers
      .getSetCookie()
      .map((c) => c.split(';')[0]!)
      .join('; ');
  });
  afterAll(async () => s?.close());

  const headers = (route: RouteDef): Record<string, string> =>
    route.auth === 'dsn' ? { ...JSON_HEADERS, authorization: `Bearer ${t.key}` } : route.auth === 'none' ? JSON_HEADERS : { ...JSON_HEADERS, cookie };

  it.skipIf(skip).each(BODY_ROUTES.map((r) => [`${r.method.toUpperCase()} ${r.path}`, r] as const))('%s: no 5xx for any mutated body', async (_name, route) => {
    const url = `${s.api}${exampleUrlPath(route)}`;
    const seen: string[] = [];
    await fc.assert(
      fc.asyncProperty(bodies(route), async (body) => {
        const r = await fetch(url, { method: route.method.toUpperCase(), headers: headers(route), body });
        const answer = await r.text();
        if (r.status >= 500) seen.push(`${r.status} ${answer.slice(0, 200)} for ${body.slice(0, 200)}`);
        return r.status < 500;
      }),
      { seed: SEED, numRuns: RUNS_PER_ROUTE, endOnFailure: true },
    );
    expect(seen).toEqual([]);
  });

  it.skipIf(skip)('the server still serves afterwards', async () => {
    expect((await fetch(`${s.api}/healthz`)).status).toBe(200);
    expect((await fetch(`${s.api}/readyz`)).status).toBe(200);
    const ok = await fetch(`${s.api}/runs/run_abc/events`, {
      method: 'POST',
      headers: headers(ROUTES.find((r) => r.path === '/runs/:run_id/events')!),
      body: JSON.stringify({ events: [{ ts: new Date().toISOString(), layer: 'planner', kind: 'decision', summary: 'after fuzzing', detail: {} }] }),
    });
    expect(ok.status).toBe(200);
  });
});
