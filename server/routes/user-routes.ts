import type { RouteDef } from '../http/route.js';
import { adminRoutes } from './admin/index.js';
import { authRoutes } from './auth/index.js';
import { connectionRoutes } from './connections.js';
import { bundleFileRoutes } from './runs/bundle-files.js';
import { commandRoutes } from './runs/commands.js';
import { runRoutes } from './runs/index.js';
import { tenantRoutes } from './tenant/dsns.js';

/**
 * The routes people and coding agents call (signed in, or with a read token): sessions and tokens,
 * run reads and commands, connections, DSNs, admin. The bundle-file reads come before the run
 * reads: `events/reasoning.jsonl` must match before the generic `events/{name}.jsonl`, which would
 * answer 404 for it.
 */
export const userRoutes: RouteDef[] = [...authRoutes, ...bundleFileRoutes, ...commandRoutes, ...runRoutes, ...connectionRoutes, ...tenantRoutes, ...adminRoutes];
