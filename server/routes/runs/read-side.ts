import type { RouteDef } from '../../http/route.js';
import { adminRoutes } from '../admin/index.js';
import { authRoutes } from '../auth/index.js';
import { connectionRoutes } from '../connections.js';
import { tenantRoutes } from '../tenant/dsns.js';
import { runRoutes } from './index.js';

/** Every route of the read side: sessions and tokens, run reads, connections, DSNs, admin. */
export const readSideRoutes: RouteDef[] = [...authRoutes, ...runRoutes, ...connectionRoutes, ...tenantRoutes, ...adminRoutes];
