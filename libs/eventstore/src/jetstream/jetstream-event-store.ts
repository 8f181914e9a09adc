import {
  connect,
  DiscardPolicy,
  headers,
  nanos,
  NatsError,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type NatsConnection,
  type StoredMsg,
  type StreamConfig,
  type StreamInfo,
} from 'nats';
import { DEFAULT_MAX_EVENT_BYTES, encodeBatch, matchesFilter } from '../encoding';
import {
  DuplicateEventId,
  EventStoreError,
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
import {
  ADAPTER,
  batchOf,
  decodeEvent,
  eventHeaders,
  HEADER,
  prepareEvent,
  rfc3339ToMillis,
  SubjectMap,
  type PreparedEvent,
  type StoredMessage,
} from './codec';
import { OrderedConsumer, type Delivery } from './ordered-consumer';
import { Publisher, type PublishAck } from './publisher';
import { parseStreamName } from '../stream-name';
import { JetStreamSubscription } from './subscription';

export interface JetStreamEventStoreOptions {
  /** Servers to connect to (ignored when `connection` is given). Default: localhost:4222. */
  readonly servers?: string | readonly string[];
  /** An open connection to share; the store then leaves it open on close(). */
  readonly connection?: NatsConnection;
  /** The JetStream stream holding the log. Default 'STRATA_EVENTS'. */
  readonly streamName?: string;
  /** Subject prefix, one or more tokens. Default 'strata.store'. */
  readonly subjectPrefix?: string;
  /** Replicas of the JetStream stream if this creates it: 1, or 3 in a cluster. Default 1. */
  readonly replicas?: number;
  /** JetStream's duplicate window, which bounds idempotent retries. Default 10 minutes. */
  readonly duplicateWindowMs?: number;
  /** Default DEFAULT_MAX_EVENT_BYTES, lowered to fit the server's max_payload. */
  readonly maxEventBytes?: number;
  /** Timeout of one request to the server. Default 5 s. */
  readonly timeoutMs?: number;
  /** Idle heartbeat of read consumers; two missed ones recreate the consumer. Default 2 s. */
  readonly heartbeatMs?: number;
  /** How long reads keep trying to recover a lost consumer. Default 30 s. */
  readonly recoverWithinMs?: number;
}

/** A stream's last event: its sequence and revision (0 and -1 when there is none). */
interface Tail {
  readonly seq: number;
  readonly revision: number;
  /** In guarded mode: the log's last sequence, read just before the stream's last event. */
  readonly head?: number;
}

const NO_EVENTS: Tail = { seq: 0, revision: -1 };
/** Room left in the server's max_payload for headers. */
const HEADER_ALLOWANCE = 4 * 1024;
const TAIL_CACHE_SIZE = 10_000;
/** Publishes one append keeps in flight at most. */
const MAX_IN_FLIGHT = 512;
/** 'any' appends retry lost races; past this many something is badly contended. */
const MAX_LOST_RACES = 100;
// A probe expects a last sequence no stream reaches, so it is never stored: it only learns
// whether the id is known, since JetStream checks ids before expectations.
const UNREACHABLE_SEQUENCE = '9223372036854775807';
/** JetStream API error codes used here. */
const ERR = {
  wrongLastSequence: 10071,
  wrongLastMsgId: 10070,
  noMessageFound: 10037,
  streamNotFound: 10059,
};

/** How JetStream answered one publish of an append. */
type Outcome =
  | { readonly kind: 'stored'; readonly seq: number }
  | { readonly kind: 'duplicate'; readonly seq: number }
  /** The subject's (or, guarded, the log's) last sequence was not the expected one. */
  | { readonly kind: 'conflict' }
  /** The log's last message was not this one's predecessor in the batch. */
  | { readonly kind: 'interleaved' }
  | { readonly kind: 'failed'; readonly error: unknown };

/** Why the first event of an append was refused (nothing of it is stored then). */
type Refusal = Extract<Outcome, { kind: 'duplicate' | 'conflict' }>;

/** One append in progress. */
interface Append {
  readonly stream: string;
  readonly batch: readonly PreparedEvent[];
  readonly expected: ExpectedRevision;
}

/**
 * The event store over NATS JetStream (nats-server 2.9 or later).
 *
 * Layout: one JetStream stream (`streamName`, subjects `<prefix>.>`) holds the whole log. Each
 * event stream `<category>-<id>` is the subject `<prefix>.<category>.<id>`; the stream sequence
 * is the position, the message timestamp truncated to milliseconds is `recordedAt`, the envelope
 * travels in headers (./codec.ts) and the JSON payload is the body.
 *
 * Concurrency: an append names the sequence of its subject's last message in
 * `Nats-Expected-Last-Subject-Sequence`, so the server refuses it if anyone appended in between;
 * 'any' retries internally on such a lost race. The last sequence and revision per stream are
 * remembered after each append and read, as a hint the server checks, so a writer that keeps
 * appending to a stream pays one round trip per append; otherwise the last event is read first.
 * Clustered streams on nats-server before 2.9.21 accept concurrent publishes that name the same
 * subject sequence (nats-server issue 4320). There the store also names the log's last sequence
 * (`Nats-Expected-Last-Sequence`, which those servers do serialize), read just before the
 * stream's last event: correct, but every append then costs two reads and concurrent appends
 * anywhere in the log conflict and retry, so upgrade the servers for throughput.
 *
 * Idempotency: `Nats-Msg-Id` is the event id, so JetStream drops a repeated id and answers with
 * the original's sequence, from which the original result is rebuilt. This only holds within
 * the duplicate window (`duplicateWindowMs`): a retry after it appends the events again. The
 * server keeps every id of the window in memory (append rate times window).
 *
 * Multi-event appends are NOT atomic: nats-server 2.9 has no atomic batch. The events go out
 * pipelined, the first conditioned on the subject's last sequence and each next one on
 * `Nats-Expected-Last-Msg-Id` = its predecessor, so the batch lands contiguous and in order or
 * its rest is refused (and sent again after its last stored event). A crash or a lost connection
 * part-way can leave a prefix of the batch in the log; retrying the same batch finishes it and
 * returns the original result. If another writer appends to the same stream in between, the
 * retry fails with WrongExpectedRevision and the prefix stays. Before a multi-event append writes
 * anything its ids are probed (`probe`), so an id used by another write rejects the whole batch;
 * two writes racing with the same id can still slip past the probe.
 *
 * Reads go through ordered ephemeral push consumers (./ordered-consumer.ts). `recordedAt` is the
 * stream leader's clock, which nats-server reads in log order: it is non-decreasing unless the
 * clock steps back or leadership moves to a server whose clock is behind.
 */
export class JetStreamEventStore implements EventStore {
  readonly adapter = ADAPTER;
  private readonly tails = new TailCache(TAIL_CACHE_SIZE);
  private readonly consumers = new Set<OrderedConsumer>();
  private closed = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly ownsConnection: boolean,
    private readonly jsm: JetStreamManager,
    private readonly publisher: Publisher,
    private readonly subjects: SubjectMap,
    readonly streamName: string,
    readonly maxEventBytes: number,
    /** Also expect the log's last sequence (clustered streams on nats-server < 2.9.21). */
    private readonly guarded: boolean,
    private readonly consumerOptions: { heartbeatMs: number; recoverWithinMs: number },
  ) {}

  /** Connects (or uses `connection`) and creates the JetStream stream if it does not exist. */
  static async connect(options: JetStreamEventStoreOptions = {}): Promise<JetStreamEventStore> {
    const streamName = options.streamName ?? 'STRATA_EVENTS';
    const prefix = options.subjectPrefix ?? 'strata.store';
    const timeoutMs = options.timeoutMs ?? 5_000;
    if (!/^[A-Za-z0-9_-]+$/.test(streamName)) {
      throw new TypeError(`stream name ${JSON.stringify(streamName)}: letters, digits, _ or -`);
    }
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix)) {
      throw new TypeError(`subject prefix ${JSON.stringify(prefix)}: dotted tokens, no wildcards`);
    }
    let nc = options.connection;
    try {
      nc ??= await connect({
        servers: typeof options.servers === 'string' ? options.servers : options.servers?.slice(),
        name: 'strata-eventstore',
        timeout: timeoutMs,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
      });
    } catch (error) {
      throw toStoreError(error, 'connect to NATS');
    }
    const owns = options.connection === undefined;
    try {
      const jsm = await nc.jetstreamManager({ timeout: timeoutMs });
      const subjects = new SubjectMap(prefix);
      const stream = await ensureStream(jsm, {
        name: streamName,
        subjects: [subjects.all],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        discard: DiscardPolicy.Old,
        num_replicas: options.replicas ?? 1,
        duplicate_window: nanos(options.duplicateWindowMs ?? 10 * 60_000),
        // The log is append-only: no message may be deleted or purged from it.
        deny_delete: true,
        deny_purge: true,
      });
      // An event and its headers must fit in one message.
      const maxPayload = nc.info?.max_payload ?? Infinity;
      return new JetStreamEventStore(
        nc,
        owns,
        jsm,
        new Publisher(nc, timeoutMs),
        subjects,
        streamName,
        Math.min(options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES, maxPayload - HEADER_ALLOWANCE),
        stream.config.num_replicas > 1 && versionBelow(nc.info?.version ?? '0.0.0', [2, 9, 21]),
        {
          heartbeatMs: options.heartbeatMs ?? 2_000,
          recoverWithinMs: options.recoverWithinMs ?? 30_000,
        },
      );
    } catch (error) {
      if (owns) {
        await nc.close().catch(() => undefined);
      }
      throw toStoreError(error, `set up JetStream stream ${streamName}`);
    }
  }

  // --- appends ----------------------------------------------------------------------------------

  async append(
    stream: string,
    events: readonly EventToAppend[],
    expected: ExpectedRevision,
  ): Promise<AppendResult> {
    const batch = encodeBatch(stream, events, this.maxEventBytes).map(prepareEvent);
    this.assertOpen();
    try {
      return await this.appendBatch({ stream, batch, expected });
    } catch (error) {
      this.tails.forget(stream);
      throw toStoreError(error, `append to ${stream}`);
    }
  }

  private async appendBatch(append: Append): Promise<AppendResult> {
    const { stream, batch, expected } = append;
    if (batch.length > 1) {
      // Only a publish tells whether JetStream knows an id. Probe the ids after the first
      // before writing, so that one used by another write rejects the batch before any of it
      // is stored; the first one's own publish answers for it.
      const later = await this.probe(batch.slice(1));
      if (later.some((seq) => seq !== undefined)) {
        return this.retried(append, [...(await this.probe(batch.slice(0, 1))), ...later]);
      }
    }
    // A remembered tail (or "no events" for 'no-stream') is a guess the server checks; it is
    // read afresh before a mismatch with it becomes an error.
    let tail = this.guarded
      ? undefined
      : (this.tails.get(stream) ?? (expected === 'no-stream' ? NO_EVENTS : undefined));
    let fresh = tail === undefined;
    tail ??= await this.readTail(stream);
    for (let races = 0; ;) {
      if (!meets(expected, tail.revision)) {
        if (fresh) {
          // The retry of an append that went through finds its stream moved on, by its own
          // events or later ones: that is no conflict but the original result.
          const originals = await this.probe(batch);
          if (originals.some((seq) => seq !== undefined)) {
            return this.retried(append, originals);
          }
          throw new WrongExpectedRevision(stream, expected, actualRevision(tail));
        }
        tail = await this.readTail(stream);
        fresh = true;
        continue;
      }
      const firstRevision = tail.revision + 1;
      const outcome = await this.publishBatch(append, firstRevision, tail, []);
      if (Array.isArray(outcome)) {
        return this.appended(stream, firstRevision, outcome);
      }
      if (outcome.kind === 'duplicate') {
        // The first id was stored since the probe (or is the only one): a concurrent retry?
        const rest = batch.length === 1 ? [] : await this.probe(batch.slice(1));
        return this.retried(append, [outcome.seq, ...rest]);
      }
      if (++races > MAX_LOST_RACES) {
        throw new StoreUnavailable(ADAPTER, `${stream}: lost ${MAX_LOST_RACES} races`);
      }
      tail = await this.readTail(stream);
      fresh = true;
    }
  }

  /**
   * Publishes the batch from `seqs.length` on, after `tail` (the stream's last event then), up to
   * MAX_IN_FLIGHT at once: the first of each wave expects the subject's last sequence (guarded,
   * also the log's), each later one expects its predecessor's id as the log's last message id.
   * When another write slips in between two of ours (on any subject), the rest goes out again
   * after our last stored event. Returns the sequences of the whole batch, or why the first event
   * it sent was refused; throws when it stored part of what it sent and the rest cannot follow.
   */
  private async publishBatch(
    append: Append,
    firstRevision: number,
    tail: Tail,
    seqs: number[],
  ): Promise<number[] | Refusal> {
    const { batch, stream } = append;
    const initial = seqs.length;
    let head = tail.head;
    while (seqs.length < batch.length) {
      const start = seqs.length;
      const prevSeq = start === 0 ? tail.seq : seqs[start - 1];
      if (this.guarded && head === undefined) {
        // The log's last sequence is only a guard if read before the stream's last event.
        const fresh = await this.readTail(stream);
        head = fresh.seq === prevSeq ? fresh.head : undefined;
      }
      const subject = this.subjects.ofStream(stream);
      const wave = batch.slice(start, start + MAX_IN_FLIGHT).map((event, k) => {
        const i = start + k;
        const h = eventHeaders(event, firstRevision + i, i, batch.length);
        if (k > 0) {
          h.set('Nats-Expected-Last-Msg-Id', batch[i - 1].id);
        } else {
          h.set('Nats-Expected-Last-Subject-Sequence', String(prevSeq));
          if (this.guarded) {
            // Without a consistent head (the stream moved on) this refuses, as it should.
            h.set('Nats-Expected-Last-Sequence', String(head ?? UNREACHABLE_SEQUENCE));
          }
        }
        return this.publisher.publish(subject, event.body, h);
      });
      head = undefined;
      // Stored events come first; once one is refused, everything after it must be too.
      let refused: Exclude<Outcome, { kind: 'stored' }> | undefined;
      for (const outcome of (await Promise.allSettled(wave)).map(outcomeOf)) {
        if (outcome.kind !== 'stored') {
          refused ??= outcome;
        } else if (refused === undefined) {
          seqs.push(outcome.seq);
        } else {
          throw new StoreUnavailable(ADAPTER, `${stream}: batch stored out of order`);
        }
      }
      if (refused === undefined || (refused.kind === 'interleaved' && seqs.length > start)) {
        continue; // the next wave starts after our last stored event
      }
      if (refused.kind === 'failed') {
        throw refused.error;
      }
      if (refused.kind !== 'interleaved' && seqs.length === initial) {
        return refused;
      }
      // Part of the batch is stored and the rest cannot follow it (see the class comment).
      if (refused.kind === 'duplicate') {
        throw new DuplicateEventId(batch[seqs.length].id, stream);
      }
      const actual = await this.readTail(stream);
      throw new WrongExpectedRevision(stream, append.expected, actualRevision(actual));
    }
    return seqs;
  }

  /** Which of these ids JetStream already holds: the original's sequence, or undefined. */
  private async probe(events: readonly PreparedEvent[]): Promise<(number | undefined)[]> {
    const known: (number | undefined)[] = [];
    for (let start = 0; start < events.length; start += MAX_IN_FLIGHT) {
      const probes = events.slice(start, start + MAX_IN_FLIGHT).map((event) => {
        const h = headers();
        h.set(HEADER.msgId, event.id);
        h.set('Nats-Expected-Last-Sequence', UNREACHABLE_SEQUENCE);
        // A subject of the log that no event stream maps to: '_' starts no category.
        return this.publisher.publish(`${this.subjects.prefix}._probe`, undefined, h);
      });
      for (const settled of await Promise.allSettled(probes)) {
        const outcome = outcomeOf(settled);
        if (outcome.kind === 'failed') {
          throw outcome.error;
        }
        if (outcome.kind === 'stored') {
          throw new StoreUnavailable(ADAPTER, 'JetStream stored a probe for known event ids');
        }
        known.push(outcome.kind === 'duplicate' ? outcome.seq : undefined);
      }
    }
    return known;
  }

  /**
   * Some ids of the batch are in the log already. That is a retry when they are a prefix of
   * this batch written by an append of this same batch (this stream, consecutive revisions, the
   * same place in a batch of the same size): the answer is the original result, after writing
   * what an interrupted original left out. Anything else reuses an id: DuplicateEventId.
   */
  private async retried(
    append: Append,
    originals: readonly (number | undefined)[],
    attempt = 0,
  ): Promise<AppendResult> {
    const { stream, batch } = append;
    const missing = originals.indexOf(undefined);
    const stored = missing < 0 ? batch.length : missing;
    const stray = originals.findIndex((seq, i) => seq !== undefined && i > stored);
    if (stray >= 0) {
      throw new DuplicateEventId(batch[stray].id, stream);
    }
    const messages = await Promise.all(
      originals.slice(0, stored).map((seq) => this.getMessage({ seq: seq as number })),
    );
    const events = messages.map((message, i) => {
      const event = message === undefined ? undefined : decodeEvent(this.subjects, message);
      const place = batchOf(message?.headers);
      const sameAppend =
        event?.stream === stream &&
        event.id === batch[i].id &&
        place?.index === i &&
        place.size === batch.length;
      if (!sameAppend) {
        throw new DuplicateEventId(batch[i].id, stream);
      }
      return event;
    });
    const firstRevision = events[0].revision;
    const gap = events.findIndex((e, i) => e.revision !== firstRevision + i);
    if (gap >= 0) {
      throw new DuplicateEventId(batch[gap].id, stream);
    }
    const seqs = events.map((e) => e.position);
    if (stored === batch.length) {
      return this.appended(stream, firstRevision, seqs);
    }
    // The original stopped part-way (a crash, a timeout): finish it right after its prefix.
    const last = { seq: seqs[stored - 1], revision: firstRevision + stored - 1 };
    const outcome = await this.publishBatch(append, firstRevision, last, seqs);
    if (Array.isArray(outcome)) {
      return this.appended(stream, firstRevision, outcome);
    }
    if (outcome.kind === 'conflict') {
      const actual = await this.readTail(stream);
      throw new WrongExpectedRevision(stream, append.expected, actualRevision(actual));
    }
    if (attempt >= 3) {
      throw new StoreUnavailable(ADAPTER, `${stream}: concurrent retries keep overtaking this one`);
    }
    return this.retried(append, await this.probe(batch), attempt + 1); // a concurrent retry won
  }

  private appended(stream: string, firstRevision: number, seqs: readonly number[]): AppendResult {
    const last = { seq: seqs[seqs.length - 1], revision: firstRevision + seqs.length - 1 };
    this.tails.remember(stream, last);
    return { nextExpectedRevision: last.revision, firstPosition: seqs[0], lastPosition: last.seq };
  }

  // --- reads ------------------------------------------------------------------------------------

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    parseStreamName(stream);
    this.assertOpen();
    try {
      return await this.readEvents(stream, options);
    } catch (error) {
      throw toStoreError(error, `read ${stream}`);
    }
  }

  /**
   * Reads through a consumer filtered on the subject, whose pending count at creation is the
   * number of events in the stream. Revisions map to sequences only by counting, so a read starts
   * at the stream's first event, and a backward read is a forward one reversed: fine for
   * aggregate-sized streams, which is what streams are here. The latest event alone is one get.
   */
  private async readEvents(stream: string, options: ReadStreamOptions): Promise<RecordedEvent[]> {
    const maxCount = options.maxCount ?? Infinity;
    const backward = options.direction === 'backward';
    if (backward && maxCount === 1 && options.fromRevision === undefined) {
      const last = await this.getMessage({ last_by_subj: this.subjects.ofStream(stream) });
      if (last === undefined) {
        throw new StreamNotFound(stream);
      }
      return [decodeEvent(this.subjects, last)];
    }
    const consumer = await this.openConsumer(1, [this.subjects.ofStream(stream)]);
    try {
      const lastRevision = consumer.initialPending - 1;
      if (lastRevision < 0) {
        throw new StreamNotFound(stream);
      }
      const high = backward
        ? Math.min(options.fromRevision ?? lastRevision, lastRevision)
        : Math.min(lastRevision, (options.fromRevision ?? 0) + maxCount - 1);
      const low = backward ? Math.max(0, high - maxCount + 1) : (options.fromRevision ?? 0);
      const events: RecordedEvent[] = [];
      for (let revision = 0; revision <= high && low <= high; revision++) {
        const delivery = await this.nextDelivery(consumer);
        const event = decodeEvent(this.subjects, deliveredMessage(delivery));
        // Revisions count up from 0 along a subject; anything else is a damaged log.
        if (event.revision !== revision) {
          throw new StoreUnavailable(
            ADAPTER,
            `${stream}: message ${delivery.seq} has revision ${event.revision}, not ${revision}`,
          );
        }
        if (revision >= low) {
          events.push(event);
        }
        if (revision === lastRevision) {
          this.tails.remember(stream, { seq: delivery.seq, revision });
        }
      }
      return backward ? events.reverse() : events;
    } finally {
      await this.releaseConsumer(consumer);
    }
  }

  readAll(options: ReadAllOptions = {}): AsyncIterable<RecordedEvent> {
    this.assertOpen();
    return this.readLog(options);
  }

  /**
   * The log from `after`, up to the head as it was when the read started (so a read always
   * ends), or sooner at `untilPosition`, `untilTime` or `maxCount`.
   */
  private async *readLog(options: ReadAllOptions): AsyncGenerator<RecordedEvent> {
    const after = options.after ?? 0;
    const maxCount = options.maxCount ?? Infinity;
    const untilTime = options.untilTime?.getTime() ?? Infinity;
    const { server, client } = this.splitFilter(options.filter);
    let consumer: OrderedConsumer | undefined;
    try {
      const end = Math.min(await this.headPosition(), options.untilPosition ?? Infinity);
      if (after >= end || maxCount <= 0) {
        return;
      }
      consumer = await this.openConsumer(after + 1, server);
      let count = 0;
      // The pending count is what matches after a message: none left is the end of the log.
      for (let pending = consumer.initialPending; pending > 0;) {
        const delivery = await this.nextDelivery(consumer);
        if (delivery.seq > end || delivery.timestampMs > untilTime) {
          return;
        }
        const event = decodeEvent(this.subjects, deliveredMessage(delivery));
        if (matchesFilter(client, event.stream, event.type)) {
          yield event;
          if (++count >= maxCount) {
            return;
          }
        }
        pending = delivery.seq >= end ? 0 : delivery.pending;
      }
    } catch (error) {
      throw toStoreError(error, 'read the log');
    } finally {
      if (consumer !== undefined) {
        await this.releaseConsumer(consumer);
      }
    }
  }

  subscribe(options: SubscribeOptions = {}): Subscription {
    this.assertOpen();
    const { server, client } = this.splitFilter(options.filter);
    const startSeq = (options.after ?? 0) + 1;
    // The head is captured first: every event up to it is the past this subscription catches up.
    const opening = this.headPosition().then(async (head) => ({
      head,
      consumer: await this.openConsumer(startSeq, server),
    }));
    return new JetStreamSubscription({
      opening,
      decode: (delivery) => {
        const event = decodeEvent(this.subjects, deliveredMessage(delivery));
        return matchesFilter(client, event.stream, event.type) ? event : undefined;
      },
      release: (consumer) => this.releaseConsumer(consumer),
      toStoreError: (error) => toStoreError(error, 'subscription'),
    });
  }

  async headPosition(): Promise<number> {
    this.assertOpen();
    try {
      return (await this.jsm.streams.info(this.streamName)).state.last_seq;
    } catch (error) {
      throw toStoreError(error, 'read the head position');
    }
  }

  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    this.closed = true;
    await Promise.all([...this.consumers].map((c) => this.releaseConsumer(c)));
    this.publisher.close();
    if (this.ownsConnection) {
      await this.nc.drain().catch(() => this.nc.close());
    }
  }

  // --- helpers ----------------------------------------------------------------------------------

  /**
   * Subject filters for the server, and what is left to filter here. One category is a subject
   * filter; several need nats-server 2.10 (filter_subjects), else they are filtered here.
   */
  private splitFilter(filter: EventFilter | undefined): {
    server: string[];
    client: EventFilter | undefined;
  } {
    const categories = filter?.categories;
    const subjectSafe = categories?.every((c) => /^[a-z][a-z0-9]{0,31}$/.test(c)) ?? false;
    if (
      categories === undefined ||
      categories.length === 0 || // nothing matches: matchesFilter drops everything
      !subjectSafe || // no stream has such a category: the same
      (categories.length > 1 && !supportsMultipleFilters(this.nc))
    ) {
      return { server: [], client: filter };
    }
    return {
      server: categories.map((c) => this.subjects.ofCategory(c)),
      client: filter?.eventTypes === undefined ? undefined : { eventTypes: filter.eventTypes },
    };
  }

  private async openConsumer(
    startSeq: number,
    filterSubjects: readonly string[],
  ): Promise<OrderedConsumer> {
    const consumer = await OrderedConsumer.open(this.nc, this.jsm, {
      stream: this.streamName,
      startSeq,
      filterSubjects,
      ...this.consumerOptions,
    });
    if (this.closed) {
      await consumer.close();
      throw new StoreUnavailable(ADAPTER, 'the store is closed');
    }
    this.consumers.add(consumer);
    return consumer;
  }

  private async releaseConsumer(consumer: OrderedConsumer): Promise<void> {
    this.consumers.delete(consumer);
    await consumer.close();
  }

  private async nextDelivery(consumer: OrderedConsumer): Promise<Delivery> {
    const delivery = await consumer.next();
    if (delivery === undefined) {
      throw new StoreUnavailable(ADAPTER, 'the store was closed during a read');
    }
    return delivery;
  }

  /**
   * A stream's last event, read from the stream leader (never a lagging replica). Guarded, the
   * log's last sequence is read first: nothing at or before it is missing from the answer.
   */
  private async readTail(stream: string): Promise<Tail> {
    const head = this.guarded ? await this.headPosition() : undefined;
    const last = await this.getMessage({ last_by_subj: this.subjects.ofStream(stream) });
    return last === undefined
      ? { ...NO_EVENTS, head }
      : { seq: last.seq, revision: decodeEvent(this.subjects, last).revision, head };
  }

  private async getMessage(
    query: { seq: number } | { last_by_subj: string },
  ): Promise<StoredMessage | undefined> {
    let stored: StoredMsg;
    try {
      stored = await this.jsm.streams.getMessage(this.streamName, query);
    } catch (error) {
      if (apiErrorCode(error) === ERR.noMessageFound) {
        return undefined;
      }
      throw error;
    }
    return {
      subject: stored.subject,
      headers: stored.header,
      data: stored.data,
      seq: stored.seq,
      timestampMs: rfc3339ToMillis(stored.timestamp),
    };
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new StoreUnavailable(ADAPTER, 'the store is closed');
    }
  }
}

/** Remembers the last sequence and revision per stream, least recently used evicted first. */
class TailCache {
  private readonly tails = new Map<string, Tail>();
  constructor(private readonly capacity: number) {}

  get(stream: string): Tail | undefined {
    return this.tails.get(stream);
  }

  /** Keeps the newer of what it had and `tail` (concurrent appends may finish out of order). */
  remember(stream: string, tail: Tail): void {
    const known = this.tails.get(stream);
    this.tails.delete(stream);
    this.tails.set(stream, known !== undefined && known.seq > tail.seq ? known : tail);
    if (this.tails.size > this.capacity) {
      this.tails.delete(this.tails.keys().next().value as string);
    }
  }

  forget(stream: string): void {
    this.tails.delete(stream);
  }
}

/** The JetStream stream named in `config`, created if missing; an existing one must fit. */
async function ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string; subjects: string[] },
): Promise<StreamInfo> {
  const existing = await jsm.streams.info(config.name).catch((error: unknown) => {
    if (apiErrorCode(error) === ERR.streamNotFound) {
      return undefined;
    }
    throw error;
  });
  if (existing !== undefined) {
    return compatible(existing, config.subjects);
  }
  try {
    return await jsm.streams.add(config);
  } catch (error) {
    // Another process may have created it first; then it must be compatible.
    const raced = await jsm.streams.info(config.name).catch(() => undefined);
    if (raced === undefined) {
      throw error;
    }
    return compatible(raced, config.subjects);
  }
}

function compatible(info: StreamInfo, subjects: readonly string[]): StreamInfo {
  if (!subjects.every((s) => info.config.subjects?.includes(s))) {
    const has = JSON.stringify(info.config.subjects);
    throw new StoreUnavailable(
      ADAPTER,
      `JetStream stream ${info.config.name} has subjects ${has}, not ${JSON.stringify(subjects)}`,
    );
  }
  return info;
}

function meets(expected: ExpectedRevision, revision: number): boolean {
  return expected === 'any' || (expected === 'no-stream' ? revision < 0 : expected === revision);
}

function actualRevision(tail: Tail): number | 'no-stream' {
  return tail.revision < 0 ? 'no-stream' : tail.revision;
}

function outcomeOf(settled: PromiseSettledResult<PublishAck>): Outcome {
  if (settled.status === 'rejected') {
    return { kind: 'failed', error: settled.reason };
  }
  const ack = settled.value;
  if (ack.ok) {
    return { kind: ack.duplicate ? 'duplicate' : 'stored', seq: ack.seq };
  }
  if (ack.code === ERR.wrongLastSequence) {
    return { kind: 'conflict' }; // the revision's subject has a message already
  }
  if (ack.code === ERR.wrongLastMsgId) {
    return { kind: 'interleaved' };
  }
  const error = new StoreUnavailable(ADAPTER, `refused: ${ack.description} (${ack.code})`);
  return { kind: 'failed', error };
}

function deliveredMessage(delivery: Delivery): StoredMessage {
  const { msg, seq, timestampMs } = delivery;
  return { subject: msg.subject, headers: msg.headers, data: msg.data, seq, timestampMs };
}

function apiErrorCode(error: unknown): number | undefined {
  return error instanceof NatsError ? error.api_error?.err_code : undefined;
}

function supportsMultipleFilters(nc: NatsConnection): boolean {
  return !versionBelow(nc.info?.version ?? '0.0.0', [2, 10, 0]);
}

/** Is a server version such as '2.9.10' (or '2.10.0-beta.1') below major.minor.patch? */
function versionBelow(version: string, [major, minor, patch]: readonly number[]): boolean {
  const [a = 0, b = 0, c = 0] = version.split(/[.-]/).map((part) => Number.parseInt(part, 10) || 0);
  return a !== major ? a < major : b !== minor ? b < minor : c < patch;
}

/** Typed store errors pass through; anything else (timeouts, disconnects...) is StoreUnavailable. */
function toStoreError(error: unknown, doing: string): EventStoreError {
  if (error instanceof EventStoreError) {
    return error;
  }
  const detail =
    error instanceof NatsError
      ? (error.api_error?.description ?? `${error.message} (${error.code})`)
      : error instanceof Error
        ? error.message
        : String(error);
  return new StoreUnavailable(ADAPTER, `${doing}: ${detail}`, { cause: error });
}
