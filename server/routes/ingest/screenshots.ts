import type { Request } from 'express';
import { ApiError } from '../../errors.js';
import { pngUpload, requireMultipart } from '../../http/upload.js';
import { route } from '../../http/route.js';
import type { ScreenshotKind } from '../../services/bundle.js';
import { fallbackClientId, relative, runTarget, stampHeartbeat } from '../../services/ingest.js';
import { sendJson } from '../../http/send-json.js';

const stepOf = (req: Request): number => Number(req.params.step_index);
const kindOf = (req: Request): ScreenshotKind => req.params.kind as ScreenshotKind;

/** The heartbeat stamp runs while the image streams into the store. */
const stamps = new WeakMap<Request, Promise<unknown>>();

/**
 * POST /runs/{run_id}/screenshots/{step_index}/{kind}: multipart `image` part (image/png), streamed
 * into screenshots/NNNN_<kind>.png. Over AUGUR_MAX_SCREENSHOT_BYTES → 413; not a PNG → 415.
 */
export const screenshotRoutes = [
  route({
    method: 'post',
    path: '/runs/:run_id/screenshots/:step_index/:kind',
    auth: 'dsn',
    params: {
      run_id: 'params.schema.json#/$defs/run_id',
      step_index: 'params.schema.json#/$defs/step_index',
      kind: 'params.schema.json#/$defs/kind',
    },
    badParam: 422,
    before: (ctx) => [
      requireMultipart,
      (req, _res, next) => {
        const target = runTarget(req);
        const clientId = fallbackClientId(req, target.auth);
        stamps.set(
          req,
          stampHeartbeat(ctx, req, target.auth, clientId, false, {
            run_id: target.runId,
            last_event: JSON.stringify(`screenshot:${stepOf(req)}:${kindOf(req)}`),
            dsn_id: target.auth.dsn.id,
          }),
        );
        next();
      },
      pngUpload({
        objects: ctx.stores.objects,
        maxBytes: ctx.config.maxScreenshotBytes,
        key: (req) => runTarget(req).keys.screenshot(stepOf(req), kindOf(req)),
      }),
    ],
    handler: async (req, res, ctx) => {
      const target = runTarget(req);
      const file = req.file;
      if (!file) {
        throw new ApiError('validation_failed', 'Multipart form has no file part named "image" (send -F "image=@shot.png;type=image/png")', {
          errors: [{ loc: ['body', 'image'], msg: 'field required', type: 'missing' }],
        });
      }
      await stamps.get(req);
      const step = stepOf(req);
      ctx.runIndex.touch({ tenant_id: target.auth.tenant.id, run_id: target.runId, seen_at: ctx.now() });
      const key = target.keys.screenshot(step, kindOf(req));
      sendJson(res, { ok: true, run_id: target.runId, file: relative(target.keys, key), bytes: file.size });
    },
  }),
];
