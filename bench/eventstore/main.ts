/**
 * bench/eventstore: every event-store adapter side by side in one run, so the shared, noisy
 * machine affects all columns alike. Each figure is the median of ROUNDS rounds over a fresh
 * store; the last column compares each adapter with the embedded default.
 *
 *   npm run bench:eventstore            (ROUNDS=3 EVENTS=100000 by default)
 *   STRATA_KURRENTDB_URL=kurrentdb://host:2113?tls=false npm run bench:eventstore
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsServerProcess } from '@strata/bus';
import {
  type EventStore,
  type EventToAppend,
  JetStreamEventStore,
  KurrentDbEventStore,
  SqliteEventStore,
} from '@strata/eventstore';
import { renderTable } from '../../services/cli/src/output/table';
import {
  formatRate,
  formatRatio,
  median,
  ratePerSecond,
  positiveIntFromEnv as positiveInt,
} from '../support/stats';

const ROUNDS = positiveInt('ROUNDS', 3);
const EVENTS = positiveInt('EVENTS', 100_000);
const SINGLE_APPENDS = positiveInt('SINGLE_APPENDS', 3_000);
const BATCH = 100;
const STREAMS = 100;

interface Adapter {
  readonly name: string;
  create(): Promise<EventStore>;
}

interface Figures {
  singleAppends: number;
  batchedAppends: number;
  replay: number;
  subscription: number;
}

const METRICS: readonly { key: keyof Figures; label: string; aim?: string }[] = [
  { key: 'singleAppends', label: 'appends/s, one event per append' },
  { key: 'batchedAppends', label: `appends/s, batches of ${BATCH}`, aim: '>= 50,000 (embedded)' },
  { key: 'replay', label: 'replay reads/s (readAll)', aim: '>= 300,000 (embedded)' },
  { key: 'subscription', label: 'catch-up subscription events/s' },
];

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-es-'));
  const nats = await NatsServerProcess.start({ jetstream: true, storeDir: join(dir, 'jetstream') });
  let files = 0;
  const adapters: Adapter[] = [
    {
      name: 'sqlite',
      create: async () => new SqliteEventStore({ path: join(dir, `normal-${files++}.db`) }),
    },
    {
      name: 'sqlite (fsync)',
      create: async () =>
        new SqliteEventStore({ path: join(dir, `full-${files++}.db`), durability: 'full' }),
    },
    {
      name: 'jetstream',
      create: () =>
        JetStreamEventStore.connect({
          servers: nats.url,
          streamName: `BENCH_${randomUUID().slice(0, 8).toUpperCase()}`,
          subjectPrefix: `bench${randomUUID().slice(0, 8)}`,
        }),
    },
  ];
  const kurrentUrl = process.env.STRATA_KURRENTDB_URL;
  if (kurrentUrl !== undefined && kurrentUrl !== '') {
    adapters.push({
      name: 'kurrentdb',
      create: () => KurrentDbEventStore.connect({ connectionString: kurrentUrl }),
    });
  } else {
    console.log('kurrentdb: skipped (set STRATA_KURRENTDB_URL to include it)');
  }

  try {
    const rounds = new Map<string, Figures[]>(adapters.map((a) => [a.name, []]));
    // Rounds interleave the adapters so a burst of load on the machine hits every column.
    for (let round = 0; round < ROUNDS; round++) {
      for (const adapter of adapters) {
        rounds.get(adapter.name)!.push(await measure(adapter));
        process.stdout.write('.');
      }
    }
    process.stdout.write('\n');
    const medians = new Map(
      adapters.map((a) => [a.name, medianFigures(rounds.get(a.name)!)] as const),
    );
    const baseline = medians.get('sqlite')!;
    const headers = ['metric (median of ' + ROUNDS + ')', ...adapters.map((a) => a.name), 'aim'];
    const rows = METRICS.map(({ key, label, aim }) => [
      label,
      ...adapters.map((a) => {
        const value = medians.get(a.name)![key];
        return a.name === 'sqlite'
          ? formatRate(value)
          : `${formatRate(value)} (${formatRatio(value / baseline[key])})`;
      }),
      aim ?? '',
    ]);
    console.log(
      `\nbench/eventstore: ${EVENTS.toLocaleString('en-US')} events over ${STREAMS} streams; (ratio) = vs sqlite\n`,
    );
    console.log(renderTable(headers, rows));
  } finally {
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measure(adapter: Adapter): Promise<Figures> {
  const store = await adapter.create();
  try {
    // Events are made before the clock starts: the figures are the store's, not the generator's.
    const singles = Array.from({ length: SINGLE_APPENDS }, (_, i) => event(i));
    const singleAppends = await ratePerSecond(SINGLE_APPENDS, async () => {
      for (let i = 0; i < SINGLE_APPENDS; i++) {
        await store.append(`single-s${i % STREAMS}`, [singles[i]], 'any');
      }
    });
    const perStream = Math.ceil(EVENTS / BATCH / STREAMS);
    const batches = Array.from({ length: STREAMS }, () =>
      Array.from({ length: perStream }, (_, b) =>
        Array.from({ length: BATCH }, (_, i) => event(b * BATCH + i)),
      ),
    );
    const batchedAppends = await ratePerSecond(STREAMS * perStream * BATCH, async () => {
      // One writer per stream, each appending its batches in turn: concurrency across streams,
      // optimistic concurrency within each (exact expected revisions, as services append).
      await Promise.all(
        batches.map(async (streamBatches, s) => {
          let expected: number | 'no-stream' = 'no-stream';
          for (const batch of streamBatches) {
            expected = (await store.append(`batch-s${s}`, batch, expected)).nextExpectedRevision;
          }
        }),
      );
    });
    const total = SINGLE_APPENDS + STREAMS * perStream * BATCH;
    const replay = await ratePerSecond(total, async () => {
      let read = 0;
      for await (const _ of store.readAll()) {
        read++;
      }
      expectCount('replay', read, total);
    });
    const subscription = await ratePerSecond(total, async () => {
      const live = store.subscribe();
      let read = 0;
      for await (const _ of live) {
        if (++read === total) {
          break;
        }
      }
      await live.close();
    });
    return { singleAppends, batchedAppends, replay, subscription };
  } finally {
    await store.close();
  }
}

function event(i: number): EventToAppend {
  return {
    id: randomUUID(),
    type: 'EndpointCreated',
    data: {
      uid: `pod-${i}`,
      segmentId: 'blue',
      node: `node-${i % 100}`,
      ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      mac: '02:00:00:00:00:01',
      labels: { app: 'shop', tier: 'web' },
    },
    correlationId: `bench-${i}`,
    actor: 'bench',
  };
}

function medianFigures(all: readonly Figures[]): Figures {
  const pick = (key: keyof Figures) => median(all.map((f) => f[key]));
  return {
    singleAppends: pick('singleAppends'),
    batchedAppends: pick('batchedAppends'),
    replay: pick('replay'),
    subscription: pick('subscription'),
  };
}

function expectCount(what: string, actual: number, expected: number): void {
  if (actual !== expected) {
    throw new Error(`${what}: read ${actual} events, expected ${expected}`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
