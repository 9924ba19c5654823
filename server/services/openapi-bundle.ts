import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { OPENAPI_FILE, SCHEMA_DIR } from '../paths.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const SCHEMA_SUFFIX = '.schema.json';

/** "step.schema.json" → "step": the component name a schema file gets in the bundled document. */
export const componentName = (file: string): string => file.slice(0, -SCHEMA_SUFFIX.length);

/** Every schema file's bytes, keyed by file name ("step.schema.json"), read once. */
export function readSchemaFiles(dir = SCHEMA_DIR): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith(SCHEMA_SUFFIX)).sort()) {
    files.set(file, readFileSync(path.join(dir, file)));
  }
  return files;
}

/**
 * A ref to a schema file ("../schema/step.schema.json#/$defs/x" from the YAML, "step.schema.json"
 * from a sibling schema) as "#/components/schemas/step/$defs/x". `self` is the schema file the ref
 * sits in: its local refs ("#/$defs/x") pointed at its own root, which becomes a component.
 */
export function rewriteRef(ref: string, self?: string): string {
  const hash = ref.indexOf('#');
  const target = hash === -1 ? ref : ref.slice(0, hash);
  const pointer = hash === -1 ? '' : ref.slice(hash + 1);
  if (target === '') {
    if (self === undefined) return ref; // a local ref of the YAML itself
    return `#/components/schemas/${componentName(self)}${pointer}`;
  }
  const file = path.posix.basename(target);
  if (!file.endsWith(SCHEMA_SUFFIX)) throw new Error(`unexpected $ref ${ref}`);
  return `#/components/schemas/${componentName(file)}${pointer}`;
}

function rewriteRefs(node: Json, self?: string): Json {
  if (Array.isArray(node)) return node.map((n) => rewriteRefs(n, self));
  if (node === null || typeof node !== 'object') return node;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(node)) {
    out[k] = k === '$ref' && typeof v === 'string' ? rewriteRef(v, self) : rewriteRefs(v, self);
  }
  return out;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/**
 * Copies each path item's shared `parameters` into its operations (an operation's own parameter of
 * the same name and location wins), which OpenAPI defines as the same thing. Swagger UI resolves
 * refs lazily, per operation, and shows path-level `$ref` parameters as untyped ("any") otherwise.
 */
export function inlinePathParameters(doc: JsonObject): void {
  for (const item of Object.values((doc.paths ?? {}) as JsonObject) as JsonObject[]) {
    const shared = item.parameters as JsonObject[] | undefined;
    if (!shared) continue;
    delete item.parameters;
    for (const method of METHODS) {
      const op = item[method] as JsonObject | undefined;
      if (!op) continue;
      const own = (op.parameters ?? []) as JsonObject[];
      const key = (p: JsonObject, d: JsonObject): string => {
        const q = typeof p.$ref === 'string' ? resolveLocal(d, p.$ref) : p;
        return `${String(q.in)}:${String(q.name)}`;
      };
      const taken = new Set(own.map((p) => key(p, doc)));
      op.parameters = [...shared.filter((p) => !taken.has(key(p, doc))), ...own];
    }
  }
}

function resolveLocal(doc: JsonObject, ref: string): JsonObject {
  if (!ref.startsWith('#/')) throw new Error(`not a local ref: ${ref}`);
  let node: Json = doc;
  for (const raw of ref.slice(2).split('/')) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    node = (node as JsonObject)?.[part] ?? null;
  }
  if (node === null || typeof node !== 'object') throw new Error(`unresolved ref ${ref}`);
  return node as JsonObject;
}

/**
 * The hand-authored OpenAPI YAML as one self-contained document: each schema file becomes
 * components/schemas/<name> (without `$id` and `$schema`, which would re-root its refs), and every
 * ref to a file points there instead. Swagger UI, ReDoc and validators then need no other file.
 */
export function bundleOpenApi(yamlFile = OPENAPI_FILE, schemas = readSchemaFiles()): JsonObject {
  const doc = rewriteRefs(parse(readFileSync(yamlFile, 'utf8')) as Json) as JsonObject;
  const components = ((doc.components ??= {}) as JsonObject);
  const target = ((components.schemas ??= {}) as JsonObject);
  for (const [file, bytes] of schemas) {
    const name = componentName(file);
    if (name in target) throw new Error(`components/schemas/${name} is defined in the YAML and by ${file}`);
    const { $id: _id, $schema: _dialect, ...schema } = JSON.parse(bytes.toString('utf8')) as JsonObject;
    target[name] = rewriteRefs(schema, file);
  }
  inlinePathParameters(doc);
  return doc;
}
