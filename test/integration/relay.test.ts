import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  BusReader,
  NatsServerProcess,
  RELAY_LEASE_BUCKET,
  Relay,
  encodeEventMessage,
  encodeHeartbeat,
  type BusReaderOptions,
  type RelayOptions,
  type RelayState,
} from '@strata/bus';
import { SqliteEventStore, type RecordedEvent } from '@strata/eventstore';
import { setupTelemetry } from '@strata/telemetry';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import {
  BusSpy,
  Collector,
  Signal,
  appendEvents,
  deliveryProblems,
  readLog,
} from '../support/relay-harness';

// Real nats-server (JetStream on, for the lease bucket) and a real SQLite file per test.

jest.setTimeout(60_000);

let server: NatsServerProcess;
let dir: string;
let store: SqliteEventStore;
let nc: NatsConnection;
const cleanups: (() => Promise<unknown> | unknown)[] = [];

beforeEach(async () => {
  server = await NatsServerProcess.start({ jetstream: true });
  dir = await mkdtemp(join(tmpdir(), 'strata-relay-'));
  store = new SqliteEventStore({ path: join(dir, 'events.db'), pollIntervalMs: 20 });
  nc = await connect({ servers: server.url });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
  await nc?.close();
  await store?.close();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function startRelay(options: Partial<RelayOptions> = {}): Promise<Relay> {
  const relay = await Relay.start({
    store,
    nc,
    leaseTtlMs: 2_000,
    heartbeatIntervalMs: 100,
    checkpointIntervalMs: 100,
    ...options,
  });
  cleanups.push(() => relay.stop());
  return relay;
}

async function startReader(
  collector: Collector,
  options: Partial<BusReaderOptions> = {},
): Promise<BusReader> {
  const reader = await BusReader.start({ nc, store, handler: collector.handler, ...options });
  cleanups.push(() => reader.close());
  return reader;
}

describe('relay', () => {
  it('publishes every event in log order with a dense seq and its envelope', async () => {
    await appendEvents(store, 50, { prefix: 'before' });
    const spy = await BusSpy.start(nc);
    cleanups.push(() => spy.stop());
    const relay = await startRelay();
    await appendEvents(store, 50, { prefix: 'after' });
    await spy.until((s) => s.events.length >= 100, '100 events on the bus');
    await spy.until(
      (s) => s.heartbeats.some((h) => h.seq === 100),
      'a heartbeat reporting seq 100',
    );

    const log = await readLog(store);
    expect(spy.events.map((m) => m.seq)).toEqual(log.map((_, i) => i + 1));
    expect(spy.events.map((m) => m.event)).toEqual(log);
    expect(spy.events.map((m) => m.prevPosition)).toEqual([
      0,
      ...log.slice(0, -1).map((e) => e.position),
    ]);
    expect(relay.state).toBe('leading');
    expect(relay.lastPublished).toEqual({ seq: 100, position: log[99].position });
  });

  it('resumes from its checkpoint after a restart, republishing nothing it had saved', async () => {
    const spy = await BusSpy.start(nc);
    cleanups.push(() => spy.stop());
    const first = await startRelay({ holder: 'first' });
    await appendEvents(store, 30, { prefix: 'a' });
    await spy.until((s) => s.events.length >= 30, '30 events');
    await first.stop();

    await startRelay({ holder: 'second' });
    await appendEvents(store, 30, { prefix: 'b' });
    await spy.until((s) => s.events.length >= 60, '60 events');
    expect(spy.events.map((m) => m.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
  });
});

describe('bus reader', () => {
  it('catches up from the store, then switches to the bus with no gap and no duplicate', async () => {
    await startRelay();
    await appendEvents(store, 200, { prefix: 'old' });
    const collector = new Collector();
    // A handler that yields to the event loop, so new events reach the bus mid-catch-up.
    const reader = await startReader(collector, {
      handler: async (event, delivery) => {
        await new Promise((resolve) => setImmediate(resolve));
        collector.handler(event, delivery);
      },
    });
    for (let i = 0; i < 200; i++) {
      await appendEvents(store, 1, { prefix: `new${i}` });
      await new Promise((resolve) => setImmediate(resolve));
    }
    await collector.reach(400);
    await reader.close();

    expect(deliveryProblems(collector.received, await readLog(store))).toEqual([]);
    expect(reader.stats.fromStore).toBeGreaterThanOrEqual(200);
    expect(reader.stats.fromBus).toBeGreaterThan(0);
    expect(reader.checkpoint).toEqual({
      seq: 400,
      position: collector.received[399].event.position,
    });
  });

  it('resumes from a checkpoint', async () => {
    await appendEvents(store, 20);
    const log = await readLog(store);
    await startRelay();
    const collector = new Collector();
    const reader = await startReader(collector, { from: { seq: 12, position: log[11].position } });
    await reader.caughtUp;
    await appendEvents(store, 5, { prefix: 'more' });
    await collector.reach(13);
    expect(collector.received.map((r) => r.seq)).toEqual(
      Array.from({ length: 13 }, (_, i) => i + 13),
    );
    expect(collector.received.map((r) => r.event.id)).toEqual(
      (await readLog(store)).slice(12).map((e) => e.id),
    );
  });

  it('fills gaps from the store, drops duplicates, and reads a lost tail on a heartbeat', async () => {
    // No relay: the test publishes the messages itself, leaving some out on purpose.
    const collector = new Collector();
    const reader = await startReader(collector, { idleTimeoutMs: 60_000 });
    await reader.caughtUp;
    await appendEvents(store, 10);
    const log = await readLog(store);
    const publish = (seq: number) => {
      const out = encodeEventMessage(log[seq - 1], seq, seq === 1 ? 0 : log[seq - 2].position);
      nc.publish(out.subject, out.data);
    };
    publish(1);
    publish(2);
    publish(2);
    publish(6);
    publish(1);
    const heartbeat = encodeHeartbeat({ seq: 9, position: log[8].position }, 'test');
    nc.publish(heartbeat.subject, heartbeat.data);
    publish(10);
    await collector.reach(10);
    await reader.close();

    expect(deliveryProblems(collector.received, log)).toEqual([]);
    expect(collector.received.map((r) => r.source)).toEqual([
      'bus',
      'bus',
      'store',
      'store',
      'store',
      'bus',
      'store',
      'store',
      'store',
      'bus',
    ]);
    expect(reader.stats).toMatchObject({ duplicates: 2, gaps: 2, fromBus: 4, fromStore: 6 });
  });

  it('ignores malformed messages and keeps going', async () => {
    const warnings: Error[] = [];
    const collector = new Collector();
    const reader = await startReader(collector, {
      idleTimeoutMs: 60_000,
      onWarning: (e) => warnings.push(e),
    });
    await reader.caughtUp;
    await appendEvents(store, 1);
    const [event] = await readLog(store);
    nc.publish('strata.ev.segment.s0', new TextEncoder().encode('{}'));
    const out = encodeEventMessage(event, 1, 0);
    nc.publish(out.subject, out.data);
    await collector.reach(1);
    expect(reader.stats.rejected).toBe(1);
    expect(warnings[0]?.message).toMatch(/malformed message on strata.ev.segment.s0: seq/);
  });

  it('delivers only the filtered categories while following the whole log', async () => {
    await startRelay();
    const collector = new Collector();
    const reader = await startReader(collector, { filter: { categories: ['node'] } });
    await reader.caughtUp;
    await appendEvents(store, 10);
    await store.append('node-n1', [{ id: 'node-1', type: 'NodeJoined', data: {} }], 'any');
    await appendEvents(store, 10, { prefix: 'later' });
    await store.append('node-n2', [{ id: 'node-2', type: 'NodeJoined', data: {} }], 'any');
    await collector.reach(2);
    expect(collector.received.map((r) => [r.event.id, r.seq])).toEqual([
      ['node-1', 11],
      ['node-2', 22],
    ]);
  });

  it('stops at a failing handler, keeping the checkpoint of the last event handled', async () => {
    await appendEvents(store, 5);
    const log = await readLog(store);
    const reader = await BusReader.start({
      nc,
      store,
      handler: (event) => {
        if (event.id === log[3].id) {
          throw new Error('cannot fold');
        }
      },
    });
    cleanups.push(() => reader.close());
    await expect(reader.done).rejects.toThrow('cannot fold');
    await expect(reader.caughtUp).rejects.toThrow('cannot fold');
    expect(reader.checkpoint).toEqual({ seq: 3, position: log[2].position });
  });

  it('when the handler is slow, drops its backlog and reads it from the store instead', async () => {
    await startRelay();
    const collector = new Collector();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const reader = await startReader(collector, {
      maxPending: 20,
      handler: async (event, delivery) => {
        await gate;
        collector.handler(event, delivery);
      },
    });
    await reader.caughtUp;
    await appendEvents(store, 100);
    const log = await readLog(store);
    // Let the handler go once the relay has put everything on the bus (the heartbeat says so).
    const spy = await BusSpy.start(nc);
    cleanups.push(() => spy.stop());
    await spy.until((s) => s.heartbeats.some((h) => h.seq === 100), 'the relay at seq 100');
    release();
    await collector.reach(100);
    expect(deliveryProblems(collector.received, log)).toEqual([]);
    expect(reader.stats.overflows).toBeGreaterThan(0);
  });
});

describe('relay lease', () => {
  it('lets exactly one relay publish; a graceful stop hands over at once, with no duplicate', async () => {
    const spy = await BusSpy.start(nc);
    cleanups.push(() => spy.stop());
    const a = await startRelay({ holder: 'a' });
    await a.whenState('leading');
    const b = await startRelay({ holder: 'b' });
    await b.whenState('standby');
    await appendEvents(store, 50, { prefix: 'one' });
    await spy.until((s) => s.events.length >= 50, '50 events');
    expect(b.state).toBe('standby');
    expect(b.stats.published).toBe(0);

    await a.stop();
    await b.whenState('leading');
    await appendEvents(store, 50, { prefix: 'two' });
    await spy.until((s) => s.events.length >= 100, '100 events');
    expect(spy.events.map((m) => m.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(a.stats.published + b.stats.published).toBe(100);
  });

  it('a holder that loses its lease stops publishing until it holds it again', async () => {
    const spy = await BusSpy.start(nc);
    cleanups.push(() => spy.stop());
    // Each state change, with how many bus messages had arrived by then.
    const changes: { state: RelayState; at: number }[] = [];
    const states = new Signal();
    const relay = await startRelay({
      holder: 'victim',
      leaseTtlMs: 1_000,
      renewIntervalMs: 100,
      campaignIntervalMs: 100,
      onStateChange: (state) => {
        changes.push({ state, at: spy.messages.length });
        states.notify();
      },
    });
    await relay.whenState('leading');
    await appendEvents(store, 10, { prefix: 'held' });
    await spy.until((s) => s.events.length >= 10, '10 events');

    // Someone else takes the key (as if the lease had expired and another relay won it).
    const kv = await nc.jetstream().views.kv(RELAY_LEASE_BUCKET);
    await kv.put('global', JSON.stringify({ holder: 'intruder', since: '' }));
    await states.until(() => relay.state === 'standby', 'the relay to step down');
    await appendEvents(store, 10, { prefix: 'deposed' });

    // The intruder never renews: its key expires, the relay wins it back and goes on.
    await states.until(() => changes.length === 3, 'the relay to lead again');
    // It resumes from its checkpoint, so some of the first ten may come again: count seqs.
    await spy.until(
      (s) => new Set(s.events.map((m) => m.seq)).size >= 20,
      'the events appended meanwhile',
    );
    expect(changes.map((c) => c.state)).toEqual(['leading', 'standby', 'leading']);
    const whileDeposed = spy.messages.slice(changes[1].at, changes[2].at);
    expect(whileDeposed).toEqual([]);
    const seqs = [...new Set(spy.events.map((m) => m.seq))].sort((x, y) => x - y);
    expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });
});

describe('trace context', () => {
  it('travels from the relay publish span to the reader handler span in NATS headers', async () => {
    const exporter = new InMemorySpanExporter();
    const telemetry = setupTelemetry({
      serviceName: 'relay-test',
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    cleanups.push(() => telemetry.shutdown());
    const spy = await BusSpy.start(nc);
    cleanups.push(() => spy.stop());
    const seenInHandler = new Map<string, string>();
    const collector = new Collector();
    await startRelay();
    const reader = await startReader(collector, {
      handler: (event: RecordedEvent, delivery) => {
        const span = trace.getActiveSpan();
        seenInHandler.set(event.id, span?.spanContext().traceId ?? '');
        collector.handler(event, delivery);
      },
    });
    await reader.caughtUp;
    await appendEvents(store, 3);
    await collector.reach(3);
    await spy.until((s) => s.events.length >= 3, '3 events');

    expect(collector.received.map((r) => r.source)).toEqual(['bus', 'bus', 'bus']);
    const spans = exporter.getFinishedSpans();
    for (const { event } of collector.received) {
      const producer = spans.find(
        (s) => s.attributes['strata.event.id'] === event.id && s.name.endsWith(' publish'),
      );
      const consumer = spans.find(
        (s) => s.attributes['strata.event.id'] === event.id && s.name.endsWith(' process'),
      );
      expect(producer).toBeDefined();
      expect(consumer?.parentSpanContext?.spanId).toBe(producer?.spanContext().spanId);
      expect(consumer?.spanContext().traceId).toBe(producer?.spanContext().traceId);
      expect(seenInHandler.get(event.id)).toBe(producer?.spanContext().traceId);
    }
    const first = spans.find(
      (s) =>
        s.attributes['strata.event.id'] === spy.events[0].event.id && s.name.endsWith(' publish'),
    );
    const { traceId, spanId } = first!.spanContext();
    expect(spy.traceparents[spy.messages.indexOf(spy.events[0])]).toBe(
      `00-${traceId}-${spanId}-01`,
    );
  });
});
