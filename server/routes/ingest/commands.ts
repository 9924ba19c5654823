import type { Request } from 'express';
import { ApiError } from '../../errors.js';
import { route, RUN_ID } from '../../http/route.js';
import { sendJson } from '../../http/send-json.js';
import { commandView, REFUSED_POLL_PAUSE_MS } from '../../services/commands.js';
import { runTarget } from '../../services/ingest.js';

/** A cursor is a command's position in its run: 1 to 15 digits. */
export const CURSOR_RE = /^[0-9]{1,15}$/;
/** The longest `wait` a client may ask for, in seconds (the server's hold caps it further). */
export const MAX_WAIT_S = 120;

function queryError(name: string, msg: string, type: string): ApiError {
  return new ApiError('validation_failed', `Invalid request query: ${name}: ${msg}`, { errors: [{ loc: ['query', name], msg, type }] });
}

function single(req: Request, name: string): string | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw queryError(name, 'give the parameter once', 'type');
  return v;
}

/** `?cursor=`: commands after this position (absent or empty: from the first). */
export function parseCursor(req: Request): number {
  const raw = single(req, 'cursor');
  if (raw === undefined || raw === '') return 0;
  if (!CURSOR_RE.test(raw)) throw queryError('cursor', 'must be the cursor of an earlier answer (1 to 15 digits)', 'pattern');
  return Number(raw);
}

/** `?wait=`: seconds the client is willing to wait (0 answers at once); never longer than the server's hold. */
function parseWait(req: Request, holdMs: number): number {
  const raw = single(req, 'wait');
  if (raw === undefined) return holdMs;
  if (!/^[0-9]{1,3}$/.test(raw) || Number(raw) > MAX_WAIT_S) throw queryError('wait', `must be an integer from 0 to ${MAX_WAIT_S} (seconds)`, 'maximum');
  return Math.min(holdMs, Number(raw) * 1000);
}

/**
 * GET /runs/{run_id}/commands: the SDK's intervention long-poll. Answers at once when the run has
 * commands after the cursor, else holds until one is issued (on any replica) or the hold ends.
 * Delivery is at-least-once: the cursor moves only when the client sends the new one back. A run
 * the server has never heard of simply has no commands. The poll neither creates the run nor
 * counts as a heartbeat (the SDK heartbeats on its own). A refused poll (401/403) is answered
 * after a pause, as the SDK retries at once.
 */
export const commandPollRoutes = [
  route({
    method: 'get',
    path: '/runs/:run_id/commands',
    auth: 'dsn',
    longPoll: true,
    params: { run_id: RUN_ID },
    badParam: 422,
    // SDK 0.1.14 polls again at once after any refusal: a revoked key would spin without this.
    refusalPauseMs: REFUSED_POLL_PAUSE_MS,
    handler: async (req, res, ctx) => {
      const target = runTarget(req);
      const after = parseCursor(req);
      const hold = parseWait(req, ctx.commands.opts.holdMs);
      const gone = new AbortController();
      res.once('close', () => gone.abort());
      const rows = await ctx.commands.poll(target.auth.tenant.id, target.runId, after, hold, gone.signal);
      if (gone.signal.aborted) return; // the client went away: nobody to answer
      res.setHeader('Cache-Control', 'no-store');
      const last = rows.at(-1);
      sendJson(res, { commands: rows.map((c) => commandView(c)), cursor: last ? String(last.seq) : after > 0 ? String(after) : null });
    },
  }),
];
