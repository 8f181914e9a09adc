import { applyDelta, diff, diffTable, isEmptyDelta } from './diff';
import { canonicalJson, digestTables } from './digest';
import { applyEvents, createForwardingState, digest } from './forwarding-state';
import { copyTables, emptyTables, type LocalEndpointEntry } from './tables';
import { EventLog } from './testing/event-log';

const entry = (uid: string, identity = 1): LocalEndpointEntry => ({
  uid,
  interfaceName: `st${uid}`,
  mac: '0a:58:0a:00:00:05',
  vni: 100,
  identity,
});

describe('diff', () => {
  it('updates what is missing or different, deletes what is gone, leaves equal entries', () => {
    const desired = emptyTables();
    desired.local.set('10.0.0.1', entry('a'));
    desired.local.set('10.0.0.2', entry('b', 2));
    desired.local.set('10.0.0.4', entry('d'));
    const applied = emptyTables();
    applied.local.set('10.0.0.1', { ...entry('a') }); // equal, another object
    applied.local.set('10.0.0.2', entry('b', 1)); // changed
    applied.local.set('10.0.0.3', entry('c')); // gone
    applied.vteps.set('node-9', { address: '192.168.1.9', mac: '02:00:00:00:01:09' });

    const delta = diff(desired, applied);
    expect(delta).toEqual({
      local: {
        updates: [
          { key: '10.0.0.2', entry: entry('b', 2) },
          { key: '10.0.0.4', entry: entry('d') },
        ],
        deletes: ['10.0.0.3'],
      },
      remote: { updates: [], deletes: [] },
      vteps: { updates: [], deletes: ['node-9'] },
      policy: { updates: [], deletes: [] },
      prefixes: { updates: [], deletes: [] },
      rules: { updates: [], deletes: [] },
    });
    const next = applyDelta(applied, delta);
    expect(digestTables(next)).toBe(digestTables(desired));
    expect(isEmptyDelta(diff(desired, next))).toBe(true);
    expect(applied.local.size).toBe(3); // the input is not changed
  });

  it('sees a field that one side lacks as a difference', () => {
    const withExtra = { ...entry('a'), extra: undefined } as unknown as LocalEndpointEntry;
    expect(
      diffTable(new Map([['k', entry('a')]]), new Map([['k', withExtra]])).updates,
    ).toHaveLength(1);
  });

  it('tracks a live fold: each step yields only what the step changed', () => {
    const state = createForwardingState('node-1');
    const log = new EventLog()
      .append('segment-blue', {
        type: 'SegmentCreated',
        data: {
          segmentId: 'blue',
          name: 'blue',
          vni: 100,
          subnets: ['10.0.0.0/16'],
          federated: false,
        },
      })
      .append('node-node-2', {
        type: 'NodeRegistered',
        data: {
          name: 'node-2',
          vtepAddress: '192.168.1.2',
          vtepMac: '02:00:00:00:01:02',
          registeredAt: '2024-05-01T12:00:00.000Z',
        },
      });
    const pod = (uid: string, ip: string) => ({
      type: 'EndpointCreated',
      data: {
        uid,
        segmentId: 'blue',
        node: 'node-2',
        ip,
        mac: '0a:58:0a:00:00:05',
        labels: {},
        kind: 'pod',
        identity: 300,
        namedPorts: [],
      },
    });
    for (let i = 0; i < 50; i++) log.append(`endpoint-p${i}`, pod(`p${i}`, `10.0.1.${i}`));
    applyEvents(state, log.events);
    let applied = copyTables(state.tables);
    expect(digest(applied)).toBe(digest(state));

    state.apply({
      stream: 'endpoint-p7',
      revision: 1,
      position: 1000,
      type: 'EndpointLabelsUpdated',
      data: { uid: 'p7', labels: { app: 'x' }, identity: 301 },
    });
    state.apply({
      stream: 'endpoint-p8',
      revision: 1,
      position: 1001,
      type: 'EndpointDeleted',
      data: { uid: 'p8' },
    });
    const delta = diff(state.tables, applied);
    expect(delta.remote.updates.map((u) => u.key)).toEqual(['10.0.1.7']);
    expect(delta.remote.deletes).toEqual(['10.0.1.8']);
    expect(delta.local).toEqual({ updates: [], deletes: [] });
    expect(delta.vteps).toEqual({ updates: [], deletes: [] });
    applied = applyDelta(applied, delta);
    expect(digest(applied)).toBe(digest(state));

    state.apply({
      stream: 'node-node-2',
      revision: 1,
      position: 1002,
      type: 'NodeMarkedDown',
      data: {
        name: 'node-2',
        at: '2024-05-01T12:05:00.000Z',
        lastHeartbeatAt: '2024-05-01T12:00:00.000Z',
        timeoutMs: 30_000,
      },
    });
    const failover = diff(state.tables, applied);
    expect(failover.remote.deletes).toHaveLength(49);
    expect(failover.vteps.deletes).toEqual(['node-2']);
  });
});

describe('digest', () => {
  const a = emptyTables();
  a.local.set('10.0.0.1', entry('a'));
  a.local.set('10.0.0.2', entry('b'));
  a.vteps.set('node-2', { address: '192.168.1.2', mac: '02:00:00:00:01:02' });

  it('ignores insertion order and entry field order', () => {
    const b = emptyTables();
    b.vteps.set('node-2', { mac: '02:00:00:00:01:02', address: '192.168.1.2' });
    b.local.set('10.0.0.2', entry('b'));
    const { identity, vni, mac, interfaceName, uid } = entry('a');
    b.local.set('10.0.0.1', { identity, vni, mac, interfaceName, uid });
    expect(digestTables(b)).toBe(digestTables(a));
    expect(digestTables(a)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes with any key, field or table', () => {
    const variants = [
      (t: ReturnType<typeof emptyTables>) => t.local.set('10.0.0.1', entry('a', 2)),
      (t: ReturnType<typeof emptyTables>) => t.local.delete('10.0.0.2'),
      (t: ReturnType<typeof emptyTables>) =>
        t.remote.set('10.0.0.3', {
          uid: 'c',
          node: 'n',
          vtepAddress: 'x',
          vtepMac: 'y',
          mac: 'z',
          vni: 1,
          identity: 0,
        }),
      (t: ReturnType<typeof emptyTables>) => {
        const moved = t.local.get('10.0.0.1')!;
        t.local.delete('10.0.0.1');
        t.local.set('10.0.0.9', moved);
      },
    ];
    const digests = new Set([digestTables(a)]);
    for (const change of variants) {
      const copy = copyTables(a);
      change(copy);
      digests.add(digestTables(copy));
    }
    expect(digests.size).toBe(variants.length + 1);
  });

  it('is the same for an empty state on any node', () => {
    expect(digest(createForwardingState('node-1'))).toBe(digest(createForwardingState('node-2')));
    expect(digest(emptyTables())).toBe(digest(createForwardingState('node-1')));
  });

  it('serialises canonically, and refuses what JSON cannot hold', () => {
    expect(canonicalJson({ b: [1, { d: 'x', c: null }], a: true })).toBe(
      '{"a":true,"b":[1,{"c":null,"d":"x"}]}',
    );
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(TypeError);
    expect(() => canonicalJson({ a: () => 1 })).toThrow(TypeError);
  });
});
