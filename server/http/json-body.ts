import express, { type Request, type RequestHandler } from 'express';
import { ApiError } from '../errors.js';
import { jsonDepth, MAX_JSON_DEPTH } from './validator.js';

export const JSON_TYPES = ['application/json', 'application/*+json'];

export function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/**
 * JSON bodies: only JSON content types (else 415), gzip/deflate accepted with the same limit on
 * the decompressed size (else 413), bounded nesting, and the raw bytes kept for verbatim storage.
 */
export function jsonBody(limit: number): RequestHandler[] {
  const parse = express.json({
    limit,
    type: JSON_TYPES,
    inflate: true,
    verify: (req, _res, buf) => {
      (req as Request).rawBody = buf;
    },
  });
  const guard: RequestHandler = (req, _res, next) => {
    if (hasBody(req) && !req.is(JSON_TYPES)) {
      throw new ApiError('unsupported_media_type', `Send the body as application/json (got ${req.get('content-type') ?? 'no Content-Type'})`);
    }
    next();
  };
  const depth: RequestHandler = (req, _res, next) => {
    if (req.body !== undefined && jsonDepth(req.body) > MAX_JSON_DEPTH) {
      throw new ApiError('validation_failed', `JSON nested deeper than ${MAX_JSON_DEPTH} levels`, {
        errors: [{ loc: ['body'], msg: `nesting deeper than ${MAX_JSON_DEPTH}`, type: 'depth' }],
      });
    }
    next();
  };
  return [guard, parse, depth];
}
