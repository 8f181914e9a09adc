import { applyEvents, createForwardingState, digest, restore, snapshot } from './forwarding-state';
import { EventLog } from './testing/event-log';

/**
 * The fold derives the local, remote and VTEP entries when the tables are read, once per key
 * an event marked; and a restored snapshot's stream revisions are looked up, not rebuilt.
 */

const pod = (uid: string, node: string, ip: string, identity = 300) => ({
  type: 'EndpointCreated',
  data: {
    uid,
    segmentId: 'blue',
    node,
    ip,
    mac: '0a:58:0a:00:00:05',
    labels: { app: uid },
    kind: 'pod',
    identity,
    namedPorts: [],
  },
});

const base = () =>
  new EventLog()
    .append('segment-blue', {
      type: 'SegmentCreated',
      data: { segmentId: 'blue', name: 'blue', vni: 100, subnets: [], federated: false },
    })
    .append('node-node-2', {
      type: 'NodeRegistered',
      data: { name: 'node-2', vtepAddress: '192.168.1.2', vtepMac: '02:00:00:00:01:02' },
    });

describe('deferred derivation', () => {
  it('lists each key touched between reads once, with the entry of the last event', () => {
    const state = createForwardingState('node-1');
    applyEvents(state, base().events);
    state.takeChanges();
    const log = new EventLog();
    log.append(
      'endpoint-a',
      pod('a', 'node-2', '10.0.0.1'),
      { type: 'EndpointMoved', data: { uid: 'a', node: 'node-1' } },
      { type: 'EndpointLabelsUpdated', data: { uid: 'a', labels: {}, identity: 301 } },
    );
    log.append('endpoint-b', pod('b', 'node-2', '10.0.0.2'), {
      type: 'EndpointDeleted',
      data: { uid: 'b' },
    });
    for (const event of log.events) state.apply({ ...event, position: event.position + 10 });
    const changes = state.takeChanges();
    expect([...changes.local].sort()).toEqual(['10.0.0.1', '10.0.0.2']);
    expect([...changes.remote].sort()).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(state.tables.local.get('10.0.0.1')).toMatchObject({ uid: 'a', identity: 301 });
    expect(state.tables.remote.size).toBe(0);
    expect(state.tables.local.has('10.0.0.2')).toBe(false);
    expect(state.takeChanges().local.size).toBe(0);
  });

  it('expands a node event to the endpoints on the node when read, not when folded', () => {
    const state = createForwardingState('node-1');
    applyEvents(state, base().events);
    const log = new EventLog()
      .append('node-node-2', { type: 'NodeMarkedDown', data: { name: 'node-2' } })
      .append('endpoint-c', pod('c', 'node-2', '10.0.0.3'));
    for (const event of log.events)
      state.apply({ ...event, revision: event.revision + 1, position: event.position + 10 });
    expect(state.tables.vteps.has('node-2')).toBe(false);
    expect(state.tables.remote.has('10.0.0.3')).toBe(false);
    state.takeChanges();
    state.apply({
      stream: 'node-node-2',
      revision: 5,
      position: 50,
      type: 'NodeRecovered',
      data: { name: 'node-2' },
    });
    const changes = state.takeChanges();
    expect([...changes.remote]).toEqual(['10.0.0.3']);
    expect([...changes.vteps]).toEqual(['node-2']);
    expect(state.tables.remote.get('10.0.0.3')).toMatchObject({
      uid: 'c',
      vtepAddress: '192.168.1.2',
    });
  });
});

describe('restored stream revisions', () => {
  const log = base()
    .append('endpoint-a', pod('a', 'node-2', '10.0.0.1'), {
      type: 'EndpointDeleted',
      data: { uid: 'a' },
    })
    .append('endpoint-b', pod('b', 'node-2', '10.0.0.2'));

  it('skips what the snapshot folded, from a snapshot listed out of order', () => {
    const state = applyEvents(createForwardingState('node-1'), log.events);
    const taken = snapshot(state);
    const shuffled = { ...taken, revisions: [...taken.revisions].reverse() };
    for (const value of [taken, shuffled]) {
      const restored = restore(value);
      const outcomes = log.events.map((event) => restored.apply(event));
      expect(outcomes.every((outcome) => outcome === 'duplicate')).toBe(true);
      expect(restored.tables.remote.has('10.0.0.1')).toBe(false);
      expect(digest(restored)).toBe(digest(state));
    }
  });

  it('keeps the last of a stream listed twice, as the map it replaced did', () => {
    const taken = snapshot(applyEvents(createForwardingState('node-1'), log.events));
    const restored = restore({
      ...taken,
      revisions: [...taken.revisions, ['endpoint-b', 0], ['endpoint-b', 4]],
    });
    expect(
      restored.apply({
        stream: 'endpoint-b',
        revision: 4,
        position: 99,
        type: 'EndpointDeleted',
        data: { uid: 'b' },
      }),
    ).toBe('duplicate');
    expect(
      restored.apply({
        stream: 'endpoint-b',
        revision: 5,
        position: 100,
        type: 'EndpointDeleted',
        data: { uid: 'b' },
      }),
    ).toBe('applied');
  });

  it('snapshots the restored revisions merged with those folded since', () => {
    const first = base().append('endpoint-a', pod('a', 'node-2', '10.0.0.1'));
    const state = applyEvents(createForwardingState('node-1'), first.events);
    const restored = restore(snapshot(state));
    const more = {
      stream: 'endpoint-z',
      revision: 0,
      position: 10,
      ...pod('z', 'node-2', '10.0.0.9'),
    };
    state.apply(more);
    restored.apply(more);
    restored.apply({
      stream: 'endpoint-a',
      revision: 1,
      position: 11,
      type: 'EndpointDeleted',
      data: { uid: 'a' },
    });
    state.apply({
      stream: 'endpoint-a',
      revision: 1,
      position: 11,
      type: 'EndpointDeleted',
      data: { uid: 'a' },
    });
    expect(snapshot(restored)).toEqual(snapshot(state));
    expect(snapshot(restored).revisions).toEqual([
      ['endpoint-a', 1],
      ['endpoint-z', 0],
      ['node-node-2', 0],
      ['segment-blue', 0],
    ]);
  });
});
