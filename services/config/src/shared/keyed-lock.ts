import { Injectable } from '@nestjs/common';

/**
 * Runs work one at a time per key, inside this process: a check against the read model and the
 * append it guards (no overlapping subnets, no address twice in a segment) then never interleave
 * with another such pair on the same key. Replicas of the service do not share it (see the
 * service's README: cross-replica checks are a known limitation).
 */
@Injectable()
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const next = previous.then(work);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}

/** Segment creations: two must not pass the subnet overlap check together. */
export const SEGMENTS_LOCK = 'segments';

/** One segment's endpoints (the address-in-use check) and its deletion (no endpoints left). */
export const segmentLock = (segmentId: string): string => `segment:${segmentId}`;
