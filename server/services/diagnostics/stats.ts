/** Robust statistics for the outlier rules: the median and the median absolute deviation. */
export function median(xs: readonly number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** MAD scaled by 1.4826, so it estimates the standard deviation of normally distributed data. */
export function scaledMad(xs: readonly number[], med = median(xs)): number {
  return 1.4826 * median(xs.map((x) => Math.abs(x - med)));
}

export interface OutlierBound {
  /** Fewest values before anything is called an outlier. */
  minCount: number;
  /** How many scaled MADs above the median. */
  k: number;
  /** And at least this many times the median. */
  minRatio: number;
  /** And at least this much above the median (absolute units). */
  minExcess: number;
}

/** The value above which a sample is an outlier, or undefined when there are too few samples. */
export function outlierThreshold(xs: readonly number[], b: OutlierBound): number | undefined {
  if (xs.length < b.minCount) return undefined;
  const m = median(xs);
  return Math.max(m + b.k * scaledMad(xs, m), m * b.minRatio, m + b.minExcess);
}
