import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import {
  BusReader,
  NatsServerProcess,
  RELAY_LEASE_BUCKET,
  type BusCheckpoint,
  type RelayStats,
} from '@strata/bus';
import { SqliteEventStore } from '@strata/eventstore';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KvWatchInclude, connect, type NatsConnection } from 'nats';
import { BusSpy, Collector, Signal, deliveryProblems, readLog } from '../support/relay-harness';

// Two relays run as child processes against one SQLite file and one nats-server. A writer in
// this process appends steadily; once a reader has received some events, the active relay is
// killed with SIGKILL. The standby must take the lease when it expires and continue from the
// checkpoint, and the reader must see every event exactly once, in log order. The reader's
// idle resync is pushed far out, so only the bus (and gap fills it triggers) can carry it on:
// a standby that did not continue would leave the reader stuck and the test failing.

jest.setTimeout(120_000);

const LEASE_TTL_MS = 1_500;
const BEFORE_KILL = 300;
const AFTER_TAKEOVER = 400;
const SUPPORT = join(__dirname, '..', 'support');

let server: NatsServerProcess;
let dir: string;
let storePath: string;
let store: SqliteEventStore;
let nc: NatsConnection;
const children: RelayProcess[] = [];

beforeAll(async () => {
  server = await NatsServerProcess.start({ jetstream: true });
  dir = await mkdtemp(join(tmpdir(), 'strata-relay-failover-'));
  storePath = join(dir, 'events.db');
  store = new SqliteEventStore({ path: storePath, pollIntervalMs: 10 });
  nc = await connect({ servers: server.url });
});

afterAll(async () => {
  for (const child of children) {
    await child.kill9();
  }
  await nc?.close();
  await store?.close();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('relay failover', () => {
  it('the standby continues after the active relay is killed; readers see every event once, in order', async () => {
    const spy = await BusSpy.start(nc);
    const holders = await watchLeaseHolders(nc);

    // Both start at once (each takes a few seconds to load); whichever wins the lease is "a".
    const started = [RelayProcess.spawn('relay-1'), RelayProcess.spawn('relay-2')];
    await Promise.all(
      started.map((r) => r.until((line) => line.state !== undefined, `${r.holder} campaigning`)),
    );
    await holders.until((h) => h.length === 1, 'a lease holder');
    const a = started.find((r) => r.holder === holders.values[0])!;
    const b = started.find((r) => r !== a)!;
    await b.until((line) => line.state === 'standby', `${b.holder} standing by`);

    const collector = new Collector();
    const readerStore = new SqliteEventStore({ path: storePath, pollIntervalMs: 10 });
    const reader = await BusReader.start({
      nc,
      store: readerStore,
      handler: collector.handler,
      idleTimeoutMs: 600_000,
    });
    await reader.caughtUp;

    const writer = new Writer(store);
    const writing = writer.run();

    await collector.reach(BEFORE_KILL);
    const killedAt = performance.now();
    await a.kill9();
    const atKill = collector.count;

    await b.until((line) => line.state === 'leading', `${b.holder} leading`);
    await holders.until((h) => h.at(-1) === b.holder, `the lease to name ${b.holder}`);
    const takeoverMs = performance.now() - killedAt;
    await collector.reach(collector.count + AFTER_TAKEOVER);

    writer.stop();
    await writing;
    const log = await readLog(store);
    await collector.reach(log.length);

    const stopped = b.until((line) => line.stopped === true, `${b.holder} stopped`);
    b.terminate();
    const final = (await stopped) as { stats: RelayStats; last: BusCheckpoint };
    await reader.close();
    await readerStore.close();
    holders.stop();
    spy.stop();

    console.log(
      `failover: ${log.length} events, ${atKill} delivered at the kill, lease taken over ` +
        `${Math.round(takeoverMs)} ms after it (TTL ${LEASE_TTL_MS} ms); the standby published ` +
        `${final.stats.published}; reader ${JSON.stringify(reader.stats)}`,
    );
    expect(deliveryProblems(collector.received, log)).toEqual([]);
    expect(holders.values).toEqual([a.holder, b.holder]);
    // The standby carried the log to its end on the bus...
    expect(final.last).toEqual({ seq: log.length, position: log[log.length - 1].position });
    expect(final.stats.published).toBeGreaterThanOrEqual(log.length - atKill);
    // ...and the reader's tail came from it, not from polling the store.
    expect(collector.received.at(-1)?.source).toBe('bus');
    const afterKill = collector.received.slice(atKill);
    expect(afterKill.filter((r) => r.source === 'bus').length).toBeGreaterThan(AFTER_TAKEOVER / 2);
    // Every seq the bus carried was one of the log's (duplicates allowed, never a wrong number).
    for (const message of spy.events) {
      expect(log[message.seq - 1]?.id).toBe(message.event.id);
    }
  });
});

interface FixtureLine {
  readonly state?: string;
  readonly stopped?: boolean;
  readonly warning?: string;
  readonly [key: string]: unknown;
}

/** A relay child process (test/support/relay-fixture.ts) and the lines it reported. */
class RelayProcess {
  readonly lines: FixtureLine[] = [];
  private readonly changed = new Signal();
  private readonly exited: Promise<void>;
  private stderr = '';

  private constructor(
    readonly holder: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    let pending = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        this.lines.push(JSON.parse(line) as FixtureLine);
      }
      this.changed.notify();
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    void this.exited.then(() => this.changed.notify());
  }

  static spawn(holder: string): RelayProcess {
    const child = spawn(
      process.execPath,
      [
        '--enable-source-maps',
        '--require',
        join(SUPPORT, 'relay-ts-register.js'),
        join(SUPPORT, 'relay-fixture.ts'),
      ],
      {
        env: {
          ...process.env,
          STRATA_NATS_URL: server.url,
          STRATA_STORE_PATH: storePath,
          STRATA_RELAY_HOLDER: holder,
          STRATA_RELAY_TTL_MS: String(LEASE_TTL_MS),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const relay = new RelayProcess(holder, child);
    children.push(relay);
    return relay;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first reported line that matches; fails if the process exits first. */
  async until(match: (line: FixtureLine) => boolean, what: string): Promise<FixtureLine> {
    await this.changed.until(
      () => this.lines.some(match) || !this.running,
      `${what} (${this.holder} said ${JSON.stringify(this.lines)})`,
      60_000,
    );
    const line = this.lines.find(match);
    if (line === undefined) {
      throw new Error(`${this.holder} exited before ${what}:\n${this.stderr}`);
    }
    return line;
  }

  /** SIGKILL to this child's own PID; resolves once it has exited. */
  async kill9(): Promise<void> {
    if (this.running) {
      process.kill(this.child.pid!, 'SIGKILL');
    }
    await this.exited;
  }

  terminate(): void {
    if (this.running) {
      process.kill(this.child.pid!, 'SIGTERM');
    }
  }
}

/** Appends one event at a time over a few streams, pacing itself, until stopped. */
class Writer {
  private stopped = false;
  constructor(private readonly target: SqliteEventStore) {}

  async run(): Promise<void> {
    for (let i = 0; !this.stopped; i++) {
      await this.target.append(
        `segment-w${i % 5}`,
        [{ id: `w-${i}`, type: 'SegmentTouched', data: { i } }],
        'any',
      );
      // Pacing, not waiting for anything: keeps the log growing across the failover.
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  stop(): void {
    this.stopped = true;
  }
}

/** Every holder the lease key has named, in order, as the KV watch reports them. */
async function watchLeaseHolders(connection: NatsConnection) {
  const kv = await connection.jetstream().views.kv(RELAY_LEASE_BUCKET, { ttl: LEASE_TTL_MS });
  const watcher = await kv.watch({ key: 'global', include: KvWatchInclude.AllHistory });
  const values: string[] = [];
  const changed = new Signal();
  void (async () => {
    for await (const entry of watcher) {
      if (entry.operation === 'PUT') {
        const { holder } = entry.json<{ holder: string }>();
        if (values.at(-1) !== holder) {
          values.push(holder);
        }
        changed.notify();
      }
    }
  })();
  return {
    values,
    until: (condition: (holders: string[]) => boolean, what: string) =>
      changed.until(() => condition(values), what),
    stop: () => watcher.stop(),
  };
}
