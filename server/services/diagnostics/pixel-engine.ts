import { LRUCache } from 'lru-cache';
import { dHash } from './phash.js';
import { compareImages, decodePng, encodePng, type Image, type PixelDiff } from './pixels.js';

/**
 * The CPU part of a step's pixel work, with no I/O: decode the PNGs, hash each frame, compare pre
 * with post and draw the diff picture. It runs in the pixel worker thread (pixel-pool.ts), or in
 * process when no worker can be had. Recently decoded frames are kept (by object key and ETag), so
 * a step's pre, decoded when it arrives, is not decoded again when its post does.
 */
export interface FrameIn {
  /** Object key and ETag: what the decoded-frame cache is keyed by. */
  id: string;
  /** The PNG bytes (perhaps a view of shared memory, read in place); absent when the object could not be read. */
  buf?: Uint8Array;
  /**
   * No bytes sent: this engine decoded the frame before and may still hold its pixels. When it no
   * longer does, the step comes back with the frame named in `missing`, for the caller to send the
   * bytes (a step's pre is decoded when it arrives and again needed when its post does).
   */
  cached?: boolean;
}

export interface FrameOut {
  width?: number;
  height?: number;
  hash?: string;
  error?: string;
}

export interface StepIn {
  pre?: FrameIn;
  post?: FrameIn;
  /** Draw the diff picture (when both frames decode to one size). */
  withImage: boolean;
}

export interface StepOut {
  pre?: FrameOut;
  post?: FrameOut;
  diff?: PixelDiff;
  /** The diff picture as PNG bytes. */
  diffPng?: Uint8Array;
  /** Frames sent `cached` whose pixels were no longer held: nothing was worked out; send their bytes. */
  missing?: Array<'pre' | 'post'>;
}

/** Bytes of decoded RGBA kept (a 1280×800 frame is 4 MiB). */
export const DECODED_CACHE_BYTES = 96 * 1024 * 1024;

const asBuffer = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));

export class PixelEngine {
  private readonly decoded = new LRUCache<string, Image>({ maxSize: DECODED_CACHE_BYTES, sizeCalculation: (i) => i.data.length + 64 });

  private frame(f: FrameIn | undefined, twin?: { buf: Buffer; out: FrameOut; image?: Image }): { out?: FrameOut; image?: Image; buf?: Buffer } {
    if (!f) return {};
    if (!f.buf) {
      const image = f.cached ? this.decoded.get(f.id) : undefined;
      if (!image) return { out: { error: 'unreadable' } };
      return { out: { width: image.width, height: image.height, hash: dHash(image) }, image };
    }
    const buf = asBuffer(f.buf);
    if (twin && buf.equals(twin.buf)) return { out: twin.out, ...(twin.image ? { image: twin.image } : {}), buf };
    const image = this.decoded.get(f.id) ?? decodePng(buf);
    if (!image) return { out: { error: 'not decodable' }, buf };
    if (image.data.length <= DECODED_CACHE_BYTES / 3) this.decoded.set(f.id, image);
    return { out: { width: image.width, height: image.height, hash: dHash(image) }, image, buf };
  }

  run(task: StepIn): StepOut {
    const missing = (['pre', 'post'] as const).filter((k) => task[k]?.cached && !task[k]!.buf && !this.decoded.has(task[k]!.id));
    if (missing.length) return { missing };
    const out: StepOut = {};
    const pre = this.frame(task.pre);
    if (pre.out) out.pre = pre.out;
    const post = this.frame(task.post, pre.buf && pre.out ? { buf: pre.buf, out: pre.out, ...(pre.image ? { image: pre.image } : {}) } : undefined);
    if (post.out) out.post = post.out;
    if (pre.image && post.image) {
      const withImage = task.withImage && pre.image.width === post.image.width && pre.image.height === post.image.height;
      const { diff, image } = compareImages(pre.image, post.image, withImage);
      out.diff = diff;
      if (image) out.diffPng = encodePng(image);
    }
    return out;
  }
}
