import type { Request, Response } from 'express';
import { readAll } from '../../../storage/objects/index.js';
import type { AppContext } from '../../context.js';
import { ApiError } from '../../errors.js';
import { streamBody } from '../../http/stream-body.js';
import type { UserAuth } from '../../http/types.js';
import { BUFFERED_READ_MAX } from '../../services/appends.js';
import { BundleKeys } from '../../services/bundle.js';
import { sortEventLines } from '../../services/event-order.js';

/** How the read routes under /runs/{run_id}/ find and send a run's files. */

export const JSON_TYPE = 'application/json; charset=utf-8';
export const NDJSON_TYPE = 'application/x-ndjson; charset=utf-8';

/**
 * One body for every missing thing under /runs/{run_id}/: a missing run, another tenant's run, a
 * missing file and an invalid read path all answer exactly this, so nothing tells them apart.
 */
export const notFound = (): ApiError => new ApiError('not_found', 'Not found');


/** Keys under the active tenant (the session's, or an admin's override) and this run alone. */
export function runKeys(req: Request): BundleKeys {
  const auth = req.auth as UserAuth;
  try {
    return new BundleKeys(auth.tenant.id, req.params.run_id as string);
  } catch {
    throw notFound();
  }
}

export async function sendObject(ctx: AppContext, res: Response, key: string, contentType: string, withEtag = false): Promise<void> {
  const obj = await ctx.stores.objects.get(key);
  if (!obj) throw notFound();
  res.status(200);
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', String(obj.info.size));
  res.setHeader('Cache-Control', 'private, no-cache');
  if (withEtag) res.setHeader('ETag', obj.info.etag);
  await streamBody(res, obj.body);
}

/** An appended file (events, logs): its chunks in order, or the whole object if one was compacted there. */
export async function sendAppended(ctx: AppContext, res: Response, key: string, contentType: string): Promise<void> {
  const file = await ctx.appends.open(key);
  if (!file) return sendObject(ctx, res, key, contentType);
  res.status(200).setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', String(file.size));
  res.setHeader('Cache-Control', 'private, no-cache');
  await streamBody(res, file.body);
}

/**
 * An events file in the order the SDK writes its own bundle: sorted by (ts, layer, kind, summary),
 * stable, so lines that tie keep their arrival order. Lines come back byte for byte as sent. A
 * file past the whole-read limit streams in arrival order instead (sorting it would hold it all).
 */
export async function sendEvents(ctx: AppContext, res: Response, key: string): Promise<void> {
  const contentType = NDJSON_TYPE;
  const file = await ctx.appends.open(key);
  if (file && file.size > BUFFERED_READ_MAX) {
    res.status(200).setHeader('Content-Type', contentType);
    res.setHeader('Content-Length', String(file.size));
    res.setHeader('Cache-Control', 'private, no-cache');
    await streamBody(res, file.body);
    return;
  }
  const buf = file ? await readAll(file.body) : await ctx.stores.objects.getBuffer(key);
  if (buf === undefined) throw notFound();
  const body = sortEventLines(buf);
  res.status(200).setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', String(body.length));
  res.setHeader('Cache-Control', 'private, no-cache');
  res.end(body);
}

