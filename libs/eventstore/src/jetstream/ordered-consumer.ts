import {
  AckPolicy,
  createInbox,
  DeliverPolicy,
  JsHeaders,
  nanos,
  NatsError,
  type ConsumerConfig,
  type JetStreamManager,
  type Msg,
  type NatsConnection,
  type Subscription,
} from 'nats';
import { StoreUnavailable } from '../errors';
import { ADAPTER, nanosTextToMillis } from './codec';

export interface OrderedConsumerOptions {
  /** The JetStream stream. */
  readonly stream: string;
  /** First stream sequence to deliver (1 = from the start). */
  readonly startSeq: number;
  /** Subjects to deliver; all of the stream when empty. More than one needs nats-server 2.10. */
  readonly filterSubjects: readonly string[];
  /** The server sends a heartbeat when idle this long; two missed ones recreate the consumer. */
  readonly heartbeatMs: number;
  /** How long to keep trying to (re)create the consumer before failing with StoreUnavailable. */
  readonly recoverWithinMs: number;
}

/** One message as delivered, with the fields of its ack subject. */
export interface Delivery {
  readonly msg: Msg;
  /** Stream sequence: the event's position. */
  readonly seq: number;
  /** Storage time, milliseconds since the epoch (truncated from the server's nanoseconds). */
  readonly timestampMs: number;
  /** Messages matching the filter still after this one, as of its delivery. */
  readonly pending: number;
}

/**
 * An ordered, ephemeral push consumer read one message at a time: messages arrive in stream order
 * with no gap and no duplicate, or the consumer is recreated from the last delivered sequence.
 * The same idea as the nats client's ordered consumer, written out here because the event store
 * needs what that one hides: the pending count at creation (to tell "nothing to read" without
 * waiting), the exact nanosecond timestamp text, and a bounded recovery that ends in
 * StoreUnavailable instead of retrying forever.
 *
 * Back-pressure: flow-control requests and stall notices are answered when the reader reaches
 * them, not when they arrive, so the server never runs far ahead of a slow reader.
 * Nothing is acknowledged (ack policy none) and the consumer lives in memory with one replica;
 * it is deleted on close (and by the server once its subscription is gone).
 */
export class OrderedConsumer {
  /** Matching messages from the start sequence to the end of the stream, at creation. */
  initialPending = 0;

  private subscription: Subscription | undefined;
  private consumerName: string | undefined;
  private readonly queue: Msg[] = [];
  private queueHead = 0;
  private wake: (() => void) | undefined;
  private nextDeliverySeq = 1;
  private lastStreamSeq: number;
  private arrived = false;
  private missedBeats = 0;
  private resetWanted = false;
  private recreating = false;
  private closed = false;
  private readonly watchdog: NodeJS.Timeout;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly options: OrderedConsumerOptions,
  ) {
    this.lastStreamSeq = options.startSeq - 1;
    this.watchdog = setInterval(() => this.checkHeartbeat(), options.heartbeatMs);
    this.watchdog.unref();
  }

  static async open(
    nc: NatsConnection,
    jsm: JetStreamManager,
    options: OrderedConsumerOptions,
  ): Promise<OrderedConsumer> {
    const consumer = new OrderedConsumer(nc, jsm, options);
    try {
      consumer.initialPending = await consumer.createWithinDeadline();
    } catch (error) {
      await consumer.close();
      throw error;
    }
    return consumer;
  }

  /** The next message in stream order; undefined once closed. Throws StoreUnavailable. */
  async next(): Promise<Delivery | undefined> {
    for (;;) {
      if (this.closed) {
        return undefined;
      }
      if (this.resetWanted) {
        await this.recreate();
        continue;
      }
      const msg = this.take();
      if (msg === undefined) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        continue;
      }
      const delivery = this.handle(msg);
      if (delivery !== undefined) {
        return delivery;
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    this.closed = true;
    clearInterval(this.watchdog);
    this.dropCurrent();
    this.wakeReader();
  }

  /** A data message becomes a Delivery; control messages are answered and give undefined. */
  private handle(msg: Msg): Delivery | undefined {
    const status = msg.headers?.code ?? 0;
    if (status === 100) {
      if ((msg.reply ?? '') !== '') {
        msg.respond(); // flow control: the reader has reached this point
      } else {
        this.onHeartbeat(msg);
      }
      return undefined;
    }
    if (status !== 0) {
      // 409 consumer deleted, leadership changes, ...: start over where we are.
      this.resetWanted = true;
      return undefined;
    }
    const ack = parseAckSubject(msg.reply ?? '');
    if (ack === undefined || ack.deliverySeq !== this.nextDeliverySeq) {
      this.resetWanted = true; // a gap (or a stray message): recreate from the last good one
      return undefined;
    }
    this.nextDeliverySeq++;
    this.lastStreamSeq = ack.streamSeq;
    return { msg, seq: ack.streamSeq, timestampMs: ack.timestampMs, pending: ack.pending };
  }

  private onHeartbeat(msg: Msg): void {
    const stalled = msg.headers?.get(JsHeaders.ConsumerStalledHdr) ?? '';
    if (stalled !== '') {
      this.nc.publish(stalled);
    }
    // The heartbeat names the last delivery: if we have not seen it, something was lost.
    const last = Number(msg.headers?.get(JsHeaders.LastConsumerSeqHdr) ?? '');
    if (Number.isInteger(last) && last > 0 && last !== this.nextDeliverySeq - 1) {
      this.resetWanted = true;
    }
  }

  private take(): Msg | undefined {
    if (this.queueHead === this.queue.length) {
      return undefined;
    }
    const msg = this.queue[this.queueHead];
    this.queueHead++;
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
    return msg;
  }

  private wakeReader(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private checkHeartbeat(): void {
    if (this.arrived) {
      this.arrived = false;
      this.missedBeats = 0;
      return;
    }
    this.missedBeats++;
    if (this.missedBeats >= 2 && !this.recreating) {
      this.missedBeats = 0;
      this.resetWanted = true;
      this.wakeReader();
    }
  }

  /** Subscribes a fresh inbox and creates the consumer on it; returns its pending count. */
  private async create(): Promise<number> {
    const inbox = createInbox();
    const subscription = this.nc.subscribe(inbox, {
      callback: (error, msg) => {
        if (error !== null || subscription !== this.subscription) {
          return;
        }
        this.arrived = true;
        this.queue.push(msg);
        this.wakeReader();
      },
    });
    this.subscription = subscription;
    this.queue.length = 0;
    this.queueHead = 0;
    this.nextDeliverySeq = 1;
    const info = await this.jsm.consumers.add(this.options.stream, this.config(inbox));
    this.consumerName = info.name;
    if (this.closed) {
      this.dropCurrent(); // closed while the consumer was being created
    }
    return info.num_pending;
  }

  private config(inbox: string): Partial<ConsumerConfig> {
    const filters = this.options.filterSubjects;
    return {
      deliver_subject: inbox,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.lastStreamSeq + 1,
      ack_policy: AckPolicy.None,
      max_deliver: 1,
      flow_control: true,
      idle_heartbeat: nanos(this.options.heartbeatMs),
      mem_storage: true,
      num_replicas: 1,
      ...(filters.length === 1 ? { filter_subject: filters[0] } : {}),
      ...(filters.length > 1 ? { filter_subjects: [...filters] } : {}),
    };
  }

  /** Replaces the consumer, resuming after the last delivered message, within the deadline. */
  private async recreate(): Promise<void> {
    this.resetWanted = false;
    this.recreating = true;
    this.dropCurrent();
    await this.createWithinDeadline();
    this.recreating = false;
  }

  /**
   * Creates the consumer, retrying with a backoff while the cluster elects a leader or the
   * client reconnects, for up to `recoverWithinMs`; a missing stream fails at once.
   */
  private async createWithinDeadline(): Promise<number> {
    const deadline = performance.now() + this.options.recoverWithinMs;
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        return await this.create();
      } catch (error) {
        this.dropCurrent();
        const streamGone = error instanceof NatsError && error.api_error?.err_code === 10059;
        if (this.closed || streamGone || performance.now() > deadline) {
          throw new StoreUnavailable(
            ADAPTER,
            `cannot create a consumer on ${this.options.stream} from sequence ${this.lastStreamSeq + 1}: ${(error as Error).message}`,
            { cause: error },
          );
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attempt, 1_000)));
      }
    }
    return 0;
  }

  private dropCurrent(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    const name = this.consumerName;
    this.consumerName = undefined;
    if (name !== undefined && !this.nc.isClosed()) {
      // Best effort: the server also removes an ephemeral consumer whose interest is gone.
      this.jsm.consumers.delete(this.options.stream, name).catch(() => undefined);
    }
  }
}

interface AckFields {
  readonly streamSeq: number;
  readonly deliverySeq: number;
  readonly timestampMs: number;
  readonly pending: number;
}

/**
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>`, or the newer form with
 * `<domain>.<account hash>` after ACK and a random token at the end.
 */
function parseAckSubject(reply: string): AckFields | undefined {
  const tokens = reply.split('.');
  const base = tokens.length === 9 ? 4 : 6;
  if (tokens[0] !== '$JS' || tokens[1] !== 'ACK' || tokens.length < base + 5) {
    return undefined;
  }
  const streamSeq = Number(tokens[base + 1]);
  const deliverySeq = Number(tokens[base + 2]);
  const pending = Number(tokens[base + 4]);
  if (
    !Number.isSafeInteger(streamSeq) ||
    !Number.isSafeInteger(deliverySeq) ||
    !Number.isSafeInteger(pending)
  ) {
    return undefined;
  }
  return { streamSeq, deliverySeq, timestampMs: nanosTextToMillis(tokens[base + 3]), pending };
}
