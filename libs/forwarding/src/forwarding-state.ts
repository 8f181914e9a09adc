import {
  DOMAIN_EVENT_TYPES,
  MIN_CIDR_IDENTITY,
  POLICY_DIRECTIONS,
  formatIpv4,
  policyRuleId,
  readPolicySpec,
  type BackendHealthEvent,
  type EndpointEvent,
  type FlowReportEvent,
  type Labels,
  type NodeEvent,
  type PolicyEvent,
  type PolicySpec,
  type SegmentEvent,
} from '@strata/domain';
import type { RecordedEvent } from '@strata/eventstore';
import { digestTables } from './digest';
import { interfaceName, readIdentity } from './identity';
import {
  PolicyCompiler,
  type CidrAtom,
  type CompiledUnit,
  type EncodedFunction,
  type IdentityProfile,
} from './policy/compile';
import {
  securityLabelsOf,
  selectorMatches,
  type EndpointFact,
  type NamedPortFact,
  type PolicyFact,
  type PolicyFacts,
} from './policy/facts';
import { addressValue, fnv1a32, maskAddress, toPrefix } from './policy/prefix';
import { PolicyTable } from './policy/table';
import {
  FORWARDING_SNAPSHOT_VERSION,
  isLabels,
  parseNamedPorts,
  parseSnapshot,
  type FoldStats,
  type ForwardingSnapshot,
  type SnapshotEndpoint,
} from './snapshot';
import {
  compareKeys,
  emptyChanges,
  emptyTables,
  sameEntry,
  type ChangedKeys,
  type ForwardingTables,
  type LocalEndpointEntry,
  type MutableTables,
  type PrefixEntry,
  type RemoteEndpointEntry,
  type RuleEntry,
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
 * - policy, prefixes, rules: docs/policy.md. Endpoint identities come from the endpoints' own
 *   events (EndpointCreated / EndpointLabelsUpdated `identity`; 0 when absent or invalid);
 *   policies from PolicyCreated / PolicyUpdated (readPolicySpec: v1 upcast, invalid rejected).
 *
 * Cost: O(1) per event (a node or segment event too). Every table is derived lazily: an event
 * updates the facts and marks the IPs, node names and segments whose entries it may change, and
 * reading `tables` or `takeChanges()` derives each marked key once (a node or segment expanded
 * to its endpoints then), so a batch or a long replay pays for the keys it ends up changing,
 * not for every intermediate entry. Policy is compiled lazily too: events mark the (direction, local identity)
 * units they affect, and reading `tables` or `takeChanges()` compiles them, once per batch. A
 * policy change marks the local identities its old or new selector selects; a change to what
 * an identity looks like to policy (a new or vanished identity, its labels, named ports, an
 * external endpoint's address) marks its own units and those whose rules it can meet (a
 * selector it matches, a CIDR peer if external, a named port it names); a change to the set of
 * CIDR prefixes marks every unit; an endpoint that joins an identity that already exists
 * elsewhere marks nothing. A recompiled unit writes only the peers whose function changed.
 * Tables are mutated in place and exposed read-only; entries are replaced, never mutated.
 */

/** What the fold reads of a recorded event: a RecordedEvent fits, so does a replayed one. */
export type FoldableEvent = Pick<
  RecordedEvent,
  'stream' | 'revision' | 'position' | 'type' | 'data'
>;

export type ApplyOutcome = 'applied' | 'duplicate' | 'ignored' | 'unknown' | 'rejected';

export interface RestoreOptions {
  /** The node to restore as; default the snapshot's own. */
  readonly asNode?: string;
}

interface EndpointRecord extends EndpointFact {
  node: string;
  readonly mac: string;
  labels: Labels;
  identity: number;
  /** interfaceName(uid), computed the first time the endpoint is local. */
  interfaceName?: string;
}

/**
 * The endpoints holding one identity: the smallest uid stands for it (its labels, kind and
 * address), and its named ports are the union over all of them (counted, to remove in O(1)).
 */
interface Holding {
  readonly uids: Set<string>;
  first: string;
  /** `<protocol>/<name>/<port>` -> how many holders name it. */
  readonly ports: Map<string, number>;
}

/** A policy change waiting for the next compile: which local identities it may touch. */
interface PolicyChange {
  readonly before: PolicySpec | undefined;
  readonly after: PolicySpec | undefined;
}

/** The tables the fold writes: `policy` kept grouped by (direction, local, peer). */
type FoldTables = Omit<MutableTables, 'policy'> & { readonly policy: PolicyTable };

const UNIT_DIRECTIONS = [
  ['i', 'ingress'],
  ['e', 'egress'],
] as const;
const MAX_CIDR_IDENTITY = 0xfffffffe; // 0xffffffff is the `*` peer in the BPF key

interface NodeRecord {
  readonly vtepAddress: string;
  readonly vtepMac: string;
  down: boolean;
}

/** Strata event types the fold skips: the rest of the domain, health and flows. */
const NOT_FOLDED: ReadonlySet<string> = new Set<string>([
  ...DOMAIN_EVENT_TYPES,
  ...(['BackendHealthChanged', 'FlowsReported'] satisfies (
    BackendHealthEvent | FlowReportEvent
  )['type'][]),
]);

type FoldedType =
  EndpointEvent['type'] | NodeEvent['type'] | SegmentEvent['type'] | PolicyEvent['type'];
type Handler = (
  state: ForwardingState,
  data: Record<string, unknown>,
  event: FoldableEvent,
) => boolean;

export class ForwardingState {
  readonly node: string;
  private lastPosition = 0;
  private readonly counts = { applied: 0, duplicates: 0, ignored: 0, unknown: 0, rejected: 0 };
  private readonly revisions = new Map<string, number>();
  /**
   * The revisions a restored snapshot held, sorted by stream and looked up by binary search
   * under `revisions` (which wins): a snapshot of a long history names every stream it ever
   * saw, and a restore that built a Map of them would pay for streams no later event touches.
   */
  private restoredRevisions: ReadonlyArray<readonly [string, number]> = [];
  private readonly segments = new Map<string, number>();
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly endpoints = new Map<string, EndpointRecord>();
  private readonly endpointsByNode = new Map<string, Set<string>>();
  private readonly endpointsBySegment = new Map<string, Set<string>>();
  /** The uids of the live endpoints claiming each IP: almost always one. */
  private readonly endpointsByIp = new Map<string, string[]>();
  private readonly mutable: FoldTables = { ...emptyTables(), policy: new PolicyTable() };
  /** One string per node and segment name (see intern). */
  private readonly names = new Map<string, string>();
  /** Keys written or removed since the last takeChanges(), per table: the reconciler's work. */
  private changed: ChangedKeys = emptyChanges();
  /**
   * Derivation deferred to the next read (see derive): the IPs whose local and remote entries,
   * and the nodes whose VTEP entry, may have changed; a node or segment event marks its name,
   * expanded to its endpoints' IPs only when read.
   */
  private readonly dirtyIps = new Set<string>();
  private readonly dirtyVteps = new Set<string>();
  private readonly dirtyNodes = new Set<string>();
  private readonly dirtySegments = new Set<string>();

  // --- policy facts and the lazy compile ---------------------------------------------------
  private readonly policies = new Map<string, PolicyFact>();
  /** References to each prefix of a CIDR peer (cidr and except), over all policies. */
  private readonly cidrRefs = new Map<string, number>();
  private cidrAtoms = new Map<string, CidrAtom>();
  private cidrsChanged = false;
  /** uids of the endpoints holding each identity (0 excluded). */
  private readonly holders = new Map<number, Holding>();
  private readonly profiles = new Map<number, IdentityProfile>();
  private readonly profileKeys = new Map<number, string>();
  private readonly dirtyIdentities = new Set<number>();
  /** Identities whose profile changed since the last compile: before and after. */
  private profileChanges: {
    identity: number;
    before: IdentityProfile | undefined;
    after: IdentityProfile | undefined;
  }[] = [];
  private readonly externals = new Set<string>();
  private localIdentities = new Set<number>();
  private localChanged = false;
  private policyChanges: PolicyChange[] = [];
  private everythingDirty = false;
  private prefixesDirty = false;
  /** The compiled functions of each unit (`i:<local>` / `e:<local>`) with rows. */
  private readonly compiled = new Map<string, CompiledUnit>();
  /** Kept across batches: it caches what does not change (see PolicyCompiler). */
  private readonly compiler = new PolicyCompiler(this.profiles);
  /** Every claimant of each rule id (a collision is possible): the smallest key owns it. */
  private readonly ruleClaims = new Map<number, Map<string, RuleEntry>>();

  constructor(node: string) {
    if (typeof node !== 'string' || node === '') {
      throw new TypeError('a forwarding state needs the name of its node');
    }
    this.node = node;
  }

  /**
   * The desired tables, compiled up to the last folded event. Read-only views of live maps:
   * copy (copyTables) to keep a version.
   */
  get tables(): ForwardingTables {
    this.derive();
    this.settle();
    return this.mutable;
  }

  /** The facts the reference evaluator decides on (evaluatePolicy). */
  get policyFacts(): PolicyFacts {
    this.settleCidrs();
    return {
      endpointAt: (ip) => this.ownerOf(ip),
      policies: this.policies,
      cidrIdentityOf: (address) => {
        for (let length = 32; length >= 0; length--) {
          const atom = this.cidrAtoms.get(`${formatIpv4(maskAddress(address, length))}/${length}`);
          if (atom !== undefined) return atom.identity;
        }
        return undefined;
      },
    };
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
    this.derive();
    this.settle();
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
    const last = this.revisions.get(event.stream) ?? this.restoredRevision(event.stream);
    if (last !== undefined && event.revision <= last) {
      this.counts.duplicates++;
      return 'duplicate';
    }
    const data = event.data;
    if (
      typeof data !== 'object' ||
      data === null ||
      !handler(this, data as Record<string, unknown>, event)
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
      revisions: this.allRevisions(),
      segments: [...this.segments]
        .map(([segmentId, vni]) => ({ segmentId, vni }))
        .sort(byKey((s) => s.segmentId)),
      nodes: [...this.nodes]
        .map(([name, { vtepAddress, vtepMac, down }]) => ({ name, vtepAddress, vtepMac, down }))
        .sort(byKey((n) => n.name)),
      endpoints: [...this.endpoints.values()]
        .map(({ uid, segmentId, node, ip, mac, labels, kind, identity, namedPorts }) => ({
          uid,
          segmentId,
          node,
          ip,
          mac,
          labels,
          kind,
          identity,
          namedPorts,
        }))
        .sort(byKey((e) => e.uid)),
      policies: [...this.policies.values()]
        .map(({ policyId, revision, spec }) => ({ policyId, revision, spec }))
        .sort(byKey((p) => p.policyId)),
      stats: this.stats,
    };
  }

  /**
   * The state a snapshot holds, tables rebuilt from its facts. Throws InvalidSnapshot (an older
   * version included: the caller replays the log instead).
   */
  static restore(value: unknown, options: RestoreOptions = {}): ForwardingState {
    const snapshot = parseSnapshot(value);
    // The facts are the same for every node: a snapshot taken as one node restores as any.
    const state = new ForwardingState(options.asNode ?? snapshot.node);
    state.lastPosition = snapshot.position;
    const { applied, duplicates, ignored, unknown, rejected } = snapshot.stats;
    Object.assign(state.counts, { applied, duplicates, ignored, unknown, rejected });
    state.restoredRevisions = sortedRevisions(snapshot.revisions);
    for (const { segmentId, vni } of snapshot.segments) state.segments.set(segmentId, vni);
    for (const { name, vtepAddress, vtepMac, down } of snapshot.nodes) {
      state.nodes.set(name, { vtepAddress, vtepMac, down });
      state.refreshVtep(name);
    }
    for (const endpoint of snapshot.endpoints) state.addEndpoint(endpoint);
    for (const { policyId, revision, spec } of snapshot.policies) {
      state.setPolicy(policyId, { policyId, revision, spec });
    }
    return state;
  }

  private restoredRevision(stream: string): number | undefined {
    const restored = this.restoredRevisions;
    let low = 0;
    let high = restored.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const name = restored[middle][0];
      if (name === stream) return restored[middle][1];
      if (name < stream) low = middle + 1;
      else high = middle - 1;
    }
    return undefined;
  }

  /** Every stream's last folded revision, by stream name. */
  private allRevisions(): [string, number][] {
    let all: ReadonlyMap<string, number> = this.revisions;
    if (this.restoredRevisions.length > 0) {
      const merged = new Map<string, number>(this.restoredRevisions);
      for (const [stream, revision] of this.revisions) merged.set(stream, revision);
      all = merged;
    }
    return [...all].sort(([a], [b]) => compareKeys(a, b));
  }

  // --- endpoints -------------------------------------------------------------------------

  private addEndpoint(data: SnapshotEndpoint): void {
    const { uid, ip, mac, labels, kind, identity, namedPorts } = data;
    // Node and segment names repeat across thousands of endpoints: keep one copy of each.
    const node = this.intern(data.node);
    const segmentId = this.intern(data.segmentId);
    if (this.endpoints.has(uid)) this.removeEndpoint(uid);
    const record = { uid, segmentId, node, ip, mac, labels, kind, identity, namedPorts };
    this.endpoints.set(uid, record);
    this.hold(record);
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
    this.release(endpoint);
    this.endpoints.delete(uid);
    removeFrom(this.endpointsByNode, endpoint.node, uid);
    removeFrom(this.endpointsBySegment, endpoint.segmentId, uid);
    const claimants = this.endpointsByIp.get(endpoint.ip)!;
    if (claimants.length === 1) this.endpointsByIp.delete(endpoint.ip);
    else claimants.splice(claimants.indexOf(uid), 1);
    this.refreshIp(endpoint.ip);
  }

  private relabelEndpoint(uid: string, labels: Labels, identity: number): void {
    const endpoint = this.endpoints.get(uid);
    if (endpoint === undefined) return;
    this.release(endpoint);
    endpoint.labels = labels;
    const changed = identity !== endpoint.identity;
    endpoint.identity = identity;
    this.hold(endpoint);
    // The local and remote tables see labels only as the identity.
    if (changed) this.refreshIp(endpoint.ip);
  }

  private moveEndpoint(uid: string, node: string): void {
    const endpoint = this.endpoints.get(uid);
    if (endpoint === undefined) return;
    if (endpoint.node === this.node || node === this.node) this.localChanged = true;
    removeFrom(this.endpointsByNode, endpoint.node, uid);
    endpoint.node = this.intern(node);
    addTo(this.endpointsByNode, node, uid);
    this.refreshIp(endpoint.ip);
  }

  /** The endpoint now holds its identity: what the identity looks like may have changed. */
  private hold(endpoint: EndpointRecord): void {
    if (endpoint.node === this.node) this.localChanged = true;
    if (endpoint.kind === 'external') {
      this.externals.add(endpoint.uid);
      this.prefixesDirty = true;
    }
    if (endpoint.identity === 0) return;
    const { uid, identity, namedPorts } = endpoint;
    let holding = this.holders.get(identity);
    if (holding === undefined) {
      holding = { uids: new Set(), first: uid, ports: new Map() };
      this.holders.set(identity, holding);
    }
    holding.uids.add(uid);
    if (uid < holding.first) holding.first = uid;
    for (const { name, protocol, port } of namedPorts) {
      const key = `${protocol}/${name}/${port}`;
      holding.ports.set(key, (holding.ports.get(key) ?? 0) + 1);
    }
    this.dirtyIdentities.add(endpoint.identity);
  }

  private release(endpoint: EndpointRecord): void {
    if (endpoint.node === this.node) this.localChanged = true;
    if (endpoint.kind === 'external') {
      this.externals.delete(endpoint.uid);
      this.prefixesDirty = true;
    }
    if (endpoint.identity === 0) return;
    const { uid, identity, namedPorts } = endpoint;
    this.dirtyIdentities.add(identity);
    const holding = this.holders.get(identity);
    if (holding === undefined) return;
    holding.uids.delete(uid);
    if (holding.uids.size === 0) {
      this.holders.delete(identity);
      return;
    }
    for (const { name, protocol, port } of namedPorts) {
      const key = `${protocol}/${name}/${port}`;
      const count = holding.ports.get(key)! - 1;
      if (count === 0) holding.ports.delete(key);
      else holding.ports.set(key, count);
    }
    // Only when the endpoint that stands for the identity leaves: O(holders).
    if (holding.first === uid) holding.first = smallestKey(holding.uids);
  }

  // --- policies --------------------------------------------------------------------------

  /** PolicyCreated / PolicyUpdated: the whole spec, validated (and a v1 one upcast). */
  private readPolicy(data: Record<string, unknown>, revision: number): boolean {
    const { policyId } = data;
    if (!isText(policyId) || policyId === '') return false;
    let spec: PolicySpec;
    try {
      spec = readPolicySpec(data);
    } catch {
      return false;
    }
    this.setPolicy(policyId, { policyId, revision, spec });
    return true;
  }

  private setPolicy(policyId: string, policy: PolicyFact | undefined): void {
    const before = this.policies.get(policyId);
    if (before !== undefined) {
      this.policies.delete(policyId);
      this.countCidrs(before.spec, -1);
      this.claimRules(before, false);
    }
    if (policy !== undefined) {
      this.policies.set(policyId, policy);
      this.countCidrs(policy.spec, 1);
      this.claimRules(policy, true);
    }
    this.compiler.setPolicy(policyId, policy);
    if (!this.everythingDirty) {
      this.policyChanges.push({ before: before?.spec, after: policy?.spec });
    }
  }

  private countCidrs(spec: PolicySpec, delta: 1 | -1): void {
    for (const direction of POLICY_DIRECTIONS) {
      for (const rule of spec[direction]) {
        for (const peer of rule.peers) {
          if (!('cidr' in peer)) continue;
          for (const key of [peer.cidr, ...peer.except]) {
            const count = (this.cidrRefs.get(key) ?? 0) + delta;
            if (count === 0) this.cidrRefs.delete(key);
            else this.cidrRefs.set(key, count);
            if (count === 0 || (count === 1 && delta === 1)) this.cidrsChanged = true;
          }
        }
      }
    }
  }

  private claimRules(policy: PolicyFact, claim: boolean): void {
    const { policyId, spec } = policy;
    for (const direction of POLICY_DIRECTIONS) {
      spec[direction].forEach((rule, index) => {
        const id = policyRuleId(policyId, direction, index);
        const claimKey = `${policyId}\u0000${direction}\u0000${index}`;
        let claims = this.ruleClaims.get(id);
        if (claim) {
          if (claims === undefined) this.ruleClaims.set(id, (claims = new Map()));
          claims.set(claimKey, {
            policyId,
            name: spec.name,
            tier: spec.tier,
            direction,
            index,
            action: rule.action,
            staged: spec.staged,
          });
        } else if (claims !== undefined) {
          claims.delete(claimKey);
          if (claims.size === 0) this.ruleClaims.delete(id);
        }
        const key = `${id}`;
        const owner = claims === undefined || claims.size === 0 ? undefined : smallest(claims);
        setOrDelete(this.mutable.rules, key, owner);
        this.changed.rules.add(key);
      });
    }
  }

  // --- the lazy compile ------------------------------------------------------------------

  /** CIDR identities: one per distinct prefix of any CIDR peer, a hash of it, probed in order. */
  private settleCidrs(): void {
    if (!this.cidrsChanged) return;
    this.cidrsChanged = false;
    const atoms = new Map<string, CidrAtom>();
    const used = new Set<number>();
    const span = MAX_CIDR_IDENTITY - MIN_CIDR_IDENTITY + 1;
    for (const key of [...this.cidrRefs.keys()].sort(compareKeys)) {
      const prefix = toPrefix(key);
      if (prefix === undefined) continue;
      let identity = MIN_CIDR_IDENTITY + (fnv1a32(key) % span);
      while (used.has(identity)) {
        identity = identity === MAX_CIDR_IDENTITY ? MIN_CIDR_IDENTITY : identity + 1;
      }
      used.add(identity);
      atoms.set(key, { prefix, identity });
    }
    this.cidrAtoms = atoms;
    this.compiler.setCidrs(atoms);
    this.everythingDirty = true;
    this.prefixesDirty = true;
  }

  /** What identity `identity` looks like to policy, from the endpoints holding it. */
  private settleIdentities(): void {
    for (const identity of this.dirtyIdentities) {
      const holding = this.holders.get(identity);
      if (holding === undefined) {
        const before = this.profiles.get(identity);
        if (before !== undefined) {
          this.profiles.delete(identity);
          this.profileChanges.push({ identity, before, after: undefined });
        }
        this.profileKeys.delete(identity);
        continue;
      }
      const ports = new Map<string, number[]>();
      for (const key of holding.ports.keys()) {
        const slash = key.lastIndexOf('/');
        const name = key.slice(0, slash);
        const list = ports.get(name);
        if (list === undefined) ports.set(name, [Number(key.slice(slash + 1))]);
        else list.push(Number(key.slice(slash + 1)));
      }
      const owner = this.endpoints.get(holding.first)!;
      const labels = securityLabelsOf(owner);
      const namedPorts = new Map(
        [...ports]
          .sort(([a], [b]) => compareKeys(a, b))
          .map(([key, list]) => [key, list.sort((a, b) => a - b)] as const),
      );
      const address = owner.kind === 'external' ? addressValue(owner.ip) : undefined;
      const key = JSON.stringify([
        Object.entries(labels).sort(([a], [b]) => compareKeys(a, b)),
        owner.kind,
        address ?? null,
        [...namedPorts],
      ]);
      if (this.profileKeys.get(identity) !== key) {
        const before = this.profiles.get(identity);
        const after = { identity, labels, kind: owner.kind, address, namedPorts };
        this.profileKeys.set(identity, key);
        this.profiles.set(identity, after);
        this.profileChanges.push({ identity, before, after });
      }
    }
    this.dirtyIdentities.clear();
  }

  /** Compiles every unit an event since the last call may have changed. */
  private settle(): void {
    this.settleCidrs();
    if (this.dirtyIdentities.size > 0) this.settleIdentities();
    const units = new Set<string>();
    if (this.localChanged) {
      this.localChanged = false;
      const now = new Set<number>();
      for (const uid of this.endpointsByNode.get(this.node) ?? []) {
        const identity = this.endpoints.get(uid)!.identity;
        if (identity !== 0) now.add(identity);
      }
      for (const identity of now) {
        if (!this.localIdentities.has(identity))
          for (const [d] of UNIT_DIRECTIONS) units.add(`${d}:${identity}`);
      }
      for (const identity of this.localIdentities) {
        if (!now.has(identity)) for (const [d] of UNIT_DIRECTIONS) units.add(`${d}:${identity}`);
      }
      this.localIdentities = now;
    }
    // The compiler learns of every changed identity (its indexes follow), and says which units
    // the peer can touch. A local identity that changed: its own units too (what selects it may
    // have changed).
    for (const { identity, before, after } of this.profileChanges) {
      const touched = this.compiler.identityChanged(identity, before, after);
      if (this.everythingDirty) continue;
      for (const unit of touched) units.add(unit);
      if (this.localIdentities.has(identity)) {
        for (const [d] of UNIT_DIRECTIONS) units.add(`${d}:${identity}`);
      }
    }
    if (this.everythingDirty) {
      for (const identity of this.localIdentities) {
        for (const [d] of UNIT_DIRECTIONS) units.add(`${d}:${identity}`);
      }
      for (const unit of this.compiled.keys()) units.add(unit);
    } else if (this.policyChanges.length > 0) {
      // Only the local identities not yet marked (the first batch marks them all).
      const pending = [...this.localIdentities].filter((identity) =>
        UNIT_DIRECTIONS.some(([d]) => !units.has(`${d}:${identity}`)),
      );
      for (const { before, after } of pending.length > 0 ? this.policyChanges : []) {
        for (const identity of pending) {
          const labels = this.profiles.get(identity)?.labels;
          if (labels === undefined) continue;
          for (const [d, direction] of UNIT_DIRECTIONS) {
            const touches = (spec: PolicySpec | undefined) =>
              spec !== undefined &&
              spec.directions.includes(direction) &&
              selectorMatches(spec.selector, labels);
            if (touches(before) || touches(after)) units.add(`${d}:${identity}`);
          }
        }
      }
    }
    this.everythingDirty = false;
    this.policyChanges = [];
    this.profileChanges = [];
    if (units.size > 0) this.compileUnits(units);
    if (this.prefixesDirty) this.refreshPrefixes();
  }

  /** Recompiles each unit and writes the rows of the peers whose function changed. */
  private compileUnits(units: ReadonlySet<string>): void {
    for (const unit of units) {
      const local = Number(unit.slice(2));
      const direction = unit[0] === 'i' ? 'ingress' : 'egress';
      let after: CompiledUnit | undefined;
      if (this.localIdentities.has(local)) after = this.compiler.compile(direction, local);
      else this.compiler.forget(direction, local);
      const before = this.compiled.get(unit);
      this.writeGroup(`${unit}:*:`, after?.star, rowChanges(before?.star, after?.star));
      if (before !== undefined && after !== undefined && before.partition === after.partition) {
        // The same classes of peers: only a class whose function changed is written, and the
        // rows that change are the same for each of its peers.
        after.partition.classes.forEach(({ prefixes }, c) => {
          const now = after.functions[c];
          const changes = rowChanges(before.functions[c], now);
          if (changes === undefined) return;
          for (const prefix of prefixes) this.writeGroup(prefix, now, changes);
        });
      } else {
        // New classes: peer by peer, the row changes computed once per pair of functions.
        const old = new Map<string, EncodedFunction>();
        before?.partition.classes.forEach(({ prefixes }, c) => {
          const encoded = before.functions[c];
          if (encoded !== undefined) for (const prefix of prefixes) old.set(prefix, encoded);
        });
        const pairs = new Map<EncodedFunction | undefined, Map<unknown, string[] | undefined>>();
        const changesOf = (was: EncodedFunction | undefined, now: EncodedFunction | undefined) => {
          let byNow = pairs.get(was);
          if (byNow === undefined) pairs.set(was, (byNow = new Map()));
          if (!byNow.has(now)) byNow.set(now, rowChanges(was, now));
          return byNow.get(now);
        };
        after?.partition.classes.forEach(({ prefixes }, c) => {
          const encoded = after.functions[c];
          if (encoded === undefined) return;
          for (const prefix of prefixes) {
            const was = old.get(prefix);
            old.delete(prefix);
            this.writeGroup(prefix, encoded, changesOf(was, encoded));
          }
        });
        for (const [prefix, encoded] of old) {
          this.writeGroup(prefix, undefined, changesOf(encoded, undefined));
        }
      }
      if (
        after === undefined ||
        (after.star === undefined && after.partition.classes.length === 0)
      ) {
        this.compiled.delete(unit);
      } else {
        this.compiled.set(unit, after);
      }
    }
  }

  /** One (unit, peer) group `prefix` gets the rows of `after`; `changes` lists the suffixes. */
  private writeGroup(
    prefix: string,
    after: EncodedFunction | undefined,
    changes: readonly string[] | undefined,
  ): void {
    if (changes === undefined) return;
    this.mutable.policy.setGroup(prefix, after?.rows);
    const changed = this.changed.policy;
    for (const suffix of changes) changed.add(prefix + suffix);
  }

  /** CIDR atoms, and external endpoints of known identity that own their address (/32). */
  private refreshPrefixes(): void {
    this.prefixesDirty = false;
    const desired = new Map<string, PrefixEntry>();
    for (const [key, { identity }] of this.cidrAtoms) desired.set(key, { identity });
    for (const uid of this.externals) {
      const endpoint = this.endpoints.get(uid)!;
      if (endpoint.identity === 0 || this.ownerOf(endpoint.ip) !== endpoint) continue;
      if (addressValue(endpoint.ip) === undefined) continue;
      desired.set(`${endpoint.ip}/32`, { identity: endpoint.identity });
    }
    const table = this.mutable.prefixes;
    for (const key of table.keys()) {
      if (desired.has(key)) continue;
      table.delete(key);
      this.changed.prefixes.add(key);
    }
    for (const [key, entry] of desired) {
      const old = table.get(key);
      if (old !== undefined && sameEntry(old, entry)) continue;
      table.set(key, entry);
      this.changed.prefixes.add(key);
    }
  }

  // --- nodes and segments ----------------------------------------------------------------

  private setNode(name: string, node: NodeRecord | undefined): void {
    if (node === undefined) this.nodes.delete(name);
    else this.nodes.set(name, node);
    this.refreshVtep(name);
    this.dirtyNodes.add(name);
  }

  private setSegment(segmentId: string, vni: number | undefined): void {
    if (vni === undefined) this.segments.delete(segmentId);
    else this.segments.set(segmentId, vni);
    this.dirtySegments.add(segmentId);
  }

  // --- derivation ------------------------------------------------------------------------

  private liveNode(name: string): NodeRecord | undefined {
    const node = this.nodes.get(name);
    return node === undefined || node.down ? undefined : node;
  }

  /** The VTEP entry of node `name` may have changed: derived when the tables are read. */
  private refreshVtep(name: string): void {
    if (name !== this.node) this.dirtyVteps.add(name);
  }

  /** The entries for `ip` may have changed: derived when the tables are read. */
  private refreshIp(ip: string): void {
    const claimants = this.endpointsByIp.get(ip);
    if (claimants !== undefined && claimants.length > 1) this.prefixesDirty = true;
    this.dirtyIps.add(ip);
  }

  /**
   * Derives what the events since the last read marked: once per dirty key, however many
   * events touched it (a pod created and deleted in one batch costs no entry at all).
   */
  private derive(): void {
    for (const name of this.dirtyNodes) this.markEndpoints(this.endpointsByNode.get(name));
    this.dirtyNodes.clear();
    for (const id of this.dirtySegments) this.markEndpoints(this.endpointsBySegment.get(id));
    this.dirtySegments.clear();
    for (const name of this.dirtyVteps) this.deriveVtep(name);
    this.dirtyVteps.clear();
    for (const ip of this.dirtyIps) this.deriveIp(ip);
    this.dirtyIps.clear();
  }

  private markEndpoints(uids: ReadonlySet<string> | undefined): void {
    if (uids === undefined) return;
    for (const uid of uids) this.dirtyIps.add(this.endpoints.get(uid)!.ip);
  }

  private deriveVtep(name: string): void {
    const node = this.liveNode(name);
    if (node === undefined) this.mutable.vteps.delete(name);
    else this.mutable.vteps.set(name, { address: node.vtepAddress, mac: node.vtepMac });
    this.changed.vteps.add(name);
  }

  /** Recomputes the local and remote entries for `ip` from its owner's current facts. */
  private deriveIp(ip: string): void {
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
      EndpointCreated: (state, data) => {
        const { uid, segmentId, node, ip, mac, labels } = data;
        if (!isText(uid) || !isText(segmentId) || !isText(node) || !isText(ip)) return false;
        if (!isText(mac) || !isLabels(labels)) return false;
        const kind = data.kind ?? (node === '' ? 'external' : 'pod');
        if (kind !== 'pod' && kind !== 'external') return false;
        const namedPorts: readonly NamedPortFact[] | undefined =
          data.namedPorts === undefined ? [] : parseNamedPorts(data.namedPorts);
        if (namedPorts === undefined) return false;
        const identity = readIdentity(data.identity);
        state.addEndpoint({ uid, segmentId, node, ip, mac, labels, kind, identity, namedPorts });
        return true;
      },
      EndpointLabelsUpdated: (state, { uid, labels, identity }) => {
        if (!isText(uid) || !isLabels(labels)) return false;
        state.relabelEndpoint(uid, labels, readIdentity(identity));
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
      PolicyCreated: (state, data, { revision }) => state.readPolicy(data, revision),
      PolicyUpdated: (state, data, { revision }) => state.readPolicy(data, revision),
      PolicyDeleted: (state, { policyId }) => {
        if (!isText(policyId) || policyId === '') return false;
        state.setPolicy(policyId, undefined);
        return true;
      },
    } satisfies Record<FoldedType, Handler>),
  );
}

/**
 * A copy of a snapshot's revisions sorted by stream, one per stream (the last listed wins, as
 * a Map would have it). A snapshot this version wrote is already so: one pass checks it.
 */
function sortedRevisions(
  revisions: ReadonlyArray<readonly [string, number]>,
): ReadonlyArray<readonly [string, number]> {
  let sorted = true;
  for (let i = 1; i < revisions.length && sorted; i++) {
    sorted = revisions[i - 1][0] < revisions[i][0];
  }
  if (sorted) return revisions.slice();
  return [...new Map(revisions)].sort(([a], [b]) => compareKeys(a, b));
}

function smallestKey(keys: Iterable<string>): string {
  let best: string | undefined;
  for (const key of keys) if (best === undefined || key < best) best = key;
  return best!;
}

function smallest<Entry>(claims: ReadonlyMap<string, Entry>): Entry {
  return claims.get(smallestKey(claims.keys()))!;
}

function isText(value: unknown): value is string {
  return typeof value === 'string';
}

function addTo<K>(index: Map<K, Set<string>>, key: K, uid: string): void {
  const set = index.get(key);
  if (set === undefined) index.set(key, new Set([uid]));
  else set.add(uid);
}

function removeFrom<K>(index: Map<K, Set<string>>, key: K, uid: string): void {
  const set = index.get(key);
  if (set === undefined) return;
  set.delete(uid);
  if (set.size === 0) index.delete(key);
}

/**
 * The row suffixes whose entries differ between two functions (either absent: no rows), or
 * undefined when the functions are equal.
 */
function rowChanges(
  before: EncodedFunction | undefined,
  after: EncodedFunction | undefined,
): string[] | undefined {
  if (before === after || (before !== undefined && before.key === after?.key)) return undefined;
  const changes: string[] = [];
  if (before !== undefined) {
    for (const suffix of before.rows.keys()) if (!after?.rows.has(suffix)) changes.push(suffix);
  }
  if (after !== undefined) {
    for (const [suffix, entry] of after.rows) {
      const old = before?.rows.get(suffix);
      if (old === undefined || !sameEntry(old, entry)) changes.push(suffix);
    }
  }
  return changes;
}

function setOrDelete<Entry>(table: Map<string, Entry>, key: string, entry: Entry | undefined) {
  if (entry === undefined) table.delete(key);
  else table.set(key, entry);
}

// --- the functional surface ----------------------------------------------------------------

export function createForwardingState(node: string): ForwardingState {
  return new ForwardingState(node);
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
