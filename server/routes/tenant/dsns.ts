import { route } from '../../http/route.js';
import type { UserAuth } from '../../http/types.js';
import { dsnView } from '../../services/sessions.js';
import { TenantAdmin } from '../../services/tenants.js';

/** Any signed-in user of the active tenant may list, mint and revoke its DSNs. */
export const tenantRoutes = [
  route({
    method: 'get',
    path: '/tenant/dsns',
    auth: 'reader',
    handler: async (req, res, ctx) => {
      const rows = await ctx.stores.metadata.listDsns((req.auth as UserAuth).tenant.id);
      res.json({ dsns: rows.map(dsnView) });
    },
  }),
  route({
    method: 'post',
    path: '/tenant/dsns',
    auth: 'reader',
    tenantWrite: true,
    body: 'dsn-create-body.schema.json',
    handler: async (req, res, ctx) => {
      const auth = req.auth as UserAuth;
      const mint = await new TenantAdmin(ctx.stores.metadata, ctx.config).issueDsn(auth.tenant.id, (req.body as { client_name: string }).client_name);
      ctx.logger.info({ req_id: req.id, user_id: auth.user.id, tenant_id: auth.tenant.id, dsn_id: mint.id, key_prefix: mint.key_prefix }, 'DSN minted');
      res.status(201).json({ ...mint, last_used_at: null, revoked_at: null });
    },
  }),
  route({
    method: 'delete',
    path: '/tenant/dsns/:dsn_id',
    auth: 'reader',
    tenantWrite: true,
    params: { dsn_id: 'params.schema.json#/$defs/uuid' },
    handler: async (req, res, ctx) => {
      const auth = req.auth as UserAuth;
      const id = req.params.dsn_id as string;
      // Scoped to the caller's tenant: another tenant's DSN is "No such DSN" (404), like a missing one.
      await new TenantAdmin(ctx.stores.metadata, ctx.config).revokeDsn(id, auth.tenant.id);
      // Every replica drops its cached copy now; the cache TTL bounds any that miss the message.
      await ctx.dsnCache.broadcast({ dsnId: id });
      ctx.logger.info({ req_id: req.id, user_id: auth.user.id, tenant_id: auth.tenant.id, dsn_id: id }, 'DSN revoked');
      res.status(204).end();
    },
  }),
];
