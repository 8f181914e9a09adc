import { assertVni } from '../net/vni';
import type { Command, Decider, Event } from '../shared/decider';
import { DomainError } from '../shared/errors';
import { assertId } from '../shared/ids';

/**
 * VniPool: hands out VXLAN network identifiers to segments, each VNI to at most one owner.
 * Stream: `vnipool-<id>` (normally one pool, `vnipool-default`, over 1..16777215).
 *
 * Segments are created rarely, so one stream (one concurrency check) is plenty: unlike address
 * pools this one is not sharded. The owner is the segment id. Allocation is idempotent by owner
 * (asking again returns the VNI already held), takes the lowest free VNI unless the command
 * names one (a federated segment must use the same VNI in every cluster), and release is
 * idempotent. The state holds only the allocated VNIs, never the free space.
 */
export const vniPoolStream = (poolId: string): string => `vnipool-${poolId}`;

export type VniPoolCreated = Event<
  'VniPoolCreated',
  { poolId: string; first: number; last: number }
>;
export type VniAllocated = Event<'VniAllocated', { poolId: string; vni: number; owner: string }>;
export type VniReleased = Event<'VniReleased', { poolId: string; vni: number; owner: string }>;
export type VniPoolEvent = VniPoolCreated | VniAllocated | VniReleased;

/** The range defaults to every VNI, 1..16777215. */
export type CreateVniPool = Command<
  'CreateVniPool',
  { poolId: string; first?: number; last?: number }
>;
/** `vni` asks for that VNI exactly; without it the lowest free one is taken. */
export type AllocateVni = Command<'AllocateVni', { poolId: string; owner: string; vni?: number }>;
export type ReleaseVni = Command<'ReleaseVni', { poolId: string; owner: string }>;
export type VniPoolCommand = CreateVniPool | AllocateVni | ReleaseVni;

export type VniPoolState =
  | { status: 'empty' }
  | {
      status: 'active';
      poolId: string;
      first: number;
      last: number;
      /** owner -> VNI and VNI -> owner: the allocated VNIs only. */
      byOwner: ReadonlyMap<string, number>;
      byVni: ReadonlyMap<number, string>;
    };

/** The VNI `owner` holds, if any. */
export function vniOf(state: VniPoolState, owner: string): number | undefined {
  return state.status === 'active' ? state.byOwner.get(owner) : undefined;
}

export function decideVniPool(command: VniPoolCommand, state: VniPoolState): VniPoolEvent[] {
  switch (command.type) {
    case 'CreateVniPool': {
      const poolId = assertId(command.data.poolId, 'VNI pool id');
      const first = assertVni(command.data.first ?? 1, 'first VNI');
      const last = assertVni(command.data.last ?? 16_777_215, 'last VNI');
      if (first > last) {
        throw new DomainError('InvalidVni', `VNI range ${first}-${last} ends before it starts`);
      }
      if (state.status === 'active') {
        if (state.first === first && state.last === last) return [];
        throw new DomainError(
          'AlreadyExists',
          `VNI pool ${poolId} exists with range ${state.first}-${state.last}`,
        );
      }
      return [{ type: 'VniPoolCreated', data: { poolId, first, last } }];
    }
    case 'AllocateVni': {
      const pool = requireActive(state, command.data.poolId);
      const owner = assertId(command.data.owner, 'owner');
      const held = pool.byOwner.get(owner);
      const wanted = command.data.vni === undefined ? undefined : assertVni(command.data.vni);
      if (held !== undefined) {
        if (wanted === undefined || wanted === held) return [];
        throw new DomainError('AlreadyExists', `${owner} already holds VNI ${held}, not ${wanted}`);
      }
      const vni = wanted ?? lowestFree(pool);
      if (vni < pool.first || vni > pool.last) {
        throw new DomainError(
          'InvalidVni',
          `VNI ${vni} is outside pool ${pool.poolId} (${pool.first}-${pool.last})`,
        );
      }
      const holder = pool.byVni.get(vni);
      if (holder !== undefined) {
        throw new DomainError('DuplicateVni', `VNI ${vni} is already held by ${holder}`);
      }
      return [{ type: 'VniAllocated', data: { poolId: pool.poolId, vni, owner } }];
    }
    case 'ReleaseVni': {
      const pool = requireActive(state, command.data.poolId);
      const owner = assertId(command.data.owner, 'owner');
      const vni = pool.byOwner.get(owner);
      return vni === undefined
        ? []
        : [{ type: 'VniReleased', data: { poolId: pool.poolId, vni, owner } }];
    }
    default: {
      const _exhaustive: never = command;
      throw new DomainError(
        'InvalidArgument',
        `unknown VNI pool command ${JSON.stringify(_exhaustive)}`,
      );
    }
  }
}

function requireActive(state: VniPoolState, poolId: string) {
  if (state.status === 'active') return state;
  throw new DomainError('NotFound', `VNI pool ${poolId} not found`);
}

/** Lowest VNI not held; O(allocated). Throws PoolExhausted when every VNI in range is held. */
function lowestFree(pool: Extract<VniPoolState, { status: 'active' }>): number {
  let vni = pool.first;
  while (vni <= pool.last && pool.byVni.has(vni)) vni++;
  if (vni > pool.last) {
    throw new DomainError(
      'PoolExhausted',
      `VNI pool ${pool.poolId} has no free VNI in ${pool.first}-${pool.last}`,
    );
  }
  return vni;
}

export function evolveVniPool(state: VniPoolState, event: VniPoolEvent): VniPoolState {
  switch (event.type) {
    case 'VniPoolCreated':
      return { status: 'active', ...event.data, byOwner: new Map(), byVni: new Map() };
    case 'VniAllocated': {
      if (state.status !== 'active') return state;
      const { vni, owner } = event.data;
      return {
        ...state,
        byOwner: new Map(state.byOwner).set(owner, vni),
        byVni: new Map(state.byVni).set(vni, owner),
      };
    }
    case 'VniReleased': {
      if (state.status !== 'active') return state;
      const byOwner = new Map(state.byOwner);
      const byVni = new Map(state.byVni);
      byOwner.delete(event.data.owner);
      byVni.delete(event.data.vni);
      return { ...state, byOwner, byVni };
    }
    default: {
      const _exhaustive: never = event;
      void _exhaustive;
      return state;
    }
  }
}

export const vniPoolDecider: Decider<VniPoolState, VniPoolCommand, VniPoolEvent> = {
  decide: decideVniPool,
  evolve: evolveVniPool,
  initialState: () => ({ status: 'empty' }),
};
