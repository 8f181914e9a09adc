import {
  POLICY_TIERS,
  policyRuleId,
  type LabelSelector,
  type Labels,
  type PolicyDirection,
  type PolicyPeer,
  type RuleAction,
} from '@strata/domain';
import type { PolicyEntry } from '../tables';
import { PROTOCOL_NUMBERS, selectorMatches, type PolicyFact } from './facts';
import { portBlocks, prefixContainsAddress, prefixCovers, toPrefix, type Prefix } from './prefix';

/**
 * The compiler: for one local identity and one direction, the verdict function over (peer
 * identity, protocol, port), encoded as the rows of the `policy` table (docs/policy.md,
 * "Forwarding tables"). It decides like the reference evaluator (./evaluate.ts) but over
 * intervals and identity classes instead of single packets:
 *
 * - rules are sorted by (tier, priority, deny < allow < pass, policy id, index), so the first
 *   matching rule of a tier is the one the evaluator picks;
 * - peers are grouped by the set of peer-specific rules that match them (plus, for egress, the
 *   named ports they resolve); a group whose function equals the any-peer function gets no rows
 *   and falls to the `*` peer;
 * - a function is a `*` protocol row (rules without ports: every other protocol, ICMP
 *   included), a row per protocol whose most common verdict differs, and aligned port blocks for
 *   the intervals that differ from their protocol's row.
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

/**
 * What a unit's rows depend on besides the policies selecting its local identity: a peer
 * identity can have rows of its own only if one of these selectors matches it, or it is an
 * external endpoint and the unit has CIDR peers, or (egress) it names one of these ports.
 * Any other peer falls to the `*` rows, so a change to it cannot change the unit.
 */
export interface UnitDependencies {
  readonly selectors: LabelSelector[];
  cidrs: boolean;
  /** `<protocol>/<name>` of the named ports the unit's egress rules use. */
  names: ReadonlySet<string>;
}

export interface CompiledUnit {
  readonly rows: Map<string, PolicyEntry>;
  readonly dependencies: UnitDependencies;
}

/** Whether a change from `before` to `after` (either absent) of a peer can touch the unit. */
export function peerChangeTouches(
  dependencies: UnitDependencies,
  before: IdentityProfile | undefined,
  after: IdentityProfile | undefined,
): boolean {
  for (const profile of [before, after]) {
    if (profile === undefined) continue;
    if (dependencies.cidrs && profile.kind === 'external') return true;
    for (const name of dependencies.names) if (profile.namedPorts.has(name)) return true;
    for (const selector of dependencies.selectors) {
      if (selectorMatches(selector, profile.labels)) return true;
    }
  }
  return false;
}

export interface CidrAtom {
  readonly prefix: Prefix;
  readonly identity: number;
}

export interface CompileInput {
  readonly policies: Iterable<PolicyFact>;
  /** Every identity an endpoint holds (0 excluded). */
  readonly identities: ReadonlyMap<number, IdentityProfile>;
  /** Every distinct prefix of a CIDR peer (`cidr` or `except`), by key. */
  readonly cidrs: ReadonlyMap<string, CidrAtom>;
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

interface Rule {
  readonly tier: number;
  readonly priority: number;
  readonly strict: number;
  readonly policyId: string;
  readonly index: number;
  readonly staged: boolean;
  readonly action: RuleAction;
  readonly id: number;
  /** Peers matched, or null for any peer. */
  readonly peers: ReadonlySet<number> | null;
  /** Ports, or null for every port of every protocol. */
  readonly ports: readonly PortSpec[] | null;
}

/** Resolved ports of one rule for one receiver: null = any protocol and port. */
type Ranges = readonly { proto: number; lo: number; hi: number }[] | null;

const ALLOW_ALL: PolicyEntry = Object.freeze({
  verdict: 'allow',
  rule: 0,
  stagedVerdict: 'allow',
  stagedRule: 0,
});

export class PolicyCompiler {
  private readonly policies: readonly PolicyFact[];
  private readonly identities: ReadonlyMap<number, IdentityProfile>;
  private readonly cidrs: readonly CidrAtom[];
  private labelIndex: Map<string, Map<string, number[]>> | undefined;
  private readonly selectorSets = new Map<string, readonly number[]>();
  private readonly cidrSets = new Map<string, readonly number[]>();
  private readonly entries = new Map<string, PolicyEntry>();

  constructor(input: CompileInput) {
    this.policies = [...input.policies];
    this.identities = input.identities;
    this.cidrs = [...input.cidrs.values()];
  }

  /**
   * The rows of (direction, local identity), keyed as in the `policy` table, and what of a peer
   * they depend on (see UnitDependencies).
   */
  compile(direction: PolicyDirection, local: number): CompiledUnit {
    const rows = new Map<string, PolicyEntry>();
    const dependencies: UnitDependencies = { selectors: [], cidrs: false, names: new Set() };
    const profile = this.identities.get(local);
    if (profile === undefined) return { rows, dependencies };
    const rules = this.rulesFor(direction, profile);
    dependencies.selectors.push(...rules.selectors.values());
    dependencies.cidrs = rules.cidrs;
    if (rules.rules.length === 0 && !rules.isolate.staged) return { rows, dependencies };
    const ingressReceiver = direction === 'ingress' ? profile.namedPorts : undefined;
    const any: number[] = [];
    const bySignature = new Map<number, number[]>();
    rules.rules.forEach((rule, i) => {
      if (rule.peers === null) {
        any.push(i);
        return;
      }
      for (const peer of rule.peers) {
        const list = bySignature.get(peer);
        if (list === undefined) bySignature.set(peer, [i]);
        else list.push(i);
      }
    });
    // Egress named ports resolve against the peer: peers with the names used differ too.
    const names = direction === 'egress' ? namesUsed(rules.rules) : new Set<string>();
    dependencies.names = names;
    if (names.size > 0) {
      for (const [identity, peer] of this.identities) {
        for (const name of names) {
          if (peer.namedPorts.has(name)) {
            if (!bySignature.has(identity)) bySignature.set(identity, []);
            break;
          }
        }
      }
    }
    const prefix = `${direction === 'ingress' ? 'i' : 'e'}:${local}:`;
    const functions = new Map<string, EncodedFunction>();
    const fn = (
      indices: readonly number[],
      receiver: ReadonlyMap<string, readonly number[]> | undefined,
      key: string,
    ) => {
      let encoded = functions.get(key);
      if (encoded === undefined) {
        encoded = this.encode(rules.rules, indices, receiver, rules.isolate);
        functions.set(key, encoded);
      }
      return encoded;
    };
    const star = fn(any, ingressReceiver, '');
    if (!(star.rows.length === 1 && star.rows[0][1] === ALLOW_ALL)) {
      for (const [suffix, entry] of star.rows) rows.set(`${prefix}*:${suffix}`, entry);
    }
    for (const [peer, specific] of bySignature) {
      const receiver =
        direction === 'ingress' ? ingressReceiver : this.identities.get(peer)?.namedPorts;
      const named = names.size > 0 && receiver !== undefined ? namedKey(receiver, names) : '';
      if (specific.length === 0 && named === '') continue;
      const indices = specific.length === 0 ? any : mergeSorted(any, specific);
      const encoded = fn(indices, receiver, `${specific.join(',')}|${named}`);
      if (encoded.key === star.key) continue;
      for (const [suffix, entry] of encoded.rows) rows.set(`${prefix}${peer}:${suffix}`, entry);
    }
    return { rows, dependencies };
  }

  private rulesFor(direction: PolicyDirection, profile: IdentityProfile) {
    const rules: Rule[] = [];
    const isolate = { enforced: false, staged: false };
    const selectors = new Map<string, LabelSelector>();
    let cidrs = false;
    for (const policy of this.policies) {
      const { spec } = policy;
      if (!spec.directions.includes(direction)) continue;
      if (!selectorMatches(spec.selector, profile.labels)) continue;
      const tier = TIER_INDEX.get(spec.tier)!;
      if (tier === APPLICATION) {
        isolate.staged = true;
        if (!spec.staged) isolate.enforced = true;
      }
      spec[direction].forEach((rule, index) => {
        for (const peer of rule.peers) {
          if ('selector' in peer) selectors.set(JSON.stringify(peer.selector), peer.selector);
          else cidrs = true;
        }
        rules.push({
          tier,
          priority: spec.priority,
          strict: STRICTNESS[rule.action],
          policyId: policy.policyId,
          index,
          staged: spec.staged,
          action: rule.action,
          id: policyRuleId(policy.policyId, direction, index),
          peers: rule.peers.length === 0 ? null : this.peerSet(rule.peers),
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
        });
      });
    }
    rules.sort(
      (a, b) =>
        a.tier - b.tier ||
        a.priority - b.priority ||
        a.strict - b.strict ||
        (a.policyId < b.policyId ? -1 : a.policyId > b.policyId ? 1 : 0) ||
        a.index - b.index,
    );
    return { rules, isolate, selectors, cidrs };
  }

  private peerSet(peers: readonly PolicyPeer[]): ReadonlySet<number> {
    const set = new Set<number>();
    for (const peer of peers) {
      const members = 'selector' in peer ? this.selectorSet(peer.selector) : this.cidrSet(peer);
      for (const identity of members) set.add(identity);
    }
    return set;
  }

  /** The identities whose security labels `selector` matches, through a label index. */
  private selectorSet(selector: LabelSelector): readonly number[] {
    const key = JSON.stringify(selector);
    const known = this.selectorSets.get(key);
    if (known !== undefined) return known;
    const index = (this.labelIndex ??= this.buildLabelIndex());
    let candidates: readonly number[] | undefined;
    const consider = (list: readonly number[]) => {
      if (candidates === undefined || list.length < candidates.length) candidates = list;
    };
    for (const [k, v] of Object.entries(selector.matchLabels)) consider(index.get(k)?.get(v) ?? []);
    for (const { key: k, operator, values } of selector.matchExpressions) {
      if (operator === 'In') consider(values.flatMap((v) => index.get(k)?.get(v) ?? []));
      if (operator === 'Exists') consider([...(index.get(k)?.values() ?? [])].flat());
    }
    const pool = candidates ?? [...this.identities.keys()];
    const members = pool.filter((identity) =>
      selectorMatches(selector, this.identities.get(identity)!.labels),
    );
    this.selectorSets.set(key, members);
    return members;
  }

  private buildLabelIndex(): Map<string, Map<string, number[]>> {
    const index = new Map<string, Map<string, number[]>>();
    for (const [identity, { labels }] of this.identities) {
      for (const key of Object.keys(labels)) {
        let values = index.get(key);
        if (values === undefined) index.set(key, (values = new Map()));
        const list = values.get(labels[key]);
        if (list === undefined) values.set(labels[key], [identity]);
        else list.push(identity);
      }
    }
    return index;
  }

  /**
   * A CIDR peer: the atoms inside `cidr` and outside every `except` (an atom is one LPM entry:
   * every prefix of every CIDR peer, so an atom is inside a prefix of a peer exactly when the
   * prefix covers it), and the external endpoints whose address is.
   */
  private cidrSet(peer: {
    readonly cidr: string;
    readonly except: readonly string[];
  }): readonly number[] {
    const key = `${peer.cidr}|${peer.except.join(',')}`;
    const known = this.cidrSets.get(key);
    if (known !== undefined) return known;
    const members: number[] = [];
    const cidr = toPrefix(peer.cidr);
    const excepts = peer.except.flatMap((text) => toPrefix(text) ?? []);
    if (cidr !== undefined) {
      for (const atom of this.cidrs) {
        if (prefixCovers(cidr, atom.prefix) && !excepts.some((e) => prefixCovers(e, atom.prefix))) {
          members.push(atom.identity);
        }
      }
      for (const [identity, profile] of this.identities) {
        const address = profile.address;
        if (profile.kind !== 'external' || address === undefined) continue;
        if (
          prefixContainsAddress(cidr, address) &&
          !excepts.some((e) => prefixContainsAddress(e, address))
        ) {
          members.push(identity);
        }
      }
    }
    this.cidrSets.set(key, members);
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
    const rows: [string, PolicyEntry][] = [['*', other]];
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
      if (base !== other) rows.push([`${proto}`, base]);
      for (const { lo, hi, entry } of segments) {
        if (entry === base) continue;
        for (const [start, bits] of portBlocks(lo, hi))
          rows.push([`${proto}:${start}/${bits}`, entry]);
      }
    }
    return { rows, key: rows.map(([suffix, entry]) => `${suffix}=${entryKey(entry)}`).join(' ') };
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

interface EncodedFunction {
  readonly rows: readonly (readonly [string, PolicyEntry])[];
  /** Equal keys, equal functions. */
  readonly key: string;
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

function namesUsed(rules: readonly Rule[]): Set<string> {
  const names = new Set<string>();
  for (const rule of rules) {
    for (const port of rule.ports ?? []) if ('name' in port) names.add(port.name);
  }
  return names;
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
