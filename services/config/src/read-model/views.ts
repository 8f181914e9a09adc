import type { ClusterView, EndpointView, NodeView, SegmentView, ServiceView } from '@strata/bus';
import type {
  ActiveEndpoint,
  ActiveService,
  ClusterState,
  NodeState,
  SegmentState,
} from '@strata/domain';

/** What the API shows of each aggregate's state: the reply types of the config contract. */

export type ActiveSegment = Extract<SegmentState, { status: 'active' }>;
export type RegisteredNode = Exclude<NodeState, { status: 'empty' | 'deregistered' }>;
export type LiveCluster = Exclude<ClusterState, { status: 'empty' | 'removed' }>;

export function segmentView(segment: ActiveSegment): SegmentView {
  const { segmentId, name, vni, subnets, federated } = segment;
  return { segmentId, name, vni, subnets, federated };
}

export function endpointView(endpoint: ActiveEndpoint): EndpointView {
  const { uid, kind, segmentId, node, ip, mac, labels } = endpoint;
  return { uid, kind, segmentId, node, ip, mac, labels };
}

export function nodeView(node: RegisteredNode): NodeView {
  const { name, vtepAddress, vtepMac, status, lastHeartbeatAt } = node;
  return {
    name,
    vtepAddress,
    vtepMac,
    status,
    lastHeartbeatAt,
    downAt: node.status === 'down' ? node.downAt : null,
  };
}

export function serviceView(service: ActiveService): ServiceView {
  const { serviceId, name, vip, ports, selector, backends } = service;
  return { serviceId, name, vip, ports, selector, backends };
}

export function clusterView(cluster: LiveCluster): ClusterView {
  const { clusterId, name, url, link, status } = cluster;
  return {
    clusterId,
    name,
    url,
    link,
    status,
    since: cluster.status === 'pending' ? null : cluster.since,
    reason: cluster.status === 'disconnected' ? cluster.reason : null,
  };
}
