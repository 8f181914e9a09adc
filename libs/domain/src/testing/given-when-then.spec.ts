import type { Decider } from '../shared/decider';
import { DomainError } from '../shared/errors';
import { specFor } from './given-when-then';

// A counter that only counts up to 2: enough to see every outcome of a spec.
type Cmd = { type: 'Increment'; data: { by: number } };
type Ev = { type: 'Incremented'; data: { by: number } };
const counter: Decider<number, Cmd, Ev> = {
  decide: (command, state) => {
    if (command.data.by === 0) return [];
    if (state + command.data.by > 2) throw new DomainError('InvalidState', 'over the limit');
    return [{ type: 'Incremented', data: { by: command.data.by } }];
  },
  evolve: (state, event) => state + event.data.by,
  initialState: () => 0,
};
const given = specFor(counter);
const increment = (by: number): Cmd => ({ type: 'Increment', data: { by } });
const incremented = (by: number): Ev => ({ type: 'Incremented', data: { by } });

describe('given/when/then', () => {
  it('passes when the decision matches, and returns the state after it', () => {
    expect(
      given([incremented(1)])
        .when(increment(1))
        .then([incremented(1)]),
    ).toBe(2);
    given([]).when(increment(0)).thenNothingHappened();
    given([incremented(2)])
      .when(increment(1))
      .thenThrows('InvalidState', /over the limit/);
  });

  it('fails when the decision differs', () => {
    expect(() =>
      given([])
        .when(increment(1))
        .then([incremented(2)]),
    ).toThrow();
    expect(() => given([]).when(increment(1)).thenNothingHappened()).toThrow();
    expect(() => given([]).when(increment(1)).thenThrows('InvalidState')).toThrow(
      /expected Increment to throw InvalidState, but it decided/,
    );
    expect(() =>
      given([incremented(2)])
        .when(increment(1))
        .thenThrows('NotFound'),
    ).toThrow();
    expect(() =>
      given([incremented(2)])
        .when(increment(1))
        .thenThrows('InvalidState', /other/),
    ).toThrow();
  });

  it('fails when decide is not deterministic', () => {
    let calls = 0;
    const flaky = specFor<number, Cmd, Ev>({
      ...counter,
      decide: () => [incremented(++calls)],
    });
    expect(() =>
      flaky([])
        .when(increment(1))
        .then([incremented(1)]),
    ).toThrow();
  });
});
