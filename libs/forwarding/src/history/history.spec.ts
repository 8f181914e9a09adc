import { ForwardingState } from '../forwarding-state';
import { TABLE_NAMES, type ForwardingTables } from '../tables';
import { EventLog } from '../testing/event-log';
import { diffWithCauses } from './changes';
import type { HistoryEvent } from './events';
import { HolderTimeline } from './holders';
import { LineageFold, tableByName, type EntryChange } from './lineage';
import type { PolicyVerdict } from '../policy';
import { tracePacket, type PolicyEvaluator } from './trace';

// Scenarios built for the history tools: a pod rescheduled from node b to node c, seen from
// node a; an address reused by a second pod; packets walked across the resulting states.

const node = (name: string, n: number) => ({
  type: 'NodeRegistered',
  data: { name, vtepAddress: `192.168.0.${n}`, vtepMac: `02:00:00:00:00:0${n}`, registeredAt: 'x' },
});
const segment = {
  type: 'SegmentCreated',
  data: { segmentId: 'blue', name: 'blue', vni: 100, subnets: ['10.0.0.0/16'], federated: false },
};
const pod = (uid: string, ip: string, on: string, identity?: number) => ({
  type: 'EndpointCreated',
  data: {
    uid,
    segmentId: 'blue',
    node: on,
    ip,
    mac: `0a:58:00:00:00:${uid.slice(-1)}0`,
    labels: { app: uid },
    kind: 'pod',
    ...(identity === undefined ? {} : { identity }),
  },
});

/** The log with metadata, as the store records it. */
function history(): HistoryEvent[] {
  const log = new EventLog()
    .append('node-a', node('a', 1))
    .append('node-b', node('b', 2))
    .append('node-c', node('c', 3))
    .append('segment-blue', segment)
    .append('endpoint-web', pod('web', '10.0.0.5', 'b', 300))
    .append('endpoint-db', pod('db', '10.0.0.6', 'a', 301))
    .append('node-b', { type: 'NodeHeartbeatRecorded', data: { name: 'b', at: 'x' } })
    .append('endpoint-web', { type: 'EndpointMoved', data: { uid: 'web', node: 'c' } })
    .append('endpoint-web', { type: 'EndpointDeleted', data: { uid: 'web' } })
    .append('endpoint-api', pod('api', '10.0.0.5', 'a', 302));
  return log.events.map((event, i) => ({
    ...event,
    id: `ev-${i}`,
    recordedAt: new Date(Date.UTC(2024, 4, 1, 12, 0, i)),
    actor: i === 7 ? 'user:scheduler' : 'user:test',
    correlationId: `corr-${i}`,
  }));
}

function foldWithLineage(self: string, events: readonly HistoryEvent[]) {
  const lineage = new LineageFold(new ForwardingState(self));
  const changes: EntryChange[] = [];
  const perEvent = events.map((event) => {
    const made = lineage.apply(event);
    changes.push(...made);
    return made;
  });
  return { state: lineage.state, changes, perEvent };
}

function copy(tables: ForwardingTables): ForwardingTables {
  return Object.fromEntries(
    TABLE_NAMES.map((table) => [table, new Map(tableByName(tables, table))]),
  ) as unknown as ForwardingTables;
}

describe('LineageFold', () => {
  const events = history();
  const { perEvent } = foldWithLineage('a', events);

  it.each([
    // [event index, expected changes as table/key/kind]
    [0, []],
    [1, [['vteps', 'b', 'added']]],
    [2, [['vteps', 'c', 'added']]],
    [3, []],
    [4, [['remote', '10.0.0.5', 'added']]],
    [5, [['local', '10.0.0.6', 'added']]],
    [6, []],
    [7, [['remote', '10.0.0.5', 'changed']]],
    [8, [['remote', '10.0.0.5', 'removed']]],
    [9, [['local', '10.0.0.5', 'added']]],
  ])('event %i changes %j', (index, expected) => {
    const made = perEvent[index]
      .filter((change) => ['local', 'remote', 'vteps'].includes(change.table))
      .map((change) => [change.table, change.key, change.kind]);
    expect(made).toEqual(expected);
  });

  it('names the event, its actor and correlation id, and the entry before and after', () => {
    const [moved] = perEvent[7];
    expect(moved.event).toEqual({
      id: 'ev-7',
      type: 'EndpointMoved',
      stream: 'endpoint-web',
      revision: 1,
      position: events[7].position,
      recordedAt: '2024-05-01T12:00:07.000Z',
      actor: 'user:scheduler',
      correlationId: 'corr-7',
      causationId: '',
    });
    expect(moved.before).toMatchObject({ uid: 'web', node: 'b', vtepAddress: '192.168.0.2' });
    expect(moved.after).toMatchObject({ uid: 'web', node: 'c', vtepAddress: '192.168.0.3' });
  });

  it('with a key filter, reports only that key', () => {
    const lineage = new LineageFold(new ForwardingState('a'), (_t, key) => key === '10.0.0.6');
    const all = events.flatMap((event) => lineage.apply(event));
    expect(all.map((c) => [c.table, c.key, c.kind])).toEqual([['local', '10.0.0.6', 'added']]);
  });

  it('gives a duplicate nothing', () => {
    const lineage = new LineageFold(new ForwardingState('a'));
    for (const event of events) lineage.apply(event);
    expect(events.flatMap((event) => lineage.apply(event))).toEqual([]);
  });
});

describe('diffWithCauses', () => {
  it('lists what changed between two moments, with the events that did it', () => {
    const events = history();
    const state = new ForwardingState('a');
    for (const event of events.slice(0, 6)) state.apply(event);
    const before = copy(state.tables);
    const lineage = new LineageFold(state);
    const changes = events.slice(6).flatMap((event) => lineage.apply(event));
    const diff = diffWithCauses(before, state.tables, changes).filter((d) =>
      ['local', 'remote', 'vteps'].includes(d.table),
    );
    expect(diff.map((d) => [d.table, d.key, d.kind, d.causes.map((c) => c.type)])).toEqual([
      ['local', '10.0.0.5', 'added', ['EndpointCreated']],
      ['remote', '10.0.0.5', 'removed', ['EndpointMoved', 'EndpointDeleted']],
    ]);
    expect(diff[1].before).toMatchObject({ node: 'b' });
    expect(diff[1].after).toBeNull();
  });

  it('leaves out an entry that changed and changed back', () => {
    const state = new ForwardingState('a');
    const events = history();
    for (const event of events.slice(0, 5)) state.apply(event);
    const before = copy(state.tables);
    const lineage = new LineageFold(state);
    // Positions far above the history's, so the fold takes them.
    const down = {
      stream: 'node-b',
      revision: 5,
      position: 1000,
      type: 'NodeMarkedDown',
      data: { name: 'b' },
    };
    const up = {
      stream: 'node-b',
      revision: 6,
      position: 1001,
      type: 'NodeRecovered',
      data: { name: 'b' },
    };
    const changes = [down, up].flatMap((event) => lineage.apply(event));
    expect(changes.map((c) => c.kind)).toEqual(['removed', 'removed', 'added', 'added']);
    expect(diffWithCauses(before, state.tables, changes)).toEqual([]);
  });
});

describe('HolderTimeline', () => {
  const events = history();

  it('tells who held an address, one row per (uid, node, identity)', () => {
    const timeline = new HolderTimeline({ ip: '10.0.0.5' });
    events.forEach((event) => timeline.add(event));
    expect(
      timeline
        .tenures()
        .map((t) => [t.uid, t.node, t.identity, t.from.type, t.until?.type ?? null]),
    ).toEqual([
      ['web', 'b', 300, 'EndpointCreated', 'EndpointMoved'],
      ['web', 'c', 300, 'EndpointMoved', 'EndpointDeleted'],
      ['api', 'a', 302, 'EndpointCreated', null],
    ]);
  });

  it('tells who held an identity', () => {
    const timeline = new HolderTimeline({ identity: 301 });
    events.forEach((event) => timeline.add(event));
    expect(timeline.tenures().map((t) => [t.uid, t.ip, t.until])).toEqual([
      ['db', '10.0.0.6', null],
    ]);
  });
});

describe('tracePacket', () => {
  const events = history();
  /** States at the moment just before the pod was rescheduled (web on b, db on a). */
  const at = (index: number) => {
    const states = new Map<string, ForwardingState>();
    for (const name of ['a', 'b', 'c']) {
      const state = new ForwardingState(name);
      for (const event of events.slice(0, index + 1)) state.apply(event);
      states.set(name, state);
    }
    return (name: string) => states.get(name)!;
  };
  const packet = {
    source: '10.0.0.6',
    destination: '10.0.0.5',
    protocol: 'TCP' as const,
    port: 80,
  };
  const verdict =
    (allow: boolean): PolicyEvaluator =>
    () =>
      ({
        verdict: allow ? 'allow' : 'deny',
        sourceIdentity: 301,
        destinationIdentity: 300,
        egress: direction('allow'),
        ingress: direction(allow ? 'allow' : 'deny'),
        staged: { verdict: 'allow', egress: direction('allow'), ingress: direction('allow') },
      }) as PolicyVerdict;

  it.each([
    ['before the move: encapsulated to b', 6, verdict(true), 'delivered', 'b'],
    ['after the move: encapsulated to c', 7, verdict(true), 'delivered', 'c'],
    ['after the delete: no route', 8, verdict(true), 'no-route', null],
    ['ingress policy denies', 6, verdict(false), 'policy-denied', 'b'],
  ])('%s', (_name, index, evaluate, reason, destinationNode) => {
    const result = tracePacket({ packet, sourceNode: 'a', stateOf: at(index), evaluate });
    expect(result.reason).toBe(reason);
    expect(result.destinationNode).toBe(destinationNode);
    expect(result.outcome).toBe(reason === 'delivered' ? 'delivered' : 'dropped');
  });

  it('walks every step of a delivered packet', () => {
    const result = tracePacket({
      packet,
      sourceNode: 'a',
      stateOf: at(7),
      evaluate: verdict(true),
    });
    expect(result.steps.map((s) => [s.step, s.node, s.result])).toEqual([
      ['source', 'a', 'pass'],
      ['anti-spoofing', 'a', 'pass'],
      ['identity', 'a', 'pass'],
      ['egress-policy', 'a', 'pass'],
      ['route', 'a', 'pass'],
      ['encapsulate', 'a', 'pass'],
      ['decapsulate', 'c', 'pass'],
      ['ingress-policy', 'c', 'pass'],
      ['deliver', 'c', 'pass'],
    ]);
    expect(result.steps[5].detail).toContain('VTEP 192.168.0.3');
    expect(result.steps[7].detail).toContain('policy p1 "p" revision 2');
  });

  it('drops a source that is not local to the node (spoofed)', () => {
    const result = tracePacket({ packet, sourceNode: 'b', stateOf: at(7) });
    expect([result.reason, result.steps[0].result]).toEqual(['spoofed-ip', 'drop']);
  });

  it('without an evaluator, says policy was not checked', () => {
    const result = tracePacket({ packet, sourceNode: 'a', stateOf: at(7) });
    expect(result.outcome).toBe('delivered');
    expect(result.steps.filter((s) => s.result === 'unchecked').map((s) => s.step)).toEqual([
      'egress-policy',
      'ingress-policy',
    ]);
  });
});

function direction(verdict: 'allow' | 'deny') {
  return {
    verdict,
    reason: 'rule' as const,
    rule: 77,
    tier: 'application',
    policyId: 'p1',
    policyName: 'p',
    policyRevision: 2,
    ruleIndex: 0,
    action: verdict,
    passedTiers: [],
  };
}
