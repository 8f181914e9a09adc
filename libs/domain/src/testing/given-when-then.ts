import { expect } from '@jest/globals';
import type { Decider } from '../shared/decider';
import { DomainError, type DomainErrorCode } from '../shared/errors';

/**
 * Decider specifications that read as the rule they check:
 *
 *   const given = specFor(segmentDecider);
 *   given([segmentCreated]).when(deleteSegment).then([segmentDeleted]);
 *   given([]).when(deleteSegment).thenThrows('NotFound');
 *   given([segmentCreated, segmentDeleted]).when(deleteSegment).thenNothingHappened();
 *
 * `given` folds the events with `evolve`, `when` runs `decide`. Every outcome also checks that
 * `decide` is deterministic (the same command on the same history decides the same twice), and
 * `then` folds the new events too, so a spec fails if `evolve` cannot take what `decide` made.
 */
export function specFor<State, Cmd extends { type: string }, Ev extends { type: string }>(
  decider: Decider<State, Cmd, Ev>,
) {
  const fold = (events: readonly Ev[]): State =>
    events.reduce(decider.evolve, decider.initialState());

  return function given(history: readonly Ev[]) {
    return {
      when(command: Cmd) {
        const decide = (): Ev[] => decider.decide(command, fold(history));
        const decideTwice = (): Ev[] => {
          const first = decide();
          expect(decide()).toEqual(first);
          return first;
        };
        return {
          /** The command appends exactly `expected`; returns the state after them. */
          then(expected: readonly Ev[]): State {
            const actual = decideTwice();
            expect(actual).toEqual(expected);
            return fold([...history, ...actual]);
          },
          /** The command changes nothing (an idempotent repeat). */
          thenNothingHappened(): void {
            expect(decideTwice()).toEqual([]);
          },
          /** The command is rejected with a DomainError of `code` (and a matching message). */
          thenThrows(code: DomainErrorCode, message?: string | RegExp): void {
            let produced: Ev[] | undefined;
            try {
              produced = decide();
            } catch (error: unknown) {
              expect(error).toBeInstanceOf(DomainError);
              expect((error as DomainError).code).toBe(code);
              if (message !== undefined) expect((error as DomainError).message).toMatch(message);
              return;
            }
            throw new Error(
              `expected ${command.type} to throw ${code}, but it decided ${JSON.stringify(produced)}`,
            );
          },
        };
      },
    };
  };
}
