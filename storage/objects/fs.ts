import { createHash, randomUUID } from 'node:crypto';
import { closeSync, createWriteStream, mkdirSync, openSync, promises as fsp, renameSync, rmSync, writeSync, type Stats } from 'node:fs';
import { Readable } from 'node:stream';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ByteLimit } from './limit.js';
import { assertSafeKey, TooLargeError, type ObjectInfo, type ObjectStore, type PutMeta, type PutResult } from './types.js';

/** Marks an unfinished write; no key can contain it ('~' is outside every key pattern). */
const TMP_MARK = '.~tmp-';
/** Bodies up to this size are written synchronously (see putSmall). */
const SYNC_WRITE_MAX = 256 * 1024;

/**
 * Objects as files under one root. A write goes to a temp file beside its target and is renamed
 * into place, so readers see the old object or the new one, never a part.
 */
export class FsObjectStore implements ObjectStore {
  readonly kind = 'fs' as const;
  private readonly root: string;
  /** Folders known to exist: a run writes many files into few folders. */
  private readonly dirs = new Set<string>();

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  async init(): Promise<void> {
    await fsp.mkdir(this.root, { recursive: true });
  }

  private file(key: string): string {
    assertSafeKey(key);
    const file = path.resolve(this.root, key);
    // Belt and braces: even a key that passed the check must resolve inside the root.
    if (!file.startsWith(this.root + path.sep) || key.includes(TMP_MARK)) throw new Error(`key outside the store: ${key}`);
    return file;
  }

  async put(key: string, body: Readable | Buffer | string, meta: PutMeta): Promise<PutResult> {
    const file = this.file(key);
    // Beside its target: a rename within one folder takes no cross-folder rename lock.
    const tmp = `${file}${TMP_MARK}${randomUUID()}`;
    if (typeof body === 'string' || Buffer.isBuffer(body)) {
      const buf = typeof body === 'string' ? Buffer.from(body) : body;
      if (meta.maxBytes !== undefined && buf.length > meta.maxBytes) throw new TooLargeError(meta.maxBytes);
      if (buf.length <= SYNC_WRITE_MAX) return this.putSmall(key, tmp, file, buf);
      return this.putStream(key, tmp, file, Readable.from([buf]), meta);
    }
    return this.putStream(key, tmp, file, body, meta);
  }

  /**
   * Small documents (steps, manifests, append chunks: the ingest hot path) are written with
   * synchronous calls: a few page-cache syscalls cost far less CPU than as many thread-pool
   * round trips, and hold the event loop for microseconds.
   */
  private putSmall(key: string, tmp: string, file: string, buf: Buffer): PutResult {
    const fd = this.openTemp(tmp);
    try {
      for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);
      closeSync(fd);
      renameSync(tmp, file);
    } catch (err) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      rmSync(tmp, { force: true });
      throw err;
    }
    return { key, size: buf.length };
  }

  private async putStream(key: string, tmp: string, file: string, body: Readable, meta: PutMeta): Promise<PutResult> {
    const dir = path.dirname(tmp);
    if (!this.dirs.has(dir)) this.makeDir(dir);
    try {
      const limit = new ByteLimit(meta.maxBytes);
      await pipeline(body, limit, createWriteStream(tmp, { flags: 'wx' }));
      // Stat before the rename: the inode and mtime (the ETag's inputs) stay the same through it,
      // while a stat after it could see another writer's replacement.
      const { etag } = this.info(key, await fsp.stat(tmp));
      await fsp.rename(tmp, file);
      return { key, size: limit.bytes, etag };
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
  }

  private openTemp(tmp: string): number {
    const dir = path.dirname(tmp);
    if (!this.dirs.has(dir)) this.makeDir(dir);
    try {
      return openSync(tmp, 'wx');
    } catch (err) {
      // The folder went away since it was cached (a run removed by hand, say): make it again.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.makeDir(dir);
      return openSync(tmp, 'wx');
    }
  }

  private makeDir(dir: string): void {
    mkdirSync(dir, { recursive: true });
    if (this.dirs.size > 10_000) this.dirs.clear();
    this.dirs.add(dir);
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
      if (e.name.includes(TMP_MARK)) continue;
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
