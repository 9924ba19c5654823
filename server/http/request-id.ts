import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from '../logger.js';

const INCOMING_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/** The path of an absolute-form request target (`GET http://host/path`), or '' when it has none. */
function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return '';
  }
}

export interface RequestStartOptions {
  /** Paths under this prefix (the API) get `headers` on every answer. */
  prefix: string;
  headers: ReadonlyArray<readonly [string, string]>;
  /** Called once the request is stamped (the metrics' recorder, see request-metrics.ts). */
  onRequest?: (req: Request, res: Response) => void;
}

/**
 * The first middleware: gives every request an id (the load balancer's, when it sent a sane one)
 * and echoes it, sets the API's static security headers, and logs the request when it ends. One
 * layer for all three: every router hop costs CPU on the ingest hot path.
 */
export function requestStart(logger: Logger, api: RequestStartOptions): RequestHandler {
  const prefix = api.prefix.toLowerCase();
  const headers = api.headers;
  const onRequest = api.onRequest;
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    req.id = incoming && INCOMING_ID.test(incoming) ? incoming : randomUUID();
    req.startedAt = process.hrtime.bigint();
    onRequest?.(req, res);
    res.setHeader('X-Request-Id', req.id);
    // Matched as Express routes (case-insensitively, at a path segment boundary, on the path of
    // an absolute-form target too).
    const url = req.url[0] === '/' ? req.url : pathOf(req.url);
    const after = url[prefix.length];
    if ((after === undefined || after === '/' || after === '?') && url.slice(0, prefix.length).toLowerCase() === prefix) {
      for (const [name, value] of headers) res.setHeader(name, value);
    }
    // Failures are logged by the error handler with their request id; an access line per request
    // costs CPU on the ingest hot path, so it is written only at debug level.
    if (logger.isLevelEnabled('debug')) {
      res.on('finish', () => {
        const ms = Number(process.hrtime.bigint() - req.startedAt) / 1e6;
        logger.debug({ req_id: req.id, method: req.method, url: req.originalUrl, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
      });
    }
    next();
  };
}
