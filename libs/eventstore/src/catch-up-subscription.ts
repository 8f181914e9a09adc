import type { EventFilter, RecordedEvent, Subscription } from './event-store';

/** One page of the global log after `after`, up to and including `until`, filtered. */
export type PageReader = (
  after: number,
  until: number,
  filter: EventFilter | undefined,
  limit: number,
) => Promise<RecordedEvent[]> | RecordedEvent[];

export interface CatchUpSource {
  readPage: PageReader;
  headPosition(): Promise<number> | number;
  /**
   * Calls `wake` when new events may have been appended; returns a function that stops it.
   * Stores that hear of every write (one process) wake at once; others also poll.
   */
  onAppend(wake: () => void): () => void;
  /** How long to wait without a wake before looking again (other processes' writes). */
  readonly pollIntervalMs: number;
}

const PAGE_SIZE = 1000;

/**
 * A catch-up subscription for stores whose positions are assigned in commit order (so reading
 * "everything after my checkpoint, up to the head" can never skip an event committed later).
 * Each round reads pages up to the head it saw at the start of the round, then advances its
 * checkpoint to that head even when the filter kept nothing, and waits for a wake when idle.
 */
export class CatchUpSubscription implements Subscription {
  readonly caughtUp: Promise<number>;
  private resolveCaughtUp!: (position: number) => void;
  private rejectCaughtUp!: (error: unknown) => void;
  private closed = false;
  private wakeWaiter: (() => void) | undefined;
  private pendingWake = false;
  private readonly stopListening: () => void;

  constructor(
    private readonly source: CatchUpSource,
    private checkpoint: number,
    private readonly filter: EventFilter | undefined,
  ) {
    this.caughtUp = new Promise<number>((resolve, reject) => {
      this.resolveCaughtUp = resolve;
      this.rejectCaughtUp = reject;
    });
    // A subscription that is closed, or fails, before it catches up must not leave an
    // unhandled rejection behind for callers that never awaited caughtUp.
    this.caughtUp.catch(() => undefined);
    this.stopListening = source.onAppend(() => this.wake());
  }

  async *[Symbol.asyncIterator](): AsyncIterator<RecordedEvent> {
    let caughtUp = false;
    try {
      while (!this.closed) {
        this.pendingWake = false;
        const head = await this.source.headPosition();
        while (!this.closed && this.checkpoint < head) {
          const page = await this.source.readPage(this.checkpoint, head, this.filter, PAGE_SIZE);
          for (const event of page) {
            if (this.closed) {
              return;
            }
            yield event;
          }
          // A short page means nothing else matches up to the head.
          this.checkpoint = page.length < PAGE_SIZE ? head : page[page.length - 1].position;
        }
        if (!caughtUp && !this.closed) {
          caughtUp = true;
          this.resolveCaughtUp(Math.max(this.checkpoint, head));
        }
        await this.idle();
      }
    } catch (error) {
      this.rejectCaughtUp(error);
      throw error;
    } finally {
      this.stopListening();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.rejectCaughtUp(new Error('subscription closed before it caught up'));
    this.stopListening();
    this.wake();
  }

  private wake(): void {
    this.pendingWake = true;
    this.wakeWaiter?.();
  }

  private idle(): Promise<void> {
    if (this.pendingWake || this.closed) {
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeWaiter = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.source.pollIntervalMs);
      this.wakeWaiter = done;
    });
  }
}
