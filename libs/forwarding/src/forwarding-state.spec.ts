import type {
  EndpointCreated,
  EndpointDeleted,
  EndpointLabelsUpdated,
  EndpointMoved,
  Labels,
  NodeDeregistered,
  NodeHeartbeatRecorded,
  NodeMarkedDown,
  NodeRecovered,
  NodeRegistered,
  SegmentCreated,
  SegmentDeleted,
  SegmentUpdated,
} from '@strata/domain';
import {
  applyEvents,
  createForwardingState,
  digest,
  restore,
  snapshot,
  type FoldableEvent,
  type ForwardingState,
} from './forwarding-state';
import { interfaceName } from './identity';
import {
  tablesToJson,
  type ForwardingTables,
  type LocalEndpointEntry,
  type RemoteEndpointEntry,
  type VtepEntry,
} from './tables';
import {
  duplicated,
  EventLog,
  redeliveredLate,
  referenceTables,
  reversed,
  shuffled,
  squashed,
} from './testing/event-log';

const SELF = 'node-1';
const T0 = '2024-05-01T12:00:00.000Z';

// --- event fixtures (typed by the domain, so a payload change breaks the specs) -------------

const segmentCreated = (segmentId: string, vni: number): SegmentCreated => ({
  type: 'SegmentCreated',
  data: { segmentId, name: segmentId, vni, subnets: ['10.0.0.0/16'], federated: false },
});
const segmentUpdated = (segmentId: string): SegmentUpdated => ({
  type: 'SegmentUpdated',
  data: { segmentId, name: `${segmentId}-renamed`, subnets: ['10.0.0.0/15'], federated: true },
});
const segmentDeleted = (segmentId: string): SegmentDeleted => ({
  type: 'SegmentDeleted',
  data: { segmentId },
});
const registered = (name: string, vtepAddress: string, vtepMac: string): NodeRegistered => ({
  type: 'NodeRegistered',
  data: { name, vtepAddress, vtepMac, registeredAt: T0 },
});
const heartbeat = (name: string, at: string): NodeHeartbeatRecorded => ({
  type: 'NodeHeartbeatRecorded',
  data: { name, at },
});
const markedDown = (name: string): NodeMarkedDown => ({
  type: 'NodeMarkedDown',
  data: { name, at: '2024-05-01T12:05:00.000Z', lastHeartbeatAt: T0, timeoutMs: 30_000 },
});
const recovered = (name: string): NodeRecovered => ({
  type: 'NodeRecovered',
  data: { name, at: '2024-05-01T12:06:00.000Z' },
});
const deregistered = (name: string): NodeDeregistered => ({
  type: 'NodeDeregistered',
  data: { name },
});
const WEB: Labels = { app: 'web', tier: 'frontend' };
const DB: Labels = { app: 'db', tier: 'backend' };
/** The identity the allocator would have given each label set (as the events carry it). */
const identityOf = (labels: Labels): number =>
  labels === WEB ? 300 : labels === DB ? 301 : 400 + Object.keys(labels).length;
const pod = (
  uid: string,
  node: string,
  ip: string,
  mac: string,
  labels: Labels = WEB,
  segmentId = 'blue',
): EndpointCreated => ({
  type: 'EndpointCreated',
  data: {
    uid,
    segmentId,
    node,
    ip,
    mac,
    labels,
    kind: 'pod',
    identity: identityOf(labels),
    namedPorts: [],
  },
});
const external = (uid: string, ip: string): EndpointCreated => ({
  type: 'EndpointCreated',
  data: {
    uid,
    segmentId: 'blue',
    node: '',
    ip,
    mac: '',
    labels: DB,
    kind: 'external',
    identity: identityOf(DB),
    namedPorts: [],
  },
});
const relabelled = (uid: string, labels: Labels): EndpointLabelsUpdated => ({
  type: 'EndpointLabelsUpdated',
  data: { uid, labels, identity: identityOf(labels) },
});
const moved = (uid: string, previousNode: string, node: string): EndpointMoved => ({
  type: 'EndpointMoved',
  data: { uid, node, previousNode },
});
const deleted = (uid: string): EndpointDeleted => ({ type: 'EndpointDeleted', data: { uid } });

// --- expected entries ----------------------------------------------------------------------

const NODE2 = { vtepAddress: '192.168.1.2', vtepMac: '02:00:00:00:01:02' };
const NODE3 = { vtepAddress: '192.168.1.3', vtepMac: '02:00:00:00:01:03' };
const NODE2_REBUILT = { vtepAddress: '192.168.1.22', vtepMac: '02:00:00:00:01:22' };

const local = (uid: string, mac: string, vni: number, labels = WEB): LocalEndpointEntry => ({
  uid,
  interfaceName: interfaceName(uid),
  mac,
  vni,
  identity: identityOf(labels),
});
const remote = (
  uid: string,
  node: string,
  vtep: { vtepAddress: string; vtepMac: string },
  mac: string,
  vni: number,
  labels = WEB,
): RemoteEndpointEntry => ({
  uid,
  node,
  ...vtep,
  mac,
  vni,
  identity: identityOf(labels),
});
const vtep = ({ vtepAddress, vtepMac }: typeof NODE2): VtepEntry => ({
  address: vtepAddress,
  mac: vtepMac,
});

interface ExpectedTables {
  local?: Record<string, LocalEndpointEntry>;
  remote?: Record<string, RemoteEndpointEntry>;
  vteps?: Record<string, VtepEntry>;
}

function asRecords(tables: ForwardingTables): Required<ExpectedTables> {
  const json = tablesToJson(tables);
  return {
    local: Object.fromEntries(json.local),
    remote: Object.fromEntries(json.remote),
    vteps: Object.fromEntries(json.vteps),
  };
}

// --- the scenarios -------------------------------------------------------------------------

interface Scenario {
  readonly name: string;
  readonly log: EventLog;
  readonly expected: ExpectedTables;
}

/** The usual world: segment blue (VNI 100), this node and node-2 registered. */
function world(): EventLog {
  return new EventLog()
    .append('segment-blue', segmentCreated('blue', 100))
    .append('node-node-1', registered(SELF, '192.168.1.1', '02:00:00:00:01:01'))
    .append('node-node-2', registered('node-2', NODE2.vtepAddress, NODE2.vtepMac));
}

const MAC_A = '0a:58:0a:00:00:05';
const MAC_B = '0a:58:0a:00:00:06';
const MAC_C = '0a:58:0a:00:00:07';

const scenarios: Scenario[] = [
  {
    name: 'a pod on this node is local, with its interface, MAC, VNI and identity',
    log: world().append('endpoint-pod-a', pod('pod-a', SELF, '10.0.0.5', MAC_A)),
    expected: {
      local: { '10.0.0.5': local('pod-a', MAC_A, 100) },
      vteps: { 'node-2': vtep(NODE2) },
    },
  },
  {
    name: "a pod on a live node is remote, behind that node's VTEP",
    log: world().append('endpoint-pod-b', pod('pod-b', 'node-2', '10.0.0.6', MAC_B)),
    expected: {
      remote: { '10.0.0.6': remote('pod-b', 'node-2', NODE2, MAC_B, 100) },
      vteps: { 'node-2': vtep(NODE2) },
    },
  },
  {
    name: 'a pod created before its node registers gets the same entry',
    log: new EventLog()
      .append('endpoint-pod-b', pod('pod-b', 'node-2', '10.0.0.6', MAC_B))
      .append('segment-blue', segmentCreated('blue', 100))
      .append('node-node-2', registered('node-2', NODE2.vtepAddress, NODE2.vtepMac)),
    expected: {
      remote: { '10.0.0.6': remote('pod-b', 'node-2', NODE2, MAC_B, 100) },
      vteps: { 'node-2': vtep(NODE2) },
    },
  },
  {
    name: 'a pod on a node that never registered is unreachable',
    log: world().append('endpoint-pod-c', pod('pod-c', 'node-3', '10.0.0.7', MAC_C)),
    expected: { vteps: { 'node-2': vtep(NODE2) } },
  },
  {
    name: 'a node marked down takes its pods and its VTEP out (failover); heartbeats change nothing',
    log: world()
      .append('endpoint-pod-b', pod('pod-b', 'node-2', '10.0.0.6', MAC_B))
      .append('node-node-3', registered('node-3', NODE3.vtepAddress, NODE3.vtepMac))
      .append('endpoint-pod-c', pod('pod-c', 'node-3', '10.0.0.7', MAC_C))
      .append('node-node-2', heartbeat('node-2', '2024-05-01T12:00:10.000Z'), markedDown('node-2'))
      .append('node-node-2', heartbeat('node-2', '2024-05-01T12:05:10.000Z')),
    expected: {
      remote: { '10.0.0.7': remote('pod-c', 'node-3', NODE3, MAC_C, 100) },
      vteps: { 'node-3': vtep(NODE3) },
    },
  },
  {
    name: 'a recovered node brings its pods back',
    log: world()
      .append('endpoint-pod-b', pod('pod-b', 'node-2', '10.0.0.6', MAC_B))
      .append('node-node-2', markedDown('node-2'), recovered('node-2')),
    expected: {
      remote: { '10.0.0.6': remote('pod-b', 'node-2', NODE2, MAC_B, 100) },
      vteps: { 'node-2': vtep(NODE2) },
    },
  },
  {
    name: 'a rebuilt host re-registers with a new VTEP, and its pods follow',
    log: world()
      .append('endpoint-pod-b', pod('pod-b', 'node-2', '10.0.0.6', MAC_B))
      .append('node-node-2', markedDown('node-2'))
      .append(
        'node-node-2',
        registered('node-2', NODE2_REBUILT.vtepAddress, NODE2_REBUILT.vtepMac),
      ),
    expected: {
      remote: { '10.0.0.6': remote('pod-b', 'node-2', NODE2_REBUILT, MAC_B, 100) },
      vteps: { 'node-2': vtep(NODE2_REBUILT) },
    },
  },
  {
    name: 'a deregistered node leaves no VTEP; registering again brings it back',
    log: world()
      .append('node-node-3', registered('node-3', NODE3.vtepAddress, NODE3.vtepMac))
      .append('node-node-3', deregistered('node-3'))
      .append('node-node-2', deregistered('node-2'))
      .append('node-node-2', registered('node-2', NODE2.vtepAddress, NODE2.vtepMac)),
    expected: { vteps: { 'node-2': vtep(NODE2) } },
  },
  {
    name: 'a pod on a deregistered node is unreachable',
    log: world()
      .append('endpoint-pod-b', pod('pod-b', 'node-2', '10.0.0.6', MAC_B))
      .append('node-node-2', deregistered('node-2')),
    expected: {},
  },
  {
    name: 'a pod that moves here turns local; one that moves away turns remote',
    log: world()
      .append('node-node-3', registered('node-3', NODE3.vtepAddress, NODE3.vtepMac))
      .append('endpoint-pod-b', pod('pod-b', 'node-2', '10.0.0.6', MAC_B))
      .append('endpoint-pod-a', pod('pod-a', SELF, '10.0.0.5', MAC_A))
      .append('endpoint-pod-b', moved('pod-b', 'node-2', SELF))
      .append('endpoint-pod-a', moved('pod-a', SELF, 'node-3')),
    expected: {
      local: { '10.0.0.6': local('pod-b', MAC_B, 100) },
      remote: { '10.0.0.5': remote('pod-a', 'node-3', NODE3, MAC_A, 100) },
      vteps: { 'node-2': vtep(NODE2), 'node-3': vtep(NODE3) },
    },
  },
  {
    name: 'relabelling changes the source identity, locally and remotely',
    log: world()
      .append('endpoint-pod-a', pod('pod-a', SELF, '10.0.0.5', MAC_A))
      .append('endpoint-pod-b', pod('pod-b', 'node-2', '10.0.0.6', MAC_B))
      .append('endpoint-pod-a', relabelled('pod-a', DB))
      .append('endpoint-pod-b', relabelled('pod-b', { app: 'cache' }), relabelled('pod-b', DB)),
    expected: {
      local: { '10.0.0.5': local('pod-a', MAC_A, 100, DB) },
      remote: { '10.0.0.6': remote('pod-b', 'node-2', NODE2, MAC_B, 100, DB) },
      vteps: { 'node-2': vtep(NODE2) },
    },
  },
  {
    name: 'deleted pods leave no entry',
    log: world()
      .append('endpoint-pod-a', pod('pod-a', SELF, '10.0.0.5', MAC_A), deleted('pod-a'))
      .append('endpoint-pod-b', pod('pod-b', 'node-2', '10.0.0.6', MAC_B))
      .append('endpoint-pod-b', moved('pod-b', 'node-2', SELF), deleted('pod-b')),
    expected: { vteps: { 'node-2': vtep(NODE2) } },
  },
  {
    name: 'an IP freed by one pod and taken by another belongs to the new pod',
    log: world()
      .append('endpoint-pod-a', pod('pod-a', SELF, '10.0.0.9', MAC_A))
      .append('endpoint-pod-a', deleted('pod-a'))
      .append('endpoint-pod-z', pod('pod-z', 'node-2', '10.0.0.9', MAC_C)),
    expected: {
      remote: { '10.0.0.9': remote('pod-z', 'node-2', NODE2, MAC_C, 100) },
      vteps: { 'node-2': vtep(NODE2) },
    },
  },
  {
    name: 'without its segment a local pod has VNI 0 and a remote pod no entry',
    log: new EventLog()
      .append('node-node-2', registered('node-2', NODE2.vtepAddress, NODE2.vtepMac))
      .append('endpoint-pod-a', pod('pod-a', SELF, '10.0.0.5', MAC_A, WEB, 'red'))
      .append('endpoint-pod-b', pod('pod-b', 'node-2', '10.0.0.6', MAC_B, WEB, 'red'))
      .append('segment-blue', segmentCreated('blue', 100), segmentDeleted('blue'))
      .append('endpoint-pod-c', pod('pod-c', 'node-2', '10.0.0.7', MAC_C)),
    expected: {
      local: { '10.0.0.5': local('pod-a', MAC_A, 0) },
      vteps: { 'node-2': vtep(NODE2) },
    },
  },
  {
    name: 'each segment brings its own VNI; segment updates change nothing',
    log: world()
      .append('segment-red', segmentCreated('red', 200), segmentUpdated('red'))
      .append('endpoint-pod-a', pod('pod-a', SELF, '10.0.0.5', MAC_A, WEB, 'red'))
      .append('endpoint-pod-b', pod('pod-b', 'node-2', '10.0.0.6', MAC_B, WEB, 'red'))
      .append('endpoint-pod-c', pod('pod-c', 'node-2', '10.0.0.7', MAC_C))
      .append('segment-blue', segmentUpdated('blue')),
    expected: {
      local: { '10.0.0.5': local('pod-a', MAC_A, 200) },
      remote: {
        '10.0.0.6': remote('pod-b', 'node-2', NODE2, MAC_B, 200),
        '10.0.0.7': remote('pod-c', 'node-2', NODE2, MAC_C, 100),
      },
      vteps: { 'node-2': vtep(NODE2) },
    },
  },
  {
    name: 'external endpoints are on no node: no local or remote entry',
    log: world().append('endpoint-db-1', external('db-1', '10.0.9.1')),
    expected: { vteps: { 'node-2': vtep(NODE2) } },
  },
  {
    name: 'this node going down does not take its own pods out',
    log: world()
      .append('endpoint-pod-a', pod('pod-a', SELF, '10.0.0.5', MAC_A))
      .append('node-node-1', markedDown(SELF)),
    expected: {
      local: { '10.0.0.5': local('pod-a', MAC_A, 100) },
      vteps: { 'node-2': vtep(NODE2) },
    },
  },
  {
    name: 'events this fold does not need and event types it does not know change nothing',
    log: world()
      .append('endpoint-pod-a', pod('pod-a', SELF, '10.0.0.5', MAC_A))
      .append('pool-p1', { type: 'PoolDeleted', data: { poolId: 'p1' } })
      .append('policy-deny', { type: 'PolicyDeleted', data: { policyId: 'deny' } })
      .append('endpoint-pod-a', { type: 'EndpointAnnotated', data: { uid: 'pod-a' } })
      .append('gizmo-1', { type: 'GizmoInvented', data: null }),
    expected: {
      local: { '10.0.0.5': local('pod-a', MAC_A, 100) },
      vteps: { 'node-2': vtep(NODE2) },
    },
  },
];

function fold(events: Iterable<FoldableEvent>): ForwardingState {
  return applyEvents(createForwardingState(SELF), events);
}

/** Folds the first `cut` events, round-trips a snapshot through JSON, folds the rest. */
function foldSplit(events: readonly FoldableEvent[], cut: number, overlap = 0): ForwardingState {
  const first = fold(events.slice(0, cut));
  const stored = JSON.parse(JSON.stringify(snapshot(first))) as unknown;
  return applyEvents(restore(stored), events.slice(Math.max(0, cut - overlap)));
}

describe.each(scenarios)('$name', ({ log, expected }) => {
  const events = log.events;
  const inOrder = fold(events);
  const want = { local: {}, remote: {}, vteps: {}, ...expected };

  it('folds to the expected tables', () => {
    expect(asRecords(inOrder.tables)).toEqual(want);
  });

  it('agrees with the reference derivation from the domain evolvers', () => {
    expect(asRecords(referenceTables(SELF, events))).toEqual(want);
  });

  it.each([
    ['reversed', reversed],
    ['shuffled (seed 1)', (e: readonly FoldableEvent[]) => shuffled(e, 1)],
    ['shuffled (seed 2)', (e: readonly FoldableEvent[]) => shuffled(e, 2)],
    ['shuffled (seed 3)', (e: readonly FoldableEvent[]) => shuffled(e, 3)],
    ['duplicated', duplicated],
    ['squashed', squashed],
    ['squashed, reversed', (e: readonly FoldableEvent[]) => reversed(squashed(e))],
    ['reversed, duplicated', (e: readonly FoldableEvent[]) => duplicated(reversed(e))],
    ['then redelivered late, out of order', (e: readonly FoldableEvent[]) => redeliveredLate(e, 4)],
  ])('gives the same digest %s', (_variant, variant) => {
    const variantEvents = variant(events);
    const state = fold(variantEvents);
    expect(digest(state)).toBe(digest(inOrder));
    expect(asRecords(state.tables)).toEqual(want);
    expect(state.position).toBe(inOrder.position);
  });

  it('gives the same digest split in two at every point through a snapshot', () => {
    for (let cut = 0; cut <= events.length; cut++) {
      expect(digest(foldSplit(events, cut))).toBe(digest(inOrder));
      expect(digest(foldSplit(reversed(events), cut, 2))).toBe(digest(inOrder));
    }
  });
});

describe('the fold in general', () => {
  it('says what it did with each event and counts it', () => {
    const state = createForwardingState(SELF);
    const event = (type: string, data: unknown, stream = 'endpoint-pod-a', revision = 0) => ({
      stream,
      revision,
      position: 10 + revision,
      type,
      data,
    });
    expect(state.apply(event('EndpointCreated', pod('pod-a', SELF, '10.0.0.5', MAC_A).data))).toBe(
      'applied',
    );
    expect(state.apply(event('EndpointCreated', pod('pod-a', SELF, '10.0.0.5', MAC_A).data))).toBe(
      'duplicate',
    );
    expect(state.apply(event('PoolCreated', {}, 'pool-p1'))).toBe('ignored');
    expect(state.apply(event('PolicyCreated', {}, 'policy-x'))).toBe('rejected');
    expect(state.apply(event('EndpointTeleported', {}, 'endpoint-pod-a', 7))).toBe('unknown');
    expect(state.apply(event('EndpointMoved', null, 'endpoint-pod-a', 1))).toBe('rejected');
    expect(state.apply(event('EndpointMoved', { uid: 'pod-a' }, 'endpoint-pod-a', 1))).toBe(
      'rejected',
    );
    expect(state.apply(event('SegmentCreated', { segmentId: 'x', vni: '7' }, 'segment-x'))).toBe(
      'rejected',
    );
    expect(
      state.apply(
        event('EndpointLabelsUpdated', { uid: 'pod-a', labels: [1] }, 'endpoint-pod-a', 1),
      ),
    ).toBe('rejected');
    expect(state.stats).toEqual({ applied: 1, duplicates: 1, ignored: 1, unknown: 1, rejected: 5 });
    expect(state.position).toBe(17);
    expect(state.tables.local.get('10.0.0.5')).toEqual(local('pod-a', MAC_A, 0));
  });

  it('treats a prototype-named event type as unknown', () => {
    const state = createForwardingState(SELF);
    for (const type of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      expect(state.apply({ stream: 'endpoint-x', revision: 0, position: 1, type, data: {} })).toBe(
        'unknown',
      );
    }
  });

  it('needs a node name', () => {
    expect(() => createForwardingState('')).toThrow(TypeError);
  });

  it('reads the identity from the events, and treats what is not a 16-bit number as 0', () => {
    const withIdentity = (created: EndpointCreated, identity: unknown): EndpointCreated =>
      ({ ...created, data: { ...created.data, identity } }) as EndpointCreated;
    const log = world()
      .append('endpoint-pod-a', withIdentity(pod('pod-a', SELF, '10.0.0.5', MAC_A, WEB), 42))
      .append('endpoint-pod-b', withIdentity(pod('pod-b', 'node-2', '10.0.0.6', MAC_B), 70_000))
      .append('endpoint-pod-c', withIdentity(pod('pod-c', 'node-2', '10.0.0.7', MAC_C), 'x'))
      .append('endpoint-pod-d', withIdentity(pod('pod-d', 'node-2', '10.0.0.8', MAC_C), undefined))
      .append('endpoint-pod-a', {
        ...relabelled('pod-a', DB),
        data: { uid: 'pod-a', labels: DB, identity: 43 },
      });
    const state = applyEvents(createForwardingState(SELF), log.events);
    expect(state.tables.local.get('10.0.0.5')?.identity).toBe(43);
    expect(state.tables.remote.get('10.0.0.6')?.identity).toBe(0);
    expect(state.tables.remote.get('10.0.0.7')?.identity).toBe(0);
    expect(state.tables.remote.get('10.0.0.8')?.identity).toBe(0);
    const again = restore(snapshot(state));
    expect(digest(again)).toBe(digest(state));
    expect(asRecords(state.tables)).toEqual(asRecords(referenceTables(SELF, log.events)));
  });

  it('gives two live endpoints claiming one IP to the smallest uid, whatever the order', () => {
    const log = world()
      .append('endpoint-pod-m', pod('pod-m', 'node-2', '10.0.0.8', MAC_B))
      .append('endpoint-pod-k', pod('pod-k', SELF, '10.0.0.8', MAC_A));
    for (const events of [log.events, reversed(log.events)]) {
      const state = fold(events);
      expect(asRecords(state.tables)).toMatchObject({
        local: { '10.0.0.8': local('pod-k', MAC_A, 100) },
        remote: {},
      });
    }
  });
});
