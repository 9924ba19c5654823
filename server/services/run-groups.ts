import type { MetadataStore, RunHead } from '../../storage/metadata/index.js';
import type { RunsQuery } from './run-reads.js';
import { runSummary, syntheticParent, type RunSummary } from './run-summary.js';

/**
 * The grouped runs list (the SDK's fan-out contract): runs that share a
 * `branch_context.parent_run_id` are listed under their parent, a real run or a row synthesised
 * from them when no run has that id.
 */

/** Children listed under a parent row; the rest are read with `?parent_run_id=`. */
export const MAX_CHILDREN = 50;

/**
 * Parent rows with their children: runs without a parent, and one synthesised row per parent id
 * that no run has. Pages are keyset positions over those rows alone, so children never shift them.
 */
export async function listGroupedRuns(
  metadata: MetadataStore,
  tenantId: string,
  q: Pick<RunsQuery, 'limit' | 'before' | 'since'>,
  cursorOf: (h: RunHead) => string,
) {
  const heads = await metadata.listRunHeads({ tenant_id: tenantId, limit: q.limit + 1, before: q.before, since: q.since });
  const page = heads.slice(0, q.limit);
  const ids = page.map((h) => h.run_id);
  const [real, rollups] = await Promise.all([
    metadata.getRuns(tenantId, page.filter((h) => !h.synthetic).map((h) => h.run_id)),
    metadata.summarizeChildren(tenantId, ids),
  ]);
  // Most pages have no parents: their children are only looked up when a roll-up says there are some.
  const children = rollups.length ? await metadata.listChildren(tenantId, rollups.map((r) => r.parent_run_id), MAX_CHILDREN) : [];
  const realById = new Map(real.map((r) => [r.run_id, r]));
  const rollupById = new Map(rollups.map((c) => [c.parent_run_id, c]));
  const childrenById = new Map<string, RunSummary[]>();
  for (const c of children) {
    const list = childrenById.get(c.parent_run_id!) ?? [];
    list.push(runSummary(c));
    childrenById.set(c.parent_run_id!, list);
  }
  const runs = [];
  for (const h of page) {
    const row = realById.get(h.run_id);
    const rollup = rollupById.get(h.run_id);
    // A head whose rows changed between the queries (a parent arrived, children went) is skipped.
    const base = h.synthetic ? (rollup ? syntheticParent(rollup) : undefined) : row ? runSummary(row) : undefined;
    if (!base) continue;
    runs.push({ ...base, synthetic: h.synthetic, children_count: rollup?.count ?? 0, children: childrenById.get(h.run_id) ?? [] });
  }
  const last = page[page.length - 1];
  return { runs, next_cursor: heads.length > q.limit && last ? cursorOf(last) : null };
}
