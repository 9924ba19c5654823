/**
 * Screenshots just uploaded, kept in memory for the pixel work their upload starts, so that work
 * need not read them back from the object store: on S3 that GET cost the store about as much CPU
 * as storing the screenshot did, and this process the receiving and a copy.
 *
 * The bytes are copied as they stream by into one of a few fixed slots of shared memory
 * (SharedArrayBuffer), which the pixel worker reads in place: no buffer is allocated per upload
 * (a fresh 5 MiB buffer per upload, zeroed by the kernel and left to the collector, cost more than
 * the read-back it saved) and nothing is copied to the worker. A slot is free again once the
 * worker is done with it.
 *
 * Bounded: FRESH_SLOTS slots of FRESH_SLOT_BYTES each, made when first needed. A larger upload is
 * not captured, and neither is one that finds every slot busy: the frames waiting are kept (each is
 * the next some step's work needs). The work for an uncaptured frame waits until no upload is in
 * progress and then reads it back from the store (pixel-jobs.ts), so a replica busy with uploads
 * sends the store no reads for derived data.
 */
export const FRESH_SLOTS = 6;
export const FRESH_SLOT_BYTES = 8 * 1024 * 1024;

/** One upload being copied. */
export interface FrameCapture {
  write(chunk: Buffer): void;
  /** The upload was stored as `key` with this ETag: keep the bytes for its pixel work. */
  done(key: string, etag: string): void;
  /** The upload failed: free the slot. */
  drop(): void;
}

/** A kept frame handed out: its bytes (a view of shared memory) until `release()`. */
export interface LentFrame {
  buf: Uint8Array;
  release(): void;
}

interface Slot {
  memory?: SharedArrayBuffer;
  /** A view of all of `memory`, made with it. */
  view?: Uint8Array;
  state: 'free' | 'capturing' | 'kept' | 'lent';
  id?: string;
  length: number;
}

/** Identifies a stored frame: its object key and ETag (a replaced object has another ETag). */
export const frameId = (key: string, etag: string) => `${key}|${etag}`;

export class FreshFrames {
  private readonly slots: Slot[];
  private readonly byId = new Map<string, Slot>();
  private open = 0;

  constructor(
    slots = FRESH_SLOTS,
    private readonly slotBytes = FRESH_SLOT_BYTES,
  ) {
    this.slots = Array.from({ length: slots }, () => ({ state: 'free' as const, length: 0 }));
  }

  /** Slots in use (capturing, kept or lent). */
  get busy(): number {
    return this.slots.filter((s) => s.state !== 'free').length;
  }

  /** Pre and post uploads in progress (captured or not): while there are any, deferred pixel work waits. */
  get uploading(): number {
    return this.open;
  }

  /** Whether the frame is kept (its pixel work will find it here). */
  holds(id: string): boolean {
    return this.byId.get(id)?.state === 'kept';
  }

  /**
   * A capture for an upload of at most `expected` bytes. One that is too large or finds no slot
   * keeps nothing; it still counts as an upload in progress until done or dropped.
   */
  capture(expected: number): FrameCapture {
    this.open++;
    let counted = true;
    const ended = () => {
      if (!counted) return;
      counted = false;
      this.open--;
    };
    const slot = this.claim(expected, 'capturing');
    if (!slot) return { write: () => undefined, done: ended, drop: ended };
    let open = true;
    const free = () => {
      ended();
      if (!open) return;
      open = false;
      slot.state = 'free';
    };
    return {
      write: (chunk) => {
        if (open && !this.append(slot, chunk)) free();
      },
      done: (key, etag) => {
        ended();
        if (!open) return;
        open = false;
        const id = frameId(key, etag);
        const older = this.byId.get(id);
        if (older && older.state === 'kept') this.forget(older);
        slot.state = 'kept';
        slot.id = id;
        this.byId.set(id, slot);
      },
      drop: free,
    };
  }

  /** The kept frame's bytes, lent until released (then the slot is free); undefined when not kept. */
  take(id: string): LentFrame | undefined {
    const slot = this.byId.get(id);
    if (!slot || slot.state !== 'kept') return undefined;
    this.byId.delete(id);
    slot.state = 'lent';
    return { buf: new Uint8Array(slot.memory!, 0, slot.length), release: this.releaser(slot) };
  }

  /**
   * A free slot lent for a stored frame of `size` bytes read back from the store: its chunks are
   * copied in with `write` (false once they would overflow it) and `bytes()` is the frame. The read
   * then allocates nothing that outlives it: a fresh buffer per frame, held while the worker
   * decodes it, left the young generation and cost the main heap full collections. Undefined when
   * the frame is larger than a slot or none is free.
   */
  borrow(size: number): { write(chunk: Uint8Array): boolean; bytes(): Uint8Array; release(): void } | undefined {
    const slot = this.claim(size, 'lent');
    if (!slot) return undefined;
    return {
      write: (chunk) => this.append(slot, chunk),
      bytes: () => new Uint8Array(slot.memory!, 0, slot.length),
      release: this.releaser(slot),
    };
  }

  /**
   * A free slot for `size` bytes, emptied and marked `state`; one already made is taken first (its
   * pages are resident). Undefined when `size` is larger than a slot or none is free.
   */
  private claim(size: number, state: 'capturing' | 'lent'): Slot | undefined {
    if (!Number.isSafeInteger(size) || size <= 0 || size > this.slotBytes) return undefined;
    const slot = this.slots.find((s) => s.state === 'free' && s.memory) ?? this.slots.find((s) => s.state === 'free');
    if (!slot) return undefined;
    slot.state = state;
    slot.length = 0;
    if (!slot.memory) {
      slot.memory = new SharedArrayBuffer(this.slotBytes);
      slot.view = new Uint8Array(slot.memory);
    }
    return slot;
  }

  /** Appends a chunk to a claimed slot; false, writing nothing, when it would overflow the slot. */
  private append(slot: Slot, chunk: Uint8Array): boolean {
    if (slot.length + chunk.length > this.slotBytes) return false;
    slot.view!.set(chunk, slot.length);
    slot.length += chunk.length;
    return true;
  }

  /** Frees a lent slot, once. */
  private releaser(slot: Slot): () => void {
    let lent = true;
    return () => {
      if (!lent) return;
      lent = false;
      slot.state = 'free';
      slot.id = undefined;
    };
  }

  private forget(slot: Slot): void {
    if (slot.id) this.byId.delete(slot.id);
    slot.id = undefined;
    slot.state = 'free';
  }
}
