import {
  DomainError,
  IDENTITY_WORLD,
  POLICY_TIERS,
  parseIpv4,
  policyRuleId,
  type PolicyDirection,
  type PolicyPeer,
  type PolicyPort,
  type PolicyTier,
  type RuleAction,
} from '@strata/domain';
import {
  securityLabelsOf,
  selectorMatches,
  type EndpointFact,
  type PolicyFact,
  type PolicyFacts,
} from './facts';
import { prefixContainsAddress, toPrefix } from './prefix';

/**
 * The reference semantics of policy (docs/policy.md, "Evaluation"), straight from the facts:
 * no compiled table is read here. The compiled tables and the BPF lookups must agree with it;
 * the SRE tools (explain verdict, trace) report what it says.
 */

export const EVALUATED_PROTOCOLS = ['TCP', 'UDP', 'SCTP', 'ICMP'] as const;
export type EvaluatedProtocol = (typeof EVALUATED_PROTOCOLS)[number];

export interface PolicyQuery {
  /** IPv4 address of the sender. */
  readonly source: string;
  readonly destination: string;
  readonly protocol: EvaluatedProtocol;
  /** Destination port; ignored for ICMP. */
  readonly port: number;
}

export type Verdict = 'allow' | 'deny';

export interface DirectionVerdict {
  readonly verdict: Verdict;
  /**
   * rule: a rule decided; isolated: application-tier isolation (rule 1); not-selected: no
   * policy selects the endpoint for this direction (rule 0); end-of-tiers: selected, nothing
   * decided through baseline (rule 0).
   */
  readonly reason: 'rule' | 'isolated' | 'not-selected' | 'end-of-tiers';
  readonly rule: number;
  readonly tier: PolicyTier | null;
  readonly policyId: string | null;
  readonly policyName: string | null;
  readonly policyRevision: number | null;
  readonly ruleIndex: number | null;
  readonly action: RuleAction | null;
  /** Tiers left early by a `pass` rule, in order. */
  readonly passedTiers: PolicyTier[];
}

export interface PolicyVerdict {
  /** Allowed only when both directions allow. */
  readonly verdict: Verdict;
  readonly sourceIdentity: number;
  readonly destinationIdentity: number;
  /** The source's egress policy (at its node). */
  readonly egress: DirectionVerdict;
  /** The destination's ingress policy (at its node). */
  readonly ingress: DirectionVerdict;
  /** The same evaluation with staged policies counted as enforced. */
  readonly staged: {
    readonly verdict: Verdict;
    readonly egress: DirectionVerdict;
    readonly ingress: DirectionVerdict;
  };
}

/** One side of the traffic: an endpoint, or an address that is none (CIDR peer or world). */
interface Party {
  readonly address: number;
  readonly endpoint: EndpointFact | undefined;
  readonly identity: number;
}

/** Throws DomainError (InvalidIp, InvalidArgument, InvalidPort) on a malformed query. */
export function evaluatePolicyFacts(facts: PolicyFacts, query: PolicyQuery): PolicyVerdict {
  const { protocol, port } = parseQuery(query);
  const source = party(facts, query.source, 'source');
  const destination = party(facts, query.destination, 'destination');
  const decide = (includeStaged: boolean) => {
    const egress = evaluateDirection(
      facts,
      source,
      'egress',
      destination,
      protocol,
      port,
      includeStaged,
    );
    const ingress = evaluateDirection(
      facts,
      destination,
      'ingress',
      source,
      protocol,
      port,
      includeStaged,
    );
    const verdict: Verdict =
      egress.verdict === 'allow' && ingress.verdict === 'allow' ? 'allow' : 'deny';
    return { verdict, egress, ingress };
  };
  const enforced = decide(false);
  return {
    verdict: enforced.verdict,
    sourceIdentity: source.identity,
    destinationIdentity: destination.identity,
    egress: enforced.egress,
    ingress: enforced.ingress,
    staged: decide(true),
  };
}

function parseQuery(query: PolicyQuery): { protocol: EvaluatedProtocol; port: number } {
  if (typeof query !== 'object' || query === null) {
    throw new DomainError('InvalidArgument', 'a policy query must be an object');
  }
  if (!EVALUATED_PROTOCOLS.includes(query.protocol)) {
    throw new DomainError(
      'InvalidArgument',
      `protocol must be one of ${EVALUATED_PROTOCOLS.join(', ')}, got ${JSON.stringify(query.protocol)}`,
    );
  }
  if (query.protocol === 'ICMP') return { protocol: 'ICMP', port: 0 };
  const port = query.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new DomainError(
      'InvalidPort',
      `port must be an integer 0-65535, got ${JSON.stringify(port)}`,
    );
  }
  return { protocol: query.protocol, port };
}

/**
 * An address as the dataplane sees it: the endpoint that owns it (an external endpoint without
 * a known identity counts as a plain address), else the longest CIDR-peer prefix, else world.
 */
function party(facts: PolicyFacts, ip: unknown, what: string): Party {
  const address = parseIpv4(ip, `${what} address`);
  const owner = facts.endpointAt(ip as string);
  const endpoint =
    owner !== undefined && (owner.kind === 'pod' || owner.identity !== 0) ? owner : undefined;
  const identity =
    endpoint !== undefined ? endpoint.identity : (facts.cidrIdentityOf(address) ?? IDENTITY_WORLD);
  return { address, endpoint, identity };
}

interface Match {
  readonly policy: PolicyFact;
  readonly index: number;
  readonly action: RuleAction;
}

const STRICTNESS: Readonly<Record<RuleAction, number>> = { deny: 0, allow: 1, pass: 2 };

/** One endpoint, one direction: the tiers in order (docs/policy.md). */
export function evaluateDirection(
  facts: PolicyFacts,
  subject: Party,
  direction: PolicyDirection,
  peer: Party,
  protocol: EvaluatedProtocol,
  port: number,
  includeStaged: boolean,
): DirectionVerdict {
  const passedTiers: PolicyTier[] = [];
  const fixed = (
    verdict: Verdict,
    reason: 'isolated' | 'not-selected' | 'end-of-tiers',
    rule: number,
    tier: PolicyTier | null,
  ): DirectionVerdict => ({
    verdict,
    reason,
    rule,
    tier,
    policyId: null,
    policyName: null,
    policyRevision: null,
    ruleIndex: null,
    action: null,
    passedTiers,
  });
  const endpoint = subject.endpoint;
  // Only pods are enforced (an external endpoint has no dataplane of ours); an endpoint of
  // unknown identity cannot be told apart by the dataplane, so no policy selects it.
  if (endpoint === undefined || endpoint.kind !== 'pod' || endpoint.identity === 0) {
    return fixed('allow', 'not-selected', 0, null);
  }
  const labels = securityLabelsOf(endpoint);
  const selecting = [...facts.policies.values()].filter(
    ({ spec }) =>
      (includeStaged || !spec.staged) &&
      spec.directions.includes(direction) &&
      selectorMatches(spec.selector, labels),
  );
  if (selecting.length === 0) return fixed('allow', 'not-selected', 0, null);
  // Named ports resolve against the endpoint that receives.
  // Named ports resolve against the endpoint that receives (one of known identity: the
  // dataplane knows an endpoint only by its identity).
  const receiver =
    direction === 'ingress'
      ? endpoint
      : peer.endpoint !== undefined && peer.endpoint.identity !== 0
        ? peer.endpoint
        : undefined;
  for (const tier of POLICY_TIERS) {
    const inTier = selecting.filter(({ spec }) => spec.tier === tier);
    const matches: Match[] = [];
    for (const policy of inTier) {
      policy.spec[direction].forEach((rule, index) => {
        if (
          rule.peers.length > 0 &&
          !rule.peers.some((candidate) => peerMatches(candidate, peer))
        ) {
          return;
        }
        if (
          rule.ports.length > 0 &&
          !rule.ports.some((candidate) => portMatches(candidate, protocol, port, receiver))
        ) {
          return;
        }
        matches.push({ policy, index, action: rule.action });
      });
    }
    if (matches.length === 0) {
      if (tier === 'application' && inTier.length > 0) {
        return fixed('deny', 'isolated', 1, 'application');
      }
      continue;
    }
    const priority = Math.min(...matches.map(({ policy }) => policy.spec.priority));
    const winner = matches
      .filter(({ policy }) => policy.spec.priority === priority)
      .sort(
        (a, b) =>
          STRICTNESS[a.action] - STRICTNESS[b.action] ||
          (a.policy.policyId < b.policy.policyId
            ? -1
            : a.policy.policyId > b.policy.policyId
              ? 1
              : 0) ||
          a.index - b.index,
      )[0];
    if (winner.action === 'pass') {
      passedTiers.push(tier);
      continue;
    }
    return {
      verdict: winner.action,
      reason: 'rule',
      rule: policyRuleId(winner.policy.policyId, direction, winner.index),
      tier,
      policyId: winner.policy.policyId,
      policyName: winner.policy.spec.name,
      policyRevision: winner.policy.revision,
      ruleIndex: winner.index,
      action: winner.action,
      passedTiers,
    };
  }
  return fixed('allow', 'end-of-tiers', 0, null);
}

/**
 * Selector peers match endpoints of known identity by security labels; CIDR peers match
 * addresses that are not pods (external endpoints included) inside `cidr` and outside `except`.
 */
function peerMatches(candidate: PolicyPeer, peer: Party): boolean {
  if ('selector' in candidate) {
    const endpoint = peer.endpoint;
    return (
      endpoint !== undefined &&
      endpoint.identity !== 0 &&
      selectorMatches(candidate.selector, securityLabelsOf(endpoint))
    );
  }
  if (peer.endpoint !== undefined && peer.endpoint.kind === 'pod') return false;
  const cidr = toPrefix(candidate.cidr);
  if (cidr === undefined || !prefixContainsAddress(cidr, peer.address)) return false;
  return !candidate.except.some((text) => {
    const except = toPrefix(text);
    return except !== undefined && prefixContainsAddress(except, peer.address);
  });
}

function portMatches(
  candidate: PolicyPort,
  protocol: EvaluatedProtocol,
  port: number,
  receiver: EndpointFact | undefined,
): boolean {
  if (candidate.protocol !== protocol) return false;
  if ('name' in candidate) {
    return (
      receiver !== undefined &&
      receiver.namedPorts.some(
        (named) =>
          named.name === candidate.name && named.protocol === protocol && named.port === port,
      )
    );
  }
  return port >= candidate.port && port <= candidate.endPort;
}
