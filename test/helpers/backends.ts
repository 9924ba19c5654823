import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../server/config.js';
import { deleteRedisPrefix as deleteRedisPrefixAt, TEST_PG_URL as PG_ADMIN_URL, TEST_REDIS_URL as REDIS_URL } from '../../scripts/lib/harness.js';

export type Profile = 'embedded' | 'production';
export const PROFILES: Profile[] = ['embedded', 'production'];

export { PG_ADMIN_URL, REDIS_URL };
export const S3_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

// The S3 SDK reads credentials from the environment, in this process and in spawned servers alike.
process.env.AWS_ACCESS_KEY_ID ??= S3_CREDENTIALS.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY ??= S3_CREDENTIALS.secretAccessKey;

/** Production backends exist here unless the machine lacks Postgres or Redis (never in CI: global setup fails first). */
export function productionAvailable(): boolean {
  return inject('pgAvailable') && inject('redisAvailable');
}

export const rid = (n = 6): string => randomBytes(n).toString('hex');

export async function createPgDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `augur_test_${rid()}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export const deleteRedisPrefix = (prefix: string): Promise<void> => deleteRedisPrefixAt(REDIS_URL, prefix);

export async function createBucket(endpoint: string): Promise<string> {
  const bucket = `augur-test-${rid()}`;
  const c = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3_CREDENTIALS });
  await c.send(new CreateBucketCommand({ Bucket: bucket }));
  c.destroy();
  return bucket;
}

export interface TestBackends {
  profile: Profile;
  config: Config;
  /** The environment that selects these backends (for spawned server processes and the CLI). */
  env: Record<string, string>;
  cleanup: () => Promise<void>;
}

/** Fresh backends for one test file: its own data dir, Postgres database, Redis key space and bucket. */
export async function createBackends(profile: Profile, extraEnv: Record<string, string> = {}): Promise<TestBackends> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'augur-test-'));
  const env: Record<string, string> = {
    AUGUR_DATA_DIR: dataDir,
    AUGUR_SCRYPT_LOG_N: '10', // cheap hashing in tests only
    AUGUR_LOG_LEVEL: process.env.AUGUR_TEST_LOG_LEVEL ?? 'silent',
    AUGUR_ADMIN_EMAIL: 'admin@example.com',
    AUGUR_ADMIN_PASSWORD: 'admin-password',
    // One test process hosts many servers and the runner on one event loop, on a shared machine:
    // its delay says nothing about one replica, so the lag guard is off unless a test sets it.
    AUGUR_MAX_EVENT_LOOP_LAG_MS: '0',
    // The test clock stands still, so every request of a test file lands in one rate window: the
    // limits stay on (their path and headers are exercised) but out of reach unless a test sets them.
    AUGUR_RATE_LIMIT_PER_KEY: '100000',
    AUGUR_RATE_LIMIT_PER_TENANT: '100000',
    // Some tests fire hundreds of requests at once on purpose (appends across replicas): the
    // in-flight guard counts them but sheds none unless a test sets a real bound, and a tenant's
    // requests past its slots wait their turn (the slots stay at their default) but none is refused.
    AUGUR_MAX_IN_FLIGHT: '100000',
    AUGUR_TENANT_MAX_QUEUED: '100000',
  };
  const cleanups: Array<() => Promise<void>> = [async () => rmSync(dataDir, { recursive: true, force: true })];
  if (profile === 'production') {
    const db = await createPgDatabase();
    cleanups.push(db.drop);
    const prefix = `augur-test-${rid()}:`;
    cleanups.push(() => deleteRedisPrefix(prefix));
    const endpoint = inject('s3Endpoint');
    Object.assign(env, {
      AUGUR_DATABASE_URL: db.url,
      AUGUR_REDIS_URL: REDIS_URL,
      AUGUR_REDIS_PREFIX: prefix,
      AUGUR_S3_BUCKET: await createBucket(endpoint),
      AUGUR_S3_ENDPOINT: endpoint,
      AUGUR_S3_FORCE_PATH_STYLE: 'true',
      AUGUR_S3_REGION: 'us-east-1',
      AUGUR_S3_PREFIX: 'augur',
      AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
    });
  }
  Object.assign(env, extraEnv);
  return {
    profile,
    config: loadConfig(env),
    env,
    cleanup: async () => {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
    },
  };
}
