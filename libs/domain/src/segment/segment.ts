import { assertDnsLabel } from '../net/dns';
import { findOverlap, formatCidr, parseCidr } from '../net/cidr';
import { assertVni } from '../net/vni';
import type { Command, Decider, Event } from '../shared/decider';
import { DomainError } from '../shared/errors';
import { assertId } from '../shared/ids';

/**
 * Segment: a virtual network (one VXLAN VNI) with its IPv4 subnets. Stream: `segment-<id>`.
 *
 * The VNI is allocated beforehand from a VNI pool (../vni) and fixed for the segment's life;
 * name, subnets and the federated flag can change. Subnets are IPv4 prefixes that must not
 * overlap each other; they are kept sorted by address, so equal sets compare equal. Deletion is
 * final: segment ids are not reused, so a fold never sees a segment come back to life.
 */
export const segmentStream = (segmentId: string): string => `segment-${segmentId}`;

export type SegmentCreated = Event<
  'SegmentCreated',
  {
    segmentId: string;
    name: string;
    vni: number;
    subnets: readonly string[];
    federated: boolean;
  }
>;
/** Carries every mutable field with its new value (changed or not). */
export type SegmentUpdated = Event<
  'SegmentUpdated',
  { segmentId: string; name: string; subnets: readonly string[]; federated: boolean }
>;
export type SegmentDeleted = Event<'SegmentDeleted', { segmentId: string }>;
export type SegmentEvent = SegmentCreated | SegmentUpdated | SegmentDeleted;

export type CreateSegment = Command<
  'CreateSegment',
  {
    segmentId: string;
    name: string;
    vni: number;
    subnets: readonly string[];
    federated: boolean;
  }
>;
/** Absent fields keep their value. */
export type UpdateSegment = Command<
  'UpdateSegment',
  { segmentId: string; name?: string; subnets?: readonly string[]; federated?: boolean }
>;
export type DeleteSegment = Command<'DeleteSegment', { segmentId: string }>;
export type SegmentCommand = CreateSegment | UpdateSegment | DeleteSegment;

export type SegmentState =
  | { status: 'empty' }
  | {
      status: 'active';
      segmentId: string;
      name: string;
      vni: number;
      subnets: readonly string[];
      federated: boolean;
    }
  | { status: 'deleted'; segmentId: string };

/** Validates subnets and returns them canonical: sorted by address, no overlaps. */
export function parseSubnets(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new DomainError('InvalidCidr', 'a segment needs at least one subnet');
  }
  const cidrs = value.map((subnet, i) => parseCidr(subnet, `subnet ${i + 1}`));
  const overlap = findOverlap(cidrs);
  if (overlap !== undefined) {
    throw new DomainError(
      'OverlappingCidr',
      `subnets ${formatCidr(overlap[0])} and ${formatCidr(overlap[1])} overlap`,
    );
  }
  return cidrs.sort((a, b) => a.network - b.network).map(formatCidr);
}

function assertFlag(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') {
    throw new DomainError('InvalidArgument', `${what} must be true or false`);
  }
  return value;
}

const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((item, i) => item === b[i]);

export function decideSegment(command: SegmentCommand, state: SegmentState): SegmentEvent[] {
  switch (command.type) {
    case 'CreateSegment': {
      const segmentId = assertId(command.data.segmentId, 'segment id');
      const data = {
        segmentId,
        name: assertDnsLabel(command.data.name, 'segment name'),
        vni: assertVni(command.data.vni),
        subnets: parseSubnets(command.data.subnets),
        federated: assertFlag(command.data.federated, 'federated'),
      };
      if (state.status === 'deleted') {
        throw new DomainError(
          'AlreadyExists',
          `segment ${segmentId} was deleted; ids are not reused`,
        );
      }
      if (state.status === 'active') {
        const same =
          state.name === data.name &&
          state.vni === data.vni &&
          sameList(state.subnets, data.subnets) &&
          state.federated === data.federated;
        if (same) return [];
        throw new DomainError('AlreadyExists', `segment ${segmentId} exists with other settings`);
      }
      return [{ type: 'SegmentCreated', data }];
    }
    case 'UpdateSegment': {
      const active = requireActive(state, command.data.segmentId);
      const data = {
        segmentId: active.segmentId,
        name:
          command.data.name === undefined
            ? active.name
            : assertDnsLabel(command.data.name, 'segment name'),
        subnets:
          command.data.subnets === undefined ? active.subnets : parseSubnets(command.data.subnets),
        federated:
          command.data.federated === undefined
            ? active.federated
            : assertFlag(command.data.federated, 'federated'),
      };
      const unchanged =
        data.name === active.name &&
        sameList(data.subnets, active.subnets) &&
        data.federated === active.federated;
      return unchanged ? [] : [{ type: 'SegmentUpdated', data }];
    }
    case 'DeleteSegment': {
      if (state.status === 'deleted') return [];
      const active = requireActive(state, command.data.segmentId);
      return [{ type: 'SegmentDeleted', data: { segmentId: active.segmentId } }];
    }
    default: {
      const _exhaustive: never = command;
      throw new DomainError(
        'InvalidArgument',
        `unknown segment command ${JSON.stringify(_exhaustive)}`,
      );
    }
  }
}

function requireActive(state: SegmentState, segmentId: string) {
  if (state.status === 'active') return state;
  throw new DomainError(
    'NotFound',
    state.status === 'deleted'
      ? `segment ${segmentId} was deleted`
      : `segment ${segmentId} not found`,
  );
}

export function evolveSegment(state: SegmentState, event: SegmentEvent): SegmentState {
  switch (event.type) {
    case 'SegmentCreated':
      return { status: 'active', ...event.data };
    case 'SegmentUpdated':
      return state.status === 'active' ? { ...state, ...event.data } : state;
    case 'SegmentDeleted':
      return { status: 'deleted', segmentId: event.data.segmentId };
    default: {
      // An event type from a newer writer changes nothing this version knows about.
      const _exhaustive: never = event;
      void _exhaustive;
      return state;
    }
  }
}

export const segmentDecider: Decider<SegmentState, SegmentCommand, SegmentEvent> = {
  decide: decideSegment,
  evolve: evolveSegment,
  initialState: () => ({ status: 'empty' }),
};
