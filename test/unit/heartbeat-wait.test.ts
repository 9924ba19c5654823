import { describe, expect, it } from 'vitest';
import { stampWithin } from '../../server/services/ingest.js';

describe('a heartbeat waits for its stamp only so long', () => {
  it('answers with the stored client id when the stamp lands in time', async () => {
    expect(await stampWithin(Promise.resolve('sdk_1'), 1_000)).toBe('sdk_1');
  });

  it('answers without it when presence does not answer (the stamp goes on by itself)', async () => {
    const never = new Promise<string | undefined>(() => undefined);
    expect(await stampWithin(never, 5)).toBeUndefined();
  });
});
