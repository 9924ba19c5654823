import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleKeys } from '../../server/services/bundle.js';
import { PROFILES, productionAvailable } from '../helpers/backends.js';
import { expectSchema } from '../helpers/schemas.js';
import { startTestServer, type TestServer, type TestTenant } from '../helpers/server.js';
import { makePng } from './ingest-fixtures.js';

/** The "Curl reference" block of the HTTP API reference page, verbatim. */
const REFERENCE = String.raw`
# Manifest (open run)
curl -X POST https://augur.example/api/v1/runs \
  -H "Authorization: Bearer $DSN_KEY" \
  -H "Content-Type: application/json" \
  -d @manifest.json

# Step
curl -X PUT https://augur.example/api/v1/runs/run_abc/steps/0 \
  -H "Authorization: Bearer $DSN_KEY" \
  -H "Content-Type: application/json" \
  -d @step.json

# Screenshot
curl -X POST https://augur.example/api/v1/runs/run_abc/screenshots/0/post \
  -H "Authorization: Bearer $DSN_KEY" \
  -F "image=@post.png;type=image/png"

# Modelio record (one model call's full input + output, live)
curl -X POST https://augur.example/api/v1/runs/run_abc/modelio/0003-planner-0.json \
  -H "Authorization: Bearer $DSN_KEY" \
  -H "Content-Type: application/json" \
  -d @modelio-0003-planner-0.json

# Log chunk (appended; routes to logs/step-3.log because step_index is set)
curl -X POST https://augur.example/api/v1/runs/run_abc/logs \
  -H "Authorization: Bearer $DSN_KEY" \
  -H "Content-Type: application/json" \
  -d '{"text": "retrying after verifier failure\n", "step_index": 3}'

# Bare heartbeat (keep the connection badge green between events)
curl -X POST https://augur.example/api/v1/heartbeat \
  -H "Authorization: Bearer $DSN_KEY" \
  -H "Content-Type: application/json" \
  -d '{"client_id": "my_client", "client_name": "myagent"}'
`;

/** Each example: its comment line and the command (continuation lines joined as the shell would). */
function examples(): Array<{ title: string; command: string }> {
  return REFERENCE.trim()
    .split(/\n\s*\n/)
    .map((block) => {
      const [title, ...rest] = block.split('\n');
      return { title: title!.replace(/^#\s*/, ''), command: rest.join('\n') };
    });
}

const hasCurl = spawnSync('curl', ['--version']).status === 0;

describe.each(PROFILES)('reference page curl examples on %s backends', (profile) => {
  let s: TestServer;
  let t: TestTenant;
  let dir: string;
  const skip = (profile === 'production' && !productionAvailable()) || !hasCurl;

  beforeAll(async () => {
    if (skip) return;
    s = await startTestServer(profile);
    t = await s.tenant({ modelio: true });
    dir = mkdtempSync(path.join(os.tmpdir(), 'augur-curl-'));
    writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ run_id: 'run_abc', agent: { name: 'myagent', version: '1.0' }, task: { instruction: 'Book a flight' } }));
    writeFileSync(path.join(dir, 'step.json'), JSON.stringify({ step_index: 0, action: { type: 'click', x: 10, y: 20 }, reasoning: 'start' }));
    writeFileSync(path.join(dir, 'post.png'), makePng(16, 9));
    writeFileSync(path.join(dir, 'modelio-0003-planner-0.json'), JSON.stringify({ request: { messages: [{ role: 'user', content: 'hi' }] }, response: { text: 'ok' }, model: 'm', layer: 'planner', seq: 0, step_index: 3 }));
  });
  afterAll(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    await s?.close();
  });

  it.skipIf(skip)('every example works verbatim (only the host replaced) and writes its file', async () => {
    const list = examples();
    expect(list.map((e) => e.title.split(' ')[0])).toEqual(['Manifest', 'Step', 'Screenshot', 'Modelio', 'Log', 'Bare']);
    for (const { title, command } of list) {
      const cmd = command.replaceAll('https://augur.example', s.url);
      // Asynchronously: the server answers from this very process.
      const { stdout: out } = await promisify(execFile)('bash', ['-c', cmd], { cwd: dir, env: { PATH: process.env.PATH ?? '', DSN_KEY: t.key }, encoding: 'utf8' });
      const body = JSON.parse(out) as Record<string, unknown>;
      expectSchema(body, 'ingest-ack.schema.json');
      expect(body.ok, `${title}: ${out}`).toBe(true);
    }
    const keys = new BundleKeys(t.id, 'run_abc');
    const objects = s.ctx.stores.objects;
    expect(JSON.parse((await objects.getBuffer(keys.manifest))!.toString())).toMatchObject({ run_id: 'run_abc' });
    expect(JSON.parse((await objects.getBuffer(keys.step(0)))!.toString())).toMatchObject({ step_index: 0 });
    expect((await objects.getBuffer(keys.screenshot(0, 'post')))!.equals(makePng(16, 9))).toBe(true);
    expect(await objects.head(keys.modelio('0003-planner-0.json'))).toBeDefined();
    expect((await s.ctx.appends.read(keys.log('step-3')))!.toString()).toBe('retrying after verifier failure\n');
    const clients = await s.ctx.stores.presence.listClients(t.id, s.clock.now());
    expect(clients.map((c) => c.client_id)).toContain('my_client');
  });
});
