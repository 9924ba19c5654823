import { Redis } from 'ioredis';

/** Where a Redis driver keeps its keys: one server, and a prefix so deployments can share it. */
export interface RedisTarget {
  url: string;
  prefix: string;
}

/**
 * Every limit of a connection explicit, so a Redis that accepts connections but never answers
 * costs a request at most commandTimeoutMs (and the readiness check says so) instead of hanging it.
 * The offline queue stays on: commands issued while (re)connecting wait there, but each one's
 * command timeout is armed when it is queued, so the queue is bounded in time.
 */
export const REDIS_BOUNDS = {
  /** A command (queued or sent) not answered by then is rejected, and the socket is replaced. */
  commandTimeoutMs: 2_000,
  /** TCP connect and handshake. */
  connectTimeoutMs: 2_000,
  /** TCP keep-alive probes on an idle socket, so a dead peer is noticed between requests too. */
  keepAliveMs: 10_000,
  /** A command caught by a dropped connection is sent again at most this often, then rejected. */
  maxRetriesPerRequest: 1,
};
export type RedisBounds = typeof REDIS_BOUNDS;

/**
 * A new ioredis connection with those bounds. ioredis does not reconnect when a command times out
 * on a socket that stays open but silent (a frozen server, a dropped NAT entry), so the first
 * timeout drops the socket and reconnects; later commands then fail fast or go to the new socket.
 */
export function createRedis(url: string, bounds: RedisBounds = REDIS_BOUNDS): Redis {
  const r = new Redis(url, {
    connectTimeout: bounds.connectTimeoutMs,
    commandTimeout: bounds.commandTimeoutMs,
    maxRetriesPerRequest: bounds.maxRetriesPerRequest,
    keepAlive: bounds.keepAliveMs,
    enableOfflineQueue: true,
    enableAutoPipelining: true,
    retryStrategy: (times) => Math.min(50 * 2 ** times, 2_000),
  });
  const send = r.sendCommand.bind(r);
  // ioredis sends a command again after a reconnect (maxRetriesPerRequest): watch each one once,
  // or its old rejection would drop the new socket too.
  const watched = new WeakSet<object>();
  r.sendCommand = ((command, stream) => {
    const p = send(command, stream);
    if (!watched.has(command)) {
      watched.add(command);
      command.promise.catch((err: unknown) => {
        // Destroyed, not ended: a silent peer never acknowledges a graceful close either.
        if ((err as Error)?.message === 'Command timed out' && (r.status === 'ready' || r.status === 'connect')) r.stream?.destroy();
      });
    }
    return p;
  }) as Redis['sendCommand'];
  // An unanswered connection error would be an uncaught 'error' event; commands report their own.
  r.on('error', () => undefined);
  return r;
}

const shared = new Map<string, { redis: Redis; users: number }>();

/**
 * The command connection of this process for a URL, shared by every Redis driver (presence,
 * append ledger, rate limiter, bus publishes): one socket, and with auto-pipelining the heartbeat
 * stamp and the append reservation of one request leave in one write. Each driver releases what
 * it acquired on close; the last release closes the socket. The bus's subscriber is apart (a
 * subscribed connection can run nothing else).
 */
export function acquireRedis(url: string): { redis: Redis; release: () => void } {
  let entry = shared.get(url);
  if (!entry || entry.redis.status === 'end') shared.set(url, (entry = { redis: createRedis(url), users: 0 }));
  entry.users++;
  const held = entry;
  let released = false;
  return {
    redis: held.redis,
    release: () => {
      if (released) return;
      released = true;
      if (--held.users > 0) return;
      if (shared.get(url) === held) shared.delete(url);
      held.redis.disconnect();
    },
  };
}
