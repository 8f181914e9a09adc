import { assertDnsSubdomain } from '../net/dns';
import { assertHostIpv4 } from '../net/ipv4';
import { labelsEqual, parseLabels, type Labels } from '../net/labels';
import { parseMac } from '../net/mac';
import { assertPort } from '../net/port';
import { assertNoDerivedLabels } from '../identity/identity-pool';
import {
  MAX_ALLOCATED_IDENTITY,
  MIN_ALLOCATED_IDENTITY,
  POLICY_PROTOCOLS,
  type PolicyProtocol,
} from '../policy/model';
import type { Command, Decider, Event } from '../shared/decider';
import { DomainError } from '../shared/errors';
import { assertId } from '../shared/ids';

/**
 * Endpoint: an address on a segment that policy and services can talk about.
 * Stream: `endpoint-<uid>`.
 *
 * A 'pod' endpoint runs on a node (its uid is the Kubernetes pod uid) and has a MAC; it can
 * move to another node (live migration, or a VM-backed pod). An 'external' endpoint is outside
 * the overlay (a database host, a VM): it has no node, and its MAC is '' when unknown. Labels can
 * change at any time. Life: created -> (labels updated | moved)* -> deleted; deletion is final
 * (uids are not reused).
 *
 * The IP comes from IPAM (../pool) for pods and from the user for external endpoints; whether
 * it lies in the segment's subnets is checked by the service that has both aggregates at hand.
 *
 * `identity` is the numeric security identity of the endpoint's security labels
 * (../identity): the service acquires it before deciding and the command carries it in, so
 * EndpointCreated and EndpointLabelsUpdated say which identity the endpoint has from then on.
 * Named ports (`http` -> TCP 8080) are what policies name instead of numbers.
 */
export const endpointStream = (uid: string): string => `endpoint-${uid}`;

export type EndpointKind = 'pod' | 'external';
export const ENDPOINT_KINDS: readonly EndpointKind[] = ['pod', 'external'];

/** A port the endpoint serves under a name (Kubernetes containerPort `name`). */
export interface NamedPort {
  /** An IANA service name: 1-15 lowercase letters, digits and '-', with a letter, no '--'. */
  readonly name: string;
  readonly protocol: PolicyProtocol;
  readonly port: number;
}
export const MAX_NAMED_PORTS = 64;

export type EndpointCreated = Event<
  'EndpointCreated',
  {
    uid: string;
    segmentId: string;
    /** The node a pod runs on; '' for an external endpoint. */
    node: string;
    ip: string;
    /** '' for an external endpoint whose MAC is not known. */
    mac: string;
    labels: Labels;
    kind: EndpointKind;
    /** The identity of the endpoint's security labels. */
    identity: number;
    /** Sorted by name; names unique. */
    namedPorts: readonly NamedPort[];
  }
>;
/** The complete new label set, and the identity of the new security labels. */
export type EndpointLabelsUpdated = Event<
  'EndpointLabelsUpdated',
  { uid: string; labels: Labels; identity: number }
>;
export type EndpointMoved = Event<
  'EndpointMoved',
  { uid: string; node: string; previousNode: string }
>;
export type EndpointDeleted = Event<'EndpointDeleted', { uid: string }>;
export type EndpointEvent =
  EndpointCreated | EndpointLabelsUpdated | EndpointMoved | EndpointDeleted;

export type CreateEndpoint = Command<
  'CreateEndpoint',
  {
    uid: string;
    kind: EndpointKind;
    segmentId: string;
    /** Required for pods, absent for external endpoints. */
    node?: string;
    ip: string;
    /** Required for pods, optional for external endpoints. */
    mac?: string;
    labels?: Labels;
    /** The identity the service acquired for the endpoint's security labels. */
    identity: number;
    /** Default none; at most 64, names unique. */
    namedPorts?: readonly NamedPort[];
  }
>;
export type UpdateEndpointLabels = Command<
  'UpdateEndpointLabels',
  { uid: string; labels: Labels; identity: number }
>;
export type MoveEndpoint = Command<'MoveEndpoint', { uid: string; node: string }>;
export type DeleteEndpoint = Command<'DeleteEndpoint', { uid: string }>;
export type EndpointCommand = CreateEndpoint | UpdateEndpointLabels | MoveEndpoint | DeleteEndpoint;

export type ActiveEndpoint = { status: 'active' } & EndpointCreated['data'];
export type EndpointState =
  { status: 'empty' } | ActiveEndpoint | { status: 'deleted'; uid: string };

function parseCreate(data: CreateEndpoint['data']): EndpointCreated['data'] {
  const uid = assertId(data.uid, 'endpoint uid');
  if (!ENDPOINT_KINDS.includes(data.kind)) {
    throw new DomainError(
      'InvalidArgument',
      `endpoint kind must be pod or external, got ${JSON.stringify(data.kind)}`,
    );
  }
  const common = {
    uid,
    kind: data.kind,
    segmentId: assertId(data.segmentId, 'segment id'),
    ip: assertHostIpv4(data.ip, 'endpoint IP'),
    labels: parseEndpointLabels(data.labels ?? {}),
    identity: assertEndpointIdentity(data.identity),
    namedPorts: parseNamedPorts(data.namedPorts ?? []),
  };
  if (data.kind === 'pod') {
    return { ...common, node: assertDnsSubdomain(data.node, 'node name'), mac: parseMac(data.mac) };
  }
  if (data.node !== undefined && data.node !== '') {
    throw new DomainError('InvalidArgument', `external endpoint ${uid} cannot be on a node`);
  }
  return {
    ...common,
    node: '',
    mac: data.mac === undefined || data.mac === '' ? '' : parseMac(data.mac),
  };
}

export function decideEndpoint(command: EndpointCommand, state: EndpointState): EndpointEvent[] {
  switch (command.type) {
    case 'CreateEndpoint': {
      const data = parseCreate(command.data);
      if (state.status === 'deleted') {
        throw new DomainError(
          'AlreadyExists',
          `endpoint ${data.uid} was deleted; uids are not reused`,
        );
      }
      if (state.status === 'active') {
        const same =
          state.kind === data.kind &&
          state.segmentId === data.segmentId &&
          state.node === data.node &&
          state.ip === data.ip &&
          state.mac === data.mac &&
          labelsEqual(state.labels, data.labels) &&
          namedPortsEqual(state.namedPorts, data.namedPorts);
        if (same) return [];
        throw new DomainError('AlreadyExists', `endpoint ${data.uid} exists with other settings`);
      }
      return [{ type: 'EndpointCreated', data }];
    }
    case 'UpdateEndpointLabels': {
      const active = requireActive(state, command.data.uid);
      const labels = parseEndpointLabels(command.data.labels);
      const identity = assertEndpointIdentity(command.data.identity);
      if (labelsEqual(active.labels, labels) && active.identity === identity) return [];
      return [{ type: 'EndpointLabelsUpdated', data: { uid: active.uid, labels, identity } }];
    }
    case 'MoveEndpoint': {
      const active = requireActive(state, command.data.uid);
      const node = assertDnsSubdomain(command.data.node, 'node name');
      if (active.kind !== 'pod') {
        throw new DomainError(
          'InvalidState',
          `external endpoint ${active.uid} is on no node and cannot move`,
        );
      }
      if (node === active.node) return [];
      return [
        { type: 'EndpointMoved', data: { uid: active.uid, node, previousNode: active.node } },
      ];
    }
    case 'DeleteEndpoint': {
      if (state.status === 'deleted') return [];
      const active = requireActive(state, command.data.uid);
      return [{ type: 'EndpointDeleted', data: { uid: active.uid } }];
    }
    default: {
      const _exhaustive: never = command;
      throw new DomainError(
        'InvalidArgument',
        `unknown endpoint command ${JSON.stringify(_exhaustive)}`,
      );
    }
  }
}

function parseEndpointLabels(value: unknown): Labels {
  const labels = parseLabels(value);
  assertNoDerivedLabels(labels);
  return labels;
}

function assertEndpointIdentity(value: unknown): number {
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < MIN_ALLOCATED_IDENTITY ||
    value > MAX_ALLOCATED_IDENTITY
  ) {
    throw new DomainError(
      'InvalidArgument',
      `endpoint identity must be an allocated identity ${MIN_ALLOCATED_IDENTITY}-${MAX_ALLOCATED_IDENTITY}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

// RFC 6335 service names, as Kubernetes checks a container port's name.
const SERVICE_NAME = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const MAX_SERVICE_NAME_LENGTH = 15;

/** Why `name` is not an IANA service name, or undefined when it is. */
export function serviceNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > MAX_SERVICE_NAME_LENGTH) {
    return `must be 1-${MAX_SERVICE_NAME_LENGTH} characters`;
  }
  if (!SERVICE_NAME.test(name)) {
    return "may contain only lowercase letters, digits and '-', and must start and end with a letter or digit";
  }
  if (name.includes('--')) return "must not contain '--'";
  if (!/[a-z]/.test(name)) return 'must contain a letter';
  return undefined;
}

/** Validates named ports and returns them sorted by name; throws InvalidName / InvalidPort. */
export function parseNamedPorts(value: unknown): NamedPort[] {
  if (!Array.isArray(value)) {
    throw new DomainError('InvalidArgument', 'named ports must be a list');
  }
  if (value.length > MAX_NAMED_PORTS) {
    throw new DomainError(
      'InvalidArgument',
      `an endpoint has at most ${MAX_NAMED_PORTS} named ports, got ${value.length}`,
    );
  }
  const ports = value.map((item: unknown, index): NamedPort => {
    const { name, protocol, port } = (item ?? {}) as Partial<Record<keyof NamedPort, unknown>>;
    const problem = typeof name === 'string' ? serviceNameProblem(name) : 'must be a string';
    if (problem !== undefined) {
      throw new DomainError(
        'InvalidName',
        `named port ${index} name ${JSON.stringify(name)} ${problem}`,
      );
    }
    if (!POLICY_PROTOCOLS.includes(protocol as PolicyProtocol)) {
      throw new DomainError(
        'InvalidPort',
        `named port ${name as string} protocol must be ${POLICY_PROTOCOLS.join(', ')}, got ${JSON.stringify(protocol)}`,
      );
    }
    return {
      name: name as string,
      protocol: protocol as PolicyProtocol,
      port: assertPort(port, `named port ${name as string}`),
    };
  });
  ports.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const repeated = ports.find((port, i) => i > 0 && ports[i - 1].name === port.name);
  if (repeated !== undefined) {
    throw new DomainError('InvalidName', `named port ${repeated.name} is listed twice`);
  }
  return ports;
}

function namedPortsEqual(a: readonly NamedPort[], b: readonly NamedPort[]): boolean {
  return (
    a.length === b.length &&
    a.every(
      (port, i) =>
        port.name === b[i].name && port.protocol === b[i].protocol && port.port === b[i].port,
    )
  );
}

function requireActive(state: EndpointState, uid: string): ActiveEndpoint {
  if (state.status === 'active') return state;
  throw new DomainError(
    'NotFound',
    state.status === 'deleted' ? `endpoint ${uid} was deleted` : `endpoint ${uid} not found`,
  );
}

export function evolveEndpoint(state: EndpointState, event: EndpointEvent): EndpointState {
  switch (event.type) {
    case 'EndpointCreated':
      return { status: 'active', ...event.data };
    case 'EndpointLabelsUpdated':
      return state.status === 'active'
        ? { ...state, labels: event.data.labels, identity: event.data.identity }
        : state;
    case 'EndpointMoved':
      return state.status === 'active' ? { ...state, node: event.data.node } : state;
    case 'EndpointDeleted':
      return { status: 'deleted', uid: event.data.uid };
    default: {
      const _exhaustive: never = event;
      void _exhaustive;
      return state;
    }
  }
}

export const endpointDecider: Decider<EndpointState, EndpointCommand, EndpointEvent> = {
  decide: decideEndpoint,
  evolve: evolveEndpoint,
  initialState: () => ({ status: 'empty' }),
};
