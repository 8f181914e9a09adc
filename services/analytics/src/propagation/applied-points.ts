/**
 * One node's applied points, as its agent reports them: (position, appliedAtMs), each meaning
 * "every event at or below `position` is in this node's dataplane since `appliedAtMs`". Kept in
 * increasing position order, at most `capacity` of them (the oldest go first), in two ring
 * buffers of doubles: 16 bytes a point, grown by doubling up to the capacity.
 *
 * The applied time of position p is the time of the first point at or above p: the earliest
 * moment the node is known to hold it. That is exact for every p above `droppedUpTo` (the
 * highest position of a point dropped for room): below it, the point that first covered p may
 * have been dropped, and the answer would be late.
 */
export class AppliedPoints {
  private positions: Float64Array;
  private times: Float64Array;
  /** Physical index of the oldest point. */
  private head = 0;
  private count = 0;
  private dropped = 0;

  constructor(
    readonly capacity: number,
    initialSize = 64,
  ) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    }
    const size = Math.min(capacity, Math.max(1, initialSize));
    this.positions = new Float64Array(size);
    this.times = new Float64Array(size);
  }

  get size(): number {
    return this.count;
  }

  /** The highest position held; 0 when none. */
  get lastPosition(): number {
    return this.count === 0 ? 0 : this.positions[this.physical(this.count - 1)];
  }

  /** The highest position of a point dropped for room; 0 when none was. */
  get droppedUpTo(): number {
    return this.dropped;
  }

  /**
   * Adds a point above the last one. A point at or below the last held position changes
   * nothing and returns false: those events were already applied, earlier (an agent that
   * restarted from an older checkpoint writes them again).
   */
  add(position: number, atMs: number): boolean {
    if (this.count > 0 && position <= this.lastPosition) return false;
    if (this.count === this.capacity) {
      this.dropped = this.positions[this.head];
      this.head = (this.head + 1) % this.positions.length;
      this.count--;
    } else if (this.count === this.positions.length) {
      this.grow();
    }
    const at = this.physical(this.count);
    this.positions[at] = position;
    this.times[at] = atMs;
    this.count++;
    return true;
  }

  /**
   * When the node first held `position`: the time of the first point at or above it, or
   * undefined when no point reaches it yet (pending). Exact above `droppedUpTo`.
   */
  appliedAt(position: number): number | undefined {
    let low = 0;
    let high = this.count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.positions[this.physical(middle)] < position) low = middle + 1;
      else high = middle;
    }
    return low === this.count ? undefined : this.times[this.physical(low)];
  }

  private physical(index: number): number {
    return (this.head + index) % this.positions.length;
  }

  private grow(): void {
    const size = Math.min(this.capacity, this.positions.length * 2);
    const positions = new Float64Array(size);
    const times = new Float64Array(size);
    for (let i = 0; i < this.count; i++) {
      positions[i] = this.positions[this.physical(i)];
      times[i] = this.times[this.physical(i)];
    }
    this.positions = positions;
    this.times = times;
    this.head = 0;
  }
}
