import type { Image } from './pixels.js';

/**
 * A perceptual hash of a frame: dHash over a 9×8 grey thumbnail. Each of the 64 bits says whether
 * a thumbnail cell is brighter than its right-hand neighbour, so the hash survives compression
 * noise, small renders and re-encoding, and moves when the layout changes. The thumbnail is a box
 * average over a grid of sample pixels (every pixel of frames up to 512 px on their short side, every
 * n-th row and column of larger ones, n = short side / 256), grey = 0.299 R + 0.587 G + 0.114 B.
 */
export const HASH_W = 9;
export const HASH_H = 8;
/**
 * Two frames are "the same screen" when their hashes differ in at most this many of 64 bits
 * (about 6 %): a caret blink or a hover state stays within it, another page does not.
 */
export const SAME_FRAME_MAX_DISTANCE = 4;

/** 16 hex digits (64 bits). */
export function dHash(img: Image): string {
  const { width: w, height: h, data } = img;
  const sums = new Float64Array(HASH_W * HASH_H);
  const counts = new Uint32Array(HASH_W * HASH_H);
  const colOf = new Uint8Array(w);
  for (let x = 0; x < w; x++) colOf[x] = Math.min(HASH_W - 1, Math.floor((x * HASH_W) / w));
  const n = Math.max(1, Math.floor(Math.min(w, h) / 256));
  for (let y = 0; y < h; y += n) {
    const row = Math.min(HASH_H - 1, Math.floor((y * HASH_H) / h)) * HASH_W;
    let p = y * w * 4;
    for (let x = 0; x < w; x += n, p += 4 * n) {
      const c = row + colOf[x]!;
      sums[c]! += 0.299 * data[p]! + 0.587 * data[p + 1]! + 0.114 * data[p + 2]!;
      counts[c]!++;
    }
  }
  const grey = Array.from(sums, (s, i) => (counts[i] ? s / counts[i]! : 0));
  let hex = '';
  for (let r = 0; r < HASH_H; r++) {
    let byte = 0;
    for (let c = 0; c < HASH_W - 1; c++) byte = (byte << 1) | (grey[r * HASH_W + c]! > grey[r * HASH_W + c + 1]! ? 1 : 0);
    hex += byte.toString(16).padStart(2, '0');
  }
  return hex;
}

/** Bits that differ between two hashes of the same length. */
export function hamming(a: string, b: string): number {
  let d = 0;
  for (let i = 0; i < a.length; i += 2) {
    let x = parseInt(a.slice(i, i + 2), 16) ^ parseInt(b.slice(i, i + 2), 16);
    while (x) {
      d += x & 1;
      x >>= 1;
    }
  }
  return d;
}

export const sameFrame = (a: string, b: string): boolean => a.length === b.length && hamming(a, b) <= SAME_FRAME_MAX_DISTANCE;
