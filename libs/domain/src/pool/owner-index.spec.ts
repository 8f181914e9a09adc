import { emptyOwnerIndex, ownerValue, withOwner, withoutOwner } from './owner-index';

describe('owner index', () => {
  it('maps owners to numbers without changing earlier versions', () => {
    const empty = emptyOwnerIndex();
    const one = withOwner(empty, 'pod-1', 7);
    const two = withOwner(one, 'pod-2', 9);
    expect([ownerValue(two, 'pod-1'), ownerValue(two, 'pod-2'), two.size]).toEqual([7, 9, 2]);
    expect([ownerValue(one, 'pod-2'), one.size, ownerValue(empty, 'pod-1'), empty.size]).toEqual([
      undefined,
      1,
      undefined,
      0,
    ]);
  });

  it('replaces and removes entries, keeping the size right', () => {
    const index = withOwner(withOwner(emptyOwnerIndex(), 'pod-1', 7), 'pod-1', 8);
    expect([ownerValue(index, 'pod-1'), index.size]).toEqual([8, 1]);
    const removed = withoutOwner(index, 'pod-1');
    expect([ownerValue(removed, 'pod-1'), removed.size]).toEqual([undefined, 0]);
    expect(withoutOwner(removed, 'pod-1')).toBe(removed);
  });

  it('spreads the owners of one shard over many buckets', () => {
    let index = emptyOwnerIndex();
    for (let i = 0; i < 4096; i++) index = withOwner(index, `pod-${i * 64}`, i);
    expect(Math.max(...index.buckets.map((bucket) => bucket.size))).toBeLessThan(64);
  });
});
