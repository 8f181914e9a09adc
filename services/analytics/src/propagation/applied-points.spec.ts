import { AppliedPoints } from './applied-points';

describe('AppliedPoints', () => {
  it('answers a position with the time of the first point at or above it', () => {
    const points = new AppliedPoints(10);
    points.add(3, 1_000);
    points.add(7, 1_020.5);
    points.add(8, 1_040);
    expect(points.appliedAt(1)).toBe(1_000);
    expect(points.appliedAt(3)).toBe(1_000);
    expect(points.appliedAt(4)).toBe(1_020.5);
    expect(points.appliedAt(7)).toBe(1_020.5);
    expect(points.appliedAt(8)).toBe(1_040);
    expect(points.appliedAt(9)).toBeUndefined();
    expect(points.lastPosition).toBe(8);
  });

  it('has nothing applied while empty', () => {
    const points = new AppliedPoints(4);
    expect(points.appliedAt(1)).toBeUndefined();
    expect(points.size).toBe(0);
    expect(points.lastPosition).toBe(0);
  });

  it('ignores a point that does not move the position forward (it was applied earlier)', () => {
    const points = new AppliedPoints(10);
    expect(points.add(5, 100)).toBe(true);
    expect(points.add(5, 200)).toBe(false);
    expect(points.add(2, 300)).toBe(false);
    expect(points.size).toBe(1);
    expect(points.appliedAt(2)).toBe(100);
  });

  it('keeps positions even when the clock steps back', () => {
    const points = new AppliedPoints(10);
    points.add(1, 500);
    points.add(2, 400);
    expect(points.appliedAt(2)).toBe(400);
  });

  it('drops the oldest points past its capacity, and says up to where', () => {
    const points = new AppliedPoints(3, 1);
    for (let position = 1; position <= 5; position++) points.add(position * 10, position);
    expect(points.size).toBe(3);
    expect(points.droppedUpTo).toBe(20);
    expect(points.appliedAt(25)).toBe(3);
    expect(points.appliedAt(50)).toBe(5);
    expect(points.appliedAt(51)).toBeUndefined();
  });

  it('grows and wraps its ring without losing order', () => {
    const points = new AppliedPoints(100, 2);
    for (let position = 1; position <= 1_000; position++) points.add(position, position * 2);
    expect(points.size).toBe(100);
    expect(points.droppedUpTo).toBe(900);
    for (let position = 901; position <= 1_000; position++) {
      expect(points.appliedAt(position)).toBe(position * 2);
    }
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new AppliedPoints(0)).toThrow(RangeError);
    expect(() => new AppliedPoints(1.5)).toThrow(RangeError);
  });
});
