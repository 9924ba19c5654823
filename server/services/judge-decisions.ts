import type { ObjectStore } from '../../storage/objects/index.js';
import { parseNnnn, type BundleKeys } from './bundle.js';
import { mapLimit } from './map-limit.js';
import type { MergedStep, MergedTrace } from './trace-view.js';

/**
 * Judge decisions posted on their own (`POST /runs/{id}/steps/{i}/judge-decisions`) live in one
 * small object per step beside the bundle, so a step PUT that does not repeat them never erases
 * them. Reads fold them into the step's `judge_decisions`, after the step's own, in the order
 * they were posted, leaving out any the step document already holds.
 */
export type Decision = Record<string, unknown>;

/** Two records are the same decision when they agree on who judged, when, and what they said. */
export const decisionKey = (d: Decision): string => JSON.stringify([d.judge_id ?? null, d.judge_type ?? null, d.judged_at ?? null, d.verdict ?? null]);

export function parseDecisions(buf: Buffer | undefined): Decision[] {
  if (!buf) return [];
  try {
    const v = JSON.parse(buf.toString('utf8')) as unknown;
    return Array.isArray(v) ? v.filter((d): d is Decision => typeof d === 'object' && d !== null && !Array.isArray(d)) : [];
  } catch {
    return [];
  }
}

/** Every step's posted decisions: one LIST (empty for most runs) and one GET per judged step. */
export async function loadDecisions(objects: ObjectStore, keys: BundleKeys): Promise<Map<number, Decision[]>> {
  const found: Array<[number, string]> = [];
  for await (const o of objects.list(keys.judgePrefix)) {
    const name = o.key.slice(keys.judgePrefix.length);
    const index = name.endsWith('.json') ? parseNnnn(name.slice(0, -5)) : undefined;
    if (index !== undefined) found.push([index, o.key]);
  }
  const out = new Map<number, Decision[]>();
  const got = await mapLimit(found, 16, async ([index, key]) => [index, parseDecisions(await objects.getBuffer(key))] as const);
  for (const [index, list] of got) if (list.length) out.set(index, list);
  return out;
}

/** A step document with the posted decisions added to its judge_decisions. */
export function withDecisions(raw: string, posted: Decision[]): string {
  const doc = JSON.parse(raw) as Record<string, unknown>;
  const own = Array.isArray(doc.judge_decisions) ? (doc.judge_decisions as Decision[]) : [];
  const seen = new Set(own.map(decisionKey));
  const added = posted.filter((d) => !seen.has(decisionKey(d)));
  if (!added.length) return raw;
  doc.judge_decisions = [...own, ...added];
  return JSON.stringify(doc);
}

/** Applies posted decisions to the merged trace: to the entry whose step_id a decision names, else to the step's first entry. */
export function applyDecisions(trace: MergedTrace, decisions: Map<number, Decision[]>): MergedTrace {
  if (!decisions.size) return trace;
  const first = new Map<number, MergedStep>();
  for (const s of trace.steps) if (!first.has(s.index)) first.set(s.index, s);
  const perEntry = new Map<MergedStep, Decision[]>();
  for (const [index, list] of decisions) {
    for (const d of list) {
      const target = (typeof d.step_id === 'string' && trace.steps.find((s) => s.index === index && s.step_id === d.step_id)) || first.get(index);
      if (!target) continue;
      let l = perEntry.get(target);
      if (!l) perEntry.set(target, (l = []));
      l.push(d);
    }
  }
  if (!perEntry.size) return trace;
  const steps = trace.steps.map((s) => {
    const l = perEntry.get(s);
    if (!l) return s;
    const raw = withDecisions(s.raw, l);
    return raw === s.raw ? s : { ...s, raw, bytes: Buffer.from(raw) };
  });
  return { ...trace, steps };
}
