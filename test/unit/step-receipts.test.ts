import { describe, expect, it } from 'vitest';
import { sortEventLines } from '../../server/services/event-order.js';
import { compareRank, iterationName, replaces, stepRank } from '../../server/services/step-receipts.js';

describe('which step receipt is current', () => {
  it('a terminal status beats a non-terminal one whatever the field count', () => {
    const running = stepRank({ step_index: 0, status: 'running', a: 1, b: 2, c: 3, d: 4 });
    const done = stepRank({ step_index: 0, status: 'failed' });
    expect(compareRank(done, running)).toBe(1);
    expect(replaces(running, done)).toBe(false);
  });
  it('then more filled-in values; null and "" count as absent; a tie replaces', () => {
    const a = stepRank({ step_index: 0, status: 'succeeded', verdict: { status: 'passed' } });
    const b = stepRank({ step_index: 0, status: 'succeeded', verdict: { status: 'passed', score: 1 }, costs: null, note: '' });
    expect(compareRank(b, a)).toBe(1);
    expect(replaces(a, b)).toBe(false);
    expect(replaces(a, a)).toBe(true);
  });
  it('names an iteration by the first 8 hex digits of the SHA-256 of its step_id', () => {
    // sha256("abc") = ba7816bf...
    expect(iterationName('abc')).toBe('ba7816bf');
  });
});

describe('events order', () => {
  it("sorts by ts, layer, kind, summary, stable, lines byte for byte, non-JSON last", () => {
    const lines = [
      '{"ts":"2","layer":"b","kind":"x","summary":"s"}',
      'not json',
      '{"ts":"1","layer":"z"}',
      '{"ts":"2","layer":"a","kind":"y" ,"summary":"s"}',
      '{"ts":"2","layer":"b","kind":"x","summary":"s","n":2}',
      '[1]',
    ];
    const out = sortEventLines(Buffer.from(lines.join('\n') + '\n')).toString('utf8').split('\n');
    expect(out).toEqual([lines[2], lines[3], lines[0], lines[4], lines[1], lines[5], '']);
  });
});
