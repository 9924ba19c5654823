import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy } from '../../scripts/lib/fault-proxy.js';

/** An echo server behind the proxy: each mode does to a client what it promises. */
describe('fault proxy', () => {
  let echo: net.Server;
  let proxy: FaultProxy;
  beforeAll(async () => {
    echo = net.createServer((s) => {
      s.on('error', () => undefined);
      s.pipe(s);
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    proxy = new FaultProxy('127.0.0.1', (echo.address() as net.AddressInfo).port);
    await proxy.start();
  });
  afterAll(async () => {
    await proxy.stop();
    await new Promise<void>((r) => echo.close(() => r()));
  });

  const connect = () =>
    new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(proxy.port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
  const roundTrip = (s: net.Socket, text: string) =>
    new Promise<string>((resolve) => {
      s.once('data', (d: Buffer) => resolve(d.toString()));
      s.write(text);
    });

  it('passes bytes, holds them while stalled and delivers them after, cuts and refuses', async () => {
    const s = await connect();
    expect(await roundTrip(s, 'one')).toBe('one');
    await proxy.set('stall');
    let late: string | undefined;
    const pending = roundTrip(s, 'two').then((v) => (late = v));
    // Another connection while stalled is accepted but answered by nobody.
    const t = await connect();
    t.on('error', () => undefined);
    t.write('three');
    await new Promise((r) => setImmediate(r));
    expect(late).toBeUndefined();
    await proxy.set('pass');
    expect(await pending).toBe('two');
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.on('error', () => undefined);
    await proxy.set('cut');
    await closed;
    await proxy.set('refuse');
    await expect(connect()).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await proxy.set('pass');
    expect(await roundTrip(await connect(), 'four')).toBe('four');
    t.destroy();
  });
});
