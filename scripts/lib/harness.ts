/** Small helpers shared by the benchmarks and the tests: free ports, PNG bytes, Redis key clean-up. */
import net from 'node:net';
import { crc32 } from 'node:zlib';
import { Redis } from 'ioredis';

/** The Postgres (admin database; each test file or benchmark creates its own) and Redis the tests and benchmarks use. */
export const TEST_PG_URL = process.env.AUGUR_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_REDIS_URL = process.env.AUGUR_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A port nothing listens on right now, on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** One PNG chunk: length, type, data, CRC. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** Deletes every key under a prefix (a test run's or a benchmark's key space). */
export async function deleteRedisPrefix(url: string, prefix: string): Promise<void> {
  const r = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) await r.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

/**
 * Production backends for a benchmark: fauxqs in its own process (so the S3 server never shares a
 * core with the measuring client), a bucket, a fresh Postgres database, a Redis key prefix and a
 * data dir. Returns the server environment that selects them; `cleanups` gets what undoes each.
 */
export async function productionBenchBackends(cleanups: Array<() => Promise<unknown>>, root: string): Promise<Record<string, string>> {
  const { spawn } = await import('node:child_process');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { randomBytes } = await import('node:crypto');
  const { CreateBucketCommand, S3Client } = await import('@aws-sdk/client-s3');
  const pg = (await import('pg')).default;
  const rid = () => randomBytes(4).toString('hex');
  const s3Port = await freePort();
  const s3 = spawn(process.execPath, ['--input-type=module', '-e', `const m = await import('fauxqs'); await m.startFauxqs({ port: ${s3Port}, host: '127.0.0.1', logger: false }); console.log('ready');`], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(() => new Promise((r) => (s3.exitCode !== null ? r(null) : (s3.once('exit', r), s3.kill('SIGTERM')))));
  await new Promise<void>((resolve, reject) => {
    s3.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    s3.once('exit', (code) => reject(new Error(`fauxqs exited with ${code}`)));
  });
  const endpoint = `http://127.0.0.1:${s3Port}`;
  const bucket = `augur-bench-${rid()}`;
  const creds = { accessKeyId: 'test', secretAccessKey: 'test' };
  // In-process stores (for seeding) read credentials from the environment, like the server.
  process.env.AWS_ACCESS_KEY_ID ??= creds.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY ??= creds.secretAccessKey;
  const s3c = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: creds });
  await s3c.send(new CreateBucketCommand({ Bucket: bucket }));
  s3c.destroy();
  const dbName = `augur_bench_${rid()}`;
  const admin = new pg.Client({ connectionString: TEST_PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  cleanups.push(async () => {
    const c = new pg.Client({ connectionString: TEST_PG_URL });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await c.end();
  });
  const dbUrl = new URL(TEST_PG_URL);
  dbUrl.pathname = `/${dbName}`;
  const prefix = `augur-bench-${rid()}:`;
  cleanups.push(() => deleteRedisPrefix(TEST_REDIS_URL, prefix));
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'augur-bench-'));
  cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
  return {
    AUGUR_DATA_DIR: dataDir,
    AUGUR_DATABASE_URL: dbUrl.toString(),
    AUGUR_REDIS_URL: TEST_REDIS_URL,
    AUGUR_REDIS_PREFIX: prefix,
    AUGUR_S3_BUCKET: bucket,
    AUGUR_S3_ENDPOINT: endpoint,
    AUGUR_S3_FORCE_PATH_STYLE: 'true',
    AUGUR_S3_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: creds.accessKeyId,
    AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
  };
}

/**
 * The environment of a compiled `augur serve` on the embedded backends under `dir`, for a benchmark:
 * loopback on `port`, a known admin, cheap password hashing, metrics behind `metricsToken`. `extra`
 * is added as given; each variable named in `pass` is taken from this process's environment when set.
 */
export function embeddedBenchEnv(dir: string, port: number, metricsToken: string, extra: Record<string, string> = {}, pass: readonly string[] = []): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    PORT: String(port),
    AUGUR_HOST: '127.0.0.1',
    AUGUR_DATA_DIR: dir,
    AUGUR_LOG_LEVEL: 'warn',
    AUGUR_ADMIN_EMAIL: 'bench@example.com',
    AUGUR_ADMIN_PASSWORD: 'bench-password',
    AUGUR_SCRYPT_LOG_N: '10',
    AUGUR_METRICS_TOKEN: metricsToken,
    ...extra,
  };
  for (const k of pass) if (process.env[k]) env[k] = process.env[k]!;
  return env;
}
