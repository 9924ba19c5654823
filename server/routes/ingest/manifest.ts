import { route } from '../../http/route.js';
import { ingestRunWrite, relative, runTarget, verbatimJson } from '../../services/ingest.js';
import { manifestFacts } from '../../services/run-facts.js';
import { sendJson } from '../../http/send-json.js';

interface ManifestBody {
  run_id: string;
  [k: string]: unknown;
}

/**
 * POST /runs: opens a run. The manifest is stored verbatim (a later one replaces it); the run
 * index says whether this was the run's first manifest (201) or a repeat (200), and keeps what the
 * list shows of it (client, capture mode, ids, costs, step count: see run-facts.ts). The object write
 * and the index upsert run concurrently: both are idempotent, so a retry after a failure of
 * either converges.
 */
export const manifestRoutes = [
  route({
    method: 'post',
    path: '/runs',
    auth: 'dsn',
    body: 'manifest.schema.json',
    handler: async (req, res, ctx) => {
      const body = req.body as ManifestBody;
      const target = runTarget(req, body.run_id);
      const { auth, keys, runId } = target;
      // The manifest's facts go through the batched index like every other ingest call's, so the
      // latest received wins whichever route reported it (a costs PUT a moment earlier included).
      const created = await ingestRunWrite(
        ctx,
        req,
        target,
        'manifest',
        async () => {
          const [, first] = await Promise.all([
            ctx.stores.objects.put(keys.manifest, verbatimJson(req), { contentType: 'application/json' }),
            ctx.stores.metadata.upsertManifest(auth.tenant.id, runId, {}, ctx.now()),
          ]);
          return first;
        },
        manifestFacts(body, runId),
      );
      sendJson(res, { ok: true, run_id: runId, created, file: relative(keys, keys.manifest) }, created ? 201 : 200);
    },
  }),
];
