import type { Request, Response } from 'express';
import type { AppContext } from '../context.js';
import { REFUSAL_PAUSE_MS } from '../services/rate-limits.js';
import { authenticateDsn } from './auth.js';
import type { RouteDef } from './route.js';

/**
 * Admission of a DSN (ingest) request, after the overload guard and before its body is read (a
 * refused upload is never received): the key's authentication, the per key and per tenant rate
 * limits (server/services/rate-limits.ts), then a slot of its tenant on this replica
 * (server/services/tenant-slots.ts). `release` stops the overload guard counting the request.
 * Resolves false when the client left while the request waited for its slot: nobody to answer.
 */
export async function admitIngest(def: RouteDef, req: Request, res: Response, ctx: AppContext, release?: () => void): Promise<boolean> {
  const auth = await authenticateDsn(req, ctx);
  req.auth = auth;
  const now = ctx.now();
  if (ctx.ingestLimits.enabled) {
    let headers: Record<string, string> | undefined;
    try {
      headers = await ctx.ingestLimits.check(auth.dsn.id, auth.tenant.id, now);
    } catch (err) {
      await heldBack(ctx, release);
      throw err;
    }
    if (headers) for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  }
  // A held long poll waits rather than works, and so does a streamed upload, mostly: neither takes
  // a slot (both were counted by the limits).
  if (def.longPoll || def.upload || !ctx.tenantSlots.enabled) return true;
  let slot: ReturnType<AppContext['tenantSlots']['acquire']>;
  try {
    slot = ctx.tenantSlots.acquire(auth.tenant.id, res);
  } catch (err) {
    // Refused before any work: the request does not count against the tenant's rate.
    ctx.ingestLimits.giveBack(auth.dsn.id, auth.tenant.id, now);
    await heldBack(ctx, release);
    throw err;
  }
  if (typeof slot === 'function') return true;
  // Waiting for its tenant's slot, out of the in-flight count (it waits, it does not work).
  release?.();
  if (!(await slot)) return false;
  if (release) ctx.overload.count(res);
  return true;
}

/**
 * A refusal is answered after about REFUSAL_PAUSE_MS, out of the in-flight count: it waits, it
 * does not work. The pause is drawn from half to one and a half times that: refused together, a
 * flood's connections would otherwise be answered together and all ask again in the same
 * millisecond, a burst every pause that the requests of other tenants landing in it queue behind.
 */
async function heldBack(ctx: AppContext, release?: () => void): Promise<void> {
  release?.();
  await ctx.commands.idle(Math.round(REFUSAL_PAUSE_MS * (0.5 + Math.random())));
}
