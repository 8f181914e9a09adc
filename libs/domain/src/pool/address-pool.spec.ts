import { specFor } from '../testing/given-when-then';
import {
  addressPoolDecider,
  openShardCommand,
  poolStream,
  shardForAddress,
  shardReserveCommands,
  type ActiveAddressPool,
  type CreatePool,
  type DeletePool,
  type PoolCreated,
  type PoolDeleted,
} from './address-pool';

const given = specFor(addressPoolDecider);

const create = (data: Partial<CreatePool['data']> = {}): CreatePool => ({
  type: 'CreatePool',
  data: { poolId: 'pods', kind: 'pod', cidr: '10.0.0.0/16', ...data },
});
const created: PoolCreated = {
  type: 'PoolCreated',
  data: {
    poolId: 'pods',
    cidr: '10.0.0.0/16',
    segmentId: '',
    kind: 'pod',
    shardCount: 64,
    reserved: [
      { first: '10.0.0.0', last: '10.0.0.0' },
      { first: '10.0.255.255', last: '10.0.255.255' },
    ],
  },
};
const pool = given([]).when(create()).then([created]) as ActiveAddressPool;

describe('AddressPool', () => {
  it('lives in stream pool-<id>', () => {
    expect(poolStream('pods')).toBe('pool-pods');
  });

  describe('CreatePool', () => {
    it('creates a pod pool, sharded by default and with network and broadcast reserved', () => {
      given([]).when(create()).then([created]);
    });

    it('creates a VIP pool for service addresses', () => {
      given([])
        .when(create({ poolId: 'vips', kind: 'vip', cidr: '10.96.0.0/24' }))
        .then([
          {
            type: 'PoolCreated',
            data: {
              poolId: 'vips',
              cidr: '10.96.0.0/24',
              segmentId: '',
              kind: 'vip',
              shardCount: 1,
              reserved: [
                { first: '10.96.0.0', last: '10.96.0.0' },
                { first: '10.96.0.255', last: '10.96.0.255' },
              ],
            },
          },
        ]);
    });

    it('takes a segment, a shard count and reserved ranges, merging adjacent ones', () => {
      given([])
        .when(
          create({
            cidr: '10.1.0.0/24',
            segmentId: 'seg-1',
            shardCount: 4,
            reserved: [
              { first: '10.1.0.1', last: '10.1.0.9' },
              { first: '10.1.0.5', last: '10.1.0.20' },
            ],
          }),
        )
        .then([
          {
            type: 'PoolCreated',
            data: {
              poolId: 'pods',
              cidr: '10.1.0.0/24',
              segmentId: 'seg-1',
              kind: 'pod',
              shardCount: 4,
              reserved: [
                { first: '10.1.0.0', last: '10.1.0.20' },
                { first: '10.1.0.255', last: '10.1.0.255' },
              ],
            },
          },
        ]);
    });

    it('reserves nothing automatically in /31 and /32 pools', () => {
      given([])
        .when(create({ cidr: '10.0.0.8/31' }))
        .then([
          {
            type: 'PoolCreated',
            data: {
              poolId: 'pods',
              cidr: '10.0.0.8/31',
              segmentId: '',
              kind: 'pod',
              shardCount: 1,
              reserved: [],
            },
          },
        ]);
    });

    it('is idempotent, and rejects other settings for the same id', () => {
      given([created]).when(create()).thenNothingHappened();
      given([created])
        .when(create({ shardCount: 64 }))
        .thenNothingHappened();
      given([created])
        .when(create({ shardCount: 32 }))
        .thenThrows('AlreadyExists');
      given([created])
        .when(create({ kind: 'vip' }))
        .thenThrows('AlreadyExists');
    });

    it('rejects invalid input', () => {
      given([])
        .when(create({ kind: 'node' as never }))
        .thenThrows('InvalidArgument', /pod or vip/);
      given([])
        .when(create({ cidr: '10.0.0.0/33' }))
        .thenThrows('InvalidCidr');
      given([])
        .when(create({ cidr: '0.0.0.0/7' }))
        .thenThrows('InvalidCidr', /at most a \/8/);
      given([])
        .when(create({ shardCount: 100_000 }))
        .thenThrows('InvalidArgument');
      given([])
        .when(create({ segmentId: 'seg.1' }))
        .thenThrows('InvalidId');
      given([])
        .when(create({ reserved: [{ first: '10.1.0.0', last: '10.1.0.1' }] }))
        .thenThrows('InvalidIp', /not inside 10.0.0.0\/16/);
    });
  });

  describe('ReserveRange', () => {
    const reserve = (first: string, last: string) =>
      ({ type: 'ReserveRange', data: { poolId: 'pods', first, last } }) as const;

    it('records a reserved range', () => {
      const state = given([created])
        .when(reserve('10.0.1.0', '10.0.1.9'))
        .then([
          { type: 'RangeReserved', data: { poolId: 'pods', first: '10.0.1.0', last: '10.0.1.9' } },
        ]);
      expect(state.status === 'active' && state.reserved).toHaveLength(3);
    });

    it('changes nothing when the range is already reserved', () => {
      given([created]).when(reserve('10.0.0.0', '10.0.0.0')).thenNothingHappened();
      given([
        created,
        { type: 'RangeReserved', data: { poolId: 'pods', first: '10.0.1.0', last: '10.0.1.9' } },
      ])
        .when(reserve('10.0.1.2', '10.0.1.3'))
        .thenNothingHappened();
    });

    it('rejects a range outside the pool', () => {
      given([created]).when(reserve('10.0.255.0', '10.1.0.0')).thenThrows('InvalidIp');
    });

    it('needs the pool', () => {
      given([]).when(reserve('10.0.1.0', '10.0.1.0')).thenThrows('NotFound');
    });
  });

  describe('DeletePool', () => {
    const remove = (allocatedAddresses = 0): DeletePool => ({
      type: 'DeletePool',
      data: { poolId: 'pods', allocatedAddresses },
    });
    const deleted: PoolDeleted = {
      type: 'PoolDeleted',
      data: { poolId: 'pods', cidr: '10.0.0.0/16' },
    };

    it('deletes a pool none of whose addresses is allocated', () => {
      expect(given([created]).when(remove()).then([deleted])).toEqual({
        status: 'deleted',
        poolId: 'pods',
        cidr: '10.0.0.0/16',
      });
    });

    it('is refused while any address is allocated', () => {
      given([created])
        .when(remove(3))
        .thenThrows('InvalidState', /3 allocated address/);
    });

    it('rejects a count that is not one', () => {
      given([created]).when(remove(-1)).thenThrows('InvalidArgument');
      given([created]).when(remove(0.5)).thenThrows('InvalidArgument');
    });

    it('is idempotent once deleted, and needs a pool', () => {
      given([created, deleted]).when(remove()).thenNothingHappened();
      given([created, deleted]).when(remove(2)).thenNothingHappened();
      given([])
        .when(remove())
        .thenThrows('NotFound', /not found/);
    });

    it('leaves a pool that takes no reservations and whose id is not reused', () => {
      given([created, deleted])
        .when({
          type: 'ReserveRange',
          data: { poolId: 'pods', first: '10.0.0.5', last: '10.0.0.5' },
        })
        .thenThrows('NotFound', /was deleted/);
      given([created, deleted])
        .when(create())
        .thenThrows('AlreadyExists', /not reused/);
    });
  });

  describe('shard commands built from the pool', () => {
    it('opens a shard with the pool layout and reservations', () => {
      expect(openShardCommand(pool, 3)).toEqual({
        type: 'OpenShard',
        data: {
          poolId: 'pods',
          shard: 3,
          shardCount: 64,
          cidr: '10.0.0.0/16',
          reserved: created.data.reserved,
        },
      });
    });

    it('cuts a reservation into one command per shard it overlaps', () => {
      expect(shardReserveCommands(pool, { first: '10.0.3.250', last: '10.0.8.5' })).toEqual([
        {
          type: 'ReserveShardRange',
          data: { poolId: 'pods', shard: 0, first: '10.0.3.250', last: '10.0.3.255' },
        },
        {
          type: 'ReserveShardRange',
          data: { poolId: 'pods', shard: 1, first: '10.0.4.0', last: '10.0.7.255' },
        },
        {
          type: 'ReserveShardRange',
          data: { poolId: 'pods', shard: 2, first: '10.0.8.0', last: '10.0.8.5' },
        },
      ]);
    });

    it('finds the shard for a specific address', () => {
      expect(shardForAddress(pool, '10.0.4.0')).toBe(1);
      expect(shardForAddress(pool, '10.0.255.254')).toBe(63);
      expect(() => shardForAddress(pool, '10.1.0.0')).toThrow(/not in pool pods/);
    });
  });
});
