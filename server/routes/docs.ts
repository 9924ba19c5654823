import { Router } from 'express';
import type { AppContext } from '../context.js';

/** OpenAPI document, schema files and the two doc pages. */
export function docsRouter(_ctx: AppContext): Router {
  return Router();
}
