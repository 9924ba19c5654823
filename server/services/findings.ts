import type { RunRow } from '../../storage/metadata/index.js';
import type { ObjectStore } from '../../storage/objects/index.js';
import { BundleKeys, nnnn, SCREENSHOT_KINDS, type ScreenshotKind } from './bundle.js';
import { isObject, type MergedTrace } from './trace-view.js';

export const FINDINGS_SCHEMA_VERSION = '1.0';
/** A live run with no heartbeat or ingest call for this long is reported as stalled. */
export const STALL_MS = 5 * 60_000;

type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  code: string;
  severity: Severity;
  title: string;
  detail: string;
  step_index?: number | null;
  evidence?: unknown;
}

const RANK: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/**
 * The screenshot kinds a step names (documented in step.schema.json, `screenshots`): either an
 * object keyed by kind whose value is not null/false (`{"pre": "screenshots/0003_pre.png"}`), or an
 * array of kinds or file names (`["pre", "post"]`, `["0003_post.png"]`).
 */
export function namedScreenshots(step: Record<string, unknown>): ScreenshotKind[] {
  const kinds = new Set<ScreenshotKind>();
  const add = (s: string) => {
    const m = /(?:^|[/_])(pre|post|target|diff)(?:\.png)?$/.exec(s);
    if (m) kinds.add(m[1] as ScreenshotKind);
  };
  const v = step.screenshots;
  if (Array.isArray(v)) for (const s of v) typeof s === 'string' && add(s);
  else if (isObject(v)) {
    for (const [k, val] of Object.entries(v)) if ((SCREENSHOT_KINDS as readonly string[]).includes(k) && val !== null && val !== false) kinds.add(k as ScreenshotKind);
  }
  return [...kinds];
}

function errorText(e: unknown): string | undefined {
  if (typeof e === 'string') return e;
  if (isObject(e) && typeof e.message === 'string') return e.message;
  return undefined;
}

export interface FindingsInput {
  runId: string;
  keys: BundleKeys;
  trace: MergedTrace | undefined;
  run: RunRow | undefined;
  now: number;
}

/**
 * Computes diagnostics/findings.json from what the run holds; nothing is stored. Findings:
 * - step_error (error): a step whose result.status is "error";
 * - screenshot_missing (warning): a screenshot a step names that never arrived;
 * - run_stalled (warning): a live run (no trace PUT, or session status running) with no heartbeat
 *   or ingest call for 5 minutes, judged from the run index (last_heartbeat_at / updated_at).
 */
export async function computeFindings(objects: ObjectStore, input: FindingsInput) {
  const { keys, trace, run, now } = input;
  const findings: Finding[] = [];
  const steps = (trace?.steps ?? []).map((s) => {
    try {
      return { index: s.index, doc: JSON.parse(s.raw) as Record<string, unknown> };
    } catch {
      return { index: s.index, doc: {} as Record<string, unknown> };
    }
  });

  for (const { index, doc } of steps) {
    const result = doc.result;
    if (isObject(result) && result.status === 'error') {
      const text = errorText(result.error);
      findings.push({
        code: 'step_error',
        severity: 'error',
        title: `Step ${index} failed`,
        detail: text ? `The step's result is an error: ${text}` : "The step's result is an error.",
        step_index: index,
        evidence: { error: result.error ?? null, ...(isObject(doc.action) ? { action: doc.action } : {}) },
      });
    }
  }

  const wanted = steps.flatMap(({ index, doc }) => namedScreenshots(doc).map((kind) => ({ index, kind })));
  if (wanted.length) {
    const present = new Set<string>();
    for await (const o of objects.list(keys.screenshotsPrefix)) present.add(o.key);
    for (const { index, kind } of wanted) {
      const key = keys.screenshot(index, kind);
      if (present.has(key)) continue;
      findings.push({
        code: 'screenshot_missing',
        severity: 'warning',
        title: `Screenshot ${nnnn(index)}_${kind}.png never arrived`,
        detail: `Step ${index} names a ${kind} screenshot, but the server holds none.`,
        step_index: index,
        evidence: { file: `screenshots/${nnnn(index)}_${kind}.png` },
      });
    }
  }

  const status = trace?.hasTrace ? (isObject(trace.head.session) ? trace.head.session.status : undefined) : 'running';
  const live = status === 'running' || (trace?.hasTrace === true && (status === undefined || status === null) && !(isObject(trace.head.session) && trace.head.session.ended_at));
  if (live) {
    const lastSeen = run ? Math.max(run.last_heartbeat_at ?? 0, run.updated_at) : trace?.lastReceivedAt ?? 0;
    if (lastSeen > 0 && now - lastSeen >= STALL_MS) {
      const minutes = Math.floor((now - lastSeen) / 60_000);
      findings.push({
        code: 'run_stalled',
        severity: 'warning',
        title: `No heartbeat for ${minutes} minutes`,
        detail: 'The run is still live (no final status) but nothing has been heard from its client for 5 minutes or more: the agent may have crashed or hung.',
        step_index: null,
        evidence: { last_seen: new Date(lastSeen).toISOString(), minutes },
      });
    }
  }

  findings.sort((a, b) => RANK[a.severity] - RANK[b.severity] || (a.step_index ?? -1) - (b.step_index ?? -1));
  return { schema_version: FINDINGS_SCHEMA_VERSION, run_id: input.runId, generated_at: new Date(now).toISOString(), findings };
}
