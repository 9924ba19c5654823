import { ApiError } from '../../errors.js';
import { route, RUN_ID } from '../../http/route.js';
import { ingestRunWrite, present, relative, runIdMismatch, runTarget, verbatimJson } from '../../services/ingest.js';
import { stepFacts } from '../../services/run-facts.js';
import { sendJson } from '../../http/send-json.js';

/** PUT /runs/{run_id}/steps/{step_index}: one StepTrace, stored verbatim at steps/NNNN.json. */
export const stepRoutes = [
  route({
    method: 'put',
    path: '/runs/:run_id/steps/:step_index',
    auth: 'dsn',
    params: { run_id: RUN_ID, step_index: 'params.schema.json#/$defs/step_index' },
    badParam: 422,
    body: 'step.schema.json',
    handler: async (req, res, ctx) => {
      const target = runTarget(req);
      const index = Number(req.params.step_index);
      const body = req.body as { step_index: number; run_id?: string | null };
      if (body.step_index !== index) {
        throw new ApiError('validation_failed', `step_index is ${body.step_index} but the URL names step ${index}`, {
          errors: [{ loc: ['body', 'step_index'], msg: `must equal the step index in the URL (${index})`, type: 'const' }],
        });
      }
      if (present(body.run_id) && body.run_id !== target.runId) throw runIdMismatch(['run_id'], target.runId, body.run_id);
      const key = target.keys.step(index);
      await ingestRunWrite(
        ctx,
        req,
        target,
        `step:${index}`,
        () => ctx.stores.objects.put(key, verbatimJson(req), { contentType: 'application/json' }),
        { step_count: index + 1, ...stepFacts(body, target.runId) },
      );
      sendJson(res, { ok: true, run_id: target.runId, file: relative(target.keys, key) });
    },
  }),
];
