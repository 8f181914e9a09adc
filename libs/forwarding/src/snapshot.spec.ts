import { applyEvents, createForwardingState, digest, restore, snapshot } from './forwarding-state';
import { FORWARDING_SNAPSHOT_VERSION, InvalidSnapshot } from './snapshot';
import { EventLog } from './testing/event-log';

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
    },
  })
  .append('endpoint-pod-a', { type: 'EndpointDeleted', data: { uid: 'pod-a' } })
  .append('cluster-c1', { type: 'ClusterRemoved', data: { clusterId: 'c1' } });

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
        },
      ],
      stats: { applied: 6, duplicates: 0, ignored: 1, unknown: 0, rejected: 0 },
    });
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
    expect(outcomes.filter((outcome) => outcome === 'duplicate')).toHaveLength(6);
    expect(digest(restored)).toBe(digest(state));
    // pod-a stays deleted although its creation was delivered again.
    expect(restored.tables.remote.has('10.0.0.5')).toBe(false);
  });

  it.each([
    ['a non-object', 'nope', /snapshot must be an object/],
    ['another version', { ...snapshot(state), version: 2 }, /version 2 is not supported/],
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
