import { LatencyHistogram } from './histogram';

describe('LatencyHistogram', () => {
  it('counts values into cumulative buckets with sum, count and max', () => {
    const histogram = new LatencyHistogram([1, 10, 100]);
    for (const value of [0.5, 1, 2, 9, 50, 500, -3]) histogram.record(value);
    const summary = histogram.summary();
    expect(summary.count).toBe(7);
    expect(summary.maxMs).toBe(500);
    expect(summary.sumMs).toBeCloseTo(562.5);
    expect(summary.buckets).toEqual([
      [1, 3],
      [10, 5],
      [100, 6],
      [Infinity, 7],
    ]);
  });

  it('estimates quantiles inside the bucket and never past the maximum', () => {
    const histogram = new LatencyHistogram([10, 20, 30]);
    for (let i = 1; i <= 100; i++) histogram.record(i < 50 ? 5 : 15);
    expect(histogram.quantile(0.25)).toBeGreaterThan(0);
    expect(histogram.quantile(0.25)).toBeLessThanOrEqual(10);
    expect(histogram.quantile(0.99)).toBeGreaterThan(10);
    expect(histogram.quantile(0.99)).toBeLessThanOrEqual(15);
    expect(new LatencyHistogram().quantile(0.5)).toBe(0);
  });

  it('merges and renders Prometheus text in seconds', () => {
    const a = new LatencyHistogram([1, 10]);
    const b = new LatencyHistogram([1, 10]);
    a.record(0.5);
    b.record(20);
    a.merge(b);
    const text = a.toPrometheus('strata_x_seconds', 'help text', { node: 'n"1' });
    expect(text).toContain('strata_x_seconds_bucket{node="n\\"1",le="0.001"} 1');
    expect(text).toContain('strata_x_seconds_bucket{node="n\\"1",le="+Inf"} 2');
    expect(text).toContain('strata_x_seconds_count{node="n\\"1"} 2');
    expect(() => a.merge(new LatencyHistogram([1]))).toThrow(RangeError);
    expect(() => new LatencyHistogram([2, 1])).toThrow(RangeError);
  });
});
