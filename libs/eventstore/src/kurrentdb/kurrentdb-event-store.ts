import { createHash } from 'node:crypto';
import {
  ANY,
  BACKWARDS,
  DeadlineExceededError,
  END,
  FORWARDS,
  KurrentDBClient,
  MaxAppendSizeExceededError,
  NO_STREAM,
  START,
  StreamDeletedError,
  StreamNotFoundError,
  TimeoutError as ServerTimeoutError,
  WrongExpectedVersionError,
  convertToCommandError,
  eventTypeFilter,
  jsonEvent,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type AppendStreamState,
  type CaughtUp,
  type CurrentStreamState,
  type EventData,
  type Filter,
  type JSONType,
  type Position,
} from '@kurrent/kurrentdb-client';
import {
  DEFAULT_MAX_EVENT_BYTES,
  type EncodedEvent,
  encodeBatch,
  matchesFilter,
} from '../encoding';
import {
  DuplicateEventId,
  EventStoreError,
  EventTooLarge,
  StoreUnavailable,
  StreamNotFound,
  WrongExpectedRevision,
} from '../errors';
import type {
  AppendResult,
  EventFilter,
  EventStore,
  EventToAppend,
  ExpectedRevision,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  SubscribeOptions,
  Subscription,
} from '../event-store';
import { parseStreamName } from '../stream-name';

export interface KurrentDbEventStoreOptions {
  /** A KurrentDB connection string, e.g. `kurrentdb://127.0.0.1:2113?tls=false`. */
  readonly connectionString: string;
  /**
   * How long one call may wait for the server before it fails with StoreUnavailable. The client
   * alone waits forever on a server that accepts connections but never answers. Default 5000.
   */
  readonly timeoutMs?: number;
  readonly maxEventBytes?: number;
}

export const DEFAULT_KURRENTDB_TIMEOUT_MS = 5000;

const ADAPTER = 'kurrentdb';

/** Namespace of the name-based (v5) UUIDs that stand for Strata event ids inside KurrentDB. */
const EVENT_ID_NAMESPACE = Buffer.from('85ce3938ae304985ba785ed863936d54', 'hex');

/** Server-side pre-filter for Strata stream names; parseStreamName has the final word. */
const STRATA_STREAM_PREFIX = '^[a-z][a-z0-9]{0,31}-';

/**
 * Appends that the server reports as timed out are sent again (same ids, so at most once is
 * written). The server drops a retry that races its still-unreplicated original and lets it
 * time out, so concurrent retries of one batch need this to all succeed.
 */
const APPEND_ATTEMPTS = 3;

/** A subscription pauses the server stream while this many events wait for its consumer. */
const SUBSCRIPTION_HIGH_WATER = 512;

/**
 * The event store on KurrentDB (or EventStoreDB 22.6+) through @kurrent/kurrentdb-client.
 *
 * - Positions are commit positions. KurrentDB writes every event as its own committed record, so
 *   commit and prepare positions are equal and unique per event, including inside a batch.
 * - Event ids: KurrentDB wants UUIDs, so each Strata id becomes a name-based UUID (SHA-1, v5
 *   layout); the Strata id, schema version, `$correlationId`, `$causationId` and actor travel in
 *   the event's JSON metadata.
 * - Idempotency is the server's: a batch retried at the same expected revision, or with 'any'
 *   while the server still caches its ids, returns the original result. KurrentDB keeps no
 *   index of event ids, so an id reused in another stream, or in a new 'any' batch, is written
 *   again instead of failing with DuplicateEventId. Only reuse the server notices (a conflicting
 *   write at the expected revision holding one of the ids, or a partial 'any' retry) is reported.
 * - An append is atomic, and the whole batch must fit the server's MaxAppendSize (1 MiB by
 *   default); a bigger batch fails with EventTooLarge naming its largest event.
 * - Streams whose names are not Strata names (system `$` streams among them) are invisible to
 *   readAll, subscribe and headPosition.
 * - Every call is bounded by `timeoutMs`. A timed-out append also resets the client's gRPC
 *   channel, which ends live subscriptions with StoreUnavailable (resume from the checkpoint).
 */
export class KurrentDbEventStore implements EventStore {
  readonly adapter = ADAPTER;
  readonly maxEventBytes: number;
  private readonly timeoutMs: number;
  /** The connection string without credentials or options, for error messages. */
  private readonly target: string;
  private readonly subscriptions = new Set<KurrentDbSubscription>();
  private closed = false;

  /** Connects and checks that the server answers, or fails with StoreUnavailable. */
  static async connect(options: KurrentDbEventStoreOptions): Promise<KurrentDbEventStore> {
    let client: KurrentDBClient;
    try {
      client = KurrentDBClient.connectionString(options.connectionString);
    } catch (error) {
      throw new TypeError(`invalid KurrentDB connection string: ${(error as Error).message}`);
    }
    const store = new KurrentDbEventStore(client, options);
    const what = 'connect';
    try {
      // Reads go through the client's native bridge, appends and subscriptions through gRPC:
      // check that both reach a server that answers.
      await Promise.all([store.guard(store.serverFeatures(), what), store.readHead(what)]);
    } catch (error) {
      await store.close();
      throw store.storeError(error, what);
    }
    return store;
  }

  private constructor(
    private readonly client: KurrentDBClient,
    options: KurrentDbEventStoreOptions,
  ) {
    this.maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_KURRENTDB_TIMEOUT_MS;
    this.target = options.connectionString.replace(/\/\/[^@/]*@/, '//').replace(/\?.*$/, '');
  }

  async append(
    stream: string,
    events: readonly EventToAppend[],
    expected: ExpectedRevision,
  ): Promise<AppendResult> {
    const encoded = encodeBatch(stream, events, this.maxEventBytes);
    const streamState = toStreamState(expected);
    this.assertOpen();
    let lastRevision: number;
    try {
      lastRevision = await this.appendWithRetry(stream, encoded.map(toEventData), streamState);
    } catch (error) {
      throw await this.appendFailure(error, stream, encoded, expected);
    }
    return this.appendedResult(stream, encoded, lastRevision);
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    parseStreamName(stream);
    const { direction = 'forward', fromRevision, maxCount } = options;
    checkCount(fromRevision, 'fromRevision');
    checkCount(maxCount, 'maxCount');
    this.assertOpen();
    if (maxCount === 0) {
      return [];
    }
    const backward = direction === 'backward';
    const source = this.client.readStream(stream, {
      direction: backward ? BACKWARDS : FORWARDS,
      fromRevision: fromRevision === undefined ? (backward ? END : START) : BigInt(fromRevision),
      ...(maxCount === undefined ? {} : { maxCount }),
    });
    const events: RecordedEvent[] = [];
    try {
      for await (const resolved of this.guardEach(source, `read ${stream}`)) {
        if (resolved.event !== undefined) {
          events.push(toRecordedEvent(resolved.event));
        }
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError || error instanceof StreamDeletedError) {
        throw new StreamNotFound(stream);
      }
      throw this.storeError(error, `read ${stream}`);
    }
    return events;
  }

  async *readAll(options: ReadAllOptions = {}): AsyncGenerator<RecordedEvent> {
    const { after = 0, untilPosition, untilTime, filter, maxCount } = options;
    checkCount(after, 'after');
    checkCount(untilPosition, 'untilPosition');
    checkCount(maxCount, 'maxCount');
    this.assertOpen();
    if (maxCount === 0) {
      return;
    }
    const source = this.client.readAll({
      fromPosition: after > 0 ? logPosition(after) : START,
      filter: serverFilter(filter),
    });
    let yielded = 0;
    try {
      for await (const resolved of this.guardEach(source, 'readAll')) {
        const event = fromLog(resolved);
        // The read starts at `after` inclusive; the checkpoint itself was seen already.
        if (event === undefined || event.position <= after) {
          continue;
        }
        if (
          (untilPosition !== undefined && event.position > untilPosition) ||
          (untilTime !== undefined && event.recordedAt.getTime() > untilTime.getTime())
        ) {
          return;
        }
        if (matchesFilter(filter, event.stream, event.type)) {
          yield event;
          if (++yielded === maxCount) {
            return;
          }
        }
      }
    } catch (error) {
      throw this.storeError(error, 'readAll');
    }
  }

  subscribe(options: SubscribeOptions = {}): Subscription {
    const { after = 0, filter } = options;
    checkCount(after, 'after');
    this.assertOpen();
    const source = this.client.subscribeToAll({
      // A subscription starts after its checkpoint (exclusive), unlike a read.
      fromPosition: after > 0 ? logPosition(after) : START,
      filter: serverFilter(filter),
    });
    const subscription = new KurrentDbSubscription(source, {
      after,
      filter,
      timeoutMs: this.timeoutMs,
      silent: (what) => this.silent(what),
      storeError: (error, what) => this.storeError(error, what),
      stopped: (stopped) => this.subscriptions.delete(stopped),
    });
    this.subscriptions.add(subscription);
    return subscription;
  }

  async headPosition(): Promise<number> {
    this.assertOpen();
    return this.readHead('headPosition');
  }

  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    this.closed = true;
    await Promise.all([...this.subscriptions].map((subscription) => subscription.close()));
    await this.guard(this.client.dispose(), 'close').catch(() => undefined);
    await this.closeChannel();
  }

  /** Appends; returns the last revision the server placed the batch at. */
  private async appendWithRetry(
    stream: string,
    proposed: EventData[],
    streamState: AppendStreamState,
  ): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.guard(
          this.client.appendToStream(stream, proposed, { streamState }),
          `append to ${stream}`,
          () => void this.closeChannel(),
        );
        if (!result.success) {
          // Only with throwOnAppendFailure=false in the connection string, whose reported
          // revision is unreliable: ask the stream.
          const current = await this.currentState(stream);
          throw new WrongExpectedVersionError(undefined, {
            streamName: stream,
            expected: streamState,
            current,
          });
        }
        return toSafeNumber(result.nextExpectedRevision, 'revision');
      } catch (error) {
        const serverTimeout =
          error instanceof ServerTimeoutError || error instanceof DeadlineExceededError;
        if (!serverTimeout || attempt === APPEND_ATTEMPTS) {
          throw error;
        }
      }
    }
  }

  /**
   * The result of a batch the server placed at revisions ending with `lastRevision`. The server
   * reports no per-event positions (nor, for a retry, the original ones), so read them back.
   */
  private async appendedResult(
    stream: string,
    encoded: EncodedEvent[],
    lastRevision: number,
  ): Promise<AppendResult> {
    const firstRevision = lastRevision - encoded.length + 1;
    const written =
      firstRevision < 0
        ? []
        : await this.readStream(stream, { fromRevision: firstRevision, maxCount: encoded.length });
    if (
      written.length !== encoded.length ||
      written.some((event, i) => event.id !== encoded[i].id)
    ) {
      // The server took the batch for a retry of a write that holds its ids in another order
      // or grouping: a different write.
      throw new DuplicateEventId(encoded[0].id, stream);
    }
    return {
      nextExpectedRevision: lastRevision,
      firstPosition: written[0].position,
      lastPosition: written[written.length - 1].position,
    };
  }

  private async appendFailure(
    error: unknown,
    stream: string,
    encoded: EncodedEvent[],
    expected: ExpectedRevision,
  ): Promise<Error> {
    if (error instanceof WrongExpectedVersionError) {
      if (expected === 'any') {
        // An 'any' append conflicts only when the server finds its first ids already written
        // in this stream and the rest not: part of the batch is another write's.
        return new DuplicateEventId(encoded[0].id, stream);
      }
      const { actualState } = error;
      const actual =
        actualState === NO_STREAM || actualState < 0n
          ? 'no-stream'
          : toSafeNumber(actualState, 'revision');
      const reused = await this.reusedId(stream, encoded, expected, actual);
      return reused === undefined
        ? new WrongExpectedRevision(stream, expected, actual)
        : new DuplicateEventId(reused, stream);
    }
    if (error instanceof MaxAppendSizeExceededError) {
      const largest = encoded.reduce((a, b) => (b.data.length > a.data.length ? b : a));
      const size = encoded.reduce((sum, event) => sum + Buffer.byteLength(event.data), 0);
      return new EventTooLarge(largest.id, size, error.maxAppendSize);
    }
    return this.storeError(error, `append to ${stream}`);
  }

  /**
   * After a conflict at an exact revision, one of our ids among the events that took our place
   * (the server only accepts the batch back as a retry when all of them are ours, in order).
   */
  private async reusedId(
    stream: string,
    encoded: EncodedEvent[],
    expected: 'no-stream' | number,
    actual: 'no-stream' | number,
  ): Promise<string | undefined> {
    const from = expected === 'no-stream' ? 0 : expected + 1;
    if (actual === 'no-stream' || actual < from) {
      return undefined;
    }
    const ours = new Set(encoded.map((event) => event.id));
    const there = await this.readStream(stream, {
      fromRevision: from,
      maxCount: encoded.length,
    }).catch((error: unknown) => (error instanceof StreamNotFound ? [] : Promise.reject(error)));
    return there.find((event) => ours.has(event.id))?.id;
  }

  private async currentState(stream: string): Promise<CurrentStreamState> {
    const [last] = await this.readStream(stream, { direction: 'backward', maxCount: 1 }).catch(
      (error: unknown) => (error instanceof StreamNotFound ? [] : Promise.reject(error)),
    );
    return last === undefined ? NO_STREAM : BigInt(last.revision);
  }

  /** Position of the newest event in a Strata stream; 0 when there is none. */
  private async readHead(what: string): Promise<number> {
    const source = this.client.readAll({
      direction: BACKWARDS,
      fromPosition: END,
      filter: serverFilter(undefined),
    });
    try {
      for await (const resolved of this.guardEach(source, what)) {
        const event = fromLog(resolved);
        if (event !== undefined) {
          return event.position;
        }
      }
    } catch (error) {
      throw this.storeError(error, what);
    }
    return 0;
  }

  /**
   * Iterates `source`, failing with StoreUnavailable when one step waits longer than the timeout.
   * A read stopped early is not cancelled on the server: the client's reader (a native bridge)
   * has no cancel, and releases its stream when it is garbage-collected.
   */
  private async *guardEach<T>(source: AsyncIterable<T>, what: string): AsyncGenerator<T> {
    const iterator = source[Symbol.asyncIterator]();
    try {
      for (;;) {
        const step = await this.guard(iterator.next(), what);
        if (step.done) {
          return;
        }
        yield step.value;
      }
    } finally {
      void iterator.return?.().catch(() => undefined);
    }
  }

  private guard<T>(promise: Promise<T>, what: string, onTimeout?: () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        onTimeout?.();
        reject(this.silent(what));
      }, this.timeoutMs);
      promise.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  private silent(what: string): StoreUnavailable {
    return new StoreUnavailable(
      ADAPTER,
      `${what}: no answer from ${this.target} within ${this.timeoutMs} ms`,
    );
  }

  private storeError(error: unknown, what: string): Error {
    if (error instanceof EventStoreError) {
      return error;
    }
    const converted = error instanceof Error ? convertToCommandError(error) : error;
    return new StoreUnavailable(ADAPTER, `${what} at ${this.target}: ${describe(converted)}`, {
      cause: error,
    });
  }

  /**
   * The client's first gRPC call asks the server for its features with no deadline: on a server
   * that never answers it waits forever, and so does every append queued behind it. Asked here,
   * under the timeout, it proves the gRPC side of the connection and is cached for appends.
   */
  private serverFeatures(): Promise<unknown> {
    return Promise.resolve(internals(this.client).capabilities);
  }

  /**
   * Closes the client's gRPC channel, which dispose() leaves open. That ends calls stuck on a
   * silent server (the client opens a new channel on its next call) and lets the process exit.
   */
  private async closeChannel(): Promise<void> {
    const { getChannel } = internals(this.client);
    if (getChannel === undefined) {
      return;
    }
    try {
      (await this.guard(getChannel.call(this.client), 'close channel')).close();
    } catch {
      // Never opened, or already closed: nothing to release.
    }
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new StoreUnavailable(ADAPTER, 'the store is closed');
    }
  }
}

/**
 * Protected (not private) members of @kurrent/kurrentdb-client 1.3's client, for what its public
 * API cannot do. Optional: a client version without them loses that check or that cleanup, and
 * nothing else.
 */
interface ClientInternals {
  readonly capabilities?: Promise<unknown>;
  readonly getChannel?: () => Promise<{ close(): void }>;
}

function internals(client: KurrentDBClient): ClientInternals {
  return client as unknown as ClientInternals;
}

interface SubscriptionContext {
  readonly after: number;
  readonly filter: EventFilter | undefined;
  readonly timeoutMs: number;
  readonly silent: (what: string) => Error;
  readonly storeError: (error: unknown, what: string) => Error;
  readonly stopped: (subscription: KurrentDbSubscription) => void;
}

/** What waits for the consumer: an event, or the point at which the subscription caught up. */
type Queued = { readonly event: RecordedEvent } | { readonly caughtUp: number };

interface Waiter {
  resolve(result: IteratorResult<RecordedEvent>): void;
  reject(error: unknown): void;
}

/**
 * A subscription to $all. The server catches up from the checkpoint and then goes live with no
 * gap; this queues what it sends for the (single) consumer, pauses the server stream while the
 * consumer is behind, and turns the server's first CaughtUp message into `caughtUp`.
 */
class KurrentDbSubscription implements Subscription {
  readonly caughtUp: Promise<number>;
  private resolveCaughtUp!: (position: number) => void;
  private rejectCaughtUp!: (error: unknown) => void;
  private readonly queue: Queued[] = [];
  private readonly waiters: Waiter[] = [];
  private state: 'open' | 'failed' | 'closed' = 'open';
  private failure: Error | undefined;
  /** Events received from the server, and the last Strata position among them. */
  private received = 0;
  private lastPosition: number;
  /** From the first CaughtUp: how many received events precede it, and its position. */
  private caughtUpAfter: number | undefined;
  private serverHead: number | undefined;
  private caughtUpQueued = false;
  private readonly startTimer: ReturnType<typeof setTimeout>;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly source: AllStreamSubscription,
    private readonly context: SubscriptionContext,
  ) {
    this.lastPosition = context.after;
    this.caughtUp = new Promise<number>((resolve, reject) => {
      this.resolveCaughtUp = resolve;
      this.rejectCaughtUp = reject;
    });
    // Closed or failed before catching up: no unhandled rejection for callers that never await it.
    this.caughtUp.catch(() => undefined);
    this.startTimer = setTimeout(() => this.fail(context.silent('subscribe')), context.timeoutMs);
    source.on('confirmation', () => clearTimeout(this.startTimer));
    source.on('data', (resolved: AllStreamResolvedEvent) => this.onEvent(resolved));
    source.on('caughtUp', (info: CaughtUp) => this.onCaughtUp(info));
    source.on('error', (error: Error) => this.fail(context.storeError(error, 'subscription')));
    source.on('end', () =>
      this.fail(new StoreUnavailable(ADAPTER, 'the server ended the subscription')),
    );
  }

  [Symbol.asyncIterator](): AsyncIterator<RecordedEvent> {
    return {
      next: () =>
        new Promise<IteratorResult<RecordedEvent>>((resolve, reject) => {
          this.waiters.push({ resolve, reject });
          this.settle();
        }),
      return: async () => {
        await this.close();
        return { value: undefined, done: true };
      },
    };
  }

  async close(): Promise<void> {
    if (this.state === 'closed') {
      return;
    }
    this.state = 'closed';
    this.queue.length = 0;
    this.rejectCaughtUp(new Error('subscription closed before it caught up'));
    this.settle();
    await this.stop();
  }

  private onEvent(resolved: AllStreamResolvedEvent): void {
    if (this.state !== 'open') {
      return;
    }
    this.received++;
    let event: RecordedEvent | undefined;
    try {
      event = fromLog(resolved);
    } catch (error) {
      this.fail(this.context.storeError(error, 'subscription'));
      return;
    }
    // Positions only grow: this drops the checkpoint itself and anything seen twice.
    if (event !== undefined && event.position > this.lastPosition) {
      this.lastPosition = event.position;
      if (matchesFilter(this.context.filter, event.stream, event.type)) {
        this.queue.push({ event });
      }
    }
    this.queueCaughtUp();
    this.settle();
    if (this.queue.length >= SUBSCRIPTION_HIGH_WATER) {
      this.source.pause();
    }
  }

  private onCaughtUp(info: CaughtUp): void {
    if (this.state !== 'open' || this.caughtUpAfter !== undefined) {
      return;
    }
    // The message is emitted while events sent before it may still sit in the stream's buffer,
    // not yet received here: it takes effect once those have been.
    this.caughtUpAfter = this.received + this.source.readableLength;
    // Older servers send no position, and none is sent for an empty log.
    const commit = info.position === undefined ? NaN : Number(info.position.commit);
    this.serverHead = Number.isSafeInteger(commit) ? commit : undefined;
    this.queueCaughtUp();
    this.settle();
  }

  private queueCaughtUp(): void {
    if (
      this.caughtUpQueued ||
      this.caughtUpAfter === undefined ||
      this.received < this.caughtUpAfter
    ) {
      return;
    }
    this.caughtUpQueued = true;
    this.queue.push({ caughtUp: Math.max(this.lastPosition, this.serverHead ?? 0) });
  }

  /** Hands queued events to waiting consumers; caughtUp resolves when its turn comes. */
  private settle(): void {
    for (;;) {
      const head = this.queue[0];
      if (head !== undefined && 'caughtUp' in head) {
        this.queue.shift();
        this.resolveCaughtUp(head.caughtUp);
        continue;
      }
      const waiter = head === undefined ? undefined : this.waiters.shift();
      if (head === undefined || waiter === undefined) {
        break;
      }
      this.queue.shift();
      waiter.resolve({ value: head.event, done: false });
    }
    if (this.queue.length === 0 && this.state !== 'open') {
      for (const waiter of this.waiters.splice(0)) {
        if (this.state === 'closed' || this.failure === undefined) {
          waiter.resolve({ value: undefined, done: true });
        } else {
          waiter.reject(this.failure);
        }
      }
    }
    if (
      this.state === 'open' &&
      this.source.isPaused() &&
      this.queue.length < SUBSCRIPTION_HIGH_WATER / 2
    ) {
      this.source.resume();
    }
  }

  private fail(error: Error): void {
    if (this.state !== 'open') {
      return;
    }
    this.state = 'failed';
    this.failure = error;
    this.rejectCaughtUp(error);
    this.settle();
    void this.stop();
  }

  /** Cancels the server stream; gives up waiting on a silent server after the timeout. */
  private stop(): Promise<void> {
    clearTimeout(this.startTimer);
    this.stopping ??= new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.context.timeoutMs);
      this.source
        .unsubscribe()
        .catch(() => undefined)
        .finally(() => {
          clearTimeout(timer);
          resolve();
        });
    }).then(() => {
      this.source.destroy();
      this.context.stopped(this);
    });
    return this.stopping;
  }
}

/** The KurrentDB event for an encoded Strata event. */
function toEventData(event: EncodedEvent): EventData {
  const metadata: Record<string, string | number> = {
    strataId: event.id,
    schemaVersion: event.schemaVersion,
  };
  if (event.correlationId !== '') {
    metadata.$correlationId = event.correlationId;
  }
  if (event.causationId !== '') {
    metadata.$causationId = event.causationId;
  }
  if (event.actor !== '') {
    metadata.actor = event.actor;
  }
  return jsonEvent({
    id: kurrentEventId(event.id),
    type: event.type,
    // The client serialises data itself; parsing encodeBatch's text makes it write exactly that
    // text back (any JSON value, not only the objects, arrays and strings its types admit).
    data: JSON.parse(event.data) as JSONType,
    metadata,
  });
}

/** A deterministic UUID for a Strata event id: SHA-1 of a namespace and the id, in v5 layout. */
function kurrentEventId(id: string): string {
  const hash = createHash('sha1').update(EVENT_ID_NAMESPACE).update(id, 'utf8').digest();
  hash[6] = (hash[6] & 0x0f) | 0x50; // version 5
  hash[8] = (hash[8] & 0x3f) | 0x80; // RFC 4122 variant
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The parts of a KurrentDB recorded event (JSON or binary) that Strata reads. */
interface KurrentRecord {
  readonly streamId: string;
  readonly id: string;
  readonly type: string;
  readonly revision: bigint;
  readonly created: Date;
  readonly data: unknown;
  readonly metadata: unknown;
  readonly position?: Position;
}

/**
 * A Strata event from a KurrentDB one. Events written by other clients into Strata streams come
 * through with their UUID as id and the envelope defaults.
 */
function toRecordedEvent(record: KurrentRecord): RecordedEvent {
  const metadata =
    typeof record.metadata === 'object' &&
    record.metadata !== null &&
    !(record.metadata instanceof Uint8Array)
      ? (record.metadata as Record<string, unknown>)
      : {};
  const text = (key: string) =>
    typeof metadata[key] === 'string' ? (metadata[key] as string) : undefined;
  return {
    id: text('strataId') ?? record.id,
    type: record.type,
    schemaVersion: Number.isInteger(metadata.schemaVersion)
      ? (metadata.schemaVersion as number)
      : 1,
    stream: record.streamId,
    revision: toSafeNumber(record.revision, 'revision'),
    position: toSafeNumber(record.position?.commit, 'position'),
    recordedAt: record.created,
    correlationId: text('$correlationId') ?? '',
    causationId: text('$causationId') ?? '',
    actor: text('actor') ?? '',
    data: record.data,
  };
}

/** A Strata event from $all, or undefined for system events and streams Strata does not name. */
function fromLog(resolved: AllStreamResolvedEvent): RecordedEvent | undefined {
  const record = resolved.event;
  if (record === undefined || record.type.startsWith('$') || !isStrataStream(record.streamId)) {
    return undefined;
  }
  return toRecordedEvent(record);
}

function isStrataStream(name: string): boolean {
  try {
    parseStreamName(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * The server-side pre-filter for a Strata filter. KurrentDB filters on stream names or on event
 * types, not both: categories win, and matchesFilter finishes the job on this side.
 */
function serverFilter(filter: EventFilter | undefined): Filter {
  if (filter?.categories !== undefined && filter.categories.length > 0) {
    return streamNameFilter({ prefixes: filter.categories.map((category) => `${category}-`) });
  }
  if (filter?.eventTypes !== undefined && filter.eventTypes.length > 0) {
    const types = filter.eventTypes.map((type) => type.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    return eventTypeFilter({ regex: `^(?:${types.join('|')})$` });
  }
  return streamNameFilter({ regex: STRATA_STREAM_PREFIX });
}

/** A position to read or subscribe from: commit and prepare are equal for every event. */
function logPosition(position: number): Position {
  return { commit: BigInt(position), prepare: BigInt(position) };
}

function toStreamState(expected: ExpectedRevision): AppendStreamState {
  if (expected === 'any') {
    return ANY;
  }
  if (expected === 'no-stream') {
    return NO_STREAM;
  }
  checkCount(expected, 'expected revision');
  return BigInt(expected);
}

function toSafeNumber(value: bigint | undefined, what: string): number {
  if (value === undefined) {
    throw new StoreUnavailable(
      ADAPTER,
      `the server reported no event ${what} (KurrentDB, or EventStoreDB 22.6 or later, is needed)`,
    );
  }
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < 0) {
    throw new StoreUnavailable(
      ADAPTER,
      `the server reported ${what} ${value}, beyond a safe integer`,
    );
  }
  return number;
}

function checkCount(value: number | undefined, name: string): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
    throw new TypeError(`${name} must be a non-negative integer, not ${String(value)}`);
  }
}

/** A client error in a few words: its kind, and its message when that says more. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) {
    return String(error);
  }
  const type = (error as { type?: unknown }).type;
  const kind = typeof type === 'string' ? type : error.name;
  return error.message === '' || error.message === error.constructor.name
    ? kind
    : `${kind}: ${error.message}`;
}
