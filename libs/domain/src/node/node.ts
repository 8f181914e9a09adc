import { assertDnsSubdomain } from '../net/dns';
import { assertHostIpv4 } from '../net/ipv4';
import { parseMac } from '../net/mac';
import type { Command, Decider, Event } from '../shared/decider';
import { DomainError } from '../shared/errors';
import { parseTimestamp, type Timestamp } from '../shared/time';

/**
 * Node: a host running the Strata agent, reached through its VXLAN tunnel endpoint (VTEP).
 * Stream: `node-<name>`.
 *
 * Liveness. The agent heartbeats; a heartbeat is recorded only when it is at least the
 * resolution (the command's `resolutionMs`, default HEARTBEAT_RESOLUTION_MS) after the last
 * recorded one, so the log holds one heartbeat event per node per resolution period however
 * often agents beat (they fan out to every agent like any node event). A liveness checker sends
 * `MarkNodeDown` with the current time, its timeout and the resolution heartbeats are recorded
 * at; the node goes down only if no heartbeat was recorded within the timeout. Because of the
 * resolution, the last recorded heartbeat can be up to resolution + beat interval old while the
 * node is alive, so the timeout must exceed the resolution (enforced) plus the beat interval.
 * A heartbeat from a down node brings it back (`NodeRecovered`), whatever the resolution.
 * The resolution is a parameter of each command, not state: the events do not record it.
 *
 * Re-registration: a node that registers again with a new VTEP address or MAC (a rebuilt host)
 * records `NodeRegistered` again with the new values; a down node that registers comes back
 * ready. Registering again with the same VTEP while ready changes nothing.
 *
 * Deregistration: `DeregisterNode` removes the node (the config service refuses while endpoints
 * are on it); deregistering again changes nothing. Heartbeats from a deregistered node are
 * NotFound; the host may register again under the same name later (a node name names a host,
 * not one registration).
 */
export const nodeStream = (name: string): string => `node-${name}`;

/** The heartbeat resolution when a command gives none. */
export const HEARTBEAT_RESOLUTION_MS = 10_000;
/** Bounds of a heartbeat resolution: 100 ms to 1 h. */
export const MIN_HEARTBEAT_RESOLUTION_MS = 100;
export const MAX_HEARTBEAT_RESOLUTION_MS = 3_600_000;

export type NodeRegistered = Event<
  'NodeRegistered',
  { name: string; vtepAddress: string; vtepMac: string; registeredAt: Timestamp }
>;
export type NodeHeartbeatRecorded = Event<'NodeHeartbeatRecorded', { name: string; at: Timestamp }>;
export type NodeMarkedDown = Event<
  'NodeMarkedDown',
  { name: string; at: Timestamp; lastHeartbeatAt: Timestamp; timeoutMs: number }
>;
export type NodeRecovered = Event<'NodeRecovered', { name: string; at: Timestamp }>;
export type NodeDeregistered = Event<'NodeDeregistered', { name: string }>;
export type NodeEvent =
  NodeRegistered | NodeHeartbeatRecorded | NodeMarkedDown | NodeRecovered | NodeDeregistered;

export type RegisterNode = Command<
  'RegisterNode',
  { name: string; vtepAddress: string; vtepMac: string; at: Timestamp }
>;
/** Recorded if `at` is at least `resolutionMs` (default HEARTBEAT_RESOLUTION_MS) after the last. */
export type RecordHeartbeat = Command<
  'RecordHeartbeat',
  { name: string; at: Timestamp; resolutionMs?: number }
>;
/**
 * `now` is the checker's current time; the node is down if silent for `timeoutMs`, which must
 * exceed `resolutionMs` (default HEARTBEAT_RESOLUTION_MS), the resolution heartbeats are
 * recorded at.
 */
export type MarkNodeDown = Command<
  'MarkNodeDown',
  { name: string; now: Timestamp; timeoutMs: number; resolutionMs?: number }
>;
export type DeregisterNode = Command<'DeregisterNode', { name: string }>;
export type NodeCommand = RegisterNode | RecordHeartbeat | MarkNodeDown | DeregisterNode;

type RegisteredNode = {
  name: string;
  vtepAddress: string;
  vtepMac: string;
  /** The last recorded heartbeat (registration and recovery count as heartbeats). */
  lastHeartbeatAt: Timestamp;
};
export type NodeState =
  | { status: 'empty' }
  | { status: 'deregistered'; name: string }
  | ({ status: 'ready' } & RegisteredNode)
  | ({ status: 'down'; downAt: Timestamp } & RegisteredNode);

export function decideNode(command: NodeCommand, state: NodeState): NodeEvent[] {
  switch (command.type) {
    case 'RegisterNode': {
      const name = assertDnsSubdomain(command.data.name, 'node name');
      const vtepAddress = assertHostIpv4(command.data.vtepAddress, 'VTEP address');
      const vtepMac = parseMac(command.data.vtepMac, 'VTEP MAC');
      parseTimestamp(command.data.at, 'registration time');
      const unchanged =
        state.status === 'ready' && state.vtepAddress === vtepAddress && state.vtepMac === vtepMac;
      if (unchanged) return [];
      return [
        {
          type: 'NodeRegistered',
          data: { name, vtepAddress, vtepMac, registeredAt: command.data.at },
        },
      ];
    }
    case 'RecordHeartbeat': {
      const resolutionMs = heartbeatResolution(command.data.resolutionMs);
      const node = requireRegistered(state, command.data.name);
      const at = parseTimestamp(command.data.at, 'heartbeat time');
      const last = parseTimestamp(node.lastHeartbeatAt, 'last heartbeat');
      if (node.status === 'down') {
        return at > last
          ? [{ type: 'NodeRecovered', data: { name: node.name, at: command.data.at } }]
          : [];
      }
      if (at - last < resolutionMs) return [];
      return [{ type: 'NodeHeartbeatRecorded', data: { name: node.name, at: command.data.at } }];
    }
    case 'MarkNodeDown': {
      const { timeoutMs } = command.data;
      const resolutionMs = heartbeatResolution(command.data.resolutionMs);
      if (
        typeof timeoutMs !== 'number' ||
        !Number.isInteger(timeoutMs) ||
        timeoutMs <= resolutionMs
      ) {
        throw new DomainError(
          'InvalidArgument',
          `timeout must be an integer number of milliseconds above the heartbeat resolution ` +
            `(${resolutionMs}), got ${JSON.stringify(timeoutMs)}`,
        );
      }
      const now = parseTimestamp(command.data.now, 'current time');
      const node = requireRegistered(state, command.data.name);
      if (node.status === 'down') return [];
      if (now - parseTimestamp(node.lastHeartbeatAt, 'last heartbeat') < timeoutMs) return [];
      return [
        {
          type: 'NodeMarkedDown',
          data: {
            name: node.name,
            at: command.data.now,
            lastHeartbeatAt: node.lastHeartbeatAt,
            timeoutMs,
          },
        },
      ];
    }
    case 'DeregisterNode': {
      if (state.status === 'deregistered') return [];
      const node = requireRegistered(state, command.data.name);
      return [{ type: 'NodeDeregistered', data: { name: node.name } }];
    }
    default: {
      const _exhaustive: never = command;
      throw new DomainError(
        'InvalidArgument',
        `unknown node command ${JSON.stringify(_exhaustive)}`,
      );
    }
  }
}

/**
 * A heartbeat resolution in milliseconds: an integer from MIN_HEARTBEAT_RESOLUTION_MS to
 * MAX_HEARTBEAT_RESOLUTION_MS, or HEARTBEAT_RESOLUTION_MS when undefined. Services check their
 * configured resolution with it too.
 */
export function heartbeatResolution(value: unknown): number {
  if (value === undefined) return HEARTBEAT_RESOLUTION_MS;
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < MIN_HEARTBEAT_RESOLUTION_MS ||
    value > MAX_HEARTBEAT_RESOLUTION_MS
  ) {
    throw new DomainError(
      'InvalidArgument',
      `heartbeat resolution must be an integer number of milliseconds from ` +
        `${MIN_HEARTBEAT_RESOLUTION_MS} to ${MAX_HEARTBEAT_RESOLUTION_MS}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function requireRegistered(state: NodeState, name: string) {
  if (state.status === 'ready' || state.status === 'down') return state;
  throw new DomainError(
    'NotFound',
    state.status === 'deregistered'
      ? `node ${name} was deregistered`
      : `node ${name} is not registered`,
  );
}

export function evolveNode(state: NodeState, event: NodeEvent): NodeState {
  switch (event.type) {
    case 'NodeRegistered': {
      const { name, vtepAddress, vtepMac, registeredAt } = event.data;
      return { status: 'ready', name, vtepAddress, vtepMac, lastHeartbeatAt: registeredAt };
    }
    case 'NodeHeartbeatRecorded':
      return state.status === 'ready' ? { ...state, lastHeartbeatAt: event.data.at } : state;
    case 'NodeMarkedDown':
      return state.status === 'ready' ? { ...state, status: 'down', downAt: event.data.at } : state;
    case 'NodeRecovered': {
      if (state.status !== 'down') return state;
      const { downAt: _downAt, ...node } = state;
      return { ...node, status: 'ready', lastHeartbeatAt: event.data.at };
    }
    case 'NodeDeregistered':
      return { status: 'deregistered', name: event.data.name };
    default: {
      const _exhaustive: never = event;
      void _exhaustive;
      return state;
    }
  }
}

export const nodeDecider: Decider<NodeState, NodeCommand, NodeEvent> = {
  decide: decideNode,
  evolve: evolveNode,
  initialState: () => ({ status: 'empty' }),
};
