import net from 'node:net';
import type { TestProject } from 'vitest/node';
import { startFauxqs } from 'fauxqs';

import { TEST_PG_URL as PG_ADMIN_URL, TEST_REDIS_URL as REDIS_URL } from '../../scripts/lib/harness.js';

function reachable(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect({ host: u.hostname, port: Number(u.port) }, () => {
      s.end();
      resolve(true);
    });
    s.setTimeout(2_000, () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(false));
  });
}

/** One S3 server for the whole run (each test file uses its own bucket); Postgres and Redis are the machine's. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [pg, redis] = await Promise.all([reachable(PG_ADMIN_URL), reachable(REDIS_URL)]);
  if (process.env.CI && (!pg || !redis)) {
    throw new Error(`CI is set and a backend is unreachable: postgres ${pg ? 'ok' : 'DOWN'}, redis ${redis ? 'ok' : 'DOWN'}`);
  }
  const s3 = await startFauxqs({ port: 0, logger: false, host: '127.0.0.1' });
  project.provide('s3Endpoint', `http://127.0.0.1:${s3.port}`);
  project.provide('pgAvailable', pg);
  project.provide('redisAvailable', redis);
  return async () => {
    await s3.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    s3Endpoint: string;
    pgAvailable: boolean;
    redisAvailable: boolean;
  }
}
