import { ApiError } from '../../errors.js';
import { route, RUN_ID } from '../../http/route.js';
import { ingestRunWrite, relative, runTarget } from '../../services/ingest.js';
import { decisionKey, parseDecisions, type Decision } from '../../services/judge-decisions.js';
import { withStepLock } from '../../services/step-lock.js';
import { sendJson } from '../../http/send-json.js';

/** Judge decisions kept per step; one more is refused. */
export const MAX_JUDGE_DECISIONS = 1000;

/**
 * POST /runs/{run_id}/steps/{step_index}/judge-decisions: one decision, added to the step's posted
 * decisions (a read-modify-write of one small object under the step's lock; see
 * services/judge-decisions.ts for how reads fold them into the step).
 */
export const judgeDecisionRoutes = [
  route({
    method: 'post',
    path: '/runs/:run_id/steps/:step_index/judge-decisions',
    auth: 'dsn',
    params: { run_id: RUN_ID, step_index: 'params.schema.json#/$defs/step_index' },
    badParam: 422,
    body: 'judge-decision.schema.json',
    handler: async (req, res, ctx) => {
      const target = runTarget(req);
      const index = Number(req.params.step_index);
      const decision = req.body as Decision;
      const key = target.keys.judgeDecisions(index);
      const { objects, appendLedger } = ctx.stores;
      const r = await ingestRunWrite(ctx, req, target, `judge:${index}`, () =>
        withStepLock(appendLedger, key, ctx.now, async () => {
          const held = parseDecisions(await objects.getBuffer(key));
          const k = decisionKey(decision);
          if (held.some((d) => decisionKey(d) === k)) return { count: held.length, repeat: true };
          if (held.length >= MAX_JUDGE_DECISIONS) {
            throw new ApiError('validation_failed', `Step ${index} already holds ${MAX_JUDGE_DECISIONS} judge decisions`, {
              errors: [{ loc: ['body'], msg: `at most ${MAX_JUDGE_DECISIONS} judge decisions per step`, type: 'max_items' }],
            });
          }
          held.push(decision);
          await objects.put(key, JSON.stringify(held), { contentType: 'application/json' });
          return { count: held.length, repeat: false };
        }),
      );
      sendJson(res, {
        ok: true,
        run_id: target.runId,
        file: relative(target.keys, target.keys.step(index)),
        judge_decisions: r.count,
        ...(r.repeat ? { repeat: true } : {}),
      });
    },
  }),
];
