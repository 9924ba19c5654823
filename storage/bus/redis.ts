import type { Redis } from 'ioredis';
import { boundsOf, createRedis } from '../redis/connection.js';
import { RedisDriver } from '../redis/driver.js';
import type { MessageBus } from './types.js';

/**
 * Redis pub/sub: publishes go over the process's shared command connection; subscriptions need
 * a connection of their own (a subscribed connection runs nothing else), opened on first subscribe.
 */
export class RedisMessageBus extends RedisDriver implements MessageBus {
  private subscriber?: Redis;
  private readonly handlers = new Map<string, Array<(m: string) => void>>();

  async publish(channel: string, message: string): Promise<void> {
    await this.redis.publish(this.prefix + channel, message);
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<void> {
    if (!this.subscriber) {
      this.subscriber = createRedis(this.target.url, boundsOf(this.target));
      this.subscriber.on('message', (ch: string, msg: string) => {
        for (const h of this.handlers.get(ch) ?? []) h(msg);
      });
    }
    const full = this.prefix + channel;
    const list = this.handlers.get(full) ?? [];
    list.push(handler);
    this.handlers.set(full, list);
    if (list.length === 1) await this.subscriber.subscribe(full);
  }

  override async close(): Promise<void> {
    await super.close();
    this.subscriber?.disconnect();
  }
}
