import { FsObjectStore } from './fs.js';
import { S3ObjectStore } from './s3.js';
import type { ObjectStore, ObjectStoreConfig } from './types.js';

export * from './types.js';

/** Opens the object store the config names; the file store creates its root. */
export async function createObjectStore(config: ObjectStoreConfig): Promise<ObjectStore> {
  if (config.driver === 's3') return new S3ObjectStore(config);
  const store = new FsObjectStore(config.root);
  await store.init();
  return store;
}
export { readAll } from './read-all.js';
