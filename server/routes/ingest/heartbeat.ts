import { route } from '../../http/route.js';
import { dsnCaller, present, stampHeartbeat } from '../../services/ingest.js';
import { sendJson } from '../../http/send-json.js';

interface HeartbeatBody {
  client_id: string;
  client_name?: string | null;
  client_version?: string | null;
  capture_mode?: string | null;
  run_id?: string | null;
  last_event?: unknown;
}

/**
 * POST /heartbeat: the client's fields into presence (60 s TTL), and this client id becomes the one
 * the key's other ingest calls count for. Best effort like every stamp: a presence hiccup is logged.
 */
export const heartbeatRoutes = [
  route({
    method: 'post',
    path: '/heartbeat',
    auth: 'dsn',
    body: 'heartbeat-body.schema.json',
    handler: async (req, res, ctx) => {
      const auth = dsnCaller(req);
      const b = req.body as HeartbeatBody;
      const fields: Record<string, string> = { dsn_id: auth.dsn.id };
      for (const k of ['client_name', 'client_version', 'capture_mode', 'run_id'] as const) {
        const v = b[k];
        if (present(v)) fields[k] = v;
      }
      if (present(b.last_event)) fields.last_event = JSON.stringify(b.last_event);
      const clientId = await stampHeartbeat(ctx, req, auth, b.client_id, true, fields);
      if (present(b.run_id)) {
        const now = ctx.now();
        // Only a run that exists gets its last heartbeat: naming a run does not create it.
        ctx.runIndex.touch({ tenant_id: auth.tenant.id, run_id: b.run_id, seen_at: now, heartbeat_at: now, create: false });
      }
      sendJson(res, { ok: true, client_id: clientId ?? b.client_id, ...(present(b.run_id) ? { run_id: b.run_id } : {}) });
    },
  }),
];
