/**
 * `npm run docs:config`: rewrites the README's configuration table (between its markers) from the
 * variable table in server/config-schema.ts. test/unit/config-docs.test.ts fails when it is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { withConfigTable } from '../server/config-schema.js';
import { ROOT } from '../server/paths.js';

const file = path.join(ROOT, 'README.md');
const before = readFileSync(file, 'utf8');
const after = withConfigTable(before);
if (after !== before) writeFileSync(file, after);
process.stdout.write(after === before ? 'README configuration table already up to date\n' : 'README configuration table rewritten\n');
