import {
  clipRange,
  formatAddressRange,
  formatCidr,
  mergeRanges,
  parseAddressRange,
  parseCidr,
  rangeContains,
  type AddressRange,
} from '../net/cidr';
import { formatIpv4, parseIpv4 } from '../net/ipv4';
import type { Command, Decider, Event } from '../shared/decider';
import { DomainError } from '../shared/errors';
import { assertId } from '../shared/ids';
import {
  allSet,
  countBits,
  emptyBitmap,
  firstClearInBoth,
  hasBit,
  withBit,
  withoutBit,
  withRange,
  type Bitmap,
} from './bitmap';
import {
  emptyOwnerIndex,
  ownerValue,
  withOwner,
  withoutOwner,
  type OwnerIndex,
} from './owner-index';
import { assertShardCount, assertShardIndex, homeShard, nextShard, shardRange } from './sharding';

/**
 * PoolShard: one slice of an address pool, and the aggregate that allocates from it.
 * Stream: `poolshard-<poolId>.<shard>`. How shards fit together is told in ./sharding.ts.
 */
export interface IpRangeData {
  readonly first: string;
  readonly last: string;
}

export type PoolShardOpened = Event<
  'PoolShardOpened',
  {
    poolId: string;
    shard: number;
    shardCount: number;
    cidr: string;
    /** The slice this shard owns. */
    first: string;
    last: string;
    /** The pool's reservations inside the slice, merged and sorted. */
    reserved: readonly IpRangeData[];
  }
>;
export type AddressAllocated = Event<
  'AddressAllocated',
  { poolId: string; shard: number; address: string; owner: string }
>;
export type AddressReleased = Event<
  'AddressReleased',
  { poolId: string; shard: number; address: string; owner: string }
>;
/** The shard was full when `owner` asked: its allocation continues in `toShard`. */
export type AllocationSpilled = Event<
  'AllocationSpilled',
  { poolId: string; shard: number; owner: string; toShard: number }
>;
/** The owner's spill marker was removed (its allocation further on was released first). */
export type SpillReleased = Event<
  'SpillReleased',
  { poolId: string; shard: number; owner: string; toShard: number }
>;
export type ShardRangeReserved = Event<
  'ShardRangeReserved',
  { poolId: string; shard: number; first: string; last: string }
>;
export type PoolShardEvent =
  | PoolShardOpened
  | AddressAllocated
  | AddressReleased
  | AllocationSpilled
  | SpillReleased
  | ShardRangeReserved;

/** Built from the pool by `openShardCommand` (./address-pool.ts). */
export type OpenShard = Command<
  'OpenShard',
  {
    poolId: string;
    shard: number;
    shardCount: number;
    cidr: string;
    reserved: readonly IpRangeData[];
  }
>;
/**
 * Without `address`: the owner's address in this shard, the lowest free one, or a spill to the
 * next shard when full. With `address`: exactly that address (which must be in this shard).
 */
export type AllocateAddress = Command<
  'AllocateAddress',
  { poolId: string; shard: number; owner: string; address?: string }
>;
/** Releases the owner's address, or its spill marker, in this shard. */
export type ReleaseAddress = Command<
  'ReleaseAddress',
  { poolId: string; shard: number; owner: string }
>;
/** Built from a pool reservation by `shardReserveCommands` (./address-pool.ts). */
export type ReserveShardRange = Command<
  'ReserveShardRange',
  { poolId: string; shard: number; first: string; last: string }
>;
export type PoolShardCommand = OpenShard | AllocateAddress | ReleaseAddress | ReserveShardRange;

export type OpenPoolShard = {
  status: 'open';
  poolId: string;
  shard: number;
  shardCount: number;
  cidr: string;
  /** The slice, as unsigned 32-bit addresses; bit i of the bitmaps is address first + i. */
  first: number;
  last: number;
  allocated: Bitmap;
  reserved: Bitmap;
  /** owner -> address it holds in this shard. */
  owners: OwnerIndex;
  /** owner -> the shard its allocation spilled to. */
  spills: OwnerIndex;
};
export type PoolShardState = { status: 'empty' } | OpenPoolShard;

export type Allocation =
  { kind: 'allocated'; address: string } | { kind: 'spilled'; toShard: number } | { kind: 'none' };

/** Where this shard puts `owner`: the IPAM service reads this after deciding an allocation. */
export function allocationOf(state: PoolShardState, owner: string): Allocation {
  if (state.status !== 'open') return { kind: 'none' };
  const address = ownerValue(state.owners, owner);
  if (address !== undefined) return { kind: 'allocated', address: formatIpv4(address) };
  const toShard = ownerValue(state.spills, owner);
  if (toShard !== undefined) return { kind: 'spilled', toShard };
  return { kind: 'none' };
}

export function shardUsage(state: OpenPoolShard): {
  size: number;
  allocated: number;
  reserved: number;
  free: number;
} {
  const size = state.last - state.first + 1;
  const allocated = state.owners.size;
  let unusable = 0;
  for (let i = 0; i < size; i++) {
    if (hasBit(state.allocated, i) || hasBit(state.reserved, i)) unusable++;
  }
  return { size, allocated, reserved: countBits(state.reserved), free: size - unusable };
}

export function decidePoolShard(
  command: PoolShardCommand,
  state: PoolShardState,
): PoolShardEvent[] {
  switch (command.type) {
    case 'OpenShard': {
      const poolId = assertId(command.data.poolId, 'pool id');
      const cidr = parseCidr(command.data.cidr, 'pool CIDR');
      const shardCount = assertShardCount(cidr, command.data.shardCount);
      const shard = assertShardIndex(command.data.shard, shardCount);
      const slice = shardRange(cidr, shardCount, shard);
      const reserved = mergeRanges(
        (command.data.reserved ?? [])
          .map((range) => clipRange(parseAddressRange(range, 'reserved range'), slice))
          .filter((range): range is AddressRange => range !== undefined),
      );
      if (state.status === 'open') {
        // Reservations made since opening arrive as ReserveShardRange, so only the layout counts.
        if (state.cidr === formatCidr(cidr) && state.shardCount === shardCount) return [];
        throw new DomainError(
          'AlreadyExists',
          `shard ${shard} of pool ${poolId} is open with layout ${state.cidr} in ${state.shardCount} shards`,
        );
      }
      return [
        {
          type: 'PoolShardOpened',
          data: {
            poolId,
            shard,
            shardCount,
            cidr: formatCidr(cidr),
            ...formatAddressRange(slice),
            reserved: reserved.map(formatAddressRange),
          },
        },
      ];
    }
    case 'AllocateAddress': {
      const open = requireOpen(state, command.data.poolId, command.data.shard);
      const owner = assertId(command.data.owner, 'owner');
      const ids = { poolId: open.poolId, shard: open.shard, owner };
      const held = ownerValue(open.owners, owner);
      const wanted =
        command.data.address === undefined ? undefined : parseIpv4(command.data.address, 'address');
      if (held !== undefined) {
        if (wanted === undefined || wanted === held) return [];
        throw new DomainError(
          'AlreadyExists',
          `${owner} already holds ${formatIpv4(held)} in pool ${open.poolId}`,
        );
      }
      const spilledTo = ownerValue(open.spills, owner);
      if (spilledTo !== undefined) {
        if (wanted === undefined) return [];
        throw new DomainError(
          'AlreadyExists',
          `${owner} already has an allocation in pool ${open.poolId} (continued in shard ${spilledTo})`,
        );
      }
      if (wanted !== undefined) {
        return [
          {
            type: 'AddressAllocated',
            data: { ...ids, address: formatIpv4(checkFree(open, wanted)) },
          },
        ];
      }
      const free = firstClearInBoth(open.allocated, open.reserved, open.last - open.first + 1);
      if (free !== undefined) {
        return [
          { type: 'AddressAllocated', data: { ...ids, address: formatIpv4(open.first + free) } },
        ];
      }
      const toShard = nextShard(open.shard, open.shardCount);
      if (toShard === homeShard(owner, open.shardCount)) {
        throw new DomainError('PoolExhausted', `pool ${open.poolId} has no free address`);
      }
      return [{ type: 'AllocationSpilled', data: { ...ids, toShard } }];
    }
    case 'ReleaseAddress': {
      const open = requireOpen(state, command.data.poolId, command.data.shard);
      const owner = assertId(command.data.owner, 'owner');
      const ids = { poolId: open.poolId, shard: open.shard, owner };
      const held = ownerValue(open.owners, owner);
      if (held !== undefined) {
        return [{ type: 'AddressReleased', data: { ...ids, address: formatIpv4(held) } }];
      }
      const toShard = ownerValue(open.spills, owner);
      if (toShard !== undefined) return [{ type: 'SpillReleased', data: { ...ids, toShard } }];
      return [];
    }
    case 'ReserveShardRange': {
      const open = requireOpen(state, command.data.poolId, command.data.shard);
      const range = parseAddressRange(command.data, 'reserved range');
      if (!rangeContains({ first: open.first, last: open.last }, range)) {
        throw new DomainError(
          'InvalidIp',
          `range ${formatIpv4(range.first)}-${formatIpv4(range.last)} is not inside shard ${open.shard} ` +
            `(${formatIpv4(open.first)}-${formatIpv4(open.last)})`,
        );
      }
      if (allSet(open.reserved, range.first - open.first, range.last - open.first)) return [];
      return [
        {
          type: 'ShardRangeReserved',
          data: { poolId: open.poolId, shard: open.shard, ...formatAddressRange(range) },
        },
      ];
    }
    default: {
      const _exhaustive: never = command;
      throw new DomainError(
        'InvalidArgument',
        `unknown pool shard command ${JSON.stringify(_exhaustive)}`,
      );
    }
  }
}

function requireOpen(state: PoolShardState, poolId: string, shard: number): OpenPoolShard {
  if (state.status === 'open') return state;
  throw new DomainError('NotFound', `shard ${shard} of pool ${poolId} is not open`);
}

/** `address` if this shard may hand it out; throws InvalidIp or AddressInUse otherwise. */
function checkFree(open: OpenPoolShard, address: number): number {
  if (address < open.first || address > open.last) {
    throw new DomainError(
      'InvalidIp',
      `${formatIpv4(address)} is not in shard ${open.shard} of pool ${open.poolId} ` +
        `(${formatIpv4(open.first)}-${formatIpv4(open.last)})`,
    );
  }
  const i = address - open.first;
  if (hasBit(open.reserved, i)) {
    throw new DomainError(
      'AddressInUse',
      `${formatIpv4(address)} is reserved in pool ${open.poolId}`,
    );
  }
  if (hasBit(open.allocated, i)) {
    throw new DomainError(
      'AddressInUse',
      `${formatIpv4(address)} is already allocated in pool ${open.poolId}`,
    );
  }
  return address;
}

export function evolvePoolShard(state: PoolShardState, event: PoolShardEvent): PoolShardState {
  if (event.type === 'PoolShardOpened') {
    const first = parseIpv4(event.data.first);
    const last = parseIpv4(event.data.last);
    const reserved = event.data.reserved.reduce(
      (bits, range) =>
        withRange(bits, parseIpv4(range.first) - first, parseIpv4(range.last) - first),
      emptyBitmap(last - first + 1),
    );
    return {
      status: 'open',
      poolId: event.data.poolId,
      shard: event.data.shard,
      shardCount: event.data.shardCount,
      cidr: event.data.cidr,
      first,
      last,
      allocated: emptyBitmap(last - first + 1),
      reserved,
      owners: emptyOwnerIndex(),
      spills: emptyOwnerIndex(),
    };
  }
  if (state.status !== 'open') return state;
  switch (event.type) {
    case 'AddressAllocated': {
      const address = parseIpv4(event.data.address);
      return {
        ...state,
        allocated: withBit(state.allocated, address - state.first),
        owners: withOwner(state.owners, event.data.owner, address),
      };
    }
    case 'AddressReleased': {
      const address = parseIpv4(event.data.address);
      return {
        ...state,
        allocated: withoutBit(state.allocated, address - state.first),
        owners: withoutOwner(state.owners, event.data.owner),
      };
    }
    case 'AllocationSpilled':
      return { ...state, spills: withOwner(state.spills, event.data.owner, event.data.toShard) };
    case 'SpillReleased':
      return { ...state, spills: withoutOwner(state.spills, event.data.owner) };
    case 'ShardRangeReserved':
      return {
        ...state,
        reserved: withRange(
          state.reserved,
          parseIpv4(event.data.first) - state.first,
          parseIpv4(event.data.last) - state.first,
        ),
      };
    default: {
      const _exhaustive: never = event;
      void _exhaustive;
      return state;
    }
  }
}

export const poolShardDecider: Decider<PoolShardState, PoolShardCommand, PoolShardEvent> = {
  decide: decidePoolShard,
  evolve: evolvePoolShard,
  initialState: () => ({ status: 'empty' }),
};
