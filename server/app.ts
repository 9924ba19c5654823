import express, { type Express, type Request, type RequestHandler, type Response, Router } from 'express';
import cookieParser from 'cookie-parser';
import helmet from 'helmet';
import type { AppContext } from './context.js';
import { ApiError } from './errors.js';
import { authenticateDsn, authenticateReader, checkCsrf } from './http/auth.js';
import { errorHandler, notFoundHandler } from './http/error-handler.js';
import { hasBody, jsonBody, JSON_TYPES } from './http/json-body.js';
import { requestId } from './http/request-id.js';
import type { RouteDef } from './http/route.js';
import './http/types.js';
import { docsRouter } from './routes/docs.js';
import { ROUTES } from './routes/index.js';

export const API_PREFIX = '/api/v1';

/** The Express app for a context; it never listens (tests and main.ts decide that). */
export function createApp(ctx: AppContext, routes: RouteDef[] = ROUTES): Express {
  const app = express();
  app.disable('x-powered-by');
  // JSON answers are small and uncached; screenshots set their own ETag.
  app.set('etag', false);
  app.set('trust proxy', ctx.config.trustProxy);
  app.set('query parser', 'simple');
  app.use(requestId(ctx.logger));
  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: true,
        directives: {
          // The doc pages load only Augur's own assets; ReDoc renders in a blob: worker and inline styles.
          'script-src': ["'self'"],
          'style-src': ["'self'", "'unsafe-inline'"],
          'img-src': ["'self'", 'data:'],
          'font-src': ["'self'", 'data:'],
          'worker-src': ["'self'", 'blob:'],
          'connect-src': ["'self'"],
          'upgrade-insecure-requests': null,
        },
      },
      crossOriginEmbedderPolicy: false,
    }),
  );
  app.use(cookieParser());

  const api = Router();
  for (const def of routes) api[def.method](def.path, ...pipeline(def, ctx));
  api.use(docsRouter(ctx));
  app.use(API_PREFIX, api);
  app.use(notFoundHandler);
  app.use(errorHandler(ctx.logger));
  return app;
}

/** Auth → path parameters → CSRF and impersonation rules → guard → body → route middleware → handler. */
function pipeline(def: RouteDef, ctx: AppContext): RequestHandler[] {
  const steps: RequestHandler[] = [];
  const write = def.method !== 'get';
  steps.push(async (req, _res, next) => {
    if (def.auth === 'dsn') req.auth = await authenticateDsn(req, ctx);
    else if (def.auth === 'reader' || def.auth === 'admin') {
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
    next();
  });
  if (def.params) {
    const params = Object.entries(def.params);
    steps.push((req, _res, next) => {
      for (const [name, ref] of params) {
        const value = req.params[name];
        if (!ctx.validator.get(ref)(value)) {
          if ((def.badParam ?? 404) === 404) throw new ApiError('not_found', 'Not found');
          ctx.validator.assert(ref, value, 'path');
        }
      }
      next();
    });
  }
  if (def.guard) {
    const guard = def.guard;
    steps.push((req, _res, next) => {
      guard(req, ctx);
      next();
    });
  }
  if (def.body) {
    const schema = def.body;
    steps.push(...jsonBody(ctx.config.maxJsonBytes));
    steps.push((req, _res, next) => {
      ctx.validator.assert(schema, req.body, 'body');
      next();
    });
  }
  if (def.before) steps.push(...def.before(ctx));
  steps.push(async (req: Request, res: Response) => {
    await def.handler(req, res, ctx);
  });
  return steps;
}

/** A cookie-borne (browser) write: same-site only, and any body must be JSON. */
function cookieWriteRules(req: Request, ctx: AppContext): void {
  checkCsrf(req, ctx);
  if (hasBody(req) && !req.is(JSON_TYPES)) throw new ApiError('unsupported_media_type', 'Send the body as application/json');
}
