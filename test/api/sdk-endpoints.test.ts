import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandHub } from '../../server/services/commands.js';
import { PROFILES, productionAvailable, rid } from '../helpers/backends.js';
import { expectError, expectSchema } from '../helpers/schemas.js';
import { startTestServer, type TestServer, type TestTenant } from '../helpers/server.js';
import { spawnServer, type ServerProcess } from '../helpers/spawn.js';
import { get, login, send } from './read-helpers.js';

/** What SDK 0.1.14 sent for its side effects, reasoning, eval candidate and outcomes, and the files it wrote for them. */
const WIRE = JSON.parse(readFileSync(new URL('../fixtures/sdk-0.1.14-ledger.json', import.meta.url), 'utf8')) as {
  run_id: string;
  requests: Array<{ seq: number; method: string; path: string; body: Record<string, unknown> }>;
  bundle: Record<string, unknown>;
};

// A hold and a re-check longer than any test's timeout: a poll that answers with a command was woken, not timed out.
const HOLD_ENV = { AUGUR_COMMANDS_HOLD_MS: '60000', AUGUR_COMMANDS_RECHECK_MS: '600000' };

interface Page {
  commands: Array<{ command_id: string; type: string; cursor: string; operator_id: string | null; payload: Record<string, unknown> | null }>;
  cursor: string | null;
}

/** Resolves once a poll of `runId` is held (waiting for a command) on this server. */
function held(hub: CommandHub, runId: string): Promise<void> {
  return new Promise((resolve) => {
    const on = (_tenant: string, run: string) => {
      if (run !== runId) return;
      hub.events.off('hold', on);
      resolve();
    };
    hub.events.on('hold', on);
  });
}

describe.each(PROFILES)('SDK ledger endpoints and the commands channel on %s backends', (profile) => {
  const skip = profile === 'production' && !productionAvailable();
  let s: TestServer;
  let t: TestTenant;
  let other: TestTenant;
  let cookie: string;
  let otherCookie: string;

  const dsn = (method: string, path: string, body?: unknown, key = t.key, headers: Record<string, string> = {}) =>
    fetch(`${s.api}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const ok = async (res: Response, status = 200): Promise<Record<string, unknown>> => {
    const text = await res.text();
    expect(res.status, text).toBe(status);
    return JSON.parse(text) as Record<string, unknown>;
  };
  const readJson = async (path: string, who = cookie): Promise<unknown> => ok(await get(`${s.api}${path}`, who));
  const poll = async (run: string, query = '', key = t.key): Promise<Page> => {
    const body = (await ok(await dsn('GET', `/runs/${run}/commands${query}`, undefined, key))) as unknown as Page;
    expectSchema(body, 'commands-page.schema.json');
    return body;
  };
  const issue = async (run: string, body: Record<string, unknown>, who = cookie) => {
    const r = await ok(await send('POST', `${s.api}/runs/${run}/commands`, who, body), 201);
    expectSchema(r, 'command.schema.json');
    return r as { command_id: string; cursor: string };
  };
  /** Puts the run in the run index at once (ingest batches it). */
  const indexRun = (tenant: TestTenant, run: string) => s.ctx.stores.metadata.touchRuns([{ tenant_id: tenant.id, run_id: run, seen_at: Date.now() }]);

  beforeAll(async () => {
    if (skip) return;
    s = await startTestServer(profile, HOLD_ENV);
    [t, other] = await Promise.all([s.tenant(), s.tenant()]);
    cookie = (await login(s.api, t.email, t.password)).cookie;
    otherCookie = (await login(s.api, other.email, other.password)).cookie;
  });
  afterAll(async () => {
    await s?.close();
  });

  it.skipIf(skip)("replaying SDK 0.1.14's calls reads back the files it wrote, by value, and /files lists them", async () => {
    const run = `run_sdk_${rid(4)}`;
    for (const r of WIRE.requests) {
      const body = JSON.parse(JSON.stringify(r.body).replaceAll(WIRE.run_id, run)) as unknown;
      await ok(await dsn(r.method, r.path.replace(WIRE.run_id, run), body));
    }
    for (const [path, expected] of Object.entries(WIRE.bundle)) {
      const res = await get(`${s.api}/runs/${run}/${path}`, cookie);
      const text = await res.text();
      expect(res.status, `${path}: ${text}`).toBe(200);
      const got = path.endsWith('.jsonl') ? text.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown) : (JSON.parse(text) as unknown);
      const fix = (v: unknown) => JSON.parse(JSON.stringify(v).replaceAll(WIRE.run_id, run)) as unknown;
      expect(got, path).toEqual(fix(expected));
      if (path === 'outcomes.json') expectSchema(got, 'outcomes.schema.json');
      if (path === 'eval_candidates.json') expectSchema(got, 'eval-candidates.schema.json');
      if (path.startsWith('side_effects/')) expectSchema(got, 'side-effect.schema.json');
    }
    const listing = (await readJson(`/runs/${run}/files`)) as { files: Array<{ path: string; size: number }> };
    expectSchema(listing, 'bundle-files.schema.json');
    expect(listing.files.map((f) => f.path)).toEqual(Object.keys(WIRE.bundle).sort());
    for (const f of listing.files) {
      const bytes = Buffer.from(await (await get(`${s.api}/runs/${run}/${f.path}`, cookie)).arrayBuffer());
      expect(f.size, f.path).toBe(bytes.length);
    }
  });

  it.skipIf(skip)('/files maps appended chunks to their one path, lists plain files and leaves server-only data out', async () => {
    const run = `run_files_${rid(4)}`;
    await ok(await dsn('POST', '/runs', { run_id: run, agent: { name: 'a' } }), 201);
    await ok(await dsn('PUT', `/runs/${run}/steps/0`, { step_index: 0 }));
    for (let i = 0; i < 3; i++) await ok(await dsn('POST', `/runs/${run}/events`, { events: [{ type: 'probe', i }], step_index: 0 }));
    await ok(await dsn('POST', `/runs/${run}/logs`, { text: 'hello\n' }));
    await ok(await dsn('POST', `/runs/${run}/reasoning`, { text: 'think', step_index: 0 }));
    await s.ctx.stores.objects.put(`tenants/${t.id}/runs/${run}/.derived/merged.json`, '{}', { contentType: 'application/json' });
    const { files } = (await readJson(`/runs/${run}/files`)) as { files: Array<{ path: string; size: number }> };
    expect(files.map((f) => f.path)).toEqual(['events/0000.jsonl', 'events/reasoning.jsonl', 'logs/run.log', 'manifest.json', 'steps/0000.json']);
    // Derived data is readable (findings) or server-only (.derived/), never listed.
    expect((await get(`${s.api}/runs/${run}/diagnostics/findings.json`, cookie)).status).toBe(200);
    const events = await (await get(`${s.api}/runs/${run}/events/0000.jsonl`, cookie)).text();
    expect(events.trimEnd().split('\n')).toHaveLength(3);
    expect(files[0]!.size).toBe(Buffer.byteLength(events));
  });

  it.skipIf(skip)('side effects: a terminal state never goes back to intent_only; committed outranks aborted; within a state the last post wins', async () => {
    const run = `run_se_${rid(4)}`;
    const se = (id: string, status: string, extra: Record<string, unknown> = {}) =>
      dsn('POST', `/runs/${run}/side-effects`, { side_effect_id: id, step_index: 4, resource: 'r', action: 'a', status, ...extra });
    const latest = async (id: string) => (await readJson(`/runs/${run}/side_effects/0004-${id}.json`)) as Record<string, unknown>;

    const ack = await ok(await se('late', 'committed', { observed_result: { n: 1 } }));
    expect(ack).toEqual({ ok: true, run_id: run, file: 'side_effects/0004-late.json' });
    await ok(await se('late', 'intent_only'));
    expect(await latest('late')).toMatchObject({ status: 'committed', observed_result: { n: 1 } });

    await ok(await se('killed', 'aborted', { abort_reason: 'kill' }));
    await ok(await se('killed', 'intent_only'));
    expect(await latest('killed')).toMatchObject({ status: 'aborted', abort_reason: 'kill' });
    await ok(await se('killed', 'committed'));
    await ok(await se('killed', 'aborted', { abort_reason: 'again' }));
    expect((await latest('killed')).status).toBe('committed');

    await ok(await se('inflight', 'intent_only', { note: 'first' }));
    expect(await latest('inflight')).toMatchObject({ status: 'intent_only', note: 'first' });
    await ok(await se('inflight', 'intent_only', { note: 'second' }));
    expect((await latest('inflight')).note).toBe('second');

    // Both states at once, as from two replicas: the terminal one is what reads back.
    const ids = Array.from({ length: 8 }, (_, i) => `race${i}`);
    await Promise.all(ids.flatMap((id) => [se(id, 'intent_only'), se(id, 'committed')]).map(async (p) => ok(await p)));
    for (const id of ids) expect((await latest(id)).status).toBe('committed');

    await expectError(await get(`${s.api}/runs/${run}/side_effects/0005-late.json`, cookie), 404, 'not_found');
    await expectError(await get(`${s.api}/runs/${run}/side_effects/..%2Fx.json`, cookie), 404, 'not_found');
  });

  it.skipIf(skip)('side effects: the id (it becomes a key), the step index and the status are checked', async () => {
    const run = `run_sev_${rid(4)}`;
    const base = { side_effect_id: 'se_1', step_index: 1, status: 'intent_only' };
    for (const bad of [
      { ...base, side_effect_id: '../x' },
      { ...base, side_effect_id: 'a/b' },
      { ...base, side_effect_id: '.hidden' },
      { ...base, side_effect_id: 'x'.repeat(129) },
      { ...base, side_effect_id: '' },
      { ...base, step_index: 1_000_000 },
      { ...base, step_index: -1 },
      { ...base, status: 'done' },
    ]) {
      await expectError(await dsn('POST', `/runs/${run}/side-effects`, bad), 422, 'validation_failed');
    }
    await ok(await dsn('POST', `/runs/${run}/side-effects`, { ...base, side_effect_id: 'x'.repeat(128) }));
  });

  it.skipIf(skip)('outcomes: concurrent posts lose none; one per scope, last write wins; step outcomes by index, then the session', async () => {
    const run = `run_out_${rid(4)}`;
    const steps = Array.from({ length: 30 }, (_, i) => 29 - i);
    await Promise.all([
      ...steps.map(async (i) => ok(await dsn('POST', `/runs/${run}/outcomes`, { scope: 'step', step_index: i, verdict: { status: 'passed' }, n: 1 }))),
      (async () => ok(await dsn('POST', `/runs/${run}/outcomes`, { scope: 'session', run_id: run, verdict: { status: 'failed' } })))(),
    ]);
    await ok(await dsn('POST', `/runs/${run}/outcomes`, { scope: 'step', step_index: 7, verdict: { status: 'failed' }, n: 2 }));
    const doc = (await readJson(`/runs/${run}/outcomes.json`)) as { outcomes: Array<Record<string, unknown>> };
    expectSchema(doc, 'outcomes.schema.json');
    expect(doc.outcomes).toHaveLength(31);
    expect(doc.outcomes.slice(0, 30).map((o) => o.step_index)).toEqual([...steps].reverse());
    expect(doc.outcomes[30]).toMatchObject({ scope: 'session', run_id: run });
    expect(doc.outcomes[7]).toMatchObject({ step_index: 7, n: 2, verdict: { status: 'failed' } });

    await expectError(await dsn('POST', `/runs/${run}/outcomes`, { scope: 'step' }), 422, 'validation_failed');
    await expectError(await dsn('POST', `/runs/${run}/outcomes`, { scope: 'run' }), 422, 'validation_failed');
    await expectError(await dsn('POST', `/runs/${run}/outcomes`, { scope: 'session', run_id: 'another' }), 422, 'validation_failed');
    await expectError(await get(`${s.api}/runs/run_none_${rid(3)}/outcomes.json`, cookie), 404, 'not_found');
  });

  it.skipIf(skip)('eval candidates: idempotent on step_index (a repeat replaces), in step order', async () => {
    const run = `run_ev_${rid(4)}`;
    const post = (body: Record<string, unknown>) => dsn('POST', `/runs/${run}/eval-candidates`, body);
    await Promise.all([1, 2, 3].map(async () => ok(await post({ step_index: 5, reason: 'same' }))));
    await ok(await post({ step_index: 2, reason: 'first' }));
    await ok(await post({ step_index: 2, reason: 'changed' }));
    const doc = (await readJson(`/runs/${run}/eval_candidates.json`)) as { candidates: Array<Record<string, unknown>> };
    expectSchema(doc, 'eval-candidates.schema.json');
    expect(doc.candidates).toEqual([
      { step_index: 2, reason: 'changed' },
      { step_index: 5, reason: 'same' },
    ]);
    await expectError(await post({ step_index: 'two' }), 422, 'validation_failed');
  });

  it.skipIf(skip)('reasoning: each record is one line of events/reasoning.jsonl; an Idempotency-Key repeat is stored once', async () => {
    const run = `run_rs_${rid(4)}`;
    const headers = { 'idempotency-key': `rs-${rid(4)}` };
    const first = await ok(await dsn('POST', `/runs/${run}/reasoning`, { text: 'a', step_index: 1 }, t.key, headers));
    expect(first).toEqual({ ok: true, run_id: run, file: 'events/reasoning.jsonl', appended: 1 });
    expect(await ok(await dsn('POST', `/runs/${run}/reasoning`, { text: 'a', step_index: 1 }, t.key, headers))).toMatchObject({ repeat: true });
    await ok(await dsn('POST', `/runs/${run}/reasoning`, { text: 'b\nwith a newline' }));
    const res = await get(`${s.api}/runs/${run}/events/reasoning.jsonl`, cookie);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect((await res.text()).trimEnd().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual([{ text: 'a', step_index: 1 }, { text: 'b\nwith a newline' }]);
    // The generic events read still answers steps and run.jsonl, and 404 for other names.
    await expectError(await get(`${s.api}/runs/${run}/events/reasoning2.jsonl`, cookie), 404, 'not_found');
  });

  it.skipIf(skip)('commands: issue → a poll receives it → the cursor resumes → nothing repeated; without the cursor, at-least-once with the same ids', async () => {
    const run = `run_cmd_${rid(4)}`;
    await indexRun(t, run);
    const pause = await issue(run, { type: 'pause' });
    const first = await poll(run);
    expect(first.commands.map((c) => [c.command_id, c.type, c.payload])).toEqual([[pause.command_id, 'pause', null]]);
    expect(first.commands[0]!.operator_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(first.cursor).toBe(first.commands[0]!.cursor);

    expect(await poll(run, `?cursor=${first.cursor}&wait=0`)).toEqual({ commands: [], cursor: first.cursor });

    const hint = await issue(run, { type: 'inject_hint', payload: { text: 'scroll first' } });
    const over = await issue(run, { type: 'override_action', payload: { coordinates: { x: 640, y: 410.5 } } });
    const next = await poll(run, `?cursor=${first.cursor}`);
    expect(next.commands.map((c) => [c.command_id, c.type, c.payload])).toEqual([
      [hint.command_id, 'inject_hint', { text: 'scroll first' }],
      [over.command_id, 'override_action', { coordinates: { x: 640, y: 410.5 } }],
    ]);
    expect(await poll(run, `?cursor=${next.cursor}&wait=0`)).toEqual({ commands: [], cursor: next.cursor });
    const again = await poll(run, '?wait=0');
    expect(again.commands.map((c) => c.command_id)).toEqual([pause.command_id, hint.command_id, over.command_id]);

    const listed = (await readJson(`/runs/${run}/commands.json`)) as { commands: Array<{ type: string; issued_by: { email: string } }> };
    expectSchema(listed, 'commands-page.schema.json');
    expect(listed.commands.map((c) => [c.type, c.issued_by.email])).toEqual([
      ['pause', t.email],
      ['inject_hint', t.email],
      ['override_action', t.email],
    ]);
    expect(((await readJson(`/runs/${run}/commands.json?cursor=2`)) as Page).commands.map((c) => c.type)).toEqual(['override_action']);
  });

  it.skipIf(skip)('commands: a held poll is released by a new command, without waiting for the hold', async () => {
    const run = `run_hold_${rid(4)}`;
    await indexRun(t, run);
    const isHeld = held(s.ctx.commands, run);
    const pending = poll(run);
    await isHeld;
    const cmd = await issue(run, { type: 'kill' });
    const page = await pending;
    expect(page.commands.map((c) => c.command_id)).toEqual([cmd.command_id]);
  });

  it.skipIf(skip)('commands: a held poll whose client goes away is dropped (it waits no more)', async () => {
    const run = `run_gone_${rid(4)}`;
    const hub = s.ctx.commands;
    const isHeld = held(hub, run);
    const abort = new AbortController();
    const pending = fetch(`${s.api}/runs/${run}/commands`, { headers: { authorization: `Bearer ${t.key}` }, signal: abort.signal }).catch((err: unknown) => err);
    await isHeld;
    expect(hub.heldPolls).toBeGreaterThan(0);
    const gone = new Promise<void>((resolve) => hub.events.on('gone', (_t: string, r: string) => r === run && resolve()));
    abort.abort();
    await gone;
    expect(await pending).toBeInstanceOf(Error);
    expect(hub.heldPolls).toBe(0);
  });

  it.skipIf(skip)('commands: an unknown run answers an empty list, never an error; bad cursors and waits are 422', async () => {
    expect(await poll(`run_unknown_${rid(4)}`, '?wait=0')).toEqual({ commands: [], cursor: null });
    expect(await poll(`run_unknown_${rid(4)}`, '?cursor=17&wait=0')).toEqual({ commands: [], cursor: '17' });
    await expectError(await issue404(`run_unknown_${rid(4)}`), 404, 'not_found');
    for (const q of ['?cursor=abc', '?cursor=-1', '?cursor=1234567890123456', '?wait=121', '?wait=x', '?cursor=1&cursor=2']) {
      await expectError(await dsn('GET', `/runs/r1/commands${q}`), 422, 'validation_failed');
    }
    await expectError(await dsn('GET', '/runs/.hidden/commands'), 422, 'validation_failed');
  });
  const issue404 = (run: string) => send('POST', `${s.api}/runs/${run}/commands`, cookie, { type: 'pause' });

  it.skipIf(skip)('commands: payload rules; the operator comes from the session, never from the body', async () => {
    const run = `run_cmdv_${rid(4)}`;
    await indexRun(t, run);
    for (const bad of [
      { type: 'inject_hint' },
      { type: 'inject_hint', payload: {} },
      { type: 'inject_hint', payload: { text: '' } },
      { type: 'override_action', payload: { coordinates: { x: 1 } } },
      { type: 'override_action', payload: { coordinates: { x: 'a', y: 2 } } },
      { type: 'reboot' },
      { type: 'pause', operator_id: 'someone-else' },
      { type: 'pause', payload: { blob: 'x'.repeat(17 * 1024) } },
    ]) {
      await expectError(await send('POST', `${s.api}/runs/${run}/commands`, cookie, bad), 422, 'validation_failed');
    }
    expect(((await readJson(`/runs/${run}/commands.json`)) as Page).commands).toEqual([]);
  });

  it.skipIf(skip)('tenant isolation: another tenant neither reads, lists, issues to nor polls this run', async () => {
    const run = `run_iso_${rid(4)}`;
    await indexRun(t, run);
    await ok(await dsn('POST', `/runs/${run}/side-effects`, { side_effect_id: 'se_x', step_index: 0, status: 'intent_only' }));
    await ok(await dsn('POST', `/runs/${run}/outcomes`, { scope: 'session' }));
    await ok(await dsn('POST', `/runs/${run}/eval-candidates`, { step_index: 0 }));
    await ok(await dsn('POST', `/runs/${run}/reasoning`, { text: 'mine' }));
    await issue(run, { type: 'pause' });
    for (const path of ['side_effects/0000-se_x.json', 'outcomes.json', 'eval_candidates.json', 'events/reasoning.jsonl', 'files', 'commands.json']) {
      expect((await get(`${s.api}/runs/${run}/${path}`, cookie)).status, path).toBe(200);
      await expectError(await get(`${s.api}/runs/${run}/${path}`, otherCookie), 404, 'not_found');
    }
    await expectError(await send('POST', `${s.api}/runs/${run}/commands`, otherCookie, { type: 'kill' }), 404, 'not_found');
    expect(await poll(run, '?wait=0', other.key)).toEqual({ commands: [], cursor: null });
    // The other tenant's own run of the same id is its own.
    await ok(await dsn('POST', `/runs/${run}/outcomes`, { scope: 'session', mine: false }, other.key));
    expect(await readJson(`/runs/${run}/outcomes.json`, otherCookie)).toEqual({ outcomes: [{ scope: 'session', mine: false }] });
    expect(((await readJson(`/runs/${run}/outcomes.json`)) as { outcomes: unknown[] }).outcomes).toEqual([{ scope: 'session' }]);
  });

  it.skipIf(skip)('auth: DSN key on the SDK calls, a session to issue (not a read token, not a DSN key, not cross-site), session or read token to read', async () => {
    const run = `run_auth_${rid(4)}`;
    await indexRun(t, run);
    const token = ((await ok(await send('POST', `${s.api}/auth/tokens`, cookie, { name: 'agent' }), 201)) as { token: string }).token;
    for (const path of ['side-effects', 'reasoning', 'outcomes', 'eval-candidates']) {
      await expectError(await fetch(`${s.api}/runs/${run}/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }), 401, 'not_authenticated');
      await expectError(await dsn('POST', `/runs/${run}/${path}`, {}, `aug_00000000_${'A'.repeat(43)}`), 403, 'unknown_key');
    }
    await expectError(await fetch(`${s.api}/runs/${run}/commands`), 401, 'not_authenticated');
    await expectError(await dsn('GET', `/runs/${run}/commands?wait=0`, undefined, token), 403, 'forbidden');
    await expectError(await send('POST', `${s.api}/runs/${run}/commands`, undefined, { type: 'pause' }), 401, 'not_authenticated');
    await expectError(await send('POST', `${s.api}/runs/${run}/commands`, undefined, { type: 'pause' }, { authorization: `Bearer ${token}` }), 403, 'forbidden');
    await expectError(await send('POST', `${s.api}/runs/${run}/commands`, undefined, { type: 'pause' }, { authorization: `Bearer ${t.key}` }), 403, 'forbidden');
    await expectError(await send('POST', `${s.api}/runs/${run}/commands`, cookie, { type: 'pause' }, { origin: 'https://evil.example' }), 403, 'csrf_rejected');
    await expectError(await send('POST', `${s.api}/runs/${run}/commands`, cookie, { type: 'pause' }, { 'sec-fetch-site': 'cross-site' }), 403, 'csrf_rejected');
    expect(((await readJson(`/runs/${run}/commands.json`, token)) as Page).commands).toEqual([]);
    for (const path of ['files', 'commands.json', 'outcomes.json']) {
      await expectError(await get(`${s.api}/runs/${run}/${path}`), 401, 'not_authenticated');
      await expectError(await get(`${s.api}/runs/${run}/${path}`, undefined, { authorization: `Bearer ${t.key}` }), 403, 'forbidden');
    }
  });

  // Last: shutting the hub down is for good.
  it.skipIf(skip)('shutdown releases a held poll at once with an empty answer, and later polls answer at once', async () => {
    const run = `run_stop_${rid(4)}`;
    const isHeld = held(s.ctx.commands, run);
    const pending = poll(run);
    await isHeld;
    s.ctx.commands.shutdown();
    expect(await pending).toEqual({ commands: [], cursor: null });
    expect(await poll(run)).toEqual({ commands: [], cursor: null });
  });
});

/**
 * Two server processes on the same Postgres and Redis: a command issued on one reaches polls on
 * the other, both a poll that comes later and one already held there (woken through Redis pub/sub:
 * the re-check is longer than the test's timeout).
 */
describe.skipIf(!productionAvailable())('the commands channel across two server processes', () => {
  let s: TestServer;
  let b: ServerProcess;
  let t: TestTenant;
  let cookieA: string;
  let cookieB: string;

  beforeAll(async () => {
    s = await startTestServer('production', HOLD_ENV);
    t = await s.tenant();
    b = await spawnServer({ ...s.backends.env, ...HOLD_ENV });
    cookieA = (await login(s.api, t.email, t.password)).cookie;
    cookieB = (await login(b.api, t.email, t.password)).cookie;
  }, 90_000);
  afterAll(async () => {
    await b?.stop('SIGKILL');
    await s?.close();
  });

  const pollOn = async (api: string, run: string, query = ''): Promise<Page> => {
    const res = await fetch(`${api}/runs/${run}/commands${query}`, { headers: { authorization: `Bearer ${t.key}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as Page;
  };
  const issueOn = async (api: string, cookie: string, run: string, body: Record<string, unknown>) => {
    const res = await send('POST', `${api}/runs/${run}/commands`, cookie, body);
    expect(res.status, await res.clone().text()).toBe(201);
    return (await res.json()) as { command_id: string };
  };

  it('a command issued on the first process is received by a poll on the second, and the cursor resumes there', async () => {
    const run = `run_two_${rid(4)}`;
    await s.ctx.stores.metadata.touchRuns([{ tenant_id: t.id, run_id: run, seen_at: Date.now() }]);
    const cmd = await issueOn(s.api, cookieA, run, { type: 'inject_hint', payload: { text: 'from A' } });
    const page = await pollOn(b.api, run);
    expect(page.commands.map((c) => [c.command_id, c.payload])).toEqual([[cmd.command_id, { text: 'from A' }]]);
    expect(await pollOn(b.api, run, `?cursor=${page.cursor}&wait=0`)).toEqual({ commands: [], cursor: page.cursor });
  });

  it('commands issued on both processes at once are numbered without gaps or repeats, and a poll gets them all in order', async () => {
    const run = `run_both_${rid(4)}`;
    await s.ctx.stores.metadata.touchRuns([{ tenant_id: t.id, run_id: run, seen_at: Date.now() }]);
    const issued = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 ? issueOn(b.api, cookieB, run, { type: 'inject_hint', payload: { text: `h${i}` } }) : issueOn(s.api, cookieA, run, { type: 'inject_hint', payload: { text: `h${i}` } }))),
    );
    const page = await pollOn(b.api, run);
    expect(page.commands.map((c) => c.cursor)).toEqual(Array.from({ length: 12 }, (_, i) => String(i + 1)));
    expect(page.commands.map((c) => c.command_id).sort()).toEqual(issued.map((c) => c.command_id).sort());
    expect(page.cursor).toBe('12');
  });

  it('a poll held on the first process is released by a command issued on the second', async () => {
    const run = `run_wake_${rid(4)}`;
    await s.ctx.stores.metadata.touchRuns([{ tenant_id: t.id, run_id: run, seen_at: Date.now() }]);
    const isHeld = held(s.ctx.commands, run);
    const pending = pollOn(s.api, run);
    await isHeld;
    const cmd = await issueOn(b.api, cookieB, run, { type: 'resume' });
    expect((await pending).commands.map((c) => c.command_id)).toEqual([cmd.command_id]);
  });
});
