import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import {
  CommandClient,
  CommandTransportError,
  IPAM,
  NatsServerProcess,
  type AddressAllocation,
} from '@strata/bus';
import { cidrContains, parseCidr, parseIpv4 } from '@strata/domain';
import { SqliteEventStore } from '@strata/eventstore';
import { compiledIpamMain, IpamReplicaProcess } from '../../services/ipam/src/testing/ipam-replica';

// Two IPAM replicas (separate processes, one queue group, one SQLite file) and concurrent
// clients make 20,000 allocations. Halfway through, one replica is killed with SIGKILL; clients
// retry requests that got no reply with the same command id. The contract: no address is given
// twice, none is lost — every reply matches what the log holds — and the kill changes neither.

const ALLOCATIONS = 20_000;
const CONCURRENCY = 64;
const CONNECTIONS = 4;
const POOL = { poolId: 'pods', kind: 'pod', cidr: '10.0.0.0/16' } as const;
/** Per attempt: a request the killed replica took gets its retry after this. */
const TIMEOUT_MS = 2_000;

jest.setTimeout(120_000);

let dir: string;
let nats: NatsServerProcess;
let replicas: IpamReplicaProcess[] = [];
let connections: NatsConnection[] = [];

beforeAll(async () => {
  compiledIpamMain(); // fails with "run `npm run build` first" when dist/ is missing or stale
  dir = await mkdtemp(join(tmpdir(), 'strata-ipam-chaos-'));
  nats = await NatsServerProcess.start();
  const store = join(dir, 'events.db');
  replicas = await Promise.all(
    [0, 1].map(() => IpamReplicaProcess.start({ natsUrl: nats.url, store })),
  );
  connections = await Promise.all(
    Array.from({ length: CONNECTIONS }, () => connect({ servers: nats.url })),
  );
});

afterAll(async () => {
  await Promise.all(connections.map((c) => c.close()));
  await Promise.all(replicas.map((r) => r.stop()));
  await nats?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('IPAM with two replicas, one killed halfway', () => {
  it('gives no address twice and loses none', async () => {
    const clients = connections.map((c) => new CommandClient(c, { actor: 'chaos' }));
    await clients[0].execute(IPAM.createPool, POOL);

    const replies = new Map<string, AddressAllocation>();
    let retried = 0;
    let repliedAfterKill = 0;
    let killedAt: number | undefined;
    const [victim, survivor] = replicas;

    /** Allocates for `owner`, retrying a request that got no reply with the same command id. */
    const allocate = async (client: CommandClient, owner: string) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await client.execute(
            IPAM.allocateAddress,
            { poolId: POOL.poolId, owner },
            { commandId: `allocate-${owner}`, timeoutMs: TIMEOUT_MS },
          );
        } catch (error) {
          if (!(error instanceof CommandTransportError) || attempt === 10) throw error;
          retried++;
        }
      }
    };

    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, worker) => {
        const client = clients[worker % clients.length];
        for (let i = next++; i < ALLOCATIONS; i = next++) {
          const owner = `pod-${i}`;
          replies.set(owner, await allocate(client, owner));
          if (killedAt !== undefined) repliedAfterKill++;
          if (replies.size === ALLOCATIONS / 2 && killedAt === undefined) {
            killedAt = replies.size;
            await victim.kill9();
          }
        }
      }),
    );

    // The kill happened halfway, hit requests in flight, and the survivor carried on alone.
    expect(killedAt).toBe(ALLOCATIONS / 2);
    expect(victim.running).toBe(false);
    expect(survivor.running).toBe(true);
    expect(retried).toBeGreaterThan(0);
    expect(repliedAfterKill).toBeGreaterThanOrEqual(ALLOCATIONS / 2 - CONCURRENCY);

    // None twice: 20,000 owners, 20,000 distinct addresses, all usable addresses of the pool.
    expect(replies.size).toBe(ALLOCATIONS);
    const addresses = [...replies.values()].map((r) => r.address);
    expect(new Set(addresses).size).toBe(ALLOCATIONS);
    const cidr = parseCidr(POOL.cidr);
    for (const address of addresses) {
      expect(cidrContains(cidr, parseIpv4(address))).toBe(true);
      expect(['10.0.0.0', '10.0.255.255']).not.toContain(address);
    }

    // None lost: the log holds exactly one allocation per owner, the one each client was told
    // (a retried request that the killed replica had already appended was answered with it,
    // not given a second address).
    const log = new SqliteEventStore({ path: join(dir, 'events.db') });
    const fromLog = new Map<string, string>();
    const types = new Map<string, number>();
    try {
      for await (const event of log.readAll({ filter: { categories: ['poolshard'] } })) {
        types.set(event.type, (types.get(event.type) ?? 0) + 1);
        if (event.type === 'AddressAllocated') {
          const { owner, address } = event.data as { owner: string; address: string };
          expect(fromLog.has(owner)).toBe(false);
          fromLog.set(owner, address);
        }
      }
    } finally {
      await log.close();
    }
    expect(types.get('AddressAllocated')).toBe(ALLOCATIONS);
    expect(types.get('AddressReleased') ?? 0).toBe(0);
    for (const [owner, reply] of replies) {
      expect(fromLog.get(owner)).toBe(reply.address);
    }

    // And the surviving replica, asked again with new command ids, gives every owner the
    // address it holds (a sample, to keep the test short).
    for (let i = 0; i < ALLOCATIONS; i += 97) {
      const owner = `pod-${i}`;
      const again = await clients[0].execute(IPAM.allocateAddress, { poolId: POOL.poolId, owner });
      expect(again.address).toBe(replies.get(owner)!.address);
    }
  });
});
