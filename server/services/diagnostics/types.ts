/**
 * The finding format: the SDK bundle's DiagnosticFinding (schema/findings.schema.json), so a
 * finding the server computes and one the SDK's own rules engine wrote read the same way.
 */
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
export const EVIDENCE_TYPES = ['log', 'step', 'event', 'screenshot', 'diff', 'crop', 'trace'] as const;
export type EvidenceType = (typeof EVIDENCE_TYPES)[number];

export interface Evidence {
  type: EvidenceType;
  /** Bundle-relative path (`steps/0003.json`, `logs/run.log#L12`). */
  ref: string;
}

export interface Finding {
  /** Dotted: `cua.*` for the SDK's generic rules, `augur.*` for the server's own. */
  rule_id: string;
  severity: Severity;
  summary: string;
  evidence: Evidence[];
  recommendation?: string;
  step_index?: number;
}

/** critical = 4 … info = 0. */
export const severityRank = (s: Severity): number => SEVERITIES.indexOf(s);

/** A step document as the SDK sent it (any JSON object), with its index. */
export type StepDoc = Record<string, unknown> & { step_index: number };

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const obj = (v: unknown): Record<string, unknown> => (isObject(v) ? v : {});
export const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Zero-padded like the bundle's file names (step 3 → 0003). */
export const pad = (i: number): string => String(i).padStart(4, '0');
export const stepRef = (i: number): Evidence => ({ type: 'step', ref: `steps/${pad(i)}.json` });
export const eventsRef = (i: number): Evidence => ({ type: 'event', ref: `events/${pad(i)}.jsonl` });

/** Findings most severe first, then by step (run-level findings, without a step, first within a severity). */
export function sortFindings(f: Finding[]): Finding[] {
  return f
    .map((x, i) => ({ x, i }))
    .sort((a, b) => severityRank(b.x.severity) - severityRank(a.x.severity) || (a.x.step_index ?? -1) - (b.x.step_index ?? -1) || a.i - b.i)
    .map((e) => e.x);
}
