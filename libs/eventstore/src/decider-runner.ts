import { createHash } from 'node:crypto';
import { StreamNotFound, WrongExpectedRevision } from './errors';
import type { EventStore, EventToAppend, ExpectedRevision } from './event-store';

/**
 * Runs deciders against the event store: load a stream's state, decide, append with the exact
 * expected revision, retry on conflict. Services call this and nothing else to change state;
 * the domain never sees retries.
 *
 * The decider type is structural (no import from libs/domain): anything with `decide`,
 * `evolve` and `initialState` over `{ type, data }` commands and events.
 *
 * How it stays correct with several replicas writing the same streams:
 * - State is cached per stream (an LRU of state + revision), and a decision on cached state is
 *   only ever *appended* with that revision as the expected one, so the store rejects any
 *   decision made on stale state (WrongExpectedRevision). The runner then reads only the events
 *   after the cached revision, evolves, and decides again (bounded attempts).
 * - A decision that appends nothing (`[]`, an idempotent repeat) or throws (a rejection) is not
 *   checked by any append, so before it is believed the runner reads the stream's tail once: if
 *   another writer moved the stream, it decides again on the fresh state. Without this, a replica
 *   that cached "pod-1 holds 10.0.0.7" would keep answering that after another replica released
 *   the address, and hand it out twice.
 * - Event ids are deterministic: a hash of (command id, stream, index in the batch, the
 *   command's content). A retried command appends the same ids, so the store answers with the
 *   original result instead of writing twice. The store recognises a retry by ids alone, so an
 *   append that "succeeds" at a revision other than the expected one means this command was
 *   applied before (by this or another replica): the runner reloads and reports `duplicate`
 *   rather than trusting the events it just decided. (At exactly the expected revision the
 *   earlier write was decided on the same state, so, deciders being deterministic, it holds
 *   the same events.) The content goes into the hash so that one command id carrying two
 *   different commands (a lazy open built from a pool that changed in between) never passes
 *   for a retry.
 * - A stream that another writer has touched lately (a conflict, or a tail read that found new
 *   events) is read from the cached revision on before each of the next decisions: a cheap read
 *   instead of a lost append. Two replicas allocating from the same shards conflict on about
 *   one allocation in twelve this way instead of one in two. A stream nobody else writes is
 *   decided straight from the cache.
 * - Runs on one stream are serialised inside the process (a promise chain per stream): the
 *   second would only conflict with the first.
 */

export interface RunnerCommand {
  readonly type: string;
  readonly data: unknown;
}

export interface RunnerEvent {
  readonly type: string;
  readonly data: unknown;
}

export interface DeciderLike<State, Cmd extends RunnerCommand, Ev extends RunnerEvent> {
  decide(command: Cmd, state: State): Ev[];
  evolve(state: State, event: Ev): State;
  initialState(): State;
}

export interface CommandMeta {
  /** Unique per intent; a retry of the same intent reuses it. Event ids derive from it. */
  readonly commandId: string;
  readonly actor: string;
  readonly correlationId: string;
  /** Defaults to the command id. */
  readonly causationId?: string;
}

/** Where an appended event went, and the metadata it carries. */
export interface AppendedEnvelope {
  readonly id: string;
  readonly stream: string;
  readonly revision: number;
  readonly correlationId: string;
  readonly causationId: string;
  readonly actor: string;
}

/** An event this run appended (still discriminated by `type`), with its envelope. */
export type AppendedEvent<Ev extends RunnerEvent = RunnerEvent> = Ev extends RunnerEvent
  ? AppendedEnvelope & { readonly type: Ev['type']; readonly data: Ev['data'] }
  : never;

export interface RunResult<State, Ev extends RunnerEvent> {
  /** What this run appended; [] when the decider decided nothing or the command was a retry. */
  readonly events: readonly AppendedEvent<Ev>[];
  /** The stream's state after the run (fresh from the store when nothing was appended). */
  readonly state: State;
  /** The stream's last revision after the run, 'no-stream' when it has no events. */
  readonly revision: number | 'no-stream';
  /** Global position of the last appended event; undefined when nothing was appended. */
  readonly lastPosition: number | undefined;
  /**
   * True when the store already held this command's events on this stream (it was applied
   * before, by this or another replica): nothing was appended, `state` is the current state.
   */
  readonly duplicate: boolean;
}

export interface DeciderRunnerOptions {
  /** Streams whose state is kept in memory (least recently used go first). Default 4096. */
  readonly cacheSize?: number;
  /** Decide-append attempts before a WrongExpectedRevision is given up. Default 10. */
  readonly maxAttempts?: number;
}

interface CacheEntry {
  readonly decider: object;
  state: unknown;
  revision: number | 'no-stream';
  /** Runs left that read the stream's tail before deciding (see `runNow`). */
  contended: number;
}

/** How many runs after evidence of another writer read the tail first. */
const CONTENDED_RUNS = 16;

export class DeciderRunner {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly tails = new Map<string, Promise<unknown>>();
  private readonly cacheSize: number;
  private readonly maxAttempts: number;

  constructor(
    readonly store: EventStore,
    options: DeciderRunnerOptions = {},
  ) {
    this.cacheSize = options.cacheSize ?? 4096;
    this.maxAttempts = options.maxAttempts ?? 10;
  }

  /** Decides `command` on `stream` and appends the outcome; see the file header. */
  run<State, Cmd extends RunnerCommand, Ev extends RunnerEvent>(
    decider: DeciderLike<State, Cmd, Ev>,
    stream: string,
    command: Cmd,
    meta: CommandMeta,
  ): Promise<RunResult<State, Ev>> {
    return this.serialised(stream, () => this.runNow(decider, stream, command, meta));
  }

  /**
   * The stream's state. `fresh: true` reads the events after the cached revision first, so the
   * state is at least as new as the store was when the call began; otherwise the cached state
   * may lag other writers (fine for data that never changes, like a pool's layout).
   */
  load<State, Ev extends RunnerEvent>(
    decider: Pick<DeciderLike<State, never, Ev>, 'evolve' | 'initialState'>,
    stream: string,
    options: { fresh?: boolean } = {},
  ): Promise<{ state: State; revision: number | 'no-stream' }> {
    const cached = this.cache.get(stream);
    if (options.fresh !== true && cached !== undefined && cached.decider === decider) {
      // Served from memory without queueing behind runs on the stream (a pool's layout, read by
      // every allocation, must not become a serialisation point).
      return Promise.resolve({ state: cached.state as State, revision: cached.revision });
    }
    return this.serialised(stream, async () => {
      const entry = await this.entry(decider, stream);
      if (options.fresh === true) {
        await this.catchUp(decider, stream, entry);
      }
      return { state: entry.state as State, revision: entry.revision };
    });
  }

  /** Drops every cached state (they are reloaded on next use). */
  clear(): void {
    this.cache.clear();
  }

  private async runNow<State, Cmd extends RunnerCommand, Ev extends RunnerEvent>(
    decider: DeciderLike<State, Cmd, Ev>,
    stream: string,
    command: Cmd,
    meta: CommandMeta,
  ): Promise<RunResult<State, Ev>> {
    const entry = await this.entry(decider, stream);
    const digest = commandDigest(command);
    let checkedTail = false;
    // A stream another writer touched lately (a shard both replicas allocate from) is likely to
    // have moved again: reading its tail first (a cheap read, no lock) beats deciding on stale
    // state and losing the append (a write transaction, then the same read anyway). A stream
    // nobody else writes goes back to deciding straight from the cache.
    if (entry.contended > 0) {
      checkedTail = true;
      if (await this.catchUp(decider, stream, entry)) entry.contended = CONTENDED_RUNS;
      else entry.contended--;
    }
    for (let attempt = 1; ; attempt++) {
      let decided: Ev[];
      try {
        decided = decider.decide(command, entry.state as State);
      } catch (rejection) {
        // A rejection made on cached state may be stale (NotFound for a shard another replica
        // opened, PoolExhausted for one that freed space): believe it only on a fresh state.
        if (!checkedTail && (await this.catchUp(decider, stream, entry))) {
          checkedTail = true;
          entry.contended = CONTENDED_RUNS;
          continue;
        }
        throw rejection;
      }
      if (decided.length === 0) {
        if (!checkedTail && (await this.catchUp(decider, stream, entry))) {
          checkedTail = true;
          entry.contended = CONTENDED_RUNS;
          continue;
        }
        return {
          events: [],
          state: entry.state as State,
          revision: entry.revision,
          lastPosition: undefined,
          duplicate: false,
        };
      }
      const expected: ExpectedRevision = entry.revision;
      const toAppend: EventToAppend[] = decided.map((event, index) => ({
        id: eventId(meta.commandId, stream, index, digest),
        type: event.type,
        data: event.data,
        correlationId: meta.correlationId,
        causationId: meta.causationId ?? meta.commandId,
        actor: meta.actor,
      }));
      let result;
      try {
        result = await this.store.append(stream, toAppend, expected);
      } catch (error) {
        if (error instanceof WrongExpectedRevision && attempt < this.maxAttempts) {
          await this.catchUp(decider, stream, entry);
          checkedTail = true;
          entry.contended = CONTENDED_RUNS;
          continue;
        }
        // Anything else may or may not have been written: forget the state, reload next time.
        this.cache.delete(stream);
        throw error;
      }
      const first = expected === 'no-stream' ? 0 : expected + 1;
      if (result.nextExpectedRevision !== first + decided.length - 1) {
        // The store matched these ids to an earlier write of this command (see the header).
        this.cache.delete(stream);
        const fresh = await this.entry(decider, stream);
        return {
          events: [],
          state: fresh.state as State,
          revision: fresh.revision,
          lastPosition: undefined,
          duplicate: true,
        };
      }
      let state = entry.state as State;
      for (const event of decided) {
        state = decider.evolve(state, event);
      }
      entry.state = state;
      entry.revision = result.nextExpectedRevision;
      return {
        events: toAppend.map(
          (event, index) =>
            ({
              id: event.id,
              type: decided[index].type,
              data: decided[index].data,
              stream,
              revision: first + index,
              correlationId: meta.correlationId,
              causationId: meta.causationId ?? meta.commandId,
              actor: meta.actor,
            }) as AppendedEvent<Ev>,
        ),
        state,
        revision: result.nextExpectedRevision,
        lastPosition: result.lastPosition,
        duplicate: false,
      };
    }
  }

  /** The cached entry for `stream`, loading the whole stream when it is not cached. */
  private async entry<State, Ev extends RunnerEvent>(
    decider: Pick<DeciderLike<State, never, Ev>, 'evolve' | 'initialState'>,
    stream: string,
  ): Promise<CacheEntry> {
    const cached = this.cache.get(stream);
    if (cached !== undefined && cached.decider === decider) {
      // Map order is insertion order: re-inserting makes this the most recently used.
      this.cache.delete(stream);
      this.cache.set(stream, cached);
      return cached;
    }
    const entry: CacheEntry = {
      decider,
      state: decider.initialState(),
      revision: 'no-stream',
      contended: 0,
    };
    await this.catchUp(decider, stream, entry);
    this.cache.set(stream, entry);
    while (this.cache.size > this.cacheSize) {
      this.cache.delete(this.cache.keys().next().value as string);
    }
    return entry;
  }

  /** Folds the events after the entry's revision into it; true when there were any. */
  private async catchUp<State, Ev extends RunnerEvent>(
    decider: Pick<DeciderLike<State, never, Ev>, 'evolve' | 'initialState'>,
    stream: string,
    entry: CacheEntry,
  ): Promise<boolean> {
    let events;
    try {
      events = await this.store.readStream(stream, {
        fromRevision: entry.revision === 'no-stream' ? 0 : entry.revision + 1,
      });
    } catch (error) {
      if (error instanceof StreamNotFound) {
        return false;
      }
      throw error;
    }
    let state = entry.state as State;
    for (const event of events) {
      state = decider.evolve(state, event as unknown as Ev);
    }
    entry.state = state;
    if (events.length > 0) {
      entry.revision = events[events.length - 1].revision;
    }
    return events.length > 0;
  }

  private serialised<T>(stream: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(stream) ?? Promise.resolve();
    const next = previous.then(work);
    const tail = next.catch(() => undefined);
    this.tails.set(stream, tail);
    void tail.then(() => {
      if (this.tails.get(stream) === tail) {
        this.tails.delete(stream);
      }
    });
    return next;
  }
}

/**
 * The id of event `index` of the batch that command `commandId` appends to `stream`:
 * 64 hex characters, printable and within the store's 128-character limit.
 */
export function eventId(commandId: string, stream: string, index: number, digest = ''): string {
  return createHash('sha256').update(`${commandId}\n${stream}\n${index}\n${digest}`).digest('hex');
}

function commandDigest(command: RunnerCommand): string {
  return createHash('sha256')
    .update(JSON.stringify([command.type, command.data]))
    .digest('base64url');
}
