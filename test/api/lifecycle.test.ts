import http from 'node:http';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { createBackends, PROFILES, productionAvailable, S3_CREDENTIALS, type TestBackends } from '../helpers/backends.js';
import { runCli, spawnServer, type ServerProcess } from '../helpers/spawn.js';
import { parseDsnLikeTheSdk } from '../helpers/sdk-dsn.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function backends(profile: 'embedded' | 'production', env: Record<string, string> = {}): Promise<TestBackends> {
  const b = await createBackends(profile, env);
  cleanups.push(b.cleanup);
  return b;
}

async function server(env: Record<string, string>): Promise<ServerProcess> {
  const s = await spawnServer(env);
  cleanups.push(() => s.stop('SIGKILL'));
  return s;
}

describe('start-up and configuration', () => {
  it('stops a start with a bad value, naming the variable, exit code non-zero', async () => {
    const b = await backends('embedded');
    const r = await runCli(['serve'], { ...b.env, PORT: 'eighty', AUGUR_S3_REGION: 'x', AUGUR_SCREENSHOT_READS: 'cdn' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('PORT="eighty"');
    expect(r.stderr).toContain('AUGUR_SCREENSHOT_READS="cdn"');
    expect(r.stdout).toBe('');
  });

  it('creates tenant "default" and an admin on first start, printing a generated password once', async () => {
    const b = await backends('embedded');
    const env = { ...b.env, AUGUR_LOG_LEVEL: 'info' };
    delete (env as Record<string, string>).AUGUR_ADMIN_PASSWORD;
    const first = await server(env);
    expect(first.stderr()).toMatch(/admin user admin@example\.com created with password\s+(\S+)/);
    // The first message also holds a DSN for tenant default, as a line to paste.
    const exported = /export AUGUR_DSN='([^']+)'/.exec(first.stderr());
    expect(exported, first.stderr()).not.toBeNull();
    const firstDsn = parseDsnLikeTheSdk(exported![1]!);
    expect(firstDsn.tenant).toBe('default');
    expect(firstDsn.baseUrl).toMatch(/^http:\/\/localhost:\d+\/api\/v1$/);
    expect(first.stderr()).toContain('backends: objects=fs');
    expect(await first.stop()).toBe(0);
    const second = await server(env);
    expect(second.stderr()).not.toContain('created with password');
    expect(await second.stop()).toBe(0);
  });
});

describe.each(PROFILES)('CLI against the server\'s stores (%s)', (profile) => {
  const skip = profile === 'production' && !productionAvailable();

  it.skipIf(skip)('creates a tenant, a user and a DSN the running server accepts', async () => {
    const b = await backends(profile);
    const s = await server(b.env);
    const tenant = await runCli(['admin', 'tenant-create', 'acme', '--name', 'Acme', '--modelio'], b.env);
    expect(tenant.code, tenant.stderr).toBe(0);
    const t = JSON.parse(tenant.stdout) as { id: string; slug: string; modelio_enabled: boolean };
    expect(t).toMatchObject({ slug: 'acme', modelio_enabled: true });
    const dup = await runCli(['admin', 'tenant-create', 'acme'], b.env);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('already exists');

    const user = await runCli(['admin', 'user-create', '--email', 'ops@acme.test', '--password', 'correct horse', '--tenant', 'acme'], b.env);
    expect(user.code, user.stderr).toBe(0);
    expect(JSON.parse(user.stdout)).toMatchObject({ email: 'ops@acme.test', tenant_id: t.id, is_admin: false });

    const plain = await runCli(['admin', 'dsn-issue', '--tenant', 'acme', '--client', 'bot'], b.env);
    expect(plain.code, plain.stderr).toBe(0);
    const lines = plain.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^http:\/\/localhost:8080\/api\/v1\?token=aug_[0-9a-f]{8}_[A-Za-z0-9_-]{43}&tenant=acme$/);
    const parsed = parseDsnLikeTheSdk(lines[0]!);
    expect(parsed.baseUrl).toBe('http://localhost:8080/api/v1');
    expect(plain.stderr).not.toContain(parsed.token); // the key is printed once, on stdout

    // --label is the SDK docs' name for --client.
    const labelled = await runCli(['admin', 'dsn-issue', '--tenant', 'acme', '--label', 'bot-label', '--json'], b.env);
    expect(labelled.code, labelled.stderr).toBe(0);
    expect(JSON.parse(labelled.stdout.trim())).toMatchObject({ client_name: 'bot-label' });
    const neither = await runCli(['admin', 'dsn-issue', '--tenant', 'acme'], b.env);
    expect(neither.code).toBe(1);
    expect(neither.stderr).toContain('--client');

    const json = await runCli(['admin', 'dsn-issue', '--tenant', 'acme', '--client', 'bot-2', '--json'], b.env);
    const mint = JSON.parse(json.stdout.trim().split('\n').pop()!) as { id: string; dsn: string; export: string; api_key: string; client_name: string };
    expect(parseDsnLikeTheSdk(mint.dsn).token).toBe(mint.api_key);
    expect(mint.export).toBe(`export AUGUR_DSN='${mint.dsn}'`);
    expect(mint.client_name).toBe('bot-2');

    const hb = await fetch(`${s.api}/heartbeat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${mint.api_key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: 'cli-test' }),
    });
    expect(hb.status).toBe(200);
    const run = await fetch(`${s.api}/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${mint.api_key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ run_id: 'run_cli' }),
    });
    expect(run.status).toBe(201);
    if (profile === 'production') {
      // What the server writes lands in the bucket under tenants/<tenant_id>/.
      const c = new S3Client({ endpoint: b.env.AUGUR_S3_ENDPOINT, region: 'us-east-1', forcePathStyle: true, credentials: S3_CREDENTIALS });
      const listed = await c.send(new ListObjectsV2Command({ Bucket: b.env.AUGUR_S3_BUCKET, Prefix: `augur/tenants/${t.id}/` }));
      expect(listed.Contents?.map((o) => o.Key)).toContain(`augur/tenants/${t.id}/runs/run_cli/manifest.json`);
      c.destroy();
    }

    const revoke = await runCli(['admin', 'dsn-revoke', mint.id], b.env);
    expect(revoke.code, revoke.stderr).toBe(0);
    // The revoking CLI broadcast the change; the server's cache expires within 5 s at the latest.
    const deadline = Date.now() + 10_000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (await fetch(`${s.api}/heartbeat`, { method: 'POST', headers: { authorization: `Bearer ${mint.api_key}`, 'content-type': 'application/json' }, body: '{"client_id":"x"}' })).status;
      if (status === 403) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(403);
    expect(await s.stop()).toBe(0);
  });
});

describe.skipIf(!productionAvailable())('replicas on Postgres, Redis and S3', () => {
  it('three replicas starting at once on an empty database all come up, with one default tenant', async () => {
    const b = await backends('production');
    const replicas = await Promise.all([server(b.env), server(b.env), server(b.env)]);
    for (const r of replicas) expect((await fetch(`${r.api}/readyz`)).status).toBe(200);
    const login = await fetch(`${replicas[2]!.api}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'admin@example.com', password: 'admin-password' }),
    });
    expect(login.status).toBe(200);
    const tenants = await runCli(['admin', 'tenant-create', 'default'], b.env);
    expect(tenants.stderr).toContain('already exists');
    for (const r of replicas) expect(await r.stop()).toBe(0);
  });

  // The drain (server/main.ts): readyz 503 and serving on for AUGUR_DRAIN_DELAY_MS, then the
  // listener closes and in-flight requests get AUGUR_DRAIN_TIMEOUT_MS (test/api/drain.test.ts runs it under load).
  it('SIGTERM finishes the request in flight, then exits 0', async () => {
    const b = await backends('production', { AUGUR_LOG_LEVEL: 'info', AUGUR_DRAIN_DELAY_MS: '500' });
    const s = await server(b.env);
    const key = JSON.parse((await runCli(['admin', 'dsn-issue', '--tenant', 'default', '--client', 'drain', '--json'], b.env)).stdout) as { api_key: string };
    const body = JSON.stringify({ run_id: 'run_drain', task: { instruction: 'x'.repeat(1000) } });
    const url = new URL(`${s.api}/runs`);
    let req!: http.ClientRequest;
    const answered = new Promise<{ status: number; body: string }>((resolve, reject) => {
      req = http.request(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { authorization: `Bearer ${key.api_key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
    });
    // Half the body, and wait until the server has read the request's headers (the socket is in use).
    req.write(body.slice(0, 500));
    await new Promise<void>((resolve) => req.once('socket', (sock) => (sock.connecting ? sock.once('connect', () => resolve()) : resolve())));
    const exited = new Promise<number | null>((resolve) => s.child.once('exit', resolve));
    s.child.kill('SIGTERM');
    // The rest of the body only once the listener has closed.
    await new Promise<void>((resolve) => {
      const check = () => (s.stderr().includes('listener closed') ? resolve() : s.child.stderr!.once('data', check));
      check();
    });
    req.end(body.slice(500));
    const res = await answered;
    expect(res.status, res.body).toBe(201);
    expect(await exited).toBe(0);
    // Gone: new connections are refused.
    await expect(fetch(`${s.api}/healthz`)).rejects.toThrow();
  }, 30_000);
});
