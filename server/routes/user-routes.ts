import type { RouteDef } from '../http/route.js';
import { adminRoutes } from './admin/index.js';
import { authRoutes } from './auth/index.js';
import { connectionRoutes } from './connections.js';
import { runRoutes } from './runs/index.js';
import { tenantRoutes } from './tenant/dsns.js';

/** The routes people and coding agents call (signed in, or with a read token): sessions and tokens, run reads, connections, DSNs, admin. */
export const userRoutes: RouteDef[] = [...authRoutes, ...runRoutes, ...connectionRoutes, ...tenantRoutes, ...adminRoutes];
