/**
 * The order of an events file as the SDK writes it into its bundle: by ts, layer, kind, summary
 * (a missing field sorts as ""), stable. Lines that are not JSON objects keep their place at the
 * end in arrival order; every line comes back byte for byte.
 */
const field = (o: Record<string, unknown>, k: string): string => (typeof o[k] === 'string' ? (o[k] as string) : '');

export function sortEventLines(buf: Buffer): Buffer {
  const text = buf.toString('utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const keyed: Array<{ line: string; key: string[] | undefined; i: number }> = lines.map((line, i) => {
    try {
      const o = JSON.parse(line) as unknown;
      if (typeof o === 'object' && o !== null && !Array.isArray(o)) {
        const r = o as Record<string, unknown>;
        return { line, key: [field(r, 'ts'), field(r, 'layer'), field(r, 'kind'), field(r, 'summary')], i };
      }
    } catch {
      // not JSON: kept at the end
    }
    return { line, key: undefined, i };
  });
  keyed.sort((a, b) => {
    if (!a.key || !b.key) return a.key ? -1 : b.key ? 1 : a.i - b.i;
    for (let k = 0; k < 4; k++) {
      const x = a.key[k]!;
      const y = b.key[k]!;
      if (x !== y) return x < y ? -1 : 1;
    }
    return a.i - b.i;
  });
  return Buffer.from(keyed.map((k) => `${k.line}\n`).join(''), 'utf8');
}
