import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, renderConfigTable, TABLE_END, TABLE_START, withConfigTable } from '../../server/config-schema.js';
import { ROOT } from '../../server/paths.js';

describe('configuration docs', () => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

  it('the README table is the one the schema writes (run `npm run docs:config` when this fails)', () => {
    expect(withConfigTable(readme)).toBe(readme);
  });

  it('documents every variable once, between the markers', () => {
    const table = readme.slice(readme.indexOf(TABLE_START), readme.indexOf(TABLE_END));
    for (const name of CONFIG_VARIABLES) expect(table.split(`| \`${name}\` |`).length - 1, name).toBe(1);
    expect(renderConfigTable().split('\n')).toHaveLength(CONFIG_VARIABLES.length + 3);
  });

  it('notices a stale table', () => {
    expect(withConfigTable(readme.replace('| `PORT` | `8080` | HTTP port |', '| `PORT` | `80` | HTTP port |'))).toBe(readme);
    expect(() => withConfigTable('no markers')).toThrow(/markers/);
  });
});
