import type { Request } from 'express';
import { route, RUN_ID } from '../../http/route.js';
import { BundleKeys, type SideEffectStatus } from '../../services/bundle.js';
import { idempotencyKey, ingestRunWrite, jsonLine, present, relative, runIdMismatch, runTarget, verbatimJson } from '../../services/ingest.js';
import { sendJson } from '../../http/send-json.js';

/**
 * The SDK's ledger calls: side effects, reasoning, outcomes and eval candidates. Each entry is its
 * own object (see services/sdk-records.ts for how the readable files are put together again), so
 * posts arriving out of order or from several replicas at once never lose one another. Bodies are
 * stored verbatim; the schemas check only what becomes a key.
 */
export const sdkRecordRoutes = [
  route({
    method: 'post',
    path: '/runs/:run_id/side-effects',
    auth: 'dsn',
    params: { run_id: RUN_ID },
    badParam: 422,
    body: 'side-effect.schema.json',
    handler: async (req, res, ctx) => {
      const target = runTarget(req);
      const body = req.body as { side_effect_id: string; step_index: number; status: SideEffectStatus };
      const name = BundleKeys.sideEffectName(body.step_index, body.side_effect_id);
      // One object per state: the read picks the latest (intent_only → aborted → committed).
      const key = target.keys.sideEffectState(name, body.status);
      await ingestRunWrite(ctx, req, target, `side_effect:${body.status}`, () =>
        ctx.stores.objects.put(key, verbatimJson(req), { contentType: 'application/json' }),
      );
      sendJson(res, { ok: true, run_id: target.runId, file: `side_effects/${name}.json` });
    },
  }),
  route({
    method: 'post',
    path: '/runs/:run_id/reasoning',
    auth: 'dsn',
    params: { run_id: RUN_ID },
    badParam: 422,
    body: 'reasoning.schema.json',
    handler: async (req, res, ctx) => {
      const target = runTarget(req);
      const idem = idempotencyKey(req);
      const key = target.keys.reasoning;
      const r = await ingestRunWrite(ctx, req, target, 'reasoning', () =>
        ctx.appends.append(key, recordLine(req), null, 'application/x-ndjson', idem),
      );
      sendJson(res, { ok: true, run_id: target.runId, file: relative(target.keys, key), appended: 1, ...(r.repeat ? { repeat: true } : {}) });
    },
  }),
  route({
    method: 'post',
    path: '/runs/:run_id/outcomes',
    auth: 'dsn',
    params: { run_id: RUN_ID },
    badParam: 422,
    body: 'outcome.schema.json',
    handler: async (req, res, ctx) => {
      const target = runTarget(req);
      const body = req.body as { scope: 'session' | 'step'; step_index?: number | null; run_id?: string | null };
      if (present(body.run_id) && body.run_id !== target.runId) throw runIdMismatch(['run_id'], target.runId, body.run_id);
      // One outcome per scope: the session's, and one per step; a repeat replaces it.
      const key = target.keys.outcome(body.scope === 'session' ? 'session' : body.step_index!);
      await ingestRunWrite(ctx, req, target, `outcome:${body.scope}`, () =>
        ctx.stores.objects.put(key, verbatimJson(req), { contentType: 'application/json' }),
      );
      sendJson(res, { ok: true, run_id: target.runId, file: 'outcomes.json' });
    },
  }),
  route({
    method: 'post',
    path: '/runs/:run_id/eval-candidates',
    auth: 'dsn',
    params: { run_id: RUN_ID },
    badParam: 422,
    body: 'eval-candidate.schema.json',
    handler: async (req, res, ctx) => {
      const target = runTarget(req);
      const body = req.body as { step_index: number };
      // Idempotent on step_index: one candidate per step, a repeat replaces it.
      const key = target.keys.evalCandidate(body.step_index);
      await ingestRunWrite(ctx, req, target, 'eval_candidate', () =>
        ctx.stores.objects.put(key, verbatimJson(req), { contentType: 'application/json' }),
      );
      sendJson(res, { ok: true, run_id: target.runId, file: 'eval_candidates.json' });
    },
  }),
];

const NEWLINE = Buffer.from('\n');

/** The record as one line (see jsonLine); a body with a byte-order mark is re-serialised. */
function recordLine(req: Request): Buffer {
  const raw = req.rawBody;
  return Buffer.concat([jsonLine(raw && raw[0] !== 0xef ? raw : undefined, req.body), NEWLINE]);
}
