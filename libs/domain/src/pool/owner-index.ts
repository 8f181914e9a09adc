import { ownerHash } from './sharding';

/**
 * An immutable owner -> number map for shard state, copied on write one bucket at a time.
 * A plain Map copied on every event makes folding a shard quadratic (16k allocations took 37 s);
 * with 256 buckets a write copies the bucket array and one bucket, about n/256 entries.
 *
 * Buckets use the top bits of the owner hash after Fibonacci mixing: the shard an owner lives
 * in is chosen from the same hash (mod the shard count), so all owners of one shard share its
 * low bits, and bucketing on those would put them all in a few buckets.
 */
export type OwnerIndex = {
  readonly size: number;
  readonly buckets: readonly ReadonlyMap<string, number>[];
};

const BUCKET_BITS = 8;
const EMPTY_BUCKET: ReadonlyMap<string, number> = new Map();

function bucketOf(owner: string): number {
  return Math.imul(ownerHash(owner), 0x9e3779b1) >>> (32 - BUCKET_BITS);
}

export function emptyOwnerIndex(): OwnerIndex {
  return {
    size: 0,
    buckets: new Array<ReadonlyMap<string, number>>(1 << BUCKET_BITS).fill(EMPTY_BUCKET),
  };
}

export function ownerValue(index: OwnerIndex, owner: string): number | undefined {
  return index.buckets[bucketOf(owner)].get(owner);
}

export function withOwner(index: OwnerIndex, owner: string, value: number): OwnerIndex {
  const b = bucketOf(owner);
  const bucket = new Map(index.buckets[b]);
  const size = bucket.has(owner) ? index.size : index.size + 1;
  const buckets = [...index.buckets];
  buckets[b] = bucket.set(owner, value);
  return { size, buckets };
}

export function withoutOwner(index: OwnerIndex, owner: string): OwnerIndex {
  const b = bucketOf(owner);
  if (!index.buckets[b].has(owner)) return index;
  const bucket = new Map(index.buckets[b]);
  bucket.delete(owner);
  const buckets = [...index.buckets];
  buckets[b] = bucket;
  return { size: index.size - 1, buckets };
}
