import { describe, expect, it } from 'vitest';
import { cutUtf8 } from '../../server/services/appends.js';

describe('cutUtf8', () => {
  const text = Buffer.from('aé€😀'); // 1 + 2 + 3 + 4 bytes

  it('keeps a buffer that fits, as is', () => {
    expect(cutUtf8(text, 10)).toBe(text);
    expect(cutUtf8(text, 99)).toBe(text);
  });

  it('cuts at the last character boundary at or before n bytes', () => {
    const cuts = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => cutUtf8(text, n).toString('utf8'));
    expect(cuts).toEqual(['', 'a', 'a', 'aé', 'aé', 'aé', 'aé€', 'aé€', 'aé€', 'aé€']);
  });

  it('never returns a split character, and gives nothing for n ≤ 0', () => {
    for (let n = 0; n <= text.length; n++) expect(Buffer.from(cutUtf8(text, n).toString('utf8')).equals(cutUtf8(text, n))).toBe(true);
    expect(cutUtf8(text, -3)).toHaveLength(0);
  });
});
