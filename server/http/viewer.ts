import { readFileSync } from 'node:fs';
import path from 'node:path';
import express, { type RequestHandler, Router } from 'express';
import helmet from 'helmet';
import type { Config } from '../config.js';
import { ROOT } from '../paths.js';

/** Where `npm run build` puts the viewer (vite build of viewer/). */
export const VIEWER_DIR = path.join(ROOT, 'dist', 'viewer');

/** Hashed assets never change under their name: a year, immutable. */
const ASSET_MAX_AGE_S = 365 * 24 * 3600;

const NOT_BUILT = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Augur</title></head>
<body><h1>Augur</h1><p>The viewer is not built. Run <code>npm run build</code> (or <code>npm start</code>), then reload.</p>
<p>The API is at <a href="api/v1/docs/">/api/v1/docs/</a>.</p></body></html>
`;

/**
 * The viewer's CSP: its own scripts and styles only, no inline script; images from Augur itself,
 * data: URLs (images inside model I/O records) and blob:, plus the S3 endpoint that presigned
 * screenshot redirects point at when screenshots are read that way.
 */
export function viewerHeaders(config: Config): RequestHandler {
  const img = ["'self'", 'data:', 'blob:'];
  if (config.screenshotReads === 'presign' && config.s3) {
    const endpoint = config.s3.publicEndpoint ?? config.s3.endpoint;
    if (endpoint) img.push(new URL(endpoint).origin);
    else img.push('https://*.amazonaws.com');
  }
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'self'"],
        'script-src': ["'self'"],
        'style-src': ["'self'"],
        'img-src': img,
        'font-src': ["'self'"],
        'connect-src': ["'self'"],
        'object-src': ["'none'"],
        'base-uri': ["'self'"],
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
      },
    },
    crossOriginEmbedderPolicy: false,
  });
}

/**
 * The single-page viewer at `/`: hashed assets with long caching, index.html uncached, and every
 * other GET outside the API answered with index.html so deep links (`/runs/<id>/steps/3`) load
 * the app, which routes on the client. API paths are never touched: their 404s stay JSON.
 */
export function viewerRouter(config: Config, apiPrefix: string, dir = VIEWER_DIR): Router {
  const router = Router();
  const headers = viewerHeaders(config);
  // Read once per process, like the doc pages' assets: a rebuild takes effect at the next start.
  let index: Buffer | undefined;
  const indexHtml = (): Buffer | undefined => {
    if (index) return index;
    try {
      index = readFileSync(path.join(dir, 'index.html'));
    } catch {
      return undefined; // not built (yet): look again on the next request
    }
    return index;
  };
  const underApi = (p: string): boolean => {
    const lower = p.toLowerCase();
    return lower === apiPrefix || lower.startsWith(`${apiPrefix}/`);
  };

  router.use(
    '/assets',
    express.static(path.join(dir, 'assets'), {
      immutable: true,
      maxAge: ASSET_MAX_AGE_S * 1000,
      index: false,
      setHeaders: (res) => res.setHeader('X-Content-Type-Options', 'nosniff'),
    }),
  );

  router.use((req, res, next) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || underApi(req.path)) return next();
    // A missing file-like path (favicon.ico, a stale asset) is a plain 404, not the app.
    if (req.path.startsWith('/assets/') || (/\.[A-Za-z0-9]{1,8}$/.test(req.path) && !req.path.startsWith('/runs/'))) return next();
    headers(req, res, () => {
      const html = indexHtml();
      res.setHeader('Cache-Control', 'no-cache');
      res.status(html ? 200 : 503).type('html').send(html ?? NOT_BUILT);
    });
  });
  return router;
}
