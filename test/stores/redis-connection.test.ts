import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { FaultProxy } from '../../scripts/lib/fault-proxy.js';
import { createRedis, REDIS_BOUNDS } from '../../storage/redis/connection.js';
import { productionAvailable, REDIS_URL } from '../helpers/backends.js';

/** The shared connection against a Redis that accepts and then goes silent (a stalled proxy in front of the real one). */
describe('redis connection bounds', () => {
  const skip = !productionAvailable();
  let proxy: FaultProxy;
  let redis: Redis;
  beforeAll(async () => {
    if (skip) return;
    const target = new URL(REDIS_URL);
    proxy = new FaultProxy(target.hostname, Number(target.port || 6379));
    await proxy.start();
    // A short command timeout so the test does not wait the production two seconds; same code path.
    redis = createRedis(`redis://127.0.0.1:${proxy.port}`, { ...REDIS_BOUNDS, commandTimeoutMs: 300 });
  });
  afterAll(async () => {
    if (skip) return;
    redis.disconnect();
    await proxy.stop();
  });

  it.skipIf(skip)('rejects a command the server never answers, drops that socket and works again on a new one', async () => {
    expect(await redis.ping()).toBe('PONG');
    await proxy.set('stall');
    const reconnecting = new Promise<void>((resolve) => redis.once('reconnecting', () => resolve()));
    await expect(redis.ping()).rejects.toThrow('Command timed out');
    await reconnecting; // ioredis alone would keep waiting on the silent socket
    const ready = new Promise<void>((resolve) => redis.once('ready', () => resolve()));
    await proxy.set('pass');
    await ready;
    expect(await redis.ping()).toBe('PONG');
  });
});
