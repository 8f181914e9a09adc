/**
 * The event store port. The log behind it is the only source of truth in Strata: services
 * append decisions to it, and everything else (agent forwarding state, read models, metrics) is
 * a fold over it. Adapters (sqlite, jetstream, kurrentdb) all pass one conformance suite
 * (`testEventStore` in ./testing) so callers never depend on which one runs.
 *
 * Conventions shared by every adapter:
 * - Streams are named `<category>-<id>` (see ./stream-name.ts); one stream per aggregate.
 * - Revisions are 0-based within a stream; positions order the global log, strictly
 *   increasing but not necessarily dense, and start above 0 (0 means "before everything").
 * - `recordedAt` never decreases along the global log, so "as of a time" is a prefix.
 */

/** What an append expects of the stream: anything, that it has no events, or its last revision. */
export type ExpectedRevision = 'any' | 'no-stream' | number;

export interface EventToAppend {
  /** Unique id; deterministic from the command id, so retrying an append is harmless. */
  readonly id: string;
  readonly type: string;
  /** JSON-serialisable payload. */
  readonly data: unknown;
  /** Defaults to 1. */
  readonly schemaVersion?: number;
  readonly correlationId?: string;
  readonly causationId?: string;
  readonly actor?: string;
}

export interface RecordedEvent<Data = unknown> {
  readonly id: string;
  readonly type: string;
  readonly schemaVersion: number;
  readonly stream: string;
  readonly revision: number;
  readonly position: number;
  readonly recordedAt: Date;
  /** Empty string when the writer gave none. */
  readonly correlationId: string;
  readonly causationId: string;
  readonly actor: string;
  readonly data: Data;
}

export interface AppendResult {
  /** The stream's last revision after the append: pass it as the next expected revision. */
  readonly nextExpectedRevision: number;
  /** Global position of the first and of the last appended event. */
  readonly firstPosition: number;
  readonly lastPosition: number;
}

export interface ReadStreamOptions {
  /** Default 'forward'. */
  readonly direction?: 'forward' | 'backward';
  /** Start here (inclusive). Default: the first revision forward, the last one backward. */
  readonly fromRevision?: number;
  readonly maxCount?: number;
}

export interface EventFilter {
  /** Stream categories to keep (e.g. 'endpoint'); all when absent. */
  readonly categories?: readonly string[];
  /** Event types to keep; all when absent. */
  readonly eventTypes?: readonly string[];
}

export interface ReadAllOptions {
  /** Read events after this position (exclusive): a checkpoint. Default 0, from the start. */
  readonly after?: number;
  /** Stop after this position (inclusive). */
  readonly untilPosition?: number;
  /** Stop after the last event recorded at or before this time. */
  readonly untilTime?: Date;
  readonly filter?: EventFilter;
  readonly maxCount?: number;
}

export interface SubscribeOptions {
  /** Deliver events after this position (exclusive). Default 0, from the start. */
  readonly after?: number;
  readonly filter?: EventFilter;
}

/**
 * A catch-up subscription: iterates the log from its checkpoint, then keeps going live with no
 * gap and no duplicate, in position order. Iteration ends after `close()`; a store failure ends
 * it by throwing from the iterator.
 */
export interface Subscription extends AsyncIterable<RecordedEvent> {
  /**
   * Resolves, once, with the head position the subscription had reached when it first caught
   * up with the log (every event up to it has been handed to the iterator's consumer). The
   * subscription moves only while it is iterated, so this settles only then.
   */
  readonly caughtUp: Promise<number>;
  close(): Promise<void>;
}

export interface EventStore {
  /** The adapter's name, as shown in tables and errors ('sqlite', 'jetstream', 'kurrentdb'). */
  readonly adapter: string;
  /** Largest encoded event (data and metadata) the store accepts, in bytes. */
  readonly maxEventBytes: number;

  /**
   * Appends events to one stream, atomically where the adapter can (see its docs), if the
   * stream is at `expected`. Retrying exactly the same batch returns the original result.
   * Throws WrongExpectedRevision, InvalidStreamName, InvalidEvent, EventTooLarge,
   * DuplicateEventId, StoreUnavailable.
   */
  append(
    stream: string,
    events: readonly EventToAppend[],
    expected: ExpectedRevision,
  ): Promise<AppendResult>;

  /** A stream's events. Throws StreamNotFound when the stream has none. */
  readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;

  /** The global log, in position order. */
  readAll(options?: ReadAllOptions): AsyncIterable<RecordedEvent>;

  subscribe(options?: SubscribeOptions): Subscription;

  /** Position of the last event in the log; 0 when it is empty. */
  headPosition(): Promise<number>;

  close(): Promise<void>;
}
