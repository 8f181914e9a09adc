import type { PolicySpec } from '@strata/domain';
import { applyEvents, createForwardingState, digest, restore, snapshot } from './forwarding-state';
import { FORWARDING_SNAPSHOT_VERSION, InvalidSnapshot } from './snapshot';
import { EventLog } from './testing/event-log';

const WEB_POLICY: PolicySpec = {
  name: 'web',
  tier: 'application',
  priority: 1000,
  selector: { matchLabels: { app: 'web' }, matchExpressions: [] },
  directions: ['ingress'],
  ingress: [
    {
      action: 'allow',
      peers: [{ cidr: '192.0.2.0/24', except: ['192.0.2.128/25'] }],
      ports: [{ protocol: 'TCP', name: 'http' }],
    },
  ],
  egress: [],
  staged: false,
  source: { kind: 'strata', namespace: '', name: '' },
};

const log = new EventLog()
  .append('segment-blue', {
    type: 'SegmentCreated',
    data: { segmentId: 'blue', name: 'blue', vni: 100, subnets: ['10.0.0.0/16'], federated: false },
  })
  .append('node-node-2', {
    type: 'NodeRegistered',
    data: {
      name: 'node-2',
      vtepAddress: '192.168.1.2',
      vtepMac: '02:00:00:00:01:02',
      registeredAt: '2024-05-01T12:00:00.000Z',
    },
  })
  .append(
    'endpoint-pod-b',
    {
      type: 'EndpointCreated',
      data: {
        uid: 'pod-b',
        segmentId: 'blue',
        node: 'node-2',
        ip: '10.0.0.6',
        mac: '0a:58:0a:00:00:06',
        labels: { app: 'web' },
        kind: 'pod',
        identity: 300,
        namedPorts: [{ name: 'http', protocol: 'TCP', port: 8080 }],
      },
    },
    { type: 'EndpointMoved', data: { uid: 'pod-b', node: 'node-1', previousNode: 'node-2' } },
  )
  .append('endpoint-pod-a', {
    type: 'EndpointCreated',
    data: {
      uid: 'pod-a',
      segmentId: 'blue',
      node: 'node-2',
      ip: '10.0.0.5',
      mac: '0a:58:0a:00:00:05',
      labels: { app: 'db' },
      kind: 'pod',
      identity: 301,
      namedPorts: [],
    },
  })
  .append('endpoint-pod-a', { type: 'EndpointDeleted', data: { uid: 'pod-a' } })
  .append('cluster-c1', { type: 'ClusterRemoved', data: { clusterId: 'c1' } })
  .append('policy-web', { type: 'PolicyCreated', data: { policyId: 'web', ...WEB_POLICY } });

describe('snapshot and restore', () => {
  const state = applyEvents(createForwardingState('node-1'), log.events);

  it('is plain, sorted JSON with its version and the position it reflects', () => {
    const taken = snapshot(state);
    expect(JSON.parse(JSON.stringify(taken))).toEqual(taken);
    expect(taken).toEqual({
      version: FORWARDING_SNAPSHOT_VERSION,
      node: 'node-1',
      position: log.events[log.events.length - 1].position,
      revisions: [
        ['endpoint-pod-a', 1],
        ['endpoint-pod-b', 1],
        ['node-node-2', 0],
        ['policy-web', 0],
        ['segment-blue', 0],
      ],
      segments: [{ segmentId: 'blue', vni: 100 }],
      nodes: [
        { name: 'node-2', vtepAddress: '192.168.1.2', vtepMac: '02:00:00:00:01:02', down: false },
      ],
      endpoints: [
        {
          uid: 'pod-b',
          segmentId: 'blue',
          node: 'node-1',
          ip: '10.0.0.6',
          mac: '0a:58:0a:00:00:06',
          labels: { app: 'web' },
          kind: 'pod',
          identity: 300,
          namedPorts: [{ name: 'http', protocol: 'TCP', port: 8080 }],
        },
      ],
      policies: [{ policyId: 'web', revision: 0, spec: WEB_POLICY }],
      stats: { applied: 7, duplicates: 0, ignored: 1, unknown: 0, rejected: 0 },
    });
  });

  it('compiles the policy it holds, and restores it', () => {
    const tables = state.tables;
    expect(tables.policy.size).toBeGreaterThan(0);
    expect(tables.prefixes.get('192.0.2.0/24')).toBeDefined();
    expect(tables.rules.size).toBe(1);
  });

  it('restores the same tables, position and counters', () => {
    const restored = restore(JSON.parse(JSON.stringify(snapshot(state))));
    expect(digest(restored)).toBe(digest(state));
    expect(restored.position).toBe(state.position);
    expect(restored.stats).toEqual(state.stats);
    expect(restored.node).toBe('node-1');
    expect(snapshot(restored)).toEqual(snapshot(state));
  });

  it('remembers stream revisions, so events already folded stay folded', () => {
    const restored = restore(snapshot(state));
    const outcomes = log.events.map((event) => restored.apply(event));
    expect(outcomes.filter((outcome) => outcome === 'duplicate')).toHaveLength(7);
    expect(digest(restored)).toBe(digest(state));
    // pod-a stays deleted although its creation was delivered again.
    expect(restored.tables.remote.has('10.0.0.5')).toBe(false);
  });

  it.each([
    ['a non-object', 'nope', /snapshot must be an object/],
    ['another version', { ...snapshot(state), version: 3 }, /version 3 is not supported/],
    [
      'a version 1 snapshot (before identities and policies)',
      { ...snapshot(state), version: 1 },
      /version 1 is not supported/,
    ],
    [
      'an endpoint with a bad identity',
      { ...snapshot(state), endpoints: [{ ...snapshot(state).endpoints[0], identity: 70_000 }] },
      /endpoints\[0\]\.identity/,
    ],
    [
      'an endpoint with bad named ports',
      { ...snapshot(state), endpoints: [{ ...snapshot(state).endpoints[0], namedPorts: [{}] }] },
      /endpoints\[0\]\.namedPorts/,
    ],
    [
      'a policy with a bad spec',
      { ...snapshot(state), policies: [{ policyId: 'p', revision: 0, spec: { name: 1 } }] },
      /policies\[0\]\.spec/,
    ],
    ['no node', { ...snapshot(state), node: 7 }, /node must be a string/],
    ['a negative position', { ...snapshot(state), position: -1 }, /position must be/],
    ['a bad revision pair', { ...snapshot(state), revisions: [['x']] }, /revisions\[0\]/],
    [
      'an endpoint without labels',
      { ...snapshot(state), endpoints: [{ ...snapshot(state).endpoints[0], labels: null }] },
      /endpoints\[0\]\.labels/,
    ],
    ['a node without down', { ...snapshot(state), nodes: [{ name: 'n' }] }, /nodes\[0\]/],
    ['missing stats', { ...snapshot(state), stats: undefined }, /stats must be an object/],
  ])('rejects %s with InvalidSnapshot', (_what, value, message) => {
    expect(() => restore(value)).toThrow(InvalidSnapshot);
    expect(() => restore(value)).toThrow(message);
  });
});
