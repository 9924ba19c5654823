import type { Request, RequestHandler, Response } from 'express';
import type { AppContext } from '../context.js';

/** `metrics`: the scrape token (AUGUR_METRICS_TOKEN) as a bearer credential, nothing else. */
export type AuthMode = 'none' | 'dsn' | 'reader' | 'admin' | 'metrics';
export type Method = 'get' | 'post' | 'put' | 'delete';

/** One API route, declared with what the framework checks before its handler runs. */
export interface RouteDef {
  method: Method;
  /** Express path under /api/v1; the OpenAPI document has the same path with {param}. */
  path: string;
  auth: AuthMode;
  /** Schema id of the JSON body, validated before the handler. */
  body?: string;
  /** A top-level array of the body whose object elements' byte ranges the handler gets as req.bodyElements (to store them as sent). */
  bodyElements?: string;
  /** Path parameter → schema ref ("params.schema.json#/$defs/run_id"). */
  params?: Record<string, string>;
  /** Status for a path parameter that breaks its pattern: 404 for read URLs, 422 for writes. */
  badParam?: 404 | 422;
  /** Changes tenant state: refused while an admin impersonates. */
  tenantWrite?: boolean;
  /** Runs after auth and parameter checks, before the body is read: refusals that need no body (modelio switched off, say). */
  guard?: (req: Request, ctx: AppContext) => void;
  /** Runs after auth and parameter checks, before the handler (multipart parsing, say). */
  before?: (ctx: AppContext) => RequestHandler[];
  /**
   * Answers a 401/403 refusal only after this long (shutdown cuts it short): a client that asks
   * again at once after a refusal, as SDK 0.1.14's intervention poll does with no backoff, is paced
   * instead of spinning against the server.
   */
  refusalPauseMs?: number;
  /** Never shed by the overload guard (health checks, the metrics scrape: they must answer when the replica is loaded). */
  neverShed?: boolean;
  /** A long poll: shed like any request when it arrives, but not counted in flight while it is held (it waits, it does not work). */
  longPoll?: boolean;
  /**
   * A streamed upload takes no tenant slot (tenant-slots.ts): it spends its time waiting for the
   * client's link, not working, and a tenant's slow uploads would otherwise hold every slot while
   * its step and event posts queued behind them. Uploads stay bounded by the rate limits and the
   * replica's in-flight bound.
   */
  upload?: boolean;
  /** Registered only when this says so (a route the configuration switches off answers 404 like an unknown path). */
  enabled?: (ctx: AppContext) => boolean;
  handler: (req: Request, res: Response, ctx: AppContext) => unknown;
}

export const route = (def: RouteDef): RouteDef => def;

/** The run_id path parameter's schema, shared by every run route. */
export const RUN_ID = 'params.schema.json#/$defs/run_id';
