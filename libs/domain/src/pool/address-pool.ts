import {
  cidrRange,
  cidrSize,
  clipRange,
  formatAddressRange,
  formatCidr,
  mergeRanges,
  parseAddressRange,
  parseCidr,
  rangeContains,
  type AddressRange,
  type Cidr,
} from '../net/cidr';
import { formatIpv4, parseIpv4 } from '../net/ipv4';
import type { Command, Decider, Event } from '../shared/decider';
import { DomainError } from '../shared/errors';
import { assertId } from '../shared/ids';
import type { IpRangeData, OpenShard, ReserveShardRange } from './pool-shard';
import {
  assertShardCount,
  defaultShardCount,
  MIN_POOL_PREFIX,
  shardOfAddress,
  shardRange,
} from './sharding';

/**
 * AddressPool: a block of the global address space and how it is cut into shards.
 * Stream: `pool-<id>`. Allocation happens in the shards (./pool-shard.ts); the design is told
 * in ./sharding.ts.
 *
 * Kinds: 'pod' pools address endpoints, 'vip' pools address services (service virtual IPs);
 * both allocate the same way. The network and broadcast addresses of pools of /30 and larger
 * are reserved at creation, so they are never handed out.
 *
 * Deletion: a pool is deleted only while none of its addresses is allocated (the IPAM service
 * counts them in the shards and passes the count with `DeletePool`). A deleted pool allocates
 * nothing (NotFound) and its id is not reused, because its shard streams stay in the log.
 */
export const poolStream = (poolId: string): string => `pool-${poolId}`;

export type PoolKind = 'pod' | 'vip';
export const POOL_KINDS: readonly PoolKind[] = ['pod', 'vip'];

export type PoolCreated = Event<
  'PoolCreated',
  {
    poolId: string;
    cidr: string;
    /** The segment the pool serves, '' when it serves none in particular. */
    segmentId: string;
    kind: PoolKind;
    shardCount: number;
    /** Never handed out; merged and sorted. */
    reserved: readonly IpRangeData[];
  }
>;
export type RangeReserved = Event<'RangeReserved', { poolId: string; first: string; last: string }>;
export type PoolDeleted = Event<'PoolDeleted', { poolId: string; cidr: string }>;
export type AddressPoolEvent = PoolCreated | RangeReserved | PoolDeleted;

export type CreatePool = Command<
  'CreatePool',
  {
    poolId: string;
    kind: PoolKind;
    cidr: string;
    segmentId?: string;
    /** Defaults to one shard per 1024 addresses (`defaultShardCount`). */
    shardCount?: number;
    reserved?: readonly IpRangeData[];
  }
>;
export type ReserveRange = Command<'ReserveRange', { poolId: string; first: string; last: string }>;
/** `allocatedAddresses`: how many addresses the pool's shards hold, counted by the caller. */
export type DeletePool = Command<'DeletePool', { poolId: string; allocatedAddresses: number }>;
export type AddressPoolCommand = CreatePool | ReserveRange | DeletePool;

export type ActiveAddressPool = {
  status: 'active';
  poolId: string;
  kind: PoolKind;
  cidr: string;
  segmentId: string;
  shardCount: number;
  reserved: readonly AddressRange[];
};
export type AddressPoolState =
  { status: 'empty' } | ActiveAddressPool | { status: 'deleted'; poolId: string; cidr: string };

export function decideAddressPool(
  command: AddressPoolCommand,
  state: AddressPoolState,
): AddressPoolEvent[] {
  switch (command.type) {
    case 'CreatePool': {
      const poolId = assertId(command.data.poolId, 'pool id');
      if (!POOL_KINDS.includes(command.data.kind)) {
        throw new DomainError(
          'InvalidArgument',
          `pool kind must be pod or vip, got ${JSON.stringify(command.data.kind)}`,
        );
      }
      const cidr = parseCidr(command.data.cidr, 'pool CIDR');
      if (cidr.prefix < MIN_POOL_PREFIX) {
        throw new DomainError(
          'InvalidCidr',
          `a pool may be at most a /${MIN_POOL_PREFIX}, got /${cidr.prefix}`,
        );
      }
      const segmentId =
        command.data.segmentId === undefined || command.data.segmentId === ''
          ? ''
          : assertId(command.data.segmentId, 'segment id');
      const shardCount =
        command.data.shardCount === undefined
          ? defaultShardCount(cidr)
          : assertShardCount(cidr, command.data.shardCount);
      const reserved = mergeRanges([
        ...networkAndBroadcast(cidr),
        ...(command.data.reserved ?? []).map((range) => insidePool(cidr, range)),
      ]).map(formatAddressRange);
      const data = {
        poolId,
        cidr: formatCidr(cidr),
        segmentId,
        kind: command.data.kind,
        shardCount,
        reserved,
      };
      if (state.status === 'deleted') {
        throw new DomainError('AlreadyExists', `pool ${poolId} was deleted; ids are not reused`);
      }
      if (state.status === 'active') {
        const same =
          state.kind === data.kind &&
          state.cidr === data.cidr &&
          state.segmentId === data.segmentId &&
          state.shardCount === data.shardCount &&
          JSON.stringify(state.reserved.map(formatAddressRange)) === JSON.stringify(reserved);
        if (same) return [];
        throw new DomainError('AlreadyExists', `pool ${poolId} exists with other settings`);
      }
      return [{ type: 'PoolCreated', data }];
    }
    case 'ReserveRange': {
      const pool = requireActive(state, command.data.poolId);
      const range = insidePool(parseCidr(pool.cidr), command.data);
      if (pool.reserved.some((reserved) => rangeContains(reserved, range))) return [];
      return [
        { type: 'RangeReserved', data: { poolId: pool.poolId, ...formatAddressRange(range) } },
      ];
    }
    case 'DeletePool': {
      if (state.status === 'deleted') return [];
      const pool = requireActive(state, command.data.poolId);
      const { allocatedAddresses } = command.data;
      if (!Number.isInteger(allocatedAddresses) || allocatedAddresses < 0) {
        throw new DomainError(
          'InvalidArgument',
          `allocated addresses must be a count, got ${JSON.stringify(allocatedAddresses)}`,
        );
      }
      if (allocatedAddresses > 0) {
        throw new DomainError(
          'InvalidState',
          `pool ${pool.poolId} still has ${allocatedAddresses} allocated address(es); release them first`,
        );
      }
      return [{ type: 'PoolDeleted', data: { poolId: pool.poolId, cidr: pool.cidr } }];
    }
    default: {
      const _exhaustive: never = command;
      throw new DomainError(
        'InvalidArgument',
        `unknown pool command ${JSON.stringify(_exhaustive)}`,
      );
    }
  }
}

function requireActive(state: AddressPoolState, poolId: string): ActiveAddressPool {
  if (state.status === 'active') return state;
  throw new DomainError(
    'NotFound',
    state.status === 'deleted' ? `pool ${poolId} was deleted` : `pool ${poolId} not found`,
  );
}

function networkAndBroadcast(cidr: Cidr): AddressRange[] {
  if (cidr.prefix > 30) return [];
  const { first, last } = cidrRange(cidr);
  return [
    { first, last: first },
    { first: last, last },
  ];
}

function insidePool(cidr: Cidr, value: IpRangeData): AddressRange {
  const range = parseAddressRange(value, 'reserved range');
  if (!rangeContains(cidrRange(cidr), range)) {
    throw new DomainError(
      'InvalidIp',
      `reserved range ${formatIpv4(range.first)}-${formatIpv4(range.last)} is not inside ${formatCidr(cidr)}`,
    );
  }
  return range;
}

export function evolveAddressPool(
  state: AddressPoolState,
  event: AddressPoolEvent,
): AddressPoolState {
  switch (event.type) {
    case 'PoolCreated':
      return {
        status: 'active',
        poolId: event.data.poolId,
        kind: event.data.kind,
        cidr: event.data.cidr,
        segmentId: event.data.segmentId,
        shardCount: event.data.shardCount,
        reserved: event.data.reserved.map((range) => parseAddressRange(range)),
      };
    case 'RangeReserved':
      if (state.status !== 'active') return state;
      return {
        ...state,
        reserved: mergeRanges([...state.reserved, parseAddressRange(event.data)]),
      };
    case 'PoolDeleted':
      return { status: 'deleted', poolId: event.data.poolId, cidr: event.data.cidr };
    default: {
      const _exhaustive: never = event;
      void _exhaustive;
      return state;
    }
  }
}

export const addressPoolDecider: Decider<AddressPoolState, AddressPoolCommand, AddressPoolEvent> = {
  decide: decideAddressPool,
  evolve: evolveAddressPool,
  initialState: () => ({ status: 'empty' }),
};

/** The command that opens shard `shard` of `pool`, with the pool's reservations. */
export function openShardCommand(pool: ActiveAddressPool, shard: number): OpenShard {
  return {
    type: 'OpenShard',
    data: {
      poolId: pool.poolId,
      shard,
      shardCount: pool.shardCount,
      cidr: pool.cidr,
      reserved: pool.reserved.map(formatAddressRange),
    },
  };
}

/** A pool reservation cut into one command per shard it overlaps. */
export function shardReserveCommands(
  pool: ActiveAddressPool,
  range: IpRangeData,
): ReserveShardRange[] {
  const cidr = parseCidr(pool.cidr);
  const wanted = insidePool(cidr, range);
  const from = shardOfAddress(cidr, pool.shardCount, wanted.first);
  const to = shardOfAddress(cidr, pool.shardCount, wanted.last);
  const commands: ReserveShardRange[] = [];
  for (let shard = from; shard <= to; shard++) {
    const part = clipRange(wanted, shardRange(cidr, pool.shardCount, shard));
    if (part !== undefined) {
      commands.push({
        type: 'ReserveShardRange',
        data: { poolId: pool.poolId, shard, ...formatAddressRange(part) },
      });
    }
  }
  return commands;
}

/** The shard that owns `address` in `pool` (for an allocation of a specific address). */
export function shardForAddress(pool: ActiveAddressPool, address: string): number {
  const cidr = parseCidr(pool.cidr);
  const value = parseIpv4(address);
  if (value < cidr.network || value >= cidr.network + cidrSize(cidr)) {
    throw new DomainError('InvalidIp', `${address} is not in pool ${pool.poolId} (${pool.cidr})`);
  }
  return shardOfAddress(cidr, pool.shardCount, value);
}
