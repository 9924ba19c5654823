import { createHash } from 'node:crypto';
import { stringEnd } from '../http/json-scan.js';

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

/** What the step route needs of a step document: its rank, step_id and started_at. */
export interface Receipt {
  rank: StepRank;
  stepId?: string;
  startedAt?: string;
}

/** Bytes that continue a number or a literal (true, false, null) outside strings. */
const TOKEN = new Uint8Array(256);
for (const c of '-+.0123456789eEtrufalsn') TOKEN[c.charCodeAt(0)] = 1;
const TOP_KEYS = ['status', 'step_id', 'started_at'] as const;
const TOP_KEY_BYTES = TOP_KEYS.map((k) => Buffer.from(k));

/**
 * A step document's receipt read from its bytes, equal to stepRank/stepIdOf of its parsed value
 * (a unit test checks): a step re-PUT reads the stored receipt back, and parsing a 16 MiB step to
 * count its leaves held the event loop 100–250 ms where this walk takes a few ms. Expects JSON the
 * ingest scan accepted (no repeated keys, nesting within bounds); a leading byte-order mark is skipped.
 */
export function receiptOf(raw: Buffer): Receipt {
  const n = raw.length;
  // Per open container: 1 for an object, 0 for an array.
  const objects: number[] = [];
  let expectKey = false;
  let topKey = -1; // which of TOP_KEYS the top-level value being read belongs to
  let leaves = 0;
  const top: Array<string | undefined> = [undefined, undefined, undefined];
  for (let i = raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf ? 3 : 0; i < n; i++) {
    const c = raw[i]!;
    if (c === 0x22) {
      const end = stringEnd(raw, i + 1);
      if (end < 0) break;
      if (expectKey) {
        expectKey = false;
        topKey = objects.length === 1 ? topKeyOf(raw, i + 1, end) : -1;
      } else {
        if (end > i + 1) leaves++;
        if (topKey >= 0 && objects.length === 1) top[topKey] = JSON.parse(raw.toString('utf8', i, end + 1)) as string;
        topKey = -1;
      }
      i = end;
    } else if (c === 0x7b || c === 0x5b) {
      objects.push(c === 0x7b ? 1 : 0);
      expectKey = c === 0x7b;
      topKey = -1;
    } else if (c === 0x7d || c === 0x5d) {
      objects.pop();
      expectKey = false;
    } else if (c === 0x2c) {
      expectKey = objects[objects.length - 1] === 1;
      topKey = -1;
    } else if (TOKEN[c]) {
      if (c !== 0x6e) leaves++; // null is no leaf
      while (i + 1 < n && TOKEN[raw[i + 1]!]) i++;
      topKey = -1;
    }
  }
  const [status, stepId, startedAt] = top;
  return {
    rank: { terminal: status !== undefined && TERMINAL.has(status), leaves },
    ...(stepId ? { stepId } : {}),
    ...(startedAt ? { startedAt } : {}),
  };
}

/** Which of TOP_KEYS the key text raw[start, end) is (escaped keys decoded), else -1. */
function topKeyOf(raw: Buffer, start: number, end: number): number {
  if (end - start > 64) return -1; // longer than any of them, even escaped
  const key = raw.subarray(start, end);
  if (!key.includes(0x5c)) return TOP_KEY_BYTES.findIndex((k) => key.equals(k));
  return TOP_KEYS.indexOf(JSON.parse(raw.toString('utf8', start - 1, end + 1)) as (typeof TOP_KEYS)[number]);
}
