import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { createKnex, KnexMetadataStore } from './knex.js';
import type { MetadataStore, MetadataStoreConfig } from './types.js';

export * from './types.js';
export { ConflictError } from './errors.js';

/** Opens the metadata store the config names; a SQLite file's folder is created. */
export function createMetadataStore(config: MetadataStoreConfig): MetadataStore {
  if (config.driver === 'sqlite' && config.file !== ':memory:') mkdirSync(path.dirname(config.file), { recursive: true });
  return new KnexMetadataStore(createKnex(config));
}
