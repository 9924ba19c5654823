import { expect } from 'vitest';
import { Validator } from '../../server/http/validator.js';

/** The same Ajv instance and schema files the server validates requests with. */
export const validator = new Validator();

/** Asserts that a response body matches its documented schema. */
export function expectSchema(body: unknown, schemaId: string): void {
  const fn = validator.get(schemaId);
  const ok = fn(body);
  expect(ok, `${schemaId}: ${JSON.stringify(fn.errors, null, 1)}\nbody: ${JSON.stringify(body).slice(0, 500)}`).toBe(true);
}

/** Asserts an error response: status, code, a readable detail, and the error schema. */
export async function expectError(res: Response, status: number, code: string): Promise<Record<string, unknown>> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  const body = JSON.parse(text) as Record<string, unknown>;
  expect(body.code).toBe(code);
  expect(typeof body.detail).toBe('string');
  expectSchema(body, 'error.schema.json');
  return body;
}
