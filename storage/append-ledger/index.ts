import { MemoryAppendLedger } from './memory.js';
import { RedisAppendLedger } from './redis.js';
import type { AppendLedger, AppendLedgerConfig } from './types.js';

export * from './types.js';

/** Redis when configured (replicas appending to one file must share its counter); in-process otherwise. */
export function createAppendLedger(config: AppendLedgerConfig): AppendLedger {
  return config.driver === 'redis' ? new RedisAppendLedger(config) : new MemoryAppendLedger();
}
