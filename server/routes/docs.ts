import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { type Request, type RequestHandler, type Response, Router } from 'express';
import swaggerUi from 'swagger-ui-express';
import type { AppContext } from '../context.js';
import { ApiError } from '../errors.js';
import type { Method } from '../http/route.js';
import { pageHeaders } from '../http/security-headers.js';
import { bundleOpenApi, readSchemaFiles } from '../services/openapi-bundle.js';

/** The routes this router answers, as the contract tests compare them with the OpenAPI paths. */
export const DOC_ROUTES: ReadonlyArray<{ method: Method; path: string }> = [
  { method: 'get', path: '/openapi.json' },
  { method: 'get', path: '/docs' },
  { method: 'get', path: '/redoc' },
  { method: 'get', path: '/schema/:name.schema.json' },
];

const require = createRequire(import.meta.url);

// ReDoc's side menu shows a logo fetched from cdn.redoc.ly (the one request it makes to another
// host); pointing it at an empty data: URL makes the image fail, and ReDoc then leaves it out.
const REDOC_LOGO = 'https://cdn.redoc.ly/redoc/logo-mini.svg';

/** The installed `redoc` standalone bundle, without its one reference to another host. */
export function redocBundle(): Buffer {
  const text = readFileSync(require.resolve('redoc/bundles/redoc.standalone.js'), 'utf8');
  return Buffer.from(text.split(REDOC_LOGO).join('data:,'), 'utf8');
}

// Only what the Swagger UI page loads: swagger-ui-dist also ships an index.html and an initializer
// that point at the petstore demo on another host, which must not be reachable through Augur.
const SWAGGER_ASSETS = new Set(
  ['swagger-ui.css', 'swagger-ui-bundle.js', 'swagger-ui-standalone-preset.js', 'favicon-32x32.png', 'favicon-16x16.png'].flatMap((f) =>
    f.endsWith('.png') ? [f] : [f, `${f}.map`],
  ),
);
SWAGGER_ASSETS.add('swagger-ui-init.js');

// Relative URLs, so the pages keep working behind a proxy that mounts Augur under a base path.
// No inline script anywhere: helmet's CSP allows `script-src 'self'` only; ReDoc starts itself
// from the <redoc spec-url> element.
const REDOC_HTML = `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Augur API · ReDoc</title>
  <link rel="icon" href="data:,">
  <style>body { margin: 0; padding: 0; }</style>
</head>
<body>
  <redoc spec-url="openapi.json"></redoc>
  <noscript>This page needs JavaScript. The document itself is at <a href="openapi.json">openapi.json</a>.</noscript>
  <script src="redoc/redoc.standalone.js"></script>
</body>
</html>
`;

const notFound = (req: Request): ApiError => new ApiError('not_found', `No route for ${req.method} ${req.originalUrl.split('?')[0]}`);

/** Pages whose assets are addressed relative to a folder must be reached with (or without) a trailing slash. */
function slash(want: boolean): RequestHandler {
  return (req, res, next) => {
    const url = new URL(req.originalUrl, 'http://augur.invalid');
    const has = url.pathname.endsWith('/');
    if (has === want) return next();
    const name = path.posix.basename(url.pathname);
    res.redirect(301, `${want ? `${name}/` : `../${name}`}${url.search}`);
  };
}

/** What the doc routes serve; the same for every app in the process, so built once, on first use. */
let served: { schemas: ReturnType<typeof readSchemaFiles>; openapi: string; redocJs: ReturnType<typeof redocBundle> } | undefined;
function docAssets(): NonNullable<typeof served> {
  if (!served) {
    const schemas = readSchemaFiles();
    served = { schemas, openapi: JSON.stringify(bundleOpenApi(undefined, schemas)), redocJs: redocBundle() };
  }
  return served;
}

/** OpenAPI document, schema files and the two doc pages; everything built once per process. */
export function docsRouter(ctx: AppContext): Router {
  const router = Router();
  router.use(['/docs', '/redoc'], pageHeaders);
  const { schemas, openapi, redocJs } = docAssets();
  const schemaName = ctx.validator.get('params.schema.json#/$defs/schema_name');

  router.get('/openapi.json', (_req, res) => {
    res.type('application/json').send(openapi);
  });

  router.get('/schema/:name.schema.json', (req, res) => {
    const name = req.params.name;
    const bytes = schemaName(name) ? schemas.get(`${name}.schema.json`) : undefined;
    if (!bytes) throw new ApiError('not_found', `No schema named ${JSON.stringify(name)}`);
    res.type('application/json').send(bytes);
  });

  // Swagger UI: the page at docs/ loads its assets and its init script (not inline) from beside it.
  const swaggerAssets = swaggerUi.serveFiles(undefined, {
    swaggerUrl: '../openapi.json',
    swaggerOptions: {
      url: '../openapi.json',
      // The default validator badge is an image from validator.swagger.io: no other host.
      validatorUrl: null,
    },
  });
  router.get('/docs', slash(true), swaggerUi.setup(undefined, { customSiteTitle: 'Augur API · Swagger UI' }));
  router.use('/docs', (req: Request, _res: Response, next) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !SWAGGER_ASSETS.has(req.path.slice(1))) throw notFound(req);
    next();
  });
  router.use('/docs', ...swaggerAssets);

  router.get('/redoc', slash(false), (_req, res) => {
    res.type('html').send(REDOC_HTML);
  });
  router.get('/redoc/redoc.standalone.js', (_req, res) => {
    res.type('text/javascript').set('Cache-Control', 'public, max-age=3600').send(redocJs);
  });

  return router;
}
