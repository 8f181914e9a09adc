import { portBlocks, prefixCovers, toPrefix } from './prefix';

type Blocks = [number, number][];

describe('portBlocks', () => {
  it.each<[number, number, Blocks]>([
    [80, 80, [[80, 16]]],
    [80, 81, [[80, 15]]],
    [
      1,
      3,
      [
        [1, 16],
        [2, 15],
      ],
    ],
    [
      8000,
      8100,
      [
        [8000, 10],
        [8064, 11],
        [8096, 14],
        [8100, 16],
      ],
    ],
    [0, 65_535, [[0, 0]]],
    [
      1024,
      65_535,
      [
        [1024, 6],
        [2048, 5],
        [4096, 4],
        [8192, 3],
        [16_384, 2],
        [32_768, 1],
      ],
    ],
  ])('covers %i-%i with maximal aligned blocks', (lo, hi, blocks) => {
    expect(portBlocks(lo, hi)).toEqual(blocks);
    // Exactly the range, each port once: aligned blocks that follow one another.
    let next = lo;
    for (const [start, bits] of portBlocks(lo, hi)) {
      const size = 2 ** (16 - bits);
      expect(start).toBe(next);
      expect(start % size).toBe(0);
      next = start + size;
    }
    expect(next).toBe(hi + 1);
  });
});

describe('prefixCovers', () => {
  it.each([
    ['10.0.0.0/8', '10.1.0.0/16', true],
    ['10.1.0.0/16', '10.0.0.0/8', false],
    ['10.0.0.0/8', '11.0.0.0/16', false],
    ['0.0.0.0/0', '192.0.2.7/32', true],
    ['192.0.2.0/24', '192.0.2.0/24', true],
  ])('%s covers %s: %p', (outer, inner, expected) => {
    expect(prefixCovers(toPrefix(outer)!, toPrefix(inner)!)).toBe(expected);
  });

  it('reads only canonical prefixes', () => {
    expect(toPrefix('10.0.0.1/8')).toBeUndefined();
    expect(toPrefix('nope')).toBeUndefined();
  });
});
