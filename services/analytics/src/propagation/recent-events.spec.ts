import { IdFilter } from './id-filter';
import { RecentEvents, type TrackedEvent } from './recent-events';

const event = (position: number): TrackedEvent => ({
  id: `e${position}`,
  type: 'EndpointCreated',
  stream: `endpoint-p${position}`,
  position,
  recordedAtMs: 1_000 + position,
});

const window = (capacity: number, positions: readonly number[]) => {
  const events = new RecentEvents(capacity, new IdFilter(1 << 12));
  for (const position of positions) events.add(event(position));
  return events;
};

describe('RecentEvents', () => {
  it('finds the events of its window by id', () => {
    const events = window(3, [1, 2, 3]);
    expect(events.get('e2')).toEqual(event(2));
    expect(events.size).toBe(3);
    expect(events.oldestPosition).toBe(1);
    expect(events.evictedUpTo).toBe(0);
    expect(events.get('e9')).toBeUndefined();
    expect(events.mayHaveLeft('e9')).toBe(false);
  });

  it('keeps the last `capacity` events; those that left are remembered as having left', () => {
    const events = window(3, [1, 2, 5, 9, 10]);
    expect(events.size).toBe(3);
    expect(events.get('e1')).toBeUndefined();
    expect(events.get('e2')).toBeUndefined();
    expect(events.get('e5')).toEqual(event(5));
    expect(events.oldestPosition).toBe(5);
    expect(events.evictedUpTo).toBe(2);
    expect(events.mayHaveLeft('e1')).toBe(true);
    expect(events.mayHaveLeft('e2')).toBe(true);
    expect(events.mayHaveLeft('e11')).toBe(false);
  });

  it('lists the newest events, oldest first, above a position', () => {
    const events = window(4, [1, 2, 3, 4, 5, 6]);
    expect(events.last(2).map((e) => e.position)).toEqual([5, 6]);
    expect(events.last(10).map((e) => e.position)).toEqual([3, 4, 5, 6]);
    expect(events.last(10, 4).map((e) => e.position)).toEqual([5, 6]);
    expect(events.last(10, 6)).toEqual([]);
    expect(window(2, []).last(5)).toEqual([]);
  });

  it('has no oldest position while empty', () => {
    expect(window(2, []).oldestPosition).toBeUndefined();
  });
});
