import { LRUCache } from 'lru-cache';
import type { Logger } from '../../logger.js';
import type { ObjectInfo, ObjectStore } from '../../../storage/objects/index.js';
import { type BundleKeys, nnnn } from '../bundle.js';
import { dHash } from './phash.js';
import { compareImages, decodePng, encodePng, type Image, MAX_PNG_BYTES, type PixelDiff } from './pixels.js';
import { isObject } from './types.js';

/**
 * Per-step pixel facts (frame hashes, pre/post comparison), computed once per screenshot and kept:
 * a derived record per step (`.derived/pixels/NNNN.json`) names the ETags of the screenshots it was
 * computed from, so it stays valid until one of them is replaced; each replica also keeps records
 * in memory (LRU). The work starts in the background when a screenshot arrives and is done at read
 * time for whatever is still missing.
 *
 * Bounded: at most GLOBAL_CONCURRENCY step is worked on at once in the process, background work
 * takes one step at a time per run, at most MAX_PENDING background steps wait (later ones are left
 * for the read to do), and each step yields to the event loop between images so ingest keeps
 * flowing. Nothing here throws into ingest.
 */
// One: the work is synchronous CPU on the main thread, so a second would overlap only I/O, and a
// 16 Mpx pair with its diff holds ~190 MiB while it is worked on.
export const GLOBAL_CONCURRENCY = 1;
/**
 * Decoded frames kept for a moment: a step's pre arrives before its post, and comparing the two
 * should not decode the pre again. Bounded by bytes of RGBA (a 1280×800 frame is 4 MiB).
 */
export const DECODED_CACHE_BYTES = 96 * 1024 * 1024;
export const MAX_PENDING = 2_000;
export const RECORD_VERSION = 1;
const MEMO_ENTRIES = 50_000;

export interface FrameFacts {
  etag: string;
  width?: number;
  height?: number;
  /** dHash, 16 hex digits; absent when the PNG could not be decoded. */
  hash?: string;
  /** Why the frame was not decoded (malformed, too large…). */
  error?: string;
}

export interface PixelRecord {
  v: number;
  step: number;
  pre?: FrameFacts;
  post?: FrameFacts;
  /** ETag of the SDK's own diff screenshot, when it sent one. */
  sdkDiff?: string;
  /** pre against post, when both decoded. */
  diff?: PixelDiff;
  /** The server wrote diagnostics/diff/NNNN.png for this record. */
  diffImage?: boolean;
}

export interface StepShots {
  pre?: ObjectInfo;
  post?: ObjectInfo;
  diff?: ObjectInfo;
}

const recordName = (step: number) => `pixels/${nnnn(step)}.json`;

/** A record is current while it was computed from exactly the screenshots now stored. */
export function recordMatches(r: PixelRecord, shots: StepShots): boolean {
  return r.v === RECORD_VERSION && r.pre?.etag === shots.pre?.etag && r.post?.etag === shots.post?.etag && r.sdkDiff === shots.diff?.etag;
}

function parseRecord(buf: Buffer | undefined): PixelRecord | undefined {
  if (!buf) return undefined;
  try {
    const r = JSON.parse(buf.toString('utf8')) as unknown;
    return isObject(r) && r.v === RECORD_VERSION && Number.isInteger(r.step) ? (r as unknown as PixelRecord) : undefined;
  } catch {
    return undefined;
  }
}

const tick = () => new Promise<void>((r) => setImmediate(r));

export class PixelJobs {
  private readonly memo = new LRUCache<string, PixelRecord>({ max: MEMO_ENTRIES });
  /** Frame facts by object key and ETag, and the decoded pixels of recent frames. */
  private readonly facts = new LRUCache<string, FrameFacts>({ max: MEMO_ENTRIES });
  private readonly decoded = new LRUCache<string, Image>({ maxSize: DECODED_CACHE_BYTES, sizeCalculation: (i) => i.data.length + 64 });
  private readonly inflight = new Map<string, Promise<PixelRecord | undefined>>();
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  /** Background work per run, chained so a run has one step in work at a time. */
  private readonly runChains = new Map<string, Promise<void>>();
  private readonly pending = new Set<string>();
  /** Steps computed (not found stored or in memory) since start: for tests and the benchmark. */
  computed = 0;

  constructor(
    private readonly objects: ObjectStore,
    private readonly logger: Logger,
  ) {}

  /** After a screenshot upload: work out the step's record in the background. Never throws, never waits. */
  screenshotStored(keys: BundleKeys, step: number): void {
    const id = `${keys.prefix}${step}`;
    if (this.pending.has(id) || this.pending.size >= MAX_PENDING) return;
    this.pending.add(id);
    const prev = this.runChains.get(keys.prefix) ?? Promise.resolve();
    const next = prev
      .then(async () => {
        this.pending.delete(id);
        await this.forStep(keys, step, await this.headShots(keys, step));
      })
      .catch((err: unknown) => this.logger.debug({ err, step }, 'background screenshot diagnostics failed (redone at read)'));
    this.runChains.set(keys.prefix, next);
    void next.then(() => {
      if (this.runChains.get(keys.prefix) === next) this.runChains.delete(keys.prefix);
    });
  }

  /** Resolves when the background work queued so far is done (tests, benchmark). */
  async idle(): Promise<void> {
    while (this.runChains.size) await Promise.all([...this.runChains.values()]);
  }

  async headShots(keys: BundleKeys, step: number): Promise<StepShots> {
    const [pre, post, diff] = await Promise.all((['pre', 'post', 'diff'] as const).map((k) => this.objects.head(keys.screenshot(step, k))));
    return { pre, post, diff };
  }

  /** The step's record for these screenshots: from memory, from the store, or computed now. */
  async forStep(keys: BundleKeys, step: number, shots: StepShots): Promise<PixelRecord | undefined> {
    if (!shots.pre && !shots.post) return undefined;
    const memoKey = `${keys.prefix}${step}`;
    const known = this.memo.get(memoKey);
    if (known && recordMatches(known, shots)) return known;
    const flightKey = `${memoKey}|${shots.pre?.etag}|${shots.post?.etag}|${shots.diff?.etag}`;
    let p = this.inflight.get(flightKey);
    if (!p) {
      p = this.load(keys, step, shots).finally(() => this.inflight.delete(flightKey));
      this.inflight.set(flightKey, p);
    }
    return p;
  }

  private async load(keys: BundleKeys, step: number, shots: StepShots): Promise<PixelRecord | undefined> {
    const memoKey = `${keys.prefix}${step}`;
    const stored = parseRecord(await this.objects.getBuffer(keys.derived(recordName(step))).catch(() => undefined));
    if (stored && recordMatches(stored, shots)) {
      this.memo.set(memoKey, stored);
      return stored;
    }
    const rec = await this.limited(() => this.compute(keys, step, shots));
    this.memo.set(memoKey, rec);
    this.objects.put(keys.derived(recordName(step)), JSON.stringify(rec), { contentType: 'application/json' }).catch((err: unknown) => {
      this.logger.debug({ err, step }, 'could not store the pixel record (derived data; recomputed later)');
    });
    return rec;
  }

  private async limited<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= GLOBAL_CONCURRENCY) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }

  /**
   * A frame's facts, and its pixels when `needImage` (from the caches when they hold it). `twin` is
   * the step's other frame already read: byte-identical PNGs are the same picture, decoded once.
   */
  private async frame(info: ObjectInfo | undefined, needImage: boolean, twin?: { buf?: Buffer; facts?: FrameFacts; image?: Image }): Promise<{ facts?: FrameFacts; image?: Image; buf?: Buffer }> {
    if (!info) return {};
    const id = `${info.key}|${info.etag}`;
    const known = this.facts.get(id);
    const cached = this.decoded.get(id);
    if (known && (!needImage || known.error || cached)) return { facts: known, ...(cached && known.hash ? { image: cached } : {}) };
    let facts: FrameFacts;
    let image: Image | undefined;
    let buf: Buffer | undefined;
    if (info.size > MAX_PNG_BYTES) facts = { etag: info.etag, error: 'too large' };
    else {
      buf = await this.objects.getBuffer(info.key).catch(() => undefined);
      if (buf && twin?.buf && twin.facts && buf.equals(twin.buf)) {
        facts = { ...twin.facts, etag: info.etag };
        image = twin.image;
      } else {
        await tick();
        image = buf ? decodePng(buf) : undefined;
        facts = !buf ? { etag: info.etag, error: 'unreadable' } : !image ? { etag: info.etag, error: 'not decodable' } : { etag: info.etag, width: image.width, height: image.height, hash: dHash(image) };
      }
    }
    this.facts.set(id, facts);
    if (image && image.data.length <= DECODED_CACHE_BYTES / 3) this.decoded.set(id, image);
    return { facts, ...(image ? { image } : {}), ...(buf ? { buf } : {}) };
  }

  private async compute(keys: BundleKeys, step: number, shots: StepShots): Promise<PixelRecord> {
    this.computed++;
    const rec: PixelRecord = { v: RECORD_VERSION, step };
    if (shots.diff) rec.sdkDiff = shots.diff.etag;
    const both = !!shots.pre && !!shots.post;
    const pre = await this.frame(shots.pre, both);
    if (pre.facts) rec.pre = pre.facts;
    const post = await this.frame(shots.post, both, pre);
    if (post.facts) rec.post = post.facts;
    if (pre.image && post.image) {
      await tick();
      const withImage = !shots.diff && pre.image.width === post.image.width && pre.image.height === post.image.height;
      const { diff, image } = compareImages(pre.image, post.image, withImage);
      rec.diff = diff;
      if (image) {
        await tick();
        try {
          await this.objects.put(keys.diagnosticsDiff(step), encodePng(image), { contentType: 'image/png' });
          rec.diffImage = true;
        } catch (err) {
          this.logger.debug({ err, step }, 'could not store the diff image');
        }
      }
    }
    return rec;
  }
}
