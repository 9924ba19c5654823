import { encodePng, type Image } from '../../server/services/diagnostics/pixels.js';

/** Synthetic screenshots for the diagnostics tests and benchmark. */

/** A w×h frame: a light page with a faint horizontal gradient and, optionally, a dark block. */
export function frame(w: number, h: number, block?: { x: number; y: number; w: number; h: number; grey?: number }): Image {
  const data = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = (y * w + x) * 4;
      const inBlock = block && x >= block.x && x < block.x + block.w && y >= block.y && y < block.y + block.h;
      const g = inBlock ? (block.grey ?? 0x20) : 0xf0 - Math.floor((x * 40) / w);
      data[p] = g;
      data[p + 1] = g;
      data[p + 2] = g;
      data[p + 3] = 255;
    }
  }
  return { width: w, height: h, data };
}

/** The PNG of frame(w, h, block). */
export const framePng = (w: number, h: number, block?: Parameters<typeof frame>[2]): Buffer => encodePng(frame(w, h, block));
