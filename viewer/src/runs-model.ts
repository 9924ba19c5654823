import type { RunRow } from './model.js';
import { isObj } from './util.js';

/** `k=v`, `k:v` or a bare key: does the run carry that tag? */
export function tagMatch(r: RunRow, tag: string): boolean {
  if (!tag) return true;
  const tags = isObj(r.tags) ? r.tags : {};
  const m = /^([^=:]+)[=:](.*)$/.exec(tag);
  if (!m) return Object.keys(tags).some((k) => k.toLowerCase() === tag.toLowerCase());
  const v = tags[m[1]!.trim()];
  return v !== undefined && String(v).toLowerCase() === m[2]!.trim().toLowerCase();
}

/** The SDK names a branch run `<parent>:branch:<8 hex>`: the parent when the list does not say. */
const BRANCH_ID = /^(.+):branch:[0-9a-f]{8}$/;
export const parentOf = (r: RunRow): string | undefined => r.parent_run_id ?? BRANCH_ID.exec(r.run_id)?.[1];

/**
 * Child runs nested under their parent row (parent_run_id from the list, or the branch id). A
 * parent that is not among the rows (another page, or not listed) gets a stand-in row; runs
 * sharing a group_id without a parent are grouped when there are two or more.
 */
export function groupRuns(rows: RunRow[]): RunRow[] {
  // Children the API already grouped under a row stay there.
  const byId = new Map(rows.map((r) => [r.run_id, { ...r, children: [...(r.children ?? [])] }]));
  const out: Array<RunRow | { stand: string }> = [];
  const stands = new Map<string, RunRow>();
  for (const r of byId.values()) {
    const parentId = parentOf(r);
    const parent = parentId ? byId.get(parentId) : undefined;
    if (parent && parent !== r) {
      parent.children!.push(r);
      continue;
    }
    const key = parentId ? `run:${parentId}` : r.group_id ? `group:${r.group_id}` : undefined;
    if (!key) {
      out.push(r);
      continue;
    }
    let g = stands.get(key);
    if (!g) {
      g = parentId ? { run_id: parentId, children: [] } : { run_id: `group ${r.group_id}`, group_id: r.group_id, children: [] };
      stands.set(key, g);
      out.push({ stand: key });
    }
    g.children!.push(r);
  }
  return out.flatMap((x) => {
    if (!('stand' in x)) return [x];
    const g = stands.get(x.stand)!;
    return g.group_id && g.children!.length < 2 ? g.children! : [g];
  });
}
