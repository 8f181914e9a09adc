import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { parseIpv4, type CreatePool } from '@strata/domain';
import { DeciderRunner, SqliteEventStore, type CommandMeta } from '@strata/eventstore';
import { PoolShards } from './pool-shards';

// The IPAM walk against a real (in-memory) SQLite store, with two "replicas": two PoolShards,
// each with its own DeciderRunner and so its own cache, deciding on the same streams.

let store: SqliteEventStore;
let a: PoolShards;
let b: PoolShards;
let commands = 0;
const meta = (commandId = `cmd-${commands++}`): CommandMeta => ({
  commandId,
  actor: 'test',
  correlationId: commandId,
});

beforeEach(() => {
  store = new SqliteEventStore({ path: ':memory:' });
  a = new PoolShards(new DeciderRunner(store));
  b = new PoolShards(new DeciderRunner(store));
});
afterEach(async () => {
  await store.close();
});

async function createPool(data: CreatePool['data']) {
  return a.create({ type: 'CreatePool', data }, meta());
}

async function allocate(replica: PoolShards, poolId: string, owner: string, commandId?: string) {
  const pool = await replica.pool(poolId);
  return (await replica.allocate(pool, owner, undefined, meta(commandId))).address;
}

async function codeOf(work: Promise<unknown>): Promise<string | undefined> {
  try {
    await work;
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

describe('PoolShards', () => {
  it('never hands out one address twice when two replicas allocate concurrently', async () => {
    await createPool({ poolId: 'pods', kind: 'pod', cidr: '10.0.0.0/22', shardCount: 4 });
    const owners = Array.from({ length: 600 }, (_, i) => `pod-${i}`);
    const addresses = await Promise.all(
      owners.map((owner, i) => allocate(i % 2 === 0 ? a : b, 'pods', owner)),
    );
    expect(new Set(addresses).size).toBe(owners.length);
    // Each replica answers for owners the other allocated, with the same address.
    const again = await Promise.all(
      owners.map((owner, i) => allocate(i % 2 === 0 ? b : a, 'pods', owner)),
    );
    expect(again).toEqual(addresses);
  });

  it('fills a pool through spill chains from both replicas, then PoolExhausted', async () => {
    await createPool({ poolId: 'small', kind: 'pod', cidr: '10.5.0.0/27', shardCount: 4 });
    const owners = Array.from({ length: 30 }, (_, i) => `pod-${i}`);
    const addresses = await Promise.all(
      owners.map((owner, i) => allocate(i % 2 === 0 ? a : b, 'small', owner)),
    );
    expect(new Set(addresses).size).toBe(30);
    expect(await codeOf(allocate(a, 'small', 'late'))).toBe('PoolExhausted');
    // Released by the other replica, chain and all; then everyone fits again.
    const pool = await b.pool('small');
    for (const [i, owner] of owners.entries()) {
      const released = await (i % 2 === 0 ? b : a).release(pool, owner, undefined, meta());
      expect(released).toBe(addresses[i]);
    }
    await b.release(pool, 'late', undefined, meta());
    const events = [];
    for await (const event of store.readAll({ filter: { categories: ['poolshard'] } })) {
      events.push(event.type);
    }
    expect(events.filter((t) => t === 'SpillReleased').length).toBe(
      events.filter((t) => t === 'AllocationSpilled').length,
    );
    const refill = await Promise.all(owners.map((owner) => allocate(b, 'small', owner)));
    expect(new Set(refill).size).toBe(30);
  });

  it('does not answer from a cache that another replica has made stale', async () => {
    await createPool({ poolId: 'blue', kind: 'pod', cidr: '10.1.0.0/24' });
    const first = await allocate(a, 'blue', 'pod-1');
    const pool = await b.pool('blue');
    expect(await b.release(pool, 'pod-1', undefined, meta())).toBe(first);
    // B hands the freed address to pod-2; A, whose cache still says pod-1 holds it, must not
    // tell pod-1 it still has it.
    expect(await allocate(b, 'blue', 'pod-2')).toBe(first);
    const again = await allocate(a, 'blue', 'pod-1');
    expect(again).not.toBe(first);
  });

  it('applies a reservation made by one replica to the shards another replica has cached', async () => {
    await createPool({ poolId: 'blue', kind: 'pod', cidr: '10.1.0.0/24' });
    await allocate(a, 'blue', 'pod-0');
    await b.reserve('blue', { first: '10.1.0.100', last: '10.1.0.200' }, meta());
    const addresses = await Promise.all(
      Array.from({ length: 150 }, (_, i) => allocate(a, 'blue', `pod-${i + 1}`)),
    );
    for (const address of addresses) {
      const value = parseIpv4(address);
      expect(value < parseIpv4('10.1.0.100') || value > parseIpv4('10.1.0.200')).toBe(true);
    }
  });

  it('opens a shard once when both replicas find it closed at the same time', async () => {
    await createPool({ poolId: 'pods', kind: 'pod', cidr: '10.0.0.0/24' });
    const [x, y] = await Promise.all([allocate(a, 'pods', 'pod-x'), allocate(b, 'pods', 'pod-y')]);
    expect(x).not.toBe(y);
    const opened = (await store.readStream('poolshard-pods.0')).filter(
      (e) => e.type === 'PoolShardOpened',
    );
    expect(opened).toHaveLength(1);
  });

  it('answers a retried command id at the other replica with the original address', async () => {
    await createPool({ poolId: 'pods', kind: 'pod', cidr: '10.0.0.0/24' });
    await b.pool('pods');
    await allocate(b, 'pods', 'pod-0');
    const original = await allocate(a, 'pods', 'pod-1', 'retried');
    expect(await allocate(b, 'pods', 'pod-1', 'retried')).toBe(original);
  });

  it('rejects a command id replayed after its outcome was undone', async () => {
    await createPool({ poolId: 'pods', kind: 'pod', cidr: '10.0.0.0/24' });
    await allocate(a, 'pods', 'pod-1', 'first');
    await a.release(await a.pool('pods'), 'pod-1', undefined, meta());
    expect(await codeOf(allocate(a, 'pods', 'pod-1', 'first'))).toBe('DuplicateCommand');
  });

  it('claims each pool CIDR in the global space: overlaps are rejected, retries are not', async () => {
    const data = { poolId: 'pods', kind: 'pod', cidr: '10.0.0.0/24' } as const;
    await createPool(data);
    await createPool(data);
    expect(await codeOf(createPool({ poolId: 'other', kind: 'vip', cidr: '10.0.0.128/25' }))).toBe(
      'OverlappingCidr',
    );
    expect((await a.list()).map((p) => p.poolId)).toEqual(['pods']);
  });
});
