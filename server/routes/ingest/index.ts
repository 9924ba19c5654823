import type { RouteDef } from '../../http/route.js';
import { commandPollRoutes } from './commands.js';
import { costsRoutes } from './costs.js';
import { eventRoutes } from './events.js';
import { heartbeatRoutes } from './heartbeat.js';
import { judgeDecisionRoutes } from './judge-decisions.js';
import { logRoutes } from './logs.js';
import { manifestRoutes } from './manifest.js';
import { modelioRoutes } from './modelio.js';
import { screenshotRoutes } from './screenshots.js';
import { sdkRecordRoutes } from './sdk-records.js';
import { stepRoutes } from './steps.js';
import { traceRoutes } from './trace.js';

/** The SDK's endpoints (DSN bearer auth). */
export const ingestRoutes: RouteDef[] = [
  ...manifestRoutes,
  ...traceRoutes,
  ...stepRoutes,
  ...judgeDecisionRoutes,
  ...eventRoutes,
  ...screenshotRoutes,
  ...modelioRoutes,
  ...logRoutes,
  ...heartbeatRoutes,
  ...sdkRecordRoutes,
  ...commandPollRoutes,
  ...costsRoutes,
];
