/**
 * bench/convergence: how fast a change reaches every node's dataplane, and what an agent costs.
 *
 * One run, several fleet sizes side by side (AGENTS_LIST, default "10,50,100"): for each, a fresh
 * SQLite log holding ENDPOINTS pods spread over the fleet's nodes, the relay publishing it on a
 * real nats-server, and that many NodeAgents (the real agent: bus reader, fold, reconciler,
 * applied reports; memory dataplane), each on its own NATS connection, in worker
 * threads. Agents start from a snapshot of the log (a joining node's bootstrap) and follow the
 * bus. Then RATE changes per second for SECONDS seconds (pods created, deleted, relabelled on
 * random nodes) are appended to the log, and every agent's applied reports are collected.
 *
 * Propagation of a change to a node = the time of that node's first applied point at or past
 * the change's position − the time its append was acknowledged (one clock: one machine).
 * "all nodes" is, per change, the slowest node. Memory is the agents' heap growth after GC
 * divided by their remote endpoints. CPU is process time (agents, relay, store, load generator
 * in one process) and nats-server's, in cores over the churn window.
 *
 *   npm run bench:convergence   (AGENTS_LIST=10,50,100 ENDPOINTS=50000 RATE=500 SECONDS=20 AGENTS_PER_WORKER=10)
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { connect } from 'nats';
import {
  ALL_AGENT_APPLIED_SUBJECT,
  appliedReport,
  decodeBody,
  LogServer,
  NatsServerProcess,
  Relay,
} from '@strata/bus';
import { SqliteEventStore, type EventToAppend } from '@strata/eventstore';
import { createForwardingState } from '@strata/forwarding';
import { renderTable } from '../../services/cli/src/output/table';
import { formatRate, positiveIntFromEnv as positiveInt } from '../support/stats';
import type { FromWorker, WorkerSetup } from './protocol';

const ENDPOINTS = positiveInt('ENDPOINTS', 50_000);
const RATE = positiveInt('RATE', 500);
const SECONDS = positiveInt('SECONDS', 20);
/**
 * Agents per worker thread. Each thread is a V8 isolate with its own heap: a real agent's heap
 * holds one node's tables, and packing 50 agents' tables into one heap made major GC pauses
 * (not the agents' work) the tail of the distribution. Threads share the machine's 2 cores.
 */
const AGENTS_PER_WORKER = positiveInt('AGENTS_PER_WORKER', 10);
const AGENTS_LIST = (process.env.AGENTS_LIST ?? '10,50,100').split(',').map((n) => {
  const value = Number(n);
  if (!Number.isInteger(value) || value < 1) throw new Error(`AGENTS_LIST: ${n} is not a count`);
  return value;
});
const TICK_MS = 10;
const SEGMENT = 'bench';
const VNI = 4242;

interface Figures {
  agents: number;
  endpoints: number;
  rate: number;
  changes: number;
  p50: number;
  p99: number;
  max: number;
  fleetP99: number;
  fleetMax: number;
  bytesPerRemote: number;
  processCores: number;
  natsCores: number;
  /** Process CPU per (change, agent) delivery over the churn window, µs. */
  cpuPerDeliveryUs: number;
  setupSeconds: number;
}

const now = () => performance.timeOrigin + performance.now();

function ipOf(i: number): string {
  return `10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
}

function macOf(i: number): string {
  return `0a:58:${[64 + (i >> 16), (i >> 8) & 255, i & 255, 1]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join(':')}`;
}

function endpointCreated(i: number, node: string, labels: Record<string, string>): EventToAppend {
  return {
    id: `ep-${i}-created`,
    type: 'EndpointCreated',
    data: {
      uid: `ep-${i}`,
      kind: 'pod',
      segmentId: SEGMENT,
      node,
      ip: ipOf(i),
      mac: macOf(i),
      labels,
    },
  };
}

/** CPU seconds nats-server has used (user + system, from /proc). */
function natsCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks
}

async function runScenario(agentCount: number): Promise<Figures> {
  const setupStarted = now();
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-convergence-'));
  const nats = await NatsServerProcess.start({ jetstream: true, storeDir: join(dir, 'nats') });
  const store = new SqliteEventStore({ path: join(dir, 'events.db') });
  const nodes = Array.from({ length: agentCount }, (_, i) => `node-${i}`);
  const workers: Worker[] = [];
  try {
    // The log: a segment, the fleet's nodes, and ENDPOINTS pods spread over them.
    await store.append(
      SEGMENT_STREAM,
      [
        {
          id: 'segment-created',
          type: 'SegmentCreated',
          data: {
            segmentId: SEGMENT,
            name: SEGMENT,
            vni: VNI,
            subnets: ['10.64.0.0/10'],
            federated: false,
          },
        },
      ],
      'no-stream',
    );
    await Promise.all(
      nodes.map((node, i) =>
        store.append(
          `node-${node}`,
          [
            {
              id: `${node}-registered`,
              type: 'NodeRegistered',
              data: {
                name: node,
                vtepAddress: `172.16.${i >> 8}.${(i & 255) + 1}`,
                vtepMac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
                registeredAt: new Date().toISOString(),
              },
            },
          ],
          'no-stream',
        ),
      ),
    );
    for (let start = 0; start < ENDPOINTS; start += 1_000) {
      await Promise.all(
        Array.from({ length: Math.min(1_000, ENDPOINTS - start) }, (_, k) => {
          const i = start + k;
          return store.append(
            `endpoint-ep-${i}`,
            [endpointCreated(i, nodes[i % agentCount], { app: `app-${i % 50}` })],
            'no-stream',
          );
        }),
      );
    }

    // The snapshot a joining node would be handed, and where the bus stands at it.
    const state = createForwardingState(nodes[0]);
    let seq = 0;
    for await (const event of store.readAll()) {
      state.apply(event);
      seq++;
    }
    const bus = { position: state.position, seq };
    const snapshotJson = JSON.stringify(state.snapshot());

    const relayConnection = await connect({ servers: nats.url });
    const relay = await Relay.start({ store, nc: relayConnection, heartbeatIntervalMs: 200 });
    const logServer = await LogServer.start({ nc: relayConnection, store });

    // Every agent's applied points, by node.
    const collector = await connect({ servers: nats.url });
    const points = new Map<string, [number, number][]>(nodes.map((node) => [node, []]));
    let waiters: (() => void)[] = [];
    collector.subscribe(ALL_AGENT_APPLIED_SUBJECT, {
      callback: (_error, msg) => {
        const report = appliedReport.parse(decodeBody(msg.data), '');
        points.get(report.node)?.push(...report.points);
        const pending = waiters;
        waiters = [];
        for (const waiter of pending) waiter();
      },
    });
    const appliedEverywhere = (position: number) =>
      nodes.every((node) => (points.get(node)!.at(-1)?.[0] ?? 0) >= position);
    const untilApplied = async (position: number, timeoutMs: number) => {
      const deadline = now() + timeoutMs;
      while (!appliedEverywhere(position)) {
        if (now() > deadline) throw new Error(`position ${position} not applied everywhere`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 1_000).unref(); // re-check the deadline at least every second
        });
      }
    };

    // The fleet, in worker threads.
    const ready: Promise<Extract<FromWorker, { kind: 'ready' }>>[] = [];
    const stopped: Promise<void>[] = [];
    const workerCount = Math.ceil(agentCount / AGENTS_PER_WORKER);
    for (let w = 0; w < workerCount; w++) {
      const setup: WorkerSetup = {
        natsUrl: nats.url,
        nodes: nodes.filter((_, i) => i % workerCount === w),
        snapshotJson,
        bus,
      };
      const worker = new Worker(join(__dirname, 'worker.js'), {
        workerData: setup,
        // Tens of agents each holding the whole fleet's endpoints outgrow the default heap.
        resourceLimits: { maxOldGenerationSizeMb: 12_288 },
      });
      workers.push(worker);
      const messages = (kind: FromWorker['kind']) =>
        new Promise<FromWorker>((resolve, reject) => {
          worker.on('message', (message: FromWorker) => {
            if (message.kind === 'error') reject(new Error(message.message));
            else if (message.kind === kind) resolve(message);
          });
          worker.once('error', reject);
        });
      ready.push(messages('ready') as Promise<Extract<FromWorker, { kind: 'ready' }>>);
      stopped.push(
        messages('stopped').then((message) => {
          if (message.kind === 'stopped') {
            console.error(
              `worker ${w}: ${message.warnings} warnings, ${JSON.stringify(message.counters)}`,
            );
          }
        }),
      );
    }
    const fleet = await Promise.all(ready);
    await untilApplied(bus.position, 120_000);
    const setupSeconds = (now() - setupStarted) / 1000;
    const heapBytes = fleet.reduce((sum, w) => sum + w.heapBytes, 0);
    const remoteEntries = fleet.reduce((sum, w) => sum + w.remoteEntries, 0);

    // Churn: RATE changes a second on random nodes, each timed from its acknowledged append.
    const appendedAt = new Map<number, number>();
    const live = Array.from({ length: ENDPOINTS }, (_, i) => i);
    let nextEndpoint = ENDPOINTS;
    let random = 0x2545f491;
    const rand = (n: number) => {
      random ^= random << 13;
      random ^= random >>> 17;
      random ^= random << 5;
      return (random >>> 0) % n;
    };
    const revision = new Map<number, number>();
    const change = async (): Promise<void> => {
      const roll = rand(10);
      let result;
      if (roll < 4 || live.length === 0) {
        const i = nextEndpoint++;
        result = await store.append(
          `endpoint-ep-${i}`,
          [endpointCreated(i, nodes[rand(agentCount)], { app: `app-${i % 50}` })],
          'no-stream',
        );
        live.push(i);
        revision.set(i, 0);
      } else {
        const slot = rand(live.length);
        const i = live[slot];
        const at = revision.get(i) ?? 0;
        // The stream's revision moves before the append is awaited: changes to one endpoint
        // in the same tick queue behind each other in one group commit, in order.
        revision.set(i, at + 1);
        if (roll < 7) {
          live[slot] = live[live.length - 1];
          live.pop();
          result = await store.append(
            `endpoint-ep-${i}`,
            [{ id: `ep-${i}-deleted`, type: 'EndpointDeleted', data: { uid: `ep-${i}` } }],
            at,
          );
        } else {
          result = await store.append(
            `endpoint-ep-${i}`,
            [
              {
                id: `ep-${i}-relabelled-${at + 1}`,
                type: 'EndpointLabelsUpdated',
                data: { uid: `ep-${i}`, labels: { app: `app-${rand(50)}`, tier: `t${at + 1}` } },
              },
            ],
            at,
          );
        }
      }
      appendedAt.set(result.lastPosition, now());
    };
    const cpuBefore = process.cpuUsage();
    const natsBefore = natsCpuSeconds(nats.pid!);
    const churnStarted = now();
    const inFlight: Promise<void>[] = [];
    const total = RATE * SECONDS;
    for (let tick = 0, sent = 0; sent < total; tick++) {
      const due = Math.min(total, Math.round(((tick + 1) * TICK_MS * RATE) / 1000));
      for (; sent < due; sent++) inFlight.push(change());
      const wait = churnStarted + (tick + 1) * TICK_MS - now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    await Promise.all(inFlight);
    const churnSeconds = (now() - churnStarted) / 1000;
    const last = Math.max(...appendedAt.keys());
    await untilApplied(last, 120_000);
    const windowSeconds = (now() - churnStarted) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const processCores = (cpu.user + cpu.system) / 1e6 / windowSeconds;
    const natsCores = (natsCpuSeconds(nats.pid!) - natsBefore) / windowSeconds;

    // Per (change, node): the first applied point at or past the change.
    const latencies: number[] = [];
    const fleetLatencies: number[] = [];
    const changes = [...appendedAt].sort((a, b) => a[0] - b[0]);
    const worst = new Float64Array(changes.length);
    for (const node of nodes) {
      const list = points.get(node)!;
      let p = 0;
      changes.forEach(([position, at], c) => {
        while (list[p][0] < position) p++;
        const latency = list[p][1] - at;
        latencies.push(latency);
        if (latency > worst[c]) worst[c] = latency;
      });
    }
    fleetLatencies.push(...worst);
    latencies.sort((a, b) => a - b);
    fleetLatencies.sort((a, b) => a - b);
    const pick = (sorted: number[], q: number) =>
      sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

    for (const worker of workers) worker.postMessage({ kind: 'stop' });
    await Promise.all(stopped);
    await collector.close();
    await logServer.close();
    await relay.stop();
    await relayConnection.close();
    return {
      agents: agentCount,
      endpoints: ENDPOINTS,
      rate: changes.length / churnSeconds,
      changes: changes.length,
      p50: pick(latencies, 0.5),
      p99: pick(latencies, 0.99),
      max: latencies[latencies.length - 1],
      fleetP99: pick(fleetLatencies, 0.99),
      fleetMax: fleetLatencies[fleetLatencies.length - 1],
      bytesPerRemote: remoteEntries === 0 ? Number.NaN : heapBytes / remoteEntries,
      processCores,
      natsCores,
      cpuPerDeliveryUs: (cpu.user + cpu.system) / (changes.length * agentCount),
      setupSeconds,
    };
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
    await store.close();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const SEGMENT_STREAM = `segment-${SEGMENT}`;

async function main(): Promise<void> {
  if ((globalThis as { gc?: unknown }).gc === undefined) {
    console.error(
      'bench/convergence: run with node --expose-gc for memory figures (npm run bench:convergence does)',
    );
  }
  const results: Figures[] = [];
  for (const agents of AGENTS_LIST) {
    console.error(
      `bench/convergence: ${agents} agents, ${ENDPOINTS} endpoints, ${RATE} changes/s for ${SECONDS} s`,
    );
    results.push(await runScenario(agents));
  }
  const ms = (value: number) => value.toFixed(1);
  console.log(
    renderTable(
      [
        'agents',
        'endpoints',
        'changes/s',
        'p50 ms',
        'p99 ms',
        'max ms',
        'all-nodes p99 ms',
        'all-nodes max ms',
        'bytes/remote endpoint',
        'CPU cores (process)',
        'CPU cores (nats)',
        'CPU µs/delivery',
        'setup s',
      ],
      results.map((r) => [
        String(r.agents),
        formatRate(r.endpoints),
        formatRate(r.rate),
        ms(r.p50),
        ms(r.p99),
        ms(r.max),
        ms(r.fleetP99),
        ms(r.fleetMax),
        Number.isNaN(r.bytesPerRemote) ? '-' : formatRate(r.bytesPerRemote),
        r.processCores.toFixed(2),
        r.natsCores.toFixed(2),
        r.cpuPerDeliveryUs.toFixed(1),
        r.setupSeconds.toFixed(0),
      ]),
    ),
  );
  console.log(
    `Propagation per (change, node), ${results.map((r) => r.changes).join(' / ')} changes; aim p99 <= 250 ms ` +
      'at 100+ agents, 50,000 endpoints, 500 changes/s, and <= 1 KiB per remote endpoint.',
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
