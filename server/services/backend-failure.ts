/**
 * Tells a backend outage (a store that is down, partitioned or too slow) from a bug, so the error
 * handler answers the first with 503 `backend_unavailable` + Retry-After (the client should retry
 * the same request) and keeps 500 for the rest. One place for every driver's failure shapes:
 * pg/knex, ioredis, the lean S3 client.
 */
export type Backend = 'objects' | 'metadata' | 'presence';

export interface BackendFailure {
  /** Which store failed. */
  backend: Backend;
  /** Short reason for the log and the detail (an error code or the driver's message). */
  reason: string;
}

/** Seconds a client is told to wait; the fault suite shows a healed backend serves again within this. */
export const BACKEND_RETRY_AFTER_S = 2;

/** A registry symbol, so a driver under storage/ can mark its own errors without importing this module. */
const TAG = Symbol.for('augur.backend');

/** Socket-level failures: the peer is gone, refused, reset or did not answer within our timeout. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ERR_SOCKET_CONNECTION_TIMEOUT']);
/**
 * Postgres SQLSTATEs that say "the database cannot serve now", not "your query is wrong":
 * class 08 (connection exception), 57P01–57P03 (shutdown, crash, cannot connect now), 57014
 * (statement_timeout), 53300 (too many connections), 25P03 (idle-in-transaction timeout).
 */
const PG_STATES = new Set(['57P01', '57P02', '57P03', '57014', '53300', '25P03']);
/** node-postgres and knex report these as plain Errors with a message only. */
const PG_MESSAGES =
  /Connection terminated|Query read timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable|Knex: Timeout acquiring a connection|^timeout expired$|operation timed out for an unknown reason/;
/** ioredis: the connection is down (offline queue off or retries spent) or a command timed out; ours: a lost connection not waited for (storage/redis/connection.ts). */
const REDIS_NAMES = new Set(['MaxRetriesPerRequestError']);
const REDIS_MESSAGES = /^Connection is closed\.?$|Command timed out|Stream isn't writeable|Reached the max retries per request limit|^Redis connection lost/;

/** Marks an error as coming from one store (first tag wins: the innermost store knows best). */
export function tagBackend(err: unknown, backend: Backend): unknown {
  if (err !== null && typeof err === 'object' && !(TAG in err)) {
    try {
      Object.defineProperty(err, TAG, { value: backend, enumerable: false });
    } catch {
      // a frozen error stays untagged; its shape may still name the backend
    }
  }
  return err;
}

/** A backend outage, or undefined for anything else (a bug, a bad request). Follows `cause` one level. */
export function classifyBackendError(err: unknown): BackendFailure | undefined {
  const own = classifyOne(err);
  if (own) return own;
  const cause = (err as { cause?: unknown } | null)?.cause;
  const inner = cause && cause !== err ? classifyOne(cause, tagOf(err)) : undefined;
  return inner;
}

function tagOf(err: unknown): Backend | undefined {
  return err !== null && typeof err === 'object' ? ((err as Record<symbol, Backend | undefined>)[TAG] ?? undefined) : undefined;
}

function classifyOne(err: unknown, outerTag?: Backend): BackendFailure | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const e = err as { name?: string; code?: unknown; message?: string; $fault?: string; $metadata?: { httpStatusCode?: number } };
  const tag = tagOf(err) ?? outerTag;
  const message = typeof e.message === 'string' ? e.message : '';
  const code = typeof e.code === 'string' ? e.code : undefined;
  // S3 (the lean client raises the SDK's S3ServiceException): a 5xx/429 after its retries.
  if (e.$metadata && typeof e.$metadata === 'object') {
    const status = e.$metadata.httpStatusCode ?? 0;
    if (status >= 500 || status === 429 || e.$fault === 'server') return { backend: tag ?? 'objects', reason: `${e.name ?? 'S3 error'} (HTTP ${status})` };
    return undefined;
  }
  if (e.name === 'KnexTimeoutError') return { backend: tag ?? 'metadata', reason: 'no database connection within the acquire timeout' };
  if (code && PG_STATES.has(code)) return { backend: tag ?? 'metadata', reason: `SQLSTATE ${code}` };
  if (code && /^08[0-9A-Z]{3}$/.test(code)) return { backend: tag ?? 'metadata', reason: `SQLSTATE ${code}` };
  if (PG_MESSAGES.test(message)) return { backend: tag ?? 'metadata', reason: message };
  if ((e.name && REDIS_NAMES.has(e.name)) || REDIS_MESSAGES.test(message)) return { backend: tag ?? 'presence', reason: message };
  // A bare socket error says nothing of whose socket it was (a client that hung up has one too):
  // only one raised by a store, and so tagged, is an outage.
  if (code && NETWORK_CODES.has(code) && tag) return { backend: tag, reason: code };
  return undefined;
}

const NAMES: Record<Backend, string> = { objects: 'object store', metadata: 'metadata store', presence: 'presence store' };

/** The detail a client sees: which store, never the driver's own text (it may name hosts). */
export function describeFailure(f: BackendFailure): string {
  return `The ${NAMES[f.backend]} (${f.backend}) is unavailable; retry after Retry-After seconds`;
}

/**
 * The store with every method's rejection (and a listing's iteration error) tagged with the
 * backend's name, so a bare ECONNRESET still says which store it came from. Method wrappers are
 * made once per name, not per call.
 */
export function tagStore<T extends object>(store: T, backend: Backend): T {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      let w = wrapped.get(prop);
      if (!w) {
        const fn = value as (...args: unknown[]) => unknown;
        w = function (this: unknown, ...args: unknown[]) {
          let out: unknown;
          try {
            out = fn.apply(this === receiver ? target : this, args);
          } catch (err) {
            throw tagBackend(err, backend);
          }
          if (out instanceof Promise) return out.catch((err: unknown) => Promise.reject(tagBackend(err, backend)));
          // A listing (an async generator), never a stream: a Readable must stay pipeable.
          if (out && typeof out === 'object' && Symbol.asyncIterator in out && typeof (out as { pipe?: unknown }).pipe !== 'function') return tagIterable(out as AsyncIterable<unknown>, backend);
          return out;
        };
        wrapped.set(prop, w);
      }
      return w;
    },
  });
}

async function* tagIterable<T>(it: AsyncIterable<T>, backend: Backend): AsyncIterable<T> {
  try {
    yield* it;
  } catch (err) {
    throw tagBackend(err, backend);
  }
}
