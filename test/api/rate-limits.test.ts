import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createBackends, PROFILES, productionAvailable, type TestBackends } from '../helpers/backends.js';
import { expectError } from '../helpers/schemas.js';
import { startTestServer, type TestServer, type TestTenant } from '../helpers/server.js';
import { spawnServer, type ServerProcess } from '../helpers/spawn.js';
import { LIMIT_WINDOW_MS } from '../../server/services/rate-limits.js';
import { login, send } from './read-helpers.js';

/** Limits small enough to reach: 3/s per key (6 per 2 s window), 5/s per tenant (10 per window); one-point leases. */
const LIMITS = { AUGUR_RATE_LIMIT_PER_KEY: '3', AUGUR_RATE_LIMIT_PER_TENANT: '5' };

const beat = (api: string, key: string) =>
  fetch(`${api}/heartbeat`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ client_id: 'limits-client' }),
  });

const limitHeaders = (r: Response) => ({
  limit: r.headers.get('x-ratelimit-limit'),
  remaining: r.headers.get('x-ratelimit-remaining'),
  reset: r.headers.get('x-ratelimit-reset'),
});

describe.each(PROFILES)('ingest rate limits on %s backends', (profile) => {
  const skip = profile === 'production' && !productionAvailable();
  let s: TestServer;
  beforeAll(async () => {
    if (!skip) s = await startTestServer(profile, LIMITS);
  });
  afterAll(async () => s?.close());

  /** Moves the test clock to 500 ms into a window no request has used yet (1.5 s left: Reset and Retry-After say 2). */
  function freshWindow(): void {
    s.clock.t = (Math.floor(s.clock.t / LIMIT_WINDOW_MS) + 1) * LIMIT_WINDOW_MS + 500;
  }

  async function expectOk(r: Response): Promise<void> {
    expect(r.status, await r.clone().text()).toBe(200);
    await r.arrayBuffer();
  }

  it.skipIf(skip)('admits a key its burst with X-RateLimit-* headers, then answers 429 rate_limited with Retry-After on every ingest route', async () => {
    freshWindow();
    const t = await s.tenant();
    const remaining: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await beat(s.api, t.key);
      await expectOk(r);
      expect(limitHeaders(r)).toMatchObject({ limit: '6', reset: '2' });
      remaining.push(r.headers.get('x-ratelimit-remaining')!);
    }
    expect(remaining).toEqual(['5', '4', '3', '2', '1', '0']);

    const refused = await beat(s.api, t.key);
    const body = await expectError(refused, 429, 'rate_limited');
    expect(String(body.detail)).toContain('DSN key');
    expect(refused.headers.get('retry-after')).toBe('2');
    expect(limitHeaders(refused)).toEqual({ limit: '6', remaining: '0', reset: '2' });

    // Any DSN route, refused before its body is read (this one is not even valid JSON).
    const events = await fetch(`${s.api}/runs/limits_run/events`, { method: 'POST', headers: { authorization: `Bearer ${t.key}`, 'content-type': 'application/json' }, body: '{' });
    await expectError(events, 429, 'rate_limited');
    const poll = await fetch(`${s.api}/runs/limits_run/commands?wait=0`, { headers: { authorization: `Bearer ${t.key}` } });
    await expectError(poll, 429, 'rate_limited');
  });

  it.skipIf(skip)('restores service when the window passes', async () => {
    freshWindow();
    const t = await s.tenant();
    for (let i = 0; i < 6; i++) await expectOk(await beat(s.api, t.key));
    await expectError(await beat(s.api, t.key), 429, 'rate_limited');
    s.clock.advance(1_000); // still the same window (500 ms left): Retry-After said 2, rounded up
    const still = await beat(s.api, t.key);
    await expectError(still, 429, 'rate_limited');
    expect(still.headers.get('retry-after')).toBe('1');
    s.clock.advance(500);
    const back = await beat(s.api, t.key);
    await expectOk(back);
    // A client that asked again before Retry-After meets the new window paced: its bucket refilled
    // from its last refusal only (0.5 s × 3/s = 1.5 tokens, one spent here).
    expect(limitHeaders(back)).toEqual({ limit: '6', remaining: '0', reset: '2' });

    // One that waits Retry-After out has its whole burst back.
    freshWindow();
    const patient = await s.tenant();
    for (let i = 0; i < 6; i++) await expectOk(await beat(s.api, patient.key));
    const refused = await beat(s.api, patient.key);
    await expectError(refused, 429, 'rate_limited');
    s.clock.advance(Number(refused.headers.get('retry-after')) * 1_000);
    const whole = await beat(s.api, patient.key);
    await expectOk(whole);
    expect(limitHeaders(whole)).toEqual({ limit: '6', remaining: '5', reset: '2' });
  });

  it.skipIf(skip)('paces a key whose burst is spent: a request per 1/R s, Retry-After 1 while the window still has room', async () => {
    freshWindow();
    const t = await s.tenant();
    for (let i = 0; i < 6; i++) await expectOk(await beat(s.api, t.key));
    // The next window starts in 1.5 s with its 6 points, but the bucket has refilled 1.5 s × 3/s = 4.5 tokens.
    s.clock.advance(1_500);
    const remaining: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await beat(s.api, t.key);
      await expectOk(r);
      remaining.push(r.headers.get('x-ratelimit-remaining')!);
    }
    expect(remaining).toEqual(['3', '2', '1', '0']);
    const paced = await beat(s.api, t.key);
    const body = await expectError(paced, 429, 'rate_limited');
    expect(String(body.detail)).toContain('DSN key');
    // The next token is 167 ms away (3/s): Retry-After 1, while the window ends in 2 s.
    expect(paced.headers.get('retry-after')).toBe('1');
    expect(limitHeaders(paced)).toEqual({ limit: '6', remaining: '0', reset: '2' });
    s.clock.advance(167);
    await expectOk(await beat(s.api, t.key));
  });

  it.skipIf(skip)('counts a commands long poll once', async () => {
    freshWindow();
    const t = await s.tenant();
    await expectOk(await beat(s.api, t.key));
    const poll = await fetch(`${s.api}/runs/limits_poll/commands?wait=0`, { headers: { authorization: `Bearer ${t.key}` } });
    await expectOk(poll);
    expect(poll.headers.get('x-ratelimit-remaining')).toBe('4');
  });

  it.skipIf(skip)('makes two keys of one tenant share its limit, and leaves another tenant alone', async () => {
    freshWindow();
    const t = await s.tenant();
    const second = (await s.admin.issueDsn(t.id, 'second-fleet')).api_key;
    const other: TestTenant = await s.tenant();
    for (let i = 0; i < 6; i++) await expectOk(await beat(s.api, t.key));
    // The first key is spent; the second key has its own 6, but the tenant only 4 more.
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await beat(s.api, second);
      await expectOk(r);
      seen.push(`${r.headers.get('x-ratelimit-limit')}/${r.headers.get('x-ratelimit-remaining')}`);
    }
    // The tighter limit is reported: the tenant's (10 per window) once it has fewer left than the key.
    expect(seen).toEqual(['10/3', '10/2', '10/1', '10/0']);
    const refused = await beat(s.api, second);
    const body = await expectError(refused, 429, 'rate_limited');
    expect(String(body.detail)).toContain('tenant');
    expect(limitHeaders(refused)).toEqual({ limit: '10', remaining: '0', reset: '2' });
    expect(refused.headers.get('retry-after')).toBe('2');
    // Another tenant has its own budgets.
    const fine = await beat(s.api, other.key);
    await expectOk(fine);
    expect(limitHeaders(fine)).toEqual({ limit: '6', remaining: '5', reset: '2' });
  });
});

/** Opens an ingest request whose body never finishes: the server holds it in flight until the socket closes. */
function heldUpload(api: string, key: string): http.ClientRequest {
  const u = new URL(`${api}/runs/held_run/events`);
  const req = http.request({
    host: u.hostname,
    port: u.port,
    path: u.pathname,
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': '1000' },
  });
  req.on('error', () => undefined);
  req.write('{"events": [');
  return req;
}

describe.each(PROFILES)('overload guard on %s backends', (profile) => {
  const skip = profile === 'production' && !productionAvailable();
  let s: TestServer;
  beforeAll(async () => {
    if (!skip) s = await startTestServer(profile, { AUGUR_MAX_IN_FLIGHT: '2' });
  });
  afterAll(async () => s?.close());

  it.skipIf(skip)('sheds ingest with 503 overloaded past the in-flight bound while health checks and reads still answer', async () => {
    const t = await s.tenant();
    const held = [heldUpload(s.api, t.key), heldUpload(s.api, t.key)];
    // A state the server reaches, not a duration: both uploads admitted and waiting for their bodies.
    await vi.waitFor(() => expect(s.ctx.overload.current).toBe(2), { timeout: 10_000, interval: 5 });
    const shedBefore = s.ctx.metrics.shed.labels('in_flight').value;

    const refused = await beat(s.api, t.key);
    await expectError(refused, 503, 'overloaded');
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(s.ctx.metrics.shed.labels('in_flight').value).toBe(shedBefore + 1);

    expect((await fetch(`${s.api}/healthz`)).status).toBe(200);
    expect((await fetch(`${s.api}/readyz`)).status).toBe(200);
    // Reads are shed only past twice the bound: this one reaches its auth check.
    await expectError(await fetch(`${s.api}/runs`), 401, 'not_authenticated');

    for (const req of held) req.destroy();
    await vi.waitFor(() => expect(s.ctx.overload.current).toBe(0), { timeout: 10_000, interval: 5 });
    const r = await beat(s.api, t.key);
    expect(r.status, await r.text()).toBe(200);
  });
});

/** Opens a commands poll that the server answers at once (wait=0): a long poll route. */
const poll = (api: string, key: string) => fetch(`${api}/runs/slots_run/commands?wait=0`, { headers: { authorization: `Bearer ${key}` } });

describe.each(PROFILES)('tenant slots on %s backends', (profile) => {
  const skip = profile === 'production' && !productionAvailable();
  let s: TestServer;
  beforeAll(async () => {
    // One slot and one place in the queue per tenant; a key limit of 3/s (6 per window) to see what is spent.
    if (!skip) s = await startTestServer(profile, { AUGUR_TENANT_MAX_IN_FLIGHT: '1', AUGUR_TENANT_MAX_QUEUED: '1', AUGUR_RATE_LIMIT_PER_KEY: '3', AUGUR_RATE_LIMIT_PER_TENANT: '0' });
  });
  afterAll(async () => s?.close());

  it.skipIf(skip)('queues a tenant\'s requests past its slots, refuses past its queue with 429, and leaves other tenants, polls and reads alone', async () => {
    s.clock.t = (Math.floor(s.clock.t / LIMIT_WINDOW_MS) + 1) * LIMIT_WINDOW_MS + 500;
    const flood = await s.tenant();
    const other = await s.tenant();
    const held = heldUpload(s.api, flood.key);
    // States the server reaches, not durations: the upload holds the tenant's slot...
    await vi.waitFor(() => expect(s.ctx.tenantSlots.running(flood.id)).toBe(1), { timeout: 10_000, interval: 5 });
    const queued = beat(s.api, flood.key);
    // ...the next request waits in its queue, not counted in flight (it waits, it does not work).
    await vi.waitFor(() => expect(s.ctx.tenantSlots.queued).toBe(1), { timeout: 10_000, interval: 5 });
    expect(s.ctx.overload.current).toBe(1);

    const refused = await beat(s.api, flood.key);
    const body = await expectError(refused, 429, 'rate_limited');
    expect(String(body.detail)).toContain('at once');
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.headers.get('x-ratelimit-limit')).toBe('6');

    // Another tenant is served at once; a long poll of the flooding tenant takes no slot; reads and health checks answer.
    await expectOkStatus(await beat(s.api, other.key));
    await expectOkStatus(await poll(s.api, flood.key));
    expect((await fetch(`${s.api}/healthz`)).status).toBe(200);
    await expectError(await fetch(`${s.api}/runs`), 401, 'not_authenticated');

    held.destroy();
    const served = await queued;
    await expectOkStatus(served);
    // Spent: the upload, the queued request, the poll; the refused one was given back: 2 left after this one.
    const after = await beat(s.api, flood.key);
    await expectOkStatus(after);
    expect(after.headers.get('x-ratelimit-remaining')).toBe('2');
    await vi.waitFor(() => expect(s.ctx.tenantSlots.running(flood.id)).toBe(0), { timeout: 10_000, interval: 5 });
    expect(s.ctx.tenantSlots.queued).toBe(0);
  });
});

describe.each(PROFILES)('a screenshot upload takes no tenant slot (%s backends)', (profile) => {
  const skip = profile === 'production' && !productionAvailable();
  let s: TestServer;
  beforeAll(async () => {
    if (!skip) s = await startTestServer(profile, { AUGUR_TENANT_MAX_IN_FLIGHT: '1', AUGUR_TENANT_MAX_QUEUED: '1', AUGUR_RATE_LIMIT_PER_KEY: '0', AUGUR_RATE_LIMIT_PER_TENANT: '0' });
  });
  afterAll(async () => s?.close());

  it.skipIf(skip)('a slow upload leaves its tenant\'s one slot to its step and event posts', async () => {
    const t = await s.tenant();
    const u = new URL(`${s.api}/runs/slow_link/screenshots/0/pre`);
    const boundary = 'slowlinkboundary';
    const upload = http.request({
      host: u.hostname,
      port: u.port,
      path: u.pathname,
      method: 'POST',
      headers: { authorization: `Bearer ${t.key}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': '100000' },
    });
    upload.on('error', () => undefined);
    upload.write(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`);
    // The upload is in flight (the overload guard counts it) and holds no slot of its tenant...
    await vi.waitFor(() => expect(s.ctx.overload.current).toBe(1), { timeout: 10_000, interval: 5 });
    expect(s.ctx.tenantSlots.running(t.id)).toBe(0);
    // ...so the tenant's next requests take the one slot in turn, none queued behind the upload.
    await expectOkStatus(await beat(s.api, t.key));
    await expectOkStatus(await beat(s.api, t.key));
    expect(s.ctx.tenantSlots.queued).toBe(0);
    upload.destroy();
    await vi.waitFor(() => expect(s.ctx.overload.current).toBe(0), { timeout: 10_000, interval: 5 });
  });
});

async function expectOkStatus(r: Response): Promise<void> {
  expect(r.status, await r.clone().text()).toBe(200);
  await r.arrayBuffer();
}

/** Two replicas (compiled server processes) on one Redis: a key's limit is theirs together. */
describe.skipIf(!productionAvailable())('a key limit shared by two server processes', () => {
  let backends: TestBackends;
  let a: ServerProcess;
  let b: ServerProcess;
  beforeAll(async () => {
    backends = await createBackends('production', { AUGUR_RATE_LIMIT_PER_KEY: '1', AUGUR_RATE_LIMIT_PER_TENANT: '0' });
    a = await spawnServer(backends.env);
    b = await spawnServer(backends.env);
  }, 90_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await backends?.cleanup();
  });

  it('admits the window budget (2) across both replicas, then both refuse', async () => {
    const { cookie } = await login(a.api, 'admin@example.com', 'admin-password');
    // The servers keep real time: an attempt that straddles a window boundary is repeated with a
    // fresh key (judged on the clock both processes read), never waited out.
    for (let attempt = 0; attempt < 5; attempt++) {
      const mint = (await (await send('POST', `${a.api}/tenant/dsns`, cookie, { client_name: `replicas-${attempt}` })).json()) as { api_key: string };
      const started = Date.now();
      const statuses: number[] = [];
      for (const server of [a, b, a, b]) {
        const r = await beat(server.api, mint.api_key);
        statuses.push(r.status);
        await r.arrayBuffer();
      }
      if (Math.floor(started / LIMIT_WINDOW_MS) !== Math.floor(Date.now() / LIMIT_WINDOW_MS)) continue;
      expect(statuses).toEqual([200, 200, 429, 429]);
      return;
    }
    throw new Error('every attempt straddled a window boundary');
  });
});
