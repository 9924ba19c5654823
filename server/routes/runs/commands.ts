import type { Request } from 'express';
import type { AppContext } from '../../context.js';
import { ApiError } from '../../errors.js';
import { route, RUN_ID, type RouteDef } from '../../http/route.js';
import type { UserAuth } from '../../http/types.js';
import { sendJson } from '../../http/send-json.js';
import { commandView, MAX_COMMANDS_PER_POLL, type CommandType } from '../../services/commands.js';
import { parseCursor } from '../ingest/commands.js';

/** The JSON text of a command's payload is stored in the metadata store: keep it small. */
export const MAX_PAYLOAD_BYTES = 16 * 1024;

/** The run under the active tenant, from the run index; 404 when it does not exist there. */
async function knownRun(req: Request, ctx: AppContext): Promise<{ auth: UserAuth; runId: string }> {
  const auth = req.auth as UserAuth;
  const runId = req.params.run_id as string;
  if (!(await ctx.stores.metadata.getRun(auth.tenant.id, runId))) throw new ApiError('not_found', 'Not found');
  return { auth, runId };
}

/**
 * The operator side of the intervention channel: a signed-in user issues a command to a run of
 * their tenant (read tokens only read; CSRF rules as for every cookie write), and the viewer lists
 * what was issued and by whom.
 */
export const commandRoutes: RouteDef[] = [
  route({
    method: 'post',
    path: '/runs/:run_id/commands',
    auth: 'reader',
    tenantWrite: true,
    params: { run_id: RUN_ID },
    badParam: 422,
    body: 'command-body.schema.json',
    handler: async (req, res, ctx) => {
      const body = req.body as { type: CommandType; payload?: Record<string, unknown> | null };
      const payload = body.payload ?? null;
      if (payload !== null && Buffer.byteLength(JSON.stringify(payload)) > MAX_PAYLOAD_BYTES) {
        throw new ApiError('validation_failed', `payload is larger than ${MAX_PAYLOAD_BYTES} bytes of JSON`, {
          errors: [{ loc: ['body', 'payload'], msg: `at most ${MAX_PAYLOAD_BYTES} bytes of JSON`, type: 'maxLength' }],
        });
      }
      const { auth, runId } = await knownRun(req, ctx);
      const row = await ctx.commands.issue({ tenantId: auth.tenant.id, runId, type: body.type, payload, userId: auth.user.id, email: auth.user.email, now: ctx.now() });
      sendJson(res, commandView(row, true), 201);
    },
  }),
  route({
    method: 'get',
    path: '/runs/:run_id/commands.json',
    auth: 'reader',
    params: { run_id: RUN_ID },
    handler: async (req, res, ctx) => {
      const after = parseCursor(req);
      const { auth, runId } = await knownRun(req, ctx);
      const rows = await ctx.stores.metadata.listRunCommands(auth.tenant.id, runId, after, MAX_COMMANDS_PER_POLL);
      const last = rows.at(-1);
      res.setHeader('Cache-Control', 'private, no-cache');
      sendJson(res, { commands: rows.map((c) => commandView(c, true)), cursor: last ? String(last.seq) : after > 0 ? String(after) : null });
    },
  }),
];
