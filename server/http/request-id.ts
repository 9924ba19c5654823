import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from '../logger.js';

const INCOMING_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/** Gives every request an id (the load balancer's, when it sent a sane one), echoes it, and logs the request when it ends. */
export function requestId(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    req.id = incoming && INCOMING_ID.test(incoming) ? incoming : randomUUID();
    req.startedAt = process.hrtime.bigint();
    res.setHeader('X-Request-Id', req.id);
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
