import type { Redis } from 'ioredis';
import { acquireRedis, type RedisTarget } from './connection.js';

/** A Lua script by the command name it is defined under, with how many of its arguments are keys. */
export type Scripts = Record<string, { keys: number; lua: string }>;

/**
 * What every Redis driver of a port shares: the process's command connection (acquired here,
 * released on close), its key prefix, its scripts defined on that connection, and the readiness ping.
 */
export abstract class RedisDriver<Cmds = object> {
  readonly kind = 'redis' as const;
  protected readonly redis: Redis & Cmds;
  protected readonly prefix: string;
  private readonly releaseConnection: () => void;

  constructor(protected readonly target: RedisTarget, scripts: Scripts = {}) {
    const { redis, release } = acquireRedis(target);
    for (const [name, s] of Object.entries(scripts)) redis.defineCommand(name, { numberOfKeys: s.keys, lua: s.lua });
    this.redis = redis as Redis & Cmds;
    this.prefix = target.prefix;
    this.releaseConnection = release;
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    this.releaseConnection();
  }
}
