import type { RouteDef } from '../../http/route.js';
import { adminRoutes } from '../admin/index.js';
import { authRoutes } from '../auth/index.js';
import { connectionRoutes } from '../connections.js';
import { tenantRoutes } from '../tenant/dsns.js';
import { bundleFileRoutes } from './bundle-files.js';
import { commandRoutes } from './commands.js';
import { runRoutes } from './index.js';

/**
 * Every route of the read side: sessions and tokens, run reads, connections, DSNs, admin. The
 * bundle-file reads come before the run reads: `events/reasoning.jsonl` must match before the
 * generic `events/{name}.jsonl`, which would answer 404 for it.
 */
export const readSideRoutes: RouteDef[] = [...authRoutes, ...bundleFileRoutes, ...commandRoutes, ...runRoutes, ...connectionRoutes, ...tenantRoutes, ...adminRoutes];
