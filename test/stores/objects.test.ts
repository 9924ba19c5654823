import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createObjectStore, TooLargeError, type ObjectStore } from '../../storage/objects/index.js';
import { createBucket, rid } from '../helpers/backends.js';
import { mkdtempSync, rmSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const collect = async (s: Readable): Promise<Buffer> => {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
};

/** A stream that yields some bytes and then fails, like a client that disconnects mid-upload. */
function failingStream(bytes: number): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(Buffer.alloc(bytes, 7));
      } else this.destroy(new Error('client aborted'));
    },
  });
}

const drivers = ['fs', 's3'] as const;

describe.each(drivers)('object store contract: %s', (driver) => {
  let store: ObjectStore;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'augur-objects-'));
    store =
      driver === 'fs'
        ? await createObjectStore({ dataDir: dir })
        : await createObjectStore({
            dataDir: dir,
            s3: { bucket: await createBucket(inject('s3Endpoint')), endpoint: inject('s3Endpoint'), region: 'us-east-1', forcePathStyle: true, prefix: `p-${rid()}` },
          });
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('puts, heads, gets and deletes', async () => {
    const key = `a/${rid()}/doc.json`;
    const info = await store.put(key, Buffer.from('{"x":1}'), { contentType: 'application/json' });
    expect(info.size).toBe(7);
    const head = await store.head(key);
    expect(head?.size).toBe(7);
    expect(head?.etag).toMatch(/^".+"$/);
    const got = await store.get(key);
    expect((await collect(got!.body)).toString()).toBe('{"x":1}');
    expect((await store.getBuffer(key))?.toString()).toBe('{"x":1}');
    await store.delete(key);
    expect(await store.head(key)).toBeUndefined();
    expect(await store.get(key)).toBeUndefined();
    await store.delete(key); // deleting twice is fine
  });

  it('streams a body larger than one multipart part', async () => {
    const key = `big/${rid()}.bin`;
    const size = 6 * 1024 * 1024 + 123;
    const body = Readable.from((function* () {
      for (let sent = 0; sent < size; sent += 64 * 1024) yield Buffer.alloc(Math.min(64 * 1024, size - sent), sent % 251);
    })());
    const info = await store.put(key, body, { contentType: 'application/octet-stream' });
    expect(info.size).toBe(size);
    expect((await store.head(key))?.size).toBe(size);
  });

  it('refuses a body over maxBytes and keeps the previous object', async () => {
    const key = `limit/${rid()}.png`;
    await store.put(key, Buffer.from('previous'), { contentType: 'image/png' });
    await expect(store.put(key, Readable.from([Buffer.alloc(4096), Buffer.alloc(4096)]), { contentType: 'image/png', maxBytes: 5000 })).rejects.toBeInstanceOf(TooLargeError);
    await expect(store.put(key, Buffer.alloc(6000), { contentType: 'image/png', maxBytes: 5000 })).rejects.toBeInstanceOf(TooLargeError);
    expect((await store.getBuffer(key))?.toString()).toBe('previous');
  });

  it('leaves the previous object intact when the upload stream fails', async () => {
    const key = `abort/${rid()}.png`;
    await store.put(key, Buffer.from('previous'), { contentType: 'image/png' });
    await expect(store.put(key, failingStream(1000), { contentType: 'image/png' })).rejects.toThrow();
    expect((await store.getBuffer(key))?.toString()).toBe('previous');
    if (driver === 'fs') expect(readdirSync(path.dirname(path.join(dir, 'objects', key)))).toEqual([path.basename(key)]); // no temp file left behind
  });

  it('lists a prefix in key order, and nothing outside it', async () => {
    const p = `list-${rid()}/`;
    for (const k of ['b/2', 'a', 'b/1', 'c']) await store.put(p + k, Buffer.from(k), { contentType: 'text/plain' });
    await store.put(`${p.slice(0, -1)}x/other`, Buffer.from('x'), { contentType: 'text/plain' });
    const keys: string[] = [];
    for await (const o of store.list(p)) keys.push(o.key);
    expect(keys).toEqual([`${p}a`, `${p}b/1`, `${p}b/2`, `${p}c`]);
    const none: string[] = [];
    for await (const o of store.list(`missing-${rid()}/`)) none.push(o.key);
    expect(none).toEqual([]);
  });

  it('rejects keys that could escape the root', async () => {
    for (const key of ['../x', 'a/../../x', '/abs', 'a//b', 'a/./b', 'a\\b', 'nul\u0000byte', '']) {
      await expect(store.put(key, Buffer.from('x'), { contentType: 'text/plain' })).rejects.toThrow(/unsafe object key|outside/);
    }
  });

  it('answers a ping', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });
});
