import { buffer } from 'node:stream/consumers';
import type { Logger } from '../logger.js';
import type { ObjectInfo, ObjectStore } from '../../storage/objects/index.js';
import { BundleKeys, parseNnnn } from './bundle.js';
import { mapLimit } from './map-limit.js';

/**
 * trace.json as read: the union by step index of the PUT trace and the single-step PUTs under
 * steps/, the most recently received version of each step winning.
 *
 * Receipt order is the objects' LastModified. The file store gives milliseconds; S3 gives whole
 * seconds, so a step PUT and a trace PUT in the same second tie: the single-step PUT wins a tie
 * (an SDK sends steps as they happen and the full trace at the end, usually with the same content).
 *
 * Fast for long runs: a derived snapshot (BundleKeys.derived('trace-merged.json')) records, per
 * source object, its ETag, LastModified and document. A read HEADs trace.json, LISTs steps/ (one
 * LIST per 1000 keys) and GETs the snapshot in parallel, then fetches only the objects whose ETag
 * is new or changed. The snapshot is derived data, validated on every read and rewritten best
 * effort, so replicas writing it concurrently are harmless.
 */

export const SNAPSHOT_NAME = 'trace-merged.json';
const SNAPSHOT_VERSION = 1;
const FETCH_CONCURRENCY = 32;

interface SourceDoc {
  etag: string;
  /** LastModified, epoch ms. */
  lm: number;
}

interface StepSource extends SourceDoc {
  /** The step document, serialised. */
  raw: string;
}

interface TraceSource extends SourceDoc {
  /** The trace document without `steps`. */
  head: Record<string, unknown>;
  /** Its steps by index, serialised. */
  steps: Record<string, string>;
}

interface Snapshot {
  v: number;
  trace: TraceSource | null;
  steps: Record<string, StepSource>;
}

export interface MergedStep {
  index: number;
  raw: string;
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


async function readJson(objects: ObjectStore, key: string): Promise<{ info: ObjectInfo; doc: unknown } | undefined> {
  const obj = await objects.get(key);
  if (!obj) return undefined;
  return { info: obj.info, doc: JSON.parse((await buffer(obj.body)).toString('utf8')) as unknown };
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseSnapshot(buf: Buffer | undefined): Snapshot {
  const empty: Snapshot = { v: SNAPSHOT_VERSION, trace: null, steps: {} };
  if (!buf) return empty;
  try {
    const s = JSON.parse(buf.toString('utf8')) as Snapshot;
    return isObject(s) && s.v === SNAPSHOT_VERSION && isObject(s.steps) ? s : empty;
  } catch {
    return empty;
  }
}

export class TraceView {
  constructor(
    private readonly objects: ObjectStore,
    private readonly logger: Logger,
  ) {}

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
    const [traceHead, listed, snapBuf] = await Promise.all([
      this.objects.head(keys.trace),
      listing(),
      this.objects.getBuffer(snapshotKey).catch(() => undefined),
    ]);
    const snap = parseSnapshot(snapBuf);
    let changed = snapBuf === undefined;

    // The trace PUT: reuse the snapshot's copy while its ETag holds.
    let trace: TraceSource | null = null;
    if (traceHead) {
      if (snap.trace && snap.trace.etag === traceHead.etag) trace = snap.trace;
      else {
        trace = await this.fetchTrace(keys);
        changed = true;
      }
    } else if (snap.trace) changed = true;

    // Single-step PUTs: fetch only the new and the changed ones.
    const steps: Record<string, StepSource> = {};
    const stale: Array<[number, ObjectInfo]> = [];
    for (const [index, info] of listed) {
      const known = snap.steps[index];
      if (known && known.etag === info.etag) steps[index] = known;
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
        return [index, { etag: got.info.etag, lm: got.info.lastModified.getTime(), raw: JSON.stringify(got.doc) }] as const;
      });
      for (const f of fetched) if (f) steps[f[0]] = f[1];
    }

    if (!trace && !Object.keys(steps).length) return undefined;
    if (changed) {
      const next: Snapshot = { v: SNAPSHOT_VERSION, trace, steps };
      this.objects.put(snapshotKey, JSON.stringify(next), { contentType: 'application/json' }).catch((err: unknown) => {
        this.logger.debug({ err, key: snapshotKey }, 'could not rewrite the trace snapshot (derived data; next read retries)');
      });
    }
    return merge(trace, steps);
  }

  private async fetchTrace(keys: BundleKeys): Promise<TraceSource | null> {
    const got = await readJson(this.objects, keys.trace);
    if (!got || !isObject(got.doc)) return null;
    const { steps: list, ...head } = got.doc;
    const steps: Record<string, string> = {};
    if (Array.isArray(list)) {
      for (const s of list) {
        if (isObject(s) && Number.isInteger(s.step_index) && (s.step_index as number) >= 0) steps[s.step_index as number] = JSON.stringify(s);
      }
    }
    return { etag: got.info.etag, lm: got.info.lastModified.getTime(), head, steps };
  }
}

function merge(trace: TraceSource | null, steps: Record<string, StepSource>): MergedTrace {
  const byIndex = new Map<number, MergedStep>();
  let last = trace?.lm ?? 0;
  if (trace) {
    for (const [k, raw] of Object.entries(trace.steps)) byIndex.set(Number(k), { index: Number(k), raw, source: 'trace', receivedAt: trace.lm });
  }
  for (const [k, s] of Object.entries(steps)) {
    const index = Number(k);
    const prev = byIndex.get(index);
    // A tie goes to the single-step PUT (see above).
    if (!prev || s.lm >= prev.receivedAt) byIndex.set(index, { index, raw: s.raw, source: 'step', receivedAt: s.lm });
    if (s.lm > last) last = s.lm;
  }
  return {
    hasTrace: trace !== null,
    head: trace ? { ...trace.head } : {},
    steps: [...byIndex.values()].sort((a, b) => a.index - b.index),
    lastReceivedAt: last,
  };
}

/** trace.json's body: built from the stored step strings, so a long run costs no re-serialisation of its steps. */
export function renderTrace(runId: string, t: MergedTrace): string {
  const head: Record<string, unknown> = { ...t.head };
  if (head.run_id === undefined || head.run_id === null) head.run_id = runId;
  // A live run that never PUT a trace: the session is running as far as anyone can tell.
  if (!t.hasTrace) head.session = { status: 'running' };
  const top = JSON.stringify(head);
  const steps = `"steps":[${t.steps.map((s) => s.raw).join(',')}]`;
  return top === '{}' ? `{${steps}}` : `${top.slice(0, -1)},${steps}}`;
}
