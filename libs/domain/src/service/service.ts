import { assertDnsLabel } from '../net/dns';
import { assertHostIpv4 } from '../net/ipv4';
import { labelsEqual, parseLabels, type Labels } from '../net/labels';
import { assertPort, assertProtocol, type Protocol } from '../net/port';
import type { Command, Decider, Event } from '../shared/decider';
import { DomainError } from '../shared/errors';
import { assertId } from '../shared/ids';

/**
 * Service: a virtual IP in front of a set of endpoints. Stream: `service-<id>`.
 *
 * The VIP is allocated beforehand from a pool of kind 'vip' (../pool) and fixed for the
 * service's life. Backends are chosen either by a label selector (every endpoint whose labels
 * match) or as an explicit list of endpoint uids — one or the other, never both. Events carry
 * both fields; exactly one is in use: a non-empty `selector` means selection by labels, an
 * empty one means the explicit `backends` list (which may be empty: a service waiting for
 * backends). Ports are kept sorted by protocol and port, backends sorted and unique.
 */
export const serviceStream = (serviceId: string): string => `service-${serviceId}`;

export interface ServicePort {
  readonly protocol: Protocol;
  readonly port: number;
  readonly targetPort: number;
}

export type ServiceCreated = Event<
  'ServiceCreated',
  {
    serviceId: string;
    name: string;
    vip: string;
    ports: readonly ServicePort[];
    selector: Labels;
    backends: readonly string[];
  }
>;
/** Carries every mutable field with its new value. */
export type ServiceUpdated = Event<
  'ServiceUpdated',
  {
    serviceId: string;
    ports: readonly ServicePort[];
    selector: Labels;
    backends: readonly string[];
  }
>;
export type ServiceDeleted = Event<'ServiceDeleted', { serviceId: string }>;
export type ServiceEvent = ServiceCreated | ServiceUpdated | ServiceDeleted;

/** Exactly one of `selector` and `backends`. */
export type CreateService = Command<
  'CreateService',
  {
    serviceId: string;
    name: string;
    vip: string;
    ports: readonly ServicePort[];
    selector?: Labels;
    backends?: readonly string[];
  }
>;
/** Absent fields keep their value; `selector` or `backends` (not both) switches selection to it. */
export type UpdateService = Command<
  'UpdateService',
  {
    serviceId: string;
    ports?: readonly ServicePort[];
    selector?: Labels;
    backends?: readonly string[];
  }
>;
export type DeleteService = Command<'DeleteService', { serviceId: string }>;
export type ServiceCommand = CreateService | UpdateService | DeleteService;

export type ActiveService = { status: 'active' } & ServiceCreated['data'];
export type ServiceState =
  { status: 'empty' } | ActiveService | { status: 'deleted'; serviceId: string };

/** Validates ports: at least one, no (protocol, port) twice; returns them sorted. */
export function parsePorts(value: unknown): ServicePort[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new DomainError('InvalidPort', 'a service needs at least one port');
  }
  const ports = value.map((item: Partial<ServicePort> | null, i): ServicePort => ({
    protocol: assertProtocol(item?.protocol, `port ${i + 1} protocol`),
    port: assertPort(item?.port, `port ${i + 1}`),
    targetPort: assertPort(item?.targetPort, `port ${i + 1} target port`),
  }));
  ports.sort((a, b) =>
    a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : a.port - b.port,
  );
  for (let i = 1; i < ports.length; i++) {
    if (ports[i].protocol === ports[i - 1].protocol && ports[i].port === ports[i - 1].port) {
      throw new DomainError(
        'InvalidPort',
        `port ${ports[i].protocol}/${ports[i].port} is listed twice`,
      );
    }
  }
  return ports;
}

/** The selection a command asks for, or undefined when it names none. */
function parseSelection(data: {
  selector?: Labels;
  backends?: readonly string[];
}): { selector: Labels; backends: readonly string[] } | undefined {
  if (data.selector !== undefined && data.backends !== undefined) {
    throw new DomainError(
      'InvalidArgument',
      'a service selects backends by selector or by list, not both',
    );
  }
  if (data.selector !== undefined) {
    const selector = parseLabels(data.selector, 'selector');
    if (Object.keys(selector).length === 0) {
      throw new DomainError(
        'InvalidLabels',
        'an empty selector would select every endpoint; list backends instead',
      );
    }
    return { selector, backends: [] };
  }
  if (data.backends !== undefined) {
    if (!Array.isArray(data.backends)) {
      throw new DomainError('InvalidArgument', 'backends must be a list of endpoint uids');
    }
    const backends = [
      ...new Set(data.backends.map((uid) => assertId(uid, 'backend endpoint uid'))),
    ].sort();
    return { selector: {}, backends };
  }
  return undefined;
}

const samePorts = (a: readonly ServicePort[], b: readonly ServicePort[]): boolean =>
  a.length === b.length &&
  a.every(
    (p, i) =>
      p.protocol === b[i].protocol && p.port === b[i].port && p.targetPort === b[i].targetPort,
  );
const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((item, i) => item === b[i]);

export function decideService(command: ServiceCommand, state: ServiceState): ServiceEvent[] {
  switch (command.type) {
    case 'CreateService': {
      const serviceId = assertId(command.data.serviceId, 'service id');
      const selection = parseSelection(command.data);
      if (selection === undefined) {
        throw new DomainError(
          'InvalidArgument',
          'a service needs a selector or a list of backends',
        );
      }
      const data = {
        serviceId,
        name: assertDnsLabel(command.data.name, 'service name'),
        vip: assertHostIpv4(command.data.vip, 'VIP'),
        ports: parsePorts(command.data.ports),
        ...selection,
      };
      if (state.status === 'deleted') {
        throw new DomainError(
          'AlreadyExists',
          `service ${serviceId} was deleted; ids are not reused`,
        );
      }
      if (state.status === 'active') {
        const same =
          state.name === data.name &&
          state.vip === data.vip &&
          samePorts(state.ports, data.ports) &&
          labelsEqual(state.selector, data.selector) &&
          sameList(state.backends, data.backends);
        if (same) return [];
        throw new DomainError('AlreadyExists', `service ${serviceId} exists with other settings`);
      }
      return [{ type: 'ServiceCreated', data }];
    }
    case 'UpdateService': {
      const active = requireActive(state, command.data.serviceId);
      const selection = parseSelection(command.data) ?? {
        selector: active.selector,
        backends: active.backends,
      };
      const ports =
        command.data.ports === undefined ? active.ports : parsePorts(command.data.ports);
      const unchanged =
        samePorts(ports, active.ports) &&
        labelsEqual(selection.selector, active.selector) &&
        sameList(selection.backends, active.backends);
      if (unchanged) return [];
      return [
        { type: 'ServiceUpdated', data: { serviceId: active.serviceId, ports, ...selection } },
      ];
    }
    case 'DeleteService': {
      if (state.status === 'deleted') return [];
      const active = requireActive(state, command.data.serviceId);
      return [{ type: 'ServiceDeleted', data: { serviceId: active.serviceId } }];
    }
    default: {
      const _exhaustive: never = command;
      throw new DomainError(
        'InvalidArgument',
        `unknown service command ${JSON.stringify(_exhaustive)}`,
      );
    }
  }
}

function requireActive(state: ServiceState, serviceId: string): ActiveService {
  if (state.status === 'active') return state;
  throw new DomainError(
    'NotFound',
    state.status === 'deleted'
      ? `service ${serviceId} was deleted`
      : `service ${serviceId} not found`,
  );
}

export function evolveService(state: ServiceState, event: ServiceEvent): ServiceState {
  switch (event.type) {
    case 'ServiceCreated':
      return { status: 'active', ...event.data };
    case 'ServiceUpdated':
      return state.status === 'active' ? { ...state, ...event.data } : state;
    case 'ServiceDeleted':
      return { status: 'deleted', serviceId: event.data.serviceId };
    default: {
      const _exhaustive: never = event;
      void _exhaustive;
      return state;
    }
  }
}

export const serviceDecider: Decider<ServiceState, ServiceCommand, ServiceEvent> = {
  decide: decideService,
  evolve: evolveService,
  initialState: () => ({ status: 'empty' }),
};
