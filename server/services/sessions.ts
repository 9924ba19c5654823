import { randomUUID } from 'node:crypto';
import type { CookieOptions, Request, Response } from 'express';
import type { AppContext } from '../context.js';
import { ApiError } from '../errors.js';
import { OVERRIDE_COOKIE, SESSION_COOKIE } from '../http/auth.js';
import type { UserAuth } from '../http/types.js';
import type { Dsn, ReadToken, Tenant, User } from '../../storage/metadata/index.js';
import { generatePassword, hashPassword, mintSessionToken, sha256, verifyPassword } from './credentials.js';
import { LoginLimiter } from './login-limit.js';
import { iso, isoOrNull } from './time.js';


/** Public views: never a password hash, key hash or token hash. */
export const userView = (u: User) => ({ id: u.id, email: u.email, is_admin: u.is_admin, tenant_id: u.tenant_id, created_at: iso(u.created_at) });
export const tenantView = (t: Tenant) => ({ id: t.id, slug: t.slug, name: t.name, modelio_enabled: t.modelio_enabled, created_at: iso(t.created_at) });
export const dsnView = (d: Dsn) => ({
  id: d.id,
  client_name: d.client_name,
  key_prefix: d.key_prefix,
  tenant_id: d.tenant_id,
  created_at: iso(d.created_at),
  last_used_at: isoOrNull(d.last_used_at),
  revoked_at: isoOrNull(d.revoked_at),
});
export const readTokenView = (t: ReadToken) => ({
  id: t.id,
  name: t.name,
  prefix: t.token_prefix,
  created_at: iso(t.created_at),
  expires_at: isoOrNull(t.expires_at),
  last_used_at: isoOrNull(t.last_used_at),
});

export function meView(user: User, tenant: Tenant, home: Tenant) {
  return { user: userView(user), tenant: tenantView(tenant), home_tenant: tenantView(home), impersonating: tenant.id !== home.id };
}

export function authMe(auth: UserAuth) {
  return meView(auth.user, auth.tenant, auth.homeTenant);
}

/** Both cookies share these attributes; Secure whenever the request came over https (trust proxy decides). */
export function cookieOptions(req: Request, maxAgeMs?: number): CookieOptions {
  return { httpOnly: true, sameSite: 'lax', path: '/', secure: req.secure, ...(maxAgeMs !== undefined ? { maxAge: maxAgeMs } : {}) };
}

export function clearAuthCookies(req: Request, res: Response): void {
  const opts = cookieOptions(req);
  res.clearCookie(SESSION_COOKIE, opts);
  res.clearCookie(OVERRIDE_COOKIE, opts);
}

/**
 * Sign-in. An unknown email is verified against a dummy hash of the same cost, so both failures
 * take the same time and give the same 401.
 */
export class SessionService {
  private dummyHash?: Promise<string>;
  private readonly limiter: LoginLimiter;

  constructor(private readonly ctx: AppContext) {
    this.limiter = new LoginLimiter(ctx.stores.rateLimiter);
    // Computed up front so the first unknown-email attempt costs no more than the others.
    this.dummy().catch(() => undefined);
  }

  private dummy(): Promise<string> {
    this.dummyHash ??= hashPassword(generatePassword(), this.ctx.config.scryptLogN);
    return this.dummyHash;
  }

  async login(email: string, password: string, address: string): Promise<{ token: string; user: User; tenant: Tenant }> {
    const { metadata } = this.ctx.stores;
    const normalized = email.trim().toLowerCase();
    const takeBack = await this.limiter.begin(normalized, address, this.ctx.now());
    const user = await metadata.getUserByEmail(normalized);
    const stored = user?.password_hash ?? (await this.dummy());
    const ok = (await verifyPassword(password, stored).catch(() => false)) && user !== undefined;
    const tenant = ok ? await metadata.getTenant(user.tenant_id) : undefined;
    if (!ok || !tenant) throw new ApiError('invalid_login', 'Wrong email or password');
    await takeBack(); // successful sign-ins do not count
    const { token, hash } = mintSessionToken();
    const now = this.ctx.now();
    await metadata.createSession({
      id: randomUUID(),
      token_hash: hash,
      user_id: user.id,
      created_at: now,
      expires_at: now + this.ctx.config.sessionTtlSeconds * 1000,
    });
    return { token, user, tenant };
  }

  /** Ends the session the cookie names, if any; unknown or expired tokens are simply ignored. */
  async logout(cookie: string | undefined): Promise<void> {
    if (cookie) await this.ctx.stores.metadata.deleteSession(sha256(cookie));
  }
}

const services = new WeakMap<AppContext, SessionService>();

/** One service per context (the dummy hash is computed once per process). */
export function sessionService(ctx: AppContext): SessionService {
  let s = services.get(ctx);
  if (!s) services.set(ctx, (s = new SessionService(ctx)));
  return s;
}
