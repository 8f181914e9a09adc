import { specFor } from '../testing/given-when-then';
import {
  allocationOf,
  poolShardDecider,
  shardUsage,
  type AddressAllocated,
  type AllocateAddress,
  type OpenShard,
  type PoolShardEvent,
  type PoolShardOpened,
} from './pool-shard';
import { homeShard } from './sharding';

const given = specFor(poolShardDecider);

// Pool 10.0.0.0/28 in two shards: shard 0 owns .0-.7, shard 1 owns .8-.15. The pool reserves
// its network (.0) and broadcast (.15) addresses.
const open: OpenShard = {
  type: 'OpenShard',
  data: {
    poolId: 'pods',
    shard: 0,
    shardCount: 2,
    cidr: '10.0.0.0/28',
    reserved: [
      { first: '10.0.0.0', last: '10.0.0.0' },
      { first: '10.0.0.15', last: '10.0.0.15' },
    ],
  },
};
const opened: PoolShardOpened = {
  type: 'PoolShardOpened',
  data: {
    poolId: 'pods',
    shard: 0,
    shardCount: 2,
    cidr: '10.0.0.0/28',
    first: '10.0.0.0',
    last: '10.0.0.7',
    reserved: [{ first: '10.0.0.0', last: '10.0.0.0' }],
  },
};

/** An owner whose home shard (of two) is `shard`. */
const ownerAt = (shard: number, n: number): string =>
  Array.from({ length: 100 }, (_, i) => `pod-${i}`).filter((o) => homeShard(o, 2) === shard)[n];
const a = ownerAt(0, 0);
const b = ownerAt(0, 1);
const c = ownerAt(1, 0);

const allocate = (owner: string, address?: string): AllocateAddress => ({
  type: 'AllocateAddress',
  data:
    address === undefined
      ? { poolId: 'pods', shard: 0, owner }
      : { poolId: 'pods', shard: 0, owner, address },
});
const allocated = (owner: string, address: string): AddressAllocated => ({
  type: 'AddressAllocated',
  data: { poolId: 'pods', shard: 0, address, owner },
});
const release = (owner: string) =>
  ({ type: 'ReleaseAddress', data: { poolId: 'pods', shard: 0, owner } }) as const;
/** Shard 0 with every free address (.1-.7) held. */
const full: PoolShardEvent[] = [
  opened,
  ...[1, 2, 3, 4, 5, 6, 7].map((i) => allocated(`full-${i}`, `10.0.0.${i}`)),
];

describe('PoolShard', () => {
  describe('OpenShard', () => {
    it('opens the shard over its slice with the pool reservations inside it', () => {
      const state = given([]).when(open).then([opened]);
      expect(state.status === 'open' && shardUsage(state)).toEqual({
        size: 8,
        allocated: 0,
        reserved: 1,
        free: 7,
      });
    });

    it('is idempotent; reservations made later arrive as ReserveShardRange', () => {
      given([opened]).when(open).thenNothingHappened();
      given([opened])
        .when({
          ...open,
          data: { ...open.data, reserved: [{ first: '10.0.0.1', last: '10.0.0.3' }] },
        })
        .thenNothingHappened();
    });

    it('rejects another layout for an open shard', () => {
      given([opened])
        .when({ ...open, data: { ...open.data, shardCount: 4 } })
        .thenThrows('AlreadyExists', /layout 10.0.0.0\/28 in 2 shards/);
    });

    it('rejects a shard index or count the pool cannot have', () => {
      given([])
        .when({ ...open, data: { ...open.data, shard: 2 } })
        .thenThrows('InvalidArgument', /0-1/);
      given([])
        .when({ ...open, data: { ...open.data, shardCount: 0 } })
        .thenThrows('InvalidArgument');
      given([])
        .when({ ...open, data: { ...open.data, cidr: '10.0.0.1/28' } })
        .thenThrows('InvalidCidr');
    });
  });

  describe('AllocateAddress', () => {
    it('hands out the lowest free address, skipping reserved ones', () => {
      const state = given([opened])
        .when(allocate(a))
        .then([allocated(a, '10.0.0.1')]);
      expect(allocationOf(state, a)).toEqual({ kind: 'allocated', address: '10.0.0.1' });
      given([opened, allocated(a, '10.0.0.1')])
        .when(allocate(b))
        .then([allocated(b, '10.0.0.2')]);
    });

    it('gives an owner that asks again the address it holds', () => {
      given([opened, allocated(a, '10.0.0.1')])
        .when(allocate(a))
        .thenNothingHappened();
      given([opened, allocated(a, '10.0.0.1')])
        .when(allocate(a, '10.0.0.1'))
        .thenNothingHappened();
    });

    it('reuses a released address (lowest first)', () => {
      given([
        opened,
        allocated(a, '10.0.0.1'),
        allocated(b, '10.0.0.2'),
        {
          type: 'AddressReleased',
          data: { poolId: 'pods', shard: 0, address: '10.0.0.1', owner: a },
        },
      ])
        .when(allocate(c))
        .then([allocated(c, '10.0.0.1')]);
    });

    it('hands out a specific address that is free', () => {
      given([opened])
        .when(allocate(a, '10.0.0.6'))
        .then([allocated(a, '10.0.0.6')]);
    });

    it('refuses a specific address that is reserved, held, or in another shard', () => {
      given([opened])
        .when(allocate(a, '10.0.0.0'))
        .thenThrows('AddressInUse', '10.0.0.0 is reserved in pool pods');
      given([opened, allocated(b, '10.0.0.6')])
        .when(allocate(a, '10.0.0.6'))
        .thenThrows('AddressInUse', /already allocated/);
      given([opened])
        .when(allocate(a, '10.0.0.9'))
        .thenThrows('InvalidIp', /not in shard 0/);
      given([opened]).when(allocate(a, '10.0.0.256')).thenThrows('InvalidIp');
    });

    it('refuses a second address for an owner', () => {
      given([opened, allocated(a, '10.0.0.1')])
        .when(allocate(a, '10.0.0.5'))
        .thenThrows('AlreadyExists', `${a} already holds 10.0.0.1`);
    });

    it('spills a full shard’s allocation to the next shard, durably', () => {
      const state = given(full)
        .when(allocate(a))
        .then([
          { type: 'AllocationSpilled', data: { poolId: 'pods', shard: 0, owner: a, toShard: 1 } },
        ]);
      expect(allocationOf(state, a)).toEqual({ kind: 'spilled', toShard: 1 });
    });

    it('keeps sending a spilled owner on, even once the shard has room again', () => {
      const spilled: PoolShardEvent = {
        type: 'AllocationSpilled',
        data: { poolId: 'pods', shard: 0, owner: a, toShard: 1 },
      };
      const freedOne: PoolShardEvent = {
        type: 'AddressReleased',
        data: { poolId: 'pods', shard: 0, address: '10.0.0.3', owner: 'full-3' },
      };
      given([...full, spilled, freedOne])
        .when(allocate(a))
        .thenNothingHappened();
      given([...full, spilled])
        .when(allocate(a, '10.0.0.3'))
        .thenThrows('AlreadyExists', /shard 1/);
    });

    it('throws PoolExhausted when the next shard would be the owner’s home again', () => {
      // c's home is shard 1: it reached shard 0 after shard 1 was full, so every shard is full.
      given(full).when(allocate(c)).thenThrows('PoolExhausted', 'pool pods has no free address');
    });

    it('throws PoolExhausted in a full single-shard pool', () => {
      const single: PoolShardOpened = {
        type: 'PoolShardOpened',
        data: {
          poolId: 'pods',
          shard: 0,
          shardCount: 1,
          cidr: '10.0.0.0/31',
          first: '10.0.0.0',
          last: '10.0.0.1',
          reserved: [],
        },
      };
      given([single, allocated('x', '10.0.0.0'), allocated('y', '10.0.0.1')])
        .when(allocate('z'))
        .thenThrows('PoolExhausted');
    });

    it('needs an open shard and a valid owner', () => {
      given([]).when(allocate(a)).thenThrows('NotFound', 'shard 0 of pool pods is not open');
      given([opened]).when(allocate('pod 1')).thenThrows('InvalidId');
    });
  });

  describe('ReleaseAddress', () => {
    it('gives the owner’s address back', () => {
      const state = given([opened, allocated(a, '10.0.0.1')])
        .when(release(a))
        .then([
          {
            type: 'AddressReleased',
            data: { poolId: 'pods', shard: 0, address: '10.0.0.1', owner: a },
          },
        ]);
      expect(allocationOf(state, a)).toEqual({ kind: 'none' });
    });

    it('removes a spill marker', () => {
      const spilled: PoolShardEvent = {
        type: 'AllocationSpilled',
        data: { poolId: 'pods', shard: 0, owner: a, toShard: 1 },
      };
      given([...full, spilled])
        .when(release(a))
        .then([
          { type: 'SpillReleased', data: { poolId: 'pods', shard: 0, owner: a, toShard: 1 } },
        ]);
    });

    it('is idempotent', () => {
      given([opened]).when(release(a)).thenNothingHappened();
    });

    it('needs an open shard', () => {
      given([]).when(release(a)).thenThrows('NotFound');
    });
  });

  describe('ReserveShardRange', () => {
    const reserve = (first: string, last: string) =>
      ({ type: 'ReserveShardRange', data: { poolId: 'pods', shard: 0, first, last } }) as const;

    it('reserves a range that allocation then skips', () => {
      given([opened])
        .when(reserve('10.0.0.1', '10.0.0.2'))
        .then([
          {
            type: 'ShardRangeReserved',
            data: { poolId: 'pods', shard: 0, first: '10.0.0.1', last: '10.0.0.2' },
          },
        ]);
      given([
        opened,
        {
          type: 'ShardRangeReserved',
          data: { poolId: 'pods', shard: 0, first: '10.0.0.1', last: '10.0.0.2' },
        },
      ])
        .when(allocate(a))
        .then([allocated(a, '10.0.0.3')]);
    });

    it('leaves a held address with its owner, and never hands it out once released', () => {
      const history: PoolShardEvent[] = [
        opened,
        allocated(a, '10.0.0.1'),
        {
          type: 'ShardRangeReserved',
          data: { poolId: 'pods', shard: 0, first: '10.0.0.1', last: '10.0.0.1' },
        },
      ];
      given(history).when(allocate(a)).thenNothingHappened();
      given([
        ...history,
        {
          type: 'AddressReleased',
          data: { poolId: 'pods', shard: 0, address: '10.0.0.1', owner: a },
        },
      ])
        .when(allocate(b))
        .then([allocated(b, '10.0.0.2')]);
    });

    it('is idempotent', () => {
      given([opened]).when(reserve('10.0.0.0', '10.0.0.0')).thenNothingHappened();
    });

    it('rejects a range outside the shard or backwards', () => {
      given([opened])
        .when(reserve('10.0.0.6', '10.0.0.9'))
        .thenThrows('InvalidIp', /not inside shard 0/);
      given([opened])
        .when(reserve('10.0.0.5', '10.0.0.4'))
        .thenThrows('InvalidIp', /ends before it starts/);
    });

    it('needs an open shard', () => {
      given([]).when(reserve('10.0.0.1', '10.0.0.1')).thenThrows('NotFound');
    });
  });
});
