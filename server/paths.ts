import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder holding package.json: the same from source (tsx, tests) and from dist/. */
function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package root not found');
    dir = up;
  }
  return dir;
}

export const ROOT = findRoot();
export const SCHEMA_DIR = path.join(ROOT, 'schema');
export const OPENAPI_FILE = path.join(ROOT, 'openapi', 'openapi.yaml');
