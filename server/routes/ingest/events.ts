import type { Request } from 'express';
import { route, RUN_ID } from '../../http/route.js';
import { idempotencyKey, ingestRunWrite, present, relative, runTarget } from '../../services/ingest.js';
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

/**
 * One line per event: its bytes as sent (located by the body scan), or re-serialised when they
 * span lines (whitespace the client put between tokens). Re-serialising 16 MiB of events held the
 * event loop 60–100 ms; slices cost one copy.
 */
function eventLines(req: Request, events: unknown[]): Buffer {
  const raw = req.rawBody;
  const at = req.bodyElements;
  const parts: Buffer[] = [];
  if (!raw || !at || at.length !== events.length * 2) {
    for (const e of events) parts.push(Buffer.from(JSON.stringify(e)), NEWLINE);
    return Buffer.concat(parts);
  }
  events.forEach((e, i) => {
    const slice = raw.subarray(at[2 * i], at[2 * i + 1]);
    parts.push(slice.includes(0x0a) || slice.includes(0x0d) ? Buffer.from(JSON.stringify(e)) : slice, NEWLINE);
  });
  return Buffer.concat(parts);
}
