import type { AppContext } from '../context.js';
import { route } from '../http/route.js';

type Check = { ok: boolean; error?: string };
type Checks = { objects: Check; metadata: Check; presence: Check };

/** How long one round of pings answers every probe: a flood of probes costs the backends one ping each per second. */
export const READY_CACHE_MS = 1_000;
/** A ping slower than this counts as failed: requests would wait as long (capped by the backend timeout). */
const PING_MS = 2_000;

async function check(fn: () => Promise<void>, timeoutMs: number): Promise<Check> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([fn(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs)))]);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/** One round per context at a time; a settled round is reused for READY_CACHE_MS. */
const rounds = new WeakMap<AppContext, { settledAt?: number; checks: Promise<Checks> }>();

function readiness(ctx: AppContext): Promise<Checks> {
  const now = Date.now();
  const last = rounds.get(ctx);
  // A round in flight is shared by the probes arriving meanwhile (it ends within the ping timeout).
  if (last && (last.settledAt === undefined || now - last.settledAt < READY_CACHE_MS)) return last.checks;
  const { objects, metadata, presence, appendLedger, rateLimiter, bus } = ctx.stores;
  const ms = Math.min(PING_MS, ctx.config.backendTimeoutMs);
  // "presence" stands for the four small shared-state ports: one backend (Redis or in-process), answering for all.
  const shared = async () => void (await Promise.all([presence.ping(), appendLedger.ping(), rateLimiter.ping(), bus.ping()]));
  const checks = Promise.all([check(() => objects.ping(), ms), check(() => metadata.ping(), ms), check(shared, ms)]).then(([o, m, p]) => {
    // Cached from when the round settled: a probe sees results at most READY_CACHE_MS old.
    rounds.set(ctx, { settledAt: Date.now(), checks });
    return { objects: o, metadata: m, presence: p };
  });
  rounds.set(ctx, { checks });
  return checks;
}

export const healthRoutes = [
  route({
    method: 'get',
    path: '/healthz',
    auth: 'none',
    neverShed: true,
    handler: (_req, res) => res.json({ status: 'ok' }),
  }),
  route({
    method: 'get',
    path: '/readyz',
    auth: 'none',
    neverShed: true,
    handler: async (_req, res, ctx: AppContext) => {
      // Shutting down: answered at once, without the backend checks, so the balancer stops
      // sending here while the replica still serves what reaches it (server/main.ts).
      if (ctx.lifecycle.draining) {
        res.status(503).json({ detail: 'This replica is shutting down; send requests to another one', code: 'draining' });
        return;
      }
      const { objects, metadata, presence } = ctx.stores;
      const r = await readiness(ctx);
      const checks = {
        objects: { backend: objects.kind, ...r.objects },
        metadata: { backend: metadata.kind, ...r.metadata },
        presence: { backend: presence.kind, ...r.presence },
      };
      const failed = (Object.keys(checks) as Array<keyof typeof checks>).filter((k) => !checks[k].ok);
      res.setHeader('Cache-Control', 'no-store');
      // 503 carries the error shape too, so clients reading `code` see why; the detail names the backends.
      if (failed.length) res.status(503).json({ status: 'unavailable', detail: `Not answering: ${failed.join(', ')}`, code: 'not_ready', checks });
      else res.json({ status: 'ready', checks });
    },
  }),
];
