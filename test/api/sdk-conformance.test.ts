import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROFILES, productionAvailable } from '../helpers/backends.js';
import { startTestServer, type TestServer, type TestTenant } from '../helpers/server.js';
import { get, login } from './read-helpers.js';

/**
 * The real SDK 0.1.14's traffic for one run, replayed with a fresh DSN key, then every file of
 * the bundle the SDK wrote locally read back from the server and compared: the SDK is the
 * reference for what Augur stores.
 */
const FIXTURE = path.join(import.meta.dirname, '..', 'fixtures', 'sdk-0.1.14');
const BUNDLE = path.join(FIXTURE, 'bundle');

interface Recorded {
  seq: number;
  method: string;
  path: string;
  content_type: string | null;
  body?: string;
  body_b64?: string;
}

const requests: Recorded[] = readFileSync(path.join(FIXTURE, 'requests.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as Recorded);

function bundleFiles(dir = BUNDLE, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const r = rel ? `${rel}/${name}` : name;
    if (r === 'AGENT.md' || r === 'schema') continue;
    if (statSync(path.join(dir, name)).isDirectory()) out.push(...bundleFiles(path.join(dir, name), r));
    else out.push(r);
  }
  return out.sort();
}

const runId = requests.find((r) => r.path === '/api/v1/runs')!.body && (JSON.parse(requests.find((r) => r.path === '/api/v1/runs')!.body!) as { run_id: string }).run_id;

for (const profile of PROFILES) {
  describe.skipIf(profile === 'production' && !productionAvailable())(`the real SDK's run, replayed (${profile})`, () => {
    let srv: TestServer;
    let t: TestTenant;
    let cookie: string;
    const statuses: Array<[number, string, number, string]> = [];

    beforeAll(async () => {
      // The capture's long-polls are not worth 25 s each here: the server answers them at once.
      srv = await startTestServer(profile, { AUGUR_COMMANDS_HOLD_MS: '0' });
      t = await srv.tenant({ modelio: true });
      for (const r of requests) {
        const headers: Record<string, string> = { authorization: `Bearer ${t.key}` };
        if (r.content_type) headers['content-type'] = r.content_type;
        const body = r.body !== undefined ? r.body : r.body_b64 !== undefined ? Buffer.from(r.body_b64, 'base64') : undefined;
        const url = `${srv.url}${r.path}${r.method === 'GET' && r.path.endsWith('/commands') ? '?wait=0' : ''}`;
        const res = await fetch(url, { method: r.method, headers, body });
        statuses.push([r.seq, `${r.method} ${r.path}`, res.status, res.status >= 300 ? await res.text() : '']);
        if (res.status < 300) await res.arrayBuffer();
      }
      await srv.ctx.runIndex.flush();
      ({ cookie } = await login(srv.api, t.email, t.password));
    }, 120_000);
    afterAll(async () => srv?.close());

    it('answers every request the SDK sent with a 2xx', () => {
      expect(statuses.length).toBe(requests.length);
      expect(statuses.filter(([, , s]) => s < 200 || s >= 300)).toEqual([]);
    });

    it.each(bundleFiles())('reads %s back as the SDK wrote it', async (rel) => {
      const res = await get(`${srv.api}/runs/${encodeURIComponent(runId!)}/${rel}`, cookie);
      const body = Buffer.from(await res.arrayBuffer());
      expect(res.status, body.toString('utf8').slice(0, 300)).toBe(200);
      const local = readFileSync(path.join(BUNDLE, rel));
      if (rel.endsWith('.png')) expect(body.equals(local)).toBe(true);
      else if (rel.endsWith('.jsonl')) {
        const lines = (b: Buffer) => b.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);
        expect(lines(body)).toEqual(lines(local));
      } else expect(JSON.parse(body.toString('utf8'))).toEqual(JSON.parse(local.toString('utf8')));
    });

    it('lists the run with what the SDK sent', async () => {
      const res = await get(`${srv.api}/runs`, cookie);
      expect(res.status).toBe(200);
      const { runs } = (await res.json()) as { runs: Array<Record<string, unknown>> };
      const run = runs.find((r) => r.run_id === runId);
      expect(run).toBeDefined();
      expect(run!.status).toBe('failed');
      expect(run!.step_count).toBe(3);
    });
  });
}
