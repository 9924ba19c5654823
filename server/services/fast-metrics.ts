import type { Metric, Registry } from 'prom-client';

/**
 * Counters and histograms for the request path, exported through a prom-client Registry. A
 * prom-client child (`labels(...)`) still hashes its label object on every `inc`/`observe`
 * (about 0.5 µs each, measured); these children hold plain numbers, so an update is an addition
 * and a bucket scan. Labels are resolved once, when the caller makes the child; the registry
 * reads the children at scrape time through `get()`, the interface its own metrics implement.
 */

type Labels = Record<string, string>;

export class CounterChild {
  value = 0;
  constructor(readonly labels: Labels) {}
  inc(n = 1): void {
    this.value += n;
  }
}

export class HistogramChild {
  /** Observations per bucket (not cumulative: made cumulative at scrape time). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Labels,
    private readonly upper: readonly number[],
  ) {
    this.counts = new Float64Array(upper.length);
  }
  observe(v: number): void {
    const upper = this.upper;
    for (let i = 0; i < upper.length; i++) {
      if (v <= upper[i]!) {
        this.counts[i]!++;
        break;
      }
    }
    this.sum += v;
    this.count++;
  }
}

abstract class FastMetric<C> {
  private readonly children = new Map<string, C>();
  abstract readonly type: 'counter' | 'histogram';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric<string>);
  }

  protected abstract make(labels: Labels): C;

  /** The child for these label values (in labelNames order), made on first use; keep it rather than calling this per update. */
  labels(...values: string[]): C {
    if (values.length !== this.labelNames.length) throw new Error(`${this.name} takes ${this.labelNames.length} label values`);
    const key = values.join('\u0000');
    let c = this.children.get(key);
    if (!c) {
      const labels: Labels = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i]!));
      this.children.set(key, (c = this.make(labels)));
    }
    return c;
  }

  protected all(): IterableIterator<C> {
    return this.children.values();
  }
}

export class FastCounter extends FastMetric<CounterChild> {
  readonly type = 'counter';
  protected make(labels: Labels): CounterChild {
    return new CounterChild(labels);
  }
  get(): { name: string; help: string; type: string; aggregator: string; values: Array<{ labels: Labels; value: number }> } {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: [...this.all()].map((c) => ({ labels: c.labels, value: c.value })) };
  }
}

export class FastHistogram extends FastMetric<HistogramChild> {
  readonly type = 'histogram';
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    registry: Registry,
    readonly buckets: readonly number[],
  ) {
    super(name, help, labelNames, registry);
  }
  protected make(labels: Labels): HistogramChild {
    return new HistogramChild(labels, this.buckets);
  }
  get(): { name: string; help: string; type: string; aggregator: string; values: Array<{ labels: Labels; value: number; metricName: string }> } {
    const values: Array<{ labels: Labels; value: number; metricName: string }> = [];
    for (const c of this.all()) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += c.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...c.labels, le: String(le) }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { ...c.labels, le: '+Inf' }, value: c.count });
      values.push({ metricName: `${this.name}_sum`, labels: c.labels, value: c.sum });
      values.push({ metricName: `${this.name}_count`, labels: c.labels, value: c.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
