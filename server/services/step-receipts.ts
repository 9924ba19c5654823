import { createHash } from 'node:crypto';

/**
 * Which receipt of a step is current. The SDK sends every update of a step whole, each from its
 * own thread, so PUTs of one step arrive in any order and arrival says nothing about which state
 * is newer. Its updates only ever add to a step (a verdict, costs, captured versions, judge
 * decisions) or move it from pending/running to a terminal status. So the current receipt is the
 * one that is furthest along: a terminal status beats a non-terminal one, then more filled-in
 * values (leaves of the JSON tree that are not null or "") beat fewer; a tie goes to the receipt
 * received later. The same rule picks between a step PUT and the same step inside a trace PUT,
 * so `steps/NNNN.json` and `trace.json` always agree.
 */
export interface StepRank {
  terminal: boolean;
  leaves: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const TERMINAL = new Set(['succeeded', 'failed', 'skipped', 'recovered', 'cancelled', 'halted']);

function countLeaves(v: unknown, depth: number): number {
  if (v === null || v === undefined || v === '') return 0;
  if (depth > 64) return 1;
  if (Array.isArray(v)) {
    let n = 0;
    for (const x of v) n += countLeaves(x, depth + 1);
    return n;
  }
  if (typeof v === 'object') {
    let n = 0;
    for (const x of Object.values(v as Record<string, unknown>)) n += countLeaves(x, depth + 1);
    return n;
  }
  return 1;
}

export function stepRank(doc: unknown): StepRank {
  const status = isObject(doc) ? doc.status : undefined;
  return { terminal: typeof status === 'string' && TERMINAL.has(status), leaves: countLeaves(doc, 0) };
}

/** -1, 0 or 1 as a is behind, level with or ahead of b. */
export function compareRank(a: StepRank, b: StepRank): number {
  if (a.terminal !== b.terminal) return a.terminal ? 1 : -1;
  return Math.sign(a.leaves - b.leaves);
}

/** Whether a receipt with rank `next`, received after the one with rank `stored`, replaces it. */
export const replaces = (next: StepRank, stored: StepRank): boolean => compareRank(next, stored) >= 0;

/** The file name of a step iteration: the first 8 hex digits of the SHA-256 of its step_id. */
export function iterationName(stepId: string): string {
  return createHash('sha256').update(stepId, 'utf8').digest('hex').slice(0, 8);
}

/** A step document's step_id, when it has one. */
export function stepIdOf(doc: unknown): string | undefined {
  return isObject(doc) && typeof doc.step_id === 'string' && doc.step_id !== '' ? doc.step_id : undefined;
}
