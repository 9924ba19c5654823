import { Redis } from 'ioredis';
import {
  APPEND_COUNTER_TTL_S,
  IDEMPOTENCY_TTL_S,
  PRESENCE_TTL_MS,
  type AppendReservation,
  type ClientPresence,
  type PresenceStore,
  type StampInput,
  type WindowCount,
} from './types.js';

// One round trip per stamp: resolve the client behind the DSN key, write its fields, index it per tenant.
// ARGV[6] counts the field/value arguments that follow and are always written; the pairs after
// them are written only where the hash has no such field yet (HSETNX). The hash expires with the
// presence window, so a field from an expired entry never blocks a placeholder.
const STAMP = `
local cid = ARGV[2]
if ARGV[1] == '1' then
  redis.call('SET', KEYS[1], cid, 'EX', 86400)
else
  local known = redis.call('GET', KEYS[1])
  if known then cid = known end
end
local k = ARGV[3] .. cid
local n = tonumber(ARGV[6])
redis.call('HSET', k, 'client_id', cid, 'last_seen', ARGV[4], unpack(ARGV, 7, 6 + n))
for i = 7 + n, #ARGV, 2 do redis.call('HSETNX', k, ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', k, ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[4], cid)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[4]) - tonumber(ARGV[5]))
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return cid
`;

// Sequence number and byte reservation of one appended file, atomically. With an idempotency key
// (KEYS[2]), a repeat gets the first reservation back instead of a new one.
const RESERVE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if KEYS[2] ~= '' then
  local seen = redis.call('GET', KEYS[2])
  if seen then
    local sep = string.find(seen, ':')
    return {tonumber(string.sub(seen, 1, sep - 1)), tonumber(redis.call('HGET', KEYS[1], 'bytes') or '0'), tonumber(string.sub(seen, sep + 1)), 1}
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
if KEYS[2] ~= '' then redis.call('SET', KEYS[2], seq .. ':' .. allowed, 'EX', ARGV[4]) end
return {seq, before, allowed, 0}
`;

const INIT_APPEND = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'bytes', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
`;

const HIT = `
local n = redis.call('INCRBY', KEYS[1], ARGV[2])
if n < 0 then redis.call('SET', KEYS[1], 0, 'KEEPTTL'); n = 0 end
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
`;

type Cmds = {
  augurStamp(k1: string, k2: string, ...args: string[]): Promise<string>;
  augurReserve(k1: string, k2: string, ...args: string[]): Promise<[number, number, number, number] | null>;
  augurInitAppend(k1: string, ...args: string[]): Promise<number>;
  augurHit(k1: string, ...args: string[]): Promise<[number, number]>;
};

export function createRedis(url: string): Redis {
  return new Redis(url, {
    connectTimeout: 5_000,
    commandTimeout: 5_000,
    maxRetriesPerRequest: 2,
    enableAutoPipelining: true,
  });
}

/** Redis-backed presence: every replica sees the same clients, counters and messages. */
export class RedisPresenceStore implements PresenceStore {
  readonly kind = 'redis' as const;
  private readonly redis: Redis & Cmds;
  private subscriber?: Redis;
  private readonly handlers = new Map<string, Array<(m: string) => void>>();

  constructor(
    private readonly url: string,
    private readonly prefix: string,
  ) {
    const r = createRedis(url);
    r.defineCommand('augurStamp', { numberOfKeys: 2, lua: STAMP });
    r.defineCommand('augurReserve', { numberOfKeys: 2, lua: RESERVE });
    r.defineCommand('augurInitAppend', { numberOfKeys: 1, lua: INIT_APPEND });
    r.defineCommand('augurHit', { numberOfKeys: 1, lua: HIT });
    this.redis = r as Redis & Cmds;
  }

  get client(): Redis {
    return this.redis;
  }

  async stamp(input: StampInput): Promise<string> {
    const p = this.prefix;
    const flat = Object.entries(input.fields).flat();
    const ifAbsent = Object.entries(input.fieldsIfAbsent ?? {}).flat();
    return this.redis.augurStamp(
      `${p}hbdsn:${input.dsnId}`,
      `${p}hb:${input.tenantId}`,
      input.explicit ? '1' : '0',
      input.clientId,
      `${p}hb:${input.tenantId}:c:`,
      String(input.now),
      String(PRESENCE_TTL_MS),
      String(flat.length),
      ...flat,
      ...ifAbsent,
    );
  }

  async listClients(tenantId: string, now: number): Promise<ClientPresence[]> {
    const p = this.prefix;
    const ids = await this.redis.zrevrangebyscore(`${p}hb:${tenantId}`, '+inf', String(now - PRESENCE_TTL_MS + 1));
    if (!ids.length) return [];
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hgetall(`${p}hb:${tenantId}:c:${id}`);
    const res = (await pipe.exec()) ?? [];
    const out: ClientPresence[] = [];
    res.forEach(([err, h], i) => {
      const fields = (h ?? {}) as Record<string, string>;
      if (err || !fields.last_seen) return;
      const { client_id, last_seen, ...rest } = fields;
      out.push({ client_id: client_id ?? ids[i]!, last_seen: Number(last_seen), fields: rest });
    });
    return out.sort((a, b) => b.last_seen - a.last_seen);
  }

  async reserveAppend(file: string, bytes: number, maxBytes: number | null, idempotencyKey?: string): Promise<AppendReservation | null> {
    const idem = idempotencyKey === undefined ? '' : `${this.prefix}idem:${file}:${idempotencyKey}`;
    const r = await this.redis.augurReserve(`${this.prefix}app:${file}`, idem, String(bytes), String(maxBytes ?? -1), String(APPEND_COUNTER_TTL_S), String(IDEMPOTENCY_TTL_S));
    if (!r) return null;
    return { seq: Number(r[0]), before: Number(r[1]), allowed: Number(r[2]), ...(Number(r[3]) === 1 ? { repeat: true } : {}) };
  }

  async initAppend(file: string, seq: number, bytes: number): Promise<void> {
    await this.redis.augurInitAppend(`${this.prefix}app:${file}`, String(seq), String(bytes), String(APPEND_COUNTER_TTL_S));
  }

  async hit(key: string, windowMs: number, now: number, by = 1): Promise<WindowCount> {
    const [count, ttl] = await this.redis.augurHit(`${this.prefix}rl:${key}`, String(windowMs), String(by));
    return { count: Number(count), resetAt: now + Number(ttl) };
  }

  async peek(key: string, now: number): Promise<WindowCount> {
    const k = `${this.prefix}rl:${key}`;
    const [[, v], [, ttl]] = (await this.redis.multi().get(k).pttl(k).exec()) as [[unknown, string | null], [unknown, number]];
    return { count: Number(v ?? 0), resetAt: now + Math.max(0, Number(ttl)) };
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.redis.publish(this.prefix + channel, message);
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<void> {
    if (!this.subscriber) {
      this.subscriber = createRedis(this.url);
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

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    this.redis.disconnect();
    this.subscriber?.disconnect();
  }
}
