import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import type { EventStore, EventToAppend, RecordedEvent, Subscription } from '../event-store';
import { EventStoreError } from '../errors';

export interface ConformanceTarget {
  /** A store to test. Called before every test; the suite closes it afterwards. */
  create(): Promise<EventStore>;
  /**
   * True when every `create()` starts from an empty log (a temp file, a fresh JetStream stream).
   * A shared server (KurrentDB) is not: the suite then skips the one test that needs an empty
   * log and keeps every other test inside its own streams and categories.
   */
  readonly isolated: boolean;
  /**
   * False when the store cannot tell that an event id was already used by a different write
   * (KurrentDB keeps no index of event ids): the DuplicateEventId test is then skipped, by name.
   */
  readonly detectsReusedIds?: boolean;
}

/**
 * The event-store contract, run against every adapter: `testEventStore('sqlite', target)`.
 * Each test names its own streams with a fresh random category, so the suite also runs against
 * a shared server that already holds other events.
 */
export function testEventStore(adapter: string, target: ConformanceTarget): void {
  describe(`EventStore conformance: ${adapter}`, () => {
    let store: EventStore;
    let category: string;
    const stream = (id: string) => `${category}-${id}`;

    beforeEach(async () => {
      store = await target.create();
      category = `t${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    });
    afterEach(async () => {
      await store.close();
    });

    describe('append and read a stream', () => {
      it('appends to a new stream and reads back every envelope field', async () => {
        const events = [
          event(
            'SegmentCreated',
            { name: 'blue', vni: 100 },
            { correlationId: 'c-1', actor: 'user:alice' },
          ),
          event('SegmentRenamed', { name: 'navy' }, { causationId: 'cmd-2', schemaVersion: 2 }),
        ];
        const result = await store.append(stream('a'), events, 'no-stream');
        expect(result.nextExpectedRevision).toBe(1);
        expect(result.firstPosition).toBeGreaterThan(0);
        expect(result.lastPosition).toBeGreaterThan(result.firstPosition);

        const read = await store.readStream(stream('a'));
        expect(read).toHaveLength(2);
        expect(read[0]).toMatchObject({
          id: events[0].id,
          type: 'SegmentCreated',
          schemaVersion: 1,
          stream: stream('a'),
          revision: 0,
          position: result.firstPosition,
          correlationId: 'c-1',
          causationId: '',
          actor: 'user:alice',
          data: { name: 'blue', vni: 100 },
        });
        expect(read[1]).toMatchObject({
          id: events[1].id,
          revision: 1,
          position: result.lastPosition,
          schemaVersion: 2,
          causationId: 'cmd-2',
          correlationId: '',
          actor: '',
        });
        expect(read[0].recordedAt).toBeInstanceOf(Date);
        expect(read[1].recordedAt.getTime()).toBeGreaterThanOrEqual(read[0].recordedAt.getTime());
      });

      it('appends at an exact expected revision and with any', async () => {
        await store.append(stream('a'), [event('A', 1)], 'no-stream');
        const second = await store.append(stream('a'), [event('B', 2)], 0);
        expect(second.nextExpectedRevision).toBe(1);
        const third = await store.append(stream('a'), [event('C', 3), event('D', 4)], 'any');
        expect(third.nextExpectedRevision).toBe(3);
        const fresh = await store.append(stream('b'), [event('A', 1)], 'any');
        expect(fresh.nextExpectedRevision).toBe(0);
        expect((await store.readStream(stream('a'))).map((e) => e.data)).toEqual([1, 2, 3, 4]);
      });

      it('rejects a wrong expected revision with the actual one, and appends nothing', async () => {
        await store.append(stream('a'), [event('A', 1), event('B', 2)], 'no-stream');
        await expectCode(store.append(stream('a'), [event('C', 3)], 0), 'WrongExpectedRevision', {
          stream: stream('a'),
          expected: 0,
          actual: 1,
        });
        await expectCode(
          store.append(stream('a'), [event('C', 3)], 'no-stream'),
          'WrongExpectedRevision',
          {
            actual: 1,
          },
        );
        await expectCode(store.append(stream('a'), [event('C', 3)], 5), 'WrongExpectedRevision', {
          actual: 1,
        });
        await expectCode(
          store.append(stream('missing'), [event('C', 3)], 0),
          'WrongExpectedRevision',
          {
            actual: 'no-stream',
          },
        );
        expect(await store.readStream(stream('a'))).toHaveLength(2);
        await expectCode(store.readStream(stream('missing')), 'StreamNotFound');
      });

      it('lets exactly one of several concurrent writers at the same revision win', async () => {
        await store.append(stream('race'), [event('Created', 0)], 'no-stream');
        const writers = Array.from({ length: 8 }, (_, i) =>
          store.append(stream('race'), [event('Won', i)], 0),
        );
        const outcomes = await Promise.allSettled(writers);
        const won = outcomes.filter((o) => o.status === 'fulfilled');
        const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(7);
        for (const failure of lost) {
          expect((failure.reason as EventStoreError).code).toBe('WrongExpectedRevision');
        }
        expect(await store.readStream(stream('race'))).toHaveLength(2);
      });

      it('reads forward and backward, from a revision, up to a count', async () => {
        await store.append(
          stream('r'),
          range(10).map((i) => event('N', i)),
          'no-stream',
        );
        const data = (events: RecordedEvent[]) => events.map((e) => e.data);
        expect(data(await store.readStream(stream('r'), { fromRevision: 7 }))).toEqual([7, 8, 9]);
        expect(data(await store.readStream(stream('r'), { maxCount: 2 }))).toEqual([0, 1]);
        expect(data(await store.readStream(stream('r'), { direction: 'backward' }))).toEqual(
          range(10).reverse(),
        );
        expect(
          data(
            await store.readStream(stream('r'), {
              direction: 'backward',
              fromRevision: 3,
              maxCount: 2,
            }),
          ),
        ).toEqual([3, 2]);
        expect(await store.readStream(stream('r'), { fromRevision: 10 })).toEqual([]);
      });

      it('appends a large batch with consecutive revisions and increasing positions', async () => {
        const batch = range(500).map((i) => event('Bulk', { i }));
        const result = await store.append(stream('bulk'), batch, 'no-stream');
        expect(result.nextExpectedRevision).toBe(499);
        const read = await store.readStream(stream('bulk'));
        expect(read.map((e) => e.revision)).toEqual(range(500));
        expectIncreasing(read.map((e) => e.position));
        expect(read[0].position).toBe(result.firstPosition);
        expect(read[499].position).toBe(result.lastPosition);
      });
    });

    describe('idempotency', () => {
      it('returns the original result when exactly the same batch is retried', async () => {
        const batch = [event('A', 1), event('B', 2)];
        const first = await store.append(stream('i'), batch, 'no-stream');
        const retry = await store.append(stream('i'), batch, 'no-stream');
        expect(retry).toEqual(first);
        await store.append(stream('i'), [event('C', 3)], 1);
        const late = await store.append(stream('i'), batch, 'no-stream');
        expect(late).toEqual(first);
        expect((await store.readStream(stream('i'))).map((e) => e.data)).toEqual([1, 2, 3]);
      });

      it('survives concurrent retries of the same append', async () => {
        const batch = [event('A', 1)];
        const results = await Promise.all(
          range(5).map(() => store.append(stream('i'), batch, 'any')),
        );
        for (const result of results) {
          expect(result).toEqual(results[0]);
        }
        expect(await store.readStream(stream('i'))).toHaveLength(1);
      });

      (target.detectsReusedIds === false ? it.skip : it)(
        'rejects an event id reused by a different write',
        async () => {
          const a = event('A', 1);
          await store.append(stream('i'), [a], 'no-stream');
          await expectCode(store.append(stream('other'), [a], 'any'), 'DuplicateEventId', {
            eventId: a.id,
          });
          await expectCode(
            store.append(stream('i'), [event('B', 2), a], 'any'),
            'DuplicateEventId',
          );
          expect(await store.readStream(stream('i'))).toHaveLength(1);
          await expectCode(store.readStream(stream('other')), 'StreamNotFound');
        },
      );
    });

    describe('the global log', () => {
      it('orders events across streams and reports the head position', async () => {
        const head = await store.headPosition();
        const appended: string[] = [];
        for (let i = 0; i < 30; i++) {
          const e = event('Tick', i);
          appended.push(e.id);
          await store.append(stream(`s${i % 3}`), [e], 'any');
        }
        const all = await collect(store.readAll({ after: head }));
        const mine = all.filter((e) => e.stream.startsWith(`${category}-`));
        expect(mine.map((e) => e.id)).toEqual(appended);
        expectIncreasing(all.map((e) => e.position));
        expect(await store.headPosition()).toBeGreaterThanOrEqual(mine[29].position);
        expect(mine.map((e) => e.revision)).toEqual(range(30).map((i) => Math.floor(i / 3)));
      });

      it('resumes from a checkpoint and stops at a position', async () => {
        const head = await store.headPosition();
        const results = [];
        for (let i = 0; i < 10; i++) {
          results.push(await store.append(stream('g'), [event('N', i)], 'any'));
        }
        const after = results[3].lastPosition;
        const tail = await collect(store.readAll({ after, filter: { categories: [category] } }));
        expect(tail.map((e) => e.data)).toEqual([4, 5, 6, 7, 8, 9]);
        const window = await collect(
          store.readAll({
            after,
            untilPosition: results[6].lastPosition,
            filter: { categories: [category] },
          }),
        );
        expect(window.map((e) => e.data)).toEqual([4, 5, 6]);
        const firstTwo = await collect(store.readAll({ after: head, maxCount: 2 }));
        expect(firstTwo.map((e) => e.data)).toEqual([0, 1]);
      });

      it('reads as of a time: exactly the events recorded at or before it', async () => {
        const head = await store.headPosition();
        for (let i = 0; i < 40; i++) {
          await store.append(stream(`t${i % 4}`), [event('N', i)], 'any');
        }
        const all = await collect(store.readAll({ after: head }));
        expect(all).toHaveLength(40);
        for (const k of [0, 13, 27, 39]) {
          const asOf = all[k].recordedAt;
          const expected = all
            .filter((e) => e.recordedAt.getTime() <= asOf.getTime())
            .map((e) => e.id);
          const read = await collect(store.readAll({ after: head, untilTime: asOf }));
          expect(read.map((e) => e.id)).toEqual(expected);
        }
        const before = new Date(all[0].recordedAt.getTime() - 1);
        expect(await collect(store.readAll({ after: head, untilTime: before }))).toEqual([]);
      });

      it('filters by category and by event type', async () => {
        const head = await store.headPosition();
        const other = `u${category.slice(1)}`;
        await store.append(
          stream('x'),
          [event('EndpointCreated', 1), event('EndpointDeleted', 2)],
          'any',
        );
        await store.append(`${other}-y`, [event('EndpointCreated', 3)], 'any');
        await store.append(stream('z'), [event('NodeRegistered', 4)], 'any');
        const byCategory = await collect(
          store.readAll({ after: head, filter: { categories: [category] } }),
        );
        expect(byCategory.map((e) => e.data)).toEqual([1, 2, 4]);
        const byType = await collect(
          store.readAll({
            after: head,
            filter: { eventTypes: ['EndpointCreated'], categories: [category, other] },
          }),
        );
        expect(byType.map((e) => e.data)).toEqual([1, 3]);
        const both = await collect(
          store.readAll({
            after: head,
            filter: { categories: [other], eventTypes: ['EndpointDeleted'] },
          }),
        );
        expect(both).toEqual([]);
      });

      (target.isolated ? it : it.skip)('is empty before the first append', async () => {
        expect(await store.headPosition()).toBe(0);
        expect(await collect(store.readAll())).toEqual([]);
        const subscription = store.subscribe();
        const iteration = collect(subscription);
        expect(await subscription.caughtUp).toBe(0);
        await subscription.close();
        expect(await iteration).toEqual([]);
      });
    });

    describe('catch-up subscriptions', () => {
      it('catches up, then goes live with no gap and no duplicate under concurrent writers', async () => {
        const head = await store.headPosition();
        for (let i = 0; i < 100; i++) {
          await store.append(stream(`pre${i % 5}`), [event('Pre', i)], 'any');
        }
        const subscription = store.subscribe({ after: head, filter: { categories: [category] } });
        const received = collectUntil(subscription, 100 + 4 * 150);
        const writers = range(4).map(async (w) => {
          for (let i = 0; i < 150; i++) {
            // Batches of one and of three, so live delivery crosses batch boundaries.
            const batch =
              i % 10 === 0
                ? [event('Live', [w, i]), event('Live', [w, i]), event('Live', [w, i])]
                : [event('Live', [w, i])];
            await store.append(stream(`w${w}`), batch, 'any');
          }
        });
        await Promise.all(writers);
        const first = await received;
        const topUp = 4 * 15 * 2; // the extra events of the batches of three
        const events = [...first, ...(await collectUntil(subscription, topUp))];
        await subscription.close();

        const log = await collect(
          store.readAll({ after: head, filter: { categories: [category] } }),
        );
        expect(log).toHaveLength(100 + 4 * 150 + topUp);
        expect(events.map((e) => e.id)).toEqual(log.map((e) => e.id));
        expect(new Set(events.map((e) => e.position)).size).toBe(events.length);
        expect(await subscription.caughtUp).toBeGreaterThanOrEqual(log[99].position);
      });

      it('resumes from a checkpoint with exactly the events after it', async () => {
        const results = [];
        for (let i = 0; i < 20; i++) {
          results.push(await store.append(stream('c'), [event('N', i)], 'any'));
        }
        const subscription = store.subscribe({
          after: results[11].lastPosition,
          filter: { categories: [category] },
        });
        const events = await collectUntil(subscription, 8);
        expect(events.map((e) => e.data)).toEqual(range(8).map((i) => 12 + i));
        await store.append(stream('c'), [event('N', 20)], 'any');
        expect((await collectUntil(subscription, 1))[0].data).toBe(20);
        await subscription.close();
      });

      it('delivers only what its filter keeps, live as well as past', async () => {
        await store.append(stream('f'), [event('Keep', 1), event('Drop', 2)], 'any');
        const subscription = store.subscribe({
          filter: { categories: [category], eventTypes: ['Keep'] },
        });
        await store.append(stream('f'), [event('Drop', 3), event('Keep', 4)], 'any');
        const events = await collectUntil(subscription, 2);
        expect(events.map((e) => e.data)).toEqual([1, 4]);
        await subscription.close();
      });

      it('ends iteration when closed', async () => {
        const subscription = store.subscribe({ filter: { categories: [category] } });
        const iteration = collect(subscription);
        await subscription.caughtUp;
        await subscription.close();
        expect(await iteration).toEqual([]);
      });
    });

    describe('payloads', () => {
      it('round-trips unicode and structured data exactly', async () => {
        const data = {
          name: 'réseau-東京-🛰️',
          rtl: 'שלום',
          nul: 'a\u0000b',
          surrogate: '𝔘𝔫𝔦',
          nested: { list: [1, 2.5, -3, null, true, 'x'], empty: {} },
        };
        await store.append(stream('u'), [event('Unicode', data)], 'no-stream');
        expect((await store.readStream(stream('u')))[0].data).toEqual(data);
      });

      it('stores a payload just under the limit and rejects one over it, appending nothing', async () => {
        const big = 'x'.repeat(store.maxEventBytes - 4096);
        await store.append(stream('big'), [event('Big', { big })], 'no-stream');
        expect(
          ((await store.readStream(stream('big')))[0].data as { big: string }).big,
        ).toHaveLength(big.length);

        const tooBig = event('TooBig', { big: 'y'.repeat(store.maxEventBytes) });
        await expectCode(
          store.append(stream('huge'), [event('Small', 1), tooBig], 'any'),
          'EventTooLarge',
          {
            eventId: tooBig.id,
          },
        );
        await expectCode(store.readStream(stream('huge')), 'StreamNotFound');
      });
    });

    describe('bad input', () => {
      it.each([
        '',
        'nodash',
        'segment-',
        '-blue',
        'Segment-blue',
        'segment-a b',
        'segment-ü',
        'segment-a..b',
        'segment-.a',
        'segment-a*',
        'segment-a>',
        `segment-${'a'.repeat(200)}`,
      ])('rejects the stream name %j with InvalidStreamName', async (name) => {
        await expectCode(store.append(name, [event('A', 1)], 'any'), 'InvalidStreamName');
        await expectCode(store.readStream(name), 'InvalidStreamName');
      });

      it.each([
        ['an empty batch', []],
        ['a missing id', [{ type: 'A', data: 1 }]],
        ['an id with a space', [{ id: 'a b', type: 'A', data: 1 }]],
        ['a missing type', [{ id: randomUUID(), data: 1 }]],
        ['data that is not JSON', [{ id: randomUUID(), type: 'A', data: () => 1 }]],
        ['a bigint', [{ id: randomUUID(), type: 'A', data: { n: BigInt(1) } }]],
        ['a bad schema version', [{ id: randomUUID(), type: 'A', data: 1, schemaVersion: 0 }]],
        ['one id twice', ((e) => [e, e])({ id: randomUUID(), type: 'A', data: 1 })],
      ])('rejects %s with InvalidEvent and appends nothing', async (_name, batch) => {
        await expectCode(
          store.append(stream('bad'), batch as EventToAppend[], 'any'),
          'InvalidEvent',
        );
        await expectCode(store.readStream(stream('bad')), 'StreamNotFound');
      });
    });
  });
}

function event(
  type: string,
  data: unknown,
  extra: Partial<Omit<EventToAppend, 'id' | 'type' | 'data'>> = {},
): EventToAppend {
  return { id: randomUUID(), type, data, ...extra };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function expectIncreasing(values: number[]): void {
  for (let i = 1; i < values.length; i++) {
    expect(values[i]).toBeGreaterThan(values[i - 1]);
  }
}

async function expectCode(
  promise: Promise<unknown>,
  code: string,
  fields: Record<string, unknown> = {},
): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EventStoreError);
  expect(error).toMatchObject({ code, ...fields });
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) {
    out.push(item);
  }
  return out;
}

/** Takes the next `count` events from a live subscription (it never ends on its own). */
async function collectUntil(subscription: Subscription, count: number): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  if (count === 0) {
    return out;
  }
  const iterator = iteratorOf(subscription);
  while (out.length < count) {
    const next = await iterator.next();
    if (next.done) {
      throw new Error(`subscription ended after ${out.length} of ${count} events`);
    }
    out.push(next.value);
  }
  return out;
}

// One iterator per subscription, so successive collectUntil calls continue where the last ended.
const iterators = new WeakMap<Subscription, AsyncIterator<RecordedEvent>>();
function iteratorOf(subscription: Subscription): AsyncIterator<RecordedEvent> {
  let iterator = iterators.get(subscription);
  if (iterator === undefined) {
    iterator = subscription[Symbol.asyncIterator]();
    iterators.set(subscription, iterator);
  }
  return iterator;
}
