import type { Request } from 'express';
import { route, RUN_ID } from '../../http/route.js';
import { idempotencyKey, ingestRunWrite, jsonLine, present, relative, runTarget } from '../../services/ingest.js';
import { sendJson } from '../../http/send-json.js';

/**
 * POST /runs/{run_id}/events: the request's events become one chunk of JSON lines, appended
 * through the Appender (one immutable chunk object per request, ordered by a shared sequence
 * number), so each request's lines stay together and in order under concurrent appends.
 */
export const eventRoutes = [
  route({
    method: 'post',
    path: '/runs/:run_id/events',
    auth: 'dsn',
    params: { run_id: RUN_ID },
    badParam: 422,
    body: 'events-body.schema.json',
    bodyElements: 'events',
    handler: async (req, res, ctx) => {
      const target = runTarget(req);
      const idem = idempotencyKey(req);
      const body = req.body as { events: unknown[]; step_index?: number | null };
      const step = present(body.step_index) ? body.step_index : undefined;
      const key = target.keys.events(step ?? 'run');
      const lines = eventLines(req, body.events);
      const r = await ingestRunWrite(ctx, req, target, step === undefined ? 'events' : `events:${step}`, () =>
        ctx.appends.append(key, lines, null, 'application/x-ndjson', idem),
      );
      sendJson(res, { ok: true, run_id: target.runId, file: relative(target.keys, key), appended: body.events.length, ...(r.repeat ? { repeat: true } : {}) });
    },
  }),
];

const NEWLINE = Buffer.from('\n');

/** One line per event: its bytes as sent where the body scan located them (see jsonLine). */
function eventLines(req: Request, events: unknown[]): Buffer {
  const raw = req.rawBody;
  const at = raw && req.bodyElements?.length === events.length * 2 ? req.bodyElements : undefined;
  const parts: Buffer[] = [];
  events.forEach((e, i) => parts.push(jsonLine(at && raw!.subarray(at[2 * i], at[2 * i + 1]), e), NEWLINE));
  return Buffer.concat(parts);
}
