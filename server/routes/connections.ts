import { route } from '../http/route.js';
import type { UserAuth } from '../http/types.js';
import { RUN_ID_RE, UUID_RE } from '../services/bundle.js';
import type { ClientPresence } from '../../storage/presence/index.js';


/** Presence fields are strings; last_event was stored as JSON text when it was not a string. */
function parseLastEvent(v: string | undefined): unknown {
  if (v === undefined || v === '') return null;
  try {
    const parsed = JSON.parse(v) as unknown;
    return parsed === '' ? null : parsed;
  } catch {
    return v;
  }
}

/** Empty strings (an SDK sends client_version "" when it has none) are shown as null, like absent fields. */
export function connectionView(c: ClientPresence) {
  const f = c.fields;
  const str = (k: string): string | null => (typeof f[k] === 'string' && f[k] !== '' ? f[k]! : null);
  const runId = str('run_id');
  const dsnId = str('dsn_id');
  return {
    client_id: c.client_id,
    client_name: str('client_name'),
    client_version: str('client_version'),
    capture_mode: str('capture_mode'),
    run_id: runId && RUN_ID_RE.test(runId) ? runId : null,
    last_event: parseLastEvent(f.last_event),
    last_seen: new Date(c.last_seen).toISOString(),
    dsn_id: dsnId && UUID_RE.test(dsnId) ? dsnId : null,
  };
}

export const connectionRoutes = [
  route({
    method: 'get',
    path: '/connections',
    auth: 'reader',
    handler: async (req, res, ctx) => {
      const clients = await ctx.stores.presence.listClients((req.auth as UserAuth).tenant.id, ctx.now());
      res.setHeader('Cache-Control', 'private, no-store');
      res.json({ connections: clients.map(connectionView) });
    },
  }),
];
