import { route, RUN_ID } from '../../http/route.js';
import { ingestRunWrite, present, relative, runIdMismatch, runTarget, verbatimJson } from '../../services/ingest.js';
import { traceFacts } from '../../services/run-facts.js';
import { sendJson } from '../../http/send-json.js';

interface TraceBody {
  run_id?: string | null;
  steps: Array<{ step_index: number; run_id?: string | null }>;
}

/**
 * PUT /runs/{run_id}/trace: the whole session, stored verbatim; the index learns the step count and
 * what the session says (status, client, capture mode, tags, costs, times, group links: run-facts.ts).
 */
export const traceRoutes = [
  route({
    method: 'put',
    path: '/runs/:run_id/trace',
    auth: 'dsn',
    params: { run_id: RUN_ID },
    badParam: 422,
    body: 'trace.schema.json',
    handler: async (req, res, ctx) => {
      const target = runTarget(req);
      const body = req.body as TraceBody;
      if (present(body.run_id) && body.run_id !== target.runId) throw runIdMismatch(['run_id'], target.runId, body.run_id);
      body.steps.forEach((s, i) => {
        if (present(s.run_id) && s.run_id !== target.runId) throw runIdMismatch(['steps', i, 'run_id'], target.runId, s.run_id);
      });
      const stepCount = body.steps.reduce((m, s) => Math.max(m, s.step_index + 1), 0);
      const { keys } = target;
      await ingestRunWrite(
        ctx,
        req,
        target,
        'trace',
        () => ctx.stores.objects.put(keys.trace, verbatimJson(req), { contentType: 'application/json' }),
        { ...(stepCount > 0 ? { step_count: stepCount } : {}), ...traceFacts(body as unknown as Record<string, unknown>, target.runId) },
      );
      sendJson(res, { ok: true, run_id: target.runId, file: relative(keys, keys.trace) });
    },
  }),
];
