import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { DeciderRunner, eventId, type CommandMeta, type DeciderLike } from './decider-runner';
import { WrongExpectedRevision } from './errors';
import type { EventStore } from './event-store';
import { SqliteEventStore } from './sqlite/sqlite-event-store';

// A toy aggregate with the shape of the IPAM shards: owners take numbered seats, idempotently,
// lowest free first; three seats in all.
type SeatCommand =
  { type: 'TakeSeat'; data: { owner: string } } | { type: 'FreeSeat'; data: { owner: string } };
type SeatEvent =
  | { type: 'SeatTaken'; data: { owner: string; seat: number } }
  | { type: 'SeatFreed'; data: { owner: string; seat: number } };
type SeatState = { readonly held: ReadonlyMap<string, number> };

const seats: DeciderLike<SeatState, SeatCommand, SeatEvent> = {
  initialState: () => ({ held: new Map() }),
  decide(command, state) {
    const held = state.held.get(command.data.owner);
    if (command.type === 'FreeSeat') {
      return held === undefined
        ? []
        : [{ type: 'SeatFreed', data: { owner: command.data.owner, seat: held } }];
    }
    if (held !== undefined) return [];
    const taken = new Set(state.held.values());
    const seat = [0, 1, 2].find((s) => !taken.has(s));
    if (seat === undefined) throw new Error('no free seat');
    return [{ type: 'SeatTaken', data: { owner: command.data.owner, seat } }];
  },
  evolve(state, event) {
    const held = new Map(state.held);
    if (event.type === 'SeatTaken') held.set(event.data.owner, event.data.seat);
    else held.delete(event.data.owner);
    return { held };
  },
};

const take = (owner: string): SeatCommand => ({ type: 'TakeSeat', data: { owner } });
const free = (owner: string): SeatCommand => ({ type: 'FreeSeat', data: { owner } });
const meta = (commandId: string): CommandMeta => ({
  commandId,
  actor: 'user:test',
  correlationId: `corr-${commandId}`,
});

/** Counts the calls a runner makes to the store underneath. */
function counting(store: EventStore) {
  const calls = { append: 0, readStream: 0 };
  const counted: EventStore = Object.create(store);
  counted.append = (...args) => {
    calls.append++;
    return store.append(...args);
  };
  counted.readStream = (...args) => {
    calls.readStream++;
    return store.readStream(...args);
  };
  return { counted, calls };
}

describe('DeciderRunner', () => {
  let store: SqliteEventStore;
  beforeEach(() => {
    store = new SqliteEventStore({ path: ':memory:' });
  });
  afterEach(async () => {
    await store.close();
  });

  it('appends what the decider decides, with ids from the command id, and returns the new state', async () => {
    const runner = new DeciderRunner(store);
    const result = await runner.run(seats, 'hall-a', take('ann'), meta('cmd-1'));
    expect(result.events).toEqual([
      {
        id: expect.stringMatching(/^[0-9a-f]{64}$/),
        type: 'SeatTaken',
        data: { owner: 'ann', seat: 0 },
        stream: 'hall-a',
        revision: 0,
        correlationId: 'corr-cmd-1',
        causationId: 'cmd-1',
        actor: 'user:test',
      },
    ]);
    expect(result.state.held.get('ann')).toBe(0);
    expect(result).toMatchObject({ revision: 0, duplicate: false });
    const [stored] = await store.readStream('hall-a');
    expect(stored).toMatchObject({ id: result.events[0].id, actor: 'user:test' });
    expect(result.lastPosition).toBe(stored.position);
  });

  it('derives the same event id from the same command, stream and index, and a different one otherwise', () => {
    const id = eventId('cmd-1', 'hall-a', 0, 'x');
    expect(eventId('cmd-1', 'hall-a', 0, 'x')).toBe(id);
    for (const other of [
      eventId('cmd-2', 'hall-a', 0, 'x'),
      eventId('cmd-1', 'hall-b', 0, 'x'),
      eventId('cmd-1', 'hall-a', 1, 'x'),
      eventId('cmd-1', 'hall-a', 0, 'y'),
    ]) {
      expect(other).not.toBe(id);
    }
    expect(eventId('c'.repeat(500), 's-'.repeat(100), 99)).toMatch(/^[\x21-\x7e]{1,128}$/);
  });

  it('returns [] and the state when the decider decides nothing', async () => {
    const runner = new DeciderRunner(store);
    await runner.run(seats, 'hall-a', take('ann'), meta('cmd-1'));
    const again = await runner.run(seats, 'hall-a', take('ann'), meta('cmd-2'));
    expect(again.events).toEqual([]);
    expect(again.state.held.get('ann')).toBe(0);
    expect(await store.headPosition()).toBe(1);
  });

  it('keeps hot streams cached: a stream is read once, then only its tail', async () => {
    const { counted, calls } = counting(store);
    const runner = new DeciderRunner(counted);
    await runner.run(seats, 'hall-a', take('ann'), meta('cmd-1'));
    await runner.run(seats, 'hall-a', take('bob'), meta('cmd-2'));
    await runner.run(seats, 'hall-a', take('cid'), meta('cmd-3'));
    expect(calls).toEqual({ append: 3, readStream: 1 });
  });

  it('evicts the least recently used stream beyond the cache size', async () => {
    const { counted, calls } = counting(store);
    const runner = new DeciderRunner(counted, { cacheSize: 2 });
    for (const hall of ['hall-a', 'hall-b', 'hall-c']) {
      await runner.run(seats, hall, take('ann'), meta(`cmd-${hall}`));
    }
    expect(calls.readStream).toBe(3);
    await runner.run(seats, 'hall-c', take('bob'), meta('cmd-4'));
    expect(calls.readStream).toBe(3);
    await runner.run(seats, 'hall-a', take('bob'), meta('cmd-5'));
    expect(calls.readStream).toBe(4);
  });

  it('retries a decision made on stale state after WrongExpectedRevision, on the fresh state', async () => {
    const replicaA = new DeciderRunner(store);
    const replicaB = new DeciderRunner(store);
    await replicaA.run(seats, 'hall-a', take('ann'), meta('cmd-1'));
    await replicaB.run(seats, 'hall-a', take('bob'), meta('cmd-2'));
    // A's cache still has only ann: its first decision (seat 1) conflicts, the retry takes 2.
    const cid = await replicaA.run(seats, 'hall-a', take('cid'), meta('cmd-3'));
    expect(cid.events.map((e) => e.data)).toEqual([{ owner: 'cid', seat: 2 }]);
    expect(cid.revision).toBe(2);
    const all = await store.readStream('hall-a');
    expect(all.map((e) => e.data)).toEqual([
      { owner: 'ann', seat: 0 },
      { owner: 'bob', seat: 1 },
      { owner: 'cid', seat: 2 },
    ]);
  });

  it('reads the tail first on a stream another writer touches, instead of losing appends', async () => {
    let conflicts = 0;
    const counted: EventStore = Object.create(store);
    counted.append = async (...args) => {
      try {
        return await store.append(...args);
      } catch (error) {
        if (error instanceof WrongExpectedRevision) conflicts++;
        throw error;
      }
    };
    const replicaA = new DeciderRunner(counted);
    const replicaB = new DeciderRunner(counted);
    for (let i = 0; i < 10; i++) {
      const replica = i % 2 === 0 ? replicaA : replicaB;
      await replica.run(seats, 'hall-a', take(`p${i}`), meta(`take-${i}`));
      await replica.run(seats, 'hall-a', free(`p${i}`), meta(`free-${i}`));
    }
    // Each replica loses one append, learns the stream is shared, and reads before deciding.
    expect(conflicts).toBe(2);
    expect((await store.readStream('hall-a')).length).toBe(20);
  });

  it('does not believe "nothing to do" on a cached state another writer has moved past', async () => {
    const replicaA = new DeciderRunner(store);
    const replicaB = new DeciderRunner(store);
    await replicaA.run(seats, 'hall-a', take('ann'), meta('cmd-1'));
    await replicaB.run(seats, 'hall-a', free('ann'), meta('cmd-2'));
    // A's cache says ann holds seat 0; the store says it was freed: ann gets a fresh seat.
    const again = await replicaA.run(seats, 'hall-a', take('ann'), meta('cmd-3'));
    expect(again.events.map((e) => e.type)).toEqual(['SeatTaken']);
    expect(again.state.held.get('ann')).toBe(0);
    expect((await store.readStream('hall-a')).map((e) => e.type)).toEqual([
      'SeatTaken',
      'SeatFreed',
      'SeatTaken',
    ]);
  });

  it('does not believe a rejection made on a cached state another writer has moved past', async () => {
    const replicaA = new DeciderRunner(store);
    const replicaB = new DeciderRunner(store);
    for (const owner of ['ann', 'bob', 'cid']) {
      await replicaA.run(seats, 'hall-a', take(owner), meta(`take-${owner}`));
    }
    await expect(replicaA.run(seats, 'hall-a', take('dan'), meta('take-dan'))).rejects.toThrow(
      'no free seat',
    );
    await replicaB.run(seats, 'hall-a', free('bob'), meta('free-bob'));
    const dan = await replicaA.run(seats, 'hall-a', take('dan'), meta('take-dan-2'));
    expect(dan.state.held.get('dan')).toBe(1);
  });

  it('treats a command the store already holds as applied: nothing twice, state from the store', async () => {
    const replicaA = new DeciderRunner(store);
    const replicaB = new DeciderRunner(store);
    // B caches the empty hall, then A takes seats (for bob, then ann under command cmd-ann).
    await replicaB.load(seats, 'hall-a');
    await replicaA.run(seats, 'hall-a', take('bob'), meta('cmd-bob'));
    await replicaA.run(seats, 'hall-a', take('ann'), meta('cmd-ann'));
    // A dies before replying; the client retries cmd-ann at B, whose cache is stale.
    const retried = await replicaB.run(seats, 'hall-a', take('ann'), meta('cmd-ann'));
    expect(retried.state.held.get('ann')).toBe(1);
    expect(retried.events).toEqual([]);
    expect(await store.headPosition()).toBe(2);
  });

  it('reports a late retry of a command whose outcome was since undone as a duplicate', async () => {
    const runner = new DeciderRunner(store);
    await runner.run(seats, 'hall-a', take('ann'), meta('cmd-1'));
    await runner.run(seats, 'hall-a', free('ann'), meta('cmd-2'));
    const late = await runner.run(seats, 'hall-a', take('ann'), meta('cmd-1'));
    expect(late).toMatchObject({ events: [], duplicate: true, revision: 1 });
    expect(late.state.held.has('ann')).toBe(false);
  });

  it('serialises concurrent runs on one stream inside the process: no conflicts', async () => {
    const { counted, calls } = counting(store);
    const runner = new DeciderRunner(counted);
    const owners = ['ann', 'bob', 'cid'];
    const results = await Promise.all(
      owners.map((owner) => runner.run(seats, 'hall-a', take(owner), meta(`take-${owner}`))),
    );
    expect(results.map((r) => r.revision)).toEqual([0, 1, 2]);
    expect(calls.append).toBe(3);
  });

  it('gives up with WrongExpectedRevision after the configured attempts', async () => {
    const conflicted: EventStore = Object.create(store);
    let appends = 0;
    conflicted.append = async (stream) => {
      appends++;
      throw new WrongExpectedRevision(stream, 'no-stream', 7);
    };
    const runner = new DeciderRunner(conflicted, { maxAttempts: 3 });
    await expect(runner.run(seats, 'hall-a', take('ann'), meta('cmd-1'))).rejects.toBeInstanceOf(
      WrongExpectedRevision,
    );
    expect(appends).toBe(3);
  });

  it('keeps serving a stream after a run on it failed', async () => {
    const runner = new DeciderRunner(store);
    await runner.run(seats, 'hall-a', take('ann'), meta('cmd-1'));
    await runner.run(seats, 'hall-a', take('bob'), meta('cmd-2'));
    await runner.run(seats, 'hall-a', take('cid'), meta('cmd-3'));
    const failing = runner.run(seats, 'hall-a', take('dan'), meta('cmd-4'));
    const next = runner.run(seats, 'hall-a', free('ann'), meta('cmd-5'));
    await expect(failing).rejects.toThrow('no free seat');
    expect((await next).events.map((e) => e.type)).toEqual(['SeatFreed']);
  });

  it('loads a fresh state on request', async () => {
    const replicaA = new DeciderRunner(store);
    const replicaB = new DeciderRunner(store);
    expect((await replicaA.load(seats, 'hall-a')).revision).toBe('no-stream');
    await replicaB.run(seats, 'hall-a', take('ann'), meta('cmd-1'));
    expect((await replicaA.load(seats, 'hall-a')).revision).toBe('no-stream');
    const fresh = await replicaA.load(seats, 'hall-a', { fresh: true });
    expect(fresh.revision).toBe(0);
    expect(fresh.state.held.get('ann')).toBe(0);
  });
});
