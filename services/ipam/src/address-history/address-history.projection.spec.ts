import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { SqliteEventStore } from '@strata/eventstore';
import { AddressHistoryProjection } from './address-history.projection';

let store: SqliteEventStore;
let now = Date.parse('2026-01-01T00:00:00Z');
let ids = 0;

beforeEach(() => {
  store = new SqliteEventStore({ path: ':memory:', clock: () => now });
});
afterEach(async () => {
  await store.close();
});

async function record(type: string, owner: string, address: string, at: string, shard = 0) {
  now = Date.parse(at);
  await store.append(
    `poolshard-pods.${shard}`,
    [{ id: `e-${ids++}`, type, data: { poolId: 'pods', shard, owner, address } }],
    'any',
  );
}

describe('AddressHistoryProjection', () => {
  it('lists every holder of an address with when it got it and when it gave it back', async () => {
    const history = new AddressHistoryProjection(store);
    await record('AddressAllocated', 'pod-a', '10.0.0.5', '2026-01-01T10:00:00Z');
    await record('AddressAllocated', 'pod-b', '10.0.0.6', '2026-01-01T10:01:00Z');
    await record('AddressReleased', 'pod-a', '10.0.0.5', '2026-01-01T11:00:00Z');
    await record('AddressAllocated', 'pod-c', '10.0.0.5', '2026-01-01T12:00:00Z');
    expect(await history.holdersOf('10.0.0.5')).toEqual([
      {
        poolId: 'pods',
        owner: 'pod-a',
        from: '2026-01-01T10:00:00.000Z',
        to: '2026-01-01T11:00:00.000Z',
      },
      { poolId: 'pods', owner: 'pod-c', from: '2026-01-01T12:00:00.000Z', to: null },
    ]);
    expect(await history.holdersOf('10.0.0.9')).toEqual([]);
  });

  it('sees what was appended since the last query (read your writes)', async () => {
    const history = new AddressHistoryProjection(store);
    expect(await history.holdersOf('10.0.0.5')).toEqual([]);
    await record('AddressAllocated', 'pod-a', '10.0.0.5', '2026-01-02T10:00:00Z');
    await store.append(
      'segment-blue',
      [{ id: `e-${ids++}`, type: 'SegmentCreated', data: {} }],
      'any',
    );
    expect((await history.holdersOf('10.0.0.5')).map((h) => h.owner)).toEqual(['pod-a']);
    await record('AddressReleased', 'pod-a', '10.0.0.5', '2026-01-02T11:00:00Z');
    expect((await history.holdersOf('10.0.0.5'))[0].to).toBe('2026-01-02T11:00:00.000Z');
  });

  it('folds each event once when queries overlap', async () => {
    const history = new AddressHistoryProjection(store);
    await record('AddressAllocated', 'pod-a', '10.0.0.5', '2026-01-03T10:00:00Z');
    const answers = await Promise.all([1, 2, 3].map(() => history.holdersOf('10.0.0.5')));
    for (const holders of answers) expect(holders).toHaveLength(1);
  });
});
