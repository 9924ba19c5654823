import pixelmatch from 'pixelmatch';
import { PNG } from 'pngjs';
import { inflateImageData, readChunks, toRgba, unfilter } from './png-decode.js';

/**
 * Screenshot pixels for the diagnostics: a guarded PNG decode, the pre/post comparison and the
 * diff image. Everything here is synchronous CPU work on one image pair; the caller (pixel-jobs.ts)
 * bounds how many run at once.
 *
 * Hostile input yields `undefined`, never a throw that escapes, and never more than the caps in
 * memory: the IHDR's declared size is checked before anything is inflated, interlaced images are
 * refused (pngjs inflates those without a bound), the image data must inflate to exactly the size
 * the header declares (inflated with that as the output bound, so a decompression bomb stops
 * there; pngjs would pad a short stream with blank rows), and every chunk's CRC is checked.
 */

/** Largest side and pixel count decoded: 4096 × 4096 = 16 Mpx (64 MiB of RGBA). */
export const MAX_SIDE = 4096;
export const MAX_PIXELS = 16 * 1024 * 1024;
/** Largest PNG file read for diagnostics (the ingest limit's default). */
export const MAX_PNG_BYTES = 32 * 1024 * 1024;
/**
 * pixelmatch's per-pixel colour threshold (0–1, YIQ distance): 0.1 is its default and ignores
 * anti-aliasing and compression noise while catching any visible change.
 */
export const PIXEL_THRESHOLD = 0.1;
/**
 * A step whose pre and post differ in at most this fraction of pixels (0.1 %, about 1,000 pixels
 * of a 1280×800 frame: a blinking caret, a clock's seconds) counts as "nothing changed".
 */
export const NO_OP_MAX_CHANGED_RATIO = 0.001;

export interface Image {
  width: number;
  height: number;
  /** RGBA, 8 bits per channel. */
  data: Buffer;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlace: number;
}

/** The IHDR of a PNG, or undefined when the bytes do not start like one. */
export function pngHeader(buf: Buffer): PngHeader | undefined {
  if (buf.length < 33 || !buf.subarray(0, 8).equals(SIGNATURE)) return undefined;
  if (buf.readUInt32BE(8) !== 13 || buf.toString('latin1', 12, 16) !== 'IHDR') return undefined;
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20), bitDepth: buf[24]!, colorType: buf[25]!, interlace: buf[28]! };
}

/** Why a PNG is not decoded, for logs; undefined when it may be. */
export function refuseReason(buf: Buffer): string | undefined {
  if (buf.length > MAX_PNG_BYTES) return `larger than ${MAX_PNG_BYTES} bytes`;
  const h = pngHeader(buf);
  if (!h) return 'not a PNG';
  if (h.width < 1 || h.height < 1) return 'empty image';
  if (h.width > MAX_SIDE || h.height > MAX_SIDE || h.width * h.height > MAX_PIXELS) return `declared ${h.width}x${h.height}, over ${MAX_SIDE}x${MAX_SIDE}`;
  if (h.interlace !== 0) return 'interlaced';
  return undefined;
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

const expectedBytes = (h: PngHeader, channels: number) => (Math.ceil((h.width * channels * h.bitDepth) / 8) + 1) * h.height;

/**
 * RGBA pixels of a PNG within the caps; undefined for anything malformed, hostile or too large.
 * 8-bit RGB and RGBA (what screenshots are) decode on Node's zlib (png-decode.ts); other formats,
 * once their CRCs and data size are checked the same way, through pngjs.
 */
export function decodePng(buf: Buffer): Image | undefined {
  if (refuseReason(buf) !== undefined) return undefined;
  const h = pngHeader(buf)!;
  const channels = CHANNELS[h.colorType];
  if (!channels || ![1, 2, 4, 8, 16].includes(h.bitDepth)) return undefined;
  const chunks = readChunks(buf);
  if (!chunks) return undefined;
  const raw = inflateImageData(chunks, expectedBytes(h, channels));
  if (!raw) return undefined;
  const fast = h.bitDepth === 8 && (h.colorType === 6 || (h.colorType === 2 && !chunks.types.has('tRNS')));
  if (fast) {
    const bpp = channels as 3 | 4;
    if (!unfilter(raw, h.width * bpp, h.height, bpp)) return undefined;
    return { width: h.width, height: h.height, data: toRgba(raw, h.width, h.height, bpp) };
  }
  try {
    // CRCs were checked above; pngjs inflates again (these formats are rare for screenshots).
    const png = PNG.sync.read(buf, { checkCRC: false });
    if (png.width * png.height * 4 !== png.data.length) return undefined;
    return { width: png.width, height: png.height, data: png.data };
  } catch {
    return undefined;
  }
}

export interface PixelDiff {
  /** Pixels pixelmatch counts as different (all of them when the sizes differ). */
  changed: number;
  total: number;
  ratio: number;
  sizeMismatch: boolean;
}

/** Compares two frames; `image` is pixelmatch's diff picture when they have the same size. */
export function compareImages(a: Image, b: Image, withImage: boolean): { diff: PixelDiff; image?: Image } {
  if (a.width !== b.width || a.height !== b.height) {
    const total = Math.max(a.width * a.height, b.width * b.height);
    return { diff: { changed: total, total, ratio: 1, sizeMismatch: true } };
  }
  const total = a.width * a.height;
  // Identical bytes: nothing to look at pixel by pixel (a memcmp, against ~15 ms of pixelmatch at 1280×800).
  if (a.data.equals(b.data)) {
    return { diff: { changed: 0, total, ratio: 0, sizeMismatch: false }, ...(withImage ? { image: { width: a.width, height: a.height, data: Buffer.alloc(a.data.length) } } : {}) };
  }
  const out = withImage ? Buffer.alloc(a.data.length) : undefined;
  // diffMask: the picture is the changed pixels alone (red, anti-aliasing yellow) on transparency, to lay
  // over either screenshot; drawing a faded copy of the frame too would cost more than the comparison.
  const changed = pixelmatch(a.data, b.data, out, a.width, a.height, { threshold: PIXEL_THRESHOLD, diffMask: true });
  return { diff: { changed, total, ratio: changed / total, sizeMismatch: false }, ...(out ? { image: { width: a.width, height: a.height, data: out } } : {}) };
}

/** PNG bytes of an image; fast settings (the diff picture is mostly flat). */
export function encodePng(img: Image): Buffer {
  const png = new PNG({ width: img.width, height: img.height });
  png.data = img.data;
  return PNG.sync.write(png, { deflateLevel: 3, filterType: 0 });
}
