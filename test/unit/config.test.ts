import { describe, expect, it } from 'vitest';
import { ConfigError, describeBackends, loadConfig } from '../../server/config.js';

describe('configuration', () => {
  it('starts on the embedded defaults with nothing set', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ port: 8080, databaseUrl: undefined, redisUrl: undefined, s3: undefined, maxJsonBytes: 16 * 1024 * 1024 });
    expect(c.maxScreenshotBytes).toBe(32 * 1024 * 1024);
    expect(c.sessionTtlSeconds).toBe(7 * 86400);
    expect(c.publicUrl).toBe('http://localhost:8080');
    const b = describeBackends(c);
    expect(b.objects).toMatch(/^fs .*objects$/);
    expect(b.metadata).toMatch(/^sqlite .*augur\.sqlite$/);
    expect(b.presence).toBe('memory (in-process)');
  });

  it('selects each production backend by its variable and names it', () => {
    const c = loadConfig({
      AUGUR_DATABASE_URL: 'postgres://u:secret@db:5432/augur',
      AUGUR_REDIS_URL: 'redis://:s3cret@cache:6379/0',
      AUGUR_S3_BUCKET: 'augur',
      AUGUR_S3_ENDPOINT: 'http://minio:9000',
      AUGUR_S3_FORCE_PATH_STYLE: 'true',
      AUGUR_S3_PREFIX: '/env/prod/',
      AUGUR_SESSION_TTL: '12h',
      AUGUR_TRUST_PROXY: '1',
    });
    expect(c.s3).toEqual({ bucket: 'augur', endpoint: 'http://minio:9000', publicEndpoint: undefined, region: 'us-east-1', forcePathStyle: true, prefix: 'env/prod' });
    expect(c.sessionTtlSeconds).toBe(43200);
    expect(c.trustProxy).toBe(1);
    const b = describeBackends(c);
    expect(b.metadata).toBe('postgres postgres://u:***@db:5432/augur'); // the password never reaches a log
    expect(b.presence).toContain('redis redis://:***@cache:6379/0');
    expect(JSON.stringify(b)).not.toContain('s3cret');
    expect(b.objects).toContain('s3 bucket=augur endpoint=http://minio:9000');
  });

  it('reports every bad value at once, each naming its variable', () => {
    let err: ConfigError | undefined;
    try {
      loadConfig({
        PORT: 'eighty',
        AUGUR_DATABASE_URL: 'mysql://x',
        AUGUR_REDIS_URL: 'nope',
        AUGUR_S3_BUCKET: 'Bad_Bucket',
        AUGUR_S3_FORCE_PATH_STYLE: 'maybe',
        AUGUR_MAX_JSON_BYTES: '-5',
        AUGUR_SESSION_TTL: 'forever',
        AUGUR_TRUST_PROXY: 'some proxies',
        AUGUR_SCREENSHOT_READS: 'cdn',
        AUGUR_LOG_LEVEL: 'loud',
        AUGUR_ADMIN_EMAIL: 'not-an-email',
      });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const named = err!.problems.map((p) => p.split(/[=: ]/)[0]);
    expect(named).toEqual([
      'PORT',
      'AUGUR_DATABASE_URL',
      'AUGUR_REDIS_URL',
      'AUGUR_S3_BUCKET',
      'AUGUR_S3_FORCE_PATH_STYLE',
      'AUGUR_SCREENSHOT_READS',
      'AUGUR_LOG_LEVEL',
      'AUGUR_ADMIN_EMAIL',
      'AUGUR_MAX_JSON_BYTES',
      'AUGUR_SESSION_TTL',
      'AUGUR_TRUST_PROXY',
    ]);
  });

  it('takes AUGUR_METRICS_TOKEN of 16 characters or more, never echoing a refused one; unset or blank serves no metrics', () => {
    expect(loadConfig({}).metricsToken).toBeUndefined();
    expect(loadConfig({ AUGUR_METRICS_TOKEN: '   ' }).metricsToken).toBeUndefined();
    expect(loadConfig({ AUGUR_METRICS_TOKEN: 'a-long-enough-token' }).metricsToken).toBe('a-long-enough-token');
    let err: ConfigError | undefined;
    try {
      loadConfig({ AUGUR_METRICS_TOKEN: 'tooShortSecret' });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.problems.join('\n')).toContain('AUGUR_METRICS_TOKEN');
    expect(err!.problems.join('\n')).not.toContain('tooShortSecret');
  });

  it('refuses S3 settings without a bucket and presigned reads without S3', () => {
    expect(() => loadConfig({ AUGUR_S3_ENDPOINT: 'http://minio:9000' })).toThrow(/AUGUR_S3_ENDPOINT is set but AUGUR_S3_BUCKET is not/);
    expect(() => loadConfig({ AUGUR_SCREENSHOT_READS: 'presign' })).toThrow(/AUGUR_SCREENSHOT_READS=presign needs the S3 object store/);
  });
});
