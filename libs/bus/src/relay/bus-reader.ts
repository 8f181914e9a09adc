import { SpanKind, context, type Context } from '@opentelemetry/api';
import {
  StoreUnavailable,
  matchesFilter,
  type EventFilter,
  type RecordedEvent,
} from '@strata/eventstore';
import { extractTraceContext, telemetryEnabled, withSpan } from '@strata/telemetry';
import type { Msg, MsgHdrs, NatsConnection, NatsError, Subscription } from 'nats';
import type { LogSource } from '../log/remote-log';
import { ALL_EVENTS_SUBJECT } from '../subjects';
import {
  MalformedBusMessage,
  START_OF_LOG,
  decodeBusMessage,
  type BusCheckpoint,
  type BusMessage,
} from './codec';

/**
 * Reads the relay's events off NATS and hands them to one async handler in log order, each
 * exactly once, filling whatever the bus lost from the store:
 *
 * - It subscribes to `strata.ev.>` first, then catches up from the store after its checkpoint,
 *   then works through what the bus delivered meanwhile: a message at or below the last seq is
 *   a duplicate (dropped); one beyond the next seq means a gap, read from the store
 *   (`readAll({ after: lastPosition, untilPosition: prevPosition })`) before the message itself.
 * - The relay's heartbeat reports its last (seq, position): a heartbeat ahead of the reader
 *   means the bus lost the tail, which is read from the store at once.
 * - When nothing arrives for `idleTimeoutMs` (no relay, or the bus is away) it reads the store
 *   after its position, so it keeps up through a failover even before the next relay speaks.
 * - The handler is awaited event by event (backpressure); bus messages wait in a bounded queue.
 *   Past `maxPending` the queue is dropped and the reader resyncs from the store instead.
 *
 * The seq of an event is its index in the global log, so a reader counts it itself while it
 * reads the store; a message whose (seq, previous position) disagrees with that count stops the
 * reader with a BusReaderError (never a silent skip). A `filter` narrows what reaches the
 * handler; the reader still follows every event, since the dense seq is global.
 */

export interface Delivery {
  /** The event's index in the global log (1-based). */
  readonly seq: number;
  /** Whether it came off the bus or was read from the store (catch-up or gap fill). */
  readonly source: 'bus' | 'store';
}

export type EventHandler = (event: RecordedEvent, delivery: Delivery) => Promise<void> | void;

export interface BusReaderOptions {
  readonly nc: NatsConnection;
  /** Where gaps and catch-up are read from: the store, or the log over NATS (RemoteLog). */
  readonly store: LogSource;
  readonly handler: EventHandler;
  /** Where to resume: the last (position, seq) handled. Default the start of the log. */
  readonly from?: BusCheckpoint;
  readonly filter?: EventFilter;
  /** Read the store when the bus has been silent this long. Default 3 s (3 heartbeats). */
  readonly idleTimeoutMs?: number;
  /** Bus messages queued behind a slow handler before the reader resyncs instead. Default 10,000. */
  readonly maxPending?: number;
  /** Wait before retrying a store that failed or lags behind the bus. Default 100 ms. */
  readonly retryDelayMs?: number;
  /** Problems the reader survives: malformed messages, store failures, queue overflow. */
  readonly onWarning?: (error: Error) => void;
}

export interface BusReaderStats {
  /** Events handed to the handler (after the filter), from the bus and from the store. */
  delivered: number;
  fromBus: number;
  fromStore: number;
  duplicates: number;
  /** Gaps the bus left (a seq skipped, or a heartbeat ahead), each filled from the store. */
  gaps: number;
  /** Reads of the store after the reader's position: the first catch-up, idle, overflow, retry. */
  resyncs: number;
  rejected: number;
  overflows: number;
}

/** The reader cannot continue: the bus and the store disagree about the log. */
export class BusReaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BusReaderError';
  }
}

interface Queued {
  readonly message: BusMessage;
  readonly headers: MsgHdrs | undefined;
}

const DEFAULT_IDLE_TIMEOUT_MS = 3_000;
const DEFAULT_MAX_PENDING = 10_000;

export class BusReader {
  readonly stats: BusReaderStats = {
    delivered: 0,
    fromBus: 0,
    fromStore: 0,
    duplicates: 0,
    gaps: 0,
    resyncs: 0,
    rejected: 0,
    overflows: 0,
  };
  /** Settles when the reader stops: resolves after `close()`, rejects with what stopped it. */
  readonly done: Promise<void>;
  /**
   * Resolves once the first catch-up from the store is over, with the checkpoint it reached;
   * rejects if the reader stops before that.
   */
  readonly caughtUp: Promise<BusCheckpoint>;
  private resolveCaughtUp!: (checkpoint: BusCheckpoint) => void;
  private rejectCaughtUp!: (error: unknown) => void;
  private last: BusCheckpoint;
  private queue: Queued[] = [];
  private closed = false;
  private resyncNeeded = false;
  private wake: ((woken: boolean) => void) | undefined;
  private subscription: Subscription | undefined;
  private startLoop!: () => void;

  private constructor(private readonly options: BusReaderOptions) {
    const from = options.from ?? START_OF_LOG;
    if (
      !Number.isSafeInteger(from.position) ||
      !Number.isSafeInteger(from.seq) ||
      from.seq < 0 ||
      from.seq > from.position
    ) {
      throw new TypeError(`invalid checkpoint (position ${from.position}, seq ${from.seq})`);
    }
    this.last = from;
    const started = new Promise<void>((resolve) => {
      this.startLoop = resolve;
    });
    this.caughtUp = new Promise((resolve, reject) => {
      this.resolveCaughtUp = resolve;
      this.rejectCaughtUp = reject;
    });
    this.caughtUp.catch(() => undefined);
    this.done = started.then(() => this.run());
    // Callers that never await `done` must not get an unhandled rejection from it.
    this.done.catch(() => undefined);
  }

  /** Subscribes (the server has the interest when this resolves), then starts reading. */
  static async start(options: BusReaderOptions): Promise<BusReader> {
    const reader = new BusReader(options);
    reader.subscription = options.nc.subscribe(ALL_EVENTS_SUBJECT, {
      callback: (error, msg) => reader.receive(error, msg),
    });
    await options.nc.flush();
    reader.startLoop();
    return reader;
  }

  /** The last event handled (or skipped by the filter): save it to resume from. */
  get checkpoint(): BusCheckpoint {
    return this.last;
  }

  /** Stops after the event being handled, if any; resolves when the reader has stopped. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.subscription?.unsubscribe();
      this.queue = [];
      this.wake?.(true);
    }
    this.startLoop();
    await this.done.catch(() => undefined);
  }

  private receive(error: NatsError | null, msg: Msg): void {
    if (this.closed) {
      return;
    }
    if (error !== null) {
      this.warn(error);
      this.resyncNeeded = true;
      this.wake?.(true);
      return;
    }
    let message: BusMessage;
    try {
      message = decodeBusMessage(msg);
    } catch (failure) {
      if (!(failure instanceof MalformedBusMessage)) {
        throw failure;
      }
      this.stats.rejected += 1;
      this.warn(failure);
      return;
    }
    if (this.queue.length >= (this.options.maxPending ?? DEFAULT_MAX_PENDING)) {
      // The store has everything the bus had: drop the backlog and read it from there.
      this.queue = [];
      this.stats.overflows += 1;
      this.resyncNeeded = true;
    }
    // Headers hold only trace context, present when telemetry is on: decode them only then.
    this.queue.push({ message, headers: telemetryEnabled() ? msg.headers : undefined });
    this.wake?.(true);
  }

  private async run(): Promise<void> {
    try {
      this.resyncNeeded = true;
      while (!this.closed) {
        try {
          if (this.resyncNeeded) {
            this.resyncNeeded = false;
            this.stats.resyncs += 1;
            await this.catchUp();
            this.resolveCaughtUp(this.last);
            continue;
          }
          const next = this.queue.shift();
          if (next === undefined) {
            this.resyncNeeded = !(await this.idle(
              this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
            ));
            continue;
          }
          await this.process(next);
        } catch (error) {
          if (!(error instanceof StoreUnavailable || error instanceof StoreBehind)) {
            throw error;
          }
          // Try again shortly; the store has the truth, so resyncing loses nothing.
          this.warn(error);
          await this.pause(this.options.retryDelayMs ?? 100);
          this.resyncNeeded = true;
        }
      }
    } catch (error) {
      this.rejectCaughtUp(error);
      throw error;
    } finally {
      this.rejectCaughtUp(new Error('the reader closed before it caught up'));
      this.closed = true;
      this.subscription?.unsubscribe();
      this.queue = [];
    }
  }

  private async process({ message, headers }: Queued): Promise<void> {
    if (message.kind === 'heartbeat') {
      if (message.seq > this.last.seq) {
        this.stats.gaps += 1;
        await this.fillTo(message.seq, message.position);
      }
      return;
    }
    if (message.seq <= this.last.seq) {
      this.stats.duplicates += 1;
      return;
    }
    if (message.seq > this.last.seq + 1) {
      this.stats.gaps += 1;
      await this.fillTo(message.seq - 1, message.prevPosition);
      if (this.closed) {
        return;
      }
    }
    if (message.prevPosition !== this.last.position) {
      throw new BusReaderError(
        `event ${message.event.id} has seq ${message.seq} after position ${message.prevPosition}, ` +
          `but seq ${this.last.seq} is at position ${this.last.position} here: the bus and the store disagree`,
      );
    }
    await this.deliver(message.event, message.seq, 'bus', extractTraceContext(headers));
  }

  /** Everything in the store after the reader's position. */
  private async catchUp(): Promise<void> {
    for await (const event of this.options.store.readAll({ after: this.last.position })) {
      if (this.closed) {
        return;
      }
      await this.deliver(event, this.last.seq + 1, 'store', context.active());
    }
  }

  /** The store's events up to the one the bus numbered (seq, position), checking the count. */
  private async fillTo(seq: number, position: number): Promise<void> {
    const events = this.options.store.readAll({
      after: this.last.position,
      untilPosition: position,
    });
    for await (const event of events) {
      if (this.closed) {
        return;
      }
      if (this.last.seq + 1 > seq) {
        break;
      }
      await this.deliver(event, this.last.seq + 1, 'store', context.active());
    }
    if (this.last.position === position && this.last.seq === seq) {
      return;
    }
    if (this.last.position < position && this.last.seq < seq) {
      throw new StoreBehind(position, this.last.position);
    }
    throw new BusReaderError(
      `the bus puts seq ${seq} at position ${position}, but the store has seq ${this.last.seq} at position ${this.last.position}`,
    );
  }

  private async deliver(
    event: RecordedEvent,
    seq: number,
    source: Delivery['source'],
    parent: Context,
  ): Promise<void> {
    if (!matchesFilter(this.options.filter, event.stream, event.type)) {
      // Followed, not delivered.
    } else if (!telemetryEnabled()) {
      // The fan-out path: no span to describe, so no attributes to build.
      await this.options.handler(event, { seq, source });
      this.count(source);
    } else {
      await withSpan(
        `${event.stream} process`,
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            'messaging.system': 'nats',
            'messaging.operation.type': 'process',
            'strata.event.id': event.id,
            'strata.event.type': event.type,
            'strata.event.position': event.position,
            'strata.bus.seq': seq,
            'strata.bus.source': source,
          },
        },
        parent,
        () => this.options.handler(event, { seq, source }),
      );
      this.count(source);
    }
    this.last = { position: event.position, seq };
  }

  private count(source: Delivery['source']): void {
    this.stats.delivered += 1;
    if (source === 'bus') {
      this.stats.fromBus += 1;
    } else {
      this.stats.fromStore += 1;
    }
  }

  /** Waits for a bus message (true) or until `ms` pass in silence (false). */
  private idle(ms: number): Promise<boolean> {
    if (this.closed || this.queue.length > 0 || this.resyncNeeded) {
      return Promise.resolve(true);
    }
    return this.wait(ms, true);
  }

  /** Waits `ms` whatever arrives meanwhile; only `close()` cuts it short. */
  private pause(ms: number): Promise<void> {
    return this.closed ? Promise.resolve() : this.wait(ms, false).then(() => undefined);
  }

  private wait(ms: number, onMessage: boolean): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(false), ms);
      const done = (woken: boolean) => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve(woken);
      };
      this.wake = (woken) => {
        if (onMessage || this.closed) {
          done(woken);
        }
      };
    });
  }

  private warn(error: Error): void {
    this.options.onWarning?.(error);
  }
}

/** The store has not yet got events the bus already numbered (a lagging replica): retry. */
class StoreBehind extends Error {
  constructor(target: number, reached: number) {
    super(`the store reached position ${reached}, the bus is already at ${target}; retrying`);
    this.name = 'StoreBehind';
  }
}
