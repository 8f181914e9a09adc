import { createHash } from 'node:crypto';
import { IdFilter } from './id-filter';

const id = (n: number) => createHash('sha256').update(String(n)).digest('hex');

describe('IdFilter', () => {
  it('always finds an id it was given', () => {
    const filter = new IdFilter(1 << 16);
    for (let n = 0; n < 5_000; n++) filter.add(id(n));
    for (let n = 0; n < 5_000; n++) expect(filter.mightContain(id(n))).toBe(true);
    expect(filter.count).toBe(5_000);
  });

  it('rarely claims an id it was not given, when sized for what it holds', () => {
    // 2^16 bits for 5,000 ids: m/n ≈ 13, so about 0.3% false positives with 7 hashes.
    const filter = new IdFilter(1 << 16);
    for (let n = 0; n < 5_000; n++) filter.add(id(n));
    let falsePositives = 0;
    for (let n = 5_000; n < 15_000; n++) if (filter.mightContain(id(n))) falsePositives++;
    expect(falsePositives).toBeLessThan(100);
  });

  it('claims nothing while empty', () => {
    const filter = new IdFilter(64);
    expect(filter.mightContain(id(1))).toBe(false);
    expect(filter.mightContain('')).toBe(false);
  });

  it('refuses a size that is not a power of two, and a silly number of hashes', () => {
    expect(() => new IdFilter(1000)).toThrow(RangeError);
    expect(() => new IdFilter(16)).toThrow(RangeError);
    expect(() => new IdFilter(1024, 0)).toThrow(RangeError);
  });
});
