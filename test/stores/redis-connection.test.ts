import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { FaultProxy } from '../../scripts/lib/fault-proxy.js';
import { createRedis, lost, REDIS_BOUNDS, type RedisBounds } from '../../storage/redis/connection.js';
import { productionAvailable, REDIS_URL, rid } from '../helpers/backends.js';

const once = (redis: Redis, event: string) => new Promise<void>((resolve) => redis.once(event, () => resolve()));

/** The shared connection against a Redis that accepts and then goes silent, or goes away (a fault proxy in front of the real one). */
describe('redis connection bounds', () => {
  const skip = !productionAvailable();
  let proxy: FaultProxy;
  let direct: Redis;
  const opened: Redis[] = [];
  // Short command timeouts so the tests do not wait the production ones; same code path.
  const connect = async (bounds: Partial<RedisBounds> = {}): Promise<Redis> => {
    const r = createRedis(`redis://127.0.0.1:${proxy.port}`, { ...REDIS_BOUNDS, commandTimeoutMs: 300, ...bounds });
    opened.push(r);
    expect(await r.ping()).toBe('PONG');
    return r;
  };
  beforeAll(async () => {
    if (skip) return;
    const target = new URL(REDIS_URL);
    proxy = new FaultProxy(target.hostname, Number(target.port || 6379));
    await proxy.start();
    direct = createRedis(REDIS_URL);
  });
  afterEach(async () => {
    if (skip) return;
    await proxy.set('pass');
    for (const r of opened.splice(0)) r.disconnect();
  });
  afterAll(async () => {
    if (skip) return;
    direct.disconnect();
    await proxy.stop();
  });

  it.skipIf(skip)('rejects a command the server never answers, drops that socket and works again on a new one', async () => {
    const redis = await connect();
    expect(lost(redis)).toBe(false);
    await proxy.set('stall');
    const reconnecting = once(redis, 'reconnecting');
    await expect(redis.ping()).rejects.toThrow('Command timed out');
    await reconnecting; // ioredis alone would keep waiting on the silent socket
    expect(lost(redis), 'known down until it is back').toBe(true);
    const ready = once(redis, 'ready');
    await proxy.set('pass');
    await ready;
    expect(lost(redis)).toBe(false);
    expect(await redis.ping()).toBe('PONG');
  });

  it.skipIf(skip)('never sends again a command that timed out on a silent socket once Redis is back', async () => {
    const key = `augur-test-${rid()}:resend`;
    const redis = await connect();
    expect(await redis.incr(key)).toBe(1);
    await proxy.set('stall');
    await expect(redis.incr(key)).rejects.toThrow('Command timed out');
    // The bytes written to the silent socket are dropped with it (a stalled proxy would deliver
    // them on 'pass': what was written before the timeout may still land, which no client can undo).
    await proxy.set('cut');
    const ready = once(redis, 'ready');
    await proxy.set('pass');
    await ready;
    // Sent on this connection after anything ioredis would resend on reconnect, so it counts after it.
    expect(await redis.incr(key), 'the timed-out increment was not sent again after the reconnect').toBe(2);
    await direct.del(key);
  });

  it.skipIf(skip)('never sends a command that timed out in the offline queue while Redis was away', async () => {
    const key = `augur-test-${rid()}:queued`;
    // Retries not spent meanwhile, so the queue is not flushed and only the timeout stops the command.
    const redis = await connect({ maxRetriesPerRequest: 1_000 });
    expect(await redis.incr(key)).toBe(1);
    const closed = once(redis, 'close');
    await proxy.set('refuse');
    await closed;
    await expect(redis.incr(key)).rejects.toThrow('Command timed out');
    const ready = once(redis, 'ready');
    await proxy.set('pass');
    await ready;
    expect(await redis.incr(key), 'the queued increment whose caller gave up was dropped').toBe(2);
    await direct.del(key);
  });
});
