import { crc32, inflateSync } from 'node:zlib';

/**
 * The PNG decode of the common screenshot formats (8-bit RGB and RGBA, not interlaced) on Node's
 * own zlib: the chunk CRCs and the inflate are native code, the unfiltering runs in place over the
 * inflated rows, and an RGBA image comes out without another copy. pngjs did the same work with a
 * CRC and pixel mapping written in JavaScript, and inflated a second time after the size check:
 * measured on the pixel worker, its CRC and pixel mapping were ~75 % of the CPU of a 5 MiB frame.
 * Every other format (grey, palette, 16-bit, RGB with a transparent colour) is left to pngjs.
 */

export interface PngChunks {
  /** The IDAT chunks' data, in order. */
  idat: Buffer[];
  /** Chunk types seen before IEND. */
  types: Set<string>;
}

/**
 * The chunks of a PNG whose signature was checked: each one's length inside the file and its CRC
 * right; undefined when not (a truncated or corrupted file is not decoded).
 */
export function readChunks(buf: Buffer): PngChunks | undefined {
  const idat: Buffer[] = [];
  const types = new Set<string>();
  for (let at = 8; ; ) {
    if (at + 12 > buf.length) return undefined; // no IEND
    const len = buf.readUInt32BE(at);
    if (at + 12 + len > buf.length) return undefined;
    if (crc32(buf.subarray(at + 4, at + 8 + len)) !== buf.readUInt32BE(at + 8 + len)) return undefined;
    const type = buf.toString('latin1', at + 4, at + 8);
    if (type === 'IEND') break;
    types.add(type);
    if (type === 'IDAT') idat.push(buf.subarray(at + 8, at + 8 + len));
    at += 12 + len;
  }
  return idat.length ? { idat, types } : undefined;
}

/**
 * The image data inflated, bounded by the size the header declares; undefined unless it is exactly
 * that size (a decompression bomb stops at the bound, a short stream is refused).
 */
export function inflateImageData(chunks: PngChunks, expected: number): Buffer | undefined {
  try {
    const raw = inflateSync(chunks.idat.length === 1 ? chunks.idat[0]! : Buffer.concat(chunks.idat), { maxOutputLength: expected });
    return raw.length === expected ? raw : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reverses the PNG filters of `height` rows of `stride` bytes, each after its filter-type byte, in
 * place; bpp is bytes per pixel. False for an unknown filter type.
 */
export function unfilter(raw: Uint8Array, stride: number, height: number, bpp: number): boolean {
  const line = stride + 1;
  for (let y = 0; y < height; y++) {
    const o = y * line + 1;
    const up = o - line; // the row above (y > 0)
    const filter = raw[o - 1];
    if (filter === 0) continue;
    if (filter === 1) {
      for (let i = bpp; i < stride; i++) raw[o + i] = raw[o + i]! + raw[o + i - bpp]!;
    } else if (filter === 2) {
      if (y > 0) for (let i = 0; i < stride; i++) raw[o + i] = raw[o + i]! + raw[up + i]!;
    } else if (filter === 3) {
      if (y === 0) {
        for (let i = bpp; i < stride; i++) raw[o + i] = raw[o + i]! + (raw[o + i - bpp]! >> 1);
      } else {
        for (let i = 0; i < bpp; i++) raw[o + i] = raw[o + i]! + (raw[up + i]! >> 1);
        for (let i = bpp; i < stride; i++) raw[o + i] = raw[o + i]! + ((raw[o + i - bpp]! + raw[up + i]!) >> 1);
      }
    } else if (filter === 4) {
      if (y === 0) {
        // No row above: Paeth picks the left neighbour.
        for (let i = bpp; i < stride; i++) raw[o + i] = raw[o + i]! + raw[o + i - bpp]!;
      } else {
        for (let i = 0; i < bpp; i++) raw[o + i] = raw[o + i]! + raw[up + i]!;
        for (let i = bpp; i < stride; i++) {
          const a = raw[o + i - bpp]!;
          const b = raw[up + i]!;
          const c = raw[up + i - bpp]!;
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          raw[o + i] = raw[o + i]! + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
        }
      }
    } else return false;
  }
  return true;
}

/**
 * RGBA pixels from unfiltered 8-bit rows of 3 (RGB) or 4 (RGBA) channels. RGBA rows are moved
 * together in place (the filter bytes dropped), so the result is a view of `raw`.
 */
export function toRgba(raw: Buffer, width: number, height: number, channels: 3 | 4): Buffer {
  const stride = width * channels;
  if (channels === 4) {
    for (let y = 0; y < height; y++) raw.copyWithin(y * stride, y * (stride + 1) + 1, (y + 1) * (stride + 1));
    return raw.subarray(0, width * height * 4);
  }
  const out = Buffer.allocUnsafe(width * height * 4);
  for (let y = 0, d = 0; y < height; y++) {
    for (let s = y * (stride + 1) + 1, end = s + stride; s < end; s += 3, d += 4) {
      out[d] = raw[s]!;
      out[d + 1] = raw[s + 1]!;
      out[d + 2] = raw[s + 2]!;
      out[d + 3] = 255;
    }
  }
  return out;
}
