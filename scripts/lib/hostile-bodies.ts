/**
 * JSON bodies shaped to cost the server the most within its limits (bench:bounds). Each shape is
 * a JSON value made of `k` repetitions of one unit; `fit` finds the largest `k` whose body stays
 * within both the byte limit and the value limit (as server/http/json-scan.ts counts values).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { scanJson } from '../../server/http/json-scan.js';
import { ROOT } from '../../server/paths.js';

export interface Shape {
  name: string;
  what: string;
  /** The JSON text of the hostile value for `k` units. */
  make: (k: number) => string;
  /** Where it goes: beside the route's fields as `x` (default), in the route's text field, or as its steps / events. */
  slot?: 'x' | 'text' | 'steps' | 'events';
  /** Sized to the byte limit only, whatever the value limit (to show a refusal). */
  overValues?: boolean;
  /** At most this many units (a schema's maxItems). */
  maxK?: number;
}

const FIXTURE = path.join(ROOT, 'test/fixtures/sdk-0.1.14');
const sdkTrace = JSON.parse(readFileSync(path.join(FIXTURE, 'trace.json'), 'utf8')) as { steps: Array<Record<string, unknown>> };

let seed = 7;
const random = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x7fffffff;
const shuffled = <T>(xs: T[]): T[] => {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
};
const repeat = (k: number, unit: string | ((i: number) => string)): string => {
  const parts: string[] = new Array(k);
  for (let i = 0; i < k; i++) parts[i] = typeof unit === 'string' ? unit : unit(i);
  return parts.join(',');
};
const object = (keys: string[]): string => `{${keys.map((k) => `"${k}":0`).join(',')}}`;
const KEYS50 = Array.from({ length: 50 }, (_, i) => `key_${i}`);

export const SHAPES: Shape[] = [
  { name: 'tiny-values', what: '[0,0,0,…]', make: (k) => `[${repeat(k, '0')}]` },
  { name: 'tiny-over', what: '[0,0,0,…] to the byte limit, over the value limit', make: (k) => `[${repeat(k, '0')}]`, overValues: true },
  { name: 'empty-objects', what: '[{},{},…]', make: (k) => `[${repeat(k, '{}')}]` },
  { name: 'small-arrays', what: '[[0],[0],…]', make: (k) => `[${repeat(k, '[0]')}]` },
  { name: 'deep-arrays', what: '60-deep [[[…]]] repeated (nesting allowed: 64)', make: (k) => `[${repeat(k, '['.repeat(59) + ']'.repeat(59))}]` },
  { name: 'one-object', what: 'one object, many keys', make: (k) => `{${repeat(k, (i) => `"k${i}":0`)}}` },
  { name: 'fresh-keys', what: 'objects of 100 keys never seen before', make: (k) => `[${repeat(k, (i) => object(Array.from({ length: 100 }, (_, j) => `u${i * 100 + j}`)))}]` },
  { name: 'shuffled-keys', what: 'objects of the same 50 keys, each in its own order', make: (k) => `[${repeat(k, () => object(shuffled([...KEYS50])))}]` },
  { name: 'slow-numbers', what: '[-1.2345678901234567e-300,…]', make: (k) => `[${repeat(k, '-1.2345678901234567e-300')}]` },
  { name: 'escaped-keys', what: 'objects keyed "\\u006b0", "\\u006b1", …', make: (k) => `[${repeat(k, (i) => `{"\\u006b${i % 1000}":0}`)}]` },
  { name: 'string-ascii', what: 'one string of ASCII', make: (k) => `"${'a'.repeat(k)}"`, slot: 'text' },
  { name: 'string-2byte', what: 'one string of é (2 UTF-8 bytes each)', make: (k) => `"${'é'.repeat(k)}"`, slot: 'text' },
  { name: 'string-emoji', what: 'one string of 😀 (4 bytes, a surrogate pair)', make: (k) => `"${'😀'.repeat(k)}"`, slot: 'text' },
  { name: 'escapes-u', what: 'one string of \\u00e9 escapes', make: (k) => `"${'\\u00e9'.repeat(k)}"`, slot: 'text' },
  { name: 'escapes-quote', what: 'one string of \\" escapes', make: (k) => `"${'\\"'.repeat(k)}"`, slot: 'text' },
  { name: 'many-strings', what: '["ab","ab",…]', make: (k) => `[${repeat(k, '"ab"')}]` },
  {
    name: 'sdk-steps',
    what: 'SDK 0.1.14 steps (a long run\'s trace)',
    make: (k) => `[${repeat(k, (i) => JSON.stringify({ ...sdkTrace.steps[i % sdkTrace.steps.length], step_index: i }))}]`,
    slot: 'steps',
  },
  {
    name: 'minimal-steps',
    what: 'steps of {"step_index":i}, as many as a trace may hold (each validated)',
    make: (k) => `[${repeat(k, (i) => `{"step_index":${i}}`)}]`,
    slot: 'steps',
    maxK: 10_000,
  },
  {
    name: 'big-events',
    what: '1,000 events, each with a long detail string',
    make: (k) => `[${repeat(1000, (i) => JSON.stringify({ ts: '2026-01-01T00:00:00Z', layer: 'planner', kind: 'decision', summary: `e${i}`, detail: { blob: 'x'.repeat(k) } }))}]`,
    slot: 'events',
  },
];

/** The body: the route's example with the hostile value put in its slot (JSON text spliced in, never built as objects). */
export function bodyWith(base: Record<string, unknown>, slot: Shape['slot'], value: string): string {
  const placeholder = '\u0000hostile\u0000';
  return JSON.stringify({ ...base, [slot ?? 'x']: placeholder }).replace(JSON.stringify(placeholder), () => value);
}

export interface Fitted {
  k: number;
  body: Buffer;
  values: number;
}

/** The largest k (found from two probes, then shrunk until it fits) whose body stays within the limits. */
export function fit(shape: Shape, build: (value: string) => string, maxBytes: number, maxValues: number): Fitted {
  const measure = (k: number) => {
    const body = Buffer.from(build(shape.make(k)));
    return { k, body, values: scanJson(body, { depth: 64, values: Number.MAX_SAFE_INTEGER }).values };
  };
  const a = measure(100);
  const b = measure(1100);
  const bytesPer = (b.body.length - a.body.length) / 1000;
  const valuesPer = (b.values - a.values) / 1000;
  const byBytes = (maxBytes - a.body.length) / bytesPer + 100;
  const byValues = shape.overValues || valuesPer <= 0 ? Infinity : (maxValues - a.values) / valuesPer + 100;
  let k = Math.floor(Math.min(byBytes, byValues, shape.maxK ?? Infinity) * (shape.maxK ? 1 : 0.999));
  for (;;) {
    const m = measure(k);
    if (m.body.length <= maxBytes && (shape.overValues || m.values <= maxValues)) return m;
    k = Math.floor(k * 0.98);
  }
}
