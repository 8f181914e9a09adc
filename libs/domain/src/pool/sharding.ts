import { cidrSize, type AddressRange, type Cidr } from '../net/cidr';
import { DomainError } from '../shared/errors';

/**
 * IPAM: one global address space, sharded so allocation scales.
 *
 * Why shards. Every append checks the stream's expected revision, so all writes to one stream
 * serialise. A pool kept in one stream would cap the whole cluster's pod starts at one append
 * (plus retries on conflict) at a time. Strata splits each pool into shards, each its own
 * aggregate and stream, so allocations on different shards never contend.
 *
 * Layout. `pool-<id>` (./address-pool.ts) holds the pool's CIDR, kind ('pod' or 'vip'), shard
 * count and reserved ranges; it changes rarely. The CIDR is cut into `shardCount` contiguous
 * slices of (nearly) equal size; shard n owns slice n and lives in `poolshard-<id>.<n>`
 * (./pool-shard.ts). By default a slice holds 1024 addresses: a /16 pool is 64 shards, a /24 is
 * one. The layout is fixed when the pool is created (no per-node blocks: any node's pod can get
 * any address). Before that, the pool's CIDR is claimed in the global address space
 * (`addrspace-global`, ./address-space.ts), so no two pools, pod or VIP, overlap.
 *
 * Routing. The IPAM service sends an owner's allocation to its home shard,
 * FNV-1a(owner) mod shardCount, so the same owner always meets the same shard, which answers a
 * repeated request with the address already held. If that shard is full it does not just say
 * so: it records `AllocationSpilled` (owner -> next shard) and the service follows to the next
 * shard in `shardProbeOrder` (home, home+1, ... wrapping). The marker makes the chain durable:
 * without it, an owner that overflowed to shard h+1 and asked again after shard h freed an
 * address would get a second address in h. With it, every retry walks the same chain, and two
 * concurrent requests of one owner serialise on its home shard. A shard whose next shard would
 * be the owner's home shard again (every shard was full) throws PoolExhausted.
 *
 * Release walks the chain from the home shard to the shard holding the address, releases the
 * address there first, then the spill markers from the end backwards (`SpillReleased`): a crash
 * midway leaves a chain that still leads to where the address was, and a retry finishes it.
 *
 * Opening. A shard starts with `PoolShardOpened`, built from the pool's state by
 * `openShardCommand`; the service opens shards after `PoolCreated` or lazily when a shard says
 * NotFound. Reservations: the pool records `RangeReserved`, the service fans it out with
 * `shardReserveCommands`, and a shard opened later gets every reservation at opening. An address
 * that is already held when its range is reserved stays with its owner and is never handed out
 * again once released. A specific address (a requested service VIP) goes straight to the shard
 * that owns it (`shardOfAddress`), with no chain.
 *
 * Determinism. Inside a shard, allocation takes the lowest free address. Across the pool,
 * addresses are spread by owner hash, so the pool as a whole does not fill lowest-first.
 *
 * Compact state. A shard keeps two bitmaps over its slice (allocated, reserved: 128 bytes each
 * for 1024 addresses) and an owner -> address index copied on write by bucket
 * (./owner-index.ts); free space is never stored. Folding a full 1024-address shard takes a few
 * milliseconds; the largest shard allowed (a /16) about two seconds.
 *
 * VIPs: a pool of kind 'vip' is the same pool and shards; owners are services.
 */
export const poolShardStream = (poolId: string, shard: number): string =>
  `poolshard-${poolId}.${shard}`;

/** Addresses per shard when the pool does not say otherwise. */
export const DEFAULT_SHARD_SIZE = 1024;
/** Largest slice a shard may own (a /16). */
export const MAX_SHARD_SIZE = 65_536;
/** Most shards a pool may have (a /8 at the default shard size). */
export const MAX_SHARDS = 16_384;
/** Largest pool: a /8. */
export const MIN_POOL_PREFIX = 8;

export function defaultShardCount(cidr: Cidr): number {
  return Math.max(1, Math.min(MAX_SHARDS, cidrSize(cidr) / DEFAULT_SHARD_SIZE));
}

/** Validates a shard count for a pool over `cidr`; throws InvalidArgument. */
export function assertShardCount(cidr: Cidr, value: unknown): number {
  const size = cidrSize(cidr);
  const max = Math.min(MAX_SHARDS, size);
  const min = Math.ceil(size / MAX_SHARD_SIZE);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new DomainError(
      'InvalidArgument',
      `shard count for a /${cidr.prefix} pool must be an integer ${min}-${max}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

export function assertShardIndex(value: unknown, shardCount: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= shardCount) {
    throw new DomainError(
      'InvalidArgument',
      `shard must be an integer 0-${shardCount - 1}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** The addresses shard `shard` of `shardCount` owns: slice n is [n*size/count, (n+1)*size/count). */
export function shardRange(cidr: Cidr, shardCount: number, shard: number): AddressRange {
  const size = cidrSize(cidr);
  return {
    first: cidr.network + Math.floor((shard * size) / shardCount),
    last: cidr.network + Math.floor(((shard + 1) * size) / shardCount) - 1,
  };
}

/** The shard whose slice holds `address` (which must be inside `cidr`). */
export function shardOfAddress(cidr: Cidr, shardCount: number, address: number): number {
  const offset = address - cidr.network;
  return Math.ceil(((offset + 1) * shardCount) / cidrSize(cidr)) - 1;
}

/** 32-bit FNV-1a of the owner's characters (owners are ASCII ids, so characters are bytes). */
export function ownerHash(owner: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < owner.length; i++) {
    hash = Math.imul(hash ^ owner.charCodeAt(i), 0x01000193);
  }
  return hash >>> 0;
}

/** The shard an owner's allocation starts at. */
export function homeShard(owner: string, shardCount: number): number {
  return ownerHash(owner) % shardCount;
}

export function nextShard(shard: number, shardCount: number): number {
  return (shard + 1) % shardCount;
}

/** The order the IPAM service tries shards for an owner: its home shard, then onwards. */
export function shardProbeOrder(owner: string, shardCount: number): number[] {
  const home = homeShard(owner, shardCount);
  return Array.from({ length: shardCount }, (_, i) => (home + i) % shardCount);
}
