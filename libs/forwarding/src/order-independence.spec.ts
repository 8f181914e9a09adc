import {
  DomainError,
  endpointDecider,
  nodeDecider,
  policyDecider,
  segmentDecider,
  type Decider,
  type Labels,
  type PolicyPeerInput,
  type PolicyPortInput,
} from '@strata/domain';
import { applyEvents, createForwardingState, digest, restore, snapshot } from './forwarding-state';
import { applyDeltaInPlace, diff, diffChanged, isEmptyDelta } from './diff';
import { emptyTables, tablesToJson, type ForwardingTables } from './tables';
import {
  duplicated,
  EventLog,
  prng,
  redeliveredLate,
  referenceTables,
  reversed,
  shuffled,
  squashed,
} from './testing/event-log';

/**
 * Random histories made by the domain's own deciders (so every log is one the services could
 * have written): segments come and go, nodes register, beat, go down, recover, re-register with
 * new VTEPs and deregister, pods are created on registered and unregistered nodes, in existing
 * and missing segments, relabelled, moved and deleted, and IPs are drawn from a small pool so
 * that they get reused and contended; endpoints carry the identity of their security labels
 * (and some of them named ports), and tiered policies are created, updated, applied and deleted.
 * Every variant of every history must fold to the endpoint tables the reference derivation
 * gives, and to one digest of all the tables (compiled policy included).
 */

const SELF = 'node-1';
const NODES = ['node-1', 'node-2', 'node-3', 'node-4', 'node-5'];
const SEGMENTS = ['s1', 's2', 's3', 's4', 's5'];
const LABELS: Labels[] = [{ app: 'web' }, { app: 'db', tier: 'backend' }, { app: 'cache' }];
const POLICIES = ['pol-1', 'pol-2', 'pol-3', 'pol-4'];
const PEERS: PolicyPeerInput[] = [
  { selector: { matchLabels: { app: 'web' } } },
  { selector: { matchExpressions: [{ key: 'tier', operator: 'Exists' }] } },
  { selector: { matchLabels: { 'strata.io/kind': 'external' } } },
  { cidr: '10.0.9.0/24', except: ['10.0.9.128/25'] },
  { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] },
];
const PORTS: PolicyPortInput[] = [
  { protocol: 'TCP', port: 80 },
  { protocol: 'TCP', port: 8000, endPort: 8100 },
  { protocol: 'UDP', port: 53 },
  { protocol: 'TCP', name: 'http' },
];

/** The identity the allocator would give each security label set: one number per set. */
function identityOf(labels: Labels, segmentId: string, kind: string): number {
  return (
    256 + LABELS.indexOf(labels) * 16 + SEGMENTS.indexOf(segmentId) * 2 + (kind === 'pod' ? 0 : 1)
  );
}

/** Only tables the reference derivation knows: the endpoint tables. */
function endpointTables(tables: ForwardingTables) {
  const { local, remote, vteps } = tablesToJson(tables);
  return { local, remote, vteps };
}

type AnyDecider = Decider<
  unknown,
  { type: string; data: unknown },
  { type: string; data: unknown }
>;

function randomHistory(seed: number, commands: number): EventLog {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const log = new EventLog();
  const states = new Map<string, unknown>();
  let created = 0;
  let clock = Date.parse('2024-05-01T12:00:00.000Z');
  const at = () => new Date(clock).toISOString();

  const run = (stream: string, decider: AnyDecider, command: { type: string; data: unknown }) => {
    const state = states.has(stream) ? states.get(stream) : decider.initialState();
    try {
      const events = decider.decide(command, state);
      states.set(stream, events.reduce(decider.evolve, state));
      log.append(stream, ...events);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
    }
  };

  for (let i = 0; i < commands; i++) {
    clock += Math.floor(random() * 8_000);
    const roll = random();
    if (roll < 0.08) {
      const policyId = pick(POLICIES);
      const sub = random();
      const rule = () => ({
        action: pick(['allow', 'deny', 'pass'] as const),
        peers: random() < 0.4 ? [] : [pick(PEERS)],
        ports: random() < 0.4 ? [] : [pick(PORTS)],
      });
      const tier = pick(['platform', 'application', 'baseline'] as const);
      const spec = {
        name: policyId,
        tier,
        priority: pick([10, 20]),
        selector: random() < 0.3 ? {} : { matchLabels: { app: pick(['web', 'db', 'cache']) } },
        directions: pick([['ingress'], ['egress'], ['ingress', 'egress']] as const).slice(),
        staged: random() < 0.2,
      };
      const withRules = {
        ...spec,
        ingress: spec.directions.includes('ingress') ? [rule(), rule()] : [],
        egress: spec.directions.includes('egress') ? [rule()] : [],
      };
      const command =
        sub < 0.4
          ? { type: 'CreatePolicy', data: { policyId, ...withRules } }
          : sub < 0.6
            ? { type: 'ApplyPolicy', data: { policyId, ...withRules } }
            : sub < 0.85
              ? { type: 'UpdatePolicy', data: { policyId, priority: pick([10, 20, 30]) } }
              : { type: 'DeletePolicy', data: { policyId } };
      run(`policy-${policyId}`, policyDecider as unknown as AnyDecider, command);
    } else if (roll < 0.12) {
      const segmentId = pick(SEGMENTS);
      const command =
        random() < 0.9
          ? {
              type: 'CreateSegment',
              data: {
                segmentId,
                name: segmentId,
                vni: 100 + SEGMENTS.indexOf(segmentId),
                subnets: ['10.0.0.0/16'],
                federated: false,
              },
            }
          : { type: 'DeleteSegment', data: { segmentId } };
      run(`segment-${segmentId}`, segmentDecider as unknown as AnyDecider, command);
    } else if (roll < 0.34) {
      const name = pick(NODES.slice(0, 4)); // node-5 never registers
      const n = NODES.indexOf(name) + 1;
      const generation = Math.floor(random() * 2);
      const kind = random();
      const command =
        kind < 0.25
          ? {
              type: 'RegisterNode',
              data: {
                name,
                vtepAddress: `192.168.${generation}.${n}`,
                vtepMac: `02:00:00:00:0${generation}:0${n}`,
                at: at(),
              },
            }
          : kind < 0.75
            ? { type: 'RecordHeartbeat', data: { name, at: at() } }
            : kind < 0.95
              ? { type: 'MarkNodeDown', data: { name, now: at(), timeoutMs: 15_000 } }
              : { type: 'DeregisterNode', data: { name } };
      run(`node-${name}`, nodeDecider as unknown as AnyDecider, command);
    } else {
      // A fresh uid (uids are never reused) or one created before.
      const fresh = created === 0 || random() < 0.25;
      const uid = `pod-${fresh ? created++ : Math.floor(random() * created)}`;
      const kind = random();
      const labels = pick(LABELS);
      const segmentId = pick([...SEGMENTS, 's9']); // s9 never exists
      const namedPorts =
        random() < 0.3 ? [{ name: 'http', protocol: 'TCP', port: pick([80, 8080]) }] : [];
      const command = fresh
        ? random() < 0.9
          ? {
              type: 'CreateEndpoint',
              data: {
                uid,
                kind: 'pod',
                segmentId,
                node: pick(NODES),
                ip: `10.0.0.${1 + Math.floor(random() * 40)}`,
                mac: `0a:58:0a:00:00:${(16 + Math.floor(random() * 200)).toString(16)}`,
                labels,
                identity: identityOf(labels, segmentId, 'pod'),
                namedPorts,
              },
            }
          : {
              type: 'CreateEndpoint',
              data: {
                uid,
                kind: 'external',
                segmentId: 's1',
                ip: pick(['10.0.9.1', '10.0.9.200', '192.0.2.1']),
                labels,
                identity: identityOf(labels, 's1', 'external'),
                namedPorts,
              },
            }
        : kind < 0.4
          ? {
              type: 'UpdateEndpointLabels',
              // The segment is not known here: a relabel may claim a stale identity, as a
              // buggy writer could; the fold must still be order-independent.
              data: { uid, labels, identity: identityOf(labels, pick(SEGMENTS), 'pod') },
            }
          : kind < 0.8
            ? { type: 'MoveEndpoint', data: { uid, node: pick(NODES) } }
            : { type: 'DeleteEndpoint', data: { uid } };
      run(`endpoint-${uid}`, endpointDecider as unknown as AnyDecider, command);
    }
  }
  return log;
}

const SEEDS = Array.from({ length: 16 }, (_, i) => i + 1);

describe.each(SEEDS)('random history (seed %i)', (seed) => {
  const events = randomHistory(seed, 800).events;
  const expected = endpointTables(referenceTables(SELF, events));
  const inOrder = applyEvents(createForwardingState(SELF), events);

  it('is a history worth testing', () => {
    expect(events.length).toBeGreaterThan(400);
    const types = new Set(events.map((event) => event.type));
    expect(types.size).toBeGreaterThanOrEqual(13);
    expect(types).toContain('PolicyUpdated');
    // Every table holds entries at some point of the history.
    const most = { local: 0, remote: 0, vteps: 0, policy: 0, prefixes: 0, rules: 0 };
    const state = createForwardingState(SELF);
    events.forEach((event, i) => {
      state.apply(event);
      if (i % 10 !== 0) return;
      for (const table of Object.keys(most) as (keyof typeof most)[]) {
        most[table] = Math.max(most[table], state.tables[table].size);
      }
    });
    for (const size of Object.values(most)) expect(size).toBeGreaterThan(0);
  });

  it('agrees with the reference derivation after every event', () => {
    const state = createForwardingState(SELF);
    events.forEach((event, i) => {
      state.apply(event);
      if (i % 20 === 0 || i === events.length - 1) {
        expect(endpointTables(state.tables)).toEqual(
          endpointTables(referenceTables(SELF, events.slice(0, i + 1))),
        );
      }
    });
    expect(endpointTables(state.tables)).toEqual(expected);
  });

  it('agrees with the reference derivation after every event of a shuffled order', () => {
    const order = shuffled(events, seed * 3);
    const state = createForwardingState(SELF);
    order.forEach((event, i) => {
      state.apply(event);
      if (i % 20 === 0) {
        expect(endpointTables(state.tables)).toEqual(
          endpointTables(referenceTables(SELF, order.slice(0, i + 1))),
        );
      }
    });
  });

  it.each([
    ['reversed', reversed],
    ['shuffled', (e: typeof events) => shuffled(e, seed * 7)],
    ['duplicated', duplicated],
    ['redelivered late', (e: typeof events) => redeliveredLate(e, seed * 11)],
    ['squashed', squashed],
    ['squashed and shuffled', (e: typeof events) => shuffled(squashed(e), seed * 13)],
  ])('folds %s to the same digest', (_name, variant) => {
    const state = applyEvents(createForwardingState(SELF), variant(events));
    expect(tablesToJson(state.tables)).toEqual(tablesToJson(inOrder.tables));
    expect(digest(state)).toBe(digest(inOrder));
    expect(endpointTables(state.tables)).toEqual(expected);
  });

  it('folds split through a snapshot to the same digest', () => {
    const random = prng(seed * 17);
    const order = shuffled(events, seed * 19);
    for (let i = 0; i < 4; i++) {
      const cut = Math.floor(random() * order.length);
      const first = applyEvents(createForwardingState(SELF), order.slice(0, cut));
      const stored = JSON.parse(JSON.stringify(snapshot(first))) as unknown;
      const second = applyEvents(restore(stored), order.slice(Math.max(0, cut - 10)));
      expect(digest(second)).toBe(digest(inOrder));
      // A compiled state that goes on folding gives the same tables as one that compiles once.
      first.takeChanges();
      applyEvents(first, order.slice(cut));
      expect(digest(first)).toBe(digest(inOrder));
    }
  });

  it('reconciles incrementally from the changed keys to the tables a full diff gives', () => {
    const state = createForwardingState(SELF);
    const applied = emptyTables();
    const random = prng(seed * 23);
    shuffled(events, seed * 29).forEach((event) => {
      state.apply(event);
      if (random() < 0.3) return; // let several events' changes pile up
      const delta = diffChanged(state.tables, applied, state.takeChanges());
      applyDeltaInPlace(applied, delta);
      expect(isEmptyDelta(diff(state.tables, applied))).toBe(true);
    });
    applyDeltaInPlace(applied, diffChanged(state.tables, applied, state.takeChanges()));
    expect(digest(applied)).toBe(digest(inOrder));
  });
});
