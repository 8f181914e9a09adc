/**
 * A latency histogram with fixed bucket bounds (milliseconds), Prometheus style: cumulative
 * counts per upper bound, a sum and a count, plus the exact maximum. Cheap to record into (a
 * binary search over a dozen bounds), mergeable, and rendered as Prometheus text. Quantiles are
 * estimated by linear interpolation inside a bucket, as Prometheus' histogram_quantile does.
 */

/** Default bounds: 1 ms to 60 s, roughly 1-2.5-5 per decade. */
export const DEFAULT_LATENCY_BOUNDS_MS: readonly number[] = [
  1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000,
];

export interface HistogramSummary {
  readonly count: number;
  readonly sumMs: number;
  readonly maxMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  /** Upper bound (ms, `Infinity` for the last) and the count of values at or below it. */
  readonly buckets: ReadonlyArray<readonly [number, number]>;
}

export class LatencyHistogram {
  private readonly counts: number[];
  private total = 0;
  private sum = 0;
  private max = 0;

  constructor(readonly bounds: readonly number[] = DEFAULT_LATENCY_BOUNDS_MS) {
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i] > bounds[i - 1])) throw new RangeError('bounds must increase');
    }
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  get count(): number {
    return this.total;
  }

  record(valueMs: number): void {
    if (!Number.isFinite(valueMs)) return;
    const value = valueMs < 0 ? 0 : valueMs; // clocks of two hosts can disagree by a little
    let low = 0;
    let high = this.bounds.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (value <= this.bounds[mid]) high = mid;
      else low = mid + 1;
    }
    this.counts[low]++;
    this.total++;
    this.sum += value;
    if (value > this.max) this.max = value;
  }

  merge(other: LatencyHistogram): void {
    if (other.bounds.length !== this.bounds.length) throw new RangeError('bounds differ');
    other.counts.forEach((count, i) => (this.counts[i] += count));
    this.total += other.total;
    this.sum += other.sum;
    this.max = Math.max(this.max, other.max);
  }

  /** The q-quantile (0..1), interpolated inside its bucket; never above the maximum seen. */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const rank = q * this.total;
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const count = this.counts[i];
      if (count > 0 && seen + count >= rank) {
        const lower = i === 0 ? 0 : this.bounds[i - 1];
        const upper = i < this.bounds.length ? this.bounds[i] : this.max;
        const estimate = lower + (upper - lower) * ((rank - seen) / count);
        return Math.min(estimate, this.max);
      }
      seen += count;
    }
    return this.max;
  }

  summary(): HistogramSummary {
    let cumulative = 0;
    const buckets = this.counts.map((count, i): [number, number] => {
      cumulative += count;
      return [i < this.bounds.length ? this.bounds[i] : Infinity, cumulative];
    });
    return {
      count: this.total,
      sumMs: this.sum,
      maxMs: this.max,
      p50Ms: this.quantile(0.5),
      p90Ms: this.quantile(0.9),
      p99Ms: this.quantile(0.99),
      buckets,
    };
  }

  /** Prometheus text exposition of this histogram as `name` (seconds, as Prometheus prefers). */
  toPrometheus(name: string, help: string, labels: Readonly<Record<string, string>> = {}): string {
    const base = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
    const withLe = (le: string) => `{${[...base, `le="${le}"`].join(',')}}`;
    const plain = base.length > 0 ? `{${base.join(',')}}` : '';
    const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
    for (const [bound, count] of this.summary().buckets) {
      const le = bound === Infinity ? '+Inf' : String(bound / 1000);
      lines.push(`${name}_bucket${withLe(le)} ${count}`);
    }
    lines.push(`${name}_sum${plain} ${this.sum / 1000}`, `${name}_count${plain} ${this.total}`);
    return `${lines.join('\n')}\n`;
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
