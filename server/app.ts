import express, { type Express, type Request, type RequestHandler, type Response, Router } from 'express';
import cookieParser from 'cookie-parser';
import type { AppContext } from './context.js';
import { ApiError } from './errors.js';
import { authenticateMetrics, authenticateReader, checkCsrf } from './http/auth.js';
import { errorHandler, notFoundHandler } from './http/error-handler.js';
import { admitIngest } from './http/ingest-admission.js';
import { hasBody, isJson, readJsonBody } from './http/json-body.js';
import { requestStart } from './http/request-id.js';
import { requestRecorder } from './http/request-metrics.js';
import { routeShortcut } from './http/route-shortcut.js';
import { API_HEADERS } from './http/security-headers.js';
import { viewerRouter } from './http/viewer.js';
import type { RouteDef } from './http/route.js';
import './http/types.js';
import { docsRouter } from './routes/docs.js';
import { ROUTES } from './routes/index.js';

export const API_PREFIX = '/api/v1';



export interface AppOptions {
  /** Dispatch DSN ingest routes before the router (route-shortcut.ts); off only to test that both answer alike. */
  routeShortcut?: boolean;
}

/** The Express app for a context; it never listens (tests and main.ts decide that). */
export function createApp(ctx: AppContext, routes: RouteDef[] = ROUTES, opts: AppOptions = {}): Express {
  const app = express();
  app.disable('x-powered-by');
  // JSON answers are small and uncached; screenshots set their own ETag.
  app.set('etag', false);
  app.set('trust proxy', ctx.config.trustProxy);
  app.set('query parser', 'simple');
  // API answers get the few security headers that matter for JSON and images; the doc pages
  // (server/routes/docs.ts) add the full set with a CSP that lets Swagger UI and ReDoc run.
  app.use(requestStart(ctx.logger, { prefix: API_PREFIX, headers: API_HEADERS, onRequest: requestRecorder(ctx.metrics, API_PREFIX) }));

  const api = Router();
  // A route switched off by configuration (GET /metrics without AUGUR_METRICS_TOKEN) is not registered: it answers as any unknown path.
  const handled = routes.filter((def) => def.enabled?.(ctx) ?? true).map((def) => ({ method: def.method, path: def.path, dsn: def.auth === 'dsn', handler: paced(def, ctx, pipeline(def, ctx)) }));
  for (const r of handled) api[r.method](r.path, r.handler);
  // DSN ingest (the SDK's hot path) is dispatched before the router; see route-shortcut.ts.
  if (opts.routeShortcut !== false) app.use(routeShortcut(API_PREFIX, handled.filter((r) => r.dsn)));
  api.use(docsRouter(ctx));
  app.use(API_PREFIX, api);
  // The viewer (a single-page app) at `/`; it never answers under the API prefix.
  app.use(viewerRouter(ctx.config, API_PREFIX));
  app.use(notFoundHandler);
  app.use(errorHandler(ctx.logger));
  return app;
}

/**
 * One Express handler per route running load shedding → auth → ingest rate limits and the
 * tenant's slot → path parameters → CSRF and impersonation rules → guard → body → route
 * middleware → handler. One handler rather than a chain of middleware: every router hop costs
 * CPU on the ingest hot path.
 */
function pipeline(def: RouteDef, ctx: AppContext): RequestHandler {
  const write = def.method !== 'get';
  const params = Object.entries(def.params ?? {});
  const before = def.before?.(ctx) ?? [];
  const series = ctx.metrics.route(def.method, def.path, API_PREFIX);
  const shed = !def.neverShed && def.auth !== 'metrics';
  const loadClass = def.auth === 'dsn' ? 'ingest' : 'read';
  const jsonLimits = { bytes: ctx.config.maxJsonBytes, values: ctx.config.maxJsonValues };
  const handler: RequestHandler = async (req, res) => {
    req.metricsRoute = series;
    // Load shedding first: the cheapest refusal, before auth can touch a store.
    const release = shed ? ctx.overload.admit(res, loadClass, !def.longPoll) : undefined;
    if (def.auth === 'dsn') {
      // Auth, rate limits and the tenant's slot; false: the client left while it waited.
      if (!(await admitIngest(def, req, res, ctx, release))) return;
    } else if (def.auth === 'metrics') authenticateMetrics(req, ctx);
    else {
      // Ingest never reads cookies: parse them only where a session can matter.
      parseCookies(req, res, noop);
      if (def.auth === 'reader' || def.auth === 'admin') {
        const auth = await authenticateReader(req, ctx);
        req.auth = auth;
        if (def.auth === 'admin' && !auth.user.is_admin) throw new ApiError('forbidden', 'Admins only');
        if (write && auth.via === 'token') throw new ApiError('forbidden', 'A read token only reads; sign in to make changes');
        if (write && auth.via === 'cookie') cookieWriteRules(req, ctx);
        if (def.tenantWrite && auth.impersonating) {
          throw new ApiError('impersonation_read_only', 'Read-only while impersonating another tenant; stop impersonating to make changes');
        }
      } else if (write && !req.get('authorization')) {
        cookieWriteRules(req, ctx);
      }
    }
    for (const [name, ref] of params) {
      const value = req.params[name];
      if (!ctx.validator.get(ref)(value)) {
        if ((def.badParam ?? 404) === 404) throw new ApiError('not_found', 'Not found');
        ctx.validator.assert(ref, value, 'path');
      }
    }
    def.guard?.(req, ctx);
    if (def.body) {
      req.body = await readJsonBody(req, jsonLimits, def.bodyElements);
      ctx.validator.assert(def.body, req.body, 'body');
    }
    for (const mw of before) await runMiddleware(mw, req, res);
    await def.handler(req, res, ctx);
  };
  return handler;
}

/** The route's handler, holding its 401/403 answers for `refusalPauseMs` when it asks for that. */
function paced(def: RouteDef, ctx: AppContext, inner: RequestHandler): RequestHandler {
  const ms = def.refusalPauseMs;
  if (!ms) return inner;
  return async (req, res, next) => {
    try {
      await inner(req, res, next);
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) await ctx.commands.idle(ms);
      throw err;
    }
  };
}

const parseCookies = cookieParser();
const noop = (): void => undefined;

function runMiddleware(mw: RequestHandler, req: Request, res: Response): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = mw(req, res, (err?: unknown) => (err ? reject(err) : resolve())) as unknown;
    if (out instanceof Promise) out.catch(reject);
  });
}

/** A cookie-borne (browser) write: same-site only, and any body must be JSON. */
function cookieWriteRules(req: Request, ctx: AppContext): void {
  checkCsrf(req, ctx);
  if (hasBody(req) && !isJson(req)) throw new ApiError('unsupported_media_type', 'Send the body as application/json');
}
