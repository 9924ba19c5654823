import { LRUCache } from 'lru-cache';
import type { Logger } from '../logger.js';
import type { ObjectInfo, ObjectStore } from '../../storage/objects/index.js';
import { BundleKeys, parseNnnn } from './bundle.js';
import { applyDecisions, loadDecisions } from './judge-decisions.js';
import { mapLimit } from './map-limit.js';
import { compareRank, stepIdOf, stepRank, type StepRank } from './step-receipts.js';

/**
 * trace.json as read: the PUT trace as sent, with each step replaced by its canonical single-step
 * PUT (steps/NNNN.json, same step_id) when that receipt is further along (step-receipts.ts: a
 * terminal status, then more filled-in fields; a tie goes to the receipt received later), and
 * steps that only arrived as single-step PUTs added in step order. Iterations a trace carries
 * (several entries of one step_index) stay as sent.
 *
 * Receipt order is the objects' LastModified. The file store gives milliseconds; S3 gives whole
 * seconds, so a step PUT and a trace PUT in the same second tie: the single-step PUT wins a tie.
 *
 * Fast for long runs: a derived snapshot (BundleKeys.derived('trace-merged.json')) records, per
 * source object, its ETag, LastModified and document. A read HEADs trace.json, LISTs steps/ (one
 * LIST per 1000 keys) and GETs the snapshot in parallel, then fetches only the objects whose ETag
 * is new or changed. The snapshot is derived data, validated on every read and rewritten best
 * effort, so replicas writing it concurrently are harmless.
 *
 * Each replica also keeps the snapshots it built in memory (an LRU bounded by size) and, when it
 * has one for the run, uses it instead of GETting and parsing the stored one: it is validated
 * against the same HEAD and listing, so it is exactly as trustworthy, and a long run's read then
 * moves no more than the listing.
 */

export const SNAPSHOT_NAME = 'trace-merged.json';
const SNAPSHOT_VERSION = 2;
const FETCH_CONCURRENCY = 32;
/** Default bound of the in-memory snapshots, in bytes of step documents held. */
export const TRACE_MEMO_BYTES = 64 * 1024 * 1024;

interface SourceDoc {
  etag: string;
  /** LastModified, epoch ms. */
  lm: number;
}

interface StepSource extends SourceDoc {
  /** The step document, serialised. */
  raw: string;
  rank: StepRank;
  step_id?: string;
}

interface TraceEntry {
  index: number;
  raw: string;
  rank: StepRank;
  step_id?: string;
}

interface TraceSource extends SourceDoc {
  /** The trace document without `steps`. */
  head: Record<string, unknown>;
  /** Its steps in the order sent, serialised. */
  steps: TraceEntry[];
}

interface Snapshot {
  v: number;
  trace: TraceSource | null;
  steps: Record<string, StepSource>;
}

export interface MergedStep {
  index: number;
  step_id?: string;
  /** The step's canonical record (what steps/NNNN.json reads); false for iterations a trace carries. */
  canonical: boolean;
  raw: string;
  /** raw as UTF-8, encoded once per document and kept with its snapshot entry. */
  bytes: Buffer;
  source: 'trace' | 'step';
  receivedAt: number;
}

export interface MergedTrace {
  /** Whether a full trace was PUT. */
  hasTrace: boolean;
  /** Top-level fields (session, run_id, unknown SDK fields), without steps. */
  head: Record<string, unknown>;
  steps: MergedStep[];
  /** Newest LastModified among the sources, epoch ms (0 when none). */
  lastReceivedAt: number;
}


/** A stored JSON document, parsed; undefined when missing. (ETag and LastModified come from the listing or the HEAD.) */
async function readJson(objects: ObjectStore, key: string): Promise<{ doc: unknown } | undefined> {
  const buf = await objects.getBuffer(key);
  return buf === undefined ? undefined : { doc: JSON.parse(buf.toString('utf8')) as unknown };
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const isRank = (v: unknown): v is StepRank => isObject(v) && typeof v.terminal === 'boolean' && typeof v.leaves === 'number';

const isSource = (v: unknown): v is SourceDoc => isObject(v) && typeof v.etag === 'string' && typeof v.lm === 'number';

/** The stored snapshot, keeping only well-formed entries (anything else is fetched again). */
function parseSnapshot(buf: Buffer | undefined): Snapshot {
  const empty: Snapshot = { v: SNAPSHOT_VERSION, trace: null, steps: {} };
  if (!buf) return empty;
  let s: unknown;
  try {
    s = JSON.parse(buf.toString('utf8'));
  } catch {
    return empty;
  }
  if (!isObject(s) || s.v !== SNAPSHOT_VERSION || !isObject(s.steps)) return empty;
  const steps: Record<string, StepSource> = {};
  for (const [k, st] of Object.entries(s.steps)) if (isSource(st) && typeof (st as StepSource).raw === 'string' && isRank((st as StepSource).rank)) steps[k] = st as StepSource;
  const t = s.trace;
  const trace =
    isSource(t) &&
    isObject((t as TraceSource).head) &&
    Array.isArray((t as TraceSource).steps) &&
    (t as TraceSource).steps.every((x) => isObject(x) && typeof x.raw === 'string' && Number.isInteger(x.index) && isRank(x.rank))
      ? (t as TraceSource)
      : null;
  return { v: SNAPSHOT_VERSION, trace, steps };
}

/** Roughly what a snapshot holds in memory: each document's text and its UTF-8 bytes, plus a little per entry. */
function snapshotSize(s: Snapshot): number {
  let n = 256;
  for (const st of Object.values(s.steps)) n += 2 * st.raw.length + st.etag.length + 64;
  if (s.trace) for (const e of s.trace.steps) n += 2 * e.raw.length + 64;
  return n;
}

export class TraceView {
  private readonly memo?: LRUCache<string, Snapshot>;

  constructor(
    private readonly objects: ObjectStore,
    private readonly logger: Logger,
    /** Bytes of snapshots kept in memory; 0 reads the stored snapshot every time. */
    memoBytes = TRACE_MEMO_BYTES,
  ) {
    if (memoBytes > 0) this.memo = new LRUCache<string, Snapshot>({ maxSize: memoBytes, sizeCalculation: snapshotSize });
  }

  /** The merged trace, or undefined when the run has no trace PUT and no step PUT. */
  async load(keys: BundleKeys): Promise<MergedTrace | undefined> {
    const snapshotKey = keys.derived(SNAPSHOT_NAME);
    const listing = async (): Promise<Map<number, ObjectInfo>> => {
      const out = new Map<number, ObjectInfo>();
      for await (const o of this.objects.list(keys.stepsPrefix)) {
        const name = o.key.slice(keys.stepsPrefix.length);
        const index = name.endsWith('.json') ? parseNnnn(name.slice(0, -5)) : undefined;
        if (index !== undefined) out.set(index, o);
      }
      return out;
    };
    const memo = this.memo?.get(snapshotKey);
    const [traceHead, listed, snapBuf, decisions] = await Promise.all([
      this.objects.head(keys.trace),
      listing(),
      memo ? undefined : this.objects.getBuffer(snapshotKey).catch(() => undefined),
      loadDecisions(this.objects, keys),
    ]);
    const snap = memo ?? parseSnapshot(snapBuf);
    let changed = !memo && snapBuf === undefined;

    // The trace PUT: reuse the snapshot's copy while its ETag holds.
    let trace: TraceSource | null = null;
    if (traceHead) {
      if (snap.trace && snap.trace.etag === traceHead.etag && snap.trace.lm === traceHead.lastModified.getTime()) trace = snap.trace;
      else {
        trace = await this.fetchTrace(keys, traceHead);
        changed = true;
      }
    } else if (snap.trace) changed = true;

    // Single-step PUTs: fetch only the new and the changed ones.
    const steps: Record<string, StepSource> = {};
    const stale: Array<[number, ObjectInfo]> = [];
    for (const [index, info] of listed) {
      const known = snap.steps[index];
      // ETag and LastModified both: S3 keeps the ETag (an MD5) when the same bytes are PUT again,
      // but the new LastModified can change which version of the step wins.
      if (known && known.etag === info.etag && known.lm === info.lastModified.getTime()) steps[index] = known;
      else stale.push([index, info]);
    }
    // A step the snapshot knows but the listing no longer holds: rewrite without it.
    if (Object.keys(snap.steps).some((k) => !listed.has(Number(k)))) changed = true;
    if (stale.length) {
      changed = true;
      const fetched = await mapLimit(stale, FETCH_CONCURRENCY, async ([index, info]) => {
        const got = await readJson(this.objects, info.key).catch((err: unknown) => {
          this.logger.warn({ err, key: info.key }, 'unreadable step document; left out of trace.json');
          return undefined;
        });
        if (!got || !isObject(got.doc)) return undefined;
        // The listing's ETag and LastModified, which the next read compares against. A step replaced
        // between the listing and this GET is fetched again then (its ETag no longer matches).
        const source: StepSource = { etag: info.etag, lm: info.lastModified.getTime(), raw: JSON.stringify(got.doc), rank: stepRank(got.doc) };
        const id = stepIdOf(got.doc);
        if (id !== undefined) source.step_id = id;
        return [index, source] as const;
      });
      for (const f of fetched) if (f) steps[f[0]] = f[1];
    }

    if (!trace && !Object.keys(steps).length) {
      this.memo?.delete(snapshotKey);
      return undefined;
    }
    const next: Snapshot = { v: SNAPSHOT_VERSION, trace, steps };
    this.memo?.set(snapshotKey, next);
    if (changed) {
      this.objects.put(snapshotKey, JSON.stringify(next), { contentType: 'application/json' }).catch((err: unknown) => {
        // Forget the in-memory copy too, so that the next read finds the change and writes again.
        if (this.memo?.get(snapshotKey) === next) this.memo.delete(snapshotKey);
        this.logger.debug({ err, key: snapshotKey }, 'could not rewrite the trace snapshot (derived data; next read retries)');
      });
    }
    return applyDecisions(merge(trace, steps), decisions);
  }

  /** The trace PUT, recorded under the HEAD's ETag and LastModified (what the next read compares). */
  private async fetchTrace(keys: BundleKeys, head: ObjectInfo): Promise<TraceSource | null> {
    const got = await readJson(this.objects, keys.trace);
    if (!got || !isObject(got.doc)) return null;
    const { steps: list, ...top } = got.doc;
    const steps: TraceEntry[] = [];
    if (Array.isArray(list)) {
      for (const s of list) {
        if (!isObject(s) || !Number.isInteger(s.step_index) || (s.step_index as number) < 0) continue;
        const e: TraceEntry = { index: s.step_index as number, raw: JSON.stringify(s), rank: stepRank(s) };
        const id = stepIdOf(s);
        if (id !== undefined) e.step_id = id;
        steps.push(e);
      }
    }
    return { etag: head.etag, lm: head.lastModified.getTime(), head: top, steps };
  }
}

/**
 * A document's UTF-8 bytes, cached on its snapshot entry as a non-enumerable property (so the
 * stored snapshot never holds it): a long run's trace.json is then one copy of bytes already
 * encoded, where encoding the whole text per read costs milliseconds.
 */
const BYTES = Symbol('bytes');
function cachedBytes(holder: object, key: string | number, raw: string): Buffer {
  const h = holder as { [BYTES]?: Map<string | number, Buffer> };
  if (!h[BYTES]) Object.defineProperty(h, BYTES, { value: new Map(), enumerable: false });
  let b = h[BYTES]!.get(key);
  if (!b) h[BYTES]!.set(key, (b = Buffer.from(raw)));
  return b;
}

function merge(trace: TraceSource | null, steps: Record<string, StepSource>): MergedTrace {
  const out: MergedStep[] = [];
  const used = new Set<string>();
  let last = trace?.lm ?? 0;
  for (const s of Object.values(steps)) if (s.lm > last) last = s.lm;
  if (trace) {
    const seen = new Set<number>();
    trace.steps.forEach((e, i) => {
      const s = steps[e.index];
      const firstOfIndex = !seen.has(e.index);
      seen.add(e.index);
      // The canonical single-step PUT stands for the trace's entry of the same step_id (or of the
      // same index when either has none) when it is further along, or level and not older.
      const same = s !== undefined && (s.step_id === undefined || e.step_id === undefined || s.step_id === e.step_id);
      if (same) used.add(String(e.index));
      const c = same ? compareRank(s.rank, e.rank) : -1;
      if (same && (c > 0 || (c === 0 && s.lm >= trace.lm))) {
        out.push({ index: e.index, canonical: true, raw: s.raw, bytes: cachedBytes(s, 0, s.raw), source: 'step', receivedAt: s.lm, ...(s.step_id !== undefined ? { step_id: s.step_id } : {}) });
      } else {
        const canonical = same || (s === undefined && firstOfIndex);
        out.push({ index: e.index, canonical, raw: e.raw, bytes: cachedBytes(trace, i, e.raw), source: 'trace', receivedAt: trace.lm, ...(e.step_id !== undefined ? { step_id: e.step_id } : {}) });
      }
    });
  }
  for (const [k, s] of Object.entries(steps)) {
    if (used.has(k)) continue;
    out.push({ index: Number(k), canonical: true, raw: s.raw, bytes: cachedBytes(s, 0, s.raw), source: 'step', receivedAt: s.lm, ...(s.step_id !== undefined ? { step_id: s.step_id } : {}) });
  }
  // Stable: entries of one index keep the trace's order.
  out.sort((a, b) => a.index - b.index);
  return { hasTrace: trace !== null, head: trace ? { ...trace.head } : {}, steps: out, lastReceivedAt: last };
}

const COMMA = Buffer.from(',');
const END = Buffer.from(']}');

/** trace.json's body: built from the steps' stored bytes, so a long run costs no re-serialisation or re-encoding of its steps. */
export function renderTrace(runId: string, t: MergedTrace): Buffer {
  // The trace as sent, nothing added; a live run that never PUT one gets the least the server
  // knows: a running session of that run.
  const head: Record<string, unknown> = t.hasTrace ? t.head : { session: { run_id: runId, status: 'running' } };
  const top = JSON.stringify(head);
  const parts: Buffer[] = [Buffer.from(top === '{}' ? '{"steps":[' : `${top.slice(0, -1)},"steps":[`)];
  t.steps.forEach((s, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(s.bytes);
  });
  parts.push(END);
  return Buffer.concat(parts);
}
