import { diagnosticsFor } from '../../server/services/diagnostics/findings.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleKeys } from '../../server/services/bundle.js';
import { PROFILES, productionAvailable, rid } from '../helpers/backends.js';
import { expectError, expectSchema } from '../helpers/schemas.js';
import { startTestServer, type TestServer, type TestTenant } from '../helpers/server.js';
import { makePng, paddedPng, pngForm, pngWithIhdr } from './ingest-fixtures.js';

const MAX_JSON = 300_000;
const MAX_SHOT = 64 * 1024;

interface Endpoint {
  name: string;
  method: 'POST' | 'PUT';
  path: (run: string) => string;
  /** A valid request body for `run`. */
  body: (run: string) => unknown;
  /** A body that fails the schema (→ 422). */
  bad: (run: string) => unknown;
  /** Status of the first successful call. */
  ok: number;
  /** A path with an invalid parameter (→ 422), when the route has one. */
  badPath?: string;
}

const ENDPOINTS: Endpoint[] = [
  { name: 'manifest', method: 'POST', path: () => '/runs', body: (run) => ({ run_id: run, agent: { name: 'a' } }), bad: () => ({ run_id: '../x' }), ok: 201 },
  {
    name: 'trace',
    method: 'PUT',
    path: (run) => `/runs/${run}/trace`,
    body: (run) => ({ run_id: run, session: { status: 'running' }, steps: [{ step_index: 0 }, { step_index: 1 }] }),
    bad: () => ({ steps: [{ step_index: -1 }] }),
    ok: 200,
    badPath: '/runs/.hidden/trace',
  },
  {
    name: 'step',
    method: 'PUT',
    path: (run) => `/runs/${run}/steps/3`,
    body: () => ({ step_index: 3, action: { type: 'click', x: 1, y: 2 } }),
    bad: () => ({ step_index: 4 }),
    ok: 200,
    badPath: '/runs/r1/steps/1234567',
  },
  {
    name: 'events',
    method: 'POST',
    path: (run) => `/runs/${run}/events`,
    body: () => ({ events: [{ type: 'a' }, { type: 'b' }], step_index: 3 }),
    bad: () => ({ events: [] }),
    ok: 200,
    badPath: '/runs/r%20x/events',
  },
  {
    name: 'modelio',
    method: 'POST',
    path: (run) => `/runs/${run}/modelio/0003-planner-0.json`,
    body: () => ({ request: { messages: [] }, response: { text: 'ok' }, model: 'm' }),
    bad: () => ({ step_index: -1 }),
    ok: 200,
    badPath: '/runs/r1/modelio/0003-Planner-0.json',
  },
  {
    name: 'logs',
    method: 'POST',
    path: (run) => `/runs/${run}/logs`,
    body: () => ({ text: 'hello\n', step_index: 3 }),
    bad: () => ({ text: 'x', name: '../etc' }),
    ok: 200,
    badPath: '/runs/-r/logs',
  },
  {
    name: 'heartbeat',
    method: 'POST',
    path: () => '/heartbeat',
    body: (run) => ({ client_id: 'c1', client_name: 'agent', run_id: run, last_event: { type: 'step', i: 3 } }),
    bad: () => ({ client_id: '' }),
    ok: 200,
  },
];

describe.each(PROFILES)('ingest on %s backends', (profile) => {
  let s: TestServer;
  let t: TestTenant;
  const skip = profile === 'production' && !productionAvailable();

  const call = (path: string, init: { method?: string; key?: string | null; json?: unknown; body?: BodyInit; headers?: Record<string, string> } = {}) => {
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    const key = init.key === undefined ? t.key : init.key;
    if (key !== null) headers.authorization = `Bearer ${key}`;
    let body = init.body;
    if (init.json !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = JSON.stringify(init.json);
    }
    return fetch(`${s.api}${path}`, { method: init.method ?? 'POST', headers, body });
  };
  const keys = (run: string, tenant = t) => new BundleKeys(tenant.id, run);
  const allKeys = async () => {
    const out: string[] = [];
    for await (const o of s.ctx.stores.objects.list('')) out.push(o.key);
    return out;
  };

  beforeAll(async () => {
    if (skip) return;
    s = await startTestServer(profile, { AUGUR_MAX_JSON_BYTES: String(MAX_JSON), AUGUR_MAX_SCREENSHOT_BYTES: String(MAX_SHOT) });
    t = await s.tenant({ modelio: true });
  });
  afterAll(async () => s?.close());

  describe.each(ENDPOINTS)('$name', (ep) => {
    it.skipIf(skip)(`answers ${ep.ok} with an IngestAck, then 401/403/413/415/422 with their codes`, async () => {
      const run = `run_${rid(4)}`;
      const okRes = await call(ep.path(run), { method: ep.method, json: ep.body(run) });
      const ack = (await okRes.json()) as Record<string, unknown>;
      expect(okRes.status, JSON.stringify(ack)).toBe(ep.ok);
      expectSchema(ack, 'ingest-ack.schema.json');
      expect(ack.ok).toBe(true);

      await expectError(await call(ep.path(run), { method: ep.method, key: null, json: ep.body(run) }), 401, 'not_authenticated');
      await expectError(await call(ep.path(run), { method: ep.method, key: 'not-a-key', json: ep.body(run) }), 401, 'invalid_credential');
      await expectError(
        await call(ep.path(run), { method: ep.method, key: `aug_00000000_${'A'.repeat(43)}`, json: ep.body(run) }),
        403,
        'unknown_key',
      );
      await expectError(
        await call(ep.path(run), { method: ep.method, json: { ...(ep.body(run) as object), pad: 'x'.repeat(MAX_JSON + 10) } }),
        413,
        'payload_too_large',
      );
      await expectError(
        await call(ep.path(run), { method: ep.method, body: JSON.stringify(ep.body(run)), headers: { 'content-type': 'text/plain' } }),
        415,
        'unsupported_media_type',
      );
      await expectError(await call(ep.path(run), { method: ep.method, json: ep.bad(run) }), 422, 'validation_failed');
      await expectError(await call(ep.path(run), { method: ep.method, body: '{"oops', headers: { 'content-type': 'application/json' } }), 400, 'malformed_json');
      if (ep.badPath) await expectError(await call(ep.badPath, { method: ep.method, json: ep.body('r1') }), 422, 'validation_failed');
      // Heartbeats name their client in the body; every other call may name it in a header, checked like any input.
      if (ep.name !== 'heartbeat') {
        await expectError(
          await call(ep.path(run), { method: ep.method, json: ep.body(run), headers: { 'x-augur-client-id': 'x'.repeat(201) } }),
          422,
          'validation_failed',
        );
      }
    });
  });

  it.skipIf(skip)('a revoked key is 403 unknown_key at once on this replica', async () => {
    const tenant = await s.tenant();
    const r1 = await call('/heartbeat', { key: tenant.key, json: { client_id: 'x' } });
    expect(r1.status).toBe(200);
    await s.admin.revokeDsn(tenant.dsn.id);
    await s.ctx.dsnCache.broadcast({ dsnId: tenant.dsn.id });
    await expectError(await call('/heartbeat', { key: tenant.key, json: { client_id: 'x' } }), 403, 'unknown_key');
  });

  it.skipIf(skip)('stores documents verbatim under the run prefix and acks the file', async () => {
    const run = `run_${rid(4)}`;
    const manifest = `{"run_id": "${run}",  "client": {"name": "bot", "version": "1"}, "extra": [1, 2]}`;
    const r = await call('/runs', { body: manifest, headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(201);
    expect(await r.json()).toEqual({ ok: true, run_id: run, created: true, file: 'manifest.json' });
    expect((await s.ctx.stores.objects.getBuffer(keys(run).manifest))?.toString()).toBe(manifest);

    const step = `{"step_index": 7, "unknown": {"kept": true}}`;
    const rs = await call(`/runs/${run}/steps/0007`, { method: 'PUT', body: step, headers: { 'content-type': 'application/json' } });
    expect(await rs.json()).toEqual({ ok: true, run_id: run, file: 'steps/0007.json' });
    expect((await s.ctx.stores.objects.getBuffer(keys(run).step(7)))?.toString()).toBe(step);

    const big = await call(`/runs/${run}/steps/12345`, { method: 'PUT', json: { step_index: 12345 } });
    expect(((await big.json()) as { file: string }).file).toBe('steps/12345.json');

    const rm = await call(`/runs/${run}/modelio/run-summarizer-2.json`, { json: { request: 1 } });
    expect(await rm.json()).toEqual({ ok: true, run_id: run, file: 'modelio/run-summarizer-2.json' });
    expect((await s.ctx.stores.objects.getBuffer(`${keys(run).prefix}modelio/run-summarizer-2.json`))?.toString()).toBe('{"request":1}');

    const rt = await call(`/runs/${run}/trace`, { method: 'PUT', json: { session: { status: 'succeeded' }, steps: [{ step_index: 9 }] } });
    expect(await rt.json()).toEqual({ ok: true, run_id: run, file: 'trace.json' });
    await s.ctx.runIndex.flush();
    const row = await s.ctx.stores.metadata.getRun(t.id, run);
    expect(row).toMatchObject({ has_manifest: true, status: 'succeeded', step_count: 12346, client_name: 'bot', client_version: '1' });
  });

  it.skipIf(skip)('refuses run_id mismatches between body and URL', async () => {
    await expectError(await call('/runs/r1/steps/1', { method: 'PUT', json: { step_index: 1, run_id: 'r2' } }), 422, 'validation_failed');
    await expectError(await call('/runs/r1/trace', { method: 'PUT', json: { run_id: 'r2', steps: [] } }), 422, 'validation_failed');
    await expectError(await call('/runs/r1/trace', { method: 'PUT', json: { steps: [{ step_index: 0, run_id: 'r2' }] } }), 422, 'validation_failed');
    // null means absent
    expect((await call('/runs/r1/steps/1', { method: 'PUT', json: { step_index: 1, run_id: null } })).status).toBe(200);
  });

  it.skipIf(skip)('POST /runs is idempotent: repeat is 200 and keeps the latest manifest', async () => {
    const run = `run_${rid(4)}`;
    expect((await call('/runs', { json: { run_id: run, v: 1 } })).status).toBe(201);
    const again = await call('/runs', { json: { run_id: run, v: 2 } });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ ok: true, run_id: run, created: false, file: 'manifest.json' });
    expect(JSON.parse((await s.ctx.stores.objects.getBuffer(keys(run).manifest))!.toString())).toEqual({ run_id: run, v: 2 });
  });

  it.skipIf(skip)('concurrent POST /runs of one run_id: exactly one 201, no 5xx', async () => {
    const run = `run_${rid(4)}`;
    const res = await Promise.all(Array.from({ length: 24 }, (_, i) => call('/runs', { json: { run_id: run, i } })));
    const statuses = res.map((r) => r.status);
    expect(statuses.filter((x) => x === 201)).toHaveLength(1);
    expect(statuses.filter((x) => x === 200)).toHaveLength(23);
    await s.ctx.runIndex.flush();
    expect(await s.ctx.stores.metadata.getRun(t.id, run)).toMatchObject({ has_manifest: true });
  });

  it.skipIf(skip)('run ids are per tenant', async () => {
    const other = await s.tenant();
    const run = `run_${rid(4)}`;
    expect((await call('/runs', { json: { run_id: run } })).status).toBe(201);
    expect((await call('/runs', { key: other.key, json: { run_id: run } })).status).toBe(201);
    expect(await s.ctx.stores.objects.head(keys(run, other).manifest)).toBeDefined();
  });

  it.skipIf(skip)('out of order: a step before the manifest creates the run; the manifest then is its first (201)', async () => {
    const run = `run_${rid(4)}`;
    expect((await call(`/runs/${run}/steps/2`, { method: 'PUT', json: { step_index: 2 } })).status).toBe(200);
    for (const [path, init] of [
      [`/runs/${run}-ev/events`, { json: { events: [{ type: 'x' }] } }],
      [`/runs/${run}-shot/screenshots/0/pre`, { body: pngForm(makePng()) }],
      [`/runs/${run}-log/logs`, { json: { text: 'x' } }],
      [`/runs/${run}-mio/modelio/run-a-0.json`, { json: { request: {} } }],
    ] as const) {
      expect((await call(path, init)).status).toBe(200);
    }
    await s.ctx.runIndex.flush();
    expect(await s.ctx.stores.metadata.getRun(t.id, run)).toMatchObject({ has_manifest: false, step_count: 3 });
    for (const suffix of ['-ev', '-shot', '-log', '-mio']) expect(await s.ctx.stores.metadata.getRun(t.id, run + suffix)).toBeDefined();
    expect((await call('/runs', { json: { run_id: run } })).status).toBe(201);
    await s.ctx.runIndex.flush();
    expect(await s.ctx.stores.metadata.getRun(t.id, run)).toMatchObject({ has_manifest: true, step_count: 3 });
  });

  describe('screenshots', () => {
    const shot = (run: string, kind = 'post', step = '0') => `/runs/${run}/screenshots/${step}/${kind}`;

    it.skipIf(skip)('stores a PNG streamed, acks its size; every kind', async () => {
      const run = `run_${rid(4)}`;
      for (const kind of ['pre', 'post', 'target', 'diff']) {
        const png = makePng(8, 8, kind.length);
        const r = await call(shot(run, kind, '3'), { body: pngForm(png) });
        const ack = await r.json();
        expect(r.status, JSON.stringify(ack)).toBe(200);
        expectSchema(ack, 'ingest-ack.schema.json');
        expect(ack).toEqual({ ok: true, run_id: run, file: `screenshots/0003_${kind}.png`, bytes: png.length });
        expect((await s.ctx.stores.objects.getBuffer(keys(run).screenshot(3, kind as 'pre')))!.equals(png)).toBe(true);
      }
    });

    it.skipIf(skip)('413 payload_too_large over AUGUR_MAX_SCREENSHOT_BYTES, previous object intact', async () => {
      const run = `run_${rid(4)}`;
      const good = makePng(5, 5);
      expect((await call(shot(run), { body: pngForm(good) })).status).toBe(200);
      await expectError(await call(shot(run), { body: pngForm(paddedPng(MAX_SHOT + 1)) }), 413, 'payload_too_large');
      await expectError(await call(shot(run), { body: pngForm(paddedPng(MAX_SHOT * 4)) }), 413, 'payload_too_large');
      expect((await s.ctx.stores.objects.getBuffer(keys(run).screenshot(0, 'post')))!.equals(good)).toBe(true);
      // exactly at the limit is fine
      expect((await call(shot(run), { body: pngForm(paddedPng(MAX_SHOT)) })).status).toBe(200);
    });

    it.skipIf(skip)('415 unsupported_media_type: not multipart, wrong part type, not a PNG, insane IHDR; previous intact', async () => {
      const run = `run_${rid(4)}`;
      const good = makePng(6, 6);
      expect((await call(shot(run), { body: pngForm(good) })).status).toBe(200);
      await expectError(await call(shot(run), { body: new Uint8Array(good), headers: { 'content-type': 'image/png' } }), 415, 'unsupported_media_type');
      await expectError(await call(shot(run), { json: { image: 'x' } }), 415, 'unsupported_media_type');
      await expectError(await call(shot(run), { body: pngForm(good, 'image/jpeg') }), 415, 'unsupported_media_type');
      await expectError(await call(shot(run), { body: pngForm(Buffer.from('GIF89a not a png at all, no no no no no no no')) }), 415, 'unsupported_media_type');
      await expectError(await call(shot(run), { body: pngForm(good.subarray(0, 20)) }), 415, 'unsupported_media_type');
      await expectError(await call(shot(run), { body: pngForm(pngWithIhdr(0, 10)) }), 415, 'unsupported_media_type');
      await expectError(await call(shot(run), { body: pngForm(pngWithIhdr(20_000, 20_000)) }), 415, 'unsupported_media_type');
      await expectError(await call(shot(run), { body: pngForm(pngWithIhdr(10, 10, 3, 2)) }), 415, 'unsupported_media_type');
      const corrupt = Buffer.from(good);
      corrupt[20] ^= 1; // IHDR CRC no longer matches
      await expectError(await call(shot(run), { body: pngForm(corrupt) }), 415, 'unsupported_media_type');
      expect((await s.ctx.stores.objects.getBuffer(keys(run).screenshot(0, 'post')))!.equals(good)).toBe(true);
      expect((await call(shot(run), { body: pngForm(pngWithIhdr(10_000, 10_000, 16, 6)) })).status).toBe(200);
    });

    it.skipIf(skip)('422: no image part, other file fields, bad kind or step', async () => {
      const run = `run_${rid(4)}`;
      const form = new FormData();
      form.append('note', 'no image here');
      await expectError(await call(shot(run), { body: form }), 422, 'validation_failed');
      await expectError(await call(shot(run), { body: pngForm(makePng(), 'image/png', 'file') }), 422, 'validation_failed');
      await expectError(await call(shot(run, 'side'), { body: pngForm(makePng()) }), 422, 'validation_failed');
      await expectError(await call(shot(run, 'post', '-1'), { body: pngForm(makePng()) }), 422, 'validation_failed');
      await expectError(await call(shot(run), { key: null, body: pngForm(makePng()) }), 401, 'not_authenticated');
      await expectError(await call(shot(run), { key: 'x', body: pngForm(makePng()) }), 401, 'invalid_credential');
      await expectError(await call(shot(run), { key: `aug_00000000_${'A'.repeat(43)}`, body: pngForm(makePng()) }), 403, 'unknown_key');
      await expectError(
        await call(shot(run), { body: '--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n', headers: { 'content-type': 'multipart/form-data; boundary=b' } }),
        400,
        'bad_request',
      );
      expect(await s.ctx.stores.objects.head(keys(run).screenshot(0, 'post'))).toBeUndefined();
    });
    it.skipIf(skip)('422 for a form outside its limits (fields, field sizes, a second file), naming the limit; previous intact', async () => {
      const run = `run_${rid(4)}`;
      const good = makePng(6, 6);
      expect((await call(shot(run), { body: pngForm(good) })).status).toBe(200);
      const withFields = (fields: Array<[string, string]>, extraFile = false) => {
        const form = pngForm(makePng(7, 7));
        for (const [k, v] of fields) form.append(k, v);
        if (extraFile) form.append('image', new Blob([new Uint8Array(makePng(8, 8))], { type: 'image/png' }), 'second.png');
        return form;
      };
      const cases: Array<[FormData, string]> = [
        [withFields(Array.from({ length: 9 }, (_, i) => [`f${i}`, 'x'])), 'limit_field_count'],
        [withFields([['note', 'v'.repeat(64 * 1024 + 1)]]), 'limit_field_value'],
        [withFields([['n'.repeat(101), 'v']]), 'limit_field_key'],
        [withFields([], true), 'limit_file_count'],
      ];
      for (const [form, type] of cases) {
        const res = await call(shot(run), { body: form });
        expect([type, res.status]).toEqual([type, 422]);
        const body = (await res.json()) as { detail: string; errors: Array<{ type: string }> };
        expect(body.detail).toMatch(/^Multipart form: /);
        expect(body.errors[0]!.type).toBe(type);
      }
      // Eight fields and the image: within the limits.
      expect((await call(shot(run), { body: withFields(Array.from({ length: 8 }, (_, i) => [`f${i}`, 'x'])) })).status).toBe(200);
      const res = await call(shot(run), { body: withFields([['note', 'v'.repeat(64 * 1024)]]) });
      expect(res.status).toBe(200);
      expect((await s.ctx.stores.objects.getBuffer(keys(run).screenshot(0, 'post')))!.equals(makePng(7, 7))).toBe(true);
    });
  });

  describe('appends', () => {
    it.skipIf(skip)('events: each request one contiguous block of JSON lines, in order', async () => {
      const run = `run_${rid(4)}`;
      const n = 30;
      await Promise.all(
        Array.from({ length: n }, (_, r) =>
          call(`/runs/${run}/events`, { json: { events: Array.from({ length: 5 }, (_, i) => ({ type: 't', data: { r, i } })) } }).then(async (res) => {
            expect(res.status).toBe(200);
            expect(await res.json()).toEqual({ ok: true, run_id: run, file: 'events/run.jsonl', appended: 5 });
          }),
        ),
      );
      const text = (await s.ctx.appends.read(keys(run).events('run')))!.toString();
      const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l) as { data: { r: number; i: number } });
      expect(lines).toHaveLength(n * 5);
      for (let k = 0; k < lines.length; k += 5) {
        const r = lines[k]!.data.r;
        expect(lines.slice(k, k + 5).map((l) => l.data)).toEqual([0, 1, 2, 3, 4].map((i) => ({ r, i })));
      }
      expect(new Set(lines.map((l) => l.data.r)).size).toBe(n);
      const r3 = await call(`/runs/${run}/events`, { json: { events: [{ type: 'x' }], step_index: 3 } });
      expect(((await r3.json()) as { file: string }).file).toBe('events/0003.jsonl');
      const rn = await call(`/runs/${run}/events`, { json: { events: [{ type: 'x' }], step_index: null } });
      expect(((await rn.json()) as { file: string }).file).toBe('events/run.jsonl');
    });

    it.skipIf(skip)('an Idempotency-Key makes an append safe to retry', async () => {
      const run = `run_${rid(4)}`;
      const send = (key: string, text: string) => call(`/runs/${run}/logs`, { json: { text }, headers: { 'idempotency-key': key } });
      const first = await send('attempt-1', 'once\n');
      expectSchema(await first.json(), 'ingest-ack.schema.json');
      const repeat = await send('attempt-1', 'once\n');
      const ack = (await repeat.json()) as { repeat?: boolean; bytes_written: number };
      expect(repeat.status).toBe(200);
      expect(ack).toMatchObject({ repeat: true, bytes_written: 5 });
      await send('attempt-2', 'twice\n');
      expect((await s.ctx.appends.read(keys(run).log('run')))?.toString()).toBe('once\ntwice\n');
      const events = (k: string) => call(`/runs/${run}/events`, { json: { events: [{ type: 'x' }] }, headers: { 'idempotency-key': k } });
      expect(await (await events('e-1')).json()).not.toHaveProperty('repeat');
      expect(await (await events('e-1')).json()).toMatchObject({ repeat: true });
      expect((await s.ctx.appends.read(keys(run).events('run')))?.toString()).toBe('{"type":"x"}\n');
      await expectError(await call(`/runs/${run}/logs`, { json: { text: 'x' }, headers: { 'idempotency-key': 'has space' } }), 422, 'validation_failed');
    });

    it.skipIf(skip)('logs: step_index wins over name, neither → run.log', async () => {
      const run = `run_${rid(4)}`;
      const file = async (body: unknown) => ((await (await call(`/runs/${run}/logs`, { json: body })).json()) as { file: string }).file;
      expect(await file({ text: 'a', name: 'agent', step_index: 3 })).toBe('logs/step-3.log');
      expect(await file({ text: 'b', name: 'agent' })).toBe('logs/agent.log');
      expect(await file({ text: 'c', name: null, step_index: null })).toBe('logs/run.log');
      expect((await s.ctx.appends.read(keys(run).log('step-3')))!.toString()).toBe('a');
    });

    it.skipIf(skip)('logs: a file never exceeds 1 MiB; the crossing append is cut at a UTF-8 boundary', async () => {
      const run = `run_${rid(4)}`;
      const piece = 'a'.repeat(262_143); // 4 pieces = 1,048,572 bytes
      for (let i = 0; i < 4; i++) {
        const r = (await (await call(`/runs/${run}/logs`, { json: { text: piece } })).json()) as Record<string, unknown>;
        expect(r).toMatchObject({ bytes_written: 262_143, truncated: false });
      }
      // 2 bytes + '€' (3 bytes) + 'z': 4 bytes left, so 'ab' fits and '€' would be split → cut before it.
      const cross = (await (await call(`/runs/${run}/logs`, { json: { text: 'ab€z' } })).json()) as Record<string, unknown>;
      expectSchema(cross, 'ingest-ack.schema.json');
      expect(cross).toMatchObject({ file: 'logs/run.log', bytes_written: 2, truncated: true });
      const later = (await (await call(`/runs/${run}/logs`, { json: { text: 'more' } })).json()) as Record<string, unknown>;
      expect(later).toMatchObject({ bytes_written: 0, truncated: true });
      const content = (await s.ctx.appends.read(keys(run).log('run')))!;
      expect(content.length).toBe(1_048_574);
      expect(content.length).toBeLessThanOrEqual(1_048_576);
      expect(content.toString('utf8').endsWith('aab')).toBe(true);
      expect(Buffer.from(content.toString('utf8')).equals(content)).toBe(true);

      // Concurrent appends never overshoot either.
      const run2 = `run_${rid(4)}`;
      const res = await Promise.all(
        Array.from({ length: 24 }, (_, i) => call(`/runs/${run2}/logs`, { json: { text: `${'é'.repeat(30_000)}${i}\n` } })),
      );
      const acks = (await Promise.all(res.map((r) => r.json()))) as Array<{ bytes_written: number; truncated: boolean }>;
      const stored = (await s.ctx.appends.read(keys(run2).log('run')))!;
      expect(stored.length).toBeLessThanOrEqual(1_048_576);
      expect(stored.length).toBe(acks.reduce((sum, a) => sum + a.bytes_written, 0));
      expect(acks.some((a) => a.truncated)).toBe(true);
      expect(Buffer.from(stored.toString('utf8')).equals(stored)).toBe(true);
    });
  });

  describe('modelio switch', () => {
    it.skipIf(skip)('403 modelio_disabled while off (before the body is read), 200 once on, 403 again once off', async () => {
      const tenant = await s.tenant({ modelio: false });
      const path = `/runs/r1/modelio/0001-planner-0.json`;
      const off = await expectError(await call(path, { key: tenant.key, json: { request: {} } }), 403, 'modelio_disabled');
      expect(off.detail).toMatch(/--modelio on/);
      // Even an invalid body gets the 403: the SDK latches modelio off.
      await expectError(await call(path, { key: tenant.key, json: { nope: 1 } }), 403, 'modelio_disabled');
      await s.admin.updateTenant(tenant.slug, { modelio: true });
      await s.ctx.dsnCache.broadcast({ tenantId: tenant.id });
      expect((await call(path, { key: tenant.key, json: { request: {} } })).status).toBe(200);
      await s.admin.updateTenant(tenant.slug, { modelio: false });
      await s.ctx.dsnCache.broadcast({ tenantId: tenant.id });
      await expectError(await call(path, { key: tenant.key, json: { request: {} } }), 403, 'modelio_disabled');
    });
  });

  describe('heartbeats', () => {
    it.skipIf(skip)('a heartbeat names the client; later ingest calls of the key count for it (one entry), with run and last event', async () => {
      const tenant = await s.tenant();
      const hb = await call('/heartbeat', { key: tenant.key, json: { client_id: 'cua-1', client_name: 'myagent', client_version: '2.0', capture_mode: 'full' } });
      expect(await hb.json()).toEqual({ ok: true, client_id: 'cua-1' });
      expect((await call('/runs/r9/steps/4', { key: tenant.key, method: 'PUT', json: { step_index: 4 } })).status).toBe(200);
      const clients = await s.ctx.stores.presence.listClients(tenant.id, s.clock.now());
      expect(clients).toHaveLength(1);
      expect(clients[0]).toMatchObject({
        client_id: 'cua-1',
        fields: { client_name: 'myagent', client_version: '2.0', capture_mode: 'full', run_id: 'r9', last_event: '"step:4"', dsn_id: tenant.dsn.id },
      });
    });

    it.skipIf(skip)('without a heartbeat: X-Augur-Client-Id, else the DSN client name', async () => {
      const tenant = await s.tenant();
      await call('/runs/r1/logs', { key: tenant.key, json: { text: 'x' }, headers: { 'x-augur-client-id': 'from-header' } });
      await call('/runs/r1/screenshots/1/pre', { key: tenant.key, body: pngForm(makePng()) });
      const clients = await s.ctx.stores.presence.listClients(tenant.id, s.clock.now());
      expect(clients.map((c) => c.client_id).sort()).toEqual([tenant.dsn.client_name, 'from-header'].sort());
      expect(clients.find((c) => c.client_id === tenant.dsn.client_name)!.fields.last_event).toBe('"screenshot:1:pre"');
    });

    it.skipIf(skip)('a heartbeat with run_id records the run\'s last heartbeat, and never creates a run', async () => {
      const run = `run_${rid(4)}`;
      await call('/heartbeat', { json: { client_id: 'c', run_id: run } });
      await s.ctx.runIndex.flush();
      expect(await s.ctx.stores.metadata.getRun(t.id, run)).toBeUndefined();
      expect((await call('/runs', { json: { run_id: run } })).status).toBe(201);
      s.clock.advance(1_000);
      await call('/heartbeat', { json: { client_id: 'c', run_id: run } });
      await s.ctx.runIndex.flush();
      expect((await s.ctx.stores.metadata.getRun(t.id, run))?.last_heartbeat_at).toBe(s.clock.now());
    });
  });

  describe('paths never escape the run', () => {
    it.skipIf(skip)('encoded traversal, NUL, over-long ids and full-width dots are 4xx and write nothing', async () => {
      const png = pngForm(makePng());
      // Earlier tests' screenshots still have their pixel records written in the background.
      await diagnosticsFor(s.ctx).pixels.idle();
      const before = new Set(await allKeys());
      const attempts: Array<[string, string, { json?: unknown; body?: BodyInit }]> = [
        ['PUT', '/runs/%2e%2e/trace', { json: { steps: [] } }],
        ['PUT', '/runs/..%2F..%2Fx/trace', { json: { steps: [] } }],
        ['PUT', '/runs/%2e%2e%2f%2e%2e/steps/0', { json: { step_index: 0 } }],
        ['PUT', '/runs/a%2Fb/steps/0', { json: { step_index: 0 } }],
        ['PUT', '/runs/run%00x/steps/0', { json: { step_index: 0 } }],
        ['PUT', `/runs/${'a'.repeat(201)}/steps/0`, { json: { step_index: 0 } }],
        ['PUT', '/runs/run%5Cx/steps/0', { json: { step_index: 0 } }],
        ['PUT', '/runs/run%0Ax/steps/0', { json: { step_index: 0 } }],
        ['PUT', '/runs/run%20x/steps/0', { json: { step_index: 0 } }],
        ['PUT', '/runs/%EF%BC%8E%EF%BC%8E/steps/0', { json: { step_index: 0 } }],
        ['PUT', '/runs/.%EF%BC%8E/trace', { json: { steps: [] } }],
        ['PUT', '/runs/r1/steps/%2e%2e', { json: { step_index: 0 } }],
        ['PUT', '/runs/r1/steps/0%00', { json: { step_index: 0 } }],
        ['POST', '/runs/r1/events', { json: { events: [{ type: 'x' }], step_index: '../1' } }],
        ['POST', '/runs/%2e%2e/events', { json: { events: [{ type: 'x' }] } }],
        ['POST', '/runs/r1/modelio/..%2F..%2Fmanifest.json', { json: { request: {} } }],
        ['POST', '/runs/r1/modelio/%2e%2e%2f0001-a-0.json', { json: { request: {} } }],
        ['POST', '/runs/r1/modelio/0001-a-0.json%00', { json: { request: {} } }],
        ['POST', '/runs/r1/modelio/0001-%EF%BC%8E-0.json', { json: { request: {} } }],
        ['POST', '/runs/r1/logs', { json: { text: 'x', name: '../../escape' } }],
        ['POST', '/runs/r1/logs', { json: { text: 'x', name: '..' } }],
        ['POST', '/runs/r1/logs', { json: { text: 'x', name: 'a/b' } }],
        ['POST', '/runs/r1/logs', { json: { text: 'x', name: 'x\u0000' } }],
        ['POST', '/runs/r1/logs', { json: { text: 'x', name: '．．' } }],
        ['POST', '/runs/%2e%2e/logs', { json: { text: 'x' } }],
        ['POST', '/runs/r1/screenshots/0/..%2Fpost', { body: png }],
        ['POST', '/runs/%2e%2e/screenshots/0/post', { body: png }],
        ['POST', '/runs/r1/screenshots/%2e%2e/post', { body: png }],
        ['POST', '/runs', { json: { run_id: '..' } }],
        ['POST', '/runs', { json: { run_id: '../../etc' } }],
        ['POST', '/runs', { json: { run_id: 'a'.repeat(201) } }],
        ['POST', '/runs', { json: { run_id: 'run/x' } }],
        ['POST', '/runs', { json: { run_id: 'run\\x' } }],
        ['POST', '/runs', { json: { run_id: '．．' } }],
        ['POST', '/heartbeat', { json: { client_id: 'c', run_id: '../x' } }],
      ];
      for (const [method, path, init] of attempts) {
        const r = await call(path, { method, ...init });
        expect(r.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
        expect(r.status, `${method} ${path}`).toBeLessThan(500);
        await r.arrayBuffer();
      }
      const after = await allKeys();
      expect(after.filter((k) => !before.has(k))).toEqual([]);
      const runKey = /^tenants\/[0-9a-f-]{36}\/runs\/[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\//;
      for (const k of after) expect(k).toMatch(runKey);
    });
  });
});
