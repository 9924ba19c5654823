import { bumpRun } from '../../services/run-versions.js';
import type { Request } from 'express';
import { ApiError } from '../../errors.js';
import { pngUpload, requireMultipart, storedFile } from '../../http/upload.js';
import { route, RUN_ID } from '../../http/route.js';
import type { ScreenshotKind } from '../../services/bundle.js';
import { relative, runTarget, startRunStamp, type RunWrite } from '../../services/ingest.js';
import { sendJson } from '../../http/send-json.js';
import { diagnosticsFor } from '../../services/diagnostics/findings.js';

const stepOf = (req: Request): number => Number(req.params.step_index);
const kindOf = (req: Request): ScreenshotKind => req.params.kind as ScreenshotKind;
const PIXEL_KINDS = new Set<ScreenshotKind>(['pre', 'post']);

/** The request's run, worked out once (its heartbeat stamp starts then, and nothing waits for it). */
const uploads = new WeakMap<Request, { target: RunWrite }>();
const uploadOf = (req: Request) => {
  const u = uploads.get(req);
  if (!u) throw new Error('screenshot upload reached without its run');
  return u;
};

/**
 * POST /runs/{run_id}/screenshots/{step_index}/{kind}: multipart `image` part (image/png), streamed
 * into screenshots/NNNN_<kind>.png. Over AUGUR_MAX_SCREENSHOT_BYTES → 413; not a PNG → 415.
 */
export const screenshotRoutes = [
  route({
    method: 'post',
    path: '/runs/:run_id/screenshots/:step_index/:kind',
    auth: 'dsn',
    upload: true,
    params: {
      run_id: RUN_ID,
      step_index: 'params.schema.json#/$defs/step_index',
      kind: 'params.schema.json#/$defs/kind',
    },
    badParam: 422,
    before: (ctx) => [
      requireMultipart,
      (req, _res, next) => {
        const target = runTarget(req);
        uploads.set(req, { target });
        void startRunStamp(ctx, req, target, `screenshot:${stepOf(req)}:${kindOf(req)}`);
        next();
      },
      pngUpload({
        objects: ctx.stores.objects,
        maxBytes: ctx.config.maxScreenshotBytes,
        memory: ctx.uploadMemory,
        active: ctx.metrics.activeUploads,
        key: (req) => uploadOf(req).target.keys.screenshot(stepOf(req), kindOf(req)),
        // Pre and post frames are what the pixel work decodes right after: kept for it in memory.
        capture: (req) => (PIXEL_KINDS.has(kindOf(req)) ? diagnosticsFor(ctx).pixels.fresh.capture(Number(req.get('content-length'))) : undefined),
      }),
    ],
    handler: async (req, res, ctx) => {
      const { target } = uploadOf(req);
      const file = storedFile(req);
      if (!file) {
        throw new ApiError('validation_failed', 'Multipart form has no file part named "image" (send -F "image=@shot.png;type=image/png")', {
          errors: [{ loc: ['body', 'image'], msg: 'field required', type: 'missing' }],
        });
      }
      bumpRun(ctx, target.keys.prefix);
      ctx.runIndex.touch({ tenant_id: target.auth.tenant.id, run_id: target.runId, seen_at: ctx.now() });
      const kind = kindOf(req);
      if (kind !== 'target') {
        const stored = file.etag ? { kind, info: { key: file.path, size: file.size, etag: file.etag, lastModified: new Date(ctx.now()) } } : undefined;
        diagnosticsFor(ctx).screenshotStored(target.keys, stepOf(req), stored);
      }
      sendJson(res, { ok: true, run_id: target.runId, file: relative(target.keys, file.path), bytes: file.size });
    },
  }),
];
