import type { Request } from 'express';
import type { AppContext } from '../context.js';
import { ApiError } from '../errors.js';
import { DSN_KEY_RE, READ_TOKEN_RE, sameDigest, sha256 } from '../services/credentials.js';
import type { DsnAuth, UserAuth } from './types.js';

export const SESSION_COOKIE = 'augur_session';
export const OVERRIDE_COOKIE = 'augur_tenant_override';

function bearer(req: Request): string | undefined {
  const h = req.get('authorization');
  if (h === undefined) return undefined;
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(h);
  if (!m) throw new ApiError('invalid_credential', 'Authorization header must be "Bearer <key>"');
  return m[1];
}

/** Ingest: a DSN key; 401 when absent or malformed, 403 when unknown or revoked or a read token. */
export async function authenticateDsn(req: Request, ctx: AppContext): Promise<DsnAuth> {
  const key = bearer(req);
  if (key === undefined) throw new ApiError('not_authenticated', 'Missing credential: send Authorization: Bearer <api_key>');
  // A read token is a real credential of the wrong kind: 403, as a DSN key on a read route is.
  if (READ_TOKEN_RE.test(key)) throw new ApiError('forbidden', 'A read token only reads; ingest takes a DSN api_key');
  if (!DSN_KEY_RE.test(key)) throw new ApiError('invalid_credential', 'Credential is not a DSN api_key');
  const found = await ctx.dsnCache.resolve(key);
  if (!found) throw new ApiError('unknown_key', 'DSN api_key not recognised (unknown or revoked)');
  return { kind: 'dsn', ...found };
}

/**
 * The metrics scrape: exactly AUGUR_METRICS_TOKEN as a bearer credential, 401 otherwise. Compared
 * as SHA-256 digests in constant time, so neither the token's bytes nor its length leak by timing.
 */
export function authenticateMetrics(req: Request, ctx: AppContext): void {
  const expected = ctx.config.metricsToken;
  const key = bearer(req);
  if (key === undefined) throw new ApiError('not_authenticated', 'Missing credential: send Authorization: Bearer <AUGUR_METRICS_TOKEN>');
  if (!expected || !sameDigest(sha256(key), sha256(expected))) throw new ApiError('invalid_credential', 'Wrong metrics token');
}

/** Reads: a read token, or the session cookie (plus an admin's tenant override). Never a DSN key. */
export async function authenticateReader(req: Request, ctx: AppContext): Promise<UserAuth> {
  const { metadata } = ctx.stores;
  const now = ctx.now();
  const token = bearer(req);
  if (token !== undefined) {
    if (DSN_KEY_RE.test(token)) throw new ApiError('forbidden', 'A DSN key is an ingest credential; sign in or use a read token to read');
    if (!READ_TOKEN_RE.test(token)) throw new ApiError('invalid_credential', 'Credential is not a read token');
    const row = await metadata.findReadToken(sha256(token), now);
    const user = row && (await metadata.getUser(row.user_id));
    const tenant = user && (await metadata.getTenant(user.tenant_id));
    if (!user || !tenant) throw new ApiError('invalid_credential', 'Read token unknown, revoked or expired');
    ctx.tokenUse.mark(row.id, now);
    return { kind: 'user', via: 'token', user, tenant, homeTenant: tenant, impersonating: false };
  }
  const cookie = req.cookies?.[SESSION_COOKIE] as string | undefined;
  if (!cookie) throw new ApiError('not_authenticated', 'Sign in first (POST /api/v1/auth/login) or send a read token');
  const sessionHash = sha256(cookie);
  const session = await metadata.findSession(sessionHash, now);
  const user = session && (await metadata.getUser(session.user_id));
  const home = user && (await metadata.getTenant(user.tenant_id));
  if (!user || !home) throw new ApiError('invalid_credential', 'Session expired or signed out');
  let tenant = home;
  // The override is honoured for admins only, and re-checked on every request.
  const override = req.cookies?.[OVERRIDE_COOKIE] as string | undefined;
  if (user.is_admin && override && override !== home.id) {
    const t = await metadata.getTenant(override);
    if (t) tenant = t;
  }
  return { kind: 'user', via: 'cookie', user, tenant, homeTenant: home, impersonating: tenant.id !== home.id, sessionHash };
}

/** Refuses a cross-site browser request before it changes anything (CSRF). */
export function checkCsrf(req: Request, ctx: AppContext): void {
  const site = req.get('sec-fetch-site');
  if (site === 'cross-site') throw new ApiError('csrf_rejected', 'Cross-site request refused');
  const origin = req.get('origin');
  if (origin === undefined) return;
  const own = new Set([`${req.protocol}://${req.get('host')}`, new URL(ctx.config.publicUrl).origin]);
  if (!own.has(origin)) throw new ApiError('csrf_rejected', `Request from origin ${origin} refused`);
}
