import type { IdFilter } from './id-filter';

/** What the tracker keeps of an event: enough to answer for it. */
export interface TrackedEvent {
  readonly id: string;
  readonly type: string;
  readonly stream: string;
  readonly position: number;
  readonly recordedAtMs: number;
}

/**
 * The window of the last `capacity` events of the log, by id: a ring in log order and a map
 * from id. An event that leaves the window goes into `evicted` (a Bloom filter), so an id that
 * is not in the window can still be told apart: "older than the window" (the filter may hold
 * it) or "never in the log" (it certainly does not).
 *
 * Events are added in increasing position order, each once (the log gives each id once).
 */
export class RecentEvents {
  private readonly ring: (TrackedEvent | undefined)[];
  private readonly byId = new Map<string, TrackedEvent>();
  /** Ring index of the oldest event. */
  private head = 0;
  private count = 0;
  private evictedPosition = 0;

  constructor(
    readonly capacity: number,
    private readonly evicted: IdFilter,
  ) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    }
    this.ring = new Array<TrackedEvent | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Position of the newest event that left the window; 0 while none has. */
  get evictedUpTo(): number {
    return this.evictedPosition;
  }

  /** Position of the oldest event in the window; undefined while it is empty. */
  get oldestPosition(): number | undefined {
    return this.count === 0 ? undefined : this.ring[this.head]!.position;
  }

  add(event: TrackedEvent): void {
    if (this.count === this.capacity) {
      const oldest = this.ring[this.head]!;
      this.byId.delete(oldest.id);
      this.evicted.add(oldest.id);
      this.evictedPosition = oldest.position;
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.count--;
    }
    this.ring[(this.head + this.count) % this.capacity] = event;
    this.byId.set(event.id, event);
    this.count++;
  }

  get(id: string): TrackedEvent | undefined {
    return this.byId.get(id);
  }

  /** Whether `id` may have left the window (false: it never was in it). */
  mayHaveLeft(id: string): boolean {
    return this.evicted.mightContain(id);
  }

  /** The newest `n` events whose position is above `after`, oldest first. */
  last(n: number, after = 0): TrackedEvent[] {
    const events: TrackedEvent[] = [];
    for (let i = this.count - 1; i >= 0 && events.length < n; i--) {
      const event = this.ring[(this.head + i) % this.capacity]!;
      if (event.position <= after) break;
      events.push(event);
    }
    return events.reverse();
  }
}
