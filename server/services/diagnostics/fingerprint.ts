import { createHash } from 'node:crypto';

/**
 * The SDK's trajectory fingerprint `cua_v1` (manifest.trajectory_fingerprint), computed the same
 * way so the server can give one to runs whose manifest has none and group runs by it.
 *
 * Each step becomes a token `<action.type>:<failure_class, else verdict.status>:<target label>`,
 * the label lower-cased with everything but [a-z0-9] removed. The fingerprint is
 * `cua_v1:` + the first 32 hex digits of SHA-256 over the tokens joined by newlines (order
 * matters) + the first 32 hex digits of SHA-256 over the distinct adjacent token pairs
 * (`a|b`), sorted and joined by newlines (a local change moves only the pairs around it).
 */
export const FINGERPRINT_ALGORITHM = 'cua_v1';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Python's `x or ""` for a field rendered into an f-string. */
function text(v: unknown): string {
  if (v === undefined || v === null || v === '' || v === false || v === 0) return '';
  if (typeof v === 'string') return v;
  if (v === true) return 'True';
  return String(v);
}

function field(holder: unknown, name: string): string {
  return isObject(holder) ? text(holder[name]) : '';
}

function normalizeLabel(label: string): string {
  return label.toLowerCase().replace(/[^a-z0-9]+/g, '');
}

export function stepToken(step: Record<string, unknown>): string {
  const actionType = field(step.action || {}, 'type');
  const outcome = text(step.failure_class) || field(step.verdict || {}, 'status');
  const target = normalizeLabel(field(step.grounding || {}, 'target_label'));
  return `${actionType}:${outcome}:${target}`;
}

const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

/** Code-point order, as Python sorts strings. */
const byCodePoint = (a: string, b: string): number => {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d) return d;
  }
  return x.length - y.length;
};

/** cua_v1 over the steps in trajectory order. */
export function cuaV1(steps: ReadonlyArray<Record<string, unknown>>): string {
  const tokens = steps.map(stepToken);
  const linear = sha256(tokens.join('\n'));
  const pairs = tokens.length === 0 ? [] : tokens.length < 2 ? [tokens.join('|')] : tokens.slice(1).map((t, i) => `${tokens[i]}|${t}`);
  const bigrams = sha256([...new Set(pairs)].sort(byCodePoint).join('\n'));
  return `${FINGERPRINT_ALGORITHM}:${linear.slice(0, 32)}${bigrams.slice(0, 32)}`;
}

/** cua_v1 of a merged trace (the run's steps by index), for the run index and GET /runs?fingerprint=. */
export function fingerprintOfTrace(trace: { steps: ReadonlyArray<{ raw: string }> }): string {
  const steps = trace.steps.flatMap((s) => {
    try {
      const v = JSON.parse(s.raw) as unknown;
      return isObject(v) ? [v] : [];
    } catch {
      return [];
    }
  });
  return cuaV1(steps);
}
