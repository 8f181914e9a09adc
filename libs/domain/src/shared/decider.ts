/**
 * Aggregates are deciders (emmett style): `decide` turns a command and the current state into
 * the events to append, `evolve` folds one event into the state. Both are pure: time and ids
 * arrive inside the command, so replaying the log always rebuilds exactly the same state.
 *
 * Commands and events are plain data `{ type, data }`: `type` is the event type stored in the
 * envelope, and `data` is the payload stored as JSON. Event payloads follow the proto3 JSON
 * mapping of the message of the same name in proto/strata/v1/network_events.proto.
 */
export type Command<Type extends string = string, Data = unknown> = {
  readonly type: Type;
  readonly data: Readonly<Data>;
};

export type Event<Type extends string = string, Data = unknown> = {
  readonly type: Type;
  readonly data: Readonly<Data>;
};

export type Decider<State, Cmd extends { type: string }, Ev extends { type: string }> = {
  /** Events to append, `[]` when the command changes nothing; throws DomainError to reject. */
  decide: (command: Cmd, state: State) => Ev[];
  /** The state after one event. Never throws on an event `decide` could have produced. */
  evolve: (state: State, event: Ev) => State;
  initialState: () => State;
};

/** The state after a stream's events, folded from the initial state. */
export function foldEvents<State, Ev extends { type: string }>(
  decider: Pick<Decider<State, never, Ev>, 'evolve' | 'initialState'>,
  events: readonly Ev[],
): State {
  return events.reduce(decider.evolve, decider.initialState());
}
