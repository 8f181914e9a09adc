import {
  DOMAIN_EVENT_TYPES,
  type BackendHealthEvent,
  type EndpointEvent,
  type FlowReportEvent,
  type Labels,
  type NodeEvent,
  type PolicyEvent,
  type SegmentEvent,
} from '@strata/domain';
import type { RecordedEvent } from '@strata/eventstore';
import { digestTables } from './digest';
import {
  interfaceName,
  placeholderIdentity,
  safeIdentity,
  type IdentityFunction,
} from './identity';
import {
  FORWARDING_SNAPSHOT_VERSION,
  isLabels,
  parseSnapshot,
  type FoldStats,
  type ForwardingSnapshot,
  type SnapshotEndpoint,
} from './snapshot';
import {
  compareKeys,
  emptyChanges,
  emptyTables,
  type ChangedKeys,
  type ForwardingTables,
  type LocalEndpointEntry,
  type RemoteEndpointEntry,
} from './tables';

/**
 * The pure fold from the event log to one node's desired forwarding state.
 *
 * Rules (each table is a function of the aggregates' current states, never of arrival order):
 * - local: every endpoint on this node, by IP — interface name from the uid, MAC, the VNI of
 *   its segment (0 while the segment is unknown or deleted) and its source identity;
 * - remote: every endpoint on another node that is registered and not down, in a segment that
 *   exists, by IP — that node's VTEP, the segment's VNI, the endpoint's MAC and identity. A down
 *   node's endpoints drop out (the failover hook) and come back when it recovers. External
 *   endpoints (on no node) are in neither table;
 * - vteps: every other node that is registered and not down, by name;
 * - one IP, one owner: should two live endpoints claim an IP, the smallest uid owns it.
 *
 * Idempotence and order: the fold keeps the last folded revision of each stream it reads and
 * skips anything at or below it, so a re-delivered or replayed event changes nothing. Events of
 * one stream must arrive in revision order (gaps are fine: a squashed history works); events of
 * different streams may arrive in any interleaving and give the same tables.
 *
 * Cost: O(1) per endpoint or heartbeat event; a node or segment event touches that node's or
 * segment's endpoints. Tables are mutated in place and exposed read-only; entries are replaced,
 * never mutated.
 */

/** What the fold reads of a recorded event: a RecordedEvent fits, so does a replayed one. */
export type FoldableEvent = Pick<
  RecordedEvent,
  'stream' | 'revision' | 'position' | 'type' | 'data'
>;

export type ApplyOutcome = 'applied' | 'duplicate' | 'ignored' | 'unknown' | 'rejected';

export interface ForwardingOptions {
  /** Source identity of a label set; the placeholder until the identity allocator lands. */
  readonly identityOf?: IdentityFunction;
}

export interface RestoreOptions extends ForwardingOptions {
  /** The node to restore as; default the snapshot's own. */
  readonly asNode?: string;
}

interface EndpointRecord {
  readonly uid: string;
  readonly segmentId: string;
  node: string;
  readonly ip: string;
  readonly mac: string;
  labels: Labels;
  identity: number;
  /** interfaceName(uid), computed the first time the endpoint is local. */
  interfaceName?: string;
}

interface NodeRecord {
  readonly vtepAddress: string;
  readonly vtepMac: string;
  down: boolean;
}

/** Strata event types the fold skips: the rest of the domain, and policy, health and flows. */
const NOT_FOLDED: ReadonlySet<string> = new Set<string>([
  ...DOMAIN_EVENT_TYPES,
  ...([
    'PolicyCreated',
    'PolicyUpdated',
    'PolicyDeleted',
    'BackendHealthChanged',
    'FlowsReported',
  ] satisfies (PolicyEvent | BackendHealthEvent | FlowReportEvent)['type'][]),
]);

type FoldedType = EndpointEvent['type'] | NodeEvent['type'] | SegmentEvent['type'];
type Handler = (state: ForwardingState, data: Record<string, unknown>) => boolean;

export class ForwardingState {
  readonly node: string;
  /** The desired tables. Read-only views of live maps: copy (copyTables) to keep a version. */
  readonly tables: ForwardingTables;

  private readonly identityOf: IdentityFunction;
  private lastPosition = 0;
  private readonly counts = { applied: 0, duplicates: 0, ignored: 0, unknown: 0, rejected: 0 };
  private readonly revisions = new Map<string, number>();
  private readonly segments = new Map<string, number>();
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly endpoints = new Map<string, EndpointRecord>();
  private readonly endpointsByNode = new Map<string, Set<string>>();
  private readonly endpointsBySegment = new Map<string, Set<string>>();
  /** The uids of the live endpoints claiming each IP: almost always one. */
  private readonly endpointsByIp = new Map<string, string[]>();
  private readonly mutable = emptyTables();
  /** One string per node and segment name (see intern). */
  private readonly names = new Map<string, string>();
  /** Keys written or removed since the last takeChanges(), per table: the reconciler's work. */
  private changed: ChangedKeys = emptyChanges();

  constructor(node: string, options: ForwardingOptions = {}) {
    if (typeof node !== 'string' || node === '') {
      throw new TypeError('a forwarding state needs the name of its node');
    }
    this.node = node;
    this.identityOf = options.identityOf ?? placeholderIdentity;
    this.tables = this.mutable;
  }

  /** The highest log position folded (including skipped events); 0 before any. */
  get position(): number {
    return this.lastPosition;
  }

  get stats(): FoldStats {
    return { ...this.counts };
  }

  /**
   * The keys of each table that may have changed since the previous call (a key can be listed
   * and still hold an equal entry: a relabel that keeps the identity, a node that went down and
   * came back). The reconciler compares only these against what it applied, so a change costs
   * O(keys it touched), not O(table).
   */
  takeChanges(): ChangedKeys {
    const changes = this.changed;
    this.changed = emptyChanges();
    return changes;
  }

  /** Folds one event into the state; says what it did with it. Never throws on bad input. */
  apply(event: FoldableEvent): ApplyOutcome {
    if (event.position > this.lastPosition) this.lastPosition = event.position;
    const handler = ForwardingState.handlers.get(event.type);
    if (handler === undefined) {
      const known = NOT_FOLDED.has(event.type);
      this.counts[known ? 'ignored' : 'unknown']++;
      return known ? 'ignored' : 'unknown';
    }
    const last = this.revisions.get(event.stream);
    if (last !== undefined && event.revision <= last) {
      this.counts.duplicates++;
      return 'duplicate';
    }
    const data = event.data;
    if (
      typeof data !== 'object' ||
      data === null ||
      !handler(this, data as Record<string, unknown>)
    ) {
      this.counts.rejected++;
      return 'rejected';
    }
    this.revisions.set(event.stream, event.revision);
    this.counts.applied++;
    return 'applied';
  }

  /** A JSON-serialisable copy of the state, restorable with `ForwardingState.restore`. */
  snapshot(): ForwardingSnapshot {
    const byKey =
      <T>(key: (item: T) => string) =>
      (a: T, b: T) =>
        compareKeys(key(a), key(b));
    return {
      version: FORWARDING_SNAPSHOT_VERSION,
      node: this.node,
      position: this.lastPosition,
      revisions: [...this.revisions].sort(byKey(([stream]) => stream)),
      segments: [...this.segments]
        .map(([segmentId, vni]) => ({ segmentId, vni }))
        .sort(byKey((s) => s.segmentId)),
      nodes: [...this.nodes]
        .map(([name, { vtepAddress, vtepMac, down }]) => ({ name, vtepAddress, vtepMac, down }))
        .sort(byKey((n) => n.name)),
      endpoints: [...this.endpoints.values()]
        .map(({ uid, segmentId, node, ip, mac, labels }) => ({
          uid,
          segmentId,
          node,
          ip,
          mac,
          labels,
        }))
        .sort(byKey((e) => e.uid)),
      stats: this.stats,
    };
  }

  /**
   * The state a snapshot holds, tables rebuilt from its facts. Pass the same options as the
   * state it was taken from (the identity function is code, not data). Throws InvalidSnapshot.
   */
  static restore(value: unknown, options: RestoreOptions = {}): ForwardingState {
    const snapshot = parseSnapshot(value);
    // The facts are the same for every node: a snapshot taken as one node restores as any.
    const state = new ForwardingState(options.asNode ?? snapshot.node, options);
    state.lastPosition = snapshot.position;
    const { applied, duplicates, ignored, unknown, rejected } = snapshot.stats;
    Object.assign(state.counts, { applied, duplicates, ignored, unknown, rejected });
    for (const [stream, revision] of snapshot.revisions) state.revisions.set(stream, revision);
    for (const { segmentId, vni } of snapshot.segments) state.segments.set(segmentId, vni);
    for (const { name, vtepAddress, vtepMac, down } of snapshot.nodes) {
      state.nodes.set(name, { vtepAddress, vtepMac, down });
      state.refreshVtep(name);
    }
    for (const endpoint of snapshot.endpoints) state.addEndpoint(endpoint);
    return state;
  }

  // --- endpoints -------------------------------------------------------------------------

  private addEndpoint(data: SnapshotEndpoint): void {
    const { uid, ip, mac, labels } = data;
    // Node and segment names repeat across thousands of endpoints: keep one copy of each.
    const node = this.intern(data.node);
    const segmentId = this.intern(data.segmentId);
    if (this.endpoints.has(uid)) this.removeEndpoint(uid);
    const identity = safeIdentity(this.identityOf, labels);
    this.endpoints.set(uid, { uid, segmentId, node, ip, mac, labels, identity });
    addTo(this.endpointsByNode, node, uid);
    addTo(this.endpointsBySegment, segmentId, uid);
    const claimants = this.endpointsByIp.get(ip);
    if (claimants === undefined) this.endpointsByIp.set(ip, [uid]);
    else claimants.push(uid);
    this.refreshIp(ip);
  }

  private intern(name: string): string {
    const known = this.names.get(name);
    if (known !== undefined) return known;
    this.names.set(name, name);
    return name;
  }

  private removeEndpoint(uid: string): void {
    const endpoint = this.endpoints.get(uid);
    if (endpoint === undefined) return;
    this.endpoints.delete(uid);
    removeFrom(this.endpointsByNode, endpoint.node, uid);
    removeFrom(this.endpointsBySegment, endpoint.segmentId, uid);
    const claimants = this.endpointsByIp.get(endpoint.ip)!;
    if (claimants.length === 1) this.endpointsByIp.delete(endpoint.ip);
    else claimants.splice(claimants.indexOf(uid), 1);
    this.refreshIp(endpoint.ip);
  }

  private relabelEndpoint(uid: string, labels: Labels): void {
    const endpoint = this.endpoints.get(uid);
    if (endpoint === undefined) return;
    endpoint.labels = labels;
    const identity = safeIdentity(this.identityOf, labels);
    if (identity === endpoint.identity) return; // labels reach the tables only as the identity
    endpoint.identity = identity;
    this.refreshIp(endpoint.ip);
  }

  private moveEndpoint(uid: string, node: string): void {
    const endpoint = this.endpoints.get(uid);
    if (endpoint === undefined) return;
    removeFrom(this.endpointsByNode, endpoint.node, uid);
    endpoint.node = this.intern(node);
    addTo(this.endpointsByNode, node, uid);
    this.refreshIp(endpoint.ip);
  }

  // --- nodes and segments ----------------------------------------------------------------

  private setNode(name: string, node: NodeRecord | undefined): void {
    if (node === undefined) this.nodes.delete(name);
    else this.nodes.set(name, node);
    this.refreshVtep(name);
    this.refreshAll(this.endpointsByNode.get(name));
  }

  private setSegment(segmentId: string, vni: number | undefined): void {
    if (vni === undefined) this.segments.delete(segmentId);
    else this.segments.set(segmentId, vni);
    this.refreshAll(this.endpointsBySegment.get(segmentId));
  }

  // --- derivation ------------------------------------------------------------------------

  private liveNode(name: string): NodeRecord | undefined {
    const node = this.nodes.get(name);
    return node === undefined || node.down ? undefined : node;
  }

  private refreshVtep(name: string): void {
    if (name === this.node) return;
    const node = this.liveNode(name);
    if (node === undefined) this.mutable.vteps.delete(name);
    else this.mutable.vteps.set(name, { address: node.vtepAddress, mac: node.vtepMac });
    this.changed.vteps.add(name);
  }

  private refreshAll(uids: ReadonlySet<string> | undefined): void {
    if (uids === undefined) return;
    for (const uid of uids) this.refreshIp(this.endpoints.get(uid)!.ip);
  }

  /** Recomputes the local and remote entries for `ip` from its owner's current facts. */
  private refreshIp(ip: string): void {
    const owner = this.ownerOf(ip);
    let local: LocalEndpointEntry | undefined;
    let remote: RemoteEndpointEntry | undefined;
    if (owner !== undefined) {
      const vni = this.segments.get(owner.segmentId);
      if (owner.node === this.node) {
        local = {
          uid: owner.uid,
          interfaceName: (owner.interfaceName ??= interfaceName(owner.uid)),
          mac: owner.mac,
          vni: vni ?? 0,
          identity: owner.identity,
        };
      } else if (owner.node !== '' && vni !== undefined) {
        const node = this.liveNode(owner.node);
        if (node !== undefined) {
          remote = {
            uid: owner.uid,
            node: owner.node,
            vtepAddress: node.vtepAddress,
            vtepMac: node.vtepMac,
            mac: owner.mac,
            vni,
            identity: owner.identity,
          };
        }
      }
    }
    setOrDelete(this.mutable.local, ip, local);
    setOrDelete(this.mutable.remote, ip, remote);
    this.changed.local.add(ip);
    this.changed.remote.add(ip);
  }

  private ownerOf(ip: string): EndpointRecord | undefined {
    const claimants = this.endpointsByIp.get(ip);
    if (claimants === undefined) return undefined;
    let owner = claimants[0];
    for (let i = 1; i < claimants.length; i++) if (claimants[i] < owner) owner = claimants[i];
    return this.endpoints.get(owner);
  }

  /**
   * One handler per folded event type; false when the payload lacks what it needs. A Map, so
   * no event type can reach Object.prototype.
   */
  private static readonly handlers: ReadonlyMap<string, Handler> = new Map(
    Object.entries({
      EndpointCreated: (state, { uid, segmentId, node, ip, mac, labels }) => {
        if (!isText(uid) || !isText(segmentId) || !isText(node) || !isText(ip)) return false;
        if (!isText(mac) || !isLabels(labels)) return false;
        state.addEndpoint({ uid, segmentId, node, ip, mac, labels });
        return true;
      },
      EndpointLabelsUpdated: (state, { uid, labels }) => {
        if (!isText(uid) || !isLabels(labels)) return false;
        state.relabelEndpoint(uid, labels);
        return true;
      },
      EndpointMoved: (state, { uid, node }) => {
        if (!isText(uid) || !isText(node)) return false;
        state.moveEndpoint(uid, node);
        return true;
      },
      EndpointDeleted: (state, { uid }) => {
        if (!isText(uid)) return false;
        state.removeEndpoint(uid);
        return true;
      },
      NodeRegistered: (state, { name, vtepAddress, vtepMac }) => {
        if (!isText(name) || !isText(vtepAddress) || !isText(vtepMac)) return false;
        state.setNode(name, { vtepAddress, vtepMac, down: false });
        return true;
      },
      // Liveness is decided by the node service; a heartbeat changes no table.
      NodeHeartbeatRecorded: (_state, { name }) => isText(name),
      NodeMarkedDown: (state, { name }) => {
        if (!isText(name)) return false;
        const node = state.nodes.get(name);
        if (node !== undefined && !node.down) state.setNode(name, { ...node, down: true });
        return true;
      },
      NodeRecovered: (state, { name }) => {
        if (!isText(name)) return false;
        const node = state.nodes.get(name);
        if (node !== undefined && node.down) state.setNode(name, { ...node, down: false });
        return true;
      },
      NodeDeregistered: (state, { name }) => {
        if (!isText(name)) return false;
        state.setNode(name, undefined);
        return true;
      },
      SegmentCreated: (state, { segmentId, vni }) => {
        if (!isText(segmentId) || typeof vni !== 'number' || !Number.isInteger(vni)) return false;
        state.setSegment(segmentId, vni);
        return true;
      },
      // Name, subnets and the federated flag do not shape forwarding; the VNI is fixed for life.
      SegmentUpdated: (_state, { segmentId }) => isText(segmentId),
      SegmentDeleted: (state, { segmentId }) => {
        if (!isText(segmentId)) return false;
        state.setSegment(segmentId, undefined);
        return true;
      },
    } satisfies Record<FoldedType, Handler>),
  );
}

function isText(value: unknown): value is string {
  return typeof value === 'string';
}

function addTo(index: Map<string, Set<string>>, key: string, uid: string): void {
  const set = index.get(key);
  if (set === undefined) index.set(key, new Set([uid]));
  else set.add(uid);
}

function removeFrom(index: Map<string, Set<string>>, key: string, uid: string): void {
  const set = index.get(key);
  if (set === undefined) return;
  set.delete(uid);
  if (set.size === 0) index.delete(key);
}

function setOrDelete<Entry>(table: Map<string, Entry>, key: string, entry: Entry | undefined) {
  if (entry === undefined) table.delete(key);
  else table.set(key, entry);
}

// --- the functional surface ----------------------------------------------------------------

export function createForwardingState(node: string, options?: ForwardingOptions): ForwardingState {
  return new ForwardingState(node, options);
}

/** Folds `event` into `state` in place and returns `state` (no copy: the fold is hot). */
export function applyEvent(state: ForwardingState, event: FoldableEvent): ForwardingState {
  state.apply(event);
  return state;
}

/** Folds every event, in order, into `state` in place and returns it. */
export function applyEvents(
  state: ForwardingState,
  events: Iterable<FoldableEvent>,
): ForwardingState {
  for (const event of events) state.apply(event);
  return state;
}

export function snapshot(state: ForwardingState): ForwardingSnapshot {
  return state.snapshot();
}

export function restore(value: unknown, options?: RestoreOptions): ForwardingState {
  return ForwardingState.restore(value, options);
}

/** The canonical digest of a state's tables, or of any table set (an agent's applied maps). */
export function digest(source: ForwardingState | ForwardingTables): string {
  return digestTables(source instanceof ForwardingState ? source.tables : source);
}
