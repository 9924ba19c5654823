import type { Redis } from 'ioredis';
import { acquireRedis, createRedis, type RedisTarget } from '../redis/connection.js';
import type { MessageBus } from './types.js';

/**
 * Redis pub/sub: publishes go over the process's shared command connection; subscriptions need
 * a connection of their own (a subscribed connection runs nothing else), opened on first subscribe.
 */
export class RedisMessageBus implements MessageBus {
  readonly kind = 'redis' as const;
  private readonly redis: Redis;
  private readonly release: () => void;
  private subscriber?: Redis;
  private readonly handlers = new Map<string, Array<(m: string) => void>>();

  constructor(private readonly target: RedisTarget) {
    const { redis, release } = acquireRedis(target.url);
    this.redis = redis;
    this.release = release;
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.redis.publish(this.target.prefix + channel, message);
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<void> {
    if (!this.subscriber) {
      this.subscriber = createRedis(this.target.url);
      this.subscriber.on('message', (ch: string, msg: string) => {
        for (const h of this.handlers.get(ch) ?? []) h(msg);
      });
    }
    const full = this.target.prefix + channel;
    const list = this.handlers.get(full) ?? [];
    list.push(handler);
    this.handlers.set(full, list);
    if (list.length === 1) await this.subscriber.subscribe(full);
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    this.release();
    this.subscriber?.disconnect();
  }
}
