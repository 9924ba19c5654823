import { route } from '../http/route.js';

/**
 * GET /api/v1/metrics: this replica's Prometheus metrics (text exposition format 0.0.4), for a
 * scraper holding AUGUR_METRICS_TOKEN. Under the API prefix like every other route, so it sits in
 * the route table and the OpenAPI document; Prometheus takes the path as `metrics_path`. Without
 * the variable the route is not registered at all (404, as any unknown path).
 */
export const metricsRoutes = [
  route({
    method: 'get',
    path: '/metrics',
    auth: 'metrics',
    neverShed: true,
    enabled: (ctx) => ctx.config.metricsToken !== undefined,
    handler: async (_req, res, ctx) => {
      const text = await ctx.metrics.text();
      res.setHeader('Cache-Control', 'no-store');
      res.type(ctx.metrics.contentType).send(text);
    },
  }),
];
