import http from 'node:http';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeStores, openStores } from '../../server/bootstrap.js';
import type { Stores } from '../../server/context.js';
import { createLogger } from '../../server/logger.js';
import { Appender } from '../../server/services/appends.js';
import { BundleKeys } from '../../server/services/bundle.js';
import { TenantAdmin } from '../../server/services/tenants.js';
import { TestBalancer } from '../helpers/balancer.js';
import { createBackends, productionAvailable, rid, type TestBackends } from '../helpers/backends.js';
import { spawnServer, type ServerProcess } from '../helpers/spawn.js';

/**
 * Two server processes (the compiled dist/) on one Postgres, Redis and S3, behind a round-robin
 * balancer that health-checks /readyz, under SDK-shaped load (step PUTs, event batches, command
 * long-polls, slow screenshot uploads). One replica gets SIGTERM: no request may be lost or cut.
 * Driven by events (the balancer's health results, routed requests, the process's exit); timers
 * only pace the load.
 */
const DRAIN_DELAY_MS = 2_000;
/** Far above what the uploads need, below the command hold: a poll the drain failed to release would be cut here and fail the test. */
const DRAIN_TIMEOUT_MS = 30_000;
const HOLD_MS = 60_000;
const AGENTS = 4;
const UPLOADS = 4;
const UPLOAD_PIECES = 12;
const UPLOAD_EVERY_MS = 400;

function png(seed: number): Buffer {
  const p = new PNG({ width: 192, height: 192 });
  for (let i = 0; i < p.data.length; i++) p.data[i] = (i * 2654435761 + seed) >>> 24;
  return PNG.sync.write(p);
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!productionAvailable())('a replica drained under load behind a load balancer', () => {
  let backends: TestBackends;
  let stores: Stores;
  let servers: ServerProcess[] = [];
  let lb: TestBalancer;
  let key: string;
  let tenantId: string;

  beforeAll(async () => {
    backends = await createBackends('production');
    stores = await openStores(backends.config, createLogger('silent'));
    const admin = new TenantAdmin(stores.metadata, backends.config);
    const tenant = await admin.createTenant(`drain-${rid(3)}`);
    tenantId = tenant.id;
    key = (await admin.issueDsn(tenant.id, 'drain')).api_key;
    const env = {
      ...backends.env,
      AUGUR_DRAIN_DELAY_MS: String(DRAIN_DELAY_MS),
      AUGUR_DRAIN_TIMEOUT_MS: String(DRAIN_TIMEOUT_MS),
      AUGUR_COMMANDS_HOLD_MS: String(HOLD_MS),
      AUGUR_LOG_LEVEL: 'info',
    };
    servers = await Promise.all([spawnServer(env), spawnServer(env)]);
    lb = new TestBalancer([
      { name: 'a', port: Number(new URL(servers[0]!.url).port) },
      { name: 'b', port: Number(new URL(servers[1]!.url).port) },
    ]);
    await lb.start();
    await lb.until(() => lb.backends.every((b) => b.healthy));
  }, 90_000);

  afterAll(async () => {
    await lb?.stop();
    await Promise.all(servers.map((s) => s.stop('SIGKILL')));
    if (stores) await closeStores(stores);
    await backends?.cleanup();
  });

  it('every request answered 2xx, every acked item stored, uploads on the draining replica completed, exit 0 after readyz 503', async () => {
    const api = `${lb.url}/api/v1`;
    const auth = { authorization: `Bearer ${key}` };
    /** Ordered marks, so "before" and "after" are about events, not clocks. */
    const marks: string[] = [];
    const failures: string[] = [];
    let stopLoad = false;

    // Agents: each streams its own run's steps and event batches, as the SDK does.
    const acked = { steps: [] as Array<{ run: string; i: number; body: string }>, events: [] as Array<{ run: string; summary: string }> };
    const agent = async (n: number) => {
      const run = `run_drain_${n}_${rid(3)}`;
      for (let i = 0; !stopLoad; i++) {
        const body = JSON.stringify({ step_id: `s${i}`, step_index: i, run_id: run, status: 'succeeded', action: { type: 'click', params: { x: i } } });
        const r = await fetch(`${api}/runs/${run}/steps/${i}`, { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body }).catch((e: Error) => e);
        if (r instanceof Error || r.status >= 300) failures.push(`step ${run}/${i}: ${r instanceof Error ? r.message : `${r.status} ${await r.text()}`}`);
        else acked.steps.push({ run, i, body });
        const summary = `decision ${n}.${i}`;
        const events = { events: [{ ts: new Date().toISOString(), layer: 'agent', kind: 'decision', summary, detail: { i } }] };
        const e = await fetch(`${api}/runs/${run}/events`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json', 'idempotency-key': `${run}-${i}` }, body: JSON.stringify(events) }).catch(
          (err: Error) => err,
        );
        if (e instanceof Error || e.status >= 300) failures.push(`events ${run}/${i}: ${e instanceof Error ? e.message : `${e.status} ${await e.text()}`}`);
        else {
          await e.arrayBuffer();
          acked.events.push({ run, summary });
        }
        await tick(15);
      }
    };

    // Command long-polls, held until a command or the (long) hold: the drain must release them.
    const polls = new AbortController();
    const pollAnswers: Array<{ status: number }> = [];
    const poller = async (n: number) => {
      const run = `run_poll_${n}`;
      while (!stopLoad) {
        const r = await fetch(`${api}/runs/${run}/commands?wait=120`, { headers: auth, signal: polls.signal }).catch((e: Error) => e);
        if (r instanceof Error) {
          if (!polls.signal.aborted) failures.push(`poll ${run}: ${r.message}`);
          return;
        }
        pollAnswers.push({ status: r.status });
        if (r.status !== 200) failures.push(`poll ${run}: ${r.status} ${await r.text()}`);
        else await r.arrayBuffer();
      }
    };

    // Slow screenshot uploads: a multipart body streamed in pieces over several seconds.
    const images = Array.from({ length: UPLOADS }, (_, k) => png(k));
    const uploads: Array<{ run: string; status?: number; body?: string; error?: string; sentFirst: boolean }> = [];
    const upload = (k: number) =>
      new Promise<void>((resolve) => {
        const run = `run_upload_${k}_${rid(3)}`;
        const u: (typeof uploads)[number] = { run, sentFirst: false };
        uploads.push(u);
        const boundary = `b${rid(8)}`;
        const body = Buffer.concat([
          Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="s.png"\r\nContent-Type: image/png\r\n\r\n`),
          images[k]!,
          Buffer.from(`\r\n--${boundary}--\r\n`),
        ]);
        const req = http.request(`${api}/runs/${run}/screenshots/0/pre`, {
          method: 'POST',
          headers: { ...auth, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': body.length },
        });
        req.on('response', (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => {
            u.status = res.statusCode;
            u.body = text;
            marks.push(`upload ${k} done`);
            resolve();
          });
        });
        req.on('error', (err) => {
          u.error = err.message;
          resolve();
        });
        const size = Math.ceil(body.length / UPLOAD_PIECES);
        let sent = 0;
        const send = () => {
          req.write(body.subarray(sent, sent + size));
          sent += size;
          u.sentFirst = true;
          if (sent >= body.length) req.end();
          else setTimeout(send, UPLOAD_EVERY_MS);
        };
        send();
      });

    const a = servers[0]!;
    const exited = new Promise<number | null>((resolve) => a.child.once('exit', (code) => resolve(code)));
    const running = [...Array.from({ length: AGENTS }, (_, n) => agent(n)), poller(0), poller(1)];
    // Both replicas hold a poll, and uploads are streaming into both, before the signal.
    await lb.until(() => ['a', 'b'].every((name) => lb.routed.some((r) => r.backend === name && r.path.includes('/commands') && !r.done)));
    const uploading = Array.from({ length: UPLOADS }, (_, k) => upload(k));
    await lb.until(() => lb.routed.filter((r) => r.backend === 'a' && r.path.includes('/screenshots/') && !r.done).length >= 1 && uploads.every((u) => u.sentFirst));
    await lb.until(() => acked.steps.length >= 20);
    const inFlightOnA = lb.routed.filter((r) => r.backend === 'a' && r.path.includes('/screenshots/') && !r.done).map((r) => r.path);
    marks.push('sigterm');
    a.child.kill('SIGTERM');

    // The balancer sees the 503, stops routing there; the replica finishes and exits.
    // (Or the listener closed first, which the assertions below refuse.)
    await lb.until(() => lb.backend('a').health.some((h) => h === 503 || h === 'refused'));
    marks.push('readyz 503 seen');
    const routedAt503 = lb.routed.length;
    const code = await exited;
    marks.push('exited');
    await Promise.all(uploading);
    await lb.until(() => lb.backend('a').health.includes('refused'));
    stopLoad = true;
    polls.abort();
    await Promise.all(running);

    expect(failures).toEqual([]);
    expect(code, a.stderr().slice(-2000)).toBe(0);
    // Nothing the balancer forwarded failed, but the polls this test aborted itself.
    const broken = lb.routed.filter((r) => (r.error && r.error !== 'client closed') || (r.status !== undefined && (r.status < 200 || r.status >= 300)));
    expect(broken).toEqual([]);
    // /readyz said 503 before the listener closed (the first refused connection).
    const health = lb.backend('a').health;
    expect(health.indexOf(503)).toBeGreaterThan(-1);
    expect(health.indexOf(503)).toBeLessThan(health.indexOf('refused'));
    // ...and never 200 again: a check the closing listener cut ('error', a reset) is unhealthy too.
    expect(health.slice(health.indexOf(503), health.indexOf('refused')).every((h) => h === 503 || h === 'error')).toBe(true);

    // The uploads that were streaming into the draining replica completed, after the signal.
    expect(inFlightOnA.length).toBeGreaterThan(0);
    for (const u of uploads) {
      expect(u.error, u.run).toBeUndefined();
      expect(u.status, u.body).toBe(200);
    }
    for (const path of inFlightOnA) {
      const k = uploads.findIndex((u) => path.includes(`/runs/${u.run}/`));
      expect(marks.indexOf(`upload ${k} done`)).toBeGreaterThan(marks.indexOf('sigterm'));
    }
    // The held polls were answered (released), not cut.
    expect(pollAnswers.length).toBeGreaterThan(0);
    expect(lb.routed.some((r) => r.backend === 'a' && r.path.includes('/commands') && r.status === 200)).toBe(true);
    // Load kept flowing to the other replica while this one drained.
    const after = lb.routed.slice(routedAt503);
    expect(after.some((r) => r.path.includes('/steps/'))).toBe(true);
    expect(after.filter((r) => r.backend !== 'b')).toEqual([]);

    // Every acked item reads back.
    const appender = new Appender(stores.objects, stores.appendLedger);
    for (const s of acked.steps) {
      const got = await stores.objects.get(new BundleKeys(tenantId, s.run).step(s.i));
      expect(got, `${s.run} step ${s.i}`).toBeDefined();
      expect(Buffer.concat(await got!.body.toArray()).toString('utf8')).toBe(s.body);
    }
    const byRun = new Map<string, string[]>();
    for (const e of acked.events) byRun.set(e.run, [...(byRun.get(e.run) ?? []), e.summary]);
    for (const [run, summaries] of byRun) {
      const text = (await appender.read(new BundleKeys(tenantId, run).events('run')))!.toString('utf8');
      const stored = text
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { summary: string }).summary);
      expect(stored).toEqual(summaries);
    }
    for (const [k, u] of uploads.entries()) {
      const got = await stores.objects.get(new BundleKeys(tenantId, u.run).screenshot(0, 'pre'));
      expect(Buffer.concat(await got!.body.toArray()).equals(images[k]!), u.run).toBe(true);
    }
    expect(a.stderr()).toContain('draining');
  }, 120_000);
});
