import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../../server/services/run-reads.js';

describe('runs list cursor', () => {
  it('round-trips a position, including run ids with dots, dashes and underscores', () => {
    for (const p of [{ created_at: 0, run_id: 'r' }, { created_at: 1_764_000_000_123, run_id: 'run_abc.1-x' }]) {
      const c = encodeCursor(p);
      expect(c).toMatch(/^[A-Za-z0-9_-]+$/); // base64url: safe in a query string
      expect(decodeCursor(c)).toEqual(p);
    }
  });

  it('refuses anything it did not make', () => {
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    for (const bad of [
      '',
      'not base64!',
      'x'.repeat(401),
      Buffer.from('not json').toString('base64url'),
      enc(null),
      enc({ c: -1, r: 'r' }),
      enc({ c: 1.5, r: 'r' }),
      enc({ c: '1', r: 'r' }),
      enc({ c: 2 ** 53, r: 'r' }),
      enc({ c: 1, r: '../x' }),
      enc({ c: 1 }),
    ]) {
      expect(decodeCursor(bad), bad).toBeUndefined();
    }
  });
});
