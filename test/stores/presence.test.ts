import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPresenceStore, PRESENCE_TTL_MS, type PresenceStore } from '../../storage/presence/index.js';
import { deleteRedisPrefix, productionAvailable, REDIS_URL, rid } from '../helpers/backends.js';

const drivers = ['memory', 'redis'] as const;

describe.each(drivers)('presence store contract: %s', (driver) => {
  const skip = driver === 'redis' && !productionAvailable();
  const prefix = `augur-test-${rid()}:`;
  let store: PresenceStore;
  beforeAll(() => {
    if (!skip) store = createPresenceStore(driver === 'redis' ? { driver: 'redis', url: REDIS_URL, prefix } : { driver: 'memory' });
  });
  afterAll(async () => {
    if (skip) return;
    await store.close();
    if (driver === 'redis') await deleteRedisPrefix(prefix);
  });
  const now = 1_800_000_000_000;

  it.skipIf(skip)('keeps one entry per client: ingest stamps follow the client that last heartbeated with the key', async () => {
    const t = `t-${rid()}`;
    expect(await store.stamp({ tenantId: t, dsnId: 'd1', clientId: 'dsn-name', explicit: false, fields: { last_event: 'step' }, now })).toBe('dsn-name');
    expect(await store.stamp({ tenantId: t, dsnId: 'd1', clientId: 'c-1', explicit: true, fields: { client_name: 'bot', capture_mode: 'full' }, now: now + 1 })).toBe('c-1');
    expect(await store.stamp({ tenantId: t, dsnId: 'd1', clientId: 'header-id', explicit: false, fields: { run_id: 'r1', last_event: 'screenshot' }, now: now + 2 })).toBe('c-1');
    const list = await store.listClients(t, now + 3);
    const c1 = list.find((c) => c.client_id === 'c-1');
    expect(c1).toEqual({ client_id: 'c-1', last_seen: now + 2, fields: { client_name: 'bot', capture_mode: 'full', run_id: 'r1', last_event: 'screenshot' } });
    expect(list.map((c) => c.client_id)).toEqual(['c-1', 'dsn-name']);
  });

  it.skipIf(skip)('writes a placeholder field only where the live entry has none', async () => {
    const t = `t-${rid()}`;
    // Placeholder first: it fills the empty entry, then the real value replaces it.
    await store.stamp({ tenantId: t, dsnId: 'p1', clientId: 'a', explicit: true, fields: { last_event: 'opened' }, fieldsIfAbsent: { capture_mode: 'off' }, now });
    expect((await store.listClients(t, now))[0]!.fields.capture_mode).toBe('off');
    await store.stamp({ tenantId: t, dsnId: 'p1', clientId: 'a', explicit: true, fields: { capture_mode: 'full' }, now: now + 1 });
    // Placeholder after the real value: the real value stays, the other fields are written.
    await store.stamp({ tenantId: t, dsnId: 'p1', clientId: 'a', explicit: true, fields: { client_version: '0.1.0' }, fieldsIfAbsent: { capture_mode: 'off' }, now: now + 2 });
    expect((await store.listClients(t, now + 2))[0]).toEqual({ client_id: 'a', last_seen: now + 2, fields: { last_event: 'opened', capture_mode: 'full', client_version: '0.1.0' } });
    // An entry past the presence window is empty again.
    const later = now + 2 + PRESENCE_TTL_MS;
    if (driver === 'memory') {
      await store.stamp({ tenantId: t, dsnId: 'p1', clientId: 'a', explicit: true, fields: {}, fieldsIfAbsent: { capture_mode: 'off' }, now: later });
      expect((await store.listClients(t, later))[0]!.fields.capture_mode).toBe('off');
    }
  });

  it.skipIf(skip)('forgets clients after the presence window and keeps tenants apart', async () => {
    const t = `t-${rid()}`;
    await store.stamp({ tenantId: t, dsnId: 'd2', clientId: 'old', explicit: true, fields: {}, now });
    await store.stamp({ tenantId: t, dsnId: 'd3', clientId: 'new', explicit: true, fields: {}, now: now + PRESENCE_TTL_MS });
    expect((await store.listClients(t, now + PRESENCE_TTL_MS + 1)).map((c) => c.client_id)).toEqual(['new']);
    expect(await store.listClients(`t-${rid()}`, now)).toEqual([]);
  });

  it.skipIf(skip)('hands out append sequence numbers and bytes under a bound, atomically', async () => {
    const file = `f-${rid()}`;
    expect(await store.reserveAppend(file, 10, 100)).toBeNull();
    await store.initAppend(file, 3, 40);
    await store.initAppend(file, 0, 0); // a second init does not reset
    const rs = await Promise.all(Array.from({ length: 10 }, () => store.reserveAppend(file, 10, 100)));
    expect(rs.map((r) => r!.seq).sort((a, b) => a - b)).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    expect(rs.reduce((s, r) => s + r!.allowed, 0)).toBe(60);
    expect(rs.filter((r) => r!.allowed === 0)).toHaveLength(4);
    const unbounded = await store.reserveAppend(file, 1000, null);
    expect(unbounded).toEqual({ seq: 14, before: 100, allowed: 1000 });
  });

  it.skipIf(skip)('counts rate-limit windows', async () => {
    const key = `k-${rid()}`;
    expect((await store.peek(key, now)).count).toBe(0);
    for (let i = 1; i <= 3; i++) expect((await store.hit(key, 60_000, now)).count).toBe(i);
    const w = await store.peek(key, now);
    expect(w.count).toBe(3);
    expect(w.resetAt).toBeGreaterThan(now);
    expect(w.resetAt).toBeLessThanOrEqual(now + 60_000);
  });

  it.skipIf(skip)('delivers published messages to subscribers', async () => {
    let deliver!: (m: string) => void;
    const got = new Promise<string>((resolve) => (deliver = resolve));
    await store.subscribe('chan', (m) => deliver(m)); // resolves once the subscription is live
    await store.publish('chan', 'hello');
    expect(await got).toBe('hello');
  });
});
