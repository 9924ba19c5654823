import { crc32, deflateSync } from 'node:zlib';

import { pngChunk } from '../../scripts/lib/harness.js';

/** Helpers shared by the ingest API tests (not a test file itself). */


export function ihdr(width: number, height: number, depth = 8, colour = 2): Buffer {
  const d = Buffer.alloc(13);
  d.writeUInt32BE(width, 0);
  d.writeUInt32BE(height, 4);
  d[8] = depth;
  d[9] = colour;
  return pngChunk('IHDR', d);
}

const SIG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A real, decodable RGB PNG with seeded pixel noise. */
export function makePng(width = 4, height = 3, seed = 1): Buffer {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  let x = seed;
  for (let i = 0; i < raw.length; i++) {
    if (i % (width * 3 + 1) === 0) continue; // filter byte 0
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    raw[i] = x >> 16;
  }
  return Buffer.concat([SIG, ihdr(width, height), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', Buffer.alloc(0))]);
}

/** A PNG head (signature + IHDR) followed by `size` bytes in total: what the server checks, padded. */
export function paddedPng(size: number, fill = 0x41): Buffer {
  const head = Buffer.concat([SIG, ihdr(1000, 1000)]);
  return Buffer.concat([head, Buffer.alloc(Math.max(0, size - head.length), fill)]);
}

/** Signature + a custom IHDR (to build invalid headers). */
export function pngWithIhdr(width: number, height: number, depth = 8, colour = 2): Buffer {
  return Buffer.concat([SIG, ihdr(width, height, depth, colour), Buffer.alloc(64)]);
}

export function pngForm(png: Buffer, type = 'image/png', field = 'image', filename = 'shot.png'): FormData {
  const form = new FormData();
  form.append(field, new Blob([new Uint8Array(png)], { type }), filename);
  return form;
}
