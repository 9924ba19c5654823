import type { Request } from 'express';
import type { AppContext } from '../context.js';
import { ApiError } from '../errors.js';
import type { DsnAuth } from '../http/types.js';
import { BundleKeys } from './bundle.js';
import { bumpRun } from './run-versions.js';
import type { RunTouch } from '../../storage/metadata/index.js';

/**
 * What every ingest route shares: the DSN caller, the run's keys, the heartbeat each call stamps
 * and the run index touch. Presence entries hold strings only: `last_event` is stored as JSON text
 * (the heartbeat's value is any JSON; ingest calls stamp strings such as "step:3"), every other
 * field as the plain string.
 */
export const CLIENT_ID_HEADER = 'X-Augur-Client-Id';
/** 1 to 200 printable ASCII characters: it becomes a Redis key part and a /connections entry. */
export const CLIENT_ID_RE = /^[\x20-\x7e]{1,200}$/;

export function dsnCaller(req: Request): DsnAuth {
  const auth = req.auth;
  if (auth?.kind !== 'dsn') throw new Error('ingest route reached without DSN authentication');
  return auth;
}

/** The client an ingest call counts for unless the key's last heartbeat named one: the header, else the DSN's client name. */
export function fallbackClientId(req: Request, auth: DsnAuth): string {
  const h = req.headers['x-augur-client-id'];
  if (h === undefined) return auth.dsn.client_name;
  if (typeof h !== 'string' || !CLIENT_ID_RE.test(h)) {
    throw new ApiError('validation_failed', `${CLIENT_ID_HEADER} must be 1 to 200 printable ASCII characters`, {
      errors: [{ loc: ['header', CLIENT_ID_HEADER], msg: 'must be 1 to 200 printable ASCII characters', type: 'pattern' }],
    });
  }
  return h;
}

/**
 * Stamps a heartbeat in one presence round trip. Best effort: a presence failure is logged and
 * never fails the ingest call. Resolves to the client id stored, or undefined when it failed;
 * only POST /heartbeat waits for it, at most HEARTBEAT_WAIT_MS (its answer names the client id),
 * other ingest calls don't.
 */
export function stampHeartbeat(
  ctx: AppContext,
  req: Request,
  auth: DsnAuth,
  clientId: string,
  explicit: boolean,
  fields: Record<string, string>,
  fieldsIfAbsent?: Record<string, string>,
): Promise<string | undefined> {
  let p: Promise<string>;
  try {
    p = ctx.stores.presence.stamp({ tenantId: auth.tenant.id, dsnId: auth.dsn.id, clientId, explicit, fields, ...(fieldsIfAbsent && Object.keys(fieldsIfAbsent).length ? { fieldsIfAbsent } : {}), now: ctx.now() });
  } catch (err) {
    p = Promise.reject(err);
  }
  return p.catch((err: unknown) => {
    ctx.logger.warn({ err, req_id: req.id, tenant_id: auth.tenant.id }, 'heartbeat stamp failed; ingest goes on');
    return undefined;
  });
}

/**
 * Longest POST /heartbeat waits for its stamp (less when AUGUR_BACKEND_TIMEOUT_MS is less):
 * presence is best effort, so a slow or silent Redis costs a heartbeat this much at most, and the
 * answer is the same either way (an explicit heartbeat stores the client id it names).
 */
export const HEARTBEAT_WAIT_MS = 1_000;

/** The stamp's client id if it lands within `ms`, else undefined (the stamp goes on, and its failure is still logged). */
export function stampWithin(stamp: Promise<string | undefined>, ms: number): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([stamp, late]).finally(() => clearTimeout(timer));
}

export interface RunWrite {
  auth: DsnAuth;
  keys: BundleKeys;
  runId: string;
}

/** The run addressed by the (already validated) :run_id path parameter; BundleKeys checks it again. */
export function runTarget(req: Request, runId: string = req.params.run_id as string): RunWrite {
  const auth = dsnCaller(req);
  return { auth, runId, keys: new BundleKeys(auth.tenant.id, runId) };
}

/** A key's path relative to its run, as the ack reports it (`steps/0003.json`). */
export function relative(keys: BundleKeys, key: string): string {
  return key.slice(keys.prefix.length);
}

/** Starts the heartbeat stamp of an ingest call on a run (see stampHeartbeat): best effort, never rejects, never waited for. */
export function startRunStamp(ctx: AppContext, req: Request, target: RunWrite, lastEvent: string): Promise<string | undefined> {
  return stampHeartbeat(ctx, req, target.auth, fallbackClientId(req, target.auth), false, {
    run_id: target.runId,
    last_event: JSON.stringify(lastEvent),
    dsn_id: target.auth.dsn.id,
  });
}

/**
 * Runs one run write with its heartbeat stamp started in the same tick (with Redis, both are in
 * flight together on the shared connection), then records the run in the batched index: a call for a
 * run whose manifest has not arrived yet creates the run when the index flushes. The answer waits
 * for the write only: a slow or absent presence never delays an ingest call.
 */
export async function ingestRunWrite<T>(
  ctx: AppContext,
  req: Request,
  target: RunWrite,
  lastEvent: string,
  write: () => Promise<T>,
  touch: Omit<RunTouch, 'tenant_id' | 'run_id' | 'seen_at'> = {},
): Promise<T> {
  void startRunStamp(ctx, req, target, lastEvent);
  const result = await write();
  bumpRun(ctx, target.keys.prefix);
  ctx.runIndex.touch({ tenant_id: target.auth.tenant.id, run_id: target.runId, seen_at: ctx.now(), ...touch });
  return result;
}

/**
 * The JSON body as the SDK sent it (decompressed): stored verbatim, cheap and faithful. The JSON
 * reader accepts UTF-8 only, so these bytes are always UTF-8 JSON.
 */
export function verbatimJson(req: Request): Buffer {
  return req.rawBody ?? Buffer.from(JSON.stringify(req.body));
}

/**
 * A JSON value as one line of a JSON-lines file: `sent`, its bytes as the client sent them, when
 * they are one line; else `value` (what they parse to) re-serialised. Re-serialising 16 MiB held
 * the event loop 60–100 ms; the bytes as sent cost a copy.
 */
export function jsonLine(sent: Buffer | undefined, value: unknown): Buffer {
  return sent && !sent.includes(0x0a) && !sent.includes(0x0d) ? sent : Buffer.from(JSON.stringify(value));
}

/** 422 for a body whose run_id (at `where`) differs from the URL's. */
export function runIdMismatch(where: Array<string | number>, url: string, body: string): ApiError {
  return new ApiError('validation_failed', `${where.join('.')} is ${JSON.stringify(body)} but the URL names run ${JSON.stringify(url)}`, {
    errors: [{ loc: ['body', ...where], msg: `must equal the run_id in the URL (${url})`, type: 'const' }],
  });
}

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
/** 1 to 200 printable ASCII characters, like a client id. */
const IDEMPOTENCY_RE = /^[\x21-\x7e]{1,200}$/;

/** The append's Idempotency-Key header, when the client sent one (checked like any input). */
export function idempotencyKey(req: Request): string | undefined {
  const h = req.headers['idempotency-key'];
  if (h === undefined) return undefined;
  if (typeof h !== 'string' || !IDEMPOTENCY_RE.test(h)) {
    throw new ApiError('validation_failed', `${IDEMPOTENCY_HEADER} must be 1 to 200 printable ASCII characters without spaces`, {
      errors: [{ loc: ['header', IDEMPOTENCY_HEADER], msg: 'must be 1 to 200 printable ASCII characters without spaces', type: 'pattern' }],
    });
  }
  return h;
}

/** Null means absent (SDKs in other languages send null for unset optionals). */
export function present<T>(v: T | null | undefined): v is T {
  return v !== null && v !== undefined;
}
