import { describe, expect, it } from 'vitest';
import { pngChunk } from '../../scripts/lib/harness.js';
import { MAX_PNG_PIXELS, PNG_HEAD_BYTES, PNG_SIGNATURE, pngHeadProblem } from '../../server/http/upload.js';

/** The first 33 bytes of a PNG: signature and IHDR (width, height, depth, colour, compression, filter, interlace). */
function head(o: { width?: number; height?: number; depth?: number; colour?: number; compression?: number; filter?: number; interlace?: number } = {}): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(o.width ?? 1280, 0);
  ihdr.writeUInt32BE(o.height ?? 800, 4);
  ihdr.set([o.depth ?? 8, o.colour ?? 6, o.compression ?? 0, o.filter ?? 0, o.interlace ?? 0], 8);
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr)]);
}

describe('pngHeadProblem', () => {
  it('accepts a sane head of exactly 33 bytes, for every allowed depth of every colour type', () => {
    expect(head()).toHaveLength(PNG_HEAD_BYTES);
    expect(pngHeadProblem(head())).toBeUndefined();
    const allowed: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
    for (const [colour, depths] of Object.entries(allowed)) for (const depth of depths) expect(pngHeadProblem(head({ colour: Number(colour), depth })), `${colour}/${depth}`).toBeUndefined();
    expect(pngHeadProblem(head({ interlace: 1 }))).toBeUndefined();
  });

  it('names what is wrong', () => {
    expect(pngHeadProblem(head().subarray(0, 32))).toBe('file too short to be a PNG');
    expect(pngHeadProblem(Buffer.concat([Buffer.from('GIF89a..'), head().subarray(8)]))).toBe('not a PNG (signature missing)');
    const notIhdr = Buffer.concat([PNG_SIGNATURE, pngChunk('IDAT', Buffer.alloc(13))]);
    expect(pngHeadProblem(notIhdr)).toBe('PNG does not start with an IHDR chunk');
    const corrupt = head();
    corrupt[20] ^= 1;
    expect(pngHeadProblem(corrupt)).toBe('PNG IHDR chunk is corrupt (CRC mismatch)');
    expect(pngHeadProblem(head({ width: 0 }))).toBe('PNG size 0×800 is invalid');
    expect(pngHeadProblem(head({ height: 0x80000000 }))).toBe(`PNG size 1280×${0x80000000} is invalid`);
    expect(pngHeadProblem(head({ colour: 2, depth: 4 }))).toBe('PNG colour type 2 with bit depth 4 is invalid');
    expect(pngHeadProblem(head({ colour: 5 }))).toBe('PNG colour type 5 with bit depth 8 is invalid');
    expect(pngHeadProblem(head({ interlace: 2 }))).toBe('PNG IHDR has an unknown compression, filter or interlace method');
    expect(pngHeadProblem(head({ compression: 1 }))).toMatch(/unknown compression/);
  });

  it('caps the pixel count, not either side', () => {
    expect(pngHeadProblem(head({ width: 10_000, height: 10_000 }))).toBeUndefined();
    expect(10_000 * 10_001).toBeGreaterThan(MAX_PNG_PIXELS);
    expect(pngHeadProblem(head({ width: 10_000, height: 10_001 }))).toMatch(/^PNG is 10000×10001 pixels; at most 100,000,000 pixels are accepted$/);
    expect(pngHeadProblem(head({ width: 1_000_000, height: 1 }))).toBeUndefined();
  });
});
