import type { RequestHandler } from 'express';
import { match, type MatchFunction } from 'path-to-regexp';

export interface ShortcutRoute {
  method: string;
  /** Express path under the prefix, e.g. /runs/:run_id/steps/:step_index. */
  path: string;
  handler: RequestHandler;
}

/** The router's parameter decoding: a malformed escape is a URIError with status 400. */
function decodeParam(value: string): string {
  if (value.length === 0 || !value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch (err) {
    if (err instanceof URIError) Object.assign(err, { status: 400, statusCode: 400, message: `Failed to decode param '${value}'` });
    throw err;
  }
}

/**
 * A dispatch shortcut for the ingest routes, the SDK's hot path: one middleware matches method and
 * path against those few routes directly, where Express's router walks its layer stack, mounts the
 * API router and trims its prefix on every request (about a tenth of a warm step PUT's CPU).
 * Matching follows the router's rules (case-insensitive, an optional trailing slash, parameters
 * percent-decoded, a malformed escape a 400). Anything it does not match goes on to the router,
 * which holds the same routes too, so OPTIONS, HEAD and 404 answers stay exactly the router's.
 */
export function routeShortcut(prefix: string, routes: ShortcutRoute[]): RequestHandler {
  const lowerPrefix = prefix.toLowerCase();
  const table = routes.map((r) => ({
    method: r.method.toUpperCase(),
    match: match(r.path, { sensitive: false, end: true, trailing: true, decode: decodeParam }) as MatchFunction<Record<string, string>>,
    handler: r.handler,
  }));
  return (req, res, next) => {
    const url = req.url;
    // A raw '#' (which parseurl cuts at) and absolute-form targets are left to the router.
    if (url.includes('#')) return next();
    if (url.length <= prefix.length || url[prefix.length] !== '/' || url.slice(0, prefix.length).toLowerCase() !== lowerPrefix) return next();
    const q = url.indexOf('?');
    const path = url.slice(prefix.length, q < 0 ? undefined : q);
    for (const r of table) {
      if (r.method !== req.method) continue;
      const m = r.match(path);
      if (!m) continue;
      req.params = m.params;
      // Express 5 semantics: a rejected handler goes to the error handler (never next() alone,
      // which would let the router run the route a second time).
      Promise.resolve(r.handler(req, res, next)).catch((err: unknown) => next(err ?? new Error('Rejected promise')));
      return;
    }
    next();
  };
}
