import type { RecordedEvent, Subscription } from '../event-store';
import type { Delivery, OrderedConsumer } from './ordered-consumer';

/** What a subscription needs from the store. */
export interface SubscriptionSource {
  /** Resolves once the consumer exists, with the head captured before it was created. */
  readonly opening: Promise<{ readonly head: number; readonly consumer: OrderedConsumer }>;
  /** The event a delivery carries, or undefined when the filter drops it. Throws on bad data. */
  decode(delivery: Delivery): RecordedEvent | undefined;
  /** Closes the consumer (and forgets it). */
  release(consumer: OrderedConsumer): Promise<void>;
  /** Any failure as the store's typed error. */
  toStoreError(error: unknown): Error;
}

/**
 * A catch-up subscription over one ordered consumer that starts after the checkpoint and never
 * stops. `caughtUp` resolves with the head captured at subscription time once nothing before it
 * is left: at once when nothing matches, else as the message at the head (or the last matching
 * one before it, which the consumer's pending count tells) is handed out. A store failure rejects
 * `caughtUp` and ends iteration with the error; closing before catching up leaves it pending.
 */
export class JetStreamSubscription implements Subscription {
  readonly caughtUp: Promise<number>;
  private resolveCaughtUp: (head: number) => void = () => undefined;
  private rejectCaughtUp: (error: unknown) => void = () => undefined;
  private readonly iterator: AsyncGenerator<RecordedEvent>;
  private closed = false;

  constructor(private readonly source: SubscriptionSource) {
    this.caughtUp = new Promise<number>((resolve, reject) => {
      this.resolveCaughtUp = resolve;
      this.rejectCaughtUp = reject;
    });
    // Nobody has to await caughtUp: a failure also reaches the iterator.
    this.caughtUp.catch(() => undefined);
    source.opening.then(
      ({ head, consumer }) => {
        if (consumer.initialPending === 0) {
          this.resolveCaughtUp(head);
        }
      },
      (error: unknown) => this.rejectCaughtUp(source.toStoreError(error)),
    );
    this.iterator = this.events();
  }

  /** One iterator per subscription: every call continues the same sequence of events. */
  [Symbol.asyncIterator](): AsyncIterator<RecordedEvent> {
    return this.iterator;
  }

  async close(): Promise<void> {
    this.closed = true;
    const opened = await this.source.opening.catch(() => undefined);
    if (opened !== undefined) {
      await this.source.release(opened.consumer);
    }
  }

  private async *events(): AsyncGenerator<RecordedEvent> {
    const { head, consumer } = await this.source.opening.catch((error: unknown) => {
      throw this.source.toStoreError(error);
    });
    let caughtUp = consumer.initialPending === 0;
    while (!this.closed) {
      let delivery: Delivery | undefined;
      let event: RecordedEvent | undefined;
      try {
        delivery = await consumer.next();
        if (delivery === undefined) {
          return; // closed
        }
        event = this.source.decode(delivery);
      } catch (error) {
        const failure = this.source.toStoreError(error);
        this.rejectCaughtUp(failure);
        await this.source.release(consumer);
        throw failure;
      }
      if (!caughtUp && (delivery.seq >= head || delivery.pending === 0)) {
        caughtUp = true;
        this.resolveCaughtUp(head);
      }
      if (event !== undefined) {
        yield event;
      }
    }
  }
}
