import { LRUCache } from 'lru-cache';
import type { Logger } from '../../logger.js';
import type { ObjectInfo, ObjectStore } from '../../../storage/objects/index.js';
import { type BundleKeys, nnnn } from '../bundle.js';
import type { FrameIn, FrameOut, StepIn, StepOut } from './pixel-engine.js';
import { ClosedError, PixelPool } from './pixel-pool.js';
import { frameId, FreshFrames } from './fresh-frames.js';
import { MAX_PNG_BYTES, type PixelDiff } from './pixels.js';
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
 * for the read to do), and the CPU work (decode, hash, compare, diff picture) runs in a worker
 * thread, off the event loop that serves ingest (pixel-pool.ts). Nothing here throws into ingest.
 */
// One: the CPU work runs in one worker thread (pixel-pool.ts); a 16 Mpx pair with its diff holds
// ~190 MiB there while it is worked on.
export const GLOBAL_CONCURRENCY = 1;
export const MAX_PENDING = 2_000;
/** How often deferred pixel work checks whether the replica is quiet. */
export const DEFERRED_POLL_MS = 250;
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

interface DeferredJob {
  keys: BundleKeys;
  step: number;
  known: Partial<StepShots>;
}

/** The screenshots of a step that its pixel record depends on. */
export type ShotKind = keyof StepShots;
const SHOT_KINDS: readonly ShotKind[] = ['pre', 'post', 'diff'];

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


export class PixelJobs {
  private readonly memo = new LRUCache<string, PixelRecord>({ max: MEMO_ENTRIES });
  /** Frame facts by object key and ETag (the decoded pixels are kept by the worker's engine). */
  private readonly facts = new LRUCache<string, FrameFacts>({ max: MEMO_ENTRIES });
  private readonly pool: PixelPool;
  /** Screenshots just uploaded, so their pixel work need not read them back (fresh-frames.ts). */
  readonly fresh = new FreshFrames();
  private readonly inflight = new Map<string, Promise<PixelRecord | undefined>>();
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  /** Background work per run, chained so a run has one step in work at a time. */
  private readonly runChains = new Map<string, Promise<void>>();
  /** Steps waiting for their background work, with what their uploads already told of their screenshots. */
  private readonly pending = new Map<string, Partial<StepShots>>();
  /** Steps whose work needs a frame read back from the store: started one at a time when the replica is quiet. */
  private readonly deferred = new Map<string, DeferredJob>();
  private deferredTimer?: NodeJS.Timeout;
  private closed = false;
  /** Steps computed (not found stored or in memory) since start: for tests and the benchmark. */
  computed = 0;
  /** Frames read back from the object store for their pixel work (not kept from their upload, nor held decoded). */
  readBack = 0;

  constructor(
    private readonly objects: ObjectStore,
    private readonly logger: Logger,
    /** Told when background work stored a step's record (the run's findings may change). */
    private readonly recorded: (keys: BundleKeys) => void = () => undefined,
  ) {
    this.pool = new PixelPool(logger);
  }

  /**
   * After a screenshot upload: work out the step's record in the background. Never throws, never
   * waits. `stored` is what the upload itself stored (kind and object, with its ETag), which then
   * needs no HEAD; a later upload of the same step before the work starts joins it.
   *
   * A step whose new frame is kept in memory (fresh-frames.ts) is worked on at once (at the worker's
   * low priority). One whose frame would have to be read back from the store (not captured: every
   * slot was busy, or it was too large) is deferred until no upload is in progress on this replica:
   * derived data never sends the store reads while it is busy storing screenshots.
   */
  screenshotStored(keys: BundleKeys, step: number, stored?: { kind: ShotKind; info: ObjectInfo }): void {
    const id = `${keys.prefix}${step}`;
    const waiting = this.pending.get(id);
    if (waiting) {
      if (stored) waiting[stored.kind] = stored.info;
      return;
    }
    const known: Partial<StepShots> = { ...this.deferred.get(id)?.known, ...(stored ? { [stored.kind]: stored.info } : {}) };
    const kept = stored !== undefined && this.fresh.holds(frameId(stored.info.key, stored.info.etag));
    if (!kept) return this.defer(id, { keys, step, known });
    this.deferred.delete(id);
    this.queue(id, keys, step, known);
  }

  private queue(id: string, keys: BundleKeys, step: number, known: Partial<StepShots>): void {
    if (this.pending.size >= MAX_PENDING) return;
    this.pending.set(id, known);
    const prev = this.runChains.get(keys.prefix) ?? Promise.resolve();
    const next = prev
      .then(async () => {
        this.pending.delete(id);
        // Just uploaded, so no stored record can be for these ETags: none is read.
        await this.forStep(keys, step, await this.headShots(keys, step, known), { fresh: true });
        this.recorded(keys);
      })
      .catch((err: unknown) => this.logger.debug({ err, step }, 'background screenshot diagnostics failed (redone at read)'));
    this.runChains.set(keys.prefix, next);
    void next.then(() => {
      if (this.runChains.get(keys.prefix) === next) this.runChains.delete(keys.prefix);
      this.scheduleDeferred(false, true);
    });
  }

  private defer(id: string, job: DeferredJob): void {
    if (!this.deferred.has(id) && this.deferred.size >= MAX_PENDING) return; // left to the next read
    this.deferred.set(id, job);
    this.scheduleDeferred();
  }

  /**
   * Starts one deferred step when nothing else is going on: no upload in progress, no step in work.
   * `next`: a step just finished; while the replica stays quiet the next one starts at once, so a
   * backlog drains at the worker's pace rather than one step per poll.
   */
  private scheduleDeferred(force = false, next = false): void {
    if (this.closed || this.deferredTimer || !this.deferred.size) return;
    const start = () => {
      this.deferredTimer = undefined;
      // Emptied meanwhile (a new upload of the step took it, or idle() did).
      const first = this.deferred.entries().next();
      if (first.done) return;
      if (!force && !this.quiet) return this.scheduleDeferred();
      const [id, job] = first.value;
      this.deferred.delete(id);
      this.queue(id, job.keys, job.step, job.known);
    };
    if (force) return start();
    this.deferredTimer = setTimeout(start, next && this.quiet ? 0 : DEFERRED_POLL_MS);
    this.deferredTimer.unref();
  }

  /** No pre or post upload in progress and no step in work. */
  private get quiet(): boolean {
    return this.fresh.uploading === 0 && this.runChains.size === 0;
  }

  /** Steps waiting for their background work (deferred ones included) or being worked on: 0 when idle. */
  get backlog(): number {
    return this.pending.size + this.deferred.size + this.runChains.size;
  }

  /** Steps deferred until the replica is quiet (tests). */
  get deferredSteps(): number {
    return this.deferred.size;
  }

  /** Resolves when the background work queued so far is done, the deferred steps too (tests, benchmark). */
  async idle(): Promise<void> {
    for (;;) {
      if (this.runChains.size) await Promise.all([...this.runChains.values()]);
      else if (this.deferred.size) {
        clearTimeout(this.deferredTimer);
        this.deferredTimer = undefined;
        this.scheduleDeferred(true);
      } else return;
    }
  }

  /** The step's screenshots: HEADs of those not already `known`. */
  async headShots(keys: BundleKeys, step: number, known: Partial<StepShots> = {}): Promise<StepShots> {
    const [pre, post, diff] = await Promise.all(SHOT_KINDS.map((k) => (k in known ? known[k] : this.objects.head(keys.screenshot(step, k)))));
    return { pre, post, diff };
  }

  /** The step's record for these screenshots: from memory, from the store, or computed now. */
  async forStep(keys: BundleKeys, step: number, shots: StepShots, opts: { fresh?: boolean } = {}): Promise<PixelRecord | undefined> {
    if (!shots.pre && !shots.post) return undefined;
    const memoKey = `${keys.prefix}${step}`;
    const known = this.memo.get(memoKey);
    if (known && recordMatches(known, shots)) return known;
    const flightKey = `${memoKey}|${shots.pre?.etag}|${shots.post?.etag}|${shots.diff?.etag}`;
    let p = this.inflight.get(flightKey);
    if (!p) {
      p = this.load(keys, step, shots, opts.fresh === true).finally(() => this.inflight.delete(flightKey));
      this.inflight.set(flightKey, p);
    }
    return p;
  }

  private async load(keys: BundleKeys, step: number, shots: StepShots, fresh: boolean): Promise<PixelRecord | undefined> {
    const memoKey = `${keys.prefix}${step}`;
    const stored = fresh ? undefined : parseRecord(await this.objects.getBuffer(keys.derived(recordName(step))).catch(() => undefined));
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

  private async compute(keys: BundleKeys, step: number, shots: StepShots): Promise<PixelRecord> {
    this.computed++;
    const rec: PixelRecord = { v: RECORD_VERSION, step };
    if (shots.diff) rec.sdkDiff = shots.diff.etag;
    // Frames lent from the fresh slots, given back once the work is done with them.
    const lent: Array<() => void> = [];
    try {
      return await this.computeWith(keys, step, shots, rec, lent);
    } finally {
      for (const release of lent) release();
    }
  }

  private async computeWith(keys: BundleKeys, step: number, shots: StepShots, rec: PixelRecord, lent: Array<() => void>): Promise<PixelRecord> {
    const both = !!shots.pre && !!shots.post;
    // A lone frame whose facts are known needs no work; a pair is always compared.
    const read = async (info: ObjectInfo | undefined): Promise<FrameIn | FrameFacts | undefined> => {
      if (!info) return undefined;
      const id = frameId(info.key, info.etag);
      const known = this.facts.get(id);
      if (known && (!both || known.error)) return known;
      // Decoded before (its facts say so): the worker may still hold its pixels; bytes only if not.
      if (known?.hash) return { id, cached: true };
      return this.bytesOf(info, lent);
    };
    let [pre, post] = await Promise.all([read(shots.pre), read(shots.post)]);
    const isIn = (f: FrameIn | FrameFacts | undefined): f is FrameIn => !!f && 'id' in f;
    let out: StepOut = {};
    if (isIn(pre) || isIn(post)) {
      let task: StepIn = { withImage: !shots.diff, ...(isIn(pre) ? { pre } : {}), ...(isIn(post) ? { post } : {}) };
      try {
        out = await this.pool.run(task);
        if (out.missing) {
          // The worker no longer held those pixels: read their bytes and ask once more.
          if (out.missing.includes('pre') && shots.pre) pre = await this.bytesOf(shots.pre, lent);
          if (out.missing.includes('post') && shots.post) post = await this.bytesOf(shots.post, lent);
          task = { withImage: task.withImage, ...(isIn(pre) ? { pre } : {}), ...(isIn(post) ? { post } : {}) };
          out = await this.pool.run(task);
          if (out.missing) throw new Error('pixel worker lost frames it was just sent');
        }
      } catch (err) {
        // Shutting down: nothing was learnt about these frames, so nothing is recorded.
        if (err instanceof ClosedError) throw err;
        this.logger.debug({ err, step }, 'pixel work failed; frames recorded as not decodable');
        out = { ...(task.pre ? { pre: { error: 'not decodable' } } : {}), ...(task.post ? { post: { error: 'not decodable' } } : {}) };
      }
    }
    const facts = (info: ObjectInfo | undefined, given: FrameIn | FrameFacts | undefined, o: FrameOut | undefined): FrameFacts | undefined => {
      if (!info) return undefined;
      if (given && !isIn(given)) return given;
      const f: FrameFacts = { etag: info.etag, ...(o ?? { error: 'not decodable' }) };
      this.facts.set(`${info.key}|${info.etag}`, f);
      return f;
    };
    const preFacts = facts(shots.pre, pre, out.pre);
    const postFacts = facts(shots.post, post, out.post);
    if (preFacts) rec.pre = preFacts;
    if (postFacts) rec.post = postFacts;
    if (out.diff) rec.diff = out.diff;
    if (out.diffPng) {
      try {
        await this.objects.put(keys.diagnosticsDiff(step), Buffer.from(out.diffPng.buffer, out.diffPng.byteOffset, out.diffPng.byteLength), { contentType: 'image/png' });
        rec.diffImage = true;
      } catch (err) {
        this.logger.debug({ err, step }, 'could not store the diff image');
      }
    }
    return rec;
  }

  /** A frame's bytes: the copy kept from its upload when there is one, else read from the store. */
  private async bytesOf(info: ObjectInfo, lent: Array<() => void>): Promise<FrameIn | FrameFacts> {
    if (info.size > MAX_PNG_BYTES) return { etag: info.etag, error: 'too large' };
    const id = frameId(info.key, info.etag);
    const fresh = this.fresh.take(id);
    if (fresh) {
      lent.push(fresh.release);
      return { id, buf: fresh.buf };
    }
    this.readBack++;
    const slot = this.fresh.borrow(info.size);
    if (!slot) {
      const buf = await this.objects.getBuffer(info.key).catch(() => undefined);
      return { id, ...(buf ? { buf } : {}) };
    }
    lent.push(slot.release);
    return (await this.readInto(info.key, slot)) ? { id, buf: slot.bytes() } : { id };
  }

  /** Streams a stored object into a borrowed slot; false when it could not be read whole. */
  private async readInto(key: string, slot: { write(chunk: Uint8Array): boolean }): Promise<boolean> {
    try {
      const got = await this.objects.get(key);
      if (!got) return false;
      // Leaving the loop early destroys the body stream.
      for await (const chunk of got.body as AsyncIterable<Buffer>) if (!slot.write(chunk)) return false;
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.deferredTimer);
    await this.pool.close();
  }
}
