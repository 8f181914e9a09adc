import { assertDnsLabel } from '../net/dns';
import { labelsEqual, parseLabels, type Labels } from '../net/labels';
import { assertPort } from '../net/port';
import type { Command, Decider, Event } from '../shared/decider';
import { DomainError } from '../shared/errors';
import { assertId } from '../shared/ids';

/**
 * Policy: one tiered micro-segmentation rule. Stream: `policy-<id>`.
 *
 * A policy applies to the endpoints its `selector` matches (an empty selector: every endpoint),
 * in one `direction`: their ingress (traffic from `peers`) or their egress (traffic to `peers`).
 * Peers are label selectors; no peers means any peer. Ports are L4 ports or port ranges; no ports
 * means every port. Evaluation (a later issue) goes tier by tier — platform, then application,
 * then baseline — and within a tier by ascending `priority`; the first matching policy's
 * `action` decides: allow, deny, or pass (skip the rest of this tier and go on to the next,
 * which is why baseline, the last tier, cannot pass). A `staged` policy is recorded and shown
 * but not enforced: a dry run of a change.
 *
 * Selectors are `{ matchLabels }` so that set-based expressions can be added without changing
 * the shape of what is stored. Peers and ports are kept sorted and unique, so two equal
 * policies serialise identically. Life: created -> updated* -> deleted; ids are not reused.
 */
export const policyStream = (policyId: string): string => `policy-${policyId}`;

export const POLICY_TIERS = ['platform', 'application', 'baseline'] as const;
export type PolicyTier = (typeof POLICY_TIERS)[number];
export const POLICY_ACTIONS = ['allow', 'deny', 'pass'] as const;
export type PolicyAction = (typeof POLICY_ACTIONS)[number];
export const POLICY_DIRECTIONS = ['ingress', 'egress'] as const;
export type PolicyDirection = (typeof POLICY_DIRECTIONS)[number];
export const POLICY_PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
export type PolicyProtocol = (typeof POLICY_PROTOCOLS)[number];

/** Lower runs first within a tier. */
export const MIN_POLICY_PRIORITY = 0;
export const MAX_POLICY_PRIORITY = 65_535;
export const MAX_POLICY_PEERS = 256;
export const MAX_POLICY_PORTS = 256;

export interface LabelSelector {
  readonly matchLabels: Labels;
}

/** `port` alone, or the inclusive range `port`-`endPort`; `endPort` equals `port` for one port. */
export interface PolicyPort {
  readonly protocol: PolicyProtocol;
  readonly port: number;
  readonly endPort: number;
}

/** Everything about a policy but its id: what create sets and update changes. */
export interface PolicySpec {
  readonly name: string;
  readonly tier: PolicyTier;
  readonly priority: number;
  readonly action: PolicyAction;
  readonly direction: PolicyDirection;
  readonly selector: LabelSelector;
  readonly peers: readonly LabelSelector[];
  readonly ports: readonly PolicyPort[];
  readonly staged: boolean;
}

export type PolicyCreated = Event<'PolicyCreated', { policyId: string } & PolicySpec>;
/** Carries every field with its new value. */
export type PolicyUpdated = Event<'PolicyUpdated', { policyId: string } & PolicySpec>;
export type PolicyDeleted = Event<'PolicyDeleted', { policyId: string }>;
export type PolicyEvent = PolicyCreated | PolicyUpdated | PolicyDeleted;

/** A port as a command gives it: `endPort` absent for a single port. */
export interface PolicyPortInput {
  readonly protocol: PolicyProtocol;
  readonly port: number;
  readonly endPort?: number;
}

/** As a command gives it: `peers` and `ports` default to none (any), `staged` to false. */
export interface PolicySpecInput {
  readonly name: string;
  readonly tier: PolicyTier;
  readonly priority: number;
  readonly action: PolicyAction;
  readonly direction: PolicyDirection;
  readonly selector: LabelSelector;
  readonly peers?: readonly LabelSelector[];
  readonly ports?: readonly PolicyPortInput[];
  readonly staged?: boolean;
}

export type CreatePolicy = Command<'CreatePolicy', { policyId: string } & PolicySpecInput>;
/** Absent fields keep their value. */
export type UpdatePolicy = Command<'UpdatePolicy', { policyId: string } & Partial<PolicySpecInput>>;
export type DeletePolicy = Command<'DeletePolicy', { policyId: string }>;
export type PolicyCommand = CreatePolicy | UpdatePolicy | DeletePolicy;

export type ActivePolicy = { status: 'active' } & PolicyCreated['data'];
export type PolicyState =
  { status: 'empty' } | ActivePolicy | { status: 'deleted'; policyId: string };

function oneOf<V extends string>(values: readonly V[], value: unknown, what: string): V {
  if (!values.includes(value as V)) {
    throw new DomainError(
      'InvalidArgument',
      `${what} must be one of ${values.join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
  return value as V;
}

export function assertPolicyPriority(value: unknown): number {
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < MIN_POLICY_PRIORITY ||
    value > MAX_POLICY_PRIORITY
  ) {
    throw new DomainError(
      'InvalidArgument',
      `priority must be an integer ${MIN_POLICY_PRIORITY}-${MAX_POLICY_PRIORITY}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

export function parseLabelSelector(value: unknown, what: string): LabelSelector {
  const matchLabels = (value as Partial<LabelSelector> | null)?.matchLabels;
  return { matchLabels: parseLabels(matchLabels, `${what} matchLabels`) };
}

const selectorKey = (selector: LabelSelector): string =>
  JSON.stringify(Object.entries(selector.matchLabels));

/** Peers sorted and each once; an empty list matches any peer. */
export function parsePeers(value: unknown): LabelSelector[] {
  if (!Array.isArray(value) || value.length > MAX_POLICY_PEERS) {
    throw new DomainError(
      'InvalidArgument',
      `peers must be a list of at most ${MAX_POLICY_PEERS} label selectors`,
    );
  }
  const byKey = new Map<string, LabelSelector>();
  value.forEach((peer: unknown, i) => {
    const selector = parseLabelSelector(peer, `peer ${i + 1}`);
    byKey.set(selectorKey(selector), selector);
  });
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, s]) => s);
}

/** Ports sorted by protocol, then range, each once; an empty list matches every port. */
export function parsePolicyPorts(value: unknown): PolicyPort[] {
  if (!Array.isArray(value) || value.length > MAX_POLICY_PORTS) {
    throw new DomainError(
      'InvalidPort',
      `ports must be a list of at most ${MAX_POLICY_PORTS} ports or port ranges`,
    );
  }
  const ports = value.map((item: Partial<PolicyPortInput> | null, i): PolicyPort => {
    const protocol = item?.protocol;
    if (!POLICY_PROTOCOLS.includes(protocol as PolicyProtocol)) {
      throw new DomainError(
        'InvalidPort',
        `port ${i + 1} protocol must be TCP, UDP or SCTP, got ${JSON.stringify(protocol)}`,
      );
    }
    const port = assertPort(item?.port, `port ${i + 1}`);
    const endPort =
      item?.endPort === undefined ? port : assertPort(item.endPort, `port ${i + 1} end`);
    if (endPort < port) {
      throw new DomainError(
        'InvalidPort',
        `port ${i + 1} range ${port}-${endPort} ends before it starts`,
      );
    }
    return { protocol: protocol as PolicyProtocol, port, endPort };
  });
  ports.sort((a, b) =>
    a.protocol < b.protocol
      ? -1
      : a.protocol > b.protocol
        ? 1
        : a.port - b.port || a.endPort - b.endPort,
  );
  return ports.filter(
    (p, i) =>
      i === 0 ||
      p.protocol !== ports[i - 1].protocol ||
      p.port !== ports[i - 1].port ||
      p.endPort !== ports[i - 1].endPort,
  );
}

/** Validates a complete spec and returns it in canonical form. */
export function parsePolicySpec(input: PolicySpecInput): PolicySpec {
  const tier = oneOf(POLICY_TIERS, input.tier, 'tier');
  const action = oneOf(POLICY_ACTIONS, input.action, 'action');
  if (tier === 'baseline' && action === 'pass') {
    throw new DomainError(
      'InvalidArgument',
      'a baseline policy cannot pass: baseline is the last tier, there is no next one',
    );
  }
  if (input.staged !== undefined && typeof input.staged !== 'boolean') {
    throw new DomainError('InvalidArgument', 'staged must be true or false');
  }
  return {
    name: assertDnsLabel(input.name, 'policy name'),
    tier,
    priority: assertPolicyPriority(input.priority),
    action,
    direction: oneOf(POLICY_DIRECTIONS, input.direction, 'direction'),
    selector: parseLabelSelector(input.selector, 'selector'),
    peers: parsePeers(input.peers ?? []),
    ports: parsePolicyPorts(input.ports ?? []),
    staged: input.staged ?? false,
  };
}

export function policySpecsEqual(a: PolicySpec, b: PolicySpec): boolean {
  return (
    a.name === b.name &&
    a.tier === b.tier &&
    a.priority === b.priority &&
    a.action === b.action &&
    a.direction === b.direction &&
    a.staged === b.staged &&
    labelsEqual(a.selector.matchLabels, b.selector.matchLabels) &&
    a.peers.length === b.peers.length &&
    a.peers.every((peer, i) => labelsEqual(peer.matchLabels, b.peers[i].matchLabels)) &&
    a.ports.length === b.ports.length &&
    a.ports.every(
      (port, i) =>
        port.protocol === b.ports[i].protocol &&
        port.port === b.ports[i].port &&
        port.endPort === b.ports[i].endPort,
    )
  );
}

function specOf(policy: ActivePolicy): PolicySpec {
  const { name, tier, priority, action, direction, selector, peers, ports, staged } = policy;
  return { name, tier, priority, action, direction, selector, peers, ports, staged };
}

export function decidePolicy(command: PolicyCommand, state: PolicyState): PolicyEvent[] {
  switch (command.type) {
    case 'CreatePolicy': {
      const { policyId: rawId, ...input } = command.data;
      const policyId = assertId(rawId, 'policy id');
      const spec = parsePolicySpec(input);
      if (state.status === 'deleted') {
        throw new DomainError(
          'AlreadyExists',
          `policy ${policyId} was deleted; ids are not reused`,
        );
      }
      if (state.status === 'active') {
        if (policySpecsEqual(specOf(state), spec)) return [];
        throw new DomainError('AlreadyExists', `policy ${policyId} exists with other settings`);
      }
      return [{ type: 'PolicyCreated', data: { policyId, ...spec } }];
    }
    case 'UpdatePolicy': {
      const active = requireActive(state, command.data.policyId);
      const { policyId: _policyId, ...changes } = command.data;
      const defined = Object.fromEntries(
        Object.entries(changes).filter(([, value]) => value !== undefined),
      );
      const current = specOf(active);
      const spec = parsePolicySpec({ ...current, ...defined });
      if (policySpecsEqual(current, spec)) return [];
      return [{ type: 'PolicyUpdated', data: { policyId: active.policyId, ...spec } }];
    }
    case 'DeletePolicy': {
      if (state.status === 'deleted') return [];
      const active = requireActive(state, command.data.policyId);
      return [{ type: 'PolicyDeleted', data: { policyId: active.policyId } }];
    }
    default: {
      const _exhaustive: never = command;
      throw new DomainError(
        'InvalidArgument',
        `unknown policy command ${JSON.stringify(_exhaustive)}`,
      );
    }
  }
}

function requireActive(state: PolicyState, policyId: string): ActivePolicy {
  if (state.status === 'active') return state;
  throw new DomainError(
    'NotFound',
    state.status === 'deleted' ? `policy ${policyId} was deleted` : `policy ${policyId} not found`,
  );
}

export function evolvePolicy(state: PolicyState, event: PolicyEvent): PolicyState {
  switch (event.type) {
    case 'PolicyCreated':
      return { status: 'active', ...event.data };
    case 'PolicyUpdated':
      return state.status === 'active' ? { status: 'active', ...event.data } : state;
    case 'PolicyDeleted':
      return { status: 'deleted', policyId: event.data.policyId };
    default: {
      const _exhaustive: never = event;
      void _exhaustive;
      return state;
    }
  }
}

export const policyDecider: Decider<PolicyState, PolicyCommand, PolicyEvent> = {
  decide: decidePolicy,
  evolve: evolvePolicy,
  initialState: () => ({ status: 'empty' }),
};
