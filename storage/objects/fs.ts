import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { ByteLimit, toReadable } from './limit.js';
import { assertSafeKey, type ObjectInfo, type ObjectStore, type PutMeta } from './types.js';

const TMP_DIR = '.tmp';

/** Objects as files under one root. Writes go to a temp file first and are renamed into place. */
export class FsObjectStore implements ObjectStore {
  readonly kind = 'fs' as const;
  private readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  async init(): Promise<void> {
    await fsp.mkdir(path.join(this.root, TMP_DIR), { recursive: true });
  }

  private file(key: string): string {
    assertSafeKey(key);
    const file = path.resolve(this.root, key);
    // Belt and braces: even a key that passed the check must resolve inside the root.
    if (!file.startsWith(this.root + path.sep) || key.split('/')[0] === TMP_DIR) throw new Error(`key outside the store: ${key}`);
    return file;
  }

  async put(key: string, body: Readable | Buffer | string, meta: PutMeta): Promise<ObjectInfo> {
    const file = this.file(key);
    const tmp = path.join(this.root, TMP_DIR, randomUUID());
    const limit = new ByteLimit(meta.maxBytes);
    try {
      await pipeline(toReadable(body), limit, createWriteStream(tmp, { flags: 'wx' }));
      await fsp.mkdir(path.dirname(file), { recursive: true });
      await fsp.rename(tmp, file);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
    return this.info(key, await fsp.stat(file), meta.contentType);
  }

  async get(key: string): Promise<{ info: ObjectInfo; body: Readable } | undefined> {
    const file = this.file(key);
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(file, 'r');
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    // Stat the opened handle so the info matches the bytes read even if the key is replaced meanwhile.
    const stat = await handle.stat();
    return { info: this.info(key, stat), body: handle.createReadStream({ autoClose: true }) };
  }

  async getBuffer(key: string): Promise<Buffer | undefined> {
    try {
      return await fsp.readFile(this.file(key));
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const stat = await fsp.stat(this.file(key));
      return stat.isFile() ? this.info(key, stat) : undefined;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash < 0 ? '' : prefix.slice(0, slash);
    const dir = dirKey ? this.file(dirKey) : this.root;
    const keys: string[] = [];
    await this.walk(dir, dirKey, keys);
    keys.sort();
    for (const key of keys) {
      if (!key.startsWith(prefix)) continue;
      const info = await this.head(key);
      if (info) yield info;
    }
  }

  private async walk(dir: string, dirKey: string, out: string[]): Promise<void> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isMissing(err) || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw err;
    }
    for (const e of entries) {
      const key = dirKey ? `${dirKey}/${e.name}` : e.name;
      if (!dirKey && e.name === TMP_DIR) continue;
      if (e.isDirectory()) await this.walk(path.join(dir, e.name), key, out);
      else if (e.isFile()) out.push(key);
    }
  }

  async delete(key: string): Promise<void> {
    await fsp.rm(this.file(key), { force: true });
  }

  async ping(): Promise<void> {
    await fsp.access(this.root);
  }

  async close(): Promise<void> {}

  private info(key: string, stat: Stats, contentType?: string): ObjectInfo {
    const etag = createHash('sha1').update(`${stat.ino}:${stat.size}:${stat.mtimeMs}`).digest('hex').slice(0, 32);
    return { key, size: stat.size, etag: `"${etag}"`, lastModified: stat.mtime, contentType };
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
