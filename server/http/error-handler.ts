import type { ErrorRequestHandler, RequestHandler } from 'express';
import { ApiError } from '../errors.js';
import type { Logger } from '../logger.js';
import { BACKEND_RETRY_AFTER_S, classifyBackendError, describeFailure } from '../services/backend-failure.js';
import { ConflictError } from '../../storage/metadata/index.js';
import { TooLargeError } from '../../storage/objects/index.js';

/** Unknown routes: 404 in the error shape. */
export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new ApiError('not_found', `No route for ${req.method} ${req.path}`));
};

/** The one place that turns any error into {"detail", "code"} (plus debug_session_id on 5xx). */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const apiErr = toApiError(err, req.method);
    if (!apiErr) {
      logger.error({ err, req_id: req.id, debug_session_id: req.id, url: req.originalUrl }, 'unhandled error');
    } else if (apiErr.code === 'backend_unavailable') {
      logger.warn({ err, req_id: req.id, debug_session_id: req.id, url: req.originalUrl }, apiErr.message);
    } else if (apiErr.status >= 500) {
      logger.error({ err, req_id: req.id, debug_session_id: req.id }, apiErr.message);
    } else {
      logger.info({ req_id: req.id, method: req.method, url: req.originalUrl, status: apiErr.status, code: apiErr.code }, apiErr.message);
    }
    const e = apiErr ?? new ApiError('internal_error', 'Internal server error');
    if (res.headersSent) {
      // The body is already on its way (a streamed file failing midway): cut the connection.
      res.destroy();
      return;
    }
    for (const [k, v] of Object.entries(e.extra.headers ?? {})) res.setHeader(k, v);
    const body: Record<string, unknown> = { detail: e.message, code: e.code };
    if (e.extra.errors) body.errors = e.extra.errors;
    if (e.status >= 500) body.debug_session_id = req.id;
    res.status(e.status).json(body);
  };
}


function toApiError(err: unknown, method: string): ApiError | undefined {
  if (err instanceof ApiError) return err;
  // A path that is not valid percent-encoding: an invalid read path is a 404, a bad write a 400.
  if (err instanceof URIError) {
    return method === 'GET' || method === 'HEAD' ? new ApiError('not_found', 'Not found') : new ApiError('bad_request', 'Malformed percent-encoding in the URL');
  }
  if (err instanceof ConflictError) return new ApiError('conflict', 'Already exists');
  if (err instanceof TooLargeError) return new ApiError('payload_too_large', `Upload larger than ${err.limit} bytes`);
  // A store that is down or did not answer in time: the request was fine, retrying it will do.
  const failure = classifyBackendError(err);
  if (failure) return new ApiError('backend_unavailable', describeFailure(failure), { headers: { 'Retry-After': String(BACKEND_RETRY_AFTER_S) } });
  const e = err as { status?: number; expose?: boolean; message?: string };
  // Other client errors raised by Express's own stack (a bad URI encoding, say).
  if (e?.expose && e.status && e.status >= 400 && e.status < 500) {
    return new ApiError(e.status === 404 ? 'not_found' : 'bad_request', e.message ?? 'Bad request');
  }
  return undefined;
}
