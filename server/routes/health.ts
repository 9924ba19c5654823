import type { AppContext } from '../context.js';
import { route } from '../http/route.js';

async function check(fn: () => Promise<void>, timeoutMs = 3_000): Promise<{ ok: boolean; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([fn(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), timeoutMs)))]);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
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
      const { objects, metadata, presence, appendLedger, rateLimiter, bus } = ctx.stores;
      // "presence" stands for the four small shared-state ports: one backend (Redis or in-process), answering for all.
      const shared = async () => void (await Promise.all([presence.ping(), appendLedger.ping(), rateLimiter.ping(), bus.ping()]));
      const [o, m, p] = await Promise.all([check(() => objects.ping()), check(() => metadata.ping()), check(shared)]);
      const ready = o.ok && m.ok && p.ok;
      const checks = {
        objects: { backend: objects.kind, ...o },
        metadata: { backend: metadata.kind, ...m },
        presence: { backend: presence.kind, ...p },
      };
      // 503 carries the error shape too, so clients reading `code` see why.
      if (!ready) res.status(503).json({ status: 'unavailable', detail: 'A backend is not answering', code: 'not_ready', checks });
      else res.json({ status: 'ready', checks });
    },
  }),
];
