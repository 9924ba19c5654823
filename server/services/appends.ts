import { randomBytes } from 'node:crypto';
import type { ObjectStore } from '../../storage/objects/index.js';
import type { PresenceStore } from '../../storage/presence/index.js';

export interface AppendResult {
  seq: number;
  /** Bytes stored by this append. */
  stored: number;
  /** True when the file's bound cut this append short (or dropped it). */
  truncated: boolean;
}

const SEQ_DIGITS = 12;
const READ_CONCURRENCY = 16;

/**
 * Appends without losing a line when several replicas append to one file at once, on stores that
 * have no append and no conditional writes: each append is its own immutable chunk object, named
 * by a sequence number the presence store hands out atomically (plus random bytes, so a counter
 * rebuilt after a Redis loss can never overwrite a chunk). A read concatenates the chunks in order.
 * The same atomic step reserves bytes against a file's bound, so concurrent appends never exceed it.
 */
export class Appender {
  constructor(
    private readonly objects: ObjectStore,
    private readonly presence: PresenceStore,
  ) {}

  /** Where the chunks of a logical file live: beside the run's files, never at a read URL. */
  static chunkPrefix(fileKey: string): string {
    const runEnd = fileKey.indexOf('/', fileKey.indexOf('/runs/') + 6);
    return `${fileKey.slice(0, runEnd)}/.appends${fileKey.slice(runEnd)}/`;
  }

  async append(fileKey: string, data: Buffer, maxBytes: number | null, contentType: string): Promise<AppendResult> {
    let r = await this.presence.reserveAppend(fileKey, data.length, maxBytes);
    if (!r) {
      const { seq, bytes } = await this.scan(fileKey);
      await this.presence.initAppend(fileKey, seq, bytes);
      r = await this.presence.reserveAppend(fileKey, data.length, maxBytes);
      if (!r) throw new Error(`append counter for ${fileKey} vanished`);
    }
    const body = r.allowed < data.length ? cutUtf8(data, r.allowed) : data;
    if (body.length > 0) {
      const name = `${String(r.seq).padStart(SEQ_DIGITS, '0')}-${randomBytes(4).toString('hex')}`;
      await this.objects.put(Appender.chunkPrefix(fileKey) + name, body, { contentType });
    }
    return { seq: r.seq, stored: body.length, truncated: body.length < data.length };
  }

  /** The file's content so far, or undefined when nothing was ever appended. */
  async read(fileKey: string): Promise<Buffer | undefined> {
    const chunks = await this.chunks(fileKey);
    if (!chunks.length) return undefined;
    const parts: Buffer[] = new Array(chunks.length);
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) {
        const i = next++;
        // A chunk listed but gone means it was replaced meanwhile; an empty part keeps order.
        parts[i] = (await this.objects.getBuffer(chunks[i]!.key)) ?? Buffer.alloc(0);
      }
    };
    await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, chunks.length) }, worker));
    return Buffer.concat(parts);
  }

  private async chunks(fileKey: string): Promise<Array<{ key: string; seq: number; size: number }>> {
    const prefix = Appender.chunkPrefix(fileKey);
    const out: Array<{ key: string; seq: number; size: number }> = [];
    for await (const o of this.objects.list(prefix)) {
      const m = /^(\d+)-[0-9a-f]+$/.exec(o.key.slice(prefix.length));
      if (m) out.push({ key: o.key, seq: Number(m[1]), size: o.size });
    }
    // Keys sort by zero-padded sequence number already; sort again to stay independent of list order.
    return out.sort((a, b) => a.seq - b.seq || (a.key < b.key ? -1 : 1));
  }

  /** Rebuilds a lost counter from the chunks the store holds. */
  private async scan(fileKey: string): Promise<{ seq: number; bytes: number }> {
    const chunks = await this.chunks(fileKey);
    return { seq: chunks.reduce((m, c) => Math.max(m, c.seq), 0), bytes: chunks.reduce((s, c) => s + c.size, 0) };
  }
}

/** The longest prefix of at most n bytes that does not split a UTF-8 character. */
export function cutUtf8(buf: Buffer, n: number): Buffer {
  if (n >= buf.length) return buf;
  let end = Math.max(0, n);
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end);
}
