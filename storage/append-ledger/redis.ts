import { randomBytes } from 'node:crypto';
import type { RedisTarget } from '../redis/connection.js';
import { RedisDriver } from '../redis/driver.js';
import { APPEND_COUNTER_TTL_S, IDEMPOTENCY_TTL_MS, type AppendLedger, type AppendReservation } from './types.js';

// Sequence number and byte reservation of one appended file, atomically. With an idempotency key
// (KEYS[2]), a repeat gets the first reservation back instead of a new one. The key's value holds
// its end on the given clock (`seq:allowed:expires`), and a repeat counts only before that end
// (ARGV[5] is now); Redis's expiry, the same span derived from that now, only collects it.
const RESERVE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local now = tonumber(ARGV[5])
if KEYS[2] ~= '' then
  local seen = redis.call('GET', KEYS[2])
  if seen then
    local a, b, c = string.match(seen, '^(%d+):(%d+):(%d+)$')
    if a and tonumber(c) > now then
      return {tonumber(a), tonumber(redis.call('HGET', KEYS[1], 'bytes') or '0'), tonumber(b), 1}
    end
  end
end
local before = tonumber(redis.call('HGET', KEYS[1], 'bytes') or '0')
local want = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local allowed = want
if max >= 0 then allowed = math.max(0, math.min(want, max - before)) end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HINCRBY', KEYS[1], 'bytes', allowed)
redis.call('EXPIRE', KEYS[1], ARGV[3])
if KEYS[2] ~= '' then
  local ttl = tonumber(ARGV[4])
  redis.call('SET', KEYS[2], seq .. ':' .. allowed .. ':' .. string.format('%d', now + ttl), 'PX', ttl)
end
return {seq, before, allowed, 0}
`;

const INIT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'bytes', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
`;

// A lease's value is `until:token`; it is free when absent or when until <= now (the given clock).
// Redis expires it leaseMs after it was taken, the same span, so a dead holder's key goes away.
const LEASE = `
local held = redis.call('GET', KEYS[1])
if held then
  local untilAt = tonumber(string.match(held, '^(%d+):'))
  if untilAt and untilAt > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], string.format('%d', tonumber(ARGV[1]) + tonumber(ARGV[2])) .. ':' .. ARGV[3], 'PX', ARGV[2])
return 1
`;

const RELEASE = `
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, -string.len(ARGV[1]) - 1) == ':' .. ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
`;

type Cmds = {
  augurReserve(k1: string, k2: string, ...args: string[]): Promise<[number, number, number, number] | null>;
  augurInitAppend(k1: string, ...args: string[]): Promise<number>;
  augurLease(k1: string, ...args: string[]): Promise<number>;
  augurRelease(k1: string, ...args: string[]): Promise<number>;
};

/** Redis-backed ledger: every replica draws from the same counters and leases. */
export class RedisAppendLedger extends RedisDriver<Cmds> implements AppendLedger {
  constructor(target: RedisTarget) {
    super(target, {
      augurReserve: { keys: 2, lua: RESERVE },
      augurInitAppend: { keys: 1, lua: INIT },
      augurLease: { keys: 1, lua: LEASE },
      augurRelease: { keys: 1, lua: RELEASE },
    });
  }

  async reserve(file: string, bytes: number, maxBytes: number | null, now: number, idempotencyKey?: string): Promise<AppendReservation | null> {
    const idem = idempotencyKey === undefined ? '' : `${this.prefix}idem:${file}:${idempotencyKey}`;
    const args = [String(bytes), String(maxBytes ?? -1), String(APPEND_COUNTER_TTL_S), String(IDEMPOTENCY_TTL_MS), String(Math.floor(now))];
    const r = await this.redis.augurReserve(`${this.prefix}app:${file}`, idem, ...args);
    if (!r) return null;
    return { seq: Number(r[0]), before: Number(r[1]), allowed: Number(r[2]), ...(Number(r[3]) === 1 ? { repeat: true } : {}) };
  }

  async init(file: string, seq: number, bytes: number): Promise<void> {
    await this.redis.augurInitAppend(`${this.prefix}app:${file}`, String(seq), String(bytes), String(APPEND_COUNTER_TTL_S));
  }

  async lease(key: string, leaseMs: number, now: number): Promise<string | null> {
    const token = randomBytes(8).toString('hex');
    const took = await this.redis.augurLease(`${this.prefix}lease:${key}`, String(Math.floor(now)), String(Math.max(1, Math.ceil(leaseMs))), token);
    return Number(took) === 1 ? token : null;
  }

  async release(key: string, token: string): Promise<void> {
    await this.redis.augurRelease(`${this.prefix}lease:${key}`, token);
  }
}
