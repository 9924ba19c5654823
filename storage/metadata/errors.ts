/** A write collided with a unique key (a taken slug or email, say). */
export class ConflictError extends Error {
  constructor(readonly constraint?: string) {
    super(`conflict${constraint ? ` on ${constraint}` : ''}`);
  }
}

/** The one place that knows each dialect's error shapes: pg 23505 and SQLite's UNIQUE/PRIMARY KEY both mean "conflict". */
export function translateDbError(err: unknown): unknown {
  const e = err as { code?: string; constraint?: string; message?: string };
  if (e?.code === '23505') return new ConflictError(e.constraint);
  if (e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    return new ConflictError(/UNIQUE constraint failed: (\S+)/.exec(e.message ?? '')?.[1]);
  }
  return err;
}
