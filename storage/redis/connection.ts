import { Redis } from 'ioredis';

/** Where a Redis driver keeps its keys: one server, and a prefix so deployments can share it. */
export interface RedisTarget {
  url: string;
  prefix: string;
  /**
   * The server's backend timeout (AUGUR_BACKEND_TIMEOUT_MS): the command and connect timeouts of
   * the connection, so Redis waits are bounded like Postgres and S3 waits. REDIS_BOUNDS' otherwise.
   */
  timeoutMs?: number;
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

/** The bounds of a target's connection: its timeout for commands and connects, the rest as REDIS_BOUNDS. */
export function boundsOf(target: Pick<RedisTarget, 'timeoutMs'>): RedisBounds {
  const t = target.timeoutMs;
  return t === undefined ? REDIS_BOUNDS : { ...REDIS_BOUNDS, commandTimeoutMs: t, connectTimeoutMs: t };
}

/**
 * A new ioredis connection with those bounds. ioredis does not reconnect when a command times out
 * on a socket that stays open but silent (a frozen server, a dropped NAT entry), so the first
 * timeout drops the socket and reconnects; later commands then fail fast or go to the new socket.
 *
 * No auto-pipelining: ioredis sends the next automatic pipeline only once the one before it is
 * fully answered, and a command's timeout starts when it is sent, so on a silent Redis a command
 * waited for the pipeline before it (a command timeout) and then for its own (another): a request
 * making one Redis call waited twice the timeout. Commands are written as they are made instead;
 * they still share the socket and Redis answers them in turn.
 */
export function createRedis(url: string, bounds: RedisBounds = REDIS_BOUNDS): Redis {
  const r = new Redis(url, {
    connectTimeout: bounds.connectTimeoutMs,
    commandTimeout: bounds.commandTimeoutMs,
    maxRetriesPerRequest: bounds.maxRetriesPerRequest,
    keepAlive: bounds.keepAliveMs,
    enableOfflineQueue: true,
    enableAutoPipelining: false,
    retryStrategy: (times) => Math.min(50 * 2 ** times, 2_000),
  });
  const send = r.sendCommand.bind(r);
  // ioredis sends a command again after a reconnect (maxRetriesPerRequest): watch each one once,
  // or its old rejection would drop the new socket too.
  const watched = new WeakSet<object>();
  // Commands whose caller already had its rejection (timed out, or caught by a dropped socket).
  // ioredis would still send them once reconnected: from the offline queue, or again after a
  // reconnect (autoResendUnfulfilledCommands). Their answer would go nowhere, and their effect
  // would land late behind the caller's back: a rate-limit spend admitted without its limit
  // would then use up the window, an append reservation the client was told failed would be
  // taken after all. They are dropped instead; commands still awaited are sent as before.
  const abandoned = new WeakSet<object>();
  r.sendCommand = ((command, stream) => {
    if (abandoned.has(command)) return command.promise;
    const p = send(command, stream);
    if (!watched.has(command)) {
      watched.add(command);
      command.promise.catch((err: unknown) => {
        abandoned.add(command);
        // Destroyed, not ended: a silent peer never acknowledges a graceful close either.
        if ((err as Error)?.message === 'Command timed out' && (r.status === 'ready' || r.status === 'connect')) r.stream?.destroy();
      });
    }
    return p;
  }) as Redis['sendCommand'];
  // An unanswered connection error would be an uncaught 'error' event; commands report their own.
  r.on('error', () => undefined);
  r.on('ready', () => everReady.add(r));
  return r;
}

const everReady = new WeakSet<Redis>();

/** Thrown instead of queueing a command on a connection that was lost (see `lost`). */
export const CONNECTION_LOST = 'Redis connection lost; reconnecting';

/**
 * The connection was ready once and is not now (dropped, timed out, reconnecting): a caller that
 * would rather go without Redis than wait for it (the ingest limits) fails at once. Before the
 * first connect, commands wait in the offline queue as usual (they are bounded by the command
 * timeout), so a process just started does not refuse its first calls.
 */
export function lost(redis: Redis): boolean {
  return everReady.has(redis) && redis.status !== 'ready';
}

const shared = new Map<string, { redis: Redis; users: number }>();

/**
 * The command connection of this process for a URL, shared by every Redis driver (presence,
 * append ledger, rate limiter, bus publishes): one socket, on which the heartbeat stamp and the
 * append reservation of one request are in flight together. Each driver releases what
 * it acquired on close; the last release closes the socket. The bus's subscriber is apart (a
 * subscribed connection can run nothing else).
 */
export function acquireRedis(target: Pick<RedisTarget, 'url' | 'timeoutMs'>): { redis: Redis; release: () => void } {
  // One connection per URL and timeout (one of each in a server; tests may mix timeouts).
  const id = `${target.timeoutMs ?? ''} ${target.url}`;
  let entry = shared.get(id);
  if (!entry || entry.redis.status === 'end') shared.set(id, (entry = { redis: createRedis(target.url, boundsOf(target)), users: 0 }));
  entry.users++;
  const held = entry;
  let released = false;
  return {
    redis: held.redis,
    release: () => {
      if (released) return;
      released = true;
      if (--held.users > 0) return;
      if (shared.get(id) === held) shared.delete(id);
      held.redis.disconnect();
    },
  };
}
