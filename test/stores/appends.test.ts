import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../server/logger.js';
import { closeStores, openStores, storeConfigs } from '../../server/bootstrap.js';
import type { Stores } from '../../server/context.js';
import { Appender, BUFFERED_READ_MAX, COMPACT_AFTER_CHUNKS } from '../../server/services/appends.js';
import { createBackends, PROFILES, productionAvailable, rid, type TestBackends } from '../helpers/backends.js';

const line = (i: number) => Buffer.from(`{"n":${i}}\n`);
const expected = (n: number) => Array.from({ length: n }, (_, i) => `{"n":${i}}\n`).join('');

describe.each(PROFILES)('appends on %s backends', (profile) => {
  const skip = profile === 'production' && !productionAvailable();
  let backends: TestBackends;
  let stores: Stores;
  let appender: Appender;
  beforeAll(async () => {
    if (skip) return;
    backends = await createBackends(profile);
    stores = await openStores(backends.config, createLogger('silent'));
    appender = new Appender(stores.objects, stores.appendLedger);
  });
  afterAll(async () => {
    if (skip) return;
    await closeStores(stores);
    await backends.cleanup();
  });

  const file = () => `tenants/00000000-0000-4000-8000-000000000000/runs/run_${rid(4)}/events/run.jsonl`;
  const listed = async (key: string) => {
    const names: string[] = [];
    for await (const o of stores.objects.list(Appender.chunkPrefix(key))) names.push(o.key.slice(Appender.chunkPrefix(key).length));
    return names;
  };

  it.skipIf(skip)('compacts a long file on read and keeps every line, in order, across later appends', async () => {
    const key = file();
    const n = COMPACT_AFTER_CHUNKS + 20;
    for (let i = 0; i < n; i++) await appender.append(key, line(i), null, 'application/x-ndjson');
    expect((await listed(key)).length).toBe(n);
    expect((await appender.read(key))?.toString()).toBe(expected(n));
    const after = await listed(key);
    expect(after).toEqual([`base-${String(n).padStart(12, '0')}`]); // one base replaced every chunk
    for (let i = n; i < n + 5; i++) await appender.append(key, line(i), null, 'application/x-ndjson');
    expect((await appender.read(key))?.toString()).toBe(expected(n + 5));
  });

  it.skipIf(skip)('reads stay exact while other readers compact and writers append', async () => {
    const key = file();
    const n = COMPACT_AFTER_CHUNKS * 2;
    for (let i = 0; i < n; i++) await appender.append(key, line(i), null, 'application/x-ndjson');
    const more = Array.from({ length: 20 }, (_, i) => appender.append(key, line(n + i), null, 'application/x-ndjson'));
    const reads = await Promise.all([appender.read(key), appender.read(key), appender.read(key)]);
    await Promise.all(more);
    for (const r of reads) expect(r!.toString().startsWith(expected(n))).toBe(true);
    expect((await appender.read(key))?.toString()).toBe(expected(n + 20));
  });

  it.skipIf(skip)('streams a file larger than the whole-read limit, piece by piece, in order', async () => {
    const key = file();
    const piece = (i: number) => Buffer.alloc(12 * 1024 * 1024, 97 + i);
    for (let i = 0; i < 3; i++) await appender.append(key, piece(i), null, 'application/x-ndjson');
    const opened = await appender.open(key);
    expect(opened!.size).toBe(3 * piece(0).length);
    expect(opened!.size).toBeGreaterThan(BUFFERED_READ_MAX);
    let offset = 0;
    for await (const c of opened!.body) {
      const b = c as Buffer;
      for (const at of [0, b.length - 1]) expect(b[at]).toBe(97 + Math.floor((offset + at) / piece(0).length));
      offset += b.length;
    }
    expect(offset).toBe(opened!.size);
    expect((await listed(key)).length).toBe(3); // never compacted
  }, 90_000); // 36 MiB in and out of the store: seconds alone, far more on a loaded machine

  it.skipIf(skip)('stores a retried append once, at the first attempt\'s place, with an idempotency key', async () => {
    const key = file();
    const first = await appender.append(key, line(0), null, 'application/x-ndjson', 'req-0');
    await appender.append(key, line(1), null, 'application/x-ndjson', 'req-1');
    const again = await appender.append(key, line(0), null, 'application/x-ndjson', 'req-0');
    expect(again).toMatchObject({ seq: first.seq, repeat: true });
    expect((await appender.read(key))?.toString()).toBe(expected(2));
    // A first attempt whose chunk never got written (the request failed after reserving): the retry writes it, in place.
    const lost = await appender.append(key, line(2), null, 'application/x-ndjson', 'req-2');
    const chunk = (await listed(key)).find((n) => n.startsWith(String(lost.seq).padStart(12, '0')))!;
    await stores.objects.delete(Appender.chunkPrefix(key) + chunk);
    await appender.append(key, line(3), null, 'application/x-ndjson', 'req-3');
    expect((await appender.read(key))?.toString()).toBe(`${line(0)}${line(1)}${line(3)}`);
    await appender.append(key, line(2), null, 'application/x-ndjson', 'req-2');
    expect((await appender.read(key))?.toString()).toBe(expected(4));
    expect((await listed(key)).length).toBe(4);
  });

  it.skipIf(skip)('a retry after compaction is still stored once', async () => {
    const key = file();
    const n = COMPACT_AFTER_CHUNKS + 1;
    for (let i = 0; i < n; i++) await appender.append(key, line(i), null, 'application/x-ndjson', `k-${i}`);
    await appender.read(key); // folds everything into a base
    expect((await listed(key)).every((x) => x.startsWith('base-'))).toBe(true);
    expect((await appender.append(key, line(5), null, 'application/x-ndjson', 'k-5')).repeat).toBe(true);
    expect((await appender.read(key))?.toString()).toBe(expected(n));
  });

  it.skipIf(skip)('rebuilds a lost counter from a base and its chunks', async () => {
    const key = file();
    const n = COMPACT_AFTER_CHUNKS + 2;
    for (let i = 0; i < n; i++) await appender.append(key, line(i), 1_000_000, 'application/x-ndjson');
    await appender.read(key); // compacts
    // A fresh append ledger knows nothing: the counter comes back from what the object store holds.
    const { createAppendLedger } = await import('../../storage/append-ledger/index.js');
    const ledger = storeConfigs(backends.config).appendLedger;
    const fresh = createAppendLedger(ledger.driver === 'redis' ? { ...ledger, prefix: `${ledger.prefix}fresh-${rid(3)}:` } : ledger);
    const other = new Appender(stores.objects, fresh);
    const r = await other.append(key, line(n), 1_000_000, 'application/x-ndjson');
    expect(r.seq).toBe(n + 1);
    expect((await other.read(key))?.toString()).toBe(expected(n + 1));
    await fresh.close();
  });
});
