import { MemoryMessageBus } from './memory.js';
import { RedisMessageBus } from './redis.js';
import type { MessageBus, MessageBusConfig } from './types.js';

export * from './types.js';

/** Redis pub/sub when configured (every replica hears every message); in-process otherwise. */
export function createMessageBus(config: MessageBusConfig): MessageBus {
  return config.driver === 'redis' ? new RedisMessageBus(config) : new MemoryMessageBus();
}
