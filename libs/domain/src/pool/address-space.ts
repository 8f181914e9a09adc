import { cidrsOverlap, formatCidr, parseCidr } from '../net/cidr';
import type { Command, Decider, Event } from '../shared/decider';
import { DomainError } from '../shared/errors';
import { assertId } from '../shared/ids';

/**
 * AddressSpace: the one global address space, in which every pool's CIDR is claimed before the
 * pool is created, so no two pools (pod or VIP) ever overlap. Stream: `addrspace-<id>`
 * (normally one, `addrspace-global`). Pools are created rarely, so one stream suffices.
 * The owner of a claim is the pool id. Claims are idempotent; release is idempotent.
 */
export const addressSpaceStream = (spaceId: string): string => `addrspace-${spaceId}`;

export type CidrClaimed = Event<'CidrClaimed', { spaceId: string; owner: string; cidr: string }>;
export type CidrReleased = Event<'CidrReleased', { spaceId: string; owner: string; cidr: string }>;
export type AddressSpaceEvent = CidrClaimed | CidrReleased;

export type ClaimCidr = Command<'ClaimCidr', { spaceId: string; owner: string; cidr: string }>;
export type ReleaseCidr = Command<'ReleaseCidr', { spaceId: string; owner: string }>;
export type AddressSpaceCommand = ClaimCidr | ReleaseCidr;

export type AddressSpaceState =
  { status: 'empty' } | { status: 'active'; spaceId: string; claims: ReadonlyMap<string, string> };

export function decideAddressSpace(
  command: AddressSpaceCommand,
  state: AddressSpaceState,
): AddressSpaceEvent[] {
  const claims = state.status === 'active' ? state.claims : new Map<string, string>();
  switch (command.type) {
    case 'ClaimCidr': {
      const spaceId = assertId(command.data.spaceId, 'address space id');
      const owner = assertId(command.data.owner, 'owner');
      const cidr = parseCidr(command.data.cidr, 'CIDR');
      const held = claims.get(owner);
      if (held !== undefined) {
        if (held === formatCidr(cidr)) return [];
        throw new DomainError('AlreadyExists', `${owner} already claims ${held}`);
      }
      for (const [other, otherCidr] of claims) {
        if (cidrsOverlap(cidr, parseCidr(otherCidr))) {
          throw new DomainError(
            'OverlappingCidr',
            `${formatCidr(cidr)} overlaps ${otherCidr}, claimed by ${other}`,
          );
        }
      }
      return [{ type: 'CidrClaimed', data: { spaceId, owner, cidr: formatCidr(cidr) } }];
    }
    case 'ReleaseCidr': {
      const spaceId = assertId(command.data.spaceId, 'address space id');
      const owner = assertId(command.data.owner, 'owner');
      const cidr = claims.get(owner);
      return cidr === undefined ? [] : [{ type: 'CidrReleased', data: { spaceId, owner, cidr } }];
    }
    default: {
      const _exhaustive: never = command;
      throw new DomainError(
        'InvalidArgument',
        `unknown address space command ${JSON.stringify(_exhaustive)}`,
      );
    }
  }
}

export function evolveAddressSpace(
  state: AddressSpaceState,
  event: AddressSpaceEvent,
): AddressSpaceState {
  const claims = new Map(state.status === 'active' ? state.claims : []);
  switch (event.type) {
    case 'CidrClaimed':
      claims.set(event.data.owner, event.data.cidr);
      return { status: 'active', spaceId: event.data.spaceId, claims };
    case 'CidrReleased':
      claims.delete(event.data.owner);
      return { status: 'active', spaceId: event.data.spaceId, claims };
    default: {
      const _exhaustive: never = event;
      void _exhaustive;
      return state;
    }
  }
}

export const addressSpaceDecider: Decider<
  AddressSpaceState,
  AddressSpaceCommand,
  AddressSpaceEvent
> = {
  decide: decideAddressSpace,
  evolve: evolveAddressSpace,
  initialState: () => ({ status: 'empty' }),
};
