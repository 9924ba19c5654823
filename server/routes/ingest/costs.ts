import { route, RUN_ID } from '../../http/route.js';
import { ingestRunWrite, relative, runTarget, verbatimJson } from '../../services/ingest.js';
import { costs } from '../../services/run-facts.js';
import { sendJson } from '../../http/send-json.js';

/**
 * PUT /runs/{run_id}/costs: the session's cumulative costs (SDK 0.3.1+ sends them on every
 * `set_costs`), the body being the session's `costs` object. Cumulative, so the latest PUT wins
 * whole: it is stored verbatim as costs.json and replaces the run's costs in the list.
 */
export const costsRoutes = [
  route({
    method: 'put',
    path: '/runs/:run_id/costs',
    auth: 'dsn',
    params: { run_id: RUN_ID },
    badParam: 422,
    body: 'costs-body.schema.json',
    handler: async (req, res, ctx) => {
      const target = runTarget(req);
      const { keys } = target;
      await ingestRunWrite(
        ctx,
        req,
        target,
        'costs',
        () => ctx.stores.objects.put(keys.costs, verbatimJson(req), { contentType: 'application/json' }),
        // Costs without a number the index keeps (only unknown fields) still replace the old ones.
        { costs: costs(req.body) ?? {} },
      );
      sendJson(res, { ok: true, run_id: target.runId, file: relative(keys, keys.costs) });
    },
  }),
];
