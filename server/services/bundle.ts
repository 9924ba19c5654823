/**
 * Object keys of a run's bundle. Keys mirror the read URLs and always sit under
 * tenants/<tenant_id>/runs/<run_id>/. Every part is checked again here, whatever the route
 * validated, so no caller can build a key outside its run.
 */
/** A run id as the SDK makes it (branch runs are `<parent>:branch:<8 hex>`): one safe key and URL segment. */
export const RUN_ID_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,199}$/;
export const LOG_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
export const MODELIO_RELPATH_RE = /^(?:[0-9]{4,6}|run)-[a-z0-9_]{1,32}-(?:0|[1-9][0-9]{0,8})\.json$/;
export const SCREENSHOT_KINDS = ['pre', 'post', 'target', 'diff'] as const;
export type ScreenshotKind = (typeof SCREENSHOT_KINDS)[number];
export const MAX_STEP_INDEX = 999_999;
/** A side effect id becomes part of a key (`side_effects/NNNN-<id>.json`): a safe alphabet, 1 to 128 characters. */
export const SIDE_EFFECT_ID_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
export const SIDE_EFFECT_STATUSES = ['intent_only', 'committed', 'aborted'] as const;
export type SideEffectStatus = (typeof SIDE_EFFECT_STATUSES)[number];
/** `side_effects/<name>.json`: the step index (NNNN) and the side effect id. */
export const SIDE_EFFECT_NAME_RE = /^([0-9]{4,6})-([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$/;
/** Tenant, user, DSN and token ids. */
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`invalid ${what}`);
}

/** A step index as it appears in keys and URLs: zero-padded to at least 4 digits. */
export function nnnn(step: number): string {
  check(Number.isInteger(step) && step >= 0 && step <= MAX_STEP_INDEX, 'step index');
  return String(step).padStart(4, '0');
}

/** Parses NNNN from a URL: 4 to 6 digits, canonical (no extra leading zeros beyond 4 digits). */
export function parseNnnn(s: string): number | undefined {
  if (!/^[0-9]{4,6}$/.test(s)) return undefined;
  const n = Number(s);
  return nnnn(n) === s ? n : undefined;
}

export class BundleKeys {
  readonly prefix: string;

  constructor(tenantId: string, runId: string) {
    check(UUID_RE.test(tenantId), 'tenant id');
    check(RUN_ID_RE.test(runId) && runId !== '.' && runId !== '..', 'run id');
    this.prefix = `tenants/${tenantId}/runs/${runId}/`;
  }

  static tenantPrefix(tenantId: string): string {
    check(UUID_RE.test(tenantId), 'tenant id');
    return `tenants/${tenantId}/`;
  }

  get manifest(): string {
    return `${this.prefix}manifest.json`;
  }
  get trace(): string {
    return `${this.prefix}trace.json`;
  }
  get stepsPrefix(): string {
    return `${this.prefix}steps/`;
  }
  step(i: number): string {
    return `${this.prefix}steps/${nnnn(i)}.json`;
  }
  /** An iteration of step i (a second step_id for the same index): `steps/NNNN/<8 hex>.json`. */
  stepIteration(i: number, name: string): string {
    check(/^[0-9a-f]{8}$/.test(name), 'iteration name');
    return `${this.prefix}steps/${nnnn(i)}/${name}.json`;
  }
  /** Judge decisions posted for step i, kept apart from the step's own document (see routes/ingest/judge-decisions.ts). */
  judgeDecisions(i: number): string {
    return `${this.prefix}.judge/${nnnn(i)}.json`;
  }
  get judgePrefix(): string {
    return `${this.prefix}.judge/`;
  }
  /** Events of one step, or of the run as a whole. */
  events(step: number | 'run' | 'reasoning'): string {
    return `${this.prefix}events/${typeof step === 'number' ? nnnn(step) : step}.jsonl`;
  }
  screenshot(step: number, kind: ScreenshotKind): string {
    check((SCREENSHOT_KINDS as readonly string[]).includes(kind), 'screenshot kind');
    return `${this.prefix}screenshots/${nnnn(step)}_${kind}.png`;
  }
  get screenshotsPrefix(): string {
    return `${this.prefix}screenshots/`;
  }
  modelio(relpath: string): string {
    check(MODELIO_RELPATH_RE.test(relpath), 'modelio relpath');
    return `${this.prefix}modelio/${relpath}`;
  }
  get modelioPrefix(): string {
    return `${this.prefix}modelio/`;
  }
  log(name: string): string {
    check(LOG_NAME_RE.test(name), 'log name');
    return `${this.prefix}logs/${name}.log`;
  }
  /** The run's reasoning records, one JSON line each (appended). */
  get reasoning(): string {
    return `${this.prefix}events/reasoning.jsonl`;
  }
  /** Side effect name as in the bundle: `NNNN-<side_effect_id>`. */
  static sideEffectName(step: number, id: string): string {
    check(SIDE_EFFECT_ID_RE.test(id), 'side effect id');
    return `${nnnn(step)}-${id}`;
  }
  /**
   * Server-only records the readable files are assembled from (one object per entry, so concurrent
   * writers from several replicas never overwrite each other's entries): never at a read URL, as
   * no read path parameter may start with a dot.
   */
  get recordsPrefix(): string {
    return `${this.prefix}.records/`;
  }
  /** One state of one side effect: `.records/side_effects/NNNN-<id>/<status>.json`. */
  sideEffectState(name: string, status: SideEffectStatus): string {
    check(SIDE_EFFECT_NAME_RE.test(name), 'side effect name');
    check((SIDE_EFFECT_STATUSES as readonly string[]).includes(status), 'side effect status');
    return `${this.recordsPrefix}side_effects/${name}/${status}.json`;
  }
  sideEffectStates(name: string): string {
    check(SIDE_EFFECT_NAME_RE.test(name), 'side effect name');
    return `${this.recordsPrefix}side_effects/${name}/`;
  }
  get sideEffectsRecordsPrefix(): string {
    return `${this.recordsPrefix}side_effects/`;
  }
  /** One outcome: the session's (`session.json`) or one step's (`step-NNNN.json`). */
  outcome(step: number | 'session'): string {
    return `${this.recordsPrefix}outcomes/${step === 'session' ? 'session' : `step-${nnnn(step)}`}.json`;
  }
  get outcomesPrefix(): string {
    return `${this.recordsPrefix}outcomes/`;
  }
  /** One eval candidate per step index. */
  evalCandidate(step: number): string {
    return `${this.recordsPrefix}eval_candidates/${nnnn(step)}.json`;
  }
  get evalCandidatesPrefix(): string {
    return `${this.recordsPrefix}eval_candidates/`;
  }
  /** The session's cumulative costs (PUT /runs/{id}/costs, latest wins). */
  get costs(): string {
    return `${this.prefix}costs.json`;
  }
  get findings(): string {
    return `${this.prefix}diagnostics/findings.json`;
  }
  /** Server-derived data (a merged trace, say): never at a read URL. */
  derived(name: string): string {
    check(/^[a-z0-9-]+\.json$/.test(name), 'derived name');
    return `${this.prefix}.derived/${name}`;
  }
}
