import type { ObjectStore } from '../../storage/objects/index.js';
import { BundleKeys, SIDE_EFFECT_NAME_RE, SIDE_EFFECT_STATUSES, type SideEffectStatus } from './bundle.js';
import { mapLimit } from './map-limit.js';

/**
 * The SDK files the server keeps as one object per entry (side effect states, outcomes, eval
 * candidates) and assembles on read. Entries are small JSON bodies stored verbatim; several
 * replicas writing different entries of one run at once never overwrite each other.
 */
const READ_CONCURRENCY = 16;

/**
 * Which state of a side effect is its latest, whatever order the posts arrived in: a terminal state
 * never goes back to intent_only, and committed outranks aborted (a commit means the action ran;
 * an abort racing it, from a kill say, cannot undo that). Within one state the last post wins.
 */
const RANK: Record<SideEffectStatus, number> = { intent_only: 0, aborted: 1, committed: 2 };

export function outranks(a: SideEffectStatus, b: SideEffectStatus): boolean {
  return RANK[a] > RANK[b];
}

/** The latest state's key and size of one side effect (`NNNN-<id>`), or undefined when none was posted. */
export async function latestSideEffect(objects: ObjectStore, keys: BundleKeys, name: string): Promise<{ key: string; size: number; lastModified: Date } | undefined> {
  let best: { key: string; size: number; lastModified: Date; status: SideEffectStatus } | undefined;
  const prefix = keys.sideEffectStates(name);
  for await (const o of objects.list(prefix)) {
    const status = o.key.slice(prefix.length).replace(/\.json$/, '') as SideEffectStatus;
    if (!(SIDE_EFFECT_STATUSES as readonly string[]).includes(status)) continue;
    if (!best || outranks(status, best.status)) best = { key: o.key, size: o.size, lastModified: o.lastModified, status };
  }
  return best;
}

export interface BundleFile {
  path: string;
  size: number;
  last_modified: string;
}

/** Every side effect of the run as its bundle file: `side_effects/NNNN-<id>.json`, latest state's size. */
export async function sideEffectFiles(objects: ObjectStore, keys: BundleKeys): Promise<BundleFile[]> {
  const prefix = keys.sideEffectsRecordsPrefix;
  const best = new Map<string, { size: number; lastModified: Date; status: SideEffectStatus }>();
  for await (const o of objects.list(prefix)) {
    const [name, file] = o.key.slice(prefix.length).split('/');
    const status = file?.replace(/\.json$/, '') as SideEffectStatus;
    if (!name || !SIDE_EFFECT_NAME_RE.test(name) || !(SIDE_EFFECT_STATUSES as readonly string[]).includes(status)) continue;
    const cur = best.get(name);
    if (!cur || outranks(status, cur.status)) best.set(name, { size: o.size, lastModified: o.lastModified, status });
  }
  return [...best].map(([name, b]) => ({ path: `side_effects/${name}.json`, size: b.size, last_modified: b.lastModified.toISOString() }));
}

interface Entry {
  sort: number;
  body: unknown;
  lastModified: Date;
}

async function entries(objects: ObjectStore, prefix: string, sortOf: (name: string) => number | undefined): Promise<Entry[]> {
  const listed: Array<{ key: string; sort: number; lastModified: Date }> = [];
  for await (const o of objects.list(prefix)) {
    const sort = sortOf(o.key.slice(prefix.length));
    if (sort !== undefined) listed.push({ key: o.key, sort, lastModified: o.lastModified });
  }
  const bodies = await mapLimit(listed, READ_CONCURRENCY, (l) => objects.getBuffer(l.key));
  const out: Entry[] = [];
  listed.forEach((l, i) => {
    const b = bodies[i];
    if (b) out.push({ sort: l.sort, body: JSON.parse(b.toString('utf8')) as unknown, lastModified: l.lastModified });
  });
  return out.sort((a, b) => a.sort - b.sort);
}

/** An assembled file: its JSON text and newest entry time; undefined when it has no entry. */
export interface Assembled {
  text: string;
  lastModified: Date;
}

function assemble(field: string, list: Entry[]): Assembled | undefined {
  if (!list.length) return undefined;
  const lastModified = new Date(list.reduce((m, e) => Math.max(m, e.lastModified.getTime()), 0));
  return { text: JSON.stringify({ [field]: list.map((e) => e.body) }), lastModified };
}

/** outcomes.json as the SDK's bundle has it: step outcomes by step index, then the session outcome. */
export async function assembleOutcomes(objects: ObjectStore, keys: BundleKeys): Promise<Assembled | undefined> {
  const list = await entries(objects, keys.outcomesPrefix, (name) => {
    if (name === 'session.json') return Number.MAX_SAFE_INTEGER;
    const m = /^step-([0-9]{4,6})\.json$/.exec(name);
    return m ? Number(m[1]) : undefined;
  });
  return assemble('outcomes', list);
}

/** eval_candidates.json: one candidate per step index, in step order. */
export async function assembleEvalCandidates(objects: ObjectStore, keys: BundleKeys): Promise<Assembled | undefined> {
  const list = await entries(objects, keys.evalCandidatesPrefix, (name) => {
    const m = /^([0-9]{4,6})\.json$/.exec(name);
    return m ? Number(m[1]) : undefined;
  });
  return assemble('candidates', list);
}
