import type { Response } from 'express';
import type { AppContext } from '../../context.js';
import { route, RUN_ID, type RouteDef } from '../../http/route.js';
import type { UserAuth } from '../../http/types.js';
import { sendJson } from '../../http/send-json.js';
import type { BundleKeys } from '../../services/bundle.js';
import { JSON_TYPE, notFound, runKeys, sendEvents, sendObject } from './send.js';
import { assembleEvalCandidates, assembleOutcomes, latestSideEffect, sideEffectFiles, type Assembled, type BundleFile } from '../../services/sdk-records.js';

function sendAssembled(res: Response, file: Assembled | undefined): void {
  if (!file) throw notFound();
  res.setHeader('Cache-Control', 'private, no-cache');
  res.statusCode = 200;
  res.setHeader('Content-Type', JSON_TYPE);
  res.setHeader('Content-Length', Buffer.byteLength(file.text));
  res.end(file.text);
}

/**
 * Every readable file of a run, by its read path. Plain objects are listed as they are; an
 * appended file's chunks (under `.appends/<path>/`) become one entry whose size is what a read
 * answers (the newest base and the chunks after it); the files assembled from per-entry records
 * (side effects, outcomes, eval candidates) are listed from those; derived data is left out.
 */
async function listBundle(ctx: AppContext, keys: BundleKeys): Promise<BundleFile[]> {
  const { objects } = ctx.stores;
  const plain: BundleFile[] = [];
  const appended = new Map<string, Array<{ seq: number; base: boolean; size: number; lastModified: Date }>>();
  for await (const o of objects.list(keys.prefix)) {
    const rel = o.key.slice(keys.prefix.length);
    if (rel.startsWith('.appends/')) {
      const cut = rel.lastIndexOf('/');
      const m = /^(base-)?(\d+)(?:-[0-9a-f]+)?$/.exec(rel.slice(cut + 1));
      if (!m || cut <= '.appends/'.length) continue;
      const path = rel.slice('.appends/'.length, cut);
      let list = appended.get(path);
      if (!list) appended.set(path, (list = []));
      list.push({ seq: Number(m[2]), base: Boolean(m[1]), size: o.size, lastModified: o.lastModified });
    } else if (!rel.startsWith('.')) {
      plain.push({ path: rel, size: o.size, last_modified: o.lastModified.toISOString() });
    }
  }
  const files = new Map(plain.map((f) => [f.path, f]));
  for (const [path, pieces] of appended) {
    const base = pieces.filter((p) => p.base).reduce<number>((b, p) => Math.max(b, p.seq), -1);
    const current = pieces.filter((p) => (p.base ? p.seq === base : p.seq > base));
    if (!current.length) continue;
    const size = current.reduce((s, p) => s + p.size, 0);
    const last = new Date(current.reduce((m, p) => Math.max(m, p.lastModified.getTime()), 0));
    files.set(path, { path, size, last_modified: last.toISOString() });
  }
  const [sideEffects, outcomes, candidates] = await Promise.all([sideEffectFiles(objects, keys), assembleOutcomes(objects, keys), assembleEvalCandidates(objects, keys)]);
  for (const f of sideEffects) files.set(f.path, f);
  for (const [path, a] of [['outcomes.json', outcomes], ['eval_candidates.json', candidates]] as const) {
    if (a) files.set(path, { path, size: Buffer.byteLength(a.text), last_modified: a.lastModified.toISOString() });
  }
  return [...files.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Reads of the SDK ledger files (side effects, reasoning, outcomes, eval candidates) and the bundle's file list. */
export const bundleFileRoutes: RouteDef[] = [
  route({
    method: 'get',
    path: '/runs/:run_id/side_effects/:name.json',
    auth: 'reader',
    params: { run_id: RUN_ID, name: 'params.schema.json#/$defs/side_effect_name' },
    handler: async (req, res, ctx) => {
      const keys = runKeys(req);
      const latest = await latestSideEffect(ctx.stores.objects, keys, req.params.name as string);
      if (!latest) throw notFound();
      await sendObject(ctx, res, latest.key, JSON_TYPE);
    },
  }),
  route({
    method: 'get',
    path: '/runs/:run_id/events/reasoning.jsonl',
    auth: 'reader',
    params: { run_id: RUN_ID },
    handler: async (req, res, ctx) => {
      // In the SDK's bundle order, like every events file.
      await sendEvents(ctx, res, runKeys(req).reasoning);
    },
  }),
  route({
    method: 'get',
    path: '/runs/:run_id/outcomes.json',
    auth: 'reader',
    params: { run_id: RUN_ID },
    handler: async (req, res, ctx) => sendAssembled(res, await assembleOutcomes(ctx.stores.objects, runKeys(req))),
  }),
  route({
    method: 'get',
    path: '/runs/:run_id/eval_candidates.json',
    auth: 'reader',
    params: { run_id: RUN_ID },
    handler: async (req, res, ctx) => sendAssembled(res, await assembleEvalCandidates(ctx.stores.objects, runKeys(req))),
  }),
  route({
    method: 'get',
    path: '/runs/:run_id/files',
    auth: 'reader',
    params: { run_id: RUN_ID },
    handler: async (req, res, ctx) => {
      const keys = runKeys(req);
      const files = await listBundle(ctx, keys);
      if (!files.length && !(await ctx.stores.metadata.getRun((req.auth as UserAuth).tenant.id, req.params.run_id as string))) throw notFound();
      res.setHeader('Cache-Control', 'private, no-cache');
      sendJson(res, { files });
    },
  }),
];
