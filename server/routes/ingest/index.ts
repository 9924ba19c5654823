import type { RouteDef } from '../../http/route.js';
import { costsRoutes } from './costs.js';
import { eventRoutes } from './events.js';
import { heartbeatRoutes } from './heartbeat.js';
import { logRoutes } from './logs.js';
import { manifestRoutes } from './manifest.js';
import { modelioRoutes } from './modelio.js';
import { screenshotRoutes } from './screenshots.js';
import { stepRoutes } from './steps.js';
import { traceRoutes } from './trace.js';

/** The SDK ingest endpoints (DSN bearer auth). */
export const ingestRoutes: RouteDef[] = [
  ...manifestRoutes,
  ...traceRoutes,
  ...stepRoutes,
  ...eventRoutes,
  ...screenshotRoutes,
  ...modelioRoutes,
  ...logRoutes,
  ...heartbeatRoutes,
  ...costsRoutes,
];
