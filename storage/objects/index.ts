import path from 'node:path';
import type { Config } from '../../server/config.js';
import { FsObjectStore } from './fs.js';
import { S3ObjectStore } from './s3.js';
import type { ObjectStore } from './types.js';

export * from './types.js';

/** S3 when a bucket is configured (every replica must see the same objects); files otherwise. */
export async function createObjectStore(config: Pick<Config, 's3' | 'dataDir'>): Promise<ObjectStore> {
  if (config.s3) return new S3ObjectStore(config.s3);
  const store = new FsObjectStore(path.join(config.dataDir, 'objects'));
  await store.init();
  return store;
}
