import type { AppContext } from '../context.js';

/**
 * A count of the writes this process made to each run (ingest writes, background pixel records),
 * so derived answers (findings) can be reused while nothing changed. Exact only where every write
 * of a run goes through one process: the embedded backends (in-process presence), which is the
 * only place readers use it (`exact`).
 */
const versions = new WeakMap<AppContext, Map<string, number>>();

function mapOf(ctx: AppContext): Map<string, number> {
  let m = versions.get(ctx);
  if (!m) versions.set(ctx, (m = new Map()));
  return m;
}

/** Call after a write to the run under `prefix` has completed. */
export function bumpRun(ctx: AppContext, prefix: string): void {
  const m = mapOf(ctx);
  m.set(prefix, (m.get(prefix) ?? 0) + 1);
}

export function runVersion(ctx: AppContext, prefix: string): number {
  return mapOf(ctx).get(prefix) ?? 0;
}

/** Whether this process sees every write: one process on the embedded backends. */
export const versionsExact = (ctx: AppContext): boolean => ctx.stores.presence.kind === 'memory';
