import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../server/errors.js';
import { ROOT } from '../../server/paths.js';
import { validator } from '../helpers/schemas.js';
import {
  collectRefs,
  deref,
  openapi,
  openapiOperations,
  operationParameters,
  resolvePointer,
  routeTable,
  schemaFiles,
  schemas,
  splitRef,
  type Json,
  type JsonObject,
} from './contract-helpers.js';

const SCHEMA_PREFIX = '../schema/';

describe('$refs', () => {
  it('every $ref of the OpenAPI YAML resolves (local pointers and schema files with their fragments)', () => {
    const broken: string[] = [];
    for (const { ref, at } of collectRefs(openapi)) {
      const { file, pointer } = splitRef(ref);
      if (file === '') {
        if (resolvePointer(openapi, pointer) === undefined) broken.push(`${at}: ${ref}`);
      } else if (!file.startsWith(SCHEMA_PREFIX) || !schemas.has(file.slice(SCHEMA_PREFIX.length))) {
        broken.push(`${at}: ${ref} (no such schema file)`);
      } else if (resolvePointer(schemas.get(file.slice(SCHEMA_PREFIX.length))!, pointer) === undefined) {
        broken.push(`${at}: ${ref} (no such fragment)`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('every $ref of every schema file resolves, by file name ($id) and fragment', () => {
    const broken: string[] = [];
    for (const [name, schema] of schemas) {
      expect(schema.$id, `${name} $id`).toBe(name);
      expect(schema.$schema, `${name} $schema`).toBe('https://json-schema.org/draft/2020-12/schema');
      for (const { ref, at } of collectRefs(schema)) {
        const { file, pointer } = splitRef(ref);
        const target = file === '' ? schema : schemas.get(file);
        if (!target || resolvePointer(target, pointer) === undefined) broken.push(`${name}${at}: ${ref}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('Ajv compiles every schema file (strict mode, every cross-file ref resolved)', () => {
    for (const file of schemaFiles) expect(() => validator.get(file), file).not.toThrow();
  });

  it('every schema file is used: referenced from the OpenAPI YAML or from another schema', () => {
    const used = new Set<string>();
    for (const { ref } of collectRefs(openapi)) {
      const { file } = splitRef(ref);
      if (file.startsWith(SCHEMA_PREFIX)) used.add(file.slice(SCHEMA_PREFIX.length));
    }
    for (const [name, schema] of schemas) {
      for (const { ref } of collectRefs(schema)) {
        const { file } = splitRef(ref);
        if (file !== '' && file !== name) used.add(file);
      }
    }
    expect(schemaFiles.filter((f) => !used.has(f))).toEqual([]);
  });

  it('every path-parameter pattern of params.schema.json is used', () => {
    const defs = Object.keys((schemas.get('params.schema.json')!.$defs ?? {}) as JsonObject);
    const refs = [...collectRefs(openapi), ...[...schemas.values()].flatMap((s) => collectRefs(s))].map((r) => r.ref);
    expect(defs.filter((d) => !refs.some((r) => r.endsWith(`params.schema.json#/$defs/${d}`)))).toEqual([]);
  });

  it('the YAML defines no schema of its own under components/schemas (the schema files are the one source)', () => {
    expect(((openapi.components as JsonObject).schemas ?? null) as Json).toBeNull();
  });
});

describe('routes ⇔ OpenAPI paths × methods', () => {
  const table = routeTable();
  const key = (m: string, p: string): string => `${m.toUpperCase()} ${p}`;

  it('every route is documented and every documented operation is served', () => {
    const served = new Set(table.map((r) => key(r.method, r.path)));
    const documented = new Set(openapiOperations().map((o) => key(o.method, o.path)));
    const undocumented = [...served].filter((k) => !documented.has(k)).sort();
    const unserved = [...documented].filter((k) => !served.has(k)).sort();
    expect({ undocumented, unserved }).toEqual({ undocumented: [], unserved: [] });
  });

  it('no route is registered twice', () => {
    const keys = table.map((r) => key(r.method, r.path));
    expect(keys.filter((k, i) => keys.indexOf(k) !== i)).toEqual([]);
  });

  it('a route validates its JSON body with the schema the OpenAPI document names, and every documented JSON body is validated', () => {
    const mismatches: string[] = [];
    for (const { method, path: p, op } of openapiOperations()) {
      const route = table.find((r) => r.method === method && r.path === p);
      if (!route) continue;
      const json = ((op.requestBody as JsonObject | undefined)?.content as JsonObject | undefined)?.['application/json'] as JsonObject | undefined;
      const documented = json ? String((json.schema as JsonObject).$ref ?? '') : undefined;
      const validated = route.body ? `${SCHEMA_PREFIX}${route.body}` : undefined;
      if (documented !== validated) mismatches.push(`${key(method, p)}: OpenAPI ${documented ?? 'no JSON body'}, route ${validated ?? 'no body schema'}`);
    }
    expect(mismatches).toEqual([]);
  });

  it('every path parameter of a route is checked against the schema the OpenAPI document names', () => {
    const mismatches: string[] = [];
    for (const { method, path: p, op, item } of openapiOperations()) {
      const route = table.find((r) => r.method === method && r.path === p);
      if (!route || route.doc) continue; // the doc routes check their own parameter
      for (const param of operationParameters(item, op).filter((x) => x.in === 'path')) {
        const documented = String((param.schema as JsonObject).$ref ?? '');
        const checked = route.params?.[String(param.name)];
        if (!checked) mismatches.push(`${key(method, p)}: path parameter ${String(param.name)} is not validated by the route`);
        else if (`${SCHEMA_PREFIX}${checked}` !== documented) mismatches.push(`${key(method, p)}: ${String(param.name)} route ${checked}, OpenAPI ${documented}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('documents the statuses each route can give: 401/403 when authenticated, 400/413/415/422 with a JSON body, 415 on cookie writes, 404 or 422 for path parameters', () => {
    const missing: string[] = [];
    for (const { method, path: p, op } of openapiOperations()) {
      const route = table.find((r) => r.method === method && r.path === p);
      if (!route) continue;
      const responses = Object.keys(op.responses as JsonObject);
      const need: string[] = [];
      // The metrics token is one secret compared whole: wrong or missing is 401, there is no 403.
      if (route.auth === 'metrics') need.push('401');
      else if (route.auth !== 'none') need.push('401', '403');
      if (route.body) need.push('400', '413', '415', '422');
      // A browser (cookie) write must send JSON when it sends a body at all: 415 otherwise.
      if (route.method !== 'get' && route.auth !== 'dsn') need.push('415');
      // A bad path parameter is 404 on reads (and the doc routes), 422 on writes that declare so.
      if (p.includes('{')) need.push(route.params ? String(route.badParam ?? 404) : '404');
      const absent = [...new Set(need)].filter((s) => !responses.includes(s));
      if (absent.length) missing.push(`${key(method, p)}: ${absent.join(', ')}`);
    }
    expect(missing).toEqual([]);
  });

  it('every documented error response (4xx, 5xx) has the error schema', () => {
    const wrong: string[] = [];
    for (const { method, path: p, op } of openapiOperations()) {
      for (const [status, raw] of Object.entries(op.responses as JsonObject)) {
        if (!/^[45]/.test(status)) continue;
        const res = deref(raw as JsonObject);
        const schema = ((res.content as JsonObject | undefined)?.['application/json'] as JsonObject | undefined)?.schema as JsonObject | undefined;
        const refs = (schema?.anyOf ? (schema.anyOf as JsonObject[]) : [schema ?? {}]).map((s) => String(s.$ref ?? ''));
        // readyz's 503 is the readiness document (which carries `detail` and `code` too) or, on a
        // draining replica, the error body.
        const allowed = [`${SCHEMA_PREFIX}error.schema.json`, ...(p === '/readyz' ? [`${SCHEMA_PREFIX}readiness.schema.json`] : [])];
        const ok = refs.length > 0 && refs.every((ref) => allowed.includes(ref));
        if (!ok) wrong.push(`${key(method, p)} ${status}: ${refs.join(' | ') || 'no JSON schema'}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('each operation has a unique operationId, a tag and an explicit security list', () => {
    const ids = openapiOperations().map((o) => o.op.operationId);
    expect(ids.filter((id, i) => !id || ids.indexOf(id) !== i)).toEqual([]);
    for (const { method, path: p, op } of openapiOperations()) {
      expect((op.tags as Json[] | undefined)?.length, key(method, p)).toBeGreaterThan(0);
      expect(Array.isArray(op.security), `${key(method, p)} security`).toBe(true);
    }
  });

  it('security matches each route: DSN key on ingest, the metrics token on metrics, session or read token on reads, none on open routes', () => {
    const wrong: string[] = [];
    for (const { method, path: p, op } of openapiOperations()) {
      const route = table.find((r) => r.method === method && r.path === p);
      if (!route) continue;
      const requirements = op.security as JsonObject[];
      const schemes = new Set(requirements.flatMap((s) => Object.keys(s)));
      const ok =
        route.auth === 'none'
          ? // open, or a credential that is optional (`{}` among the alternatives)
            schemes.size === 0 || requirements.some((s) => Object.keys(s).length === 0)
          : route.auth === 'dsn'
            ? schemes.size === 1 && schemes.has('dsnKey')
            : route.auth === 'metrics'
              ? schemes.size === 1 && schemes.has('metricsToken')
            : schemes.has('session') && !schemes.has('dsnKey');
      if (!ok) wrong.push(`${key(method, p)}: auth ${route.auth}, security ${[...schemes].join('+') || 'none'}`);
    }
    expect(wrong).toEqual([]);
  });
});

describe('error codes', () => {
  const xCodes = openapi['x-error-codes'] as Record<string, { status: number; description: string }>;

  it('ERROR_CODES equals the OpenAPI x-error-codes, codes and statuses', () => {
    const documented = Object.fromEntries(Object.entries(xCodes).map(([c, v]) => [c, v.status]));
    expect(documented).toEqual({ ...ERROR_CODES });
    // Exactly {status, description}: an unquoted comma inside a YAML flow mapping silently splits a description into stray keys.
    const malformed = Object.entries(xCodes).filter(([, v]) => Object.keys(v).sort().join() !== 'description,status' || !/\S/.test(v.description));
    expect(malformed.map(([code, v]) => `${code}: ${JSON.stringify(v)}`)).toEqual([]);
  });

  it('ERROR_CODES equals the code enum of error.schema.json', () => {
    const props = schemas.get('error.schema.json')!.properties as JsonObject;
    expect([...((props.code as JsonObject).enum as string[])].sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it("the document's prose table lists every code with its status", () => {
    const text = String((openapi.info as JsonObject).description);
    const missing = Object.entries(ERROR_CODES).filter(([code, status]) => !text.includes(`| \`${code}\` | ${status} |`));
    expect(missing).toEqual([]);
  });

  it('every operation that reaches a backend documents 503 with Retry-After (backend_unavailable)', () => {
    // Served from memory alone: liveness, the API's own documents and the process's metrics.
    const memoryOnly = new Set(['get /healthz', 'get /openapi.json', 'get /docs', 'get /redoc', 'get /schema/{name}.schema.json', 'get /readyz', 'get /metrics']);
    const missing: string[] = [];
    for (const { method, path: p, op } of openapiOperations()) {
      if (memoryOnly.has(`${method} ${p}`)) continue;
      const res = (op.responses as JsonObject)['503'] as JsonObject | undefined;
      const headers = res ? ((deref(res).headers ?? {}) as JsonObject) : {};
      if (!res || !('Retry-After' in headers)) missing.push(`${method} ${p}`);
    }
    expect(missing).toEqual([]);
  });

  it('every error status an operation documents has at least one code with that status', () => {
    const statuses = new Set<number>(Object.values(ERROR_CODES));
    const orphans: string[] = [];
    for (const { method, path: p, op } of openapiOperations()) {
      for (const s of Object.keys(op.responses as JsonObject)) if (/^[45]/.test(s) && !statuses.has(Number(s))) orphans.push(`${method} ${p} ${s}`);
    }
    expect(orphans).toEqual([]);
  });
});

describe('lint', () => {
  it('@redocly/cli lint passes on openapi/openapi.yaml', () => {
    const bin = path.join(ROOT, 'node_modules', '.bin', 'redocly');
    const r = spawnSync(bin, ['lint', 'openapi/openapi.yaml', '--format', 'stylish'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  }, 120_000);
});
