import type { Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';

/**
 * The headers a helmet middleware sets, captured once at start-up. API answers carry the same
 * static set on every response; setting them from a list is one loop where helmet runs a closure
 * per header (measurable on the ingest hot path).
 */
export function capturedHeaders(mw: RequestHandler): ReadonlyArray<readonly [string, string]> {
  const headers: Array<[string, string]> = [];
  const res = {
    setHeader(name: string, value: unknown) {
      headers.push([name, String(value)]);
      return res;
    },
    removeHeader() {},
  };
  let called = false;
  mw({} as Request, res as unknown as Response, () => (called = true));
  if (!called) throw new Error('security headers: the helmet middleware did not complete synchronously');
  return headers;
}

/** API answers (JSON, images): the few security headers that matter there. */
export const API_HEADERS = capturedHeaders(
  helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { 'default-src': ["'none'"], 'frame-ancestors': ["'none'"] } },
    crossOriginEmbedderPolicy: false,
    crossOriginOpenerPolicy: false,
    originAgentCluster: false,
    xDnsPrefetchControl: false,
    xDownloadOptions: false,
    xFrameOptions: false,
    xPermittedCrossDomainPolicies: false,
    xXssProtection: false,
  }),
);

/** Headers for the HTML doc pages: Augur's own assets only; ReDoc renders in a blob: worker with inline styles. */
export const pageHeaders = helmet({
  contentSecurityPolicy: {
    useDefaults: true,
    directives: {
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
});
