import {
  POLICY_TIERS,
  policyRuleId,
  type LabelSelector,
  type Labels,
  type PolicyDirection,
  type RuleAction,
} from '@strata/domain';
import type { PolicyEntry } from '../tables';
import { PROTOCOL_NUMBERS, selectorMatches, type PolicyFact } from './facts';
import { portBlocks, prefixContainsAddress, prefixCovers, toPrefix, type Prefix } from './prefix';

/**
 * The compiler: for one local identity and one direction (a *unit*), the verdict function over
 * (peer identity, protocol, port), encoded as the rows of the `policy` table (docs/policy.md,
 * "Forwarding tables"). It decides like the reference evaluator (./evaluate.ts) but over
 * intervals and identity classes instead of single packets:
 *
 * - rules are sorted by (tier, priority, deny < allow < pass, policy id, index), so the first
 *   matching rule of a tier is the one the evaluator picks;
 * - peers are grouped by the set of peer-specific rules that match them (plus, for egress, the
 *   named ports they resolve): one walk over each rule's peers refines the classes, and each
 *   class's function is encoded once; a class whose function equals the any-peer function gets
 *   no rows and falls to the `*` peer;
 * - a function is a `*` protocol row (rules without ports: every other protocol, ICMP
 *   included), a row per protocol whose most common verdict differs, and aligned port blocks for
 *   the intervals that differ from their protocol's row.
 *
 * The compiler lives as long as the forwarding state and is told of every policy, identity and
 * CIDR change, so what does not change is not recomputed: each policy's rules are built once,
 * each selector's members are found once through a label index (and forgotten only when an
 * identity it may match changes), and the policies that can select an identity are found
 * through an index of their selectors. It also knows which units each selector, CIDR peer and
 * named port feeds, so a peer's change recompiles only the units it can touch.
 *
 * The table is keyed by identity, so it sees an identity as one endpoint does: the endpoint
 * with the smallest uid stands for it (its security labels; for an external endpoint, the
 * address CIDR peers match), and its named ports are the union over its endpoints. Equal
 * security labels give equal identities, so this only differs from the evaluator where the
 * facts themselves disagree: external endpoints that share an identity but sit on both sides
 * of a CIDR peer, or replicas that give one port name different numbers.
 */

/** What a peer or local identity looks like to policy: one endpoint holding it stands for all. */
export interface IdentityProfile {
  readonly identity: number;
  /** Security labels (labels minus per-replica keys, plus segment and kind). */
  readonly labels: Labels;
  readonly kind: 'pod' | 'external';
  /** For an external endpoint: its address, which CIDR peers match. */
  readonly address: number | undefined;
  /** Named ports of the endpoints holding the identity: `<proto>/<name>` -> ports (union). */
  readonly namedPorts: ReadonlyMap<string, readonly number[]>;
}

export interface CidrAtom {
  readonly prefix: Prefix;
  readonly identity: number;
}

/** One verdict function encoded as rows: suffix (`*`, `<proto>`, `<proto>:<port>/<bits>`) -> entry. */
export interface EncodedFunction {
  readonly rows: ReadonlyMap<string, PolicyEntry>;
  /** Equal keys, equal functions. */
  readonly key: string;
}

/**
 * The peers of a unit with (possibly) rows of their own, in classes: the peers of a class meet
 * the same peer-specific rules (and, for egress, resolve the named ports used alike), so they
 * share one function. A recompile that finds the same classes returns the same object.
 */
export interface Partition {
  readonly classes: readonly PeerClass[];
}

export interface PeerClass {
  readonly peers: readonly number[];
  /** The group prefix of each peer's rows, `<dir>:<local>:<peer>:` (built once per class). */
  readonly prefixes: readonly string[];
}

/**
 * A compiled unit: the `*` peer's function (undefined when it allows everything: no rows) and
 * per class of its partition the function its peers share (undefined when it equals the `*`
 * peer's: they have no rows). A peer's rows are its function's rows under
 * `<dir>:<local>:<peer>:`.
 */
export interface CompiledUnit {
  readonly star: EncodedFunction | undefined;
  readonly partition: Partition;
  readonly functions: readonly (EncodedFunction | undefined)[];
}

/** `i:<local>` or `e:<local>`. */
export function unitKey(direction: PolicyDirection, local: number): string {
  return `${direction === 'ingress' ? 'i' : 'e'}:${local}`;
}

const TIER_INDEX = new Map(POLICY_TIERS.map((tier, i) => [tier, i]));
const APPLICATION = TIER_INDEX.get('application')!;
const STRICTNESS: Readonly<Record<RuleAction, number>> = { deny: 0, allow: 1, pass: 2 };
const PROTOCOLS = [PROTOCOL_NUMBERS.TCP, PROTOCOL_NUMBERS.UDP, PROTOCOL_NUMBERS.SCTP];
/** Any protocol without ports of its own in policy (ICMP, ...). */
const OTHER = -1;

type PortSpec =
  | { readonly proto: number; readonly lo: number; readonly hi: number }
  | { readonly proto: number; readonly name: string };

type PeerRef =
  | { readonly kind: 'selector'; readonly key: string; readonly selector: LabelSelector }
  | {
      readonly kind: 'cidr';
      readonly key: string;
      readonly cidr: Prefix | undefined;
      readonly except: readonly Prefix[];
    };

interface Rule {
  readonly tier: number;
  readonly priority: number;
  readonly strict: number;
  readonly policyId: string;
  readonly index: number;
  readonly staged: boolean;
  readonly action: RuleAction;
  readonly id: number;
  /** Peers, or null for any peer. */
  readonly peers: readonly PeerRef[] | null;
  /** Ports, or null for every port of every protocol. */
  readonly ports: readonly PortSpec[] | null;
}

/** A policy's rules, built once per version of the policy. */
interface PolicyRules {
  readonly tier: number;
  readonly ingress: readonly Rule[];
  readonly egress: readonly Rule[];
}

/** Resolved ports of one rule for one receiver: null = any protocol and port. */
type Ranges = readonly { proto: number; lo: number; hi: number }[] | null;

/** What a unit's rows depend on besides the policies selecting its local identity. */
interface UnitDependencies {
  /** Keys of the selectors of its rules' peers. */
  readonly selectors: Set<string>;
  /** It has CIDR peers (so external endpoints can have rows). */
  cidrs: boolean;
  /** `<protocol>/<name>` of the named ports its egress rules use (resolved against the peer). */
  names: ReadonlySet<string>;
}

interface SelectorEntry {
  readonly selector: LabelSelector;
  /** The identities it matches; undefined until needed again after a change. */
  members: readonly number[] | undefined;
  /** The units whose rules have it as a peer. */
  readonly users: Set<string>;
}

/** The rules of a unit that name one peer (a selector or CIDR block), by the peer's key. */
interface PeerGroup {
  readonly peer: PeerRef;
  /** Indices into the unit's sorted rules, ascending. */
  readonly rules: number[];
}

/**
 * A class of peers while the partition is built: the peer groups (indices, ascending) that
 * match them. Classes form a trie on those lists, so refining a peer's class by one more group
 * is one map lookup.
 */
interface TrieClass {
  readonly groups: readonly number[];
  readonly next: Map<number, TrieClass>;
  /** The final classes under it, by the named ports its peers resolve (egress). */
  readonly byNames: Map<string, BuiltClass>;
}

interface BuiltClass extends PeerClass {
  readonly groups: readonly number[];
  /** `<name>=<ports>;...` of the named ports used, as its peers resolve them ('' for none). */
  readonly namedPart: string;
  /** Whose named ports its peers' egress rules resolve against. */
  readonly receiver: ReadonlyMap<string, readonly number[]> | undefined;
  readonly peers: number[];
  readonly prefixes: string[];
}

interface BuiltPartition extends Partition {
  readonly classes: readonly BuiltClass[];
}

/** A unit's partition and what it was built from: reused while they are the same. */
interface PartitionCache {
  readonly signature: string;
  readonly members: readonly (readonly number[])[];
  readonly partition: BuiltPartition;
}

const ALLOW_ALL: PolicyEntry = Object.freeze({
  verdict: 'allow',
  rule: 0,
  stagedVerdict: 'allow',
  stagedRule: 0,
});

const NO_NAMES: ReadonlySet<string> = new Set();
const EMPTY_UNIT: CompiledUnit = Object.freeze({
  star: undefined,
  partition: Object.freeze({ classes: [] }),
  functions: [],
});

export class PolicyCompiler {
  /** The policies by id and their rules (built when a unit first needs them). */
  private readonly facts = new Map<string, PolicyFact>();
  private readonly rules = new Map<string, PolicyRules>();
  /** Policies by their selector: the candidates to select an identity. */
  private readonly policyIndex = new SelectorIndex<string>();
  /** Identities by label: key -> value -> identities. */
  private readonly labelIndex = new Map<string, Map<string, Set<number>>>();
  /** Identities by named port (`<protocol>/<name>`). */
  private readonly namedHolders = new Map<string, Set<number>>();
  /** Selectors in use by some unit, by key, and an index of them to find those a peer meets. */
  private readonly selectors = new Map<string, SelectorEntry>();
  private readonly selectorIndex = new SelectorIndex<string>();
  private cidrAtoms: readonly CidrAtom[] = [];
  private readonly cidrSets = new Map<string, readonly number[]>();
  private readonly cidrUnits = new Set<string>();
  private readonly nameUsers = new Map<string, Set<string>>();
  private readonly units = new Map<string, UnitDependencies>();
  private readonly partitions = new Map<string, PartitionCache>();
  private readonly entries = new Map<string, PolicyEntry>();

  /** `identities`: every identity an endpoint holds (0 excluded), kept by the caller. */
  constructor(private readonly identities: ReadonlyMap<number, IdentityProfile>) {}

  /** A policy was created, replaced or (undefined) deleted. */
  setPolicy(policyId: string, fact: PolicyFact | undefined): void {
    this.rules.delete(policyId);
    if (this.facts.has(policyId)) this.policyIndex.remove(policyId);
    if (fact === undefined) {
      this.facts.delete(policyId);
      return;
    }
    this.facts.set(policyId, fact);
    this.policyIndex.add(policyId, fact.spec.selector);
  }

  /** The CIDR atoms changed (every distinct prefix of a CIDR peer, by key). */
  setCidrs(atoms: ReadonlyMap<string, CidrAtom>): void {
    this.cidrAtoms = [...atoms.values()];
    this.cidrSets.clear();
  }

  /**
   * What identity `identity` looks like changed from `before` to `after` (either absent; the
   * caller's map already holds `after`). Returns the units whose rows the peer may touch: those
   * with a selector it matched or matches, with CIDR peers if it is external, or with egress
   * rules naming one of its ports. (Its own units, if it is local, are the caller's to add.)
   */
  identityChanged(
    identity: number,
    before: IdentityProfile | undefined,
    after: IdentityProfile | undefined,
  ): Set<string> {
    const touched = new Set<string>();
    if (before !== undefined) {
      for (const key of Object.keys(before.labels)) {
        const values = this.labelIndex.get(key);
        const set = values?.get(before.labels[key]);
        if (set === undefined) continue;
        set.delete(identity);
        if (set.size === 0) values!.delete(before.labels[key]);
        if (values!.size === 0) this.labelIndex.delete(key);
      }
      for (const name of before.namedPorts.keys()) {
        const set = this.namedHolders.get(name);
        set?.delete(identity);
        if (set?.size === 0) this.namedHolders.delete(name);
      }
    }
    if (after !== undefined) {
      for (const key of Object.keys(after.labels)) {
        let values = this.labelIndex.get(key);
        if (values === undefined) this.labelIndex.set(key, (values = new Map()));
        const set = values.get(after.labels[key]);
        if (set === undefined) values.set(after.labels[key], new Set([identity]));
        else set.add(identity);
      }
      for (const name of after.namedPorts.keys()) {
        const set = this.namedHolders.get(name);
        if (set === undefined) this.namedHolders.set(name, new Set([identity]));
        else set.add(identity);
      }
    }
    for (const profile of [before, after]) {
      if (profile === undefined) continue;
      this.selectorIndex.forEachCandidate(profile.labels, (key) => {
        const entry = this.selectors.get(key)!;
        if (!selectorMatches(entry.selector, profile.labels)) return;
        entry.members = undefined;
        for (const unit of entry.users) touched.add(unit);
      });
      if (profile.kind === 'external') {
        this.cidrSets.clear();
        for (const unit of this.cidrUnits) touched.add(unit);
      }
      // The classes of a unit with egress named ports depend on the ports its peers name.
      for (const name of profile.namedPorts.keys()) {
        for (const unit of this.nameUsers.get(name) ?? []) {
          touched.add(unit);
          this.partitions.delete(unit);
        }
      }
    }
    return touched;
  }

  /**
   * The function of (direction, local identity) as rows (see CompiledUnit). Remembers what the
   * unit depends on, for identityChanged.
   */
  compile(direction: PolicyDirection, local: number): CompiledUnit {
    const dependencies: UnitDependencies = { selectors: new Set(), cidrs: false, names: NO_NAMES };
    const profile = this.identities.get(local);
    const compiled =
      profile === undefined ? EMPTY_UNIT : this.compileFor(direction, profile, dependencies);
    this.track(unitKey(direction, local), dependencies);
    return compiled;
  }

  /** The unit is no longer compiled: forget what it depended on. */
  forget(direction: PolicyDirection, local: number): void {
    this.track(unitKey(direction, local), undefined);
  }

  private compileFor(
    direction: PolicyDirection,
    profile: IdentityProfile,
    dependencies: UnitDependencies,
  ): CompiledUnit {
    const rules: Rule[] = [];
    const isolate = { enforced: false, staged: false };
    this.policyIndex.forEachCandidate(profile.labels, (policyId) => {
      const { spec } = this.facts.get(policyId)!;
      if (!spec.directions.includes(direction)) return;
      if (!selectorMatches(spec.selector, profile.labels)) return;
      const policy = this.policyRules(policyId);
      if (policy.tier === APPLICATION) {
        isolate.staged = true;
        if (!spec.staged) isolate.enforced = true;
      }
      for (const rule of policy[direction]) rules.push(rule);
    });
    if (rules.length === 0 && !isolate.staged) return EMPTY_UNIT;
    rules.sort(compareRules);
    const names = direction === 'egress' ? namesUsed(rules) : NO_NAMES;
    dependencies.names = names;

    // The peers the rules name, each once with the rules naming it; then classes of peer
    // identities by the groups that match them, refined group by group: each selector's
    // members are walked once however many rules name it.
    const any: number[] = [];
    const byKey = new Map<string, PeerGroup>();
    for (let i = 0; i < rules.length; i++) {
      const peers = rules[i].peers;
      if (peers === null) {
        any.push(i);
        continue;
      }
      for (const peer of peers) {
        const group = byKey.get(peer.key);
        if (group === undefined) byKey.set(peer.key, { peer, rules: [i] });
        else if (group.rules[group.rules.length - 1] !== i) group.rules.push(i);
      }
    }
    const groups = [...byKey.values()];
    for (const { peer } of groups) {
      if (peer.kind === 'selector') dependencies.selectors.add(peer.key);
      else dependencies.cidrs = true;
    }
    const partition = this.partition(unitKey(direction, profile.identity), groups, names);

    const ingressReceiver = direction === 'ingress' ? profile.namedPorts : undefined;
    const star = this.encode(rules, any, ingressReceiver, isolate);
    // Functions by (rules that apply, named ports resolved): classes with equal ones share it.
    const functions = new Map<string, EncodedFunction>();
    const perClass = partition.classes.map(({ groups: matched, namedPart, receiver }) => {
      let specific: number[] = [];
      for (const g of matched) specific = mergeSorted(specific, groups[g].rules);
      const key = `${specific.join(',')}|${namedPart}`;
      let encoded = functions.get(key);
      if (encoded === undefined) {
        const indices = mergeSorted(any, specific);
        encoded = this.encode(rules, indices, ingressReceiver ?? receiver, isolate);
        functions.set(key, encoded);
      }
      return encoded.key === star.key ? undefined : encoded;
    });
    const allowsAll = star.rows.size === 1 && star.rows.get('*') === ALLOW_ALL;
    return { star: allowsAll ? undefined : star, partition, functions: perClass };
  }

  /**
   * The classes of peer identities by the groups that match them (and, for egress with named
   * ports, the ports they resolve), refined group by group: each selector's members are walked
   * once however many rules name it. Reused while the groups and their members are the same.
   */
  private partition(
    unit: string,
    groups: readonly PeerGroup[],
    names: ReadonlySet<string>,
  ): BuiltPartition {
    const members = groups.map(({ peer }) => this.members(peer));
    const signature = `${groups.map(({ peer }) => peer.key).join('\n')}\n|${[...names].join(',')}`;
    const cached = this.partitions.get(unit);
    if (
      cached !== undefined &&
      cached.signature === signature &&
      cached.members.every((list, g) => list === members[g])
    ) {
      return cached.partition;
    }
    const root: TrieClass = { groups: [], next: new Map(), byNames: new Map() };
    const classOf = new Map<number, TrieClass>();
    members.forEach((list, g) => {
      for (const identity of list) {
        const current = classOf.get(identity) ?? root;
        let next = current.next.get(g);
        if (next === undefined) {
          next = { groups: [...current.groups, g], next: new Map(), byNames: new Map() };
          current.next.set(g, next);
        }
        classOf.set(identity, next);
      }
    });
    // Egress named ports resolve against the peer: peers with the names used differ too.
    for (const name of names) {
      for (const identity of this.namedHolders.get(name) ?? []) {
        if (!classOf.has(identity)) classOf.set(identity, root);
      }
    }
    const classes: BuiltClass[] = [];
    for (const [identity, trie] of classOf) {
      const receiver = names.size > 0 ? this.identities.get(identity)?.namedPorts : undefined;
      const namedPart = receiver !== undefined ? namedKey(receiver, names) : '';
      if (trie === root && namedPart === '') continue;
      let built = trie.byNames.get(namedPart);
      if (built === undefined) {
        built = { groups: trie.groups, namedPart, receiver, peers: [], prefixes: [] };
        trie.byNames.set(namedPart, built);
        classes.push(built);
      }
      built.peers.push(identity);
      built.prefixes.push(`${unit}:${identity}:`);
    }
    const partition = { classes };
    this.partitions.set(unit, { signature, members, partition });
    return partition;
  }

  /** Records what `unit` now depends on (undefined: nothing, it is gone). */
  private track(unit: string, dependencies: UnitDependencies | undefined): void {
    const old = this.units.get(unit);
    if (old !== undefined) {
      for (const key of old.selectors) {
        if (dependencies?.selectors.has(key)) continue;
        const entry = this.selectors.get(key);
        if (entry === undefined) continue;
        entry.users.delete(unit);
        if (entry.users.size === 0) {
          this.selectors.delete(key);
          this.selectorIndex.remove(key);
        }
      }
      for (const name of old.names) {
        const users = this.nameUsers.get(name);
        users?.delete(unit);
        if (users?.size === 0) this.nameUsers.delete(name);
      }
    }
    this.cidrUnits.delete(unit);
    if (dependencies === undefined) this.partitions.delete(unit);
    if (
      dependencies === undefined ||
      (dependencies.selectors.size === 0 && !dependencies.cidrs && dependencies.names.size === 0)
    ) {
      this.units.delete(unit);
      return;
    }
    this.units.set(unit, dependencies);
    for (const key of dependencies.selectors) this.selectors.get(key)?.users.add(unit);
    if (dependencies.cidrs) this.cidrUnits.add(unit);
    for (const name of dependencies.names) {
      const users = this.nameUsers.get(name);
      if (users === undefined) this.nameUsers.set(name, new Set([unit]));
      else users.add(unit);
    }
  }

  /** The rules of a policy (both directions), built once per version of it. */
  private policyRules(policyId: string): PolicyRules {
    const known = this.rules.get(policyId);
    if (known !== undefined) return known;
    const { spec } = this.facts.get(policyId)!;
    const tier = TIER_INDEX.get(spec.tier)!;
    const build = (direction: PolicyDirection): Rule[] =>
      spec[direction].map((rule, index) => ({
        tier,
        priority: spec.priority,
        strict: STRICTNESS[rule.action],
        policyId,
        index,
        staged: spec.staged,
        action: rule.action,
        id: policyRuleId(policyId, direction, index),
        peers:
          rule.peers.length === 0
            ? null
            : rule.peers.map((peer): PeerRef => {
                if ('selector' in peer) {
                  return {
                    kind: 'selector',
                    key: JSON.stringify(peer.selector),
                    selector: peer.selector,
                  };
                }
                return {
                  kind: 'cidr',
                  key: `${peer.cidr}|${peer.except.join(',')}`,
                  cidr: toPrefix(peer.cidr),
                  except: peer.except.flatMap((text) => toPrefix(text) ?? []),
                };
              }),
        ports:
          rule.ports.length === 0
            ? null
            : rule.ports.map((port) =>
                'name' in port
                  ? {
                      proto: PROTOCOL_NUMBERS[port.protocol],
                      name: `${port.protocol}/${port.name}`,
                    }
                  : { proto: PROTOCOL_NUMBERS[port.protocol], lo: port.port, hi: port.endPort },
              ),
      }));
    const built = { tier, ingress: build('ingress'), egress: build('egress') };
    this.rules.set(policyId, built);
    return built;
  }

  /** The identities a peer matches. */
  private members(peer: PeerRef): readonly number[] {
    if (peer.kind === 'cidr') {
      let members = this.cidrSets.get(peer.key);
      if (members === undefined) this.cidrSets.set(peer.key, (members = this.cidrSet(peer)));
      return members;
    }
    let entry = this.selectors.get(peer.key);
    if (entry === undefined) {
      entry = { selector: peer.selector, members: undefined, users: new Set() };
      this.selectors.set(peer.key, entry);
      this.selectorIndex.add(peer.key, peer.selector);
    }
    return (entry.members ??= this.selectorSet(peer.selector));
  }

  /** The identities whose security labels `selector` matches, through the label index. */
  private selectorSet(selector: LabelSelector): readonly number[] {
    // The smallest candidate set any one requirement allows.
    let best: { size: number; sets: Set<number>[] } | undefined;
    const consider = (sets: Set<number>[]) => {
      let size = 0;
      for (const set of sets) size += set.size;
      if (best === undefined || size < best.size) best = { size, sets };
    };
    for (const key of Object.keys(selector.matchLabels)) {
      const set = this.labelIndex.get(key)?.get(selector.matchLabels[key]);
      consider(set === undefined ? [] : [set]);
    }
    for (const { key, operator, values } of selector.matchExpressions) {
      if (operator === 'In') {
        const byValue = this.labelIndex.get(key);
        consider(values.flatMap((value) => byValue?.get(value) ?? []));
      }
      if (operator === 'Exists') consider([...(this.labelIndex.get(key)?.values() ?? [])]);
    }
    const members: number[] = [];
    const test = (identity: number) => {
      if (selectorMatches(selector, this.identities.get(identity)!.labels)) members.push(identity);
    };
    if (best === undefined) for (const identity of this.identities.keys()) test(identity);
    else for (const set of best.sets) for (const identity of set) test(identity);
    return members;
  }

  /**
   * A CIDR peer: the atoms inside `cidr` and outside every `except` (an atom is one LPM entry:
   * every prefix of every CIDR peer, so an atom is inside a prefix of a peer exactly when the
   * prefix covers it), and the external endpoints whose address is.
   */
  private cidrSet(peer: { readonly cidr: Prefix | undefined; readonly except: readonly Prefix[] }) {
    const members: number[] = [];
    const { cidr, except } = peer;
    if (cidr === undefined) return members;
    for (const atom of this.cidrAtoms) {
      if (prefixCovers(cidr, atom.prefix) && !except.some((e) => prefixCovers(e, atom.prefix))) {
        members.push(atom.identity);
      }
    }
    for (const [identity, profile] of this.identities) {
      const address = profile.address;
      if (profile.kind !== 'external' || address === undefined) continue;
      if (
        prefixContainsAddress(cidr, address) &&
        !except.some((e) => prefixContainsAddress(e, address))
      ) {
        members.push(identity);
      }
    }
    return members;
  }

  /** The function of the rules `indices` (sorted) for a receiver, encoded as rows. */
  private encode(
    rules: readonly Rule[],
    indices: readonly number[],
    receiver: ReadonlyMap<string, readonly number[]> | undefined,
    isolate: { enforced: boolean; staged: boolean },
  ): EncodedFunction {
    const chosen = indices.map((i) => rules[i]);
    const ranges: Ranges[] = chosen.map((rule) => resolve(rule, receiver));
    const decide = (proto: number, port: number): PolicyEntry => {
      const enforced = scan(chosen, ranges, proto, port, false, isolate.enforced);
      const staged = scan(chosen, ranges, proto, port, true, isolate.staged);
      return this.entry(enforced[0], enforced[1], staged[0], staged[1]);
    };
    const other = decide(OTHER, 0);
    const rows = new Map<string, PolicyEntry>([['*', other]]);
    for (const proto of PROTOCOLS) {
      const bounds = new Set<number>([0]);
      for (const list of ranges) {
        if (list === null) continue;
        for (const range of list) {
          if (range.proto !== proto) continue;
          bounds.add(range.lo);
          if (range.hi < 65_535) bounds.add(range.hi + 1);
        }
      }
      if (bounds.size === 1) {
        // No rule names this protocol's ports: it decides like every other protocol.
        continue;
      }
      const starts = [...bounds].sort((a, b) => a - b);
      const segments: { lo: number; hi: number; entry: PolicyEntry }[] = [];
      starts.forEach((lo, i) => {
        const hi = i + 1 < starts.length ? starts[i + 1] - 1 : 65_535;
        const entry = decide(proto, lo);
        const last = segments[segments.length - 1];
        if (last !== undefined && last.entry === entry) last.hi = hi;
        else segments.push({ lo, hi, entry });
      });
      const weight = new Map<PolicyEntry, number>();
      for (const { lo, hi, entry } of segments)
        weight.set(entry, (weight.get(entry) ?? 0) + hi - lo + 1);
      let base = other;
      let best = weight.get(other) ?? 0;
      for (const [entry, count] of weight) {
        if (
          count > best ||
          (count === best && entry !== other && base !== other && entryKey(entry) < entryKey(base))
        ) {
          base = entry;
          best = count;
        }
      }
      if (base !== other) rows.set(`${proto}`, base);
      for (const { lo, hi, entry } of segments) {
        if (entry === base) continue;
        for (const [start, bits] of portBlocks(lo, hi))
          rows.set(`${proto}:${start}/${bits}`, entry);
      }
    }
    let key = '';
    for (const [suffix, entry] of rows) key += `${suffix}=${entryKey(entry)} `;
    return { rows, key };
  }

  /** One shared object per distinct entry: equal entries compare by reference. */
  private entry(
    verdict: 'allow' | 'deny',
    rule: number,
    stagedVerdict: 'allow' | 'deny',
    stagedRule: number,
  ): PolicyEntry {
    const key = `${verdict}:${rule}:${stagedVerdict}:${stagedRule}`;
    if (key === 'allow:0:allow:0') return ALLOW_ALL;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = Object.freeze({ verdict, rule, stagedVerdict, stagedRule });
      this.entries.set(key, entry);
    }
    return entry;
  }
}

/**
 * Items by label selector, to find the items whose selector may match a label set without
 * testing every one: an item is filed under one pair its selector requires (its first
 * matchLabels pair, else each value of its first `In` expression); items without such a pair
 * are candidates for every label set.
 */
class SelectorIndex<Item> {
  private readonly byPair = new Map<string, Set<Item>>();
  private readonly unfiled = new Set<Item>();
  private readonly filed = new Map<Item, readonly string[] | null>();

  add(item: Item, selector: LabelSelector): void {
    const pairs = filingPairs(selector);
    this.filed.set(item, pairs);
    if (pairs === null) {
      this.unfiled.add(item);
      return;
    }
    for (const pair of pairs) {
      const items = this.byPair.get(pair);
      if (items === undefined) this.byPair.set(pair, new Set([item]));
      else items.add(item);
    }
  }

  remove(item: Item): void {
    const pairs = this.filed.get(item);
    if (pairs === undefined) return;
    this.filed.delete(item);
    if (pairs === null) {
      this.unfiled.delete(item);
      return;
    }
    for (const pair of pairs) {
      const items = this.byPair.get(pair)!;
      items.delete(item);
      if (items.size === 0) this.byPair.delete(pair);
    }
  }

  /** Every item whose selector may match `labels`, each once (a superset: test each). */
  forEachCandidate(labels: Labels, visit: (item: Item) => void): void {
    for (const item of this.unfiled) visit(item);
    for (const key of Object.keys(labels)) {
      const items = this.byPair.get(pairKey(key, labels[key]));
      if (items !== undefined) for (const item of items) visit(item);
    }
  }
}

function pairKey(key: string, value: string): string {
  return `${key}\u0000${value}`;
}

/** The pairs an item is filed under (one label set holds at most one of them), or null. */
function filingPairs(selector: LabelSelector): readonly string[] | null {
  const keys = Object.keys(selector.matchLabels);
  if (keys.length > 0) {
    const key = keys.reduce((a, b) => (b < a ? b : a));
    return [pairKey(key, selector.matchLabels[key])];
  }
  const expression = selector.matchExpressions.find(({ operator }) => operator === 'In');
  if (expression === undefined) return null;
  return [...new Set(expression.values)].map((value) => pairKey(expression.key, value));
}

function compareRules(a: Rule, b: Rule): number {
  return (
    a.tier - b.tier ||
    a.priority - b.priority ||
    a.strict - b.strict ||
    (a.policyId < b.policyId ? -1 : a.policyId > b.policyId ? 1 : 0) ||
    a.index - b.index
  );
}

function entryKey(entry: PolicyEntry): string {
  return `${entry.verdict}:${entry.rule}:${entry.stagedVerdict}:${entry.stagedRule}`;
}

/** The tier walk over rules sorted by (tier, priority, strictness, policy id, index). */
function scan(
  rules: readonly Rule[],
  ranges: readonly Ranges[],
  proto: number,
  port: number,
  staged: boolean,
  isolated: boolean,
): ['allow' | 'deny', number] {
  let tier = 0;
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i];
    if (rule.staged && !staged) continue;
    if (rule.tier < tier) continue;
    const list = ranges[i];
    if (list !== null && !list.some((r) => r.proto === proto && port >= r.lo && port <= r.hi)) {
      continue;
    }
    // Leaving the application tier with nothing matched in it: isolation.
    if (isolated && tier <= APPLICATION && rule.tier > APPLICATION) return ['deny', 1];
    if (rule.action === 'pass') {
      tier = rule.tier + 1;
      continue;
    }
    return [rule.action, rule.id];
  }
  if (isolated && tier <= APPLICATION) return ['deny', 1];
  return ['allow', 0];
}

function resolve(rule: Rule, receiver: ReadonlyMap<string, readonly number[]> | undefined): Ranges {
  if (rule.ports === null) return null;
  const out: { proto: number; lo: number; hi: number }[] = [];
  for (const port of rule.ports) {
    if ('name' in port) {
      for (const value of receiver?.get(port.name) ?? [])
        out.push({ proto: port.proto, lo: value, hi: value });
    } else {
      out.push(port);
    }
  }
  return out;
}

function namesUsed(rules: readonly Rule[]): ReadonlySet<string> {
  let names: Set<string> | undefined;
  for (const rule of rules) {
    for (const port of rule.ports ?? []) if ('name' in port) (names ??= new Set()).add(port.name);
  }
  return names ?? NO_NAMES;
}

function namedKey(
  receiver: ReadonlyMap<string, readonly number[]>,
  names: ReadonlySet<string>,
): string {
  const parts: string[] = [];
  for (const name of [...names].sort()) {
    const ports = receiver.get(name);
    if (ports !== undefined) parts.push(`${name}=${ports.join('+')}`);
  }
  return parts.join(';');
}

function mergeSorted(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i] < b[j])) out.push(a[i++]);
    else if (i >= a.length || b[j] < a[i]) out.push(b[j++]);
    else {
      out.push(a[i++]);
      j++;
    }
  }
  return out;
}
