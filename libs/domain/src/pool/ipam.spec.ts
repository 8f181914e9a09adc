/**
 * The IPAM design end to end, in memory: a pool, its shards, and the walk the IPAM service does
 * over them (home shard, follow spills; release from the end of the chain backwards). The
 * service adds I/O and retries around exactly these steps.
 */
import { foldEvents } from '../shared/decider';
import { DomainError } from '../shared/errors';
import { parseCidr, cidrContains } from '../net/cidr';
import { parseIpv4 } from '../net/ipv4';
import {
  addressPoolDecider,
  openShardCommand,
  shardForAddress,
  shardReserveCommands,
  type ActiveAddressPool,
  type CreatePool,
} from './address-pool';
import {
  allocationOf,
  poolShardDecider,
  type PoolShardCommand,
  type PoolShardEvent,
  type PoolShardState,
} from './pool-shard';
import { homeShard } from './sharding';

function ipam(create: CreatePool['data']) {
  const pool = foldEvents(
    addressPoolDecider,
    addressPoolDecider.decide(
      { type: 'CreatePool', data: create },
      addressPoolDecider.initialState(),
    ),
  ) as ActiveAddressPool;
  // What the service keeps per shard: the stream (here an array) and the state folded so far.
  const streams = new Map<number, PoolShardEvent[]>();
  const states = new Map<number, PoolShardState>();
  const state = (shard: number): PoolShardState =>
    states.get(shard) ?? poolShardDecider.initialState();
  const append = (shard: number, events: PoolShardEvent[]): PoolShardState => {
    streams.set(shard, [...(streams.get(shard) ?? []), ...events]);
    states.set(shard, events.reduce(poolShardDecider.evolve, state(shard)));
    return state(shard);
  };
  const run = (shard: number, command: PoolShardCommand): PoolShardState => {
    if (state(shard).status === 'empty') {
      append(shard, poolShardDecider.decide(openShardCommand(pool, shard), state(shard)));
    }
    return append(shard, poolShardDecider.decide(command, state(shard)));
  };
  /** The shards an owner's chain passes through, from its home shard to where it ends. */
  const chain = (owner: string): number[] => {
    const path = [homeShard(owner, pool.shardCount)];
    for (;;) {
      const found = allocationOf(state(path[path.length - 1]), owner);
      if (found.kind !== 'spilled') return path;
      path.push(found.toShard);
    }
  };
  return {
    pool,
    streams,
    chain,
    allocate(owner: string, address?: string): string {
      let shard =
        address === undefined ? homeShard(owner, pool.shardCount) : shardForAddress(pool, address);
      for (;;) {
        const command: PoolShardCommand = {
          type: 'AllocateAddress',
          data: {
            poolId: pool.poolId,
            shard,
            owner,
            ...(address === undefined ? {} : { address }),
          },
        };
        const found = allocationOf(run(shard, command), owner);
        if (found.kind === 'allocated') return found.address;
        if (found.kind === 'none') throw new Error('allocation decided nothing');
        shard = found.toShard;
      }
    },
    release(owner: string): void {
      for (const shard of chain(owner).reverse()) {
        run(shard, { type: 'ReleaseAddress', data: { poolId: pool.poolId, shard, owner } });
      }
    },
    reserve(first: string, last: string): void {
      for (const command of shardReserveCommands(pool, { first, last }))
        run(command.data.shard, command);
    },
  };
}

/** The DomainError code `action` throws, if any. */
function codeOf(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error: unknown) {
    return error instanceof DomainError ? error.code : String(error);
  }
  return undefined;
}

const owners = (n: number, prefix = 'pod') => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

describe('IPAM over a sharded pool', () => {
  it('hands every owner a distinct address until the pool is full, then PoolExhausted', () => {
    const pods = ipam({ poolId: 'pods', kind: 'pod', cidr: '10.0.0.0/27', shardCount: 4 });
    const addresses = owners(30).map((owner) => pods.allocate(owner));
    expect(new Set(addresses).size).toBe(30);
    for (const address of addresses) {
      expect(cidrContains(parseCidr('10.0.0.0/27'), parseIpv4(address))).toBe(true);
      expect(['10.0.0.0', '10.0.0.31']).not.toContain(address);
    }
    expect(codeOf(() => pods.allocate('pod-late'))).toBe('PoolExhausted');
  });

  it('gives an owner the same address on every retry, also after spilling and later frees', () => {
    const pods = ipam({ poolId: 'pods', kind: 'pod', cidr: '10.0.0.0/27', shardCount: 4 });
    const held = new Map(owners(30).map((owner) => [owner, pods.allocate(owner)]));
    const spilled = owners(30).filter((owner) => pods.chain(owner).length > 1);
    expect(spilled.length).toBeGreaterThan(0);
    // Free one address in the home shard of every spilled owner: the home shard now has room,
    // and a retry must still not give the spilled owner a second address there.
    for (const home of new Set(spilled.map((owner) => pods.chain(owner)[0]))) {
      const neighbour = owners(30).find(
        (o) => held.has(o) && pods.chain(o).length === 1 && pods.chain(o)[0] === home,
      )!;
      pods.release(neighbour);
      held.delete(neighbour);
    }
    for (const [owner, address] of held) expect(pods.allocate(owner)).toBe(address);
  });

  it('releases the whole chain, leaving empty shards', () => {
    const pods = ipam({ poolId: 'pods', kind: 'pod', cidr: '10.0.0.0/27', shardCount: 4 });
    owners(30).forEach((owner) => pods.allocate(owner));
    owners(30).forEach((owner) => pods.release(owner));
    for (const shard of [0, 1, 2, 3]) {
      const state = foldEvents(poolShardDecider, pods.streams.get(shard) ?? []);
      expect(state.status === 'open' && [state.owners.size, state.spills.size]).toEqual([0, 0]);
    }
    expect(new Set(owners(30).map((owner) => pods.allocate(owner))).size).toBe(30);
  });

  it('never hands out a reserved range', () => {
    const pods = ipam({ poolId: 'pods', kind: 'pod', cidr: '10.0.0.0/27', shardCount: 4 });
    pods.reserve('10.0.0.4', '10.0.0.27');
    const addresses = owners(6).map((owner) => pods.allocate(owner));
    expect([...addresses].sort()).toEqual(
      ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.28', '10.0.0.29', '10.0.0.30'].sort(),
    );
    expect(codeOf(() => pods.allocate('pod-late'))).toBe('PoolExhausted');
  });

  it('allocates service VIPs from a vip pool, including a requested VIP', () => {
    const vips = ipam({ poolId: 'vips', kind: 'vip', cidr: '10.96.0.0/24' });
    expect(vips.pool.kind).toBe('vip');
    expect(vips.allocate('service:web')).toBe('10.96.0.1');
    expect(vips.allocate('service:dns', '10.96.0.10')).toBe('10.96.0.10');
    expect(vips.allocate('service:web')).toBe('10.96.0.1');
    expect(vips.allocate('service:api')).toBe('10.96.0.2');
    expect(codeOf(() => vips.allocate('service:other', '10.96.0.10'))).toBe('AddressInUse');
  });

  it('keeps allocation fast and state compact for a /16 pool', () => {
    const pods = ipam({ poolId: 'pods', kind: 'pod', cidr: '10.0.0.0/16' });
    expect(pods.pool.shardCount).toBe(64);
    const addresses = owners(4000).map((owner) => pods.allocate(owner));
    expect(new Set(addresses).size).toBe(4000);
    const state = foldEvents(poolShardDecider, pods.streams.get(0) ?? []);
    expect(state.status === 'open' && state.allocated.byteLength).toBe(128);
  });
});
