import { afterAll, beforeAll, describe } from 'vitest';
import { deleteRedisPrefix, productionAvailable, REDIS_URL, rid } from './backends.js';

export type PortConfig = { driver: 'memory' } | { driver: 'redis'; url: string; prefix: string };

export interface DriverUnderTest<T> {
  driver: 'memory' | 'redis';
  /** False where Redis is not running (the Redis half is skipped, never faked). */
  runs: boolean;
  /** The port opened for this describe block (one Redis key prefix per test file). */
  store: () => T;
  config: PortConfig;
}

/**
 * One contract suite, run on both drivers of a port: the in-process one and the Redis one, the
 * latter under its own key prefix, deleted afterwards.
 */
export function describeDrivers<T extends { close(): Promise<void> }>(name: string, open: (config: PortConfig) => T, suite: (d: DriverUnderTest<T>) => void): void {
  describe.each(['memory', 'redis'] as const)(`${name}: %s`, (driver) => {
    const runs = driver === 'memory' || productionAvailable();
    const prefix = `augur-test-${rid()}:`;
    const config: PortConfig = driver === 'redis' ? { driver: 'redis', url: REDIS_URL, prefix } : { driver: 'memory' };
    let store: T | undefined;
    beforeAll(() => {
      if (runs) store = open(config);
    });
    afterAll(async () => {
      await store?.close();
      if (runs && driver === 'redis') await deleteRedisPrefix(prefix);
    });
    suite({ driver, runs, config, store: () => store! });
  });
}
