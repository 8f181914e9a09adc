import type { Labels } from '../net/labels';

/**
 * The policy model (schema version 2): the shapes every part of Strata agrees on — the policy
 * aggregate stores them, the Kubernetes translator produces them, libs/forwarding compiles them
 * into dataplane tables. docs/policy.md gives the evaluation rules; this file only the shapes.
 */

export const POLICY_TIERS = ['platform', 'application', 'baseline'] as const;
export type PolicyTier = (typeof POLICY_TIERS)[number];
export const RULE_ACTIONS = ['allow', 'deny', 'pass'] as const;
export type RuleAction = (typeof RULE_ACTIONS)[number];
export const POLICY_DIRECTIONS = ['ingress', 'egress'] as const;
export type PolicyDirection = (typeof POLICY_DIRECTIONS)[number];
export const POLICY_PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
export type PolicyProtocol = (typeof POLICY_PROTOCOLS)[number];
export const SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;
export type SelectorOperator = (typeof SELECTOR_OPERATORS)[number];

/** Kubernetes set-based requirement; `values` sorted and unique, empty for Exists/DoesNotExist. */
export interface LabelExpression {
  readonly key: string;
  readonly operator: SelectorOperator;
  readonly values: readonly string[];
}

/**
 * Kubernetes LabelSelector semantics: every matchLabels pair and every expression must hold.
 * Empty selects everything. Selectors see an endpoint's security labels (docs/policy.md):
 * its own labels plus `strata.io/namespace`, `ns.strata.io/<key>` (its namespace's labels),
 * `strata.io/segment` and `strata.io/kind`.
 */
export interface LabelSelector {
  readonly matchLabels: Labels;
  readonly matchExpressions: readonly LabelExpression[];
}

/** A peer chosen by labels (pods and external endpoints alike), or an IPv4 block. */
export type PolicyPeer =
  | { readonly selector: LabelSelector }
  | { readonly cidr: string; readonly except: readonly string[] };

/** One port, an inclusive range (`endPort` equals `port` for one port), or a named port. */
export type PolicyPort =
  | { readonly protocol: PolicyProtocol; readonly port: number; readonly endPort: number }
  | { readonly protocol: PolicyProtocol; readonly name: string };

/** Peers: none means any peer. Ports: none means every port and protocol (ICMP included). */
export interface PolicyRule {
  readonly action: RuleAction;
  readonly peers: readonly PolicyPeer[];
  readonly ports: readonly PolicyPort[];
}

/** Where a policy came from, for display and for `strata policy apply` of Kubernetes YAML. */
export interface PolicySource {
  readonly kind: 'strata' | 'kubernetes';
  /** Kubernetes namespace and name; '' for Strata's own policies. */
  readonly namespace: string;
  readonly name: string;
}

/**
 * Everything about a policy but its id. `directions` lists the directions the policy applies to
 * (Kubernetes policyTypes): a policy with a direction and no rules for it isolates the selected
 * endpoints in that direction (application tier) without allowing anything.
 */
export interface PolicySpec {
  readonly name: string;
  readonly tier: PolicyTier;
  /** Lower runs first within a tier; 0-65535. */
  readonly priority: number;
  readonly selector: LabelSelector;
  /** Sorted, unique, not empty. */
  readonly directions: readonly PolicyDirection[];
  readonly ingress: readonly PolicyRule[];
  readonly egress: readonly PolicyRule[];
  /** Evaluated and reported, not enforced. */
  readonly staged: boolean;
  readonly source: PolicySource;
}

/** Reserved identities (docs/policy.md). Allocated identities are 256-65535. */
export const IDENTITY_UNKNOWN = 0;
export const IDENTITY_HOST = 1;
/** Any address that is neither an endpoint nor inside a policy's CIDR. */
export const IDENTITY_WORLD = 2;
export const MIN_ALLOCATED_IDENTITY = 256;
export const MAX_ALLOCATED_IDENTITY = 65_535;
/** CIDR identities are node-local and never leave the node: above the 16-bit wire range. */
export const MIN_CIDR_IDENTITY = 0x10000;

/**
 * An endpoint's namespace and its namespace's labels, set by whoever creates the endpoint (the
 * Kubernetes integration, the lab) like any other label.
 */
export const NAMESPACE_LABEL = 'strata.io/namespace';
export const NAMESPACE_LABEL_PREFIX = 'ns.strata.io/';
/** Derived from the endpoint by Strata; an endpoint cannot carry them itself. */
export const SEGMENT_LABEL = 'strata.io/segment';
export const KIND_LABEL = 'strata.io/kind';
