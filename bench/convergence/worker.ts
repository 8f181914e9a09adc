import { parentPort, workerData } from 'node:worker_threads';
import { connect } from 'nats';
import { RemoteLog } from '@strata/bus';
import { NodeAgent } from '../../services/agent/src/agent';
import type { AgentCheckpoint, CheckpointStore } from '../../services/agent/src/checkpoint-file';
import { MemoryDataplane } from '../../services/agent/src/dataplane';
import type { FromWorker, ToWorker, WorkerSetup } from './protocol';

/**
 * A worker thread of simulated node agents: each a real NodeAgent on its own NATS connection
 * (so the server fans every event out to each of them), with a memory dataplane. They start
 * from a snapshot of the log taken by the main thread — how a node joining a large cluster
 * would start — and follow the bus from there.
 */

const setup = workerData as WorkerSetup;
const port = parentPort!;
const send = (message: FromWorker) => port.postMessage(message);
const gc = (globalThis as { gc?: () => void }).gc;

/** Hands each agent the snapshot as its checkpoint; keeps nothing (no checkpoints are taken). */
class SnapshotCheckpoint implements CheckpointStore {
  async load(node: string) {
    // Each agent parses its own copy, as a real agent would: nothing shared between them.
    const state = { ...(JSON.parse(setup.snapshotJson) as object), node };
    return { bus: setup.bus, state };
  }
  async save(_checkpoint: AgentCheckpoint): Promise<void> {}
  async quarantine(): Promise<undefined> {
    return undefined;
  }
}

async function main(): Promise<void> {
  let warnings = 0;
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const now = () => performance.timeOrigin + performance.now();
  const agents: NodeAgent[] = [];
  const connections = [];
  for (const node of setup.nodes) {
    const nc = await connect({ servers: setup.natsUrl, name: `bench-${node}` });
    connections.push(nc);
    agents.push(
      await NodeAgent.start({
        nc,
        node,
        vtepAddress: '192.0.2.1',
        vtepMac: '02:00:00:00:00:01',
        log: new RemoteLog({ nc }),
        dataplane: new MemoryDataplane(),
        checkpoint: new SnapshotCheckpoint(),
        register: false,
        resyncIntervalMs: 0,
        checkpointIntervalMs: 0,
        reportIntervalMs: 100,
        now,
        onWarning: () => warnings++,
      }),
    );
  }
  await Promise.all(agents.map((agent) => agent.waitApplied(setup.bus.position, 120_000)));
  gc?.();
  const heapBytes = process.memoryUsage().heapUsed - heapBefore;
  const remoteEntries = agents.reduce((sum, agent) => sum + agent.state.tables.remote.size, 0);
  send({ kind: 'ready', heapBytes, remoteEntries, agents: agents.length });

  await new Promise<void>((resolve) =>
    port.on('message', (message: ToWorker) => {
      if (message.kind === 'stop') resolve();
    }),
  );
  const counters: Record<string, number> = {};
  for (const agent of agents) {
    const status = agent.counters();
    for (const [group, values] of Object.entries({
      reader: status.reader,
      reconcile: status.reconcile,
    })) {
      for (const [name, value] of Object.entries(values)) {
        counters[`${group}.${name}`] = (counters[`${group}.${name}`] ?? 0) + value;
      }
    }
  }
  for (const agent of agents) await agent.stop();
  for (const nc of connections) await nc.close();
  send({ kind: 'stopped', warnings, counters });
}

main().catch((error: unknown) =>
  send({ kind: 'error', message: (error as Error).stack ?? String(error) }),
);
