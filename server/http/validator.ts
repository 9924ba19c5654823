import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { ApiError, type FieldError } from '../errors.js';
import { SCHEMA_DIR } from '../paths.js';

// ajv-formats ships CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (
  ajv: Ajv2020,
) => void;

/** Deepest nesting a JSON body may have: SDK documents are shallow, and deep input only costs CPU. */
export const MAX_JSON_DEPTH = 64;

export class Validator {
  readonly ajv: Ajv2020;
  readonly schemas = new Map<string, Record<string, unknown>>();
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(dir = SCHEMA_DIR) {
    // Stop at the first failure: collecting every error of a body with 100,000 bad items kept the
    // event loop busy for minutes. The 422 names that one field.
    this.ajv = new Ajv2020({ strict: true, allErrors: false, allowUnionTypes: true });
    addFormats(this.ajv);
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.schema.json')).sort()) {
      const schema = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Record<string, unknown>;
      this.schemas.set(file, schema);
      this.ajv.addSchema(schema, file);
    }
  }

  /** A compiled validator for "<file>" or "<file>#/$defs/<name>". */
  get(ref: string): ValidateFunction {
    let fn = this.compiled.get(ref);
    if (!fn) {
      fn = this.ajv.getSchema(ref);
      if (!fn) throw new Error(`unknown schema ${ref}`);
      this.compiled.set(ref, fn);
    }
    return fn;
  }

  /** Throws a 422 validation_failed naming each failing field. */
  assert(ref: string, value: unknown, where: 'body' | 'path' | 'query'): void {
    const fn = this.get(ref);
    if (!fn(value)) throw validationError(fn.errors ?? [], where);
  }
}

export function validationError(errors: ErrorObject[], where: string): ApiError {
  const list: FieldError[] = errors.slice(0, 20).map((e) => {
    const loc: Array<string | number> = [where, ...e.instancePath.split('/').slice(1).map(unescape).map((s) => (/^\d+$/.test(s) ? Number(s) : s))];
    if (e.keyword === 'required') loc.push((e.params as { missingProperty: string }).missingProperty);
    if (e.keyword === 'additionalProperties') loc.push((e.params as { additionalProperty: string }).additionalProperty);
    return { loc, msg: message(e), type: e.keyword };
  });
  const summary = list
    .slice(0, 3)
    .map((f) => `${formatLoc(f.loc)}: ${f.msg}`)
    .join('; ');
  return new ApiError('validation_failed', `Invalid request ${where}: ${summary}${list.length > 3 ? ` (and ${list.length - 3} more)` : ''}`, {
    errors: list,
  });
}

function unescape(s: string): string {
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}

function message(e: ErrorObject): string {
  switch (e.keyword) {
    case 'required':
      return 'field required';
    case 'type':
      return `must be ${(e.params as { type: string }).type}`;
    case 'pattern':
      return `must match ${(e.params as { pattern: string }).pattern}`;
    case 'enum':
      return `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return e.message ?? 'invalid';
  }
}

function formatLoc(loc: Array<string | number>): string {
  return loc.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : s ? `${s}.${p}` : p), '');
}
