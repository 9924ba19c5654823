import { LRUCache } from 'lru-cache';
import type { Logger } from '../../logger.js';
import type { ObjectInfo, ObjectStore } from '../../../storage/objects/index.js';
import type { BundleKeys } from '../bundle.js';
import { mapLimit } from '../map-limit.js';
import { isObject } from './types.js';

/**
 * What the rules need from a folder of JSON documents (modelio records, side effects), read once
 * per document version: a derived snapshot per run (`.derived/<name>`) maps each object key to its
 * ETag and summary, and each replica keeps the snapshots in memory. A read lists the folder and
 * fetches only the documents whose ETag is new, so a run's modelio records (which can carry
 * images) are parsed once, not at every findings read.
 */
const FETCH_CONCURRENCY = 16;
const MEMO_RUNS = 512;

type Snapshot<S> = Record<string, { etag: string; s: S }>;

export class DocSummaries<S> {
  private readonly memo = new LRUCache<string, Snapshot<S>>({ max: MEMO_RUNS });

  constructor(
    private readonly objects: ObjectStore,
    private readonly logger: Logger,
    /** Derived file name, e.g. `modelio-summary.json`. */
    private readonly name: string,
    private readonly version: number,
    private readonly summarize: (doc: unknown) => S,
    /** Documents larger than this are summarised as `summarize(undefined)` without being read. */
    private readonly maxBytes = 16 * 1024 * 1024,
  ) {}

  /** Summaries of the listed documents, keyed by object key. */
  async load(keys: BundleKeys, listed: ObjectInfo[]): Promise<Map<string, S>> {
    const snapKey = keys.derived(this.name);
    let snap = this.memo.get(snapKey);
    let changed = false;
    if (!snap && listed.length) {
      snap = {};
      try {
        const buf = await this.objects.getBuffer(snapKey);
        const parsed = buf ? (JSON.parse(buf.toString('utf8')) as unknown) : undefined;
        if (isObject(parsed) && parsed.v === this.version && isObject(parsed.docs)) snap = parsed.docs as Snapshot<S>;
        else changed = true;
      } catch {
        changed = true;
      }
    }
    snap ??= {};
    const next: Snapshot<S> = {};
    const stale: ObjectInfo[] = [];
    for (const o of listed) {
      const known = snap[o.key];
      if (known && known.etag === o.etag) next[o.key] = known;
      else stale.push(o);
    }
    if (stale.length || Object.keys(snap).length !== Object.keys(next).length) changed = true;
    await mapLimit(stale, FETCH_CONCURRENCY, async (o) => {
      let doc: unknown;
      if (o.size <= this.maxBytes) {
        try {
          const buf = await this.objects.getBuffer(o.key);
          doc = buf ? (JSON.parse(buf.toString('utf8')) as unknown) : undefined;
        } catch {
          doc = undefined;
        }
      }
      next[o.key] = { etag: o.etag, s: this.summarize(doc) };
    });
    this.memo.set(snapKey, next);
    if (changed && listed.length) {
      this.objects.put(snapKey, JSON.stringify({ v: this.version, docs: next }), { contentType: 'application/json' }).catch((err: unknown) => {
        this.logger.debug({ err, key: snapKey }, 'could not store a derived summary (next read retries)');
      });
    }
    return new Map(Object.entries(next).map(([k, v]) => [k, v.s]));
  }
}
