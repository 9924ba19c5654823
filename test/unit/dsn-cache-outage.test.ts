import { describe, expect, it } from 'vitest';
import { createLogger } from '../../server/logger.js';
import { classifyBackendError, tagBackend } from '../../server/services/backend-failure.js';
import { sha256 } from '../../server/services/credentials.js';
import { DsnCache } from '../../server/services/dsn-cache.js';
import type { Dsn, MetadataStore, Tenant } from '../../storage/metadata/index.js';
import { createMessageBus } from '../../storage/bus/index.js';

/**
 * DSN keys through a database outage: a key looked up before keeps working (its last answer is
 * served while the look-up fails), a key never looked up is an error the caller answers 503 with,
 * never "unknown"; once the database answers again, what it says wins (a revocation included).
 */
const KEY_A = 'aug_' + 'a'.repeat(40);
const KEY_B = 'aug_' + 'b'.repeat(40);
const tenant: Tenant = { id: 't1', slug: 't1', name: 't1', modelio_enabled: true, created_at: 0 };
const dsnFor = (key: string, id: string): Dsn => ({
  id,
  tenant_id: 't1',
  client_name: 'c',
  key_prefix: key.slice(0, 8),
  key_hash: sha256(key),
  created_at: 0,
  last_used_at: null,
  revoked_at: null,
});

/** The one query the cache makes, against a table the test controls; `down` makes it fail as pg does. */
function fakeMetadata() {
  const rows = new Map<string, Dsn>([
    [sha256(KEY_A), dsnFor(KEY_A, 'd1')],
    [sha256(KEY_B), dsnFor(KEY_B, 'd2')],
  ]);
  const state = { down: false, queries: 0 };
  const store = {
    findDsnByHash: async (hash: string) => {
      state.queries++;
      if (state.down) throw tagBackend(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }), 'metadata');
      const dsn = rows.get(hash);
      return dsn ? { dsn, tenant } : undefined;
    },
    touchDsns: async () => undefined,
  } as unknown as MetadataStore;
  return { store, state, rows };
}

describe('DsnCache in a database outage', () => {
  it('serves a known key stale, refuses to guess about an unknown one, and follows the database once back', async () => {
    const { store, state, rows } = fakeMetadata();
    let t = 1_000_000; // lru-cache reads a start time of 0 as "no TTL"
    const clock = { now: () => t };
    const cache = new DsnCache(store, createMessageBus({ driver: 'memory' }), createLogger('silent'), () => 0, 1_000, undefined, clock);

    expect((await cache.resolve(KEY_A))?.dsn.id).toBe('d1');
    t += 5_000; // past the TTL
    state.down = true;
    expect((await cache.resolve(KEY_A))?.dsn.id, 'cached key keeps working').toBe('d1');
    expect(state.queries).toBe(2); // it did ask, and the failure fell back to the last answer

    const err = await cache.resolve(KEY_B).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, 'an uncached key is an error, not "unknown"').toBeInstanceOf(Error);
    expect(classifyBackendError(err)?.backend).toBe('metadata');
    // Concurrent first look-ups share one query and all fail the same way.
    const both = await Promise.allSettled([cache.resolve(KEY_B), cache.resolve(KEY_B)]);
    expect(both.map((r) => r.status)).toEqual(['rejected', 'rejected']);

    state.down = false;
    rows.get(sha256(KEY_A))!.revoked_at = 1;
    t += 5_000;
    expect(await cache.resolve(KEY_A), 'a revocation holds once the database answers').toBeUndefined();
    expect((await cache.resolve(KEY_B))?.dsn.id).toBe('d2');
    await cache.flush();
  });
});
