/**
 * bench/ipam: address allocations end to end — a client's NATS request, the IPAM replica's
 * decide on the owner's pool shard, the append to the SQLite event store, the reply — with one
 * and with two IPAM replicas (separate processes in one queue group, sharing one store file),
 * side by side in one run. Each round starts fresh (new store, new replicas, new pool) and
 * interleaves the two setups, so a burst of load on the machine hits both columns; figures are
 * medians over rounds. Latency is per request, as the client sees it.
 *
 *   npm run bench:ipam        (ROUNDS=3 ALLOCATIONS=20000 CONCURRENCY=100 by default)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { CommandClient, IPAM, NatsServerProcess } from '@strata/bus';
import { renderTable } from '../../services/cli/src/output/table';
import { IpamReplicaProcess } from '../../services/ipam/src/testing/ipam-replica';
import {
  formatRate,
  formatRatio,
  median,
  percentile,
  positiveIntFromEnv as positiveInt,
} from '../support/stats';

const ROUNDS = positiveInt('ROUNDS', 3);
const ALLOCATIONS = positiveInt('ALLOCATIONS', 20_000);
const CONCURRENCY = positiveInt('CONCURRENCY', 100);
const WARMUP = positiveInt('WARMUP', 1_000);
/** Client connections the concurrent requests are spread over. */
const CONNECTIONS = 4;
const SETUPS = [1, 2] as const;

interface Figures {
  rate: number;
  p50: number;
  p99: number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-ipam-'));
  const nats = await NatsServerProcess.start();
  const connections = await Promise.all(
    Array.from({ length: CONNECTIONS }, () => connect({ servers: nats.url })),
  );
  try {
    const rounds = new Map<number, Figures[]>(SETUPS.map((replicas) => [replicas, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const replicas of SETUPS) {
        rounds
          .get(replicas)!
          .push(
            await measure(nats.url, join(dir, `r${round}-x${replicas}.db`), replicas, connections),
          );
        process.stdout.write('.');
      }
    }
    process.stdout.write('\n');
    const medians = new Map(
      SETUPS.map((replicas) => [replicas, medianFigures(rounds.get(replicas)!)] as const),
    );
    const one = medians.get(1)!;
    const rows = [
      [
        'allocations/s (request, decide, append, reply)',
        (f: Figures) => f.rate,
        formatRate,
        '>= 5,000',
      ],
      ['p50 latency, ms', (f: Figures) => f.p50, formatMs, ''],
      ['p99 latency, ms', (f: Figures) => f.p99, formatMs, '< 20'],
    ] as const;
    const headers = [`metric (median of ${ROUNDS})`, '1 replica', '2 replicas', 'aim'];
    const table = rows.map(([label, pick, format, aim]) => [
      label,
      format(pick(one)),
      `${format(pick(medians.get(2)!))} (${formatRatio(pick(medians.get(2)!) / pick(one))})`,
      aim,
    ]);
    console.log(
      `\nbench/ipam: ${ALLOCATIONS.toLocaleString('en-US')} allocations per round, ${CONCURRENCY} in flight over ${CONNECTIONS} client connections, ` +
        `pool 10.0.0.0/16 (64 shards), SQLite store shared by the replicas; (ratio) = vs 1 replica\n`,
    );
    console.log(renderTable(headers, table));
  } finally {
    await Promise.all(connections.map((c) => c.close()));
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measure(
  natsUrl: string,
  store: string,
  replicas: number,
  connections: readonly NatsConnection[],
): Promise<Figures> {
  const processes = await Promise.all(
    Array.from({ length: replicas }, () => IpamReplicaProcess.start({ natsUrl, store })),
  );
  try {
    const clients = connections.map(
      (c) => new CommandClient(c, { actor: 'bench', timeoutMs: 10_000 }),
    );
    await clients[0].execute(IPAM.createPool, {
      poolId: 'bench',
      kind: 'pod',
      cidr: '10.0.0.0/16',
    });
    await allocate(clients, 'warm', WARMUP);
    const start = process.hrtime.bigint();
    const { latencies, addresses } = await allocate(clients, 'pod', ALLOCATIONS);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (new Set(addresses).size !== ALLOCATIONS) {
      throw new Error(
        `${replicas} replica(s): ${ALLOCATIONS - new Set(addresses).size} addresses handed out twice`,
      );
    }
    return {
      rate: ALLOCATIONS / seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
    };
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
  }
}

/** `count` allocations for owners `<prefix>-<i>`, CONCURRENCY at a time. */
async function allocate(
  clients: readonly CommandClient[],
  prefix: string,
  count: number,
): Promise<{ latencies: number[]; addresses: string[] }> {
  const latencies: number[] = [];
  const addresses: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, worker) => {
      const client = clients[worker % clients.length];
      for (let i = next++; i < count; i = next++) {
        const began = process.hrtime.bigint();
        const reply = await client.execute(IPAM.allocateAddress, {
          poolId: 'bench',
          owner: `${prefix}-${i}`,
        });
        latencies.push(Number(process.hrtime.bigint() - began) / 1e6);
        addresses.push(reply.address);
      }
    }),
  );
  return { latencies, addresses };
}

function medianFigures(all: readonly Figures[]): Figures {
  return {
    rate: median(all.map((f) => f.rate)),
    p50: median(all.map((f) => f.p50)),
    p99: median(all.map((f) => f.p99)),
  };
}

function formatMs(value: number): string {
  return value.toFixed(1);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
