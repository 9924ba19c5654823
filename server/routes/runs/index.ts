import type { AppContext } from '../../context.js';
import { notFound, runKeys, sendAppended, sendEvents, sendObject } from './send.js';
import { route, RUN_ID, type RouteDef } from '../../http/route.js';
import type { UserAuth } from '../../http/types.js';
import { parseNnnn, type ScreenshotKind } from '../../services/bundle.js';
import { diagnosticsFor } from '../../services/diagnostics/findings.js';
import { parseSeverity } from '../../services/diagnostics/query.js';
import { listRuns, parseRunsQuery } from '../../services/run-reads.js';
import { renderTrace, TraceView } from '../../services/trace-view.js';

/** Presigned screenshot URLs live this long. */
export const PRESIGN_TTL_S = 300;

const views = new WeakMap<AppContext, TraceView>();
function traceView(ctx: AppContext): TraceView {
  let v = views.get(ctx);
  if (!v) views.set(ctx, (v = new TraceView(ctx.stores.objects, ctx.logger)));
  return v;
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  const bare = (t: string) => t.trim().replace(/^W\//, '');
  return header.split(',').some((t) => bare(t) === bare(etag));
}

export const runRoutes: RouteDef[] = [
  route({
    method: 'get',
    path: '/runs',
    auth: 'reader',
    handler: async (req, res, ctx) => {
      const q = parseRunsQuery(req);
      res.json(await listRuns(ctx.stores.metadata, (req.auth as UserAuth).tenant.id, q));
    },
  }),
  route({
    method: 'get',
    path: '/runs/:run_id/manifest.json',
    auth: 'reader',
    params: { run_id: RUN_ID },
    // Exactly as the SDK sent it: a downloaded bundle validates with the SDK's own tools.
    handler: async (req, res, ctx) => sendObject(ctx, res, runKeys(req).manifest, 'application/json; charset=utf-8'),
  }),
  route({
    method: 'get',
    path: '/runs/:run_id/trace.json',
    auth: 'reader',
    params: { run_id: RUN_ID },
    handler: async (req, res, ctx) => {
      const keys = runKeys(req);
      const runId = req.params.run_id as string;
      let trace = await traceView(ctx).load(keys);
      if (!trace) {
        if (!(await ctx.stores.objects.head(keys.manifest))) throw notFound();
        trace = { hasTrace: false, head: {}, steps: [], lastReceivedAt: 0 };
      }
      res.status(200).setHeader('Content-Type', 'application/json; charset=utf-8');
      res.setHeader('Cache-Control', 'private, no-cache');
      res.end(renderTrace(runId, trace));
    },
  }),
  route({
    method: 'get',
    path: '/runs/:run_id/steps/:step.json',
    auth: 'reader',
    params: { run_id: RUN_ID, step: 'params.schema.json#/$defs/nnnn' },
    // The step's canonical record as trace.json holds it: one rule (services/step-receipts.ts)
    // decides which receipt is current, so the two never disagree.
    handler: async (req, res, ctx) => {
      const keys = runKeys(req);
      const index = parseNnnn(req.params.step as string);
      if (index === undefined) throw notFound();
      const trace = await traceView(ctx).load(keys);
      const step = trace?.steps.find((s) => s.index === index && s.canonical);
      if (!step) throw notFound();
      res.status(200).setHeader('Content-Type', 'application/json; charset=utf-8');
      res.setHeader('Cache-Control', 'private, no-cache');
      res.end(step.bytes);
    },
  }),
  route({
    method: 'get',
    path: '/runs/:run_id/steps/:step/:iteration.json',
    auth: 'reader',
    params: { run_id: RUN_ID, step: 'params.schema.json#/$defs/nnnn', iteration: 'params.schema.json#/$defs/iteration' },
    handler: async (req, res, ctx) => {
      const keys = runKeys(req);
      const index = parseNnnn(req.params.step as string);
      if (index === undefined) throw notFound();
      await sendObject(ctx, res, keys.stepIteration(index, req.params.iteration as string), 'application/json; charset=utf-8');
    },
  }),
  route({
    method: 'get',
    path: '/runs/:run_id/events/:name.jsonl',
    auth: 'reader',
    params: { run_id: RUN_ID, name: 'params.schema.json#/$defs/events_name' },
    handler: async (req, res, ctx) => {
      const keys = runKeys(req);
      const name = req.params.name as string;
      const index = name === 'run' || name === 'reasoning' ? name : parseNnnn(name);
      if (index === undefined) throw notFound();
      await sendEvents(ctx, res, keys.events(index));
    },
  }),
  route({
    method: 'get',
    path: '/runs/:run_id/screenshots/:shot.png',
    auth: 'reader',
    params: { run_id: RUN_ID, shot: 'params.schema.json#/$defs/shot' },
    handler: async (req, res, ctx) => {
      const keys = runKeys(req);
      const m = /^([0-9]{4,6})_(pre|post|target|diff)$/.exec(req.params.shot as string);
      const index = m ? parseNnnn(m[1]!) : undefined;
      if (!m || index === undefined) throw notFound();
      const key = keys.screenshot(index, m[2] as ScreenshotKind);
      const { objects } = ctx.stores;
      if (ctx.config.screenshotReads === 'presign' && objects.presignGet) {
        if (!(await objects.head(key))) throw notFound();
        res.setHeader('Cache-Control', 'private, no-store');
        res.redirect(302, await objects.presignGet(key, PRESIGN_TTL_S, 'image/png'));
        return;
      }
      const inm = req.get('if-none-match');
      if (inm) {
        const info = await objects.head(key);
        if (!info) throw notFound();
        if (etagMatches(inm, info.etag)) {
          res.status(304).setHeader('ETag', info.etag);
          res.setHeader('Cache-Control', 'private, no-cache');
          res.end();
          return;
        }
      }
      // nosniff comes with every API answer (server/http/security-headers.ts).
      await sendObject(ctx, res, key, 'image/png', true);
    },
  }),
  route({
    method: 'get',
    path: '/runs/:run_id/modelio/:relpath',
    auth: 'reader',
    params: { run_id: RUN_ID, relpath: 'params.schema.json#/$defs/modelio_relpath' },
    handler: async (req, res, ctx) => {
      const keys = runKeys(req);
      await sendObject(ctx, res, keys.modelio(req.params.relpath as string), 'application/json; charset=utf-8');
    },
  }),
  route({
    method: 'get',
    path: '/runs/:run_id/logs/:name.log',
    auth: 'reader',
    params: { run_id: RUN_ID, name: 'params.schema.json#/$defs/log_name' },
    handler: async (req, res, ctx) => {
      const keys = runKeys(req);
      await sendAppended(ctx, res, keys.log(req.params.name as string), 'text/plain; charset=utf-8');
    },
  }),
  route({
    method: 'get',
    path: '/runs/:run_id/costs.json',
    auth: 'reader',
    params: { run_id: RUN_ID },
    handler: async (req, res, ctx) => {
      await sendObject(ctx, res, runKeys(req).costs, 'application/json; charset=utf-8');
    },
  }),
  route({
    method: 'get',
    path: '/runs/:run_id/diagnostics/findings.json',
    auth: 'reader',
    params: { run_id: RUN_ID },
    handler: async (req, res, ctx) => {
      const minSeverity = parseSeverity(req);
      const keys = runKeys(req);
      const runId = req.params.run_id as string;
      const auth = req.auth as UserAuth;
      // The trace, the run index row and the bundle's listings are read at once.
      const doc = await diagnosticsFor(ctx).cachedFindings({ keys, runId, trace: () => traceView(ctx).load(keys), run: ctx.stores.metadata.getRun(auth.tenant.id, runId), minSeverity });
      if (!doc) throw notFound();
      res.setHeader('Cache-Control', 'private, no-cache');
      res.json(doc);
    },
  }),
  route({
    method: 'get',
    path: '/runs/:run_id/diagnostics/diff/:step.png',
    auth: 'reader',
    params: { run_id: RUN_ID, step: 'params.schema.json#/$defs/nnnn' },
    handler: async (req, res, ctx) => {
      const keys = runKeys(req);
      const index = parseNnnn(req.params.step as string);
      if (index === undefined) throw notFound();
      const key = keys.diagnosticsDiff(index);
      // Not computed yet (the background work is behind, or this replica restarted): compute it now.
      if (!(await ctx.stores.objects.head(key))) {
        const d = diagnosticsFor(ctx);
        const shots = await d.pixels.headShots(keys, index);
        if (!shots.pre || !shots.post || shots.diff) throw notFound();
        const rec = await d.pixels.forStep(keys, index, shots);
        if (!rec?.diffImage) throw notFound();
      }
      await sendObject(ctx, res, key, 'image/png', true);
    },
  }),
];
