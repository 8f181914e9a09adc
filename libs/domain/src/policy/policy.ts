import { parseCidr, formatCidr, cidrContains, type Cidr } from '../net/cidr';
import { assertDnsLabel, assertDnsSubdomain } from '../net/dns';
import { labelKeyProblem, labelValueProblem, parseLabels } from '../net/labels';
import { assertPort } from '../net/port';
import type { Command, Decider, Event } from '../shared/decider';
import { DomainError, isDomainError } from '../shared/errors';
import { assertId } from '../shared/ids';
import {
  POLICY_DIRECTIONS,
  POLICY_PROTOCOLS,
  POLICY_TIERS,
  RULE_ACTIONS,
  SELECTOR_OPERATORS,
  type LabelExpression,
  type LabelSelector,
  type PolicyDirection,
  type PolicyPeer,
  type PolicyPort,
  type PolicyProtocol,
  type PolicyRule,
  type PolicySource,
  type PolicySpec,
  type PolicyTier,
  type RuleAction,
} from './model';

/**
 * Policy: one tiered micro-segmentation policy (model.ts gives the shapes, docs/policy.md the
 * evaluation). Stream: `policy-<id>`. Life: created -> updated* -> deleted. CreatePolicy does not
 * reuse a deleted id; ApplyPolicy (declarative: "this id should hold this spec") creates,
 * replaces, or re-creates a deleted id, so a Kubernetes NetworkPolicy deleted and applied again
 * keeps its id.
 *
 * Everything is held in canonical form so that equal policies serialise identically: labels and
 * expression values sorted, expressions, peers, ports and `except` blocks sorted and each once,
 * directions in the order of POLICY_DIRECTIONS (ingress, egress). Rules keep the order they were given in: a rule's index is part of its rule
 * id (policyRuleId), which counters and `strata policy show` report.
 *
 * Schema versions: v1 events ({action, direction, peers: LabelSelector[], ports}) are upcast on
 * read by readPolicySpec; new events are always v2 (model.ts).
 */
export const policyStream = (policyId: string): string => `policy-${policyId}`;

/** Lower runs first within a tier. */
export const MIN_POLICY_PRIORITY = 0;
export const MAX_POLICY_PRIORITY = 65_535;
export const MAX_POLICY_RULES = 256;
export const MAX_POLICY_PEERS = 256;
export const MAX_POLICY_PORTS = 256;
export const MAX_SELECTOR_EXPRESSIONS = 256;
export const MAX_EXPRESSION_VALUES = 256;
export const MAX_CIDR_EXCEPTIONS = 256;

export type PolicyCreated = Event<'PolicyCreated', { policyId: string } & PolicySpec>;
/** Carries every field with its new value. */
export type PolicyUpdated = Event<'PolicyUpdated', { policyId: string } & PolicySpec>;
export type PolicyDeleted = Event<'PolicyDeleted', { policyId: string }>;
export type PolicyEvent = PolicyCreated | PolicyUpdated | PolicyDeleted;

/** A selector as a command gives it: `matchExpressions` and expression `values` optional. */
export interface LabelSelectorInput {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly {
    readonly key: string;
    readonly operator: string;
    readonly values?: readonly string[];
  }[];
}

/** A peer as a command gives it: `except` defaults to none. */
export type PolicyPeerInput =
  | { readonly selector: LabelSelectorInput }
  | { readonly cidr: string; readonly except?: readonly string[] };

/** A port as a command gives it: `endPort` absent for one port; or a named port. */
export type PolicyPortInput =
  | { readonly protocol: PolicyProtocol; readonly port: number; readonly endPort?: number }
  | { readonly protocol: PolicyProtocol; readonly name: string };

/** A rule as a command gives it: no peers (any) and no ports (every port) by default. */
export interface PolicyRuleInput {
  readonly action: RuleAction;
  readonly peers?: readonly PolicyPeerInput[];
  readonly ports?: readonly PolicyPortInput[];
}

/**
 * A spec as a command gives it. Defaults: no rules; `directions` the directions that have rules
 * (one of them is required); not staged; source Strata.
 */
export interface PolicySpecInput {
  readonly name: string;
  readonly tier: PolicyTier;
  readonly priority: number;
  readonly selector: LabelSelectorInput;
  readonly directions?: readonly PolicyDirection[];
  readonly ingress?: readonly PolicyRuleInput[];
  readonly egress?: readonly PolicyRuleInput[];
  readonly staged?: boolean;
  readonly source?: PolicySource;
}

export type CreatePolicy = Command<'CreatePolicy', { policyId: string } & PolicySpecInput>;
/** Absent fields keep their value; the result is validated as a whole. */
export type UpdatePolicy = Command<'UpdatePolicy', { policyId: string } & Partial<PolicySpecInput>>;
/** Create or replace: the id holds exactly this spec afterwards. Equal: nothing happens. */
export type ApplyPolicy = Command<'ApplyPolicy', { policyId: string } & PolicySpecInput>;
export type DeletePolicy = Command<'DeletePolicy', { policyId: string }>;
export type PolicyCommand = CreatePolicy | UpdatePolicy | ApplyPolicy | DeletePolicy;

export type ActivePolicy = { status: 'active' } & PolicyCreated['data'];
export type PolicyState =
  { status: 'empty' } | ActivePolicy | { status: 'deleted'; policyId: string };

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function oneOf<V extends string>(values: readonly V[], value: unknown, what: string): V {
  if (!values.includes(value as V)) {
    throw new DomainError(
      'InvalidArgument',
      `${what} must be one of ${values.join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
  return value as V;
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DomainError('InvalidArgument', `${what} must be an object`);
  }
  return value as Record<string, unknown>;
}

function list(value: unknown, max: number, what: string): unknown[] {
  if (!Array.isArray(value)) {
    throw new DomainError('InvalidArgument', `${what} must be a list`);
  }
  if (value.length > max) {
    throw new DomainError(
      'InvalidArgument',
      `${what} has ${value.length} items; at most ${max} are allowed`,
    );
  }
  return value;
}

/** Sorted by `key` and each key once (the last of equal keys wins; they are equal anyway). */
function canonical<T>(items: readonly T[], key: (item: T) => string): T[] {
  const byKey = new Map<string, T>();
  for (const item of items) byKey.set(key(item), item);
  return [...byKey.entries()].sort(([a], [b]) => compare(a, b)).map(([, item]) => item);
}

export function assertPolicyPriority(value: unknown, what = 'priority'): number {
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < MIN_POLICY_PRIORITY ||
    value > MAX_POLICY_PRIORITY
  ) {
    throw new DomainError(
      'InvalidArgument',
      `${what} must be an integer ${MIN_POLICY_PRIORITY}-${MAX_POLICY_PRIORITY}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function parseExpression(value: unknown, what: string): LabelExpression {
  const item = record(value, what);
  const key = item.key;
  const keyProblem = typeof key === 'string' ? labelKeyProblem(key) : 'must be a string';
  if (keyProblem !== undefined) {
    throw new DomainError('InvalidLabels', `${what} key ${JSON.stringify(key)}: ${keyProblem}`);
  }
  const operator = oneOf(SELECTOR_OPERATORS, item.operator, `${what} operator`);
  const raw = list(item.values ?? [], MAX_EXPRESSION_VALUES, `${what} values`);
  const values = raw.map((v, i) => {
    const problem = typeof v === 'string' ? labelValueProblem(v) : 'must be a string';
    if (problem !== undefined) {
      throw new DomainError(
        'InvalidLabels',
        `${what} values[${i}] ${JSON.stringify(v)} ${problem}`,
      );
    }
    return v as string;
  });
  const set = operator === 'In' || operator === 'NotIn';
  if (set && values.length === 0) {
    throw new DomainError(
      'InvalidLabels',
      `${what}: operator ${operator} needs at least one value`,
    );
  }
  if (!set && values.length > 0) {
    throw new DomainError('InvalidLabels', `${what}: operator ${operator} takes no values`);
  }
  return { key: key as string, operator, values: [...new Set(values)].sort(compare) };
}

/** Validates a selector (InvalidLabels) and returns it in canonical form. */
export function parseLabelSelector(value: unknown, what = 'selector'): LabelSelector {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DomainError('InvalidLabels', `${what} must be an object`);
  }
  const input = value as { matchLabels?: unknown; matchExpressions?: unknown };
  const expressions = list(
    input.matchExpressions ?? [],
    MAX_SELECTOR_EXPRESSIONS,
    `${what}.matchExpressions`,
  ).map((e, i) => parseExpression(e, `${what}.matchExpressions[${i}]`));
  return {
    matchLabels: parseLabels(input.matchLabels ?? {}, `${what}.matchLabels`),
    matchExpressions: canonical(expressions, (e) => JSON.stringify([e.key, e.operator, e.values])),
  };
}

function parsePeer(value: unknown, what: string): PolicyPeer {
  const item = record(value, what);
  const hasSelector = item.selector !== undefined;
  const hasCidr = item.cidr !== undefined;
  if (hasSelector === hasCidr) {
    throw new DomainError('InvalidArgument', `${what} must have exactly one of selector or cidr`);
  }
  if (hasSelector) {
    if (item.except !== undefined) {
      throw new DomainError('InvalidArgument', `${what}: except belongs to a cidr peer`);
    }
    return { selector: parseLabelSelector(item.selector, `${what}.selector`) };
  }
  const cidr = parseCidr(item.cidr, `${what}.cidr`);
  const except = list(item.except ?? [], MAX_CIDR_EXCEPTIONS, `${what}.except`).map((e, i) => {
    const inner = parseCidr(e, `${what}.except[${i}]`);
    if (!(inner.prefix > cidr.prefix && cidrContains(cidr, inner.network))) {
      throw new DomainError(
        'InvalidCidr',
        `${what}.except[${i}] ${formatCidr(inner)} must be inside ${formatCidr(cidr)} (and smaller)`,
      );
    }
    return inner;
  });
  const sortedExcept = canonical(except, cidrSortKey).map(formatCidr);
  return { cidr: formatCidr(cidr), except: sortedExcept };
}

/** CIDR peers first (by address, then length), then selectors (by their canonical JSON). */
const peerSortKey = (p: PolicyPeer): string =>
  'cidr' in p
    ? `0 ${cidrSortKey(parseCidr(p.cidr))} ${p.except.join(',')}`
    : `1 ${JSON.stringify([p.selector.matchLabels, p.selector.matchExpressions])}`;

const cidrSortKey = (c: Cidr): string =>
  `${c.network.toString(16).padStart(8, '0')}/${String(c.prefix).padStart(2, '0')}`;

/** IANA service names (RFC 6335) as Kubernetes checks named ports. */
const SERVICE_NAME = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
export function isServiceName(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length <= 15 &&
    SERVICE_NAME.test(value) &&
    /[a-z]/.test(value) &&
    !value.includes('--')
  );
}

function parsePort(value: unknown, what: string): PolicyPort {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DomainError('InvalidPort', `${what} must be an object`);
  }
  const item = value as Record<string, unknown>;
  if (!POLICY_PROTOCOLS.includes(item.protocol as PolicyProtocol)) {
    throw new DomainError(
      'InvalidPort',
      `${what}.protocol must be TCP, UDP or SCTP, got ${JSON.stringify(item.protocol)}`,
    );
  }
  const protocol = item.protocol as PolicyProtocol;
  if (item.name !== undefined) {
    if (item.port !== undefined || item.endPort !== undefined) {
      throw new DomainError('InvalidPort', `${what} has a name and a number; give one`);
    }
    if (!isServiceName(item.name)) {
      throw new DomainError(
        'InvalidPort',
        `${what}.name must be an IANA service name (1-15 of a-z 0-9 -, a letter, no leading, trailing or double -), got ${JSON.stringify(item.name)}`,
      );
    }
    return { protocol, name: item.name };
  }
  const port = assertPort(item.port, `${what}.port`);
  const endPort = item.endPort === undefined ? port : assertPort(item.endPort, `${what}.endPort`);
  if (endPort < port) {
    throw new DomainError('InvalidPort', `${what} range ${port}-${endPort} ends before it starts`);
  }
  return { protocol, port, endPort };
}

const portSortKey = (p: PolicyPort): string =>
  'name' in p
    ? `${p.protocol}/~${p.name}`
    : `${p.protocol}/${String(p.port).padStart(5, '0')}-${String(p.endPort).padStart(5, '0')}`;

function parseRule(value: unknown, tier: PolicyTier, what: string): PolicyRule {
  const item = record(value, what);
  const action = oneOf(RULE_ACTIONS, item.action, `${what}.action`);
  if (tier === 'baseline' && action === 'pass') {
    throw new DomainError(
      'InvalidArgument',
      `${what}: a baseline policy cannot pass: baseline is the last tier, there is no next one`,
    );
  }
  const peers = list(item.peers ?? [], MAX_POLICY_PEERS, `${what}.peers`).map((p, i) =>
    parsePeer(p, `${what}.peers[${i}]`),
  );
  const ports = list(item.ports ?? [], MAX_POLICY_PORTS, `${what}.ports`).map((p, i) =>
    parsePort(p, `${what}.ports[${i}]`),
  );
  return {
    action,
    peers: canonical(peers, peerSortKey),
    ports: canonical(ports, portSortKey),
  };
}

function parseSource(value: unknown): PolicySource {
  if (value === undefined) return { kind: 'strata', namespace: '', name: '' };
  const item = record(value, 'source');
  const kind = oneOf(['strata', 'kubernetes'] as const, item.kind, 'source.kind');
  if (kind === 'strata') {
    if ((item.namespace ?? '') !== '' || (item.name ?? '') !== '') {
      throw new DomainError('InvalidArgument', 'a Strata policy source has no namespace or name');
    }
    return { kind, namespace: '', name: '' };
  }
  return {
    kind,
    namespace: assertDnsLabel(item.namespace, 'source.namespace'),
    name: assertDnsSubdomain(item.name, 'source.name'),
  };
}

/** Validates a complete spec and returns it in canonical form. */
export function parsePolicySpec(input: PolicySpecInput): PolicySpec {
  const tier = oneOf(POLICY_TIERS, input.tier, 'tier');
  const rules = (direction: PolicyDirection): PolicyRule[] =>
    list(input[direction] ?? [], MAX_POLICY_RULES, direction).map((r, i) =>
      parseRule(r, tier, `${direction}[${i}]`),
    );
  const ingress = rules('ingress');
  const egress = rules('egress');
  const given =
    input.directions ??
    POLICY_DIRECTIONS.filter((d) => (d === 'ingress' ? ingress : egress).length > 0);
  const directionsList = list(given, POLICY_DIRECTIONS.length * 2, 'directions').map((d, i) =>
    oneOf(POLICY_DIRECTIONS, d, `directions[${i}]`),
  );
  const directions = POLICY_DIRECTIONS.filter((d) => directionsList.includes(d));
  if (directions.length === 0) {
    throw new DomainError(
      'InvalidArgument',
      'a policy needs at least one direction (ingress, egress) in directions or in its rules',
    );
  }
  for (const direction of POLICY_DIRECTIONS) {
    if (!directions.includes(direction) && (input[direction]?.length ?? 0) > 0) {
      throw new DomainError(
        'InvalidArgument',
        `the policy has ${direction} rules but ${direction} is not in its directions`,
      );
    }
  }
  if (input.staged !== undefined && typeof input.staged !== 'boolean') {
    throw new DomainError('InvalidArgument', 'staged must be true or false');
  }
  return {
    name: assertDnsSubdomain(input.name, 'policy name'),
    tier,
    priority: assertPolicyPriority(input.priority),
    selector: parseLabelSelector(input.selector, 'selector'),
    directions,
    ingress,
    egress,
    staged: input.staged ?? false,
    source: parseSource(input.source),
  };
}

/** Two canonical specs are equal exactly when they serialise identically. */
export function policySpecsEqual(a: PolicySpec, b: PolicySpec): boolean {
  return JSON.stringify(canonicalSpecOrder(a)) === JSON.stringify(canonicalSpecOrder(b));
}

/** The spec's fields in one fixed order (event data read back may order keys otherwise). */
function canonicalSpecOrder(spec: PolicySpec): PolicySpec {
  const { name, tier, priority, selector, directions, ingress, egress, staged, source } = spec;
  return {
    name,
    tier,
    priority,
    selector: { matchLabels: selector.matchLabels, matchExpressions: selector.matchExpressions },
    directions,
    ingress,
    egress,
    staged,
    source: { kind: source.kind, namespace: source.namespace, name: source.name },
  };
}

/** A schema-v1 policy event's data: one action, one direction, selector peers, no rules. */
interface PolicySpecV1 {
  readonly name: unknown;
  readonly tier: unknown;
  readonly priority: unknown;
  readonly action: unknown;
  readonly direction: unknown;
  readonly selector: unknown;
  readonly peers: unknown;
  readonly ports: unknown;
  readonly staged: unknown;
}

function upcastV1(data: PolicySpecV1): PolicySpecInput {
  const direction = oneOf(POLICY_DIRECTIONS, data.direction, 'direction');
  const peers = list(data.peers ?? [], MAX_POLICY_PEERS, 'peers').map((selector) => ({
    selector: selector as LabelSelectorInput,
  }));
  const rule: PolicyRuleInput = {
    action: data.action as RuleAction,
    peers,
    ports: data.ports as PolicyPortInput[],
  };
  return {
    name: data.name as string,
    tier: data.tier as PolicyTier,
    priority: data.priority as number,
    selector: data.selector as LabelSelectorInput,
    directions: [direction],
    [direction]: [rule],
    staged: data.staged as boolean,
  };
}

const V2_FIELDS = [
  'name',
  'tier',
  'priority',
  'selector',
  'directions',
  'ingress',
  'egress',
  'staged',
  'source',
] as const;

/**
 * The spec in a policy event's data as read back from the log (PolicyCreated / PolicyUpdated,
 * `policyId` and any other envelope field aside): validated and canonical, schema-v1 data
 * upcast to v2. Throws DomainError 'InvalidArgument' on anything malformed. Pure.
 */
export function readPolicySpec(data: unknown): PolicySpec {
  try {
    const item = record(data, 'policy event data');
    if (item.directions === undefined && item.direction !== undefined) {
      return parsePolicySpec(upcastV1(item as unknown as PolicySpecV1));
    }
    const missing = V2_FIELDS.filter((field) => item[field] === undefined);
    if (missing.length > 0) {
      throw new DomainError('InvalidArgument', `lacks ${missing.join(', ')}`);
    }
    return parsePolicySpec(item as unknown as PolicySpecInput);
  } catch (error: unknown) {
    if (!isDomainError(error)) throw error;
    throw new DomainError('InvalidArgument', `policy event data: ${error.message}`);
  }
}

export function specOf(policy: { policyId: string } & PolicySpec): PolicySpec {
  const { name, tier, priority, selector, directions, ingress, egress, staged, source } = policy;
  return { name, tier, priority, selector, directions, ingress, egress, staged, source };
}

function specInput(command: { policyId: string } & PolicySpecInput): PolicySpec {
  const { policyId: _policyId, ...input } = command;
  return parsePolicySpec(input);
}

function sameSource(a: PolicySource, b: PolicySource): boolean {
  return a.kind === b.kind && a.namespace === b.namespace && a.name === b.name;
}

export function decidePolicy(command: PolicyCommand, state: PolicyState): PolicyEvent[] {
  switch (command.type) {
    case 'CreatePolicy': {
      const policyId = assertId(command.data.policyId, 'policy id');
      const spec = specInput(command.data);
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
    case 'ApplyPolicy': {
      const policyId = assertId(command.data.policyId, 'policy id');
      const spec = specInput(command.data);
      if (state.status !== 'active') {
        return [{ type: 'PolicyCreated', data: { policyId, ...spec } }];
      }
      if (!sameSource(state.source, spec.source)) {
        throw new DomainError(
          'AlreadyExists',
          `policy ${policyId} holds ${describeSource(state.source)}, not ${describeSource(spec.source)}`,
        );
      }
      if (policySpecsEqual(specOf(state), spec)) return [];
      return [{ type: 'PolicyUpdated', data: { policyId, ...spec } }];
    }
    case 'UpdatePolicy': {
      const active = requireActive(state, command.data.policyId);
      const { policyId: _policyId, ...changes } = command.data;
      const defined = Object.fromEntries(
        Object.entries(changes).filter(([, value]) => value !== undefined),
      );
      const current = specOf(active);
      const spec = parsePolicySpec({ ...current, ...defined } as PolicySpecInput);
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

function describeSource(source: PolicySource): string {
  return source.kind === 'kubernetes'
    ? `Kubernetes NetworkPolicy ${source.namespace}/${source.name}`
    : 'a Strata policy';
}

function requireActive(state: PolicyState, policyId: string): ActivePolicy {
  if (state.status === 'active') return state;
  throw new DomainError(
    'NotFound',
    state.status === 'deleted' ? `policy ${policyId} was deleted` : `policy ${policyId} not found`,
  );
}

/**
 * Folds one event. Created/Updated data goes through readPolicySpec, so schema-v1 events read
 * back from the log fold as their v2 form; malformed data throws InvalidArgument (no decide
 * produces it).
 */
export function evolvePolicy(state: PolicyState, event: PolicyEvent): PolicyState {
  switch (event.type) {
    case 'PolicyCreated':
      return { status: 'active', policyId: event.data.policyId, ...readPolicySpec(event.data) };
    case 'PolicyUpdated':
      return state.status === 'active'
        ? { status: 'active', policyId: event.data.policyId, ...readPolicySpec(event.data) }
        : state;
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
