import {
  KIND_LABEL,
  SEGMENT_LABEL,
  type LabelSelector,
  type Labels,
  type PolicyProtocol,
  type PolicySpec,
} from '@strata/domain';

/**
 * The facts policy is decided on, as the fold keeps them: endpoints with their identity,
 * kind and named ports, and policies with the revision of their stream. The reference
 * evaluator and the compiler both read these, never the compiled tables.
 */

export interface NamedPortFact {
  readonly name: string;
  readonly protocol: PolicyProtocol;
  readonly port: number;
}

export interface EndpointFact {
  readonly uid: string;
  readonly segmentId: string;
  /** '' for an external endpoint. */
  readonly node: string;
  readonly ip: string;
  readonly kind: 'pod' | 'external';
  readonly labels: Labels;
  /** From the endpoint's own events; 0 when unknown (selected by nothing, matches no selector). */
  readonly identity: number;
  readonly namedPorts: readonly NamedPortFact[];
}

export interface PolicyFact {
  readonly policyId: string;
  /** The revision of the policy's stream that set this spec. */
  readonly revision: number;
  readonly spec: PolicySpec;
}

/** What the evaluator needs of a forwarding state. */
export interface PolicyFacts {
  /** The endpoint that owns `ip` (smallest uid of the live claimants), any node. */
  endpointAt(ip: string): EndpointFact | undefined;
  readonly policies: ReadonlyMap<string, PolicyFact>;
  /** The node-local identity of the longest CIDR-peer prefix holding `address`, if any. */
  cidrIdentityOf(address: number): number | undefined;
}

/** Keys that change per replica: not part of an identity (docs/policy.md). */
const PER_REPLICA_KEYS: ReadonlySet<string> = new Set([
  'pod-template-hash',
  'controller-revision-hash',
  'pod-template-generation',
  'statefulset.kubernetes.io/pod-name',
  'apps.kubernetes.io/pod-index',
]);

/**
 * The labels selectors see: the endpoint's labels without the per-replica keys, plus
 * strata.io/segment and strata.io/kind (which the endpoint cannot set itself: derived wins).
 */
export function securityLabelsOf(endpoint: {
  readonly labels: Labels;
  readonly segmentId: string;
  readonly kind: string;
}): Labels {
  const out: Record<string, string> = {};
  for (const key of Object.keys(endpoint.labels)) {
    if (!PER_REPLICA_KEYS.has(key)) out[key] = endpoint.labels[key];
  }
  out[SEGMENT_LABEL] = endpoint.segmentId;
  out[KIND_LABEL] = endpoint.kind;
  return out;
}

/** Kubernetes LabelSelector semantics: every matchLabels pair and every expression holds. */
export function selectorMatches(selector: LabelSelector, labels: Labels): boolean {
  for (const key of Object.keys(selector.matchLabels)) {
    if (!Object.prototype.hasOwnProperty.call(labels, key)) return false;
    if (labels[key] !== selector.matchLabels[key]) return false;
  }
  for (const { key, operator, values } of selector.matchExpressions) {
    const has = Object.prototype.hasOwnProperty.call(labels, key);
    switch (operator) {
      case 'In':
        if (!has || !values.includes(labels[key])) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[key])) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default: {
        const _exhaustive: never = operator;
        return _exhaustive;
      }
    }
  }
  return true;
}

/** IP protocol numbers of the protocols policies name. */
export const PROTOCOL_NUMBERS: Readonly<Record<PolicyProtocol, number>> = {
  TCP: 6,
  UDP: 17,
  SCTP: 132,
};
