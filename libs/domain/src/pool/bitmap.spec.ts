import {
  allSet,
  countBits,
  emptyBitmap,
  firstClearInBoth,
  hasBit,
  withBit,
  withoutBit,
  withRange,
} from './bitmap';

describe('bitmap', () => {
  it('sets and clears bits without changing its argument', () => {
    const empty = emptyBitmap(70);
    const one = withBit(empty, 33);
    expect(hasBit(empty, 33)).toBe(false);
    expect(hasBit(one, 33)).toBe(true);
    expect(hasBit(withoutBit(one, 33), 33)).toBe(false);
    expect(hasBit(one, 33)).toBe(true);
  });

  it('sets ranges and counts bits, including bit 31 of a word', () => {
    const bits = withRange(emptyBitmap(100), 30, 65);
    expect(countBits(bits)).toBe(36);
    expect(allSet(bits, 30, 65)).toBe(true);
    expect(allSet(bits, 29, 65)).toBe(false);
  });

  it('finds the lowest index free in both maps, within the size', () => {
    const size = 64;
    const a = withRange(emptyBitmap(size), 0, 30);
    const b = withBit(emptyBitmap(size), 31);
    expect(firstClearInBoth(a, b, size)).toBe(32);
    expect(firstClearInBoth(withRange(a, 0, 62), b, size)).toBe(63);
    expect(firstClearInBoth(withRange(a, 0, 63), b, size)).toBeUndefined();
    // The last word's bits beyond the size do not count as free.
    expect(
      firstClearInBoth(withRange(emptyBitmap(40), 0, 39), emptyBitmap(40), 40),
    ).toBeUndefined();
  });
});
