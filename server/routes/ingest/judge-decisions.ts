import { ApiError } from '../../errors.js';
import { route, RUN_ID } from '../../http/route.js';
import { ingestRunWrite, relative, runTarget, verbatimJson } from '../../services/ingest.js';
import { decisionKey, parseDecisions, type Decision } from '../../services/judge-decisions.js';
import { withStepLock } from '../../services/step-lock.js';
import { sendJson } from '../../http/send-json.js';

/** Judge decisions kept per step; one more is refused. */
export const MAX_JUDGE_DECISIONS = 1000;
/**
 * Bytes of judge decisions kept per step (SDK decisions are ~200 bytes). Each post reads and
 * rewrites the step's whole list: unbounded, ten 16 MiB decisions made the next post parse and
 * write 160 MiB.
 */
export const MAX_JUDGE_DECISION_BYTES = 1_048_576;

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
          const stored = await objects.getBuffer(key);
          const held = parseDecisions(stored);
          const k = decisionKey(decision);
          if (held.some((d) => decisionKey(d) === k)) return { count: held.length, repeat: true };
          if (held.length >= MAX_JUDGE_DECISIONS) {
            throw new ApiError('validation_failed', `Step ${index} already holds ${MAX_JUDGE_DECISIONS} judge decisions`, {
              errors: [{ loc: ['body'], msg: `at most ${MAX_JUDGE_DECISIONS} judge decisions per step`, type: 'max_items' }],
            });
          }
          const size = (stored?.length ?? 2) + verbatimJson(req).length + 1;
          if (size > MAX_JUDGE_DECISION_BYTES) {
            throw new ApiError('validation_failed', `Step ${index}'s judge decisions would take ${size} bytes with this one (at most ${MAX_JUDGE_DECISION_BYTES} per step)`, {
              errors: [{ loc: ['body'], msg: `at most ${MAX_JUDGE_DECISION_BYTES} bytes of judge decisions per step`, type: 'max_bytes' }],
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
