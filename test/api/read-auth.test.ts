import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../server/services/credentials.js';
import { PROFILES, productionAvailable, rid } from '../helpers/backends.js';
import { expectError, expectSchema } from '../helpers/schemas.js';
import { parseDsnLikeTheSdk } from '../helpers/sdk-dsn.js';
import { startTestServer, type TestServer, type TestTenant } from '../helpers/server.js';
import { cookieNamed, expectNoSecrets, get, login, parseSetCookies, seedRun, send } from './read-helpers.js';

const ADMIN = { email: 'admin@example.com', password: 'admin-password' };

describe.each(PROFILES)('sessions, read tokens and impersonation on %s backends', (profile) => {
  let s: TestServer;
  let a: TestTenant;
  let b: TestTenant;
  const skip = profile === 'production' && !productionAvailable();
  beforeAll(async () => {
    if (skip) return;
    s = await startTestServer(profile);
    a = await s.tenant();
    b = await s.tenant();
    await seedRun(s.ctx, a.id, 'run_of_a');
    await seedRun(s.ctx, b.id, 'run_of_b');
  });
  afterAll(async () => s?.close());

  describe.skipIf(skip)('login', () => {
    it('sets an HttpOnly, SameSite=Lax session cookie holding an opaque token, and answers Me', async () => {
      const { res, token } = await login(s.api, a.email, a.password);
      const body = await res.text();
      expectNoSecrets(body);
      const me = JSON.parse(body) as { user: { email: string }; tenant: { id: string }; impersonating: boolean };
      expectSchema(me, 'me.schema.json');
      expect(me.user.email).toBe(a.email);
      expect(me.tenant.id).toBe(a.id);
      expect(me.impersonating).toBe(false);
      const c = cookieNamed(res, 'augur_session')!;
      expect(c.attrs.httponly).toBe(true);
      expect(String(c.attrs.samesite).toLowerCase()).toBe('lax');
      expect(c.attrs.path).toBe('/');
      expect(c.attrs.secure).toBeUndefined(); // plain http
      expect(Number(c.attrs['max-age'])).toBe(s.ctx.config.sessionTtlSeconds);
      // ≥ 128 random bits, stored only as a hash.
      expect(Buffer.from(token, 'base64url').length).toBeGreaterThanOrEqual(16);
      expect(await s.ctx.stores.metadata.findSession(sha256(token), s.clock.now())).toBeDefined();
      expect(await s.ctx.stores.metadata.findSession(token, s.clock.now())).toBeUndefined();
    });

    it('mints a new token at every login; each session works', async () => {
      const one = await login(s.api, a.email, a.password);
      const two = await login(s.api, a.email.toUpperCase(), a.password);
      expect(one.token).not.toBe(two.token);
      for (const c of [one.cookie, two.cookie]) expect((await get(`${s.api}/auth/me`, c)).status).toBe(200);
    });

    it('gives the same 401 for a wrong password and an unknown email', async () => {
      const wrong = await send('POST', `${s.api}/auth/login`, undefined, { email: a.email, password: 'not-the-password' });
      const unknown = await send('POST', `${s.api}/auth/login`, undefined, { email: `nobody-${rid()}@example.com`, password: 'whatever-1' });
      const w = await expectError(wrong, 401, 'invalid_login');
      const u = await expectError(unknown, 401, 'invalid_login');
      expect(w).toEqual(u);
      expect(wrong.headers.getSetCookie()).toEqual([]);
    });

    it('validates the body', async () => {
      await expectError(await send('POST', `${s.api}/auth/login`, undefined, { email: a.email }), 422, 'validation_failed');
    });
  });

  describe.skipIf(skip)('me, expiry and logout', () => {
    it('answers /auth/me for a session; 401 without one or with a stale one; 403 for a DSN key', async () => {
      const { cookie } = await login(s.api, a.email, a.password);
      const r = await get(`${s.api}/auth/me`, cookie);
      const text = await r.text();
      expect(r.status).toBe(200);
      expectNoSecrets(text);
      expectSchema(JSON.parse(text), 'me.schema.json');
      await expectError(await get(`${s.api}/auth/me`), 401, 'not_authenticated');
      await expectError(await get(`${s.api}/auth/me`, 'augur_session=forged'), 401, 'invalid_credential');
      await expectError(await get(`${s.api}/auth/me`, a.key), 403, 'forbidden');
      await expectError(await get(`${s.api}/runs`, a.key), 403, 'forbidden');
      await expectError(await get(`${s.api}/runs`, undefined, { authorization: 'Bearer nonsense' }), 401, 'invalid_credential');
    });

    it('expires a session after its lifetime', async () => {
      const { cookie } = await login(s.api, a.email, a.password);
      s.clock.advance(s.ctx.config.sessionTtlSeconds * 1000 + 1_000);
      await expectError(await get(`${s.api}/auth/me`, cookie), 401, 'invalid_credential');
    });

    it('logout ends the session server-side and clears both cookies; a replayed cookie gets 401', async () => {
      const { cookie } = await login(s.api, a.email, a.password);
      const out = await send('POST', `${s.api}/auth/logout`, `${cookie}; augur_tenant_override=${b.id}`);
      expect(out.status).toBe(204);
      const cleared = parseSetCookies(out);
      for (const name of ['augur_session', 'augur_tenant_override']) {
        const c = cleared.find((x) => x.name === name);
        expect(c, name).toBeDefined();
        expect(c!.value).toBe('');
        expect(new Date(String(c!.attrs.expires)).getTime()).toBeLessThan(Date.now());
      }
      await expectError(await get(`${s.api}/auth/me`, cookie), 401, 'invalid_credential');
    });

    it('logout without a cookie, or with a stale one, is still 204', async () => {
      expect((await send('POST', `${s.api}/auth/logout`, undefined)).status).toBe(204);
      const r = await send('POST', `${s.api}/auth/logout`, 'augur_session=stale');
      expect(r.status).toBe(204);
      expect(cookieNamed(r, 'augur_session')?.value).toBe('');
    });
  });

  describe.skipIf(skip)('CSRF', () => {
    it('refuses a cookie-authenticated write from another site (Origin or Sec-Fetch-Site)', async () => {
      const { cookie } = await login(s.api, a.email, a.password);
      await expectError(await send('POST', `${s.api}/auth/tokens`, cookie, { name: 'x' }, { origin: 'https://evil.example' }), 403, 'csrf_rejected');
      await expectError(await send('POST', `${s.api}/auth/tokens`, cookie, { name: 'x' }, { 'sec-fetch-site': 'cross-site' }), 403, 'csrf_rejected');
      await expectError(await send('POST', `${s.api}/tenant/dsns`, cookie, { client_name: 'x' }, { origin: 'https://evil.example' }), 403, 'csrf_rejected');
      await expectError(await send('DELETE', `${s.api}/tenant/dsns/${a.dsn.id}`, cookie, undefined, { 'sec-fetch-site': 'cross-site' }), 403, 'csrf_rejected');
      await expectError(await send('POST', `${s.api}/auth/logout`, cookie, undefined, { origin: 'https://evil.example' }), 403, 'csrf_rejected');
      await expectError(await send('POST', `${s.api}/auth/login`, undefined, { email: a.email, password: a.password }, { 'sec-fetch-site': 'cross-site' }), 403, 'csrf_rejected');
      // Still signed in: the refused logout changed nothing.
      expect((await get(`${s.api}/auth/me`, cookie)).status).toBe(200);
      // Same-origin and same-site requests pass.
      const ok = await send('POST', `${s.api}/auth/tokens`, cookie, { name: 'same-site' }, { origin: s.url, 'sec-fetch-site': 'same-origin' });
      expect(ok.status).toBe(201);
    });

    it('accepts only JSON bodies on cookie-authenticated writes', async () => {
      const { cookie } = await login(s.api, a.email, a.password);
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
        const r = await fetch(`${s.api}/tenant/dsns`, { method: 'POST', headers: { cookie, 'content-type': type }, body: 'client_name=evil' });
        await expectError(r, 415, 'unsupported_media_type');
      }
      const login2 = await fetch(`${s.api}/auth/login`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ email: a.email, password: a.password }) });
      await expectError(login2, 415, 'unsupported_media_type');
    });
  });

  describe.skipIf(skip)('read tokens', () => {
    it('mints (shown once, hashed at rest), lists without secrets, reads every read route, never writes, and revokes', async () => {
      const { cookie } = await login(s.api, a.email, a.password);
      const r = await send('POST', `${s.api}/auth/tokens`, cookie, { name: 'agent', expires_in_days: 30 });
      expect(r.status).toBe(201);
      const minted = (await r.json()) as { id: string; token: string; prefix: string; expires_at: string };
      expectSchema(minted, 'read-token-mint.schema.json');
      expect(minted.token.startsWith(`${minted.prefix}_`)).toBe(true);
      expect(minted.token).toMatch(/^augr_/);
      const stored = await s.ctx.stores.metadata.findReadToken(sha256(minted.token), s.clock.now());
      expect(stored?.token_hash).toBe(sha256(minted.token));

      const list = await get(`${s.api}/auth/tokens`, cookie);
      const listText = await list.text();
      expect(list.status).toBe(200);
      expectSchema(JSON.parse(listText), 'read-tokens-page.schema.json');
      expect(listText).not.toContain(minted.token);
      expectNoSecrets(listText);
      expect((JSON.parse(listText) as { tokens: Array<{ id: string }> }).tokens.map((t) => t.id)).toContain(minted.id);

      for (const path of ['/auth/me', '/runs', '/runs/run_of_a/manifest.json', '/runs/run_of_a/trace.json', '/connections', '/tenant/dsns']) {
        const g = await get(`${s.api}${path}`, minted.token);
        expect(g.status, path).toBe(200);
      }
      const runs = (await (await get(`${s.api}/runs`, minted.token)).json()) as { runs: Array<{ run_id: string }> };
      expect(runs.runs.map((x) => x.run_id)).toEqual(['run_of_a']);
      // Its last use is recorded in the next batched flush, not per request.
      await s.ctx.housekeeping.flush();
      const used = (await (await get(`${s.api}/auth/tokens`, cookie)).json()) as { tokens: Array<{ id: string; last_used_at: string | null }> };
      expect(used.tokens.find((t) => t.id === minted.id)?.last_used_at).toBe(new Date(s.clock.now()).toISOString());
      // Writes and token management need a session.
      await expectError(await send('POST', `${s.api}/tenant/dsns`, undefined, { client_name: 'x' }, { authorization: `Bearer ${minted.token}` }), 403, 'forbidden');
      await expectError(await send('POST', `${s.api}/auth/tokens`, undefined, { name: 'x' }, { authorization: `Bearer ${minted.token}` }), 403, 'forbidden');
      await expectError(await get(`${s.api}/auth/tokens`, minted.token), 403, 'forbidden');
      // Nor does a read token ingest: a credential of the wrong kind is 403, like a DSN key on a read route.
      await expectError(await send('PUT', `${s.api}/runs/run_of_a/steps/0`, undefined, { step_index: 0 }, { authorization: `Bearer ${minted.token}` }), 403, 'forbidden');
      await expectError(await send('POST', `${s.api}/heartbeat`, undefined, { client_id: 'c' }, { authorization: `Bearer ${minted.token}` }), 403, 'forbidden');

      // Another user cannot revoke it.
      const other = await login(s.api, b.email, b.password);
      await expectError(await send('DELETE', `${s.api}/auth/tokens/${minted.id}`, other.cookie), 404, 'not_found');
      expect((await send('DELETE', `${s.api}/auth/tokens/${minted.id}`, cookie)).status).toBe(204);
      await expectError(await get(`${s.api}/runs`, minted.token), 401, 'invalid_credential');
      await expectError(await send('DELETE', `${s.api}/auth/tokens/${minted.id}`, cookie), 404, 'not_found');
      await expectError(await send('DELETE', `${s.api}/auth/tokens/not-a-uuid`, cookie), 404, 'not_found');
    });

    it('expires a token after expires_in_days', async () => {
      const { cookie } = await login(s.api, a.email, a.password);
      const minted = (await (await send('POST', `${s.api}/auth/tokens`, cookie, { name: 'short', expires_in_days: 1 })).json()) as { token: string };
      expect((await get(`${s.api}/runs`, minted.token)).status).toBe(200);
      s.clock.advance(86_400_000 + 1_000);
      await expectError(await get(`${s.api}/runs`, minted.token), 401, 'invalid_credential');
    });
  });

  describe.skipIf(skip)('DSNs of the tenant', () => {
    it('lists without key material, mints once, revokes (and every replica forgets the key)', async () => {
      const { cookie } = await login(s.api, a.email, a.password);
      const list = await get(`${s.api}/tenant/dsns`, cookie);
      const text = await list.text();
      expect(list.status).toBe(200);
      expectSchema(JSON.parse(text), 'dsns-page.schema.json');
      expect(text).not.toContain(a.key);
      expectNoSecrets(text);
      const ids = (JSON.parse(text) as { dsns: Array<{ id: string }> }).dsns.map((d) => d.id);
      expect(ids).toEqual([a.dsn.id]);

      const r = await send('POST', `${s.api}/tenant/dsns`, cookie, { client_name: 'laptop' });
      expect(r.status).toBe(201);
      const mint = (await r.json()) as { id: string; api_key: string; dsn: string; export: string; tenant_id: string };
      expectSchema(mint, 'dsn-mint.schema.json');
      expect(mint.tenant_id).toBe(a.id);
      // The SDK's format, built from AUGUR_PUBLIC_URL: the SDK reads the key and the tenant back.
      expect(parseDsnLikeTheSdk(mint.dsn)).toEqual({ baseUrl: `${s.ctx.config.publicUrl}/api/v1`, token: mint.api_key, tenant: a.slug });
      expect(mint.export).toBe(`export AUGUR_DSN='${mint.dsn}'`);
      expect(await s.ctx.dsnCache.resolve(mint.api_key)).toBeDefined();
      await expectError(await send('POST', `${s.api}/tenant/dsns`, cookie, { client_name: '' }), 422, 'validation_failed');

      // Someone else's DSN is not found; so is a made-up one.
      await expectError(await send('DELETE', `${s.api}/tenant/dsns/${b.dsn.id}`, cookie), 404, 'not_found');
      await expectError(await send('DELETE', `${s.api}/tenant/dsns/00000000-0000-4000-8000-000000000000`, cookie), 404, 'not_found');
      expect(await s.ctx.dsnCache.resolve(b.key)).toBeDefined();

      expect((await send('DELETE', `${s.api}/tenant/dsns/${mint.id}`, cookie)).status).toBe(204);
      expect(await s.ctx.dsnCache.resolve(mint.api_key)).toBeUndefined();
      const after = (await (await get(`${s.api}/tenant/dsns`, cookie)).json()) as { dsns: Array<{ id: string; revoked_at: string | null }> };
      expect(after.dsns.find((d) => d.id === mint.id)?.revoked_at).toEqual(expect.any(String));
    });
  });

  describe.skipIf(skip)('admin and impersonation', () => {
    it('lists every tenant with counts, for admins only', async () => {
      const admin = await login(s.api, ADMIN.email, ADMIN.password);
      const r = await get(`${s.api}/admin/tenants`, admin.cookie);
      const text = await r.text();
      expect(r.status).toBe(200);
      expectSchema(JSON.parse(text), 'tenants-page.schema.json');
      expectNoSecrets(text);
      const tenants = (JSON.parse(text) as { tenants: Array<{ id: string; counts: { users: number; runs: number; dsns: number } }> }).tenants;
      expect(tenants.find((t) => t.id === a.id)?.counts).toMatchObject({ users: 1, runs: 1 });
      const user = await login(s.api, a.email, a.password);
      await expectError(await get(`${s.api}/admin/tenants`, user.cookie), 403, 'forbidden');
      await expectError(await send('POST', `${s.api}/admin/impersonate`, user.cookie, { tenant: b.slug }), 403, 'forbidden');
    });

    it('lets an admin scope reads to another tenant, refuses tenant writes meanwhile, and clears it', async () => {
      const admin = await login(s.api, ADMIN.email, ADMIN.password);
      const r = await send('POST', `${s.api}/admin/impersonate`, admin.cookie, { tenant: b.slug });
      expect(r.status).toBe(200);
      const me = (await r.json()) as { tenant: { id: string }; impersonating: boolean };
      expectSchema(me, 'me.schema.json');
      expect(me).toMatchObject({ tenant: { id: b.id }, impersonating: true });
      const o = cookieNamed(r, 'augur_tenant_override')!;
      expect(o.value).toBe(b.id);
      expect(o.attrs.httponly).toBe(true);
      expect(String(o.attrs.samesite).toLowerCase()).toBe('lax');
      const both = `${admin.cookie}; augur_tenant_override=${o.value}`;

      const runs = (await (await get(`${s.api}/runs`, both)).json()) as { runs: Array<{ run_id: string }> };
      expect(runs.runs.map((x) => x.run_id)).toEqual(['run_of_b']);
      expect((await get(`${s.api}/runs/run_of_b/manifest.json`, both)).status).toBe(200);
      const me2 = (await (await get(`${s.api}/auth/me`, both)).json()) as { tenant: { id: string }; home_tenant: { slug: string }; impersonating: boolean };
      expect(me2).toMatchObject({ tenant: { id: b.id }, home_tenant: { slug: 'default' }, impersonating: true });

      await expectError(await send('POST', `${s.api}/tenant/dsns`, both, { client_name: 'x' }), 403, 'impersonation_read_only');
      await expectError(await send('DELETE', `${s.api}/tenant/dsns/${b.dsn.id}`, both), 403, 'impersonation_read_only');
      expect(await s.ctx.dsnCache.resolve(b.key)).toBeDefined();

      // By id works too; an unknown tenant is 404.
      const byId = await send('POST', `${s.api}/admin/impersonate`, admin.cookie, { tenant: a.id });
      expect(cookieNamed(byId, 'augur_tenant_override')?.value).toBe(a.id);
      await expectError(await send('POST', `${s.api}/admin/impersonate`, admin.cookie, { tenant: 'no-such-tenant' }), 404, 'not_found');

      const clear = await send('POST', `${s.api}/admin/impersonate`, both, { tenant: null });
      expect(clear.status).toBe(200);
      expect(((await clear.json()) as { impersonating: boolean }).impersonating).toBe(false);
      expect(cookieNamed(clear, 'augur_tenant_override')?.value).toBe('');
    });

    it('ignores a non-admin user\'s override cookie, whatever its value', async () => {
      const user = await login(s.api, a.email, a.password);
      for (const value of [b.id, b.slug, 'garbage', '']) {
        const c = `${user.cookie}; augur_tenant_override=${value}`;
        const me = (await (await get(`${s.api}/auth/me`, c)).json()) as { tenant: { id: string }; impersonating: boolean };
        expect(me).toMatchObject({ tenant: { id: a.id }, impersonating: false });
        const runs = (await (await get(`${s.api}/runs`, c)).json()) as { runs: Array<{ run_id: string }> };
        expect(runs.runs.map((x) => x.run_id)).toEqual(['run_of_a']);
        await expectError(await get(`${s.api}/runs/run_of_b/manifest.json`, c), 404, 'not_found');
        // Tenant writes are the user's own, not refused as impersonation.
        expect((await send('POST', `${s.api}/tenant/dsns`, c, { client_name: 'mine' })).status).toBe(201);
      }
    });

    it('drops the override as soon as the user is no longer an admin', async () => {
      const t = await s.tenant({ admin: true });
      const admin = await login(s.api, t.email, t.password);
      const c = `${admin.cookie}; augur_tenant_override=${b.id}`;
      expect(((await (await get(`${s.api}/auth/me`, c)).json()) as { impersonating: boolean }).impersonating).toBe(true);
      const { metadata } = s.ctx.stores as unknown as { metadata: { db: (t: string) => { where: (w: object) => { update: (u: object) => Promise<number> } } } };
      await metadata.db('users').where({ email: t.email }).update({ is_admin: false });
      const me = (await (await get(`${s.api}/auth/me`, c)).json()) as { tenant: { id: string }; impersonating: boolean };
      expect(me).toMatchObject({ tenant: { id: t.id }, impersonating: false });
    });
  });
});

describe.each(PROFILES)('failed-login limits and https cookies on %s backends', (profile) => {
  let s: TestServer;
  let a: TestTenant;
  const skip = profile === 'production' && !productionAvailable();
  // Behind a trusted proxy the client address and scheme come from X-Forwarded-*.
  beforeAll(async () => {
    if (skip) return;
    s = await startTestServer(profile, { AUGUR_TRUST_PROXY: 'true' });
    a = await s.tenant();
  });
  afterAll(async () => s?.close());
  const from = (ip: string) => ({ 'x-forwarded-for': ip });
  const attempt = (email: string, password: string, ip: string) =>
    send('POST', `${s.api}/auth/login`, undefined, { email, password }, from(ip));

  it.skipIf(skip)('marks the cookies Secure over https', async () => {
    const { res } = await login(s.api, a.email, a.password, { 'x-forwarded-proto': 'https', ...from('10.9.9.9') });
    expect(cookieNamed(res, 'augur_session')?.attrs.secure).toBe(true);
  });

  it.skipIf(skip)('allows 10 failures per account, then answers 429 with Retry-After, even for the right password', async () => {
    const ip = '10.1.0.1';
    for (let i = 0; i < 10; i++) await expectError(await attempt(a.email, 'wrong-password', ip), 401, 'invalid_login');
    const r = await attempt(a.email, a.password, '10.1.0.2');
    await expectError(r, 429, 'rate_limited');
    const retry = Number(r.headers.get('retry-after'));
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(15 * 60);
    // Another account from the same address is unaffected.
    const other = await s.tenant();
    await login(s.api, other.email, other.password, from(ip));
    if (profile === 'embedded') {
      // The window is kept by the presence store against the injected clock.
      s.clock.advance(15 * 60_000 + 1_000);
      await login(s.api, a.email, a.password, from(ip));
    }
  });

  it.skipIf(skip)('holds the account limit against concurrent attempts', async () => {
    const t = await s.tenant();
    const results = await Promise.all(Array.from({ length: 25 }, (_, i) => attempt(t.email, 'wrong-password', `10.4.0.${i + 1}`)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((x) => x === 401)).toHaveLength(10);
    expect(statuses.filter((x) => x === 429)).toHaveLength(15);
  });

  it.skipIf(skip)('does not count successful logins', async () => {
    const t = await s.tenant();
    for (let i = 0; i < 12; i++) await login(s.api, t.email, t.password, from('10.2.0.1'));
    await expectError(await attempt(t.email, 'wrong-password', '10.2.0.1'), 401, 'invalid_login');
  });

  it.skipIf(skip)('allows 100 failures per client address, then 429 for any account from it', async () => {
    const ip = '10.3.0.1';
    for (let i = 0; i < 100; i++) await expectError(await attempt(`nobody-${i}-${rid(3)}@example.com`, 'x-wrong-pass', ip), 401, 'invalid_login');
    const t = await s.tenant();
    const r = await attempt(t.email, t.password, ip);
    await expectError(r, 429, 'rate_limited');
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    await login(s.api, t.email, t.password, from('10.3.0.2'));
  });
});
