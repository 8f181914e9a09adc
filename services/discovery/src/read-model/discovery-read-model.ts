import { Inject, Injectable } from '@nestjs/common';
import {
  CaughtUpReadModel,
  foldInto,
  EVENT_STORE,
  type ExcludedBackend,
  type ResolvedBackend,
} from '@strata/bus';
import {
  backendHealthDecider,
  cidrContains,
  DomainError,
  endpointDecider,
  isBackendHealthy,
  matchesSelector,
  nodeDecider,
  parseCidr,
  parseIpv4,
  serviceDecider,
  type ActiveEndpoint,
  type ActiveService,
  type BackendHealthEvent,
  type BackendHealthState,
  type Cidr,
  type EndpointEvent,
  type EndpointState,
  type NodeEvent,
  type NodeState,
  type PoolCreated,
  type PoolDeleted,
  type ServiceEvent,
  type ServiceState,
} from '@strata/domain';
import { parseStreamName, type EventStore, type RecordedEvent } from '@strata/eventstore';

/** The stream categories discovery folds. */
export const DISCOVERY_CATEGORIES = [
  'service',
  'endpoint',
  'node',
  'pool',
  'backendhealth',
] as const;

/** Where a service's traffic goes now: the backends in rotation and those taken out. */
export interface Resolution {
  readonly service: ActiveService;
  readonly segmentId: string;
  readonly backends: readonly ResolvedBackend[];
  readonly excluded: readonly ExcludedBackend[];
}

/**
 * What discovery resolves against: every service, endpoint and node, the VIP pools (for the
 * segment a VIP belongs to) and the backend health records, folded from the log with the
 * aggregates' own `evolve`, caught up before each query (see CaughtUpReadModel).
 *
 * Resolution rules:
 * - a selector service's candidates are the endpoints whose labels match its selector, in the
 *   segment of the IPAM vip pool its VIP comes from; a pool that serves no segment in
 *   particular selects in every segment;
 * - an explicit service's candidates are its backend uids, in any segment; a uid with no live
 *   endpoint is excluded as `not-found`;
 * - a candidate on a node marked down is excluded (`node-down`): the failover hook — when the
 *   node recovers, its endpoints come back; external endpoints are on no node;
 * - a candidate a health check reported unhealthy is excluded (`unhealthy`) until one reports
 *   it healthy again.
 */
@Injectable()
export class DiscoveryReadModel extends CaughtUpReadModel {
  private readonly services = new Map<string, ServiceState>();
  private readonly endpoints = new Map<string, EndpointState>();
  private readonly nodes = new Map<string, NodeState>();
  private readonly health = new Map<string, BackendHealthState>();
  /** VIP pools by pool id: their CIDR and the segment they serve ('' for none). */
  private readonly vipPools = new Map<string, { cidr: Cidr; segmentId: string }>();

  constructor(@Inject(EVENT_STORE) store: EventStore) {
    super(store, DISCOVERY_CATEGORIES);
  }

  async service(serviceId: string): Promise<ActiveService> {
    await this.catchUp();
    const state = this.services.get(serviceId);
    if (state?.status === 'active') return state;
    throw new DomainError(
      'NotFound',
      state?.status === 'deleted'
        ? `service ${serviceId} was deleted`
        : `service ${serviceId} not found`,
    );
  }

  async serviceByVip(vip: string): Promise<ActiveService> {
    await this.catchUp();
    const found = this.activeServices().find((service) => service.vip === vip);
    if (found === undefined) throw new DomainError('NotFound', `no service has VIP ${vip}`);
    return found;
  }

  async resolve(service: ActiveService): Promise<Resolution> {
    await this.catchUp();
    return this.resolveNow(service);
  }

  async resolveAll(): Promise<Resolution[]> {
    await this.catchUp();
    return this.activeServices().map((service) => this.resolveNow(service));
  }

  protected apply(event: RecordedEvent): void {
    const { category, id } = parseStreamName(event.stream);
    switch (category) {
      case 'service':
        return foldInto(this.services, id, serviceDecider, event as unknown as ServiceEvent);
      case 'endpoint':
        return foldInto(this.endpoints, id, endpointDecider, event as unknown as EndpointEvent);
      case 'node':
        return foldInto(this.nodes, id, nodeDecider, event as unknown as NodeEvent);
      case 'backendhealth':
        return foldInto(
          this.health,
          id,
          backendHealthDecider,
          event as unknown as BackendHealthEvent,
        );
      case 'pool': {
        if (event.type === 'PoolDeleted') {
          this.vipPools.delete((event.data as PoolDeleted['data']).poolId);
          return;
        }
        if (event.type !== 'PoolCreated') return;
        const { poolId, kind, cidr, segmentId } = event.data as PoolCreated['data'];
        if (kind === 'vip') this.vipPools.set(poolId, { cidr: parseCidr(cidr), segmentId });
        return;
      }
    }
  }

  private activeServices(): ActiveService[] {
    return [...this.services.values()]
      .filter((state): state is ActiveService => state.status === 'active')
      .sort((a, b) => (a.serviceId < b.serviceId ? -1 : a.serviceId > b.serviceId ? 1 : 0));
  }

  private resolveNow(service: ActiveService): Resolution {
    const selecting = Object.keys(service.selector).length > 0;
    const segmentId = selecting ? this.segmentOfVip(service.vip) : '';
    const candidates: (ActiveEndpoint | string)[] = selecting
      ? [...this.endpoints.values()].filter(
          (endpoint): endpoint is ActiveEndpoint =>
            endpoint.status === 'active' &&
            (segmentId === '' || endpoint.segmentId === segmentId) &&
            matchesSelector(endpoint.labels, service.selector),
        )
      : service.backends.map((uid) => {
          const endpoint = this.endpoints.get(uid);
          return endpoint?.status === 'active' ? endpoint : uid;
        });
    const health = this.health.get(service.serviceId) ?? backendHealthDecider.initialState();
    const backends: ResolvedBackend[] = [];
    const excluded: ExcludedBackend[] = [];
    for (const candidate of candidates) {
      if (typeof candidate === 'string') {
        excluded.push({ uid: candidate, reason: 'not-found' });
      } else if (candidate.node !== '' && this.nodes.get(candidate.node)?.status === 'down') {
        excluded.push({ uid: candidate.uid, reason: 'node-down' });
      } else if (!isBackendHealthy(health, candidate.uid)) {
        excluded.push({ uid: candidate.uid, reason: 'unhealthy' });
      } else {
        const { uid, kind, segmentId: segment, node, ip, labels } = candidate;
        backends.push({ uid, kind, segmentId: segment, node, ip, labels });
      }
    }
    const byUid = (a: { uid: string }, b: { uid: string }) =>
      a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0;
    return { service, segmentId, backends: backends.sort(byUid), excluded: excluded.sort(byUid) };
  }

  /** The segment of the vip pool holding `vip`; '' when it serves none or none is known. */
  private segmentOfVip(vip: string): string {
    const address = parseIpv4(vip);
    for (const pool of this.vipPools.values()) {
      if (cidrContains(pool.cidr, address)) return pool.segmentId;
    }
    return '';
  }
}
