import { Logger } from '@nestjs/common';
import {
  CommandRejected,
  EXPORT_SNAPSHOT_CHUNK,
  MAX_EXPORT_PAGE_EVENTS,
  REPLAY_PAGE_BYTES,
  toWireEvent,
  type DiffPage,
  type ExplainRouteResult,
  type ExplainVerdictRequest,
  type ExplainVerdictResult,
  type ExportPage,
  type ExportRequest,
  type HoldersRequest,
  type HoldersResult,
  type Moment,
  type ReplayPage,
  type ReplayResult,
  type TraceReply,
  type TraceRequest,
  type WireEvent,
} from '@strata/bus';
import { DomainError, parseIpv4, parseTimestamp } from '@strata/domain';
import type { EventStore, RecordedEvent } from '@strata/eventstore';
import {
  compareKeys,
  diffWithCauses,
  evaluatePolicy,
  eventRef,
  ForwardingState,
  HolderTimeline,
  LineageFold,
  tableByName,
  TABLE_NAMES,
  tablesToJson,
  tracePacket,
  writeCanonicalTables,
  type EntryChange,
  type EventRef,
  type ForwardingSnapshot,
  type ForwardingTables,
} from '@strata/forwarding';
import { createHash } from 'node:crypto';
import { SnapshotFile } from './snapshot-file';

export interface HistorySettings {
  /** A fold snapshot every this many events. Default 5,000. */
  readonly snapshotEvery: number;
  /** The snapshot side file; '' (default) is an anonymous temporary file. */
  readonly snapshotPath: string;
}

export const DEFAULT_HISTORY_SETTINGS: HistorySettings = {
  snapshotEvery: 10_000,
  snapshotPath: '',
};

/** The node a neutral fold runs as: no real node (not a DNS name), so every endpoint is remote. */
const NEUTRAL_NODE = '*';
const EXPORT_PAGE_BYTES = 512 * 1024;

/**
 * The log, indexed for time travel (docs/history.md).
 *
 * - One fold of the whole log (as no node: the facts are the same for every node) keeps a
 *   snapshot every `snapshotEvery` events in a SnapshotFile. A state at any position is the
 *   latest snapshot at or before it, restored as the node asked for, plus at most K events
 *   read from the store: the same code the agent runs (libs/forwarding).
 * - Every event's position and recorded time, in two typed arrays (16 bytes an event): a time
 *   resolves to the last event at or before it by binary search.
 * - When each node first registered: a node never registered up to a moment is UnknownNode.
 *
 * The index catches up with the store's head before each query (read-your-writes, like the
 * read models); the first catch-up starts at service start.
 */
export class HistoryIndex {
  private readonly logger = new Logger('HistoryIndex');
  private readonly settings: HistorySettings;
  private readonly snapshots: SnapshotFile;
  private readonly fold = new ForwardingState(NEUTRAL_NODE);
  private positions = new Float64Array(1024);
  private times = new Float64Array(1024);
  private count = 0;
  private readonly registered = new Map<string, number>();
  private sinceSnapshot = 0;
  private updating: Promise<void> = Promise.resolve();
  private closed = false;
  private lastAnswer: { key: string; value: unknown } | undefined;

  constructor(
    private readonly store: EventStore,
    settings: Partial<HistorySettings> = {},
  ) {
    this.settings = { ...DEFAULT_HISTORY_SETTINGS, ...settings };
    if (!Number.isSafeInteger(this.settings.snapshotEvery) || this.settings.snapshotEvery < 1) {
      throw new RangeError('snapshotEvery must be a positive integer');
    }
    this.snapshots = new SnapshotFile(this.settings.snapshotPath);
  }

  /** Events indexed, and snapshots kept. */
  get stats(): { events: number; snapshots: number; position: number } {
    return { events: this.count, snapshots: this.snapshots.size, position: this.fold.position };
  }

  /** Folds what the log gained up to its current head; concurrent calls share the work. */
  catchUp(): Promise<void> {
    const next = this.updating.then(() => this.foldToHead());
    this.updating = next.catch(() => undefined);
    return next;
  }

  /** Starts the first catch-up in the background (a failure is retried by the next query). */
  start(): void {
    this.catchUp().catch((error: unknown) => {
      this.logger.warn(`indexing the log: ${(error as Error).message} (retried per query)`);
    });
  }

  close(): void {
    this.closed = true;
    this.snapshots.close();
  }

  // --- queries ---------------------------------------------------------------------------

  /**
   * One page of a node's state at a moment: the entries after the first `after` (TABLE_NAMES
   * order, then key order), up to about REPLAY_PAGE_BYTES of them, with the digest of all.
   */
  async replay(node: string, at: string, after = 0): Promise<ReplayPage> {
    await this.catchUp();
    const moment = this.resolve(at, 'at');
    this.assertNode(node, moment);
    const whole = await this.remembered(`replay ${node} ${moment.position}`, async () => {
      const { state, snapshotPosition, eventsFolded } = await this.stateAt(node, moment.position);
      const tables = tablesToJson(state.tables) as unknown as ReplayResult['tables'];
      const rows = Object.entries(tables).flatMap(([name, entries]) =>
        entries.map((entry) => ({ name, entry })),
      );
      return {
        rows,
        names: Object.keys(tables),
        digest: digest(state),
        snapshotPosition,
        eventsFolded,
      };
    });
    const page = pageOf(whole.rows, after, ({ entry }) => entry);
    const tables: Record<string, Array<readonly [string, object]>> = {};
    for (const name of whole.names) tables[name] = [];
    for (const { name, entry } of page.items) tables[name].push(entry);
    return {
      node,
      at: moment,
      digest: whole.digest,
      tables,
      snapshotPosition: whole.snapshotPosition,
      eventsFolded: whole.eventsFolded,
      next: page.next,
    };
  }

  /** One page of a diff: the changes after the first `after`, up to about REPLAY_PAGE_BYTES. */
  async diff(node: string, fromText: string, toText: string, after = 0): Promise<DiffPage> {
    await this.catchUp();
    const from = this.resolve(fromText, 'from');
    const to = this.resolve(toText, 'to');
    if (to.position < from.position) {
      throw new DomainError(
        'InvalidArgument',
        `the window must not end (${toText}) before it starts (${fromText})`,
      );
    }
    this.assertNode(node, to);
    const whole = await this.remembered(
      `diff ${node} ${from.position} ${to.position}`,
      async () => {
        const { state } = await this.stateAt(node, from.position);
        const before = copyAll(state.tables);
        const digestFrom = digest(state);
        const lineage = new LineageFold(state);
        const changes: EntryChange[] = [];
        for await (const event of this.store.readAll({
          after: from.position,
          untilPosition: to.position,
        })) {
          changes.push(...lineage.apply(event));
        }
        return {
          digestFrom,
          digestTo: digest(state),
          changes: diffWithCauses(before, state.tables, changes),
        };
      },
    );
    const page = pageOf(whole.changes, after, (change) => change);
    return {
      node,
      from,
      to,
      digestFrom: whole.digestFrom,
      digestTo: whole.digestTo,
      changes: page.items,
      next: page.next,
    };
  }

  /**
   * The last paged answer, kept for its next pages: the log up to a position never changes, so
   * the answer for the same key is the same. One entry; a different question replaces it.
   */
  private async remembered<T>(key: string, compute: () => Promise<T>): Promise<T> {
    if (this.lastAnswer?.key === key) return this.lastAnswer.value as T;
    const value = await compute();
    this.lastAnswer = { key, value };
    return value;
  }

  async explainRoute(node: string, ip: string, at: string): Promise<ExplainRouteResult> {
    parseIpv4(ip, 'route address');
    await this.catchUp();
    const moment = this.resolve(at, 'at');
    this.assertNode(node, moment);
    // Lineage needs the whole story of the key: a fold from the start, comparing only its key.
    const lineage = new LineageFold(new ForwardingState(node), (_table, key) => key === ip);
    const history: EntryChange[] = [];
    for await (const event of this.store.readAll({ untilPosition: moment.position })) {
      const changes = lineage.apply(event);
      if (changes.length > 0) history.push(...changes);
    }
    const entries = TABLE_NAMES.flatMap((table) => {
      const entry = tableByName(lineage.state.tables, table).get(ip);
      return entry === undefined ? [] : [{ table: table as string, entry }];
    });
    if (entries.length === 0 && history.length === 0) {
      throw new DomainError(
        'NotFound',
        `${node} had no entry for ${ip} at position ${moment.position}, nor any before`,
      );
    }
    const streams = new Set<string>();
    for (const { entry } of entries) {
      const fields = entry as { uid?: unknown; node?: unknown };
      if (typeof fields.uid === 'string') streams.add(`endpoint-${fields.uid}`);
      if (typeof fields.node === 'string' && fields.node !== '') streams.add(`node-${fields.node}`);
    }
    const sources: EventRef[] = [];
    for (const stream of [...streams]) {
      for (const event of await this.streamUpTo(stream, moment.position)) {
        if (event.type === 'NodeHeartbeatRecorded') continue;
        sources.push(eventRef(event));
        const segmentId = (event.data as { segmentId?: unknown } | null)?.segmentId;
        if (event.type === 'EndpointCreated' && typeof segmentId === 'string') {
          const segment = `segment-${segmentId}`;
          if (!streams.has(segment)) {
            streams.add(segment);
            for (const e of await this.streamUpTo(segment, moment.position))
              sources.push(eventRef(e));
          }
        }
      }
    }
    sources.sort((a, b) => a.position - b.position);
    return { node, ip, at: moment, entries, history, sources };
  }

  async explainVerdict(request: ExplainVerdictRequest): Promise<ExplainVerdictResult> {
    await this.catchUp();
    const moment = this.resolve(request.at, 'at');
    const { state } = await this.stateAt(NEUTRAL_NODE, moment.position);
    const facts = state.snapshot();
    const source = endpointOf(facts, request.source, 'source');
    const destination = endpointOf(facts, request.destination, 'destination');
    const evaluation = evaluatePolicy(state, {
      source: source.ip,
      destination: destination.ip,
      protocol: request.protocol,
      port: request.port,
    });
    return {
      at: moment,
      source: source.ip,
      destination: destination.ip,
      protocol: request.protocol,
      port: request.port,
      evaluation,
      egressPolicyEvent: await this.policyEvent(evaluation.egress),
      ingressPolicyEvent: await this.policyEvent(evaluation.ingress),
      sourceIdentityEvent: await this.identityEvent(source.uid, moment.position),
      destinationIdentityEvent: await this.identityEvent(destination.uid, moment.position),
    };
  }

  async trace(request: TraceRequest): Promise<TraceReply> {
    await this.catchUp();
    const moment = this.resolve(request.at ?? String(this.fold.position), 'at');
    const { state } = await this.stateAt(NEUTRAL_NODE, moment.position);
    const facts = state.snapshot();
    const source = endpointOf(facts, request.from, 'source');
    const destination = isIpv4Text(request.to)
      ? { ip: request.to }
      : endpointOf(facts, request.to, 'destination');
    const states = new Map<string, ForwardingState>();
    const stateOf = (node: string) => {
      let found = states.get(node);
      if (found === undefined) {
        found = ForwardingState.restore(facts, { asNode: node });
        states.set(node, found);
      }
      return found;
    };
    const packet = {
      source: source.ip,
      destination: destination.ip,
      protocol: request.protocol,
      port: request.port,
    };
    const result = tracePacket({
      packet,
      sourceNode: source.node === '' ? undefined : source.node,
      stateOf,
      evaluate: evaluatePolicy,
    });
    return { ...result, at: moment, ...packet };
  }

  async holders(request: HoldersRequest): Promise<HoldersResult> {
    if ((request.ip === undefined) === (request.identity === undefined)) {
      throw new DomainError('InvalidArgument', 'ask about an ip or an identity (one of them)');
    }
    await this.catchUp();
    const query = request.ip !== undefined ? { ip: request.ip } : { identity: request.identity! };
    const timeline = new HolderTimeline(query);
    for await (const event of this.store.readAll({
      untilPosition: this.fold.position,
      filter: { categories: ['endpoint'] },
    })) {
      timeline.add(event);
    }
    return { query, tenures: timeline.tenures() };
  }

  async exportPage(request: ExportRequest): Promise<ExportPage> {
    await this.catchUp();
    const from = this.resolve(request.from, 'from');
    const to = this.resolve(request.to, 'to');
    if (to.position < from.position) {
      throw new DomainError(
        'InvalidArgument',
        `the window must not end (${request.to}) before it starts (${request.from})`,
      );
    }
    if (request.after !== undefined && request.chunk !== undefined) {
      throw new DomainError(
        'InvalidArgument',
        'ask for a snapshot chunk or events after, not both',
      );
    }
    if (request.after === undefined) {
      // The first pages carry the facts at `from` alone, as pieces of its JSON text.
      const chunk = request.chunk ?? 0;
      const { state } = await this.stateAt(NEUTRAL_NODE, from.position);
      const text = JSON.stringify(state.snapshot());
      const chunks = Math.ceil(text.length / EXPORT_SNAPSHOT_CHUNK);
      if (chunk >= chunks) {
        throw new DomainError('InvalidArgument', `chunk ${chunk} is past the ${chunks} chunks`);
      }
      const more = chunk + 1 < chunks;
      const last = !more && from.position === to.position;
      return {
        from,
        to,
        snapshotChunk: text.slice(
          chunk * EXPORT_SNAPSHOT_CHUNK,
          (chunk + 1) * EXPORT_SNAPSHOT_CHUNK,
        ),
        nextChunk: more ? chunk + 1 : null,
        events: [],
        next: more || last ? null : from.position,
        digests: last ? await this.digestsAt(to.position) : null,
      };
    }
    if (request.after < from.position || request.after > to.position) {
      throw new DomainError('InvalidArgument', `after ${request.after} is outside the window`);
    }
    const events: WireEvent[] = [];
    let bytes = 0;
    for await (const event of this.store.readAll({
      after: request.after,
      untilPosition: to.position,
      maxCount: MAX_EXPORT_PAGE_EVENTS,
    })) {
      const wire = toWireEvent(event);
      events.push(wire);
      bytes += JSON.stringify(wire).length;
      if (bytes > EXPORT_PAGE_BYTES) break;
    }
    const lastPosition = events.length === 0 ? to.position : events[events.length - 1].position;
    const done = lastPosition >= to.position;
    return {
      from,
      to,
      snapshotChunk: null,
      nextChunk: null,
      events,
      next: done ? null : lastPosition,
      digests: done ? await this.digestsAt(to.position) : null,
    };
  }

  /**
   * A node's state at `position`: the latest snapshot at or before it, restored as `node`, and
   * the events after it read from the store. Exposed for the benchmark.
   */
  async stateAt(
    node: string,
    position: number,
    useSnapshots = true,
  ): Promise<{ state: ForwardingState; snapshotPosition: number; eventsFolded: number }> {
    const snapshot = useSnapshots ? this.snapshots.atOrBefore(position) : undefined;
    const state =
      snapshot === undefined
        ? new ForwardingState(node)
        : ForwardingState.restore(snapshot, { asNode: node });
    const snapshotPosition = state.position;
    let eventsFolded = 0;
    if (state.position < position) {
      for await (const event of this.store.readAll({
        after: state.position,
        untilPosition: position,
      })) {
        state.apply(event);
        eventsFolded++;
      }
    }
    return { state, snapshotPosition, eventsFolded };
  }

  /**
   * What `at` names: a position (digits; the last event at or before it) or an RFC 3339 UTC
   * time (the last event recorded at or before it).
   */
  resolve(at: string, what: string): Moment {
    let index: number;
    if (/^[0-9]+$/.test(at)) {
      const position = Number(at);
      if (!Number.isSafeInteger(position)) {
        throw new DomainError('InvalidArgument', `${what} ${at} is not a log position`);
      }
      const head = this.fold.position;
      if (position > head) {
        throw new DomainError(
          'InvalidArgument',
          `${what} position ${position} is past the log's head (${head})`,
        );
      }
      index = lastAtOrBefore(this.positions, this.count, position);
    } else {
      if (!/^\d{4}-/.test(at)) {
        throw new DomainError(
          'InvalidTimestamp',
          `${what} must be a log position (digits) or an RFC 3339 UTC time like 2024-05-01T12:00:00.000Z, got ${JSON.stringify(at)}`,
        );
      }
      index = lastAtOrBefore(this.times, this.count, parseTimestamp(at, what));
    }
    if (index < 0) {
      throw new CommandRejected(
        'BeforeFirstEvent',
        this.count === 0
          ? 'the log is empty'
          : `${what} ${at} is before the log's first event (position ${this.positions[0]}, recorded at ${new Date(this.times[0]).toISOString()})`,
      );
    }
    return {
      position: this.positions[index],
      recordedAt: new Date(this.times[index]).toISOString(),
    };
  }

  // --- internals -------------------------------------------------------------------------

  private async foldToHead(): Promise<void> {
    if (this.closed) return;
    const head = await this.store.headPosition();
    if (head <= this.fold.position) return;
    for await (const event of this.store.readAll({
      after: this.fold.position,
      untilPosition: head,
    })) {
      this.index(event);
    }
  }

  private index(event: RecordedEvent): void {
    this.fold.apply(event);
    if (this.count === this.positions.length) {
      this.positions = grow(this.positions);
      this.times = grow(this.times);
    }
    this.positions[this.count] = event.position;
    this.times[this.count] = event.recordedAt.getTime();
    this.count++;
    if (event.type === 'NodeRegistered') {
      const name = (event.data as { name?: unknown } | null)?.name;
      if (typeof name === 'string' && !this.registered.has(name)) {
        this.registered.set(name, event.position);
      }
    }
    if (++this.sinceSnapshot >= this.settings.snapshotEvery) {
      this.sinceSnapshot = 0;
      this.fold.takeChanges(); // nobody reconciles this fold: drop its change sets
      this.snapshots.put(this.fold.position, this.fold.snapshot());
    }
  }

  private assertNode(node: string, moment: Moment): void {
    const first = this.registered.get(node);
    if (first === undefined || first > moment.position) {
      throw new CommandRejected(
        'UnknownNode',
        `node ${node} was never registered up to position ${moment.position} (${moment.recordedAt})`,
      );
    }
  }

  private async streamUpTo(stream: string, position: number): Promise<RecordedEvent[]> {
    try {
      const events = await this.store.readStream(stream);
      return events.filter((event) => event.position <= position);
    } catch (error) {
      if ((error as { code?: unknown }).code === 'StreamNotFound') return [];
      throw error;
    }
  }

  private async policyEvent(verdict: {
    policyId: string | null;
    policyRevision: number | null;
  }): Promise<EventRef | null> {
    if (verdict.policyId === null || verdict.policyRevision === null) return null;
    const events = await this.streamUpTo(`policy-${verdict.policyId}`, Number.MAX_SAFE_INTEGER);
    const event = events.find((e) => e.revision === verdict.policyRevision);
    return event === undefined ? null : eventRef(event);
  }

  private async identityEvent(uid: string, position: number): Promise<EventRef | null> {
    const events = await this.streamUpTo(`endpoint-${uid}`, position);
    const last = events
      .filter((e) => e.type === 'EndpointCreated' || e.type === 'EndpointLabelsUpdated')
      .pop();
    return last === undefined ? null : eventRef(last);
  }

  private async digestsAt(position: number): Promise<{ node: string; digest: string }[]> {
    const { state } = await this.stateAt(NEUTRAL_NODE, position);
    const facts = state.snapshot();
    return facts.nodes
      .map((node) => node.name)
      .sort(compareKeys)
      .map((node) => ({ node, digest: digest(ForwardingState.restore(facts, { asNode: node })) }));
  }
}

function isIpv4Text(value: string): boolean {
  return /^[0-9.]+$/.test(value);
}

/**
 * An endpoint of the facts by IPv4 address (the owner: the smallest uid among its claimants,
 * as the fold decides) or by uid. A malformed address is InvalidIp; none is NotFound.
 */
function endpointOf(
  facts: ForwardingSnapshot,
  value: string,
  what: string,
): { uid: string; ip: string; node: string } {
  if (isIpv4Text(value)) {
    parseIpv4(value, `${what} address`);
    const owner = facts.endpoints
      .filter((endpoint) => endpoint.ip === value)
      .sort((a, b) => compareKeys(a.uid, b.uid))[0];
    if (owner === undefined) {
      throw new DomainError('NotFound', `no endpoint had the ${what} address ${value} then`);
    }
    return owner;
  }
  const endpoint = facts.endpoints.find((candidate) => candidate.uid === value);
  if (endpoint === undefined) {
    throw new DomainError('NotFound', `no endpoint ${value} existed then (${what})`);
  }
  return endpoint;
}

/** Index of the last value <= `target` in the first `count` of `sorted`; -1 when none. */
function lastAtOrBefore(sorted: Float64Array, count: number, target: number): number {
  let low = 0;
  let high = count - 1;
  let found = -1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle] <= target) {
      found = middle;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  return found;
}

function grow(array: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> {
  const bigger = new Float64Array(array.length * 2);
  bigger.set(array);
  return bigger;
}

/**
 * libs/forwarding's `digest` — SHA-256 over the tables' canonical JSON — with the hash from
 * node:crypto instead of the library's portable pure-JS one, fed in chunks: the same value (the
 * tests hold them equal), a few times faster on a large table set.
 */
export function digest(source: ForwardingState | ForwardingTables): string {
  const tables = source instanceof ForwardingState ? source.tables : source;
  const hash = createHash('sha256');
  writeCanonicalTables(tables, (chunk) => hash.update(chunk));
  return hash.digest('hex');
}

function copyAll(tables: ForwardingTables): ForwardingTables {
  return Object.fromEntries(
    TABLE_NAMES.map((table) => [table, new Map(tableByName(tables, table))]),
  ) as unknown as ForwardingTables;
}

/**
 * The items after the first `after`, up to about REPLAY_PAGE_BYTES of JSON (at least one), and
 * the cursor of the next page (null on the last); InvalidArgument for a cursor past the end.
 */
function pageOf<T>(
  items: readonly T[],
  after: number,
  json: (item: T) => unknown,
): { items: T[]; next: number | null } {
  if (after > items.length) {
    throw new DomainError('InvalidArgument', `after ${after} is past the ${items.length} entries`);
  }
  const page: T[] = [];
  let bytes = 0;
  for (
    let i = after;
    i < items.length && (page.length === 0 || bytes <= REPLAY_PAGE_BYTES);
    i += 1
  ) {
    page.push(items[i]);
    bytes += JSON.stringify(json(items[i])).length;
  }
  const end = after + page.length;
  return { items: page, next: end < items.length ? end : null };
}
