import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../server/paths.js';

const STORAGE = path.join(ROOT, 'storage');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tsFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

/** Every module specifier of a file: static and dynamic imports, and re-exports. */
const specifiers = (src: string): string[] => [...src.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm)].map((m) => m[1]!);

describe('storage ports stand alone', () => {
  const files = tsFiles(STORAGE);

  it('finds the ports', () => {
    expect(files.map((f) => path.relative(STORAGE, f))).toEqual(expect.arrayContaining(['objects/index.ts', 'objects/types.ts', 'metadata/index.ts', 'metadata/types.ts', 'presence/index.ts', 'presence/types.ts', 'append-ledger/index.ts', 'append-ledger/types.ts', 'rate-limiter/index.ts', 'rate-limiter/types.ts', 'bus/index.ts', 'bus/types.ts']));
  });

  it('imports nothing outside storage/ but packages and node builtins', () => {
    const outside = files.flatMap((f) =>
      specifiers(readFileSync(f, 'utf8'))
        .filter((s) => s.startsWith('.'))
        .map((s) => ({ file: path.relative(ROOT, f), spec: s, target: path.resolve(path.dirname(f), s) }))
        .filter((i) => !i.target.startsWith(STORAGE + path.sep)),
    );
    expect(outside).toEqual([]);
  });

  it('the check sees a relative import that leaves storage/', () => {
    expect(specifiers("import type { Config } from '../../server/config.js';\nexport * from './types.js';")).toEqual(['../../server/config.js', './types.js']);
  });
});
