import { route, RUN_ID } from '../../http/route.js';
import { idempotencyKey, ingestRunWrite, present, relative, runTarget } from '../../services/ingest.js';
import { sendJson } from '../../http/send-json.js';

/** A log file never grows past 1 MiB; the append that crosses the bound is cut at a UTF-8 boundary. */
export const MAX_LOG_BYTES = 1_048_576;

/** POST /runs/{run_id}/logs: text appended to logs/step-<i>.log, logs/<name>.log or logs/run.log. */
export const logRoutes = [
  route({
    method: 'post',
    path: '/runs/:run_id/logs',
    auth: 'dsn',
    params: { run_id: RUN_ID },
    badParam: 422,
    body: 'logs-body.schema.json',
    handler: async (req, res, ctx) => {
      const target = runTarget(req);
      const idem = idempotencyKey(req);
      const body = req.body as { text: string; name?: string | null; step_index?: number | null };
      // step_index wins over name; neither → run.log.
      const name = present(body.step_index) ? `step-${body.step_index}` : present(body.name) ? body.name : 'run';
      const key = target.keys.log(name);
      const r = await ingestRunWrite(ctx, req, target, 'log', () =>
        ctx.appends.append(key, logBytes(body.text), MAX_LOG_BYTES, 'text/plain; charset=utf-8', idem),
      );
      sendJson(res, { ok: true, run_id: target.runId, file: relative(target.keys, key), bytes_written: r.stored, truncated: r.truncated, ...(r.repeat ? { repeat: true } : {}) });
    },
  }),
];

/**
 * The text's UTF-8 bytes, or enough of them to fill a log and show it was cut: a text of more than
 * MAX_LOG_BYTES characters has more than MAX_LOG_BYTES bytes, so its first MAX_LOG_BYTES + 1
 * characters cross the bound just as the whole would (encoding 16 MiB of text to keep 1 MiB held
 * the event loop 20–55 ms). A character split at the slice's end lies past the bound, never stored.
 */
function logBytes(text: string): Buffer {
  return Buffer.from(text.length > MAX_LOG_BYTES ? text.slice(0, MAX_LOG_BYTES + 1) : text, 'utf8');
}
