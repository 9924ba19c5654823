import os from 'node:os';
import { deflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { describe, expect, it, vi } from 'vitest';
import { dHash, hamming, SAME_FRAME_MAX_DISTANCE, sameFrame } from '../../server/services/diagnostics/phash.js';
import { compareImages, decodePng, encodePng, type Image, MAX_SIDE, refuseReason } from '../../server/services/diagnostics/pixels.js';
import { frame } from '../../scripts/lib/frames.js';
import { pngChunk } from '../../scripts/lib/harness.js';

const png = (img: Image): Buffer => encodePng(img);

const chunk = pngChunk;
/** A PNG built by hand: any declared size, any IDAT. */
function rawPng(w: number, h: number, idat: Buffer, opts: { interlace?: number } = {}): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 6;
  ihdr[12] = opts.interlace ?? 0;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

/** A pixel pool (its worker thread) for the test's body, closed afterwards. */
async function withPool(body: (pool: import('../../server/services/diagnostics/pixel-pool.js').PixelPool) => Promise<void>): Promise<void> {
  const { PixelPool } = await import('../../server/services/diagnostics/pixel-pool.js');
  const { createLogger } = await import('../../server/logger.js');
  const pool = new PixelPool(createLogger('silent'));
  try {
    await body(pool);
  } finally {
    await pool.close();
  }
}

describe('PNG decoding for diagnostics', () => {
  it('decodes a PNG pngjs wrote, to the same pixels', () => {
    const img = frame(64, 40, { x: 5, y: 5, w: 10, h: 10 });
    const back = decodePng(png(img))!;
    expect(back.width).toBe(64);
    expect(Buffer.compare(back.data, img.data)).toBe(0);
  });

  it('yields nothing, without throwing, for malformed and hostile PNGs', () => {
    const good = png(frame(16, 16));
    const badCrc = Buffer.from(good);
    badCrc[good.length - 20]! ^= 0xff; // inside the IDAT: its CRC no longer matches
    expect(decodePng(badCrc)).toBeUndefined();
    expect(decodePng(Buffer.from('not a png at all, just text that is long enough'))).toBeUndefined();
    expect(decodePng(good.subarray(0, 40))).toBeUndefined(); // truncated
    // Declared 100000×100000: refused from the header, nothing inflated.
    expect(refuseReason(rawPng(100_000, 100_000, deflateSync(Buffer.alloc(10))))).toMatch(/declared/);
    expect(decodePng(rawPng(100_000, 100_000, deflateSync(Buffer.alloc(10))))).toBeUndefined();
    expect(decodePng(rawPng(MAX_SIDE + 1, 1, deflateSync(Buffer.alloc(10))))).toBeUndefined();
    // A decompression bomb: a small IDAT that inflates to 64 MiB, declared as 64×64.
    const bomb = deflateSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
    expect(bomb.length).toBeLessThan(1024 * 1024);
    expect(decodePng(rawPng(64, 64, bomb))).toBeUndefined();
    // Interlaced images are refused (pngjs inflates those without a bound).
    expect(refuseReason(rawPng(64, 64, bomb, { interlace: 1 }))).toBe('interlaced');
    expect(decodePng(rawPng(64, 64, bomb, { interlace: 1 }))).toBeUndefined();
    // Data that stops short of the declared size: pngjs would pad it with blank rows.
    expect(decodePng(rawPng(4096, 4096, deflateSync(Buffer.alloc(16))))).toBeUndefined();
    expect(decodePng(rawPng(64, 64, deflateSync(Buffer.alloc(64 * 257 - 1))))).toBeUndefined();
    expect(decodePng(rawPng(64, 64, deflateSync(Buffer.alloc(64 * 257))))?.width).toBe(64);
    // Zero size.
    expect(decodePng(rawPng(0, 10, deflateSync(Buffer.alloc(0))))).toBeUndefined();
  });

  it('decodes RGB and RGBA through every PNG filter to the pixels pngjs reads', () => {
    // Random pixels with runs and flat areas, so each filter meets carries and zero rows alike.
    const seedImage = (w: number, h: number, seed: number): Buffer => {
      const data = Buffer.alloc(w * h * 4);
      let x = seed;
      for (let i = 0; i < data.length; i++) {
        x = (x * 1103515245 + 12345) >>> 0;
        data[i] = i % 97 < 40 ? 200 : x >>> 24;
      }
      return data;
    };
    let compared = 0;
    for (const colorType of [2, 6] as const) {
      for (const filterType of [0, 1, 2, 3, 4, -1]) {
        for (const [w, h] of [[1, 1], [3, 5], [37, 23]] as const) {
          const src = new PNG({ width: w, height: h });
          src.data = seedImage(w, h, w * 31 + h + filterType + colorType);
          const file = PNG.sync.write(src, { colorType, filterType, inputHasAlpha: true });
          const ours = decodePng(file)!;
          const theirs = PNG.sync.read(file);
          expect([ours.width, ours.height]).toEqual([w, h]);
          expect(Buffer.compare(ours.data, theirs.data)).toBe(0);
          compared++;
        }
      }
    }
    expect(compared).toBe(36);
  });

  it('decodes the formats left to pngjs (grey, grey with alpha, palette, RGB with a transparent colour) as pngjs does', () => {
    for (const colorType of [0, 4] as const) {
      const src = new PNG({ width: 9, height: 7 });
      for (let i = 0; i < src.data.length; i++) src.data[i] = (i * 37) & 255;
      const file = PNG.sync.write(src, { colorType, inputHasAlpha: true });
      expect(Buffer.compare(decodePng(file)!.data, PNG.sync.read(file).data)).toBe(0);
    }
    // Palette (colour type 3) and an RGB image with tRNS, built by hand: pngjs writes neither.
    const rows = Buffer.from([0, 0, 1, 2, 0, 2, 1, 0]); // 3×2, filter 0, indices
    const plte = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255]);
    const ihdr = (colourType: number, w: number, h: number) => {
      const b = Buffer.alloc(13);
      b.writeUInt32BE(w, 0);
      b.writeUInt32BE(h, 4);
      b[8] = 8;
      b[9] = colourType;
      return b;
    };
    const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const palette = Buffer.concat([sig, chunk('IHDR', ihdr(3, 3, 2)), chunk('PLTE', plte), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
    const paletteOut = decodePng(palette)!;
    expect(Buffer.compare(paletteOut.data, PNG.sync.read(palette).data)).toBe(0);
    expect([...paletteOut.data.subarray(4, 8)]).toEqual([0, 255, 0, 255]);
    const rgb = Buffer.from([0, 10, 20, 30, 40, 50, 60]); // 2×1 RGB
    const keyed = Buffer.concat([sig, chunk('IHDR', ihdr(2, 2, 1)), chunk('tRNS', Buffer.from([0, 10, 0, 20, 0, 30])), chunk('IDAT', deflateSync(rgb)), chunk('IEND', Buffer.alloc(0))]);
    const keyedOut = decodePng(keyed)!;
    expect(Buffer.compare(keyedOut.data, PNG.sync.read(keyed).data)).toBe(0);
    expect(keyedOut.data[3]).toBe(0); // the keyed colour is transparent
  });

  it('refuses an unknown filter type and a file without IEND', () => {
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(2, 0);
    ihdr.writeUInt32BE(1, 4);
    ihdr[8] = 8;
    ihdr[9] = 6;
    const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const body = (filter: number) => deflateSync(Buffer.from([filter, 1, 2, 3, 4, 5, 6, 7, 8]));
    const file = (filter: number, end = true) => Buffer.concat([sig, chunk('IHDR', ihdr), chunk('IDAT', body(filter)), ...(end ? [chunk('IEND', Buffer.alloc(0))] : [])]);
    expect(decodePng(file(1))?.width).toBe(2);
    expect(decodePng(file(5))).toBeUndefined();
    expect(decodePng(file(1, false))).toBeUndefined();
  });

  it('a pngjs-written 16-bit PNG decodes too (rescaled to 8 bits)', () => {
    const p = new PNG({ width: 4, height: 4, bitDepth: 16 });
    p.data.fill(128);
    expect(decodePng(PNG.sync.write(p))?.width).toBe(4);
  });
});

describe('pre/post comparison and the perceptual hash', () => {
  it('counts the changed pixels; a different size is a change', () => {
    const a = frame(100, 80);
    const b = frame(100, 80, { x: 10, y: 10, w: 20, h: 10 });
    const same = compareImages(a, frame(100, 80), true);
    expect(same.diff).toMatchObject({ changed: 0, total: 8000, ratio: 0, sizeMismatch: false });
    const d = compareImages(a, b, true);
    expect(d.diff.changed).toBe(200);
    expect(d.image?.data.length).toBe(100 * 80 * 4);
    expect(decodePng(encodePng(d.image!))?.width).toBe(100);
    expect(compareImages(a, frame(90, 80), true)).toMatchObject({ diff: { ratio: 1, sizeMismatch: true } });
  });

  it('dHash: the same screen within the bound, another layout beyond it', () => {
    const a = frame(320, 200, { x: 20, y: 20, w: 100, h: 40 });
    const caret = frame(320, 200, { x: 20, y: 20, w: 100, h: 40 });
    caret.data.fill(0, (100 * 320 + 200) * 4, (100 * 320 + 202) * 4); // two dark pixels: a caret
    const other = frame(320, 200, { x: 180, y: 120, w: 120, h: 60 });
    expect(dHash(a)).toMatch(/^[0-9a-f]{16}$/);
    expect(hamming(dHash(a), dHash(caret))).toBeLessThanOrEqual(SAME_FRAME_MAX_DISTANCE);
    expect(sameFrame(dHash(a), dHash(caret))).toBe(true);
    expect(hamming(dHash(a), dHash(other))).toBeGreaterThan(SAME_FRAME_MAX_DISTANCE);
    expect(sameFrame(dHash(a), dHash(other))).toBe(false);
    // A re-scaled copy of the same screen hashes the same.
    expect(sameFrame(dHash(a), dHash(frame(640, 400, { x: 40, y: 40, w: 200, h: 80 })))).toBe(true);
  });
});

describe('the pixel worker', () => {
  it('does a step\'s work in a worker thread, keeping the last decoded frames', async () => {
    await withPool(async (pool) => {
      const a = png(frame(64, 40));
      const b = png(frame(64, 40, { x: 1, y: 1, w: 10, h: 10 }));
      const out = await pool.run({ pre: { id: 'a', buf: a }, post: { id: 'b', buf: b }, withImage: true });
      expect(pool.threaded).toBe(true);
      expect(out.pre).toEqual({ width: 64, height: 40, hash: dHash(frame(64, 40)) });
      expect(out.diff).toEqual(compareImages(frame(64, 40), frame(64, 40, { x: 1, y: 1, w: 10, h: 10 }), false).diff);
      expect(out.diff!.changed).toBeGreaterThan(0);
      expect(decodePng(Buffer.from(out.diffPng!))).toMatchObject({ width: 64, height: 40 });
      // A frame it cannot decode is reported as such; the worker goes on.
      const bad = await pool.run({ pre: { id: 'c', buf: Buffer.from('nope') }, post: { id: 'd' }, withImage: true });
      expect(bad).toEqual({ pre: { error: 'not decodable' }, post: { error: 'unreadable' } });
      expect((await pool.run({ pre: { id: 'a', buf: a }, withImage: false })).pre?.hash).toBe(out.pre?.hash);
    });
  });
});

describe('the pixel worker: frames it holds, bytes it is given, its priority', () => {
  it('works a step from pixels it decoded before; names a frame it no longer holds as missing', async () => {
    const { PixelEngine, DECODED_CACHE_BYTES } = await import('../../server/services/diagnostics/pixel-engine.js');
    const engine = new PixelEngine();
    const a = png(frame(64, 40));
    const b = png(frame(64, 40, { x: 1, y: 1, w: 10, h: 10 }));
    const first = engine.run({ pre: { id: 'a', buf: a }, withImage: false });
    const pair = engine.run({ pre: { id: 'a', cached: true }, post: { id: 'b', buf: b }, withImage: false });
    expect(pair.pre).toEqual(first.pre);
    expect(pair.diff).toEqual(compareImages(frame(64, 40), frame(64, 40, { x: 1, y: 1, w: 10, h: 10 }), false).diff);
    // Never decoded here: nothing is worked out, the frame is named.
    expect(engine.run({ pre: { id: 'z', cached: true }, post: { id: 'b', buf: b }, withImage: false })).toEqual({ missing: ['pre'] });
    // Pushed out of the cache by larger frames: missing again.
    const big = png(frame(2048, 2048));
    for (let i = 0; i < Math.ceil(DECODED_CACHE_BYTES / (2048 * 2048 * 4)) + 1; i++) engine.run({ pre: { id: `big${i}`, buf: big }, withImage: false });
    expect(engine.run({ pre: { id: 'a', cached: true }, withImage: false })).toEqual({ missing: ['pre'] });
  });

  it('moves a buffer that owns its memory to the worker instead of copying it, and copies a slice', async () => {
    await withPool(async (pool) => {
      const a = png(frame(64, 40));
      await pool.run({ pre: { id: 'warm', buf: Buffer.from(a) }, withImage: false }); // the worker has answered once
      const owned = Buffer.allocUnsafeSlow(a.length);
      a.copy(owned);
      const out = await pool.run({ pre: { id: 'moved', buf: owned }, withImage: false });
      expect(out.pre?.width).toBe(64);
      expect(owned.buffer.byteLength).toBe(0); // detached: it now belongs to the worker
      const shared = Buffer.alloc(a.length + 64);
      a.copy(shared, 64);
      const slice = shared.subarray(64);
      expect((await pool.run({ pre: { id: 'copied', buf: slice }, withImage: false })).pre?.width).toBe(64);
      expect(slice.equals(a)).toBe(true); // still readable here
    });
  });

  it.runIf(process.platform === 'linux')('runs its thread at the lowest CPU priority, the event loop at its own', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const niceOf = (task: string) => {
      const stat = readFileSync(`/proc/self/task/${task}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    };
    const before = new Set(readdirSync('/proc/self/task'));
    await withPool(async (pool) => {
      await pool.run({ pre: { id: 'a', buf: png(frame(8, 8)) }, withImage: false });
      const added = readdirSync('/proc/self/task').filter((t) => !before.has(t));
      expect(added.map(niceOf)).toContain(19);
      expect(niceOf(String(process.pid))).toBe(os.getPriority());
    });
  });
});

describe('fresh frames (uploads kept for the pixel work that follows)', () => {
  it('keeps what was captured under the stored name, lends it once, and frees the slot on release', async () => {
    const { FreshFrames, frameId } = await import('../../server/services/diagnostics/fresh-frames.js');
    const fresh = new FreshFrames(2, 100);
    const c = fresh.capture(50);
    expect(fresh.uploading).toBe(1);
    c.write(Buffer.from('abc'));
    c.write(Buffer.from('def'));
    c.done('shots/1.png', '"e1"');
    expect(fresh.uploading).toBe(0);
    expect(fresh.busy).toBe(1);
    expect(fresh.take(frameId('shots/1.png', '"e2"'))).toBeUndefined(); // another version
    const lent = fresh.take(frameId('shots/1.png', '"e1"'))!;
    expect(Buffer.from(lent.buf).toString()).toBe('abcdef');
    expect(lent.buf.buffer).toBeInstanceOf(SharedArrayBuffer); // read in place by the worker
    expect(fresh.take(frameId('shots/1.png', '"e1"'))).toBeUndefined();
    expect(fresh.busy).toBe(1);
    lent.release();
    expect(fresh.busy).toBe(0);
  });

  it('keeps the frames waiting when every slot is busy: a new upload is not captured', async () => {
    const { FreshFrames, frameId } = await import('../../server/services/diagnostics/fresh-frames.js');
    const fresh = new FreshFrames(3, 100);
    for (const n of [1, 2]) {
      const c = fresh.capture(10)!;
      c.write(Buffer.from(`frame${n}`));
      c.done(`k${n}`, 'e');
    }
    const lent = fresh.take(frameId('k2', 'e'))!;
    const running = fresh.capture(10)!;
    expect(fresh.busy).toBe(3);
    // Waiting, lent, capturing: no slot, so this upload keeps nothing, and k1 stays kept.
    const unkept = fresh.capture(10);
    unkept.write(Buffer.from('frame3'));
    expect(fresh.uploading).toBe(2);
    unkept.done('k3', 'e');
    expect(fresh.holds(frameId('k3', 'e'))).toBe(false);
    expect(fresh.holds(frameId('k1', 'e'))).toBe(true);
    expect(Buffer.from(fresh.take(frameId('k1', 'e'))!.buf).toString()).toBe('frame1');
    expect(Buffer.from(lent.buf).toString()).toBe('frame2'); // a lent frame is left as it was
    running.drop();
    lent.release();
    expect(fresh.busy).toBe(1); // k1, lent above and not released
    expect(fresh.uploading).toBe(0);
    // Not worth a slot: unknown or larger than a slot; still counted while in progress.
    for (const size of [Number.NaN, 0, 101]) {
      const c = fresh.capture(size);
      expect(fresh.uploading).toBe(1);
      c.done(`n${size}`, 'e');
      expect(fresh.holds(frameId(`n${size}`, 'e'))).toBe(false);
      expect(fresh.uploading).toBe(0);
    }
  });

  it('gives up a capture that receives more than a slot holds', async () => {
    const { FreshFrames, frameId } = await import('../../server/services/diagnostics/fresh-frames.js');
    const fresh = new FreshFrames(1, 4);
    const c = fresh.capture(4)!;
    c.write(Buffer.from('abc'));
    c.write(Buffer.from('de'));
    expect(fresh.busy).toBe(0);
    c.done('k', 'e');
    expect(fresh.take(frameId('k', 'e'))).toBeUndefined();
  });

  it('the worker reads a frame from shared memory in place', async () => {
    const { FreshFrames, frameId } = await import('../../server/services/diagnostics/fresh-frames.js');
    await withPool(async (pool) => {
      const a = png(frame(64, 40));
      const fresh = new FreshFrames(1, a.length);
      const c = fresh.capture(a.length)!;
      c.write(a);
      c.done('k', 'e');
      const lent = fresh.take(frameId('k', 'e'))!;
      await pool.run({ pre: { id: 'warm', buf: Buffer.from(a) }, withImage: false });
      expect((await pool.run({ pre: { id: 'shared', buf: lent.buf }, withImage: false })).pre).toEqual({ width: 64, height: 40, hash: dHash(frame(64, 40)) });
      expect(Buffer.from(lent.buf).equals(a)).toBe(true); // still there: shared, not moved
      lent.release();
    });
  });
});

/** PixelJobs over a file store in a temp folder, for one test body (fake timers undone, everything closed after). */
async function withDeferredJobs(
  run: string,
  body: (t: {
    jobs: import('../../server/services/diagnostics/pixel-jobs.js').PixelJobs;
    objects: import('../../storage/objects/index.js').ObjectStore;
    keys: import('../../server/services/bundle.js').BundleKeys;
    DEFERRED_POLL_MS: number;
  }) => Promise<void>,
): Promise<void> {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const path = await import('node:path');
  const { createObjectStore } = await import('../../storage/objects/index.js');
  const { PixelJobs, DEFERRED_POLL_MS } = await import('../../server/services/diagnostics/pixel-jobs.js');
  const { BundleKeys } = await import('../../server/services/bundle.js');
  const { createLogger } = await import('../../server/logger.js');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'augur-deferred-'));
  const objects = await createObjectStore({ driver: 'fs', root: dir });
  const jobs = new PixelJobs(objects, createLogger('silent'));
  try {
    await body({ jobs, objects, keys: new BundleKeys('0b5e3c1a-1d2e-4f50-8a6b-7c8d9e0f1a2b', run), DEFERRED_POLL_MS });
  } finally {
    vi.useRealTimers();
    await jobs.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('a backlog of deferred pixel work', () => {
  it('drains one step after another once the replica is quiet, not one step per poll', async () => {
    await withDeferredJobs('run_backlog', async ({ jobs, objects, keys, DEFERRED_POLL_MS }) => {
      // A real pause (setInterval is not faked below): lets the worker thread answer.
      const realPause = () => new Promise<void>((r) => { const t = setInterval(() => { clearInterval(t); r(); }, 5); });
      const infos = [];
      for (let step = 0; step < 3; step++) {
        const key = keys.screenshot(step, 'post');
        await objects.put(key, png(frame(24 + step, 16)), { contentType: 'image/png' });
        infos.push((await objects.head(key))!);
      }
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const upload = jobs.fresh.capture(1000);
      infos.forEach((info, step) => jobs.screenshotStored(keys, step, { kind: 'post', info }));
      expect(jobs.backlog).toBe(3);
      upload.drop();
      await vi.advanceTimersByTimeAsync(DEFERRED_POLL_MS + 1); // the poll that finds the replica quiet
      let waited = 0; // fake milliseconds after it
      for (; jobs.backlog > 0 && waited < DEFERRED_POLL_MS; waited++) {
        await realPause();
        await vi.advanceTimersByTimeAsync(1);
      }
      expect(jobs.backlog).toBe(0);
      expect(waited).toBeLessThan(DEFERRED_POLL_MS); // one poll at 250 ms per step would need 500 ms more
      expect(jobs.computed).toBe(3);
    });
  });
});

describe('fresh frame slots lent for read-backs', () => {
  it('lends a free slot for a frame that fits, refuses overflow and gives the slot back', async () => {
    const { FreshFrames } = await import('../../server/services/diagnostics/fresh-frames.js');
    const fresh = new FreshFrames(1, 8);
    expect(fresh.borrow(9)).toBeUndefined(); // larger than a slot
    const slot = fresh.borrow(6)!;
    expect(fresh.busy).toBe(1);
    expect(fresh.borrow(1)).toBeUndefined(); // none free
    expect(slot.write(Uint8Array.from([1, 2, 3]))).toBe(true);
    expect(slot.write(Uint8Array.from([4, 5]))).toBe(true);
    expect([...slot.bytes()]).toEqual([1, 2, 3, 4, 5]);
    expect(slot.write(new Uint8Array(4))).toBe(false); // past the slot's 8 bytes
    slot.release();
    slot.release();
    expect(fresh.busy).toBe(0);
    expect(fresh.borrow(8)).toBeDefined();
  });
});

describe('pixel work for a frame not kept from its upload', () => {
  it('waits while an upload is in progress, then reads the frame back and works it out', async () => {
    await withDeferredJobs('run_deferred', async ({ jobs, objects, keys, DEFERRED_POLL_MS }) => {
      const key = keys.screenshot(0, 'post');
      await objects.put(key, png(frame(32, 20)), { contentType: 'image/png' });
      const info = (await objects.head(key))!;
      const wholeReads = vi.spyOn(objects, 'getBuffer');
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const upload = jobs.fresh.capture(1000); // another upload, in progress
      jobs.screenshotStored(keys, 0, { kind: 'post', info }); // this frame was not kept
      expect(jobs.deferredSteps).toBe(1);
      expect(jobs.backlog).toBe(1);
      await vi.advanceTimersByTimeAsync(DEFERRED_POLL_MS * 4);
      expect(jobs.deferredSteps).toBe(1); // still waiting: an upload is in progress
      expect(jobs.computed).toBe(0);
      upload.drop();
      await vi.advanceTimersByTimeAsync(DEFERRED_POLL_MS + 1);
      expect(jobs.deferredSteps).toBe(0); // started once the replica was quiet
      vi.useRealTimers();
      await jobs.idle();
      expect(jobs.computed).toBe(1);
      expect(jobs.readBack).toBe(1);
      // Read back into a free slot of shared memory (no buffer of its own), which is free again after.
      expect(wholeReads).not.toHaveBeenCalled();
      expect(jobs.fresh.busy).toBe(0);
      expect(jobs.backlog).toBe(0);
      expect((await jobs.forStep(keys, 0, await jobs.headShots(keys, 0)))?.post?.width).toBe(32);
    });
  });
});
