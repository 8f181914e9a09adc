import { AppliedPoints } from './applied-points';
import {
  eventPropagation,
  percentile,
  recentPropagation,
  summarize,
  type NodeView,
} from './propagation-report';
import type { TrackedEvent } from './recent-events';

const T0 = Date.parse('2025-03-01T12:00:00.000Z');
const event = (position: number): TrackedEvent => ({
  id: `id-${position}`,
  type: 'EndpointCreated',
  stream: `endpoint-pod-${position}`,
  position,
  recordedAtMs: T0 + position,
});

const points = (...pairs: [number, number][]) => {
  const held = new AppliedPoints(100);
  for (const [position, atMs] of pairs) held.add(position, atMs);
  return held;
};

const NODES: NodeView[] = [
  { node: 'node-1', liveness: 'ready', points: points([5, T0 + 7.25], [9, T0 + 12]) },
  { node: 'node-2', liveness: 'ready', points: points([4, T0 + 6]) },
  { node: 'node-3', liveness: 'down', points: points([3, T0 + 4]) },
  { node: 'node-4', liveness: 'ready', points: undefined },
  { node: 'node-5', liveness: 'unregistered', points: points([12, T0 + 30]) },
];

describe('eventPropagation', () => {
  it('lists each node: applied (when, how long after), pending, or down', () => {
    expect(eventPropagation(event(3), NODES)).toEqual({
      eventId: 'id-3',
      type: 'EndpointCreated',
      stream: 'endpoint-pod-3',
      position: 3,
      recordedAt: '2025-03-01T12:00:00.003Z',
      nodes: [
        { node: 'node-1', status: 'applied', appliedAt: '2025-03-01T12:00:00.007Z', afterMs: 4.25 },
        { node: 'node-2', status: 'applied', appliedAt: '2025-03-01T12:00:00.006Z', afterMs: 3 },
        { node: 'node-3', status: 'applied', appliedAt: '2025-03-01T12:00:00.004Z', afterMs: 1 },
        { node: 'node-4', status: 'pending' },
        { node: 'node-5', status: 'applied', appliedAt: '2025-03-01T12:00:00.030Z', afterMs: 27 },
      ],
      summary: { applied: 4, pending: 1, down: 0, p50Ms: 3, p99Ms: 27, maxMs: 27 },
    });
  });

  it('says down for a node marked down that has not applied it', () => {
    const { nodes, summary } = eventPropagation(event(5), NODES);
    expect(nodes.map((row) => row.status)).toEqual([
      'applied',
      'pending',
      'down',
      'pending',
      'applied',
    ]);
    expect(summary).toMatchObject({ applied: 2, pending: 2, down: 1 });
  });

  it('has no percentiles while no node has applied it', () => {
    expect(eventPropagation(event(20), NODES).summary).toEqual({
      applied: 0,
      pending: 4,
      down: 1,
      p50Ms: null,
      p99Ms: null,
      maxMs: null,
    });
  });
});

describe('recentPropagation', () => {
  it('summarises each event and every (event, node) pair', () => {
    const recent = recentPropagation([event(4), event(9)], NODES.slice(0, 2));
    expect(recent.events).toEqual([
      {
        eventId: 'id-4',
        type: 'EndpointCreated',
        stream: 'endpoint-pod-4',
        position: 4,
        recordedAt: '2025-03-01T12:00:00.004Z',
        summary: { applied: 2, pending: 0, down: 0, p50Ms: 2, p99Ms: 3.25, maxMs: 3.25 },
      },
      expect.objectContaining({
        position: 9,
        summary: { applied: 1, pending: 1, down: 0, p50Ms: 3, p99Ms: 3, maxMs: 3 },
      }),
    ]);
    expect(recent.summary).toEqual({
      events: 2,
      applied: 3,
      pending: 1,
      down: 0,
      p50Ms: 3,
      p99Ms: 3.25,
      maxMs: 3.25,
    });
  });

  it('is empty for no events', () => {
    expect(recentPropagation([], NODES)).toEqual({
      events: [],
      summary: {
        events: 0,
        applied: 0,
        pending: 0,
        down: 0,
        p50Ms: null,
        p99Ms: null,
        maxMs: null,
      },
    });
  });
});

describe('summarize and percentile', () => {
  it('takes the nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([7], 50)).toBe(7);
    expect(percentile([1, 2], 50)).toBe(1);
    expect(percentile([1, 2], 99)).toBe(2);
  });

  it('refuses no values and percentiles out of range', () => {
    expect(() => percentile([], 50)).toThrow(RangeError);
    expect(() => percentile([1], 0)).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  it('sorts what it is given', () => {
    const row = (afterMs: number) =>
      ({ node: 'n', status: 'applied', appliedAt: '', afterMs }) as const;
    expect(summarize([row(9), row(1), row(5)])).toMatchObject({ p50Ms: 5, maxMs: 9 });
  });
});
