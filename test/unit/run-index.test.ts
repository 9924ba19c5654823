import { describe, expect, it } from 'vitest';
import { createLogger } from '../../server/logger.js';
import { mergeTouches, RunIndexWriter } from '../../server/services/run-index.js';
import type { MetadataStore, RunTouch } from '../../storage/metadata/index.js';

const base = { tenant_id: '00000000-0000-4000-8000-000000000000', run_id: 'r' };

describe('run index touches', () => {
  it('a later touch replaces reported facts, keeps unreported ones, grows counts and adds iterations', () => {
    const a: RunTouch = { ...base, seen_at: 10, step_count: 5, status: 'running', client_name: 'a', tags: { env: 'x' }, new_iterations: 1, heartbeat_at: 9 };
    const b: RunTouch = { ...base, seen_at: 20, step_count: 2, status: null, client_version: '1', tags: { env: 'y' }, new_iterations: 2, create: false };
    expect(mergeTouches(a, b)).toEqual({
      ...base, seen_at: 20, step_count: 5, status: 'running', client_name: 'a', client_version: '1', tags: { env: 'y' }, new_iterations: 3, heartbeat_at: 9,
    });
    // Only touches that must not create a run stay update-only.
    expect(mergeTouches({ ...base, seen_at: 1, create: false }, { ...base, seen_at: 2, create: false }).create).toBe(false);
  });

  it('a failed flush keeps its touches under what arrived meanwhile, iterations included', async () => {
    const written: RunTouch[][] = [];
    let fail = true;
    // Only touchRuns is reached by the writer; a store that fails once stands in for a database
    // hiccup, and a touch arrives while that write is under way.
    const store = {
      touchRuns: async (batch: RunTouch[]) => {
        if (fail) {
          fail = false;
          w.touch({ ...base, seen_at: 2, client_name: 'new', new_iterations: 1 });
          throw new Error('database down');
        }
        written.push(batch);
      },
    } as unknown as MetadataStore;
    const w = new RunIndexWriter(store, createLogger('silent'));
    w.touch({ ...base, seen_at: 1, client_name: 'old', new_iterations: 1 });
    await w.flush();
    await w.flush();
    expect(written).toEqual([[{ ...base, seen_at: 2, client_name: 'new', new_iterations: 2 }]]);
  });
});
