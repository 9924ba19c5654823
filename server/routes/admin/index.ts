import { ApiError } from '../../errors.js';
import { OVERRIDE_COOKIE } from '../../http/auth.js';
import { route } from '../../http/route.js';
import { UUID_RE } from '../../services/bundle.js';
import type { UserAuth } from '../../http/types.js';
import { cookieOptions, meView, tenantView } from '../../services/sessions.js';


/** Admins only (the pipeline answers 403 forbidden to everyone else). */
export const adminRoutes = [
  route({
    method: 'get',
    path: '/admin/tenants',
    auth: 'admin',
    handler: async (_req, res, ctx) => {
      const rows = await ctx.stores.metadata.listTenants();
      res.json({ tenants: rows.map((t) => ({ ...tenantView(t), counts: t.counts })) });
    },
  }),
  route({
    method: 'post',
    path: '/admin/impersonate',
    auth: 'admin',
    body: 'impersonate-body.schema.json',
    handler: async (req, res, ctx) => {
      const auth = req.auth as UserAuth;
      const wanted = (req.body as { tenant: string | null }).tenant;
      const { metadata } = ctx.stores;
      const home = auth.homeTenant;
      const target =
        wanted === null
          ? home
          : ((await metadata.getTenantBySlug(wanted)) ?? (UUID_RE.test(wanted) ? await metadata.getTenant(wanted) : undefined));
      if (!target) throw new ApiError('not_found', `No tenant ${JSON.stringify(wanted)}`);
      if (target.id === home.id) {
        res.clearCookie(OVERRIDE_COOKIE, cookieOptions(req));
        ctx.logger.info({ req_id: req.id, admin_user_id: auth.user.id, admin_email: auth.user.email }, 'admin impersonation ended');
      } else {
        // Session-long: no Max-Age, and the override is re-checked against the admin flag on every request.
        res.cookie(OVERRIDE_COOKIE, target.id, cookieOptions(req));
        ctx.logger.info(
          { req_id: req.id, admin_user_id: auth.user.id, admin_email: auth.user.email, target_tenant_id: target.id, target_tenant_slug: target.slug },
          'admin impersonation started',
        );
      }
      res.json(meView(auth.user, target, home));
    },
  }),
];
