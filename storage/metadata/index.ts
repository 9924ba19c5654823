import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../server/config.js';
import { createKnex, KnexMetadataStore } from './knex.js';
import type { MetadataStore } from './types.js';

export * from './types.js';
export { ConflictError } from './errors.js';

/** Postgres when a database URL is configured (shared by every replica); a SQLite file otherwise. */
export function createMetadataStore(config: Pick<Config, 'databaseUrl' | 'dataDir'>): MetadataStore {
  if (config.databaseUrl) return new KnexMetadataStore(createKnex({ databaseUrl: config.databaseUrl }));
  mkdirSync(config.dataDir, { recursive: true });
  return new KnexMetadataStore(createKnex({ sqliteFile: path.join(config.dataDir, 'augur.sqlite') }));
}
