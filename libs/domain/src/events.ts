import type { ClusterEvent } from './cluster/cluster';
import type { EndpointEvent } from './endpoint/endpoint';
import type { IdentityPoolEvent } from './identity/identity-pool';
import type { NodeEvent } from './node/node';
import type { AddressPoolEvent } from './pool/address-pool';
import type { AddressSpaceEvent } from './pool/address-space';
import type { PoolShardEvent } from './pool/pool-shard';
import type { SegmentEvent } from './segment/segment';
import type { ServiceEvent } from './service/service';
import type { VniPoolEvent } from './vni/vni-pool';

/** Every event the domain decides, as stored in the log. */
export type DomainEvent =
  | SegmentEvent
  | VniPoolEvent
  | AddressSpaceEvent
  | AddressPoolEvent
  | PoolShardEvent
  | EndpointEvent
  | IdentityPoolEvent
  | NodeEvent
  | ServiceEvent
  | ClusterEvent;

export type DomainEventType = DomainEvent['type'];

/**
 * The stream category each event type is appended to (`<category>-<id>`). The compiler checks
 * that every event type is listed, so a new event cannot be forgotten here.
 */
export const EVENT_CATEGORIES: Readonly<Record<DomainEventType, string>> = {
  SegmentCreated: 'segment',
  SegmentUpdated: 'segment',
  SegmentDeleted: 'segment',
  VniPoolCreated: 'vnipool',
  VniAllocated: 'vnipool',
  VniReleased: 'vnipool',
  CidrClaimed: 'addrspace',
  CidrReleased: 'addrspace',
  PoolCreated: 'pool',
  RangeReserved: 'pool',
  PoolDeleted: 'pool',
  PoolShardOpened: 'poolshard',
  AddressAllocated: 'poolshard',
  AddressReleased: 'poolshard',
  AllocationSpilled: 'poolshard',
  SpillReleased: 'poolshard',
  ShardRangeReserved: 'poolshard',
  EndpointCreated: 'endpoint',
  EndpointLabelsUpdated: 'endpoint',
  EndpointMoved: 'endpoint',
  EndpointDeleted: 'endpoint',
  IdentityAllocated: 'identitypool',
  IdentityReleased: 'identitypool',
  NodeRegistered: 'node',
  NodeHeartbeatRecorded: 'node',
  NodeMarkedDown: 'node',
  NodeRecovered: 'node',
  NodeDeregistered: 'node',
  ServiceCreated: 'service',
  ServiceUpdated: 'service',
  ServiceDeleted: 'service',
  ClusterRegistered: 'cluster',
  ClusterUpdated: 'cluster',
  ClusterConnected: 'cluster',
  ClusterDisconnected: 'cluster',
  ClusterRemoved: 'cluster',
};

export const DOMAIN_EVENT_TYPES = Object.keys(EVENT_CATEGORIES) as readonly DomainEventType[];

export function isDomainEventType(type: string): type is DomainEventType {
  return Object.prototype.hasOwnProperty.call(EVENT_CATEGORIES, type);
}
