import { SqliteEventStore } from '@strata/eventstore';
import { digest as libraryDigest, ForwardingState } from '@strata/forwarding';
import { digest, HistoryIndex } from './history-index';

// The index over a real SQLite store (in memory), its clock pinned: one event a second.
const T0 = Date.UTC(2026, 0, 1);

async function storeWith(count: number): Promise<SqliteEventStore> {
  let tick = 0;
  const store = new SqliteEventStore({ path: ':memory:', clock: () => T0 + 1000 * tick++ });
  const nodes = ['a', 'b'];
  for (const [i, name] of nodes.entries()) {
    await store.append(
      `node-${name}`,
      [
        {
          id: `n-${name}`,
          type: 'NodeRegistered',
          data: {
            name,
            vtepAddress: `192.168.0.${i + 1}`,
            vtepMac: '02:00:00:00:00:01',
            registeredAt: 'x',
          },
        },
      ],
      'any',
    );
  }
  await store.append(
    'segment-blue',
    [
      {
        id: 's',
        type: 'SegmentCreated',
        data: {
          segmentId: 'blue',
          name: 'blue',
          vni: 7,
          subnets: ['10.0.0.0/16'],
          federated: false,
        },
      },
    ],
    'any',
  );
  for (let i = 3; i < count; i++) {
    await store.append(
      `endpoint-p${i}`,
      [
        {
          id: `p${i}`,
          type: 'EndpointCreated',
          data: {
            uid: `p${i}`,
            kind: 'pod',
            segmentId: 'blue',
            node: nodes[i % 2],
            ip: `10.0.0.${i}`,
            mac: '0a:58:00:00:00:01',
            labels: {},
            identity: 300,
            namedPorts: [],
          },
        },
      ],
      'any',
    );
  }
  return store;
}

describe('HistoryIndex', () => {
  let store: SqliteEventStore;
  let index: HistoryIndex;

  beforeAll(async () => {
    store = await storeWith(20);
    index = new HistoryIndex(store, { snapshotEvery: 4 });
    await index.catchUp();
  });

  afterAll(async () => {
    index.close();
    await store.close();
  });

  it.each([
    ['a position', '5', 5],
    ['the first position', '1', 1],
    ['the head', '20', 20],
    ['a time exactly at an event', new Date(T0 + 4000).toISOString(), 5],
    ['a time between two events', new Date(T0 + 4500).toISOString(), 5],
    ['a time after the last event', '2030-01-01T00:00:00Z', 20],
  ])('resolves %s', (_name, at, position) => {
    expect(index.resolve(at, 'at')).toEqual({
      position,
      recordedAt: new Date(T0 + 1000 * (position - 1)).toISOString(),
    });
  });

  it.each([
    ['position 0', '0', 'BeforeFirstEvent'],
    ['a time before the first event', '2025-12-31T23:59:59Z', 'BeforeFirstEvent'],
    ['a position past the head', '21', 'InvalidArgument'],
    ['words', 'now', 'InvalidTimestamp'],
    ['a bad date', '2026-02-30T00:00:00Z', 'InvalidTimestamp'],
    ['a huge number', '99999999999999999999', 'InvalidArgument'],
  ])('rejects %s', (_name, at, code) => {
    expect(() => index.resolve(at, 'at')).toThrow(expect.objectContaining({ code }));
  });

  it('restores from the latest snapshot and folds at most K-1 events after it', async () => {
    expect(index.stats).toEqual({ events: 20, snapshots: 5, position: 20 });
    for (let position = 1; position <= 20; position++) {
      const { state, snapshotPosition, eventsFolded } = await index.stateAt('a', position);
      expect(snapshotPosition).toBe(position - (position % 4));
      expect(eventsFolded).toBe(position % 4);
      const scratch = new ForwardingState('a');
      for await (const event of store.readAll({ untilPosition: position })) scratch.apply(event);
      expect(digest(state)).toBe(libraryDigest(scratch));
    }
  });

  it('says an empty log is empty', async () => {
    const empty = new SqliteEventStore({ path: ':memory:' });
    const nothing = new HistoryIndex(empty);
    try {
      await nothing.catchUp();
      expect(() => nothing.resolve('1', 'at')).toThrow(
        expect.objectContaining({ code: 'InvalidArgument' }),
      );
      await expect(nothing.replay('a', '0')).rejects.toMatchObject({
        code: 'BeforeFirstEvent',
        message: 'the log is empty',
      });
    } finally {
      nothing.close();
      await empty.close();
    }
  });
});
