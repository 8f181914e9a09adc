import type { EventStore, RecordedEvent } from '@strata/eventstore';

/**
 * A read model folded from the log, caught up before each query (config, discovery, policy,
 * analytics).
 *
 * Read-your-writes without waiting: `catchUp()` folds what the log gained since the last call,
 * up to the head position read when the call begins. A handler that appends and then queries
 * sees its append (its position is at or below that head), and so does any query answered
 * after it by any replica sharing the store. Concurrent calls share the work, in order.
 */
export abstract class CaughtUpReadModel {
  private position = 0;
  private updating: Promise<void> = Promise.resolve();

  protected constructor(
    protected readonly store: EventStore,
    /** The stream categories folded; events of others are never read. */
    private readonly categories: readonly string[],
  ) {}

  /** Folds one event of one of the categories (in global order). */
  protected abstract apply(event: RecordedEvent): void;

  /** Folds the log up to its current head. */
  catchUp(): Promise<void> {
    const next = this.updating.then(() => this.foldToHead());
    this.updating = next.catch(() => undefined);
    return next;
  }

  private async foldToHead(): Promise<void> {
    const head = await this.store.headPosition();
    if (head <= this.position) return;
    const events = this.store.readAll({
      after: this.position,
      untilPosition: head,
      filter: { categories: this.categories },
    });
    for await (const event of events) {
      this.apply(event);
    }
    this.position = head;
  }
}

/** Folds one event into the state of aggregate `id` in `states`, with the aggregate's evolve. */
export function foldInto<State, Ev>(
  states: Map<string, State>,
  id: string,
  decider: { evolve(state: State, event: Ev): State; initialState(): State },
  event: Ev,
): void {
  states.set(id, decider.evolve(states.get(id) ?? decider.initialState(), event));
}
