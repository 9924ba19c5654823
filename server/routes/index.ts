import type { RouteDef } from '../http/route.js';
import { healthRoutes } from './health.js';
import { ingestRoutes } from './ingest/index.js';
import { metricsRoutes } from './metrics.js';
import { userRoutes } from './user-routes.js';

/** Every API route; the contract tests compare this table with the OpenAPI document. */
export const ROUTES: RouteDef[] = [...healthRoutes, ...metricsRoutes, ...ingestRoutes, ...userRoutes];
