import { expect, it } from 'vitest';
import { createPresenceStore, PRESENCE_TTL_MS } from '../../storage/presence/index.js';
import { rid } from '../helpers/backends.js';
import { describeDrivers } from '../helpers/port-drivers.js';

// Time is the injected `now` only: both drivers judge the presence window by it (Redis compares
// last_seen with the given now inside its script), so moving now past the window needs no sleep.
describeDrivers('presence store contract', createPresenceStore, ({ runs, store }) => {
  const now = 1_800_000_000_000;

  it.skipIf(!runs)('keeps one entry per client: ingest stamps follow the client that last heartbeated with the key', async () => {
    const t = `t-${rid()}`;
    expect(await store().stamp({ tenantId: t, dsnId: 'd1', clientId: 'dsn-name', explicit: false, fields: { last_event: 'step' }, now })).toBe('dsn-name');
    expect(await store().stamp({ tenantId: t, dsnId: 'd1', clientId: 'c-1', explicit: true, fields: { client_name: 'bot', capture_mode: 'full' }, now: now + 1 })).toBe('c-1');
    expect(await store().stamp({ tenantId: t, dsnId: 'd1', clientId: 'header-id', explicit: false, fields: { run_id: 'r1', last_event: 'screenshot' }, now: now + 2 })).toBe('c-1');
    const list = await store().listClients(t, now + 3);
    const c1 = list.find((c) => c.client_id === 'c-1');
    expect(c1).toEqual({ client_id: 'c-1', last_seen: now + 2, fields: { client_name: 'bot', capture_mode: 'full', run_id: 'r1', last_event: 'screenshot' } });
    expect(list.map((c) => c.client_id)).toEqual(['c-1', 'dsn-name']);
  });

  it.skipIf(!runs)('writes a placeholder field only where the live entry has none', async () => {
    const t = `t-${rid()}`;
    const s = store();
    // Placeholder first: it fills the empty entry, then the real value replaces it.
    await s.stamp({ tenantId: t, dsnId: 'p1', clientId: 'a', explicit: true, fields: { last_event: 'opened' }, fieldsIfAbsent: { capture_mode: 'off' }, now });
    expect((await s.listClients(t, now))[0]!.fields.capture_mode).toBe('off');
    await s.stamp({ tenantId: t, dsnId: 'p1', clientId: 'a', explicit: true, fields: { capture_mode: 'full' }, now: now + 1 });
    // Placeholder after the real value: the real value stays, the other fields are written.
    await s.stamp({ tenantId: t, dsnId: 'p1', clientId: 'a', explicit: true, fields: { client_version: '0.1.0' }, fieldsIfAbsent: { capture_mode: 'off' }, now: now + 2 });
    expect((await s.listClients(t, now + 2))[0]).toEqual({ client_id: 'a', last_seen: now + 2, fields: { last_event: 'opened', capture_mode: 'full', client_version: '0.1.0' } });
    // One millisecond inside the window the entry is still live; at its end it is empty again.
    await s.stamp({ tenantId: t, dsnId: 'p1', clientId: 'a', explicit: true, fields: {}, fieldsIfAbsent: { capture_mode: 'off' }, now: now + 1 + PRESENCE_TTL_MS });
    expect((await s.listClients(t, now + 1 + PRESENCE_TTL_MS))[0]!.fields.capture_mode).toBe('full');
    const later = now + 1 + 2 * PRESENCE_TTL_MS;
    await s.stamp({ tenantId: t, dsnId: 'p1', clientId: 'a', explicit: true, fields: {}, fieldsIfAbsent: { capture_mode: 'off' }, now: later });
    expect((await s.listClients(t, later))[0]).toEqual({ client_id: 'a', last_seen: later, fields: { capture_mode: 'off' } });
  });

  it.skipIf(!runs)('forgets clients after the presence window and keeps tenants apart', async () => {
    const t = `t-${rid()}`;
    await store().stamp({ tenantId: t, dsnId: 'd2', clientId: 'old', explicit: true, fields: {}, now });
    await store().stamp({ tenantId: t, dsnId: 'd3', clientId: 'new', explicit: true, fields: {}, now: now + 1 });
    expect((await store().listClients(t, now + PRESENCE_TTL_MS - 1)).map((c) => c.client_id)).toEqual(['new', 'old']);
    expect((await store().listClients(t, now + PRESENCE_TTL_MS)).map((c) => c.client_id)).toEqual(['new']);
    expect(await store().listClients(t, now + 1 + PRESENCE_TTL_MS)).toEqual([]);
    expect(await store().listClients(`t-${rid()}`, now)).toEqual([]);
  });
});
