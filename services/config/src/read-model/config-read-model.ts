import { Inject, Injectable } from '@nestjs/common';
import { CaughtUpReadModel, EVENT_STORE, foldInto } from '@strata/bus';
import {
  clusterDecider,
  DomainError,
  endpointDecider,
  nodeDecider,
  segmentDecider,
  serviceDecider,
  type ActiveEndpoint,
  type ActiveService,
  type ClusterEvent,
  type ClusterState,
  type EndpointEvent,
  type EndpointState,
  type NodeEvent,
  type NodeState,
  type SegmentEvent,
  type SegmentState,
  type ServiceEvent,
  type ServiceState,
} from '@strata/domain';
import { parseStreamName, type EventStore, type RecordedEvent } from '@strata/eventstore';
import type { ActiveSegment, LiveCluster, RegisteredNode } from './views';

/** The stream categories the read model folds. */
export const CONFIG_CATEGORIES = ['segment', 'endpoint', 'node', 'service', 'cluster'] as const;

/**
 * What the config service lists, gets and checks commands against (subnet overlaps, addresses
 * in use, endpoints left on a segment): every segment, endpoint, node, service and cluster,
 * folded from the log with the aggregates' own `evolve`, so a view is exactly the state the
 * decider sees.
 *
 * Read-your-writes without waiting: every query first folds what the log gained since the last
 * one, up to the head position it reads when the query begins. A command handler appends, then
 * queries for its reply, so the reply (and any query answered after it, by any replica sharing
 * the store) reflects the append: the append's position is at or below that head.
 */
@Injectable()
export class ConfigReadModel extends CaughtUpReadModel {
  private readonly segments = new Map<string, SegmentState>();
  private readonly endpoints = new Map<string, EndpointState>();
  private readonly nodes = new Map<string, NodeState>();
  private readonly services = new Map<string, ServiceState>();
  private readonly clusters = new Map<string, ClusterState>();

  constructor(@Inject(EVENT_STORE) store: EventStore) {
    super(store, CONFIG_CATEGORIES);
  }

  async segment(segmentId: string): Promise<ActiveSegment> {
    await this.catchUp();
    return requireActive(this.segments.get(segmentId), 'segment', segmentId);
  }

  async activeSegments(): Promise<ActiveSegment[]> {
    await this.catchUp();
    return active(this.segments);
  }

  async endpoint(uid: string): Promise<ActiveEndpoint> {
    await this.catchUp();
    return requireActive(this.endpoints.get(uid), 'endpoint', uid);
  }

  /** Active endpoints, of one segment when `segmentId` is given, sorted by uid. */
  async activeEndpoints(segmentId?: string): Promise<ActiveEndpoint[]> {
    await this.catchUp();
    return active(this.endpoints).filter(
      (endpoint) => segmentId === undefined || endpoint.segmentId === segmentId,
    );
  }

  async node(name: string): Promise<RegisteredNode> {
    await this.catchUp();
    const state = this.nodes.get(name);
    if (state === undefined || !isRegistered(state)) {
      throw new DomainError(
        'NotFound',
        state?.status === 'deregistered'
          ? `node ${name} was deregistered`
          : `node ${name} is not registered`,
      );
    }
    return state;
  }

  async registeredNodes(): Promise<RegisteredNode[]> {
    await this.catchUp();
    return sorted(this.nodes).filter(isRegistered);
  }

  /** Active endpoints on node `name`, sorted by uid. */
  async endpointsOnNode(name: string): Promise<ActiveEndpoint[]> {
    await this.catchUp();
    return active(this.endpoints).filter((endpoint) => endpoint.node === name);
  }

  async service(serviceId: string): Promise<ActiveService> {
    await this.catchUp();
    return requireActive(this.services.get(serviceId), 'service', serviceId);
  }

  async activeServices(): Promise<ActiveService[]> {
    await this.catchUp();
    return active(this.services);
  }

  async cluster(clusterId: string): Promise<LiveCluster> {
    await this.catchUp();
    const state = this.clusters.get(clusterId);
    if (state === undefined || state.status === 'empty' || state.status === 'removed') {
      throw new DomainError(
        'NotFound',
        state?.status === 'removed'
          ? `cluster ${clusterId} was removed`
          : `cluster ${clusterId} not found`,
      );
    }
    return state;
  }

  async liveClusters(): Promise<LiveCluster[]> {
    await this.catchUp();
    return sorted(this.clusters).filter(
      (cluster): cluster is LiveCluster =>
        cluster.status !== 'empty' && cluster.status !== 'removed',
    );
  }

  protected apply(event: RecordedEvent): void {
    const { category, id } = parseStreamName(event.stream);
    switch (category) {
      case 'segment':
        return foldInto(this.segments, id, segmentDecider, event as unknown as SegmentEvent);
      case 'endpoint':
        return foldInto(this.endpoints, id, endpointDecider, event as unknown as EndpointEvent);
      case 'node':
        return foldInto(this.nodes, id, nodeDecider, event as unknown as NodeEvent);
      case 'service':
        return foldInto(this.services, id, serviceDecider, event as unknown as ServiceEvent);
      case 'cluster':
        return foldInto(this.clusters, id, clusterDecider, event as unknown as ClusterEvent);
    }
  }
}

type WithStatus = { readonly status: string };

function isRegistered(node: NodeState): node is RegisteredNode {
  return node.status === 'ready' || node.status === 'down';
}

function requireActive<State extends WithStatus>(
  state: State | undefined,
  what: string,
  id: string,
): Extract<State, { status: 'active' }> {
  if (state?.status === 'active') return state as Extract<State, { status: 'active' }>;
  throw new DomainError(
    'NotFound',
    state?.status === 'deleted' ? `${what} ${id} was deleted` : `${what} ${id} not found`,
  );
}

/** Values sorted by id (the map's key). */
function sorted<State>(states: Map<string, State>): State[] {
  return [...states.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, state]) => state);
}

function active<State extends WithStatus>(
  states: Map<string, State>,
): Extract<State, { status: 'active' }>[] {
  return sorted(states).filter(
    (state): state is Extract<State, { status: 'active' }> => state.status === 'active',
  );
}
