import type { Dsn, Tenant, User } from '../../storage/metadata/index.js';
import type { RouteSeries } from '../services/metrics.js';

export interface DsnAuth {
  kind: 'dsn';
  dsn: Dsn;
  tenant: Tenant;
}

export interface UserAuth {
  kind: 'user';
  via: 'cookie' | 'token';
  user: User;
  /** The tenant reads are scoped to: the home tenant, or an admin's override. */
  tenant: Tenant;
  homeTenant: Tenant;
  impersonating: boolean;
  sessionHash?: string;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      id: string;
      startedAt: bigint;
      /** The JSON body's bytes as received (after decompression), stored verbatim where possible. */
      rawBody?: Buffer;
      /** With the route's `bodyElements`: [start, end) offsets in rawBody of each object element of that top-level array. */
      bodyElements?: number[];
      auth?: DsnAuth | UserAuth;
      /** The served route's metric series (set by the route pipeline; see request-metrics.ts). */
      metricsRoute?: RouteSeries;
      /** The socket's bytesWritten when the request arrived, so its response's bytes can be told apart. */
      bytesOutAtStart: number;
    }
  }
}

export {};
