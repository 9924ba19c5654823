import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ARRAY_COST, DICT_KEY_COST, ESCAPED_KEY_COST, FAST_KEYS, OBJECT_COST, SHAPE_COST, scanJson } from '../../server/http/json-scan.js';
import { receiptOf, stepIdOf, stepRank } from '../../server/services/step-receipts.js';

/** Bytes outside strings, per 8: what the count adds for them. */
const plain = (text: string) => Math.floor(Buffer.byteLength(text.replace(/"(?:[^"\\]|\\.)*"/g, '')) / 8);
const scan = (text: string, values = Number.MAX_SAFE_INTEGER, elementsOf?: string) => scanJson(Buffer.from(text), { depth: 64, values, elementsOf });

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** JSON text of a value, keys written either plainly or with every character escaped as \uXXXX; `dup` repeats one object's first key. */
function emit(v: Json, opts: { escapeKeys: boolean; dup?: { at: number; escaped: boolean } }, counter = { n: 0 }): string {
  if (Array.isArray(v)) return `[${v.map((x) => emit(x, opts, counter)).join(',')}]`;
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  const id = counter.n++;
  const key = (k: string, escaped: boolean) => (escaped ? `"${k.split('').map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"` : JSON.stringify(k));
  const parts = Object.entries(v).map(([k, x]) => `${key(k, opts.escapeKeys)}:${emit(x, opts, counter)}`);
  const first = Object.keys(v)[0];
  if (opts.dup && opts.dup.at === id && first !== undefined) parts.push(`${key(first, opts.dup.escaped)}:0`);
  return `{${parts.join(',')}}`;
}

const objectCount = (v: Json): number => (Array.isArray(v) ? v.reduce<number>((n, x) => n + objectCount(x), 0) : v !== null && typeof v === 'object' ? 1 + Object.values(v).reduce<number>((n, x) => n + objectCount(x), 0) : 0);

describe('the JSON scan before parsing', () => {
  it('counts values as documented: one per comma and key, objects and arrays and new layouts more, text outside strings per 8 bytes', () => {
    expect(scan('[0,0,0]').values).toBe(ARRAY_COST + 2);
    expect(scan('{"a":1}').values).toBe(OBJECT_COST + 1 + SHAPE_COST);
    // The same layout again costs no SHAPE_COST; another order of the same keys is a new one.
    const same = '[{"a":1,"b":2},{"a":3,"b":4}]';
    expect(scan(same).values).toBe(ARRAY_COST + 1 + 2 * (OBJECT_COST + 1) + 2 * (1 + SHAPE_COST) + 2 + plain(same));
    const swapped = '[{"a":1,"b":2},{"b":3,"a":4}]';
    expect(scan(swapped).values).toBe(ARRAY_COST + 1 + 2 * (OBJECT_COST + 1) + 4 * (1 + SHAPE_COST) + plain(swapped));
    expect(scan('{"\\u0061":1}').values).toBe(OBJECT_COST + ESCAPED_KEY_COST + SHAPE_COST);
    // 16 digits outside strings: 2 more.
    expect(scan('[1234567890123456]').values).toBe(ARRAY_COST + 2);
    // Keys past the FAST_KEYS-th of one object cost DICT_KEY_COST each.
    const big = `{${Array.from({ length: FAST_KEYS + 10 }, (_, i) => `"k${String(i).padStart(4, '0')}":""`).join(',')}}`;
    expect(scan(big).values).toBe(OBJECT_COST + FAST_KEYS + 9 + FAST_KEYS * (1 + SHAPE_COST) + 10 * DICT_KEY_COST + plain(big));
  });

  it('refuses a body over the value limit, at the limit passes', () => {
    const text = `[${Array(5000).fill('0').join(',')}]`;
    const n = scan(text).values;
    expect(scan(text, n)).toEqual({ values: n });
    expect(scan(text, n - 1).problem).toEqual({ problem: 'values' });
    // It stops where the count crosses the limit, before the end of the body.
    expect(scan(text, 100).values).toBeLessThan(200);
  });

  it('finds a repeated key at any depth, plain or escaped, and nothing else', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }) as fc.Arbitrary<Json>, fc.boolean(), fc.boolean(), fc.nat(), (v, escapeKeys, dupEscaped, at) => {
        expect(scan(emit(v, { escapeKeys })).problem).toBeUndefined();
        const objects = objectCount(v);
        const withDup = emit(v, { escapeKeys, dup: { at: objects ? at % objects : 0, escaped: dupEscaped } });
        const expected = objects > 0 && withDup !== emit(v, { escapeKeys });
        expect(scan(withDup).problem?.problem === 'duplicate').toBe(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('compares escaped keys by what they mean, surrogates included', () => {
    expect(scan('{"é":1,"\\u00e9":2}').problem).toEqual({ problem: 'duplicate', key: 'é' });
    expect(scan('{"😀":1,"\\ud83d\\ude00":2}').problem).toEqual({ problem: 'duplicate', key: '😀' });
    expect(scan('{"\\ud800":1,"\\ufffd":2}').problem).toBeUndefined();
    expect(scan('{"a\\"b":1,"a\\u0022b":2}').problem?.problem).toBe('duplicate');
    // Many keys (past the small-object list) and a long key.
    const many = Array.from({ length: 500 }, (_, i) => `"key${i}":${i}`).join(',');
    expect(scan(`{${many}}`).problem).toBeUndefined();
    expect(scan(`{${many},"key250":0}`).problem).toEqual({ problem: 'duplicate', key: 'key250' });
    const long = 'x'.repeat(5000);
    expect(scan(`{"${long}":1,"${long}":2}`).problem?.problem).toBe('duplicate');
  });

  it('skips strings dense with escaped quotes and backslashes without losing its place', () => {
    const text = JSON.stringify({ a: '\\"'.repeat(10_000), b: '\\'.repeat(9_999), c: { a: 1 } });
    expect(scan(text).problem).toBeUndefined();
    expect(scan(`${text.slice(0, -1)},"c":2}`).problem).toEqual({ problem: 'duplicate', key: 'c' });
  });

  it('locates the object elements of a top-level array, as sent', () => {
    const text = '{"step_index":1, "events": [ {"a":1} ,{"b":[{"c":2}]},\n{"d":"]"} ], "x":{"events":[{"no":1}]}}';
    const { elements } = scan(text, Number.MAX_SAFE_INTEGER, 'events');
    const slices = [];
    for (let i = 0; i < elements!.length; i += 2) slices.push(text.slice(elements![i], elements![i + 1]));
    expect(slices).toEqual(['{"a":1}', '{"b":[{"c":2}]}', '{"d":"]"}']);
  });
});

describe("a step receipt read from the document's bytes", () => {
  const step = fc.record(
    {
      step_index: fc.nat(),
      step_id: fc.oneof(fc.string(), fc.constant('')),
      status: fc.constantFrom('running', 'pending', 'succeeded', 'failed', 'skipped', '', 'x'),
      started_at: fc.oneof(fc.string(), fc.constant(null)),
      extra: fc.jsonValue({ maxDepth: 4 }),
      '\u00e9': fc.jsonValue({ maxDepth: 2 }),
    },
    { requiredKeys: [] },
  );

  it('equals stepRank, stepIdOf and started_at of the parsed document, whatever its spacing and escapes', () => {
    fc.assert(
      fc.property(step, fc.boolean(), (doc, spaced) => {
        const text = JSON.stringify(doc, null, spaced ? 2 : undefined).replace(/é/g, '\\u00e9');
        const parsed = JSON.parse(text) as Record<string, unknown>;
        const r = receiptOf(Buffer.from(text));
        expect(r.rank).toEqual(stepRank(parsed));
        expect(r.stepId).toBe(stepIdOf(parsed));
        expect(r.startedAt).toBe(typeof parsed.started_at === 'string' && parsed.started_at !== '' ? parsed.started_at : undefined);
      }),
      { numRuns: 300 },
    );
  });

  it('reads escaped top-level keys and values, and not nested ones', () => {
    const r = receiptOf(Buffer.from('{"st\\u0061tus":"f\\u0061iled","nested":{"step_id":"inner"},"step_id":"s\\n1"}'));
    expect(r).toEqual({ rank: { terminal: true, leaves: 3 }, stepId: 's\n1' });
  });
});
