import { ApiError } from '../../errors.js';
import { route, RUN_ID } from '../../http/route.js';
import { dsnCaller, ingestRunWrite, relative, runTarget, verbatimJson } from '../../services/ingest.js';
import { sendJson } from '../../http/send-json.js';

/** POST /runs/{run_id}/modelio/{relpath}: one model call's record, stored verbatim; refused while the tenant has modelio capture off. */
export const modelioRoutes = [
  route({
    method: 'post',
    path: '/runs/:run_id/modelio/:relpath',
    auth: 'dsn',
    params: { run_id: RUN_ID, relpath: 'params.schema.json#/$defs/modelio_relpath' },
    badParam: 422,
    // Before the body is read: a switched-off tenant is told so whatever it sends.
    guard: (req) => {
      const { tenant } = dsnCaller(req);
      if (!tenant.modelio_enabled) {
        throw new ApiError(
          'modelio_disabled',
          `Modelio capture is off for tenant "${tenant.slug}": an admin can enable it with \`augur admin tenant-update ${tenant.slug} --modelio on\`. Stop sending modelio records for this session.`,
        );
      }
    },
    body: 'modelio-record.schema.json',
    handler: async (req, res, ctx) => {
      const target = runTarget(req);
      const key = target.keys.modelio(req.params.relpath as string);
      await ingestRunWrite(ctx, req, target, 'modelio', () =>
        ctx.stores.objects.put(key, verbatimJson(req), { contentType: 'application/json' }),
      );
      sendJson(res, { ok: true, run_id: target.runId, file: relative(target.keys, key) });
    },
  }),
];
