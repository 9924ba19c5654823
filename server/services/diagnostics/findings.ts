import { LRUCache } from 'lru-cache';
import { latestSideEffects } from '../sdk-records.js';
import { bumpRun, runVersion, versionsExact } from '../run-versions.js';
import type { Readable } from 'node:stream';
import type { AppContext } from '../../context.js';
import type { RunRow } from '../../../storage/metadata/index.js';
import type { ObjectInfo } from '../../../storage/objects/index.js';
import { readAll } from '../../../storage/objects/index.js';
import { Appender } from '../appends.js';
import { type BundleKeys, MAX_STEP_INDEX, parseNnnn } from '../bundle.js';
import { mapLimit } from '../map-limit.js';
import type { MergedStep, MergedTrace } from '../trace-view.js';
import { DocSummaries } from './doc-summaries.js';
import { PixelJobs, type PixelRecord, type ShotKind, type StepShots } from './pixel-jobs.js';
import { type ModelioSummary, runAugurRules, STALL_MS, type SideEffectSummary, summarizeModelio, summarizeSideEffect } from './rules-augur.js';
import { cuaEventSteps, runCuaRules } from './rules-cua.js';
import { type Finding, isObject, type Severity, severityRank, sortFindings, type StepDoc } from './types.js';

/** Version of the findings document (schema/findings.schema.json). */
export const FINDINGS_SCHEMA_VERSION = '2.0';
const PIXEL_READ_CONCURRENCY = 16;
/** Steps declared but missing whose events file is looked for (augur.artifacts_without_step). */
export const MAX_EVENT_PROBES = 100;
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'halted']);

export interface FindingsDocument {
  schema_version: string;
  run_id: string;
  generated_at: string;
  findings: Finding[];
}

/** The per-process diagnostics state: pixel records, document summaries, parsed steps. */
export class Diagnostics {
  readonly pixels: PixelJobs;
  private readonly modelio: DocSummaries<ModelioSummary>;
  private readonly sideEffects: DocSummaries<SideEffectSummary>;
  /** Parsed step documents, keyed by the trace view's encoded bytes (stable per stored version). */
  private readonly parsed = new WeakMap<Buffer, StepDoc | null>();

  constructor(private readonly ctx: AppContext) {
    const { objects } = ctx.stores;
    this.pixels = new PixelJobs(objects, ctx.logger, (keys) => bumpRun(ctx, keys.prefix));
    this.modelio = new DocSummaries(objects, ctx.logger, 'modelio-summary.json', 1, summarizeModelio);
    this.sideEffects = new DocSummaries(objects, ctx.logger, 'side-effects-summary.json', 1, summarizeSideEffect);
  }

  /**
   * Findings reused while the run is unchanged: on the embedded backends this process sees every
   * write (run-versions.ts), so a document computed for the same write count, the same run index
   * row and before the next moment a time-based rule (stalled) could change is still exact.
   * Elsewhere, or on any doubt, they are computed.
   */
  async cachedFindings(input: { keys: BundleKeys; runId: string; trace: () => Promise<MergedTrace | undefined>; run: Promise<RunRow | undefined>; minSeverity?: Severity }): Promise<FindingsDocument | undefined> {
    if (!versionsExact(this.ctx)) return this.findings({ ...input, trace: input.trace() });
    const version = runVersion(this.ctx, input.keys.prefix);
    const run = await input.run;
    const key = `${input.keys.prefix}|${input.minSeverity ?? ''}`;
    const stamp = `${version}|${run?.updated_at ?? ''}|${run?.last_heartbeat_at ?? ''}|${run?.status ?? ''}`;
    const hit = this.memo.get(key);
    if (hit && hit.stamp === stamp && this.ctx.now() < hit.validUntil) return hit.doc;
    const doc = await this.findings({ ...input, trace: input.trace(), run });
    // A run not yet ended can become stalled STALL_MS after it was last heard from.
    const live = run?.status === null || run?.status === undefined || run.status === 'running';
    const heard = run?.last_heartbeat_at ?? run?.updated_at;
    const validUntil = live && heard ? heard + STALL_MS : Number.POSITIVE_INFINITY;
    if (doc && runVersion(this.ctx, input.keys.prefix) === version) this.memo.set(key, { stamp, validUntil, doc });
    return doc;
  }

  private readonly memo = new LRUCache<string, { stamp: string; validUntil: number; doc: FindingsDocument }>({ max: 256 });

  /** The ingest hook: a screenshot was stored. Never throws, never waits. */
  screenshotStored(keys: BundleKeys, step: number, stored?: { kind: ShotKind; info: ObjectInfo }): void {
    try {
      this.pixels.screenshotStored(keys, step, stored);
    } catch (err) {
      this.ctx.logger.debug({ err }, 'could not queue screenshot diagnostics');
    }
  }

  private step(s: MergedStep): StepDoc | undefined {
    let d = this.parsed.get(s.bytes);
    if (d === undefined) {
      try {
        const v = JSON.parse(s.raw) as unknown;
        d = isObject(v) ? ({ ...v, step_index: s.index } as StepDoc) : null;
      } catch {
        d = null;
      }
      this.parsed.set(s.bytes, d);
    }
    return d ?? undefined;
  }

  private async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    for await (const o of this.ctx.stores.objects.list(prefix)) out.push(o);
    return out;
  }

  /** An appended or whole file's lines, parsed (unparseable lines skipped). */
  private async jsonl(key: string): Promise<Array<Record<string, unknown>>> {
    const file = await this.ctx.appends.open(key);
    const body = file?.body ?? (await this.ctx.stores.objects.get(key))?.body;
    if (!body) return [];
    const text = (await readAll(body as Readable)).toString('utf8');
    const out: Array<Record<string, unknown>> = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const v = JSON.parse(line) as unknown;
        if (isObject(v)) out.push(v);
      } catch {
        /* a torn or foreign line: not evidence */
      }
    }
    return out;
  }

  /** The names of the run's log files (`logs/run.log`), appended or whole. */
  private async logPaths(keys: BundleKeys): Promise<string[]> {
    const names = new Set<string>();
    const appendsLogs = Appender.chunkPrefix(`${keys.prefix}logs/x.log`).replace(/x\.log\/$/, '');
    const [whole, chunks] = await Promise.all([this.list(`${keys.prefix}logs/`), this.list(appendsLogs)]);
    for (const o of whole) names.add(o.key.slice(keys.prefix.length));
    for (const o of chunks) {
      const m = /^([^/]+\.log)\//.exec(o.key.slice(appendsLogs.length));
      if (m) names.add(`logs/${m[1]}`);
    }
    return [...names].sort();
  }

  /**
   * Which of these steps have an events file (whole, or appended chunks). Checked step by step: a
   * run's events are one appended chunk per POST, thousands of objects that a listing of all of
   * them would walk at every read.
   */
  private async eventSteps(keys: BundleKeys, candidates: number[]): Promise<Map<number, string>> {
    const found = await mapLimit(candidates, 16, async (i) => {
      const key = keys.events(i);
      if (await this.ctx.stores.objects.head(key)) return i;
      for await (const _ of this.ctx.stores.objects.list(Appender.chunkPrefix(key))) return i;
      return undefined;
    });
    return new Map(found.filter((i): i is number => i !== undefined).map((i) => [i, `events/${keys.events(i).slice(`${keys.prefix}events/`.length)}`]));
  }

  /**
   * The run's findings; undefined when the run has neither a manifest nor a step. The trace and the
   * run index row may be given as promises: they are awaited alongside the listings.
   */
  async findings(input: {
    keys: BundleKeys;
    runId: string;
    trace: MergedTrace | undefined | Promise<MergedTrace | undefined>;
    run: RunRow | undefined | Promise<RunRow | undefined>;
    minSeverity?: Severity;
  }): Promise<FindingsDocument | undefined> {
    const { keys } = input;
    const { objects } = this.ctx.stores;
    const now = this.ctx.now();

    const [trace, run, manifestBuf, shotList, modelioList, sideList] = await Promise.all([
      input.trace,
      input.run,
      objects.getBuffer(keys.manifest).catch(() => undefined),
      this.list(keys.screenshotsPrefix),
      this.list(keys.modelioPrefix),
      // Side effects are kept as one record per state; the latest state stands for the bundle file.
      latestSideEffects(objects, keys),
    ]);
    if (!trace && !manifestBuf) return undefined;
    const steps = (trace?.steps ?? []).flatMap((s) => this.step(s) ?? []);
    let manifest: Record<string, unknown> | undefined;
    try {
      const m = manifestBuf ? (JSON.parse(manifestBuf.toString('utf8')) as unknown) : undefined;
      if (isObject(m)) manifest = m;
    } catch {
      /* an unreadable manifest declares nothing */
    }

    // Screenshots by step.
    const shots = new Map<number, StepShots>();
    const present = new Set<string>();
    const artifacts = new Map<number, string[]>();
    const addArtifact = (i: number, rel: string) => {
      const a = artifacts.get(i);
      if (a) a.push(rel);
      else artifacts.set(i, [rel]);
    };
    for (const o of shotList) {
      const rel = o.key.slice(keys.prefix.length);
      const m = /^screenshots\/([0-9]{4,6})_(pre|post|target|diff)\.png$/.exec(rel);
      const i = m ? parseNnnn(m[1]!) : undefined;
      if (!m || i === undefined) continue;
      present.add(rel);
      addArtifact(i, rel);
      const s = shots.get(i) ?? {};
      if (m[2] === 'pre' || m[2] === 'post' || m[2] === 'diff') s[m[2]] = o;
      shots.set(i, s);
    }
    // Events files of steps the manifest declares but that never arrived (at most MAX_EVENT_PROBES of them).
    const received = new Set(steps.map((s) => s.step_index));
    const declared = typeof manifest?.step_count === 'number' && Number.isInteger(manifest.step_count) ? Math.min(manifest.step_count, MAX_STEP_INDEX + 1) : 0;
    const probes: number[] = [];
    for (let i = 0; i < declared && probes.length < MAX_EVENT_PROBES; i++) if (!received.has(i)) probes.push(i);

    const [pixelList, modelio, sideEffects, events, eventFiles] = await Promise.all([
      mapLimit([...shots], PIXEL_READ_CONCURRENCY, async ([i, s]) => [i, await this.pixels.forStep(keys, i, s).catch(() => undefined)] as const),
      this.modelio.load(keys, modelioList),
      this.sideEffects.load(keys, sideList.map((s) => s.info)),
      mapLimit(cuaEventSteps(steps), 8, async (i) => [i, await this.jsonl(keys.events(i)).catch(() => [])] as const),
      this.eventSteps(keys, probes),
    ]);
    for (const [i, rel] of eventFiles) addArtifact(i, rel);
    const pixels = new Map<number, PixelRecord>();
    for (const [i, r] of pixelList) if (r) pixels.set(i, r);
    const sidePath = new Map(sideList.map((s) => [s.info.key, s.path]));
    const rel = (m: Map<string, unknown>) => new Map([...m].map(([k, v]) => [k.slice(keys.prefix.length), v]));
    const modelioRel = rel(modelio) as Map<string, ModelioSummary>;
    for (const k of modelioRel.keys()) {
      const m = /^modelio\/([0-9]{4,6})-/.exec(k);
      const i = m ? parseNnnn(m[1]!) : undefined;
      if (i !== undefined) addArtifact(i, k);
    }

    // Logs and replay fixtures only matter to two rules: read them only when those could fire.
    const needLogs = steps.slice(0, 3).some((s) => s.failure_class === 'infra_failure' || s.failure_class === 'mantis.modal_signature_missing');
    const needReplay = steps.some((s) => isObject(s.verdict) && (s.verdict.status === 'failed' || s.verdict.status === 'recoverable'));
    const [logPaths, replay] = await Promise.all([
      needLogs ? this.logPaths(keys) : Promise.resolve([]),
      needReplay ? this.list(`${keys.prefix}replay/`) : Promise.resolve([]),
    ]);

    const session = isObject(trace?.head.session) ? trace!.head.session : undefined;
    const status = trace?.hasTrace ? session?.status : 'running';
    const endedAt = session?.ended_at;
    const ended = (typeof status === 'string' && TERMINAL.has(status)) || (typeof endedAt === 'string' && endedAt !== '');
    const lastSeen = run ? Math.max(run.last_heartbeat_at ?? 0, run.updated_at) : trace?.lastReceivedAt;
    const declaredMissing = new Set(Array.isArray(manifest?.missing) ? manifest.missing.filter((x): x is string => typeof x === 'string') : []);
    const eventMap = new Map(events);

    const all = [
      ...runCuaRules({
        steps,
        declaredMissing,
        present,
        events: (i) => eventMap.get(i) ?? [],
        logPaths,
        replayFixtures: replay.map((o) => o.key.slice(keys.prefix.length)),
      }),
      ...runAugurRules({
        steps,
        pixels,
        manifest,
        ended,
        live: !ended,
        lastSeen,
        now,
        modelio: modelioRel,
        sideEffects: new Map([...sideEffects].map(([key, v]) => [sidePath.get(key) ?? key.slice(keys.prefix.length), v])) as Map<string, SideEffectSummary>,
        artifactSteps: artifacts,
      }),
    ];
    const min = input.minSeverity ? severityRank(input.minSeverity) : 0;
    return {
      schema_version: FINDINGS_SCHEMA_VERSION,
      run_id: input.runId,
      generated_at: new Date(now).toISOString(),
      findings: sortFindings(all.filter((f) => severityRank(f.severity) >= min)),
    };
  }

  /** Stops the pixel worker (shutdown). */
  async close(): Promise<void> {
    await this.pixels.close();
  }
}

const instances = new WeakMap<AppContext, Diagnostics>();

/** Stops the context's diagnostics, if it started any (closeContext). */
export async function closeDiagnostics(ctx: AppContext): Promise<void> {
  await instances.get(ctx)?.close();
}

/** Steps whose background pixel work waits or runs on this replica (0 before any screenshot). */
export const pixelBacklog = (ctx: AppContext): number => instances.get(ctx)?.pixels.backlog ?? 0;

/** The process's Diagnostics for this context (one per app, like the trace view). */
export function diagnosticsFor(ctx: AppContext): Diagnostics {
  let d = instances.get(ctx);
  if (!d) instances.set(ctx, (d = new Diagnostics(ctx)));
  return d;
}


