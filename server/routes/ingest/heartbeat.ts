import { route } from '../../http/route.js';
import { dsnCaller, HEARTBEAT_WAIT_MS, present, stampHeartbeat, stampWithin } from '../../services/ingest.js';
import { sendJson } from '../../http/send-json.js';

export interface HeartbeatBody {
  client_id: string;
  client_name?: string | null;
  client_version?: string | null;
  capture_mode?: string | null;
  run_id?: string | null;
  last_event?: unknown;
}

/** The SDK's opening heartbeat, sent before its session knows the real capture mode. */
export const SESSION_OPENED = 'session_opened';

/** What a heartbeat writes into presence: empty strings are "not reported", never a value. */
export function heartbeatFields(b: HeartbeatBody, dsnId: string): { fields: Record<string, string>; fieldsIfAbsent: Record<string, string> } {
  const fields: Record<string, string> = { dsn_id: dsnId };
  const fieldsIfAbsent: Record<string, string> = {};
  for (const k of ['client_name', 'client_version', 'capture_mode', 'run_id'] as const) {
    const v = b[k];
    if (present(v) && v !== '') fields[k] = v;
  }
  if (present(b.last_event) && b.last_event !== '') fields.last_event = JSON.stringify(b.last_event);
  // The opening heartbeat's capture_mode ("off") is a placeholder: it fills an empty entry but
  // never replaces a mode the client already reported, whichever of the two arrives first.
  if (b.last_event === SESSION_OPENED && fields.capture_mode !== undefined) {
    fieldsIfAbsent.capture_mode = fields.capture_mode;
    delete fields.capture_mode;
  }
  return { fields, fieldsIfAbsent };
}

/**
 * POST /heartbeat: the client's fields into presence (60 s TTL), and this client id becomes the one
 * the key's other ingest calls count for. Best effort like every stamp: a presence hiccup is logged,
 * and the answer waits for the stamp at most HEARTBEAT_WAIT_MS.
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
      const { fields, fieldsIfAbsent } = heartbeatFields(b, auth.dsn.id);
      const stamp = stampHeartbeat(ctx, req, auth, b.client_id, true, fields, fieldsIfAbsent);
      const clientId = await stampWithin(stamp, Math.min(HEARTBEAT_WAIT_MS, ctx.config.backendTimeoutMs));
      if (present(b.run_id)) {
        const now = ctx.now();
        // Only a run that exists gets its last heartbeat: naming a run does not create it.
        ctx.runIndex.touch({ tenant_id: auth.tenant.id, run_id: b.run_id, seen_at: now, heartbeat_at: now, create: false });
      }
      sendJson(res, { ok: true, client_id: clientId ?? b.client_id, ...(present(b.run_id) ? { run_id: b.run_id } : {}) });
    },
  }),
];
