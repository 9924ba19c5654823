import { randomUUID } from 'node:crypto';
import type { Request } from 'express';
import { ApiError } from '../../errors.js';
import { OVERRIDE_COOKIE, SESSION_COOKIE } from '../../http/auth.js';
import { route } from '../../http/route.js';
import type { UserAuth } from '../../http/types.js';
import { mintReadToken } from '../../services/credentials.js';
import { authMe, clearAuthCookies, cookieOptions, meView, readTokenView, sessionService } from '../../services/sessions.js';

const userAuth = (req: Request): UserAuth => req.auth as UserAuth;

/** Routes a read token may not use even to read (they manage credentials). */
function sessionOnly(req: Request): UserAuth {
  const auth = userAuth(req);
  if (auth.via !== 'cookie') throw new ApiError('forbidden', 'Sign in with a session to manage read tokens');
  return auth;
}

const DAY_MS = 86_400_000;

export const authRoutes = [
  route({
    method: 'post',
    path: '/auth/login',
    auth: 'none',
    body: 'login-body.schema.json',
    handler: async (req, res, ctx) => {
      const { email, password } = req.body as { email: string; password: string };
      const { token, user, tenant } = await sessionService(ctx).login(email, password, req.ip ?? 'unknown');
      res.cookie(SESSION_COOKIE, token, cookieOptions(req, ctx.config.sessionTtlSeconds * 1000));
      // A new session starts in the home tenant, whatever a previous session left behind.
      if (req.cookies?.[OVERRIDE_COOKIE] !== undefined) res.clearCookie(OVERRIDE_COOKIE, cookieOptions(req));
      ctx.logger.info({ req_id: req.id, user_id: user.id, tenant_id: tenant.id }, 'signed in');
      res.json(meView(user, tenant, tenant));
    },
  }),
  route({
    // auth 'none': a missing or stale cookie still signs out (204) and clears the cookies. The
    // pipeline still applies the CSRF rules to it (a cookie-borne write).
    method: 'post',
    path: '/auth/logout',
    auth: 'none',
    handler: async (req, res, ctx) => {
      await sessionService(ctx).logout(req.cookies?.[SESSION_COOKIE] as string | undefined);
      clearAuthCookies(req, res);
      res.status(204).end();
    },
  }),
  route({
    method: 'get',
    path: '/auth/me',
    auth: 'reader',
    handler: (req, res) => res.json(authMe(userAuth(req))),
  }),
  route({
    method: 'post',
    path: '/auth/tokens',
    auth: 'reader',
    body: 'token-create-body.schema.json',
    handler: async (req, res, ctx) => {
      const auth = sessionOnly(req);
      const body = req.body as { name: string; expires_in_days?: number | null };
      const minted = mintReadToken();
      const now = ctx.now();
      const row = await ctx.stores.metadata.createReadToken({
        id: randomUUID(),
        user_id: auth.user.id,
        name: body.name,
        token_prefix: minted.prefix,
        token_hash: minted.hash,
        created_at: now,
        expires_at: body.expires_in_days ? now + body.expires_in_days * DAY_MS : null,
      });
      ctx.logger.info({ req_id: req.id, user_id: auth.user.id, token_id: row.id, prefix: row.token_prefix }, 'read token minted');
      res.status(201).json({ ...readTokenView(row), token: minted.secret });
    },
  }),
  route({
    method: 'get',
    path: '/auth/tokens',
    auth: 'reader',
    handler: async (req, res, ctx) => {
      const auth = sessionOnly(req);
      const now = ctx.now();
      const rows = await ctx.stores.metadata.listReadTokens(auth.user.id);
      res.json({ tokens: rows.filter((t) => t.expires_at === null || t.expires_at > now).map(readTokenView) });
    },
  }),
  route({
    method: 'delete',
    path: '/auth/tokens/:token_id',
    auth: 'reader',
    params: { token_id: 'params.schema.json#/$defs/uuid' },
    handler: async (req, res, ctx) => {
      const auth = sessionOnly(req);
      const ok = await ctx.stores.metadata.revokeReadToken(req.params.token_id as string, auth.user.id);
      if (!ok) throw new ApiError('not_found', 'No such read token');
      ctx.logger.info({ req_id: req.id, user_id: auth.user.id, token_id: req.params.token_id }, 'read token revoked');
      res.status(204).end();
    },
  }),
];
