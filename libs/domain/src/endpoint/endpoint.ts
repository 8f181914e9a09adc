import { assertDnsSubdomain } from '../net/dns';
import { assertHostIpv4 } from '../net/ipv4';
import { labelsEqual, parseLabels, type Labels } from '../net/labels';
import { parseMac } from '../net/mac';
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
 */
export const endpointStream = (uid: string): string => `endpoint-${uid}`;

export type EndpointKind = 'pod' | 'external';
export const ENDPOINT_KINDS: readonly EndpointKind[] = ['pod', 'external'];

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
  }
>;
/** The complete new label set. */
export type EndpointLabelsUpdated = Event<'EndpointLabelsUpdated', { uid: string; labels: Labels }>;
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
  }
>;
export type UpdateEndpointLabels = Command<'UpdateEndpointLabels', { uid: string; labels: Labels }>;
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
    labels: parseLabels(data.labels ?? {}),
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
          labelsEqual(state.labels, data.labels);
        if (same) return [];
        throw new DomainError('AlreadyExists', `endpoint ${data.uid} exists with other settings`);
      }
      return [{ type: 'EndpointCreated', data }];
    }
    case 'UpdateEndpointLabels': {
      const active = requireActive(state, command.data.uid);
      const labels = parseLabels(command.data.labels);
      if (labelsEqual(active.labels, labels)) return [];
      return [{ type: 'EndpointLabelsUpdated', data: { uid: active.uid, labels } }];
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
      return state.status === 'active' ? { ...state, labels: event.data.labels } : state;
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
