import { ApiError } from '../../errors.js';
import { route, RUN_ID } from '../../http/route.js';
import type { BundleKeys } from '../../services/bundle.js';
import type { AppContext } from '../../context.js';
import { ingestRunWrite, present, relative, runIdMismatch, runTarget, verbatimJson } from '../../services/ingest.js';
import { stepFacts } from '../../services/run-facts.js';
import { withStepLock } from '../../services/step-lock.js';
import { iterationName, receiptOf, replaces, type Receipt, type StepRank } from '../../services/step-receipts.js';
import { sendJson } from '../../http/send-json.js';

interface Stored {
  file: string;
  /** False when the stored receipt was further along and kept. */
  current: boolean;
  iteration: boolean;
  /** True when this PUT made a step_id known for the first time as an iteration of the step. */
  newIteration: boolean;
}

/** A stored step's receipt, read from its bytes (never parsed: a 16 MiB step took 100–250 ms to parse and rank). */
async function readReceipt(ctx: AppContext, key: string): Promise<{ receipt: Receipt; raw: Buffer } | undefined> {
  const raw = await ctx.stores.objects.getBuffer(key);
  return raw === undefined ? undefined : { receipt: receiptOf(raw), raw };
}

/** Writes `raw` at key unless the receipt stored there is further along. */
async function putIfCurrent(ctx: AppContext, key: string, raw: Buffer, rank: StepRank): Promise<{ current: boolean; existed: boolean }> {
  const stored = await readReceipt(ctx, key);
  if (stored && !replaces(rank, stored.receipt.rank)) return { current: false, existed: true };
  await ctx.stores.objects.put(key, raw, { contentType: 'application/json' });
  return { current: true, existed: stored !== undefined };
}

/**
 * One receipt of step `index`, under the step's lock. The first step_id of an index is its
 * canonical record (steps/NNNN.json); another step_id is an iteration (steps/NNNN/<8 hex>.json).
 * "First" is by started_at when both records have one (PUTs arrive in any order), else by
 * arrival. Within one step_id, step-receipts.ts decides which receipt is current.
 */
async function storeStep(ctx: AppContext, keys: BundleKeys, index: number, raw: Buffer): Promise<Stored> {
  const { rank, stepId, startedAt: mine } = receiptOf(raw);
  const canonicalKey = keys.step(index);
  const canonical = await readReceipt(ctx, canonicalKey);
  const canonicalId = canonical?.receipt.stepId;
  if (!canonical || !stepId || !canonicalId || stepId === canonicalId) {
    const current = !canonical || replaces(rank, canonical.receipt.rank);
    if (current) await ctx.stores.objects.put(canonicalKey, raw, { contentType: 'application/json' });
    return { file: canonicalKey, current, iteration: false, newIteration: false };
  }
  const theirs = canonical.receipt.startedAt;
  if (mine !== undefined && theirs !== undefined && mine < theirs) {
    // This step_id started first: it becomes the canonical record and the stored one an iteration.
    const moved = await putIfCurrent(ctx, keys.stepIteration(index, iterationName(canonicalId)), canonical.raw, canonical.receipt.rank);
    await ctx.stores.objects.put(canonicalKey, raw, { contentType: 'application/json' });
    return { file: canonicalKey, current: true, iteration: false, newIteration: !moved.existed };
  }
  const key = keys.stepIteration(index, iterationName(stepId));
  const r = await putIfCurrent(ctx, key, raw, rank);
  return { file: key, current: r.current, iteration: true, newIteration: !r.existed };
}

/** PUT /runs/{run_id}/steps/{step_index}: one StepTrace receipt, stored verbatim as the step's canonical record or an iteration. */
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
      const { keys } = target;
      const raw = verbatimJson(req);
      const r = await ingestRunWrite(
        ctx,
        req,
        target,
        `step:${index}`,
        () => withStepLock(ctx.stores.appendLedger, keys.step(index), ctx.now, () => storeStep(ctx, keys, index, raw)),
        { step_count: index + 1, ...stepFacts(body, target.runId) },
      );
      // A step_id first seen as an iteration of this index counts once in the run's iteration_count.
      if (r.newIteration) ctx.runIndex.touch({ tenant_id: target.auth.tenant.id, run_id: target.runId, seen_at: ctx.now(), new_iterations: 1 });
      sendJson(res, {
        ok: true,
        run_id: target.runId,
        file: relative(keys, r.file),
        ...(r.iteration ? { iteration: true } : {}),
        ...(r.current ? {} : { current: false }),
      });
    },
  }),
];
