import type { RedisTarget } from '../redis/connection.js';
import { RedisDriver } from '../redis/driver.js';
import { PRESENCE_TTL_MS, type ClientPresence, type PresenceStore, type StampInput } from './types.js';

// One round trip per stamp: resolve the client behind the DSN key, write its fields, index it per tenant.
// ARGV[6] counts the field/value arguments that follow and are always written; the pairs after
// them are written only where the hash has no such field yet (HSETNX). Freshness is judged by the
// given clock (ARGV[4]), never by Redis's: an entry whose last_seen is a window older than now is
// dropped first, so its fields never block a placeholder. Redis's own expiry (the window, derived
// from the same now) only collects what nobody stamps again.
const STAMP = `
local cid = ARGV[2]
if ARGV[1] == '1' then
  redis.call('SET', KEYS[1], cid, 'EX', 86400)
else
  local known = redis.call('GET', KEYS[1])
  if known then cid = known end
end
local k = ARGV[3] .. cid
local now = tonumber(ARGV[4])
local ttl = tonumber(ARGV[5])
local seen = tonumber(redis.call('HGET', k, 'last_seen') or '')
if seen and seen <= now - ttl then redis.call('DEL', k) end
local n = tonumber(ARGV[6])
redis.call('HSET', k, 'client_id', cid, 'last_seen', ARGV[4], unpack(ARGV, 7, 6 + n))
for i = 7 + n, #ARGV, 2 do redis.call('HSETNX', k, ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', k, ttl)
redis.call('ZADD', KEYS[2], ARGV[4], cid)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return cid
`;

type Cmds = { augurStamp(k1: string, k2: string, ...args: string[]): Promise<string> };

/** Redis-backed presence: every replica lists the same clients. */
export class RedisPresenceStore extends RedisDriver<Cmds> implements PresenceStore {
  constructor(target: RedisTarget) {
    super(target, { augurStamp: { keys: 2, lua: STAMP } });
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
    const ids = await this.redis.zrangebyscore(`${p}hb:${tenantId}`, String(now - PRESENCE_TTL_MS + 1), '+inf');
    if (!ids.length) return [];
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hgetall(`${p}hb:${tenantId}:c:${id}`);
    const res = (await pipe.exec()) ?? [];
    const out: ClientPresence[] = [];
    res.forEach(([err, h], i) => {
      const fields = (h ?? {}) as Record<string, string>;
      if (err || !fields.last_seen || Number(fields.last_seen) <= now - PRESENCE_TTL_MS) return;
      const { client_id, last_seen, ...rest } = fields;
      out.push({ client_id: client_id ?? ids[i]!, last_seen: Number(last_seen), fields: rest });
    });
    return out.sort((a, b) => b.last_seen - a.last_seen);
  }
}
