/**
 * Object keys of a run's bundle. Keys mirror the read URLs and always sit under
 * tenants/<tenant_id>/runs/<run_id>/. Every part is checked again here, whatever the route
 * validated, so no caller can build a key outside its run.
 */
export const RUN_ID_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
export const LOG_NAME_RE = RUN_ID_RE;
export const MODELIO_RELPATH_RE = /^(?:[0-9]{4,6}|run)-[a-z0-9_]{1,32}-(?:0|[1-9][0-9]{0,8})\.json$/;
export const SCREENSHOT_KINDS = ['pre', 'post', 'target', 'diff'] as const;
export type ScreenshotKind = (typeof SCREENSHOT_KINDS)[number];
export const MAX_STEP_INDEX = 999_999;
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
  /** Events of one step, or of the run as a whole. */
  events(step: number | 'run'): string {
    return `${this.prefix}events/${step === 'run' ? 'run' : nnnn(step)}.jsonl`;
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
  get findings(): string {
    return `${this.prefix}diagnostics/findings.json`;
  }
  /** The diff picture the server computed for a step (pre against post). */
  diagnosticsDiff(step: number): string {
    return `${this.prefix}diagnostics/diff/${nnnn(step)}.png`;
  }
  /** Server-derived data (a merged trace, say; `pixels/0003.json` in a sub-folder): never at a read URL. */
  derived(name: string): string {
    check(/^(?:[a-z0-9-]+\/)?[a-z0-9-]+\.json$/.test(name), 'derived name');
    return `${this.prefix}.derived/${name}`;
  }
}
