import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STALL_MS } from '../../server/services/diagnostics/rules-augur.js';
import { PROFILES, productionAvailable } from '../helpers/backends.js';
import { startTestServer, type TestServer, type TestTenant } from '../helpers/server.js';
import { get, login } from './read-helpers.js';

/** Findings follow every write and the clock, whether or not a read reused an earlier answer. */
for (const profile of PROFILES) {
  describe.skipIf(profile === 'production' && !productionAvailable())(`findings stay fresh (${profile})`, () => {
    let s: TestServer;
    let t: TestTenant;
    let cookie: string;
    beforeAll(async () => {
      s = await startTestServer(profile);
      t = await s.tenant();
      ({ cookie } = await login(s.api, t.email, t.password));
    });
    afterAll(async () => s?.close());

    const put = (i: number, body: Record<string, unknown>) =>
      fetch(`${s.api}/runs/run_fresh/steps/${i}`, { method: 'PUT', headers: { authorization: `Bearer ${t.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ step_id: `run_fresh/step/${i}`, step_index: i, ...body }) });
    const rules = async () => {
      const r = await get(`${s.api}/runs/run_fresh/diagnostics/findings.json`, cookie);
      expect(r.status).toBe(200);
      return ((await r.json()) as { findings: Array<{ rule_id: string; step_index?: number }> }).findings.map((f) => `${f.rule_id}@${f.step_index ?? 'run'}`);
    };

    it('a new failed step and the passing of time both show at the next read', async () => {
      expect((await put(0, { status: 'succeeded', action: { type: 'click' } })).status).toBe(200);
      await s.ctx.runIndex.flush();
      const before = await rules();
      expect(before).not.toContain('cua.uncategorized_failure@1');
      expect(await rules()).toEqual(before);
      expect((await put(1, { status: 'failed', intent: 'submit' })).status).toBe(200);
      expect(await rules()).toContain('cua.uncategorized_failure@1');
      // Nothing written, only time passing: the live run becomes stalled.
      await s.ctx.runIndex.flush();
      expect(await rules()).not.toContain('augur.run_stalled@run');
      s.clock.advance(STALL_MS + 1000);
      expect(await rules()).toContain('augur.run_stalled@run');
    });
  });
}
