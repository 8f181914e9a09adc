import { parseCidr } from '../net/cidr';
import {
  assertShardCount,
  defaultShardCount,
  homeShard,
  ownerHash,
  poolShardStream,
  shardOfAddress,
  shardProbeOrder,
  shardRange,
} from './sharding';

describe('pool sharding', () => {
  it('names shard streams poolshard-<pool>.<n>', () => {
    expect(poolShardStream('pods', 3)).toBe('poolshard-pods.3');
  });

  it('gives a pool one shard per 1024 addresses by default', () => {
    expect(defaultShardCount(parseCidr('10.0.0.0/16'))).toBe(64);
    expect(defaultShardCount(parseCidr('10.0.0.0/22'))).toBe(1);
    expect(defaultShardCount(parseCidr('10.0.0.0/24'))).toBe(1);
    expect(defaultShardCount(parseCidr('10.0.0.0/8'))).toBe(16_384);
  });

  it('accepts shard counts that leave every shard at most a /16 and at least one address', () => {
    expect(assertShardCount(parseCidr('10.0.0.0/16'), 1)).toBe(1);
    expect(() => assertShardCount(parseCidr('10.0.0.0/28'), 17)).toThrow(/1-16/);
    expect(() => assertShardCount(parseCidr('10.0.0.0/8'), 255)).toThrow(/256-16384/);
    expect(() => assertShardCount(parseCidr('10.0.0.0/24'), 1.5)).toThrow();
  });

  it('cuts the CIDR into contiguous slices that cover it exactly once', () => {
    for (const [cidrText, count] of [
      ['10.0.0.0/28', 3],
      ['10.0.0.0/24', 7],
      ['10.0.0.0/16', 64],
    ] as const) {
      const cidr = parseCidr(cidrText);
      let expectedFirst = cidr.network;
      for (let shard = 0; shard < count; shard++) {
        const { first, last } = shardRange(cidr, count, shard);
        expect(first).toBe(expectedFirst);
        expect(last).toBeGreaterThanOrEqual(first);
        expectedFirst = last + 1;
      }
      expect(expectedFirst).toBe(cidr.network + 2 ** (32 - cidr.prefix));
    }
  });

  it('finds the shard of every address, also for uneven slices', () => {
    const cidr = parseCidr('10.0.0.0/26');
    for (const count of [1, 3, 5, 64]) {
      for (let shard = 0; shard < count; shard++) {
        const { first, last } = shardRange(cidr, count, shard);
        for (let address = first; address <= last; address++) {
          expect(shardOfAddress(cidr, count, address)).toBe(shard);
        }
      }
    }
  });

  it('hashes owners with 32-bit FNV-1a (stable across processes and languages)', () => {
    expect(ownerHash('')).toBe(0x811c9dc5);
    expect(ownerHash('a')).toBe(0xe40c292c);
    expect(ownerHash('foobar')).toBe(0xbf9cf968);
  });

  it('probes the home shard first, then the others in order, each once', () => {
    const order = shardProbeOrder('pod-7f3a', 8);
    expect(order[0]).toBe(homeShard('pod-7f3a', 8));
    expect([...order].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (let i = 1; i < order.length; i++) expect(order[i]).toBe((order[i - 1] + 1) % 8);
    expect(shardProbeOrder('pod-7f3a', 1)).toEqual([0]);
  });

  it('spreads owners over the shards', () => {
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[homeShard(`pod-${i}`, 16)]++;
    for (const count of counts) expect(count).toBeGreaterThan(800);
  });
});
