import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ObjectStore } from '../../storage/objects/index.js';
import type { AppendLedger } from '../../storage/append-ledger/index.js';
import { mapLimit } from './map-limit.js';

export interface AppendResult {
  seq: number;
  /** Bytes stored by this append. */
  stored: number;
  /** True when the file's bound cut this append short (or dropped it). */
  truncated: boolean;
  /** True when this was a repeat of an append with the same idempotency key (stored once). */
  repeat?: boolean;
}

const SEQ_DIGITS = 12;
const READ_CONCURRENCY = 16;
/** A read that finds more chunks than this after the newest base folds them into a new base. */
export const COMPACT_AFTER_CHUNKS = 64;
/** A sequence number reserved but never written for this long is taken as abandoned (its writer died). */
const ABANDONED_AFTER_MS = 5 * 60_000;
const READ_ATTEMPTS = 5;
/** Files up to this size are read whole (and compacted); larger ones are streamed piece by piece. */
export const BUFFERED_READ_MAX = 32 * 1024 * 1024;

interface Piece {
  key: string;
  seq: number;
  size: number;
  base: boolean;
  lastModified: number;
}

/**
 * Appends without losing a line when several replicas append to one file at once, on stores that
 * have no append and no conditional writes: each append is its own immutable chunk object, named
 * by a sequence number the append ledger hands out atomically (plus random bytes, so a counter
 * rebuilt after a Redis loss can never overwrite a chunk). A read concatenates the chunks in order.
 * The same atomic step reserves bytes against a file's bound, so concurrent appends never exceed it.
 *
 * Reads compact: once a file has many chunks, a read writes `base-<seq>` holding everything up to
 * seq (only over a run of chunks without gaps, so an append still in flight is never skipped), then
 * deletes what the base covers. Bases are deterministic, so replicas compacting at once agree, and
 * a reader that finds a chunk deleted under it reads again.
 */
export class Appender {
  constructor(
    private readonly objects: ObjectStore,
    private readonly ledger: AppendLedger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Where the chunks of a logical file live: beside the run's files, never at a read URL. */
  static chunkPrefix(fileKey: string): string {
    const runEnd = fileKey.indexOf('/', fileKey.indexOf('/runs/') + 6);
    return `${fileKey.slice(0, runEnd)}/.appends${fileKey.slice(runEnd)}/`;
  }

  /**
   * Appends data. With an idempotency key, a repeat (a client retrying) is stored once, at the
   * first attempt's place: its chunk is named after the key, so a repeat whose first attempt never
   * got its chunk written writes it now, and one that did finds it there.
   */
  async append(fileKey: string, data: Buffer, maxBytes: number | null, contentType: string, idempotencyKey?: string): Promise<AppendResult> {
    let r = await this.ledger.reserve(fileKey, data.length, maxBytes, this.now(), idempotencyKey);
    if (!r) {
      const { seq, bytes } = await this.scan(fileKey);
      await this.ledger.init(fileKey, seq, bytes);
      r = await this.ledger.reserve(fileKey, data.length, maxBytes, this.now(), idempotencyKey);
      if (!r) throw new Error(`append counter for ${fileKey} vanished`);
    }
    const body = r.allowed < data.length ? cutUtf8(data, r.allowed) : data;
    const suffix = idempotencyKey === undefined ? randomBytes(4).toString('hex') : createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 8);
    const key = `${Appender.chunkPrefix(fileKey)}${String(r.seq).padStart(SEQ_DIGITS, '0')}-${suffix}`;
    const result = { seq: r.seq, stored: body.length, truncated: body.length < data.length, ...(r.repeat ? { repeat: true } : {}) };
    // A repeat's chunk may already be stored, or folded into a base by compaction: then it is done.
    if (r.repeat && (await this.storedAlready(fileKey, key, r.seq))) return result;
    if (body.length > 0) await this.objects.put(key, body, { contentType });
    return result;
  }

  private async storedAlready(fileKey: string, key: string, seq: number): Promise<boolean> {
    if (await this.objects.head(key)) return true;
    const base = current(await this.pieces(fileKey)).find((p) => p.base);
    return base !== undefined && base.seq >= seq;
  }

  /** The file's content so far, or undefined when nothing was ever appended. `listed`: a listing just taken (open() has one). */
  async read(fileKey: string, listed?: Piece[]): Promise<Buffer | undefined> {
    for (let attempt = 1; ; attempt++) {
      const all = attempt === 1 && listed ? listed : await this.pieces(fileKey);
      const pieces = current(all);
      if (!pieces.length) return undefined;
      const parts = await this.fetch(pieces);
      if (parts) {
        const content = Buffer.concat(parts);
        const chunks = pieces.filter((p) => !p.base).length;
        // Best effort: a failed compaction leaves the file as it was, and the next read tries again.
        if (chunks > COMPACT_AFTER_CHUNKS) await this.compact(fileKey, all, pieces, parts).catch(() => undefined);
        return content;
      }
      // A piece vanished between listing and reading: another reader compacted. Its base holds it.
      if (attempt >= READ_ATTEMPTS) throw new Error(`${fileKey} kept changing while being read`);
    }
  }

  /**
   * The file for an HTTP answer: its size and a stream. Files up to BUFFERED_READ_MAX are read
   * whole (retrying if compacted meanwhile); larger ones stream piece after piece, never held in
   * memory (a piece folded away mid-stream then ends the answer early: very large files are not
   * compacted, so only a racing small-file compaction could, and it skips files this large).
   */
  async open(fileKey: string): Promise<{ size: number; body: Readable } | undefined> {
    const all = await this.pieces(fileKey);
    const pieces = current(all);
    if (!pieces.length) return undefined;
    const size = pieces.reduce((s, p) => s + p.size, 0);
    if (size <= BUFFERED_READ_MAX) {
      const buf = await this.read(fileKey, all);
      return buf ? { size: buf.length, body: Readable.from([buf]) } : undefined;
    }
    const objects = this.objects;
    async function* stream(): AsyncGenerator<Buffer> {
      for (const p of pieces) {
        const o = await objects.get(p.key);
        if (!o) throw new Error(`${p.key} vanished while being read`);
        for await (const c of o.body) yield c as Buffer;
      }
    }
    return { size, body: Readable.from(stream()) };
  }

  /** Every piece's bytes in order, or undefined when one of them is gone. */
  private async fetch(pieces: Piece[]): Promise<Buffer[] | undefined> {
    const parts = await mapLimit(pieces, READ_CONCURRENCY, (p) => this.objects.getBuffer(p.key));
    return parts.every((b): b is Buffer => b !== undefined) ? parts : undefined;
  }

  /** Folds the longest gap-free run of pieces into one base, then removes what it covers. */
  private async compact(fileKey: string, all: Piece[], pieces: Piece[], parts: Buffer[]): Promise<void> {
    let end = 0; // pieces[0..end) are contiguous from the base (or from seq 1)
    let expected = pieces[0]!.base ? pieces[0]!.seq + 1 : 1;
    if (!pieces[0]!.base && pieces[0]!.seq !== 1 && !this.abandoned(pieces[0]!)) return;
    for (let i = pieces[0]!.base ? 1 : 0; i < pieces.length; i++) {
      const p = pieces[i]!;
      if (p.seq !== expected && !this.abandoned(p)) break;
      expected = p.seq + 1;
      end = i + 1;
    }
    if (end < 2 || pieces.slice(0, end).reduce((s, p) => s + p.size, 0) > BUFFERED_READ_MAX) return;
    const upTo = pieces[end - 1]!.seq;
    const baseKey = `${Appender.chunkPrefix(fileKey)}base-${String(upTo).padStart(SEQ_DIGITS, '0')}`;
    await this.objects.put(baseKey, Buffer.concat(parts.slice(0, end)), { contentType: 'application/octet-stream' });
    // Only now is everything the base covers safe to remove (older bases and leftovers included).
    await mapLimit(
      all.filter((p) => p.seq <= upTo && p.key !== baseKey),
      READ_CONCURRENCY,
      (p) => this.objects.delete(p.key),
    );
  }

  /** A gap before this piece is old enough to be an append whose writer died after reserving. */
  private abandoned(p: Piece): boolean {
    return this.now() - p.lastModified > ABANDONED_AFTER_MS;
  }

  private async pieces(fileKey: string): Promise<Piece[]> {
    const prefix = Appender.chunkPrefix(fileKey);
    const out: Piece[] = [];
    for await (const o of this.objects.list(prefix)) {
      const name = o.key.slice(prefix.length);
      const m = /^(base-)?(\d+)(?:-[0-9a-f]+)?$/.exec(name);
      if (m && (m[1] ? !name.includes('-', 5) : name.includes('-'))) {
        out.push({ key: o.key, seq: Number(m[2]), size: o.size, base: Boolean(m[1]), lastModified: o.lastModified.getTime() });
      }
    }
    return out;
  }

  /** Rebuilds a lost counter from the pieces the store holds. */
  private async scan(fileKey: string): Promise<{ seq: number; bytes: number }> {
    const pieces = current(await this.pieces(fileKey));
    return { seq: pieces.reduce((m, p) => Math.max(m, p.seq), 0), bytes: pieces.reduce((s, p) => s + p.size, 0) };
  }
}

/** The newest base (if any) and the chunks after it, in sequence order. */
function current(all: Piece[]): Piece[] {
  const base = all.filter((p) => p.base).reduce<Piece | undefined>((b, p) => (!b || p.seq > b.seq ? p : b), undefined);
  const after = all.filter((p) => !p.base && (!base || p.seq > base.seq)).sort((a, b) => a.seq - b.seq || (a.key < b.key ? -1 : 1));
  return base ? [base, ...after] : after;
}

/** The longest prefix of at most n bytes that does not split a UTF-8 character. */
export function cutUtf8(buf: Buffer, n: number): Buffer {
  if (n >= buf.length) return buf;
  let end = Math.max(0, n);
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end);
}
