import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { CatchUpSubscription } from '../catch-up-subscription';
import { pagedIterable } from '../paged-iterable';
import { DEFAULT_MAX_EVENT_BYTES, type EncodedEvent, encodeBatch } from '../encoding';
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
import { parseStreamName } from '../stream-name';

export interface SqliteEventStoreOptions {
  /** The database file; default ./.strata/events.db. ':memory:' for a throwaway store. */
  readonly path?: string;
  readonly maxEventBytes?: number;
  /**
   * 'normal' (default): WAL with synchronous=NORMAL — every committed append survives a crash
   * of the process (kill -9); the last transactions can be lost on power loss.
   * 'full': fsync on every commit, surviving power loss at the cost of one fsync per append.
   */
  readonly durability?: 'normal' | 'full';
  /** How often a live subscription looks for appends made by other processes. Default 100 ms. */
  readonly pollIntervalMs?: number;
  /** Where recordedAt comes from; injectable so tests can pin time. */
  readonly clock?: () => number;
}

export const DEFAULT_SQLITE_PATH = '.strata/events.db';

interface QueuedAppend {
  readonly stream: string;
  readonly events: EncodedEvent[];
  readonly expected: ExpectedRevision;
  readonly resolve: (result: AppendResult) => void;
  readonly reject: (error: unknown) => void;
}

type AppendOutcome = { readonly result: AppendResult } | { readonly error: EventStoreError };

/** A row as an array in COLUMNS order: reading arrays is about twice as fast as objects. */
type EventRow = [
  position: number,
  id: string,
  stream: string,
  revision: number,
  type: string,
  schemaVersion: number,
  recordedAt: number,
  correlationId: string,
  causationId: string,
  actor: string,
  data: string,
];

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS events (
    position        INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    stream          TEXT    NOT NULL,
    category        TEXT    NOT NULL,
    revision        INTEGER NOT NULL,
    type            TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    recorded_at     INTEGER NOT NULL,
    correlation_id  TEXT    NOT NULL,
    causation_id    TEXT    NOT NULL,
    actor           TEXT    NOT NULL,
    data            TEXT    NOT NULL,
    UNIQUE (stream, revision)
  );
  CREATE INDEX IF NOT EXISTS events_by_category ON events (category, position);
  CREATE INDEX IF NOT EXISTS events_by_type ON events (type, position);
`;

/**
 * Checkpoints (copying the WAL back into the database file, with an fsync of each) run on a
 * connection of their own in a worker thread, every CHECKPOINT_INTERVAL_MS, PASSIVE (never
 * waiting for a lock, never blocking a writer). SQLite's own auto-checkpoint would run them
 * inside the commit that crosses its threshold, on the event loop: measured under IPAM load, one
 * commit in ten paid 10-40 ms for it. The main connection keeps an auto-checkpoint at
 * BACKSTOP_CHECKPOINT_PAGES: a background checkpoint that always overlaps a commit never finishes
 * the log, so SQLite cannot start the WAL over; the backstop, run between commits, does (cheaply,
 * since the worker has copied nearly every frame already), and covers a worker that failed.
 */
const CHECKPOINT_INTERVAL_MS = 50;
const BACKSTOP_CHECKPOINT_PAGES = 10_000;
const DEFAULT_CHECKPOINT_PAGES = 1_000;

/** The checkpointer's code (eval'd: a worker needs a file or source, and ts-jest has no .js). */
const CHECKPOINTER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('synchronous = ' + workerData.synchronous);
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy or failing: the next tick (or the main connection's backstop) checkpoints.
  }
}, workerData.intervalMs);
parentPort.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/**
 * Events per query when reading the global log. Small enough that a page dies young: at 5,000
 * the decoded events outlived V8's young generation and replay ran at half speed.
 */
const READ_PAGE = 1000;

const COLUMNS =
  'position, id, stream, revision, type, schema_version, recorded_at, correlation_id, causation_id, actor, data';

/**
 * The embedded default: one SQLite file in WAL mode (better-sqlite3, synchronous calls).
 * Positions are SQLite's AUTOINCREMENT keys: writers are serialised by SQLite's write lock, so
 * positions follow commit order and a reader that has seen position P has seen all before it.
 * Several processes may share the file. Appends made in one turn of the event loop commit
 * together (group commit): one IMMEDIATE transaction, a savepoint per append.
 */
export class SqliteEventStore implements EventStore {
  readonly adapter = 'sqlite';
  readonly maxEventBytes: number;
  private readonly db: Database.Database;
  private readonly clock: () => number;
  private readonly pollIntervalMs: number;
  private readonly listeners = new Set<() => void>();
  private readonly pageQueries = new Map<string, Database.Statement>();
  private readonly statements;
  private readonly appendTransaction;
  private readonly groupTransaction;
  private queued: QueuedAppend[] = [];
  private readonly path: string;
  private readonly synchronous: 'NORMAL' | 'FULL';
  /** Started with the first commit (a store only read never needs it); null once given up. */
  private checkpointer: { readonly exited: Promise<void>; stop(): void } | undefined | null;

  constructor(options: SqliteEventStoreOptions = {}) {
    const path = options.path ?? DEFAULT_SQLITE_PATH;
    this.path = path;
    this.synchronous = options.durability === 'full' ? 'FULL' : 'NORMAL';
    this.checkpointer = path === ':memory:' || path === '' ? null : undefined;
    this.maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
    this.clock = options.clock ?? Date.now;
    this.pollIntervalMs = options.pollIntervalMs ?? 100;
    try {
      if (path !== ':memory:') {
        mkdirSync(dirname(resolve(path)), { recursive: true });
      }
      this.db = new Database(path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${this.synchronous}`);
      this.db.pragma('busy_timeout = 5000');
      this.db.exec(SCHEMA);
    } catch (error) {
      throw new StoreUnavailable('sqlite', `cannot open ${path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    this.statements = {
      lastRevision: this.db.prepare<[string], { revision: number }>(
        'SELECT revision FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 1',
      ),
      lastRecordedAt: this.db.prepare<[], { recorded_at: number }>(
        'SELECT recorded_at FROM events ORDER BY position DESC LIMIT 1',
      ),
      byId: this.db.prepare<[string], { stream: string; revision: number; position: number }>(
        'SELECT stream, revision, position FROM events WHERE id = ?',
      ),
      insert: this.db.prepare(
        `INSERT INTO events (id, stream, category, revision, type, schema_version, recorded_at,
           correlation_id, causation_id, actor, data)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      head: this.db.prepare<[], { position: number | null }>(
        'SELECT MAX(position) AS position FROM events',
      ),
      forward: this.db
        .prepare<[string, number, number], EventRow>(
          `SELECT ${COLUMNS} FROM events WHERE stream = ? AND revision >= ? ORDER BY revision ASC LIMIT ?`,
        )
        .raw(true),
      backward: this.db
        .prepare<[string, number, number], EventRow>(
          `SELECT ${COLUMNS} FROM events WHERE stream = ? AND revision <= ? ORDER BY revision DESC LIMIT ?`,
        )
        .raw(true),
    };
    this.appendTransaction = this.db.transaction(
      (stream: string, events: EncodedEvent[], expected: ExpectedRevision) =>
        this.appendInTransaction(stream, events, expected),
    );
    // Group commit: one transaction for every append queued in one turn of the event loop, each
    // append inside its own savepoint (better-sqlite3 nests transactions as savepoints), so one
    // append's conflict rolls back only that append, and the group pays for one commit.
    this.groupTransaction = this.db.transaction((group: QueuedAppend[]) =>
      group.map((queued): AppendOutcome => {
        try {
          return { result: this.appendTransaction(queued.stream, queued.events, queued.expected) };
        } catch (error) {
          if (error instanceof EventStoreError) {
            return { error };
          }
          throw error;
        }
      }),
    );
  }

  async append(
    stream: string,
    events: readonly EventToAppend[],
    expected: ExpectedRevision,
  ): Promise<AppendResult> {
    const encoded = encodeBatch(stream, events, this.maxEventBytes);
    return new Promise<AppendResult>((resolve, reject) => {
      if (this.queued.push({ stream, events: encoded, expected, resolve, reject }) === 1) {
        setImmediate(() => this.commitQueued());
      }
    });
  }

  /** Commits every queued append in one transaction and settles each one's promise. */
  private commitQueued(): void {
    const group = this.queued;
    this.queued = [];
    if (group.length === 0) {
      return;
    }
    if (this.checkpointer === undefined) {
      this.startCheckpointer();
    }
    let outcomes: AppendOutcome[];
    try {
      outcomes = this.guard(() => this.groupTransaction.immediate(group));
    } catch (error) {
      group.forEach((queued) => queued.reject(error));
      return;
    }
    for (const listener of this.listeners) {
      listener();
    }
    outcomes.forEach((outcome, i) =>
      'result' in outcome ? group[i].resolve(outcome.result) : group[i].reject(outcome.error),
    );
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    parseStreamName(stream);
    const limit = options.maxCount ?? -1;
    const rows = this.guard(() =>
      options.direction === 'backward'
        ? this.statements.backward.all(
            stream,
            options.fromRevision ?? Number.MAX_SAFE_INTEGER,
            limit,
          )
        : this.statements.forward.all(stream, options.fromRevision ?? 0, limit),
    );
    if (
      rows.length === 0 &&
      this.guard(() => this.statements.lastRevision.get(stream)) === undefined
    ) {
      throw new StreamNotFound(stream);
    }
    return rows.map(toRecordedEvent);
  }

  readAll(options: ReadAllOptions = {}): AsyncIterable<RecordedEvent> {
    const untilTime = options.untilTime?.getTime();
    let until: number | undefined;
    let remaining = options.maxCount ?? Number.POSITIVE_INFINITY;
    let after = options.after ?? 0;
    return pagedIterable(async () => {
      // The head when reading starts bounds the read: appends made meanwhile are not chased.
      until ??= Math.min(
        options.untilPosition ?? Number.MAX_SAFE_INTEGER,
        await this.headPosition(),
      );
      if (remaining <= 0 || after >= until) {
        return [];
      }
      const page = this.readPage(
        after,
        until,
        options.filter,
        Math.min(remaining, READ_PAGE),
        untilTime,
      );
      remaining -= page.length;
      // A short page means nothing else matches: the next call ends the iteration.
      after = page.length < READ_PAGE ? until : page[page.length - 1].position;
      return page;
    });
  }

  subscribe(options: SubscribeOptions = {}): Subscription {
    return new CatchUpSubscription(
      {
        readPage: (after, until, filter, limit) => this.readPage(after, until, filter, limit),
        headPosition: () => this.headPosition(),
        onAppend: (wake) => {
          this.listeners.add(wake);
          return () => this.listeners.delete(wake);
        },
        pollIntervalMs: this.pollIntervalMs,
      },
      options.after ?? 0,
      options.filter,
    );
  }

  async headPosition(): Promise<number> {
    return this.guard(() => this.statements.head.get()?.position ?? 0);
  }

  async close(): Promise<void> {
    if (this.db.open) {
      this.commitQueued();
    }
    // Before the main connection closes: the last connection to close checkpoints and removes
    // the WAL.
    const checkpointer = this.checkpointer;
    this.checkpointer = null;
    if (checkpointer) {
      checkpointer.stop();
      await checkpointer.exited;
    }
    this.listeners.clear();
    if (this.db.open) {
      this.db.close();
    }
  }

  /** See CHECKPOINTER; if the worker cannot run, SQLite's auto-checkpoint does the work again. */
  private startCheckpointer(): void {
    this.checkpointer = null;
    let worker: Worker;
    try {
      worker = new Worker(CHECKPOINTER, {
        eval: true,
        workerData: {
          driver: require.resolve('better-sqlite3'),
          path: resolve(this.path),
          synchronous: this.synchronous,
          intervalMs: CHECKPOINT_INTERVAL_MS,
        },
      });
    } catch {
      return;
    }
    const exited = new Promise<void>((done) => worker.once('exit', () => done()));
    worker.once('error', () => {
      if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${DEFAULT_CHECKPOINT_PAGES}`);
    });
    // Never what keeps a process alive.
    worker.unref();
    this.db.pragma(`wal_autocheckpoint = ${BACKSTOP_CHECKPOINT_PAGES}`);
    this.checkpointer = { exited, stop: () => worker.postMessage('stop') };
  }

  private appendInTransaction(
    stream: string,
    events: EncodedEvent[],
    expected: ExpectedRevision,
  ): AppendResult {
    const retried = this.previousAppend(stream, events);
    if (retried !== undefined) {
      return retried;
    }
    const last = this.statements.lastRevision.get(stream)?.revision;
    const matches =
      expected === 'any' ||
      (expected === 'no-stream' && last === undefined) ||
      (typeof expected === 'number' && expected === last);
    if (!matches) {
      throw new WrongExpectedRevision(stream, expected, last ?? 'no-stream');
    }
    // recordedAt never goes backwards along the log, even if the wall clock does.
    const recordedAt = Math.max(
      this.clock(),
      this.statements.lastRecordedAt.get()?.recorded_at ?? 0,
    );
    const { category } = parseStreamName(stream);
    let revision = last ?? -1;
    let firstPosition = 0;
    let lastPosition = 0;
    for (const event of events) {
      revision += 1;
      const { lastInsertRowid } = this.insertEvent(
        event.id,
        stream,
        category,
        revision,
        event.type,
        event.schemaVersion,
        recordedAt,
        event.correlationId,
        event.causationId,
        event.actor,
        event.data,
      );
      lastPosition = Number(lastInsertRowid);
      firstPosition ||= lastPosition;
    }
    return { nextExpectedRevision: revision, firstPosition, lastPosition };
  }

  /**
   * The original result when this exact batch was appended before (a retry); undefined when
   * its first id is unknown. Batches are atomic here, so a batch whose first id is unknown was
   * never appended, and any other known id in it makes the insert fail (see insertEvent).
   */
  private previousAppend(stream: string, events: EncodedEvent[]): AppendResult | undefined {
    const first = this.statements.byId.get(events[0].id);
    if (first === undefined) {
      return undefined;
    }
    let last = first;
    for (let i = 1; i < events.length; i++) {
      const row = this.statements.byId.get(events[i].id);
      if (row === undefined || row.stream !== stream || row.revision !== first.revision + i) {
        throw new DuplicateEventId(events[row === undefined ? 0 : i].id, stream);
      }
      last = row;
    }
    if (first.stream !== stream) {
      throw new DuplicateEventId(events[0].id, stream);
    }
    return {
      nextExpectedRevision: last.revision,
      firstPosition: first.position,
      lastPosition: last.position,
    };
  }

  private insertEvent(id: string, ...columns: unknown[]): Database.RunResult {
    try {
      return this.statements.insert.run(id, ...columns);
    } catch (error) {
      const { code, message } = error as { code?: string; message: string };
      if (code === 'SQLITE_CONSTRAINT_UNIQUE' && message.includes('events.id')) {
        throw new DuplicateEventId(id, columns[0] as string);
      }
      throw error;
    }
  }

  private readPage(
    after: number,
    until: number,
    filter: EventFilter | undefined,
    limit: number,
    untilTime?: number,
  ): RecordedEvent[] {
    const categories = filter?.categories ?? [];
    const types = filter?.eventTypes ?? [];
    const key = `${categories.length}:${types.length}:${untilTime === undefined ? 0 : 1}`;
    let statement = this.pageQueries.get(key);
    if (statement === undefined) {
      const where = ['position > ?', 'position <= ?'];
      if (filter?.categories !== undefined) {
        where.push(`category IN (${placeholders(categories.length)})`);
      }
      if (filter?.eventTypes !== undefined) {
        where.push(`type IN (${placeholders(types.length)})`);
      }
      if (untilTime !== undefined) {
        where.push('recorded_at <= ?');
      }
      statement = this.db
        .prepare(
          `SELECT ${COLUMNS} FROM events WHERE ${where.join(' AND ')} ORDER BY position ASC LIMIT ?`,
        )
        .raw(true);
      this.pageQueries.set(key, statement);
    }
    const parameters = [after, until, ...categories, ...types];
    if (untilTime !== undefined) {
      parameters.push(untilTime);
    }
    const rows = this.guard(() => statement.all(...parameters, limit) as EventRow[]);
    return rows.map(toRecordedEvent);
  }

  /** Runs a database call, turning SQLite's own failures into StoreUnavailable. */
  private guard<T>(call: () => T): T {
    try {
      return call();
    } catch (error) {
      if (error instanceof EventStoreError) {
        throw error;
      }
      throw new StoreUnavailable('sqlite', (error as Error).message, { cause: error });
    }
  }
}

// `IN ()` matches nothing, which is what an empty filter list means.
function placeholders(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}

function toRecordedEvent(row: EventRow): RecordedEvent {
  const [
    position,
    id,
    stream,
    revision,
    type,
    schemaVersion,
    recordedAt,
    correlationId,
    causationId,
    actor,
    json,
  ] = row;
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    throw new StoreUnavailable('sqlite', `event at position ${position} has corrupt data`);
  }
  return {
    id,
    type,
    schemaVersion,
    stream,
    revision,
    position,
    recordedAt: new Date(recordedAt),
    correlationId,
    causationId,
    actor,
    data,
  };
}
