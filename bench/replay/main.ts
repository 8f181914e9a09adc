/**
 * bench/replay: time travel over a long history — how fast the fold runs, and how long
 * `replay --at` a random moment takes with fold snapshots every K events (two Ks) and without.
 *
 * One run: a generated history of EVENTS events (default 1,000,000) appended through the real
 * SQLite adapter to a store file under /tmp (deleted at the end): NODES nodes, two segments,
 * pods created, relabelled, moved and deleted across the nodes (about LIVE pods alive at any
 * time), node heartbeats, and POLICIES policies created and revised now and then. Events carry
 * their identity, as the config service writes them. Then, in this one process:
 *
 * - fold, decoded: the whole log held in memory as RecordedEvents, folded for one node
 *   (libs/forwarding, the agent's code), median of ROUNDS;
 * - fold, from the store: read through the EventStore port and folded as it streams;
 * - index: the analytics service's HistoryIndex catching up with the log — the fold plus a
 *   snapshot every K events into its SQLite side file;
 * - replay --at: MOMENTS random positions (seeded), a random node each, answered as the
 *   service answers (state restored from the latest snapshot, the tail read from the store,
 *   tables and digest), with snapshots and without (folded from the first event).
 *
 *   npm run bench:replay   (EVENTS=1000000 KS=2000,5000 MOMENTS=20 NODES=20 LIVE=10000 ROUNDS=3)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore, type RecordedEvent } from '@strata/eventstore';
import { ForwardingState, tablesToJson } from '@strata/forwarding';
import { digest, HistoryIndex } from '../../services/analytics/src/history/history-index';
import {
  formatRate,
  formatRatio,
  median,
  percentile,
  positiveIntFromEnv as positiveInt,
} from '../support/stats';

const EVENTS = positiveInt('EVENTS', 1_000_000);
/** The snapshot intervals compared, in one run (KS=2000,5000). */
const KS = (process.env.KS ?? '2000,5000').split(',').map((k) => {
  const value = Number(k);
  if (!Number.isInteger(value) || value < 1) throw new Error(`KS: ${k} is not a count`);
  return value;
});
const MOMENTS = positiveInt('MOMENTS', 20);
const NODE_COUNT = positiveInt('NODES', 20);
const LIVE = positiveInt('LIVE', 10_000);
const POLICIES = positiveInt('POLICIES', 10);
const ROUNDS = positiveInt('ROUNDS', 3);
const T0 = Date.UTC(2026, 0, 1);

/** A seeded PRNG (mulberry32): the same history and moments on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Pod {
  readonly uid: string;
  readonly ip: string;
  node: string;
}

const APPS = ['web', 'api', 'db', 'cache', 'queue', 'auth', 'search', 'batch'];
const nodes = Array.from({ length: NODE_COUNT }, (_, i) => `node-${i}`);

function labels(random: () => number): { labels: Record<string, string>; identity: number } {
  const app = Math.floor(random() * APPS.length);
  const version = Math.floor(random() * 4);
  return { labels: { app: APPS[app], version: `v${version}` }, identity: 256 + app * 4 + version };
}

function policySpec(i: number, revision: number) {
  const port = 1000 + ((i * 7 + revision) % 50);
  return {
    policyId: `policy-${i}`,
    name: `policy-${i}`,
    tier: i % 3 === 0 ? 'platform' : 'application',
    priority: 100 + i,
    selector: { matchLabels: { app: APPS[i % APPS.length] }, matchExpressions: [] },
    directions: ['ingress'],
    ingress: [
      {
        action: revision % 2 === 0 ? 'allow' : 'deny',
        peers: [
          { selector: { matchLabels: { app: APPS[(i + 1) % APPS.length] }, matchExpressions: [] } },
        ],
        ports: [{ protocol: 'TCP', port, endPort: port }],
      },
    ],
    egress: [],
    staged: false,
    source: { kind: 'strata', namespace: '', name: '' },
  };
}

/** Appends the generated history; returns the pods alive at the end. */
async function generate(store: SqliteEventStore): Promise<number> {
  const random = prng(42);
  let count = 0;
  const append = async (stream: string, type: string, data: unknown) => {
    await store.append(stream, [{ id: `ev-${count}`, type, data }], 'any');
    count++;
  };
  for (const [i, name] of nodes.entries()) {
    await append(`node-${name}`, 'NodeRegistered', {
      name,
      vtepAddress: `192.168.${i >> 8}.${(i & 255) + 1}`,
      vtepMac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
      registeredAt: new Date(T0).toISOString(),
    });
  }
  for (const [i, segmentId] of ['blue', 'green'].entries()) {
    await append(`segment-${segmentId}`, 'SegmentCreated', {
      segmentId,
      name: segmentId,
      vni: 100 + i,
      subnets: [`10.${i}.0.0/16`],
      federated: false,
    });
  }
  const policyRevisions = new Array<number>(POLICIES).fill(-1);
  const live: Pod[] = [];
  let next = 0;
  while (count < EVENTS) {
    const roll = random();
    const fill = live.length / LIVE;
    if (live.length === 0 || (roll < 0.3 && fill < 1.2) || fill < 0.5) {
      const n = next++;
      const segment = n % 2;
      const slot = n % 65_000;
      const ip = `10.${segment}.${slot >> 8}.${slot & 255}`;
      const node = nodes[Math.floor(random() * nodes.length)];
      const { labels: podLabels, identity } = labels(random);
      await append(`endpoint-pod-${n}`, 'EndpointCreated', {
        uid: `pod-${n}`,
        kind: 'pod',
        segmentId: segment === 0 ? 'blue' : 'green',
        node,
        ip,
        mac: `0a:58:0a:${segment.toString(16).padStart(2, '0')}:${(slot >> 8).toString(16).padStart(2, '0')}:${(slot & 255).toString(16).padStart(2, '0')}`,
        labels: podLabels,
        identity,
        namedPorts: [],
      });
      live.push({ uid: `pod-${n}`, ip, node });
    } else if (roll < 0.6) {
      const pod = live[Math.floor(random() * live.length)];
      const { labels: podLabels, identity } = labels(random);
      await append(`endpoint-${pod.uid}`, 'EndpointLabelsUpdated', {
        uid: pod.uid,
        labels: podLabels,
        identity,
      });
    } else if (roll < 0.72) {
      const pod = live[Math.floor(random() * live.length)];
      pod.node = nodes[Math.floor(random() * nodes.length)];
      await append(`endpoint-${pod.uid}`, 'EndpointMoved', { uid: pod.uid, node: pod.node });
    } else if (roll < 0.92) {
      const index = Math.floor(random() * live.length);
      const [pod] = live.splice(index, 1);
      await append(`endpoint-${pod.uid}`, 'EndpointDeleted', { uid: pod.uid });
    } else if (roll < 0.998) {
      const name = nodes[Math.floor(random() * nodes.length)];
      await append(`node-${name}`, 'NodeHeartbeatRecorded', {
        name,
        at: new Date(T0 + count * 10).toISOString(),
      });
    } else {
      const i = Math.floor(random() * POLICIES);
      const revision = ++policyRevisions[i];
      await append(
        `policy-policy-${i}`,
        revision === 0 ? 'PolicyCreated' : 'PolicyUpdated',
        policySpec(i, revision),
      );
    }
  }
  return live.length;
}

function markdownTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Settles what the fold defers until read (derived entries, compiled policy), as the agent does. */
function settle(state: ForwardingState): void {
  state.takeChanges();
}

function elapsedMs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-replay-'));
  // Also on exit: should the store's close never settle, the event loop drains without
  // running the finally below.
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  let tick = 0;
  const store = new SqliteEventStore({
    path: join(dir, 'events.db'),
    clock: () => T0 + tick++ * 10,
  });
  try {
    let started = process.hrtime.bigint();
    const alive = await generate(store);
    const generateSeconds = elapsedMs(started) / 1000;
    const head = await store.headPosition();

    // Fold, decoded: the log in memory, folded as one node.
    started = process.hrtime.bigint();
    const events: RecordedEvent[] = [];
    for await (const event of store.readAll()) events.push(event);
    const readRate = events.length / (elapsedMs(started) / 1000);
    const decodedRates: number[] = [];
    let stats = new ForwardingState('node-0').stats;
    for (let round = 0; round < ROUNDS; round++) {
      const state = new ForwardingState('node-0');
      started = process.hrtime.bigint();
      for (const event of events) state.apply(event);
      settle(state);
      decodedRates.push(events.length / (elapsedMs(started) / 1000));
      stats = state.stats;
    }
    events.length = 0;

    // Fold, from the store.
    const streamed = new ForwardingState('node-0');
    started = process.hrtime.bigint();
    for await (const event of store.readAll()) streamed.apply(event);
    settle(streamed);
    const storeRate = EVENTS / (elapsedMs(started) / 1000);

    const random = prng(7);
    const moments = Array.from({ length: MOMENTS }, () => ({
      position: 1 + Math.floor(random() * head),
      node: nodes[Math.floor(random() * nodes.length)],
    }));
    const rows: string[][] = [
      [
        `fold, decoded events (events/s, median of ${ROUNDS})`,
        formatRate(median(decodedRates)),
        '>= 1,000,000',
        '',
      ],
      ['read from the store alone (events/s)', formatRate(readRate), '', ''],
      ['fold, read from the store (events/s)', formatRate(storeRate), '', ''],
    ];
    // Per K: the service's index (fold + a snapshot every K), then replay --at each moment.
    let noSnapshots: number[] | undefined;
    const snapshotCounts: string[] = [];
    let baseline: number[] | undefined;
    for (const k of KS) {
      const index = new HistoryIndex(store, { snapshotEvery: k });
      try {
        started = process.hrtime.bigint();
        await index.catchUp();
        const indexRate = EVENTS / (elapsedMs(started) / 1000);
        snapshotCounts.push(`${index.stats.snapshots} at K = ${k.toLocaleString('en-US')}`);
        const latencies: number[] = [];
        const tail: number[] = [];
        const full: number[] = [];
        for (const { position, node } of moments) {
          started = process.hrtime.bigint();
          const answer = await index.replay(node, String(position));
          latencies.push(elapsedMs(started));
          tail.push(answer.eventsFolded);
          if (noSnapshots === undefined) {
            // Without snapshots (once): fold from the first event, same answer.
            started = process.hrtime.bigint();
            const { state } = await index.stateAt(node, answer.at.position, false);
            const whole = digest(state);
            tablesToJson(state.tables);
            full.push(elapsedMs(started));
            if (whole !== answer.digest) {
              throw new Error(`replay at ${position} as ${node}: snapshot and full fold disagree`);
            }
          }
        }
        noSnapshots ??= full;
        baseline ??= latencies;
        const name = `K = ${k.toLocaleString('en-US')}`;
        rows.push(
          [`index, ${name}: fold + snapshots (events/s)`, formatRate(indexRate), '', ''],
          [
            `replay --at, ${name}: p50 ms`,
            median(latencies).toFixed(1),
            '<= 200',
            formatRatio(median(latencies) / median(baseline)),
          ],
          [
            `replay --at, ${name}: p99 ms`,
            percentile(latencies, 99).toFixed(1),
            '<= 200',
            formatRatio(percentile(latencies, 99) / percentile(baseline, 99)),
          ],
          [`events folded after the snapshot, ${name}: median`, String(median(tail)), '', ''],
        );
      } finally {
        index.close();
      }
    }
    const without = noSnapshots!;
    rows.push(
      [
        'replay --at, no snapshots (fold from the first event): p50 ms',
        median(without).toFixed(1),
        '',
        formatRatio(median(without) / median(baseline!)),
      ],
      [
        'replay --at, no snapshots (fold from the first event): p99 ms',
        percentile(without, 99).toFixed(1),
        '',
        formatRatio(percentile(without, 99) / percentile(baseline!, 99)),
      ],
    );
    console.log(
      `bench/replay: ${EVENTS.toLocaleString('en-US')} events (${alive.toLocaleString('en-US')} pods alive at the end, ` +
        `${NODE_COUNT} nodes, ${POLICIES} policies; fold: ${stats.applied.toLocaleString('en-US')} applied, ` +
        `${stats.rejected} rejected, ${stats.unknown} unknown), SQLite file, generated in ${generateSeconds.toFixed(0)} s; ` +
        `snapshots: ${snapshotCounts.join(', ')}; ${MOMENTS} random moments, a random node each; ` +
        `ratios vs K = ${KS[0].toLocaleString('en-US')}\n`,
    );
    console.log(markdownTable(['measure', 'value', 'aim', 'ratio'], rows));
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
