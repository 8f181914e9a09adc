import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { connect, type NatsConnection } from 'nats';
import { startCluster, type NatsCluster } from '@strata/bus';
import {
  JetStreamEventStore,
  StoreUnavailable,
  WrongExpectedRevision,
  type AppendResult,
  type EventToAppend,
  type ExpectedRevision,
  type RecordedEvent,
} from '@strata/eventstore';

// A 3-node JetStream cluster on loopback holds the log with 3 replicas. Writers append
// concurrently while the stream's leader is killed with SIGKILL. The contract under test: a
// writer retries an append that failed with StoreUnavailable with the same event ids, and in
// the end every acknowledged event is in the log exactly once, in order.

const STREAM = 'CHAOS_EVENTS';
/** Acknowledged appends before the kill, and after it. */
const BEFORE_KILL = 150;
const AFTER_KILL = 300;

jest.setTimeout(180_000);

let cluster: NatsCluster;
let store: JetStreamEventStore;
let nc: NatsConnection;

beforeAll(async () => {
  cluster = await startCluster(3);
  nc = await connect({ servers: cluster.urls });
  store = await JetStreamEventStore.connect({
    servers: cluster.urls,
    streamName: STREAM,
    subjectPrefix: 'chaos',
    replicas: 3,
    timeoutMs: 2_000,
  });
});

afterAll(async () => {
  await store?.close();
  await nc?.close();
  await cluster?.stop();
});

describe('JetStream event store when the stream leader is killed', () => {
  it('keeps every acknowledged event exactly once and in order', async () => {
    const progress = new Progress();
    const writers = [
      ...[0, 1, 2].map((w) => new Writer(`exact${w}`, `segment-x${w}`, 'exact', progress)),
      ...[0, 1, 2].map((w) => new Writer(`any${w}`, `segment-a${w}`, 'any', progress)),
      ...[0, 1].map((w) => new Writer(`shared${w}`, 'node-shared', 'contended', progress)),
    ];
    // A writer that fails stops the test at once rather than leaving it waiting for progress.
    const running = writers.map((writer) =>
      writer.run().catch((error: unknown) => {
        progress.fail(error);
        throw error;
      }),
    );
    let leader = '';
    let failure: unknown;
    try {
      await progress.reach(BEFORE_KILL);
      leader = await streamLeader();
      await cluster.server(leader).kill9();
      // The signal that the cluster recovered: appends acknowledged after the kill.
      await progress.reach(progress.count + AFTER_KILL);
    } catch (error) {
      failure = error;
    }
    // Writers finish (retrying until acknowledged) the append they are in, then stop.
    for (const writer of writers) {
      writer.stop();
    }
    const crashed = (await Promise.allSettled(running)).find((o) => o.status === 'rejected');
    if (crashed !== undefined || failure !== undefined) {
      throw crashed === undefined ? failure : (crashed as PromiseRejectedResult).reason;
    }

    expect(await streamLeader()).not.toBe(leader);
    const retries = writers.reduce((sum, w) => sum + w.retries, 0);
    // Appends were in flight at the kill, so some failed and were retried with the same ids.
    expect(retries).toBeGreaterThan(0);

    const log = await collect(store.readAll());
    const acknowledged = writers.flatMap((w) => w.acknowledged);
    expect(problems(log, acknowledged)).toEqual([]);
  });
});

async function streamLeader(): Promise<string> {
  const jsm = await nc.jetstreamManager();
  const leader = (await jsm.streams.info(STREAM)).cluster?.leader;
  if (leader === undefined || leader === '') {
    throw new Error(`stream ${STREAM} has no leader`);
  }
  return leader;
}

interface Acknowledged {
  readonly stream: string;
  readonly ids: readonly string[];
  readonly result: AppendResult;
}

type Mode =
  /** Alone on its stream, batches of one to three events at the exact revision. */
  | 'exact'
  /** Alone on its stream, batches of one to three events with 'any'. */
  | 'any'
  /** Shares its stream, one event at a time at the exact revision; a lost race is decided again. */
  | 'contended';

/** Appends until stopped; every append is retried until it is acknowledged. */
class Writer {
  readonly acknowledged: Acknowledged[] = [];
  retries = 0;
  private stopped = false;
  private nextExpected: ExpectedRevision = 'no-stream';

  constructor(
    private readonly name: string,
    private readonly stream: string,
    private readonly mode: Mode,
    private readonly progress: Progress,
  ) {}

  stop(): void {
    this.stopped = true;
  }

  async run(): Promise<void> {
    for (let n = 0; !this.stopped; n++) {
      const size = this.mode === 'contended' ? 1 : (n % 3) + 1;
      const batch = Array.from({ length: size }, (_, k) =>
        event(`${this.name}-${n}-${k}`, { n, k }),
      );
      const result = await this.appendWithRetries(batch);
      this.acknowledged.push({ stream: this.stream, ids: batch.map((e) => e.id), result });
      this.nextExpected = result.nextExpectedRevision;
      this.progress.tick();
    }
  }

  /** The idempotency contract: after StoreUnavailable, the same batch (same ids) again. */
  private async appendWithRetries(batch: EventToAppend[]): Promise<AppendResult> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await store.append(
          this.stream,
          batch,
          this.mode === 'any' ? 'any' : this.nextExpected,
        );
      } catch (error) {
        if (
          this.mode === 'contended' &&
          error instanceof WrongExpectedRevision &&
          attempt < 1_000
        ) {
          this.nextExpected = error.actual; // another writer was first: go on top of its event
          continue;
        }
        if (!(error instanceof StoreUnavailable) || attempt >= 1_000) {
          throw error;
        }
        this.retries++;
        // Back off between retries so a leaderless cluster is not hammered.
        await new Promise((resolve) => setTimeout(resolve, Math.min(20 * 2 ** attempt, 500)));
      }
    }
  }
}

/** Counts acknowledged appends; `reach(n)` resolves once n have been acknowledged. */
class Progress {
  count = 0;
  private failure: unknown;
  private waiters: {
    readonly n: number;
    readonly resolve: () => void;
    readonly reject: (error: unknown) => void;
  }[] = [];

  tick(): void {
    this.count++;
    this.waiters = this.waiters.filter((waiter) => {
      if (this.count >= waiter.n) {
        waiter.resolve();
        return false;
      }
      return true;
    });
  }

  reach(n: number): Promise<void> {
    if (this.failure !== undefined) {
      return Promise.reject(this.failure);
    }
    return this.count >= n
      ? Promise.resolve()
      : new Promise((resolve, reject) => this.waiters.push({ n, resolve, reject }));
  }

  /** Rejects every wait, now and later. */
  fail(error: unknown): void {
    this.failure ??= error;
    for (const waiter of this.waiters) {
      waiter.reject(error);
    }
    this.waiters = [];
  }
}

/**
 * Everything wrong with the log given what was acknowledged: ids twice, positions out of order,
 * revisions not dense per stream, acknowledged events missing or not where the ack said, and
 * events nobody acknowledged (every writer retried until its append was acknowledged).
 */
function problems(log: readonly RecordedEvent[], acknowledged: readonly Acknowledged[]): string[] {
  const found: string[] = [];
  const byId = new Map<string, RecordedEvent>();
  const nextRevision = new Map<string, number>();
  log.forEach((e, i) => {
    if (byId.has(e.id)) {
      found.push(`${e.id} is in the log twice`);
    }
    byId.set(e.id, e);
    if (i > 0 && e.position <= log[i - 1].position) {
      found.push(`position ${e.position} follows ${log[i - 1].position}`);
    }
    const revision = nextRevision.get(e.stream) ?? 0;
    if (e.revision !== revision) {
      found.push(`${e.stream}: revision ${e.revision} where ${revision} belongs`);
    }
    nextRevision.set(e.stream, e.revision + 1);
  });
  let ackedEvents = 0;
  for (const { stream, ids, result } of acknowledged) {
    ackedEvents += ids.length;
    ids.forEach((id, k) => {
      const e = byId.get(id);
      const revision = result.nextExpectedRevision - ids.length + 1 + k;
      if (e === undefined) {
        found.push(`acknowledged ${id} is missing`);
      } else if (e.stream !== stream || e.revision !== revision) {
        found.push(`${id} is ${e.stream}@${e.revision}, acknowledged as ${stream}@${revision}`);
      }
    });
    const first = byId.get(ids[0])?.position;
    const last = byId.get(ids[ids.length - 1])?.position;
    if (first !== result.firstPosition || last !== result.lastPosition) {
      found.push(
        `${ids[0]}: positions ${first}..${last}, acknowledged as ${JSON.stringify(result)}`,
      );
    }
  }
  if (log.length !== ackedEvents) {
    found.push(`the log has ${log.length} events; ${ackedEvents} were acknowledged`);
  }
  return found;
}

function event(id: string, data: unknown): EventToAppend {
  return { id, type: 'ChaosTick', data };
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) {
    out.push(item);
  }
  return out;
}
