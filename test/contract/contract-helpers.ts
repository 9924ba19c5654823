import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ROOT, OPENAPI_FILE, SCHEMA_DIR } from '../../server/paths.js';
import { DOC_ROUTES } from '../../server/routes/docs.js';
import { ROUTES } from '../../server/routes/index.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** The hand-authored YAML as written (refs not rewritten). */
export const openapi = parse(readFileSync(OPENAPI_FILE, 'utf8')) as JsonObject;

export const schemaFiles = readdirSync(SCHEMA_DIR)
  .filter((f) => f.endsWith('.schema.json'))
  .sort();
export const schemas = new Map(schemaFiles.map((f) => [f, JSON.parse(readFileSync(path.join(SCHEMA_DIR, f), 'utf8')) as JsonObject]));

/** Every `$ref` string under a node, with the JSON pointer of the object holding it. */
export function collectRefs(node: Json, at = ''): Array<{ ref: string; at: string }> {
  const out: Array<{ ref: string; at: string }> = [];
  const walk = (n: Json, p: string): void => {
    if (Array.isArray(n)) n.forEach((c, i) => walk(c, `${p}/${i}`));
    else if (n !== null && typeof n === 'object') {
      for (const [k, v] of Object.entries(n)) {
        if (k === '$ref' && typeof v === 'string') out.push({ ref: v, at: p });
        else walk(v, `${p}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`);
      }
    }
  };
  walk(node, at);
  return out;
}

/** Follows a JSON pointer ("/components/schemas/x", "" for the root); undefined when it leads nowhere. */
export function resolvePointer(doc: Json, pointer: string): Json | undefined {
  if (pointer === '') return doc;
  if (!pointer.startsWith('/')) return undefined;
  let node: Json | undefined = doc;
  for (const raw of pointer.slice(1).split('/')) {
    const part = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object') return undefined;
    node = Array.isArray(node) ? node[Number(part)] : node[part];
    if (node === undefined) return undefined;
  }
  return node;
}

export const splitRef = (ref: string): { file: string; pointer: string } => {
  const i = ref.indexOf('#');
  return i === -1 ? { file: ref, pointer: '' } : { file: ref.slice(0, i), pointer: ref.slice(i + 1) };
};

/** Express "/runs/:run_id/steps/:step.json" → OpenAPI "/runs/{run_id}/steps/{step}.json". */
export const toOpenApiPath = (p: string): string => p.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');

export interface TableRoute {
  method: string;
  path: string;
  auth: string;
  body?: string;
  params?: Record<string, string>;
  badParam?: 404 | 422;
  doc: boolean;
}

/** ROUTES plus the doc routes, with OpenAPI-style paths. */
export function routeTable(): TableRoute[] {
  return [
    ...ROUTES.map((r) => ({ method: r.method, path: toOpenApiPath(r.path), auth: r.auth, body: r.body, params: r.params, badParam: r.badParam, doc: false })),
    ...DOC_ROUTES.map((r) => ({ method: r.method, path: toOpenApiPath(r.path), auth: 'none', doc: true })),
  ];
}

export function openapiOperations(doc: JsonObject = openapi): Array<{ method: string; path: string; op: JsonObject; item: JsonObject }> {
  const out: Array<{ method: string; path: string; op: JsonObject; item: JsonObject }> = [];
  for (const [p, item] of Object.entries(doc.paths as JsonObject) as Array<[string, JsonObject]>) {
    for (const m of HTTP_METHODS) if (item[m]) out.push({ method: m, path: p, op: item[m] as JsonObject, item });
  }
  return out;
}

/** A local "#/components/..." ref of the YAML, followed. */
export function deref<T extends Json>(node: T, doc: JsonObject = openapi): T {
  if (node !== null && typeof node === 'object' && !Array.isArray(node) && typeof node.$ref === 'string' && node.$ref.startsWith('#')) {
    return deref(resolvePointer(doc, node.$ref.slice(1)) as T, doc);
  }
  return node;
}

/** Path and operation parameters of an operation, refs followed. */
export function operationParameters(item: JsonObject, op: JsonObject): JsonObject[] {
  return [...((item.parameters ?? []) as Json[]), ...((op.parameters ?? []) as Json[])].map((p) => deref(p) as JsonObject);
}

/** The endpoints the product's reference page lists ("GET /api/v1/runs"), when the page is beside the clone. */
export const SEED_PAGE = path.resolve(ROOT, '..', 'shared', 'seed', 'http-api.md');

export function seedEndpoints(): Array<{ method: string; path: string }> | undefined {
  if (!existsSync(SEED_PAGE)) return undefined;
  const text = readFileSync(SEED_PAGE, 'utf8');
  const seen = new Map<string, { method: string; path: string }>();
  for (const m of text.matchAll(/\b(GET|POST|PUT|DELETE|PATCH) \/api\/v1(\/[^\s[\]]*)/g)) {
    const e = { method: m[1]!.toLowerCase(), path: m[2]! };
    seen.set(`${e.method} ${e.path}`, e);
  }
  return [...seen.values()];
}

/** Concrete URLs of the page's curl examples, as method and path under /api/v1. */
export function seedCurlCalls(): Array<{ method: string; path: string }> {
  if (!existsSync(SEED_PAGE)) return [];
  const text = readFileSync(SEED_PAGE, 'utf8');
  return [...text.matchAll(/curl -X (GET|POST|PUT|DELETE) https?:\/\/[^/\s]+\/api\/v1(\/\S*)/g)].map((m) => ({ method: m[1]!.toLowerCase(), path: m[2]! }));
}

/**
 * Whether a reference-page path ("/runs/{id}/screenshots/{NNNN}_{pre,post,target,diff}.png") names
 * the same endpoint as an OpenAPI path ("/runs/{run_id}/screenshots/{shot}.png"): placeholders
 * compare equal whatever their names, and adjacent placeholders count as one.
 */
export function samePathShape(seed: string, openapiPath: string): boolean {
  const shape = (p: string): string => p.replace(/\{[^}]*\}/g, '{}').replace(/\{\}(?:[_-]?\{\})+/g, '{}');
  return shape(seed) === shape(openapiPath);
}

/** A concrete path matches an OpenAPI template when each {param} stands for one non-empty segment part. */
export function matchesTemplate(concrete: string, template: string): boolean {
  const re = new RegExp(`^${template.split(/\{[^}]+\}/).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^/]+')}$`);
  return re.test(concrete);
}

/**
 * URLs a page would fetch from another host: absolute http(s) URLs and protocol-relative ones,
 * except XML namespace names (xmlns="http://www.w3.org/2000/svg" is an identifier, never fetched).
 */
export function externalUrls(text: string): string[] {
  const stripped = text.replace(/\bxmlns(?::[A-Za-z]+)?\s*=\s*(["'])[^"']*\1/g, '');
  const found = [...stripped.matchAll(/(?:https?:)?\/\/[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s"'<>)]*/g)].map((m) => m[0]);
  // "//" also starts JS comments; only a host-like name right after it counts, and "//cdn" always does.
  return found.filter((u) => /^https?:/.test(u) || /^\/\/(?:cdn|fonts|unpkg|[a-z0-9-]+\.[a-z0-9-]+\.[a-z]{2,})/i.test(u));
}

/** A route's operation in the OpenAPI document (the route table and the document are kept equal). */
export function routeOperation(route: { method: string; path: string }): { op: JsonObject; item: JsonObject } {
  const found = openapiOperations().find((o) => o.method === route.method && o.path === toOpenApiPath(route.path));
  if (!found) throw new Error(`${route.method} ${route.path} is not in the OpenAPI document`);
  return found;
}

/** The route's URL with each path parameter set to the example the OpenAPI document gives. */
export function exampleUrlPath(route: { method: string; path: string }): string {
  const { op, item } = routeOperation(route);
  const params = operationParameters(item, op);
  return route.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, (_m, name: string) => {
    const p = params.find((x) => x.in === 'path' && x.name === name);
    const example = p?.example ?? ((p?.schema as JsonObject | undefined)?.examples as Json[] | undefined)?.[0];
    if (example === undefined || example === null) throw new Error(`no example for path parameter ${name} of ${route.path}`);
    return encodeURIComponent(String(example));
  });
}

/** The request body the OpenAPI document gives as the route's example (a fresh copy), if any. */
export function requestExample(route: { method: string; path: string }): Json | undefined {
  const { op } = routeOperation(route);
  const media = deref(((op.requestBody as JsonObject).content as JsonObject)['application/json'] as JsonObject);
  const examples = Object.values((media.examples ?? {}) as JsonObject).map((e) => deref(e as JsonObject).value);
  return structuredClone((media.example ?? examples[0]) as Json | undefined);
}
