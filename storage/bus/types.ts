import type { RedisTarget } from '../redis/connection.js';

/** Fire-and-forget messages to every replica (cache invalidation, wake-ups); none is stored or replayed. */
export interface MessageBus {
  readonly kind: 'redis' | 'memory';
  /** Sends to every subscriber of the channel, in every replica, this one included. */
  publish(channel: string, message: string): Promise<void>;
  /** Resolves once the subscription is live (a message published after that is delivered). */
  subscribe(channel: string, handler: (message: string) => void): Promise<void>;
  /** Resolves when the backend answers (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type MessageBusConfig = { driver: 'memory' } | ({ driver: 'redis' } & RedisTarget);
