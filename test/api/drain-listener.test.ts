import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PROFILES, productionAvailable } from '../helpers/backends.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The listener's half of a drain, in one process on each profile (test/api/drain.test.ts runs the
 * whole SIGTERM sequence across two processes): once the listener closes, idle and silent
 * connections end at once, a request in flight is answered (with Connection: close) before the
 * drain resolves, a held command poll is released, and the timeout cuts what is still busy.
 */
describe.each(PROFILES)('listener drain on %s backends', (profile) => {
  const skip = profile === 'production' && !productionAvailable();
  let s: TestServer | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  const port = (server: TestServer) => Number(new URL(server.url).port);
  const closed = (socket: net.Socket) => new Promise<void>((resolve) => socket.once('close', () => resolve()));

  it.skipIf(skip)('ends idle and silent connections, answers the request in flight with Connection: close, then resolves', async () => {
    s = await startTestServer(profile);
    const t = await s.tenant();
    // An idle keep-alive connection (one request answered) and one that never sent a byte.
    const agent = new http.Agent({ keepAlive: true });
    const first = await new Promise<http.IncomingMessage>((resolve) => http.get(`${s!.api}/healthz`, { agent }, resolve));
    first.resume();
    await new Promise((r) => first.on('end', r));
    const idleSocket = [...Object.values(agent.freeSockets).flat()][0]!;
    expect(idleSocket).toBeDefined();
    const accepted = once(s.front.server, 'connection');
    const silent = net.connect(port(s), '127.0.0.1');
    silent.resume();
    silent.on('error', () => undefined);
    await accepted;
    // A request in flight: a step PUT whose body is still on its way when the drain starts.
    const body = JSON.stringify({ step_id: 's0', step_index: 0, status: 'succeeded' });
    const inflight = http.request(`${s.api}/runs/run_inflight/steps/0`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${t.key}`, 'content-type': 'application/json', 'content-length': body.length },
    });
    const answered = new Promise<{ status?: number; connection?: string; text: string }>((resolve, reject) => {
      inflight.on('response', (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode, connection: res.headers.connection, text }));
      });
      inflight.on('error', reject);
    });
    const arrived = once(s.front.server, 'request');
    inflight.write(body.slice(0, 10));
    await arrived;
    expect(s.front.connections).toBe(3);

    const drained = s.front.close(30_000);
    await Promise.all([closed(idleSocket), closed(silent)]);
    inflight.end(body.slice(10));
    const answer = await answered;
    expect(answer.status, answer.text).toBe(200);
    expect(answer.connection).toBe('close');
    expect(await drained).toEqual({ cut: 0 });
    agent.destroy();
  });

  it.skipIf(skip)('the drain timeout cuts a request still busy, and says how many connections it cut', async () => {
    s = await startTestServer(profile);
    const t = await s.tenant();
    const arrived = once(s.front.server, 'request');
    const socket = net.connect(port(s), '127.0.0.1');
    socket.resume();
    socket.on('error', () => undefined);
    // Headers complete, body never finished: the route waits on it (the body idle bound is 30 s).
    socket.write(`PUT /api/v1/runs/run_stuck/steps/0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.key}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"step`);
    await arrived;
    const result = await s.front.close(1_000);
    await closed(socket);
    expect(result.cut).toBe(1);
  });
});
