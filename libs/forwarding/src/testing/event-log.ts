import {
  endpointDecider,
  nodeDecider,
  policyDecider,
  segmentDecider,
  type EndpointEvent,
  type EndpointState,
  type NodeEvent,
  type NodeState,
  type PolicyEvent,
  type SegmentEvent,
  type SegmentState,
} from '@strata/domain';
import type { FoldableEvent } from '../forwarding-state';
import { interfaceName, readIdentity } from '../identity';
import { compareKeys, emptyTables, type MutableTables } from '../tables';

/**
 * Test support for the forwarding specs: a log builder, the order variants the fold must be
 * indifferent to (the Felix calc-graph discipline: reversed, duplicated, squashed, split), and
 * a reference model that derives the tables the slow, obvious way from the domain's own evolve.
 */

/** Builds a log as the store would: per-stream revisions from 0, increasing sparse positions. */
export class EventLog {
  private readonly recorded: FoldableEvent[] = [];
  private readonly revisions = new Map<string, number>();
  private nextPosition = 1;

  append(stream: string, ...events: { type: string; data: unknown }[]): this {
    for (const { type, data } of events) {
      const revision = (this.revisions.get(stream) ?? -1) + 1;
      this.revisions.set(stream, revision);
      this.recorded.push({ stream, revision, position: this.nextPosition, type, data });
      // Sparse like a real store (positions are not dense).
      this.nextPosition += 1 + (revision % 3);
    }
    return this;
  }

  get events(): readonly FoldableEvent[] {
    return this.recorded;
  }
}

/** A seeded PRNG (mulberry32): variants are reproducible from their seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Re-interleaves streams by a sequence of picks while keeping each stream's own order: the
 * orders in which independent aggregates' events could have reached the log.
 */
function interleave(events: readonly FoldableEvent[], streamOrder: readonly string[]) {
  const queues = new Map<string, FoldableEvent[]>();
  for (const event of events) {
    const queue = queues.get(event.stream);
    if (queue === undefined) queues.set(event.stream, [event]);
    else queue.push(event);
  }
  return streamOrder.map((stream) => queues.get(stream)!.shift()!);
}

/** The interleaving reversed: the last stream to write goes first; each stream keeps its order. */
export function reversed(events: readonly FoldableEvent[]): FoldableEvent[] {
  return interleave(events, events.map((event) => event.stream).reverse());
}

/** A random interleaving (each stream keeps its order). */
export function shuffled(events: readonly FoldableEvent[], seed: number): FoldableEvent[] {
  const random = prng(seed);
  const streams = events.map((event) => event.stream);
  for (let i = streams.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [streams[i], streams[j]] = [streams[j], streams[i]];
  }
  return interleave(events, streams);
}

/** Every event delivered twice in a row, then the whole log redelivered (a relay failover). */
export function duplicated(events: readonly FoldableEvent[]): FoldableEvent[] {
  return [...events.flatMap((event) => [event, event]), ...events];
}

/**
 * The log, then every event again in a random order (stream order ignored): stale
 * re-deliveries that arrive after newer events of their stream must change nothing.
 */
export function redeliveredLate(events: readonly FoldableEvent[], seed: number): FoldableEvent[] {
  const random = prng(seed);
  const again = [...events];
  for (let i = again.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [again[i], again[j]] = [again[j], again[i]];
  }
  return [...events, ...again];
}

/**
 * Each endpoint, node, segment and policy stream cut down to the fewest events that give its final
 * state, at the stream's last revisions and positions (a compacted history); other streams
 * keep every event.
 */
export function squashed(events: readonly FoldableEvent[]): FoldableEvent[] {
  const byStream = new Map<string, FoldableEvent[]>();
  for (const event of events) {
    const list = byStream.get(event.stream) ?? [];
    list.push(event);
    byStream.set(event.stream, list);
  }
  const out: FoldableEvent[] = [];
  for (const [stream, list] of byStream) {
    const ordered = [...list].sort((a, b) => a.revision - b.revision);
    const minimal = minimalHistory(stream, ordered);
    if (minimal === undefined) {
      out.push(...ordered);
      continue;
    }
    const tail = ordered.slice(ordered.length - minimal.length);
    minimal.forEach((event, i) => {
      const { stream: s, revision, position } = tail[i];
      out.push({ stream: s, revision, position, ...event });
    });
  }
  return out.sort((a, b) => a.position - b.position);
}

type Minimal = { type: string; data: unknown }[];

function minimalHistory(stream: string, events: readonly FoldableEvent[]): Minimal | undefined {
  const category = stream.slice(0, stream.indexOf('-'));
  if (category === 'endpoint') {
    const state = fold(endpointDecider, events as unknown as EndpointEvent[]);
    if (state.status === 'empty') return [];
    if (state.status === 'deleted') return [{ type: 'EndpointDeleted', data: { uid: state.uid } }];
    const { status: _status, ...data } = state;
    return [{ type: 'EndpointCreated', data }];
  }
  if (category === 'node') {
    const state = fold(nodeDecider, events as unknown as NodeEvent[]);
    if (state.status === 'empty') return [];
    if (state.status === 'deregistered') {
      return [{ type: 'NodeDeregistered', data: { name: state.name } }];
    }
    const { name, vtepAddress, vtepMac, lastHeartbeatAt } = state;
    const registered = {
      type: 'NodeRegistered',
      data: { name, vtepAddress, vtepMac, registeredAt: lastHeartbeatAt },
    };
    if (state.status === 'ready') return [registered];
    const down = { name, at: state.downAt, lastHeartbeatAt, timeoutMs: 30_000 };
    return [registered, { type: 'NodeMarkedDown', data: down }];
  }
  if (category === 'policy') {
    const state = fold(policyDecider, events as unknown as PolicyEvent[]);
    if (state.status === 'empty') return [];
    if (state.status === 'deleted') {
      return [{ type: 'PolicyDeleted', data: { policyId: state.policyId } }];
    }
    const { status: _status, ...data } = state;
    return [{ type: 'PolicyCreated', data }];
  }
  if (category === 'segment') {
    const state = fold(segmentDecider, events as unknown as SegmentEvent[]);
    if (state.status === 'empty') return [];
    if (state.status === 'deleted') {
      return [{ type: 'SegmentDeleted', data: { segmentId: state.segmentId } }];
    }
    const { status: _status, ...data } = state;
    return [{ type: 'SegmentCreated', data }];
  }
  return undefined;
}

function fold<State, Ev>(
  decider: { evolve: (state: State, event: Ev) => State; initialState: () => State },
  events: readonly Ev[],
): State {
  return events.reduce(decider.evolve, decider.initialState());
}

/**
 * The endpoint tables (local, remote, vteps) by the book: fold each stream (deduplicated, in
 * revision order) with the domain's own `evolve`, then derive every entry from the final
 * aggregate states. Slow and obvious; the incremental fold must agree with it on every log.
 * The policy tables are left empty: the policy specs hold them against the reference evaluator.
 */
export function referenceTables(self: string, events: readonly FoldableEvent[]): MutableTables {
  const streams = new Map<string, Map<number, FoldableEvent>>();
  for (const event of events) {
    const category = event.stream.slice(0, event.stream.indexOf('-'));
    if (!['endpoint', 'node', 'segment'].includes(category)) continue;
    const byRevision = streams.get(event.stream) ?? new Map<number, FoldableEvent>();
    if (!byRevision.has(event.revision)) byRevision.set(event.revision, event);
    streams.set(event.stream, byRevision);
  }
  const endpoints: EndpointState[] = [];
  const nodes = new Map<string, NodeState>();
  const segments = new Map<string, SegmentState>();
  for (const [stream, byRevision] of streams) {
    const ordered = [...byRevision.values()].sort((a, b) => a.revision - b.revision);
    const id = stream.slice(stream.indexOf('-') + 1);
    if (stream.startsWith('endpoint-')) {
      endpoints.push(fold(endpointDecider, ordered as unknown as EndpointEvent[]));
    } else if (stream.startsWith('node-')) {
      nodes.set(id, fold(nodeDecider, ordered as unknown as NodeEvent[]));
    } else {
      segments.set(id, fold(segmentDecider, ordered as unknown as SegmentEvent[]));
    }
  }
  const tables = emptyTables();
  for (const [name, node] of nodes) {
    if (name !== self && node.status === 'ready') {
      tables.vteps.set(name, { address: node.vtepAddress, mac: node.vtepMac });
    }
  }
  const claimed = new Set<string>();
  const active = endpoints
    .flatMap((endpoint) => (endpoint.status === 'active' ? [endpoint] : []))
    .sort((a, b) => compareKeys(a.uid, b.uid));
  for (const endpoint of active) {
    if (claimed.has(endpoint.ip)) continue;
    claimed.add(endpoint.ip);
    const segment = segments.get(endpoint.segmentId);
    const vni = segment?.status === 'active' ? segment.vni : undefined;
    const identity = readIdentity(endpoint.identity);
    const node = nodes.get(endpoint.node);
    if (endpoint.node === self) {
      tables.local.set(endpoint.ip, {
        uid: endpoint.uid,
        interfaceName: interfaceName(endpoint.uid),
        mac: endpoint.mac,
        vni: vni ?? 0,
        identity,
      });
    } else if (vni !== undefined && node?.status === 'ready') {
      tables.remote.set(endpoint.ip, {
        uid: endpoint.uid,
        node: endpoint.node,
        vtepAddress: node.vtepAddress,
        vtepMac: node.vtepMac,
        mac: endpoint.mac,
        vni,
        identity,
      });
    }
  }
  return tables;
}
