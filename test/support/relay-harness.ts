import { decodeBusMessage, type BusMessage, ALL_EVENTS_SUBJECT } from '@strata/bus';
import type { EventStore, RecordedEvent } from '@strata/eventstore';
import type { Msg, NatsConnection, Subscription } from 'nats';

/**
 * Shared pieces of the relay tests: a signal to wait on (never a sleep), a writer, a reader's
 * handler that records what it got, and a spy on the raw bus.
 */

/** Something that changes; `until` waits for a condition on it, re-checked at every change. */
export class Signal {
  private readonly waiters = new Set<() => void>();

  notify(): void {
    for (const waiter of [...this.waiters]) {
      waiter();
    }
  }

  until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    if (condition()) {
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const check = () => {
        if (condition()) {
          done();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }
}

/** Appends `count` one-event appends, round robin over `streams` segment streams. */
export async function appendEvents(
  store: EventStore,
  count: number,
  options: { prefix?: string; streams?: number } = {},
): Promise<void> {
  const prefix = options.prefix ?? 'e';
  const streams = options.streams ?? 4;
  for (let i = 0; i < count; i++) {
    await store.append(
      `segment-s${i % streams}`,
      [
        {
          id: `${prefix}-${i}`,
          type: 'SegmentTouched',
          data: { i, prefix },
          correlationId: `corr-${prefix}-${i}`,
          actor: 'test',
        },
      ],
      'any',
    );
  }
}

export async function readLog(store: EventStore): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  for await (const event of store.readAll()) {
    events.push(event);
  }
  return events;
}

export interface Received {
  readonly event: RecordedEvent;
  readonly seq: number;
  readonly source: 'bus' | 'store';
}

/** A BusReader handler that records every delivery. */
export class Collector {
  readonly received: Received[] = [];
  readonly changed = new Signal();

  readonly handler = (event: RecordedEvent, delivery: { seq: number; source: 'bus' | 'store' }) => {
    this.received.push({ event, seq: delivery.seq, source: delivery.source });
    this.changed.notify();
  };

  get count(): number {
    return this.received.length;
  }

  reach(count: number, timeoutMs?: number): Promise<void> {
    return this.changed.until(
      () => this.received.length >= count,
      `${count} events (have ${this.received.length})`,
      timeoutMs,
    );
  }
}

/** Records every message on `strata.ev.>` as it arrives, decoded. */
export class BusSpy {
  readonly messages: BusMessage[] = [];
  /** The `traceparent` header of each message ('' when absent), by index. */
  readonly traceparents: string[] = [];
  readonly changed = new Signal();
  private readonly subscription: Subscription;

  private constructor(nc: NatsConnection) {
    this.subscription = nc.subscribe(ALL_EVENTS_SUBJECT, {
      callback: (_error, msg) => this.record(msg),
    });
  }

  /** Resolves once the server has the subscription. */
  static async start(nc: NatsConnection): Promise<BusSpy> {
    const spy = new BusSpy(nc);
    await nc.flush();
    return spy;
  }

  get events() {
    return this.messages.flatMap((m) => (m.kind === 'event' ? [m] : []));
  }

  get heartbeats() {
    return this.messages.flatMap((m) => (m.kind === 'heartbeat' ? [m] : []));
  }

  until(condition: (spy: BusSpy) => boolean, what: string, timeoutMs?: number): Promise<void> {
    return this.changed.until(() => condition(this), what, timeoutMs);
  }

  stop(): void {
    this.subscription.unsubscribe();
  }

  private record(msg: Msg): void {
    this.messages.push(decodeBusMessage(msg));
    this.traceparents.push(msg.headers?.get('traceparent') ?? '');
    this.changed.notify();
  }
}

/** Problems with a delivered sequence: gaps, duplicates, order, or a mismatch with the log. */
export function deliveryProblems(received: readonly Received[], log: readonly RecordedEvent[]) {
  const problems: string[] = [];
  if (received.length !== log.length) {
    problems.push(`received ${received.length} events, the log has ${log.length}`);
  }
  received.forEach((r, i) => {
    if (r.seq !== i + 1) {
      problems.push(`delivery ${i} has seq ${r.seq}`);
    }
    if (
      log[i] !== undefined &&
      (r.event.id !== log[i].id || r.event.position !== log[i].position)
    ) {
      problems.push(
        `delivery ${i} is ${r.event.id}@${r.event.position}, log has ${log[i].id}@${log[i].position}`,
      );
    }
  });
  return problems.slice(0, 20);
}
