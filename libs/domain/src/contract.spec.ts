/**
 * The proto file is the contract: every event the deciders produce must be its message in the
 * proto3 JSON mapping, with no field unknown to the proto and none of the proto's left out.
 * Events come from running commands through the deciders, not from hand-written samples.
 */
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { file_strata_v1_network_events } from '@strata/proto/network_events_pb';
import {
  addressPoolDecider,
  addressSpaceDecider,
  backendHealthDecider,
  flowReportDecider,
  policyDecider,
  type BackendHealthEvent,
  type FlowReportEvent,
  type PolicyEvent,
  clusterDecider,
  DOMAIN_EVENT_TYPES,
  endpointDecider,
  identityPoolDecider,
  labelSetKey,
  nodeDecider,
  openShardCommand,
  poolShardDecider,
  segmentDecider,
  serviceDecider,
  vniPoolDecider,
  type ActiveAddressPool,
  type Decider,
  type DomainEvent,
} from './index';

/** Runs commands in order, each on the state the previous ones left; returns every event. */
function play<S, C extends { type: string }, E extends { type: string }>(
  decider: Decider<S, C, E>,
  commands: C[],
): E[] {
  const events: E[] = [];
  let state = decider.initialState();
  for (const command of commands) {
    const decided = decider.decide(command, state);
    state = decided.reduce(decider.evolve, state);
    events.push(...decided);
  }
  return events;
}

const t = (minute: number) => `2025-03-01T12:${String(minute).padStart(2, '0')}:00.000Z`;
const poolEvents = play(addressPoolDecider, [
  {
    type: 'CreatePool',
    data: { poolId: 'pods', kind: 'pod', cidr: '10.0.0.0/30', shardCount: 1, segmentId: 'seg-1' },
  },
  { type: 'ReserveRange', data: { poolId: 'pods', first: '10.0.0.1', last: '10.0.0.1' } },
]);
const pool = poolEvents.reduce(
  addressPoolDecider.evolve,
  addressPoolDecider.initialState(),
) as ActiveAddressPool;
const poolDeleted = addressPoolDecider.decide(
  { type: 'DeletePool', data: { poolId: 'pods', allocatedAddresses: 0 } },
  pool,
);

/**
 * Event types of discovery, policy and analytics: not (yet) in DOMAIN_EVENT_TYPES, whose
 * consumers fold network state; checked against the proto all the same.
 */
const SERVICE_EVENT_TYPES = [
  'BackendHealthChanged',
  'PolicyCreated',
  'PolicyUpdated',
  'PolicyDeleted',
  'FlowsReported',
];

const produced: (DomainEvent | BackendHealthEvent | PolicyEvent | FlowReportEvent)[] = [
  ...play(segmentDecider, [
    {
      type: 'CreateSegment',
      data: {
        segmentId: 'seg-1',
        name: 'blue',
        vni: 7,
        subnets: ['10.0.0.0/16'],
        federated: false,
      },
    },
    { type: 'UpdateSegment', data: { segmentId: 'seg-1', federated: true } },
    { type: 'DeleteSegment', data: { segmentId: 'seg-1' } },
  ]),
  ...play(vniPoolDecider, [
    { type: 'CreateVniPool', data: { poolId: 'default' } },
    { type: 'AllocateVni', data: { poolId: 'default', owner: 'seg-1' } },
    { type: 'ReleaseVni', data: { poolId: 'default', owner: 'seg-1' } },
  ]),
  ...play(addressSpaceDecider, [
    { type: 'ClaimCidr', data: { spaceId: 'global', owner: 'pods', cidr: '10.0.0.0/30' } },
    { type: 'ReleaseCidr', data: { spaceId: 'global', owner: 'pods' } },
  ]),
  ...poolEvents,
  ...poolDeleted,
  ...play(poolShardDecider, [
    openShardCommand(pool, 0),
    { type: 'AllocateAddress', data: { poolId: 'pods', shard: 0, owner: 'ep-1' } },
    { type: 'ReleaseAddress', data: { poolId: 'pods', shard: 0, owner: 'ep-1' } },
    {
      type: 'ReserveShardRange',
      data: { poolId: 'pods', shard: 0, first: '10.0.0.2', last: '10.0.0.2' },
    },
  ]),
  ...play(poolShardDecider, [
    {
      type: 'OpenShard',
      data: { poolId: 'pods', shard: 0, shardCount: 2, cidr: '10.0.0.0/31', reserved: [] },
    },
    { type: 'AllocateAddress', data: { poolId: 'pods', shard: 0, owner: 'x' } },
    // 'a' has home shard 0 of 2 (FNV-1a), so a full shard 0 spills it on to shard 1.
    { type: 'AllocateAddress', data: { poolId: 'pods', shard: 0, owner: 'a' } },
    { type: 'ReleaseAddress', data: { poolId: 'pods', shard: 0, owner: 'a' } },
  ]),
  ...play(endpointDecider, [
    {
      type: 'CreateEndpoint',
      data: {
        uid: 'ep-1',
        kind: 'pod',
        segmentId: 'seg-1',
        node: 'n1',
        ip: '10.0.0.5',
        mac: '0a:58:0a:00:00:05',
        labels: { tier: 'web' },
        identity: 256,
        namedPorts: [{ name: 'http', protocol: 'TCP', port: 8080 }],
      },
    },
    {
      type: 'UpdateEndpointLabels',
      data: { uid: 'ep-1', labels: { tier: 'api' }, identity: 257 },
    },
    { type: 'MoveEndpoint', data: { uid: 'ep-1', node: 'n2' } },
    { type: 'DeleteEndpoint', data: { uid: 'ep-1' } },
  ]),
  ...play(identityPoolDecider, [
    { type: 'AcquireIdentity', data: { labels: { tier: 'web', 'strata.io/kind': 'pod' } } },
    {
      type: 'ReleaseIdentity',
      data: { identity: 256, key: labelSetKey({ tier: 'web', 'strata.io/kind': 'pod' }) },
    },
  ]),
  ...play(nodeDecider, [
    {
      type: 'RegisterNode',
      data: { name: 'n1', vtepAddress: '192.168.1.1', vtepMac: '52:54:00:00:00:01', at: t(0) },
    },
    { type: 'RecordHeartbeat', data: { name: 'n1', at: t(1) } },
    { type: 'MarkNodeDown', data: { name: 'n1', now: t(5), timeoutMs: 60_000 } },
    { type: 'RecordHeartbeat', data: { name: 'n1', at: t(6) } },
    { type: 'DeregisterNode', data: { name: 'n1' } },
  ]),
  ...play(serviceDecider, [
    {
      type: 'CreateService',
      data: {
        serviceId: 'svc-1',
        name: 'web',
        vip: '10.96.0.1',
        ports: [{ protocol: 'TCP', port: 80, targetPort: 8080 }],
        selector: { tier: 'web' },
      },
    },
    { type: 'UpdateService', data: { serviceId: 'svc-1', backends: ['ep-1'] } },
    { type: 'DeleteService', data: { serviceId: 'svc-1' } },
  ]),
  ...play(clusterDecider, [
    {
      type: 'RegisterCluster',
      data: { clusterId: 'east', name: 'east', url: 'tls://gw.east:7222', link: 'gateway' },
    },
    { type: 'UpdateCluster', data: { clusterId: 'east', name: 'east-1' } },
    { type: 'ReportClusterConnected', data: { clusterId: 'east', at: t(1) } },
    { type: 'ReportClusterDisconnected', data: { clusterId: 'east', at: t(2), reason: 'closed' } },
    { type: 'RemoveCluster', data: { clusterId: 'east' } },
  ]),
  ...play(backendHealthDecider, [
    {
      type: 'ReportBackendHealth',
      data: { serviceId: 's', backend: 'e', status: 'unhealthy', at: '2025-03-01T12:00:00Z' },
    },
  ]),
  ...play(policyDecider, [
    {
      type: 'CreatePolicy',
      data: {
        policyId: 'p',
        name: 'p',
        tier: 'platform',
        priority: 1,
        selector: { matchLabels: { tier: 'web' } },
        egress: [
          {
            action: 'deny',
            peers: [
              { selector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['db'] }] } },
              { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] },
            ],
            ports: [
              { protocol: 'TCP', port: 5432 },
              { protocol: 'TCP', name: 'metrics' },
            ],
          },
        ],
      },
    },
    { type: 'UpdatePolicy', data: { policyId: 'p', staged: true } },
    {
      type: 'ApplyPolicy',
      data: {
        policyId: 'p',
        name: 'p',
        tier: 'application',
        priority: 1000,
        selector: {},
        directions: ['ingress'],
      },
    },
    { type: 'DeletePolicy', data: { policyId: 'p' } },
  ]),
  ...play(flowReportDecider, [
    {
      type: 'ReportFlows',
      data: {
        node: 'n1',
        intervalStart: '2025-03-01T12:00:00Z',
        intervalEnd: '2025-03-01T12:01:00Z',
        flows: [
          { sourceIdentity: 1, destinationIdentity: 2, sourceTier: 'a', packets: 1, bytes: 64 },
        ],
      },
    },
  ]),
];

const messages = new Map(
  file_strata_v1_network_events.messages.map((message) => [message.name, message]),
);

describe('event contract (proto/strata/v1/network_events.proto)', () => {
  it('has a proto message for every domain event type', () => {
    expect(DOMAIN_EVENT_TYPES.filter((type) => !messages.has(type))).toEqual([]);
  });

  it('is exercised here by every event type', () => {
    expect(
      [...DOMAIN_EVENT_TYPES, ...SERVICE_EVENT_TYPES].filter(
        (type) => !produced.some((event) => event.type === type),
      ),
    ).toEqual([]);
  });

  it.each(produced.map((event) => [event.type, event] as const))(
    '%s data is its message in proto3 JSON',
    (type, event) => {
      const schema = messages.get(type);
      expect(schema).toBeDefined();
      expect(() => fromJson(schema!, event.data as unknown as JsonValue)).not.toThrow();
      expect(Object.keys(event.data).sort()).toEqual(
        schema!.fields.map((field) => field.jsonName).sort(),
      );
    },
  );
});
