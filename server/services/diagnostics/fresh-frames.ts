/**
 * Screenshots just uploaded, kept in memory for the pixel work their upload starts, so that work
 * need not read them back from the object store: on S3 that GET cost the store as much CPU as
 * storing the screenshot did, and this process the receiving and a copy. The bytes are copied as
 * they stream by (into one buffer sized from the request's Content-Length; the arriving chunks
 * still die young) and handed to the pixel worker, which then owns them.
 *
 * Bounded by bytes: uploads being captured and frames waiting for their work together hold at most
 * FRESH_BUDGET_BYTES; past that the oldest waiting frame is dropped, and an upload that finds no
 * room is not captured. A dropped or uncaptured frame is read back from the store, as before.
 */
export const FRESH_BUDGET_BYTES = 64 * 1024 * 1024;
/** Larger uploads are never captured (read back if the diagnostics want them). */
export const FRESH_FRAME_MAX_BYTES = 16 * 1024 * 1024;

/** One upload being copied. */
export interface FrameCapture {
  write(chunk: Buffer): void;
  /** The upload was stored as `key` with this ETag: keep the bytes for its pixel work. */
  done(key: string, etag: string): void;
  /** The upload failed: release the bytes. */
  drop(): void;
}

interface Kept {
  buf: Buffer;
  reserved: number;
}

/** Identifies a stored frame: its object key and ETag (a replaced object has another ETag). */
export const frameId = (key: string, etag: string) => `${key}|${etag}`;

export class FreshFrames {
  private used = 0;
  /** Waiting frames, oldest first (Map keeps insertion order). */
  private readonly kept = new Map<string, Kept>();

  constructor(private readonly budget = FRESH_BUDGET_BYTES) {}

  /** Bytes held now (captures in progress and frames waiting). */
  get bytes(): number {
    return this.used;
  }

  /** A capture for an upload of at most `expected` bytes, or undefined when it is not worth one or finds no room. */
  capture(expected: number): FrameCapture | undefined {
    if (!Number.isSafeInteger(expected) || expected <= 0 || expected > FRESH_FRAME_MAX_BYTES) return undefined;
    while (this.used + expected > this.budget && this.kept.size) this.evictOldest();
    if (this.used + expected > this.budget) return undefined;
    this.used += expected;
    // Its own memory (never a slice of Node's shared pool), so it can be moved to the worker.
    let buf: Buffer | undefined = Buffer.allocUnsafeSlow(expected);
    let size = 0;
    const release = () => {
      if (!buf) return;
      buf = undefined;
      this.used -= expected;
    };
    return {
      write: (chunk) => {
        if (!buf) return;
        if (size + chunk.length > expected) return release();
        chunk.copy(buf, size);
        size += chunk.length;
      },
      done: (key, etag) => {
        if (!buf) return;
        const id = frameId(key, etag);
        this.remove(id);
        this.kept.set(id, { buf: buf.subarray(0, size), reserved: expected });
        buf = undefined; // now accounted for by the kept entry
      },
      drop: release,
    };
  }

  /** The frame's bytes, which the caller now owns (they are forgotten here); undefined when not kept. */
  take(id: string): Buffer | undefined {
    const k = this.kept.get(id);
    if (!k) return undefined;
    this.remove(id);
    return k.buf;
  }

  private remove(id: string): void {
    const k = this.kept.get(id);
    if (!k) return;
    this.kept.delete(id);
    this.used -= k.reserved;
  }

  private evictOldest(): void {
    const first = this.kept.keys().next();
    if (!first.done) this.remove(first.value);
  }
}
