import type { Knex } from 'knex';
import * as initial from './20261128A-initial.js';
import * as runCommands from './20261201A-run-commands.js';
import * as runIndexSdk from './20261201B-run-index-sdk.js';

/** Migrations are imported, not read from a folder, so the same list works from source and from dist/. */
const MIGRATIONS: Record<string, Knex.Migration> = {
  '20261128A-initial': initial,
  '20261201A-run-commands': runCommands,
  '20261201B-run-index-sdk': runIndexSdk,
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(MIGRATIONS).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => MIGRATIONS[name]!,
};
