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
 * not captured, and neither is one that finds every slot busy: the frames waiting are kept, since
 * the pixel work takes steps in the order they came and the oldest waiting frame is the next it
 * needs (dropping it for a newer one would trade a frame about to be used for one used last). An
 * uncaptured frame is read back from the store, as before.
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
  state: 'free' | 'capturing' | 'kept' | 'lent';
  id?: string;
  length: number;
}

/** Identifies a stored frame: its object key and ETag (a replaced object has another ETag). */
export const frameId = (key: string, etag: string) => `${key}|${etag}`;

export class FreshFrames {
  private readonly slots: Slot[];
  private readonly byId = new Map<string, Slot>();

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

  /** A capture for an upload of at most `expected` bytes, or undefined when it is too large or finds no slot. */
  capture(expected: number): FrameCapture | undefined {
    if (!Number.isSafeInteger(expected) || expected <= 0 || expected > this.slotBytes) return undefined;
    const slot = this.freeSlot();
    if (!slot) return undefined;
    slot.state = 'capturing';
    slot.length = 0;
    const memory = (slot.memory ??= new SharedArrayBuffer(this.slotBytes));
    const view = new Uint8Array(memory);
    let open = true;
    const free = () => {
      if (!open) return;
      open = false;
      slot.state = 'free';
    };
    return {
      write: (chunk) => {
        if (!open) return;
        if (slot.length + chunk.length > this.slotBytes) return free();
        view.set(chunk, slot.length);
        slot.length += chunk.length;
      },
      done: (key, etag) => {
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
    let lent = true;
    return {
      buf: new Uint8Array(slot.memory!, 0, slot.length),
      release: () => {
        if (!lent) return;
        lent = false;
        slot.state = 'free';
        slot.id = undefined;
      },
    };
  }

  /** A free slot, one already made first (its pages are resident); undefined when none is free. */
  private freeSlot(): Slot | undefined {
    return this.slots.find((s) => s.state === 'free' && s.memory) ?? this.slots.find((s) => s.state === 'free');
  }

  private forget(slot: Slot): void {
    if (slot.id) this.byId.delete(slot.id);
    slot.id = undefined;
    slot.state = 'free';
  }
}
