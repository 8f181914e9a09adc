import {
  DomainError,
  endpointDecider,
  nodeDecider,
  segmentDecider,
  type Decider,
  type Labels,
} from '@strata/domain';
import { applyEvents, createForwardingState, digest, restore, snapshot } from './forwarding-state';
import { applyDeltaInPlace, diff, diffChanged, isEmptyDelta } from './diff';
import { emptyTables, tablesToJson } from './tables';
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
 * that they get reused and contended. Every variant of every history must fold to the tables
 * the reference derivation gives.
 */

const SELF = 'node-1';
const NODES = ['node-1', 'node-2', 'node-3', 'node-4', 'node-5'];
const SEGMENTS = ['s1', 's2', 's3', 's4', 's5'];
const LABELS: Labels[] = [{ app: 'web' }, { app: 'db', tier: 'backend' }, { app: 'cache' }];

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
    if (roll < 0.04) {
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
    } else if (roll < 0.3) {
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
      const command = fresh
        ? random() < 0.9
          ? {
              type: 'CreateEndpoint',
              data: {
                uid,
                kind: 'pod',
                segmentId: pick([...SEGMENTS, 's9']), // s9 never exists
                node: pick(NODES),
                ip: `10.0.0.${1 + Math.floor(random() * 40)}`,
                mac: `0a:58:0a:00:00:${(16 + Math.floor(random() * 200)).toString(16)}`,
                labels: pick(LABELS),
              },
            }
          : {
              type: 'CreateEndpoint',
              data: { uid, kind: 'external', segmentId: 's1', ip: '10.0.9.1', labels: {} },
            }
        : kind < 0.4
          ? { type: 'UpdateEndpointLabels', data: { uid, labels: pick(LABELS) } }
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
  const expected = tablesToJson(referenceTables(SELF, events));
  const inOrder = applyEvents(createForwardingState(SELF), events);

  it('is a history worth testing', () => {
    expect(events.length).toBeGreaterThan(400);
    expect(expected.local.length).toBeGreaterThan(0);
    expect(expected.remote.length).toBeGreaterThan(0);
    const types = new Set(events.map((event) => event.type));
    expect(types.size).toBeGreaterThanOrEqual(10);
  });

  it('agrees with the reference derivation after every event', () => {
    const state = createForwardingState(SELF);
    events.forEach((event, i) => {
      state.apply(event);
      if (i % 20 === 0 || i === events.length - 1) {
        expect(tablesToJson(state.tables)).toEqual(
          tablesToJson(referenceTables(SELF, events.slice(0, i + 1))),
        );
      }
    });
    expect(tablesToJson(state.tables)).toEqual(expected);
  });

  it('agrees with the reference derivation after every event of a shuffled order', () => {
    const order = shuffled(events, seed * 3);
    const state = createForwardingState(SELF);
    order.forEach((event, i) => {
      state.apply(event);
      if (i % 20 === 0) {
        expect(tablesToJson(state.tables)).toEqual(
          tablesToJson(referenceTables(SELF, order.slice(0, i + 1))),
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
    expect(digest(state)).toBe(digest(inOrder));
    expect(tablesToJson(state.tables)).toEqual(expected);
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
