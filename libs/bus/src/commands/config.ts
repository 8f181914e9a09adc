import {
  assertDnsLabel,
  assertDnsSubdomain,
  assertHostIpv4,
  assertId,
  assertPort,
  assertVni,
  CLUSTER_LINKS,
  ENDPOINT_KINDS,
  MAX_DNS_SUBDOMAIN_LENGTH,
  MAX_ID_LENGTH,
  MAX_VNI,
  MIN_VNI,
  NATS_URL_SCHEMES,
  parseLabels,
  parseMac,
  parseNatsUrl,
  parseNamedPorts,
  parsePorts,
  POLICY_PROTOCOLS,
  parseSubnets,
  parseTimestamp,
  PROTOCOLS,
  type ClusterLink,
  type EndpointKind,
  type Labels,
  type NamedPort,
  type Protocol,
  type ServicePort,
  type Timestamp,
} from '@strata/domain';
import { commandSubject } from '../subjects';
import { commandSpec, type CommandSpec } from './protocol';
import {
  array,
  boolean,
  integer,
  number,
  object,
  oneOf,
  optional,
  refine,
  string,
  type Infer,
  type InferShape,
  type Schema,
} from './schema';

/**
 * The config service's contract (the API front door): every subject it answers, the schema of
 * each request's `data` and the type of each reply's `data`. The service validates with these
 * schemas over NATS *and* HTTP (the REST API merges path parameters, query and JSON body into
 * the same `data` object), and its OpenAPI document is generated from them: each schema here
 * carries its JSON Schema (`jsonSchema`) beside its parser, built by the same helpers, so the
 * two cannot drift. Ids, names, addresses, subnets, VNIs, labels and ports are checked with the
 * domain's own validators, so a bad one is InvalidId / InvalidName / InvalidIp / InvalidCidr /
 * OverlappingCidr / InvalidVni / InvalidLabels / InvalidPort before anything runs.
 */

/** JSON Schema (draft 2020-12, what OpenAPI 3.1 uses) of a request's `data`. */
export type JsonSchema = { readonly [keyword: string]: unknown };

/** A wire schema that also describes itself as JSON Schema. */
export interface DocumentedSchema<T> extends Schema<T> {
  readonly jsonSchema: JsonSchema;
}

type DocumentedShape = Record<string, DocumentedSchema<unknown>>;

function documented<T>(schema: Schema<T>, jsonSchema: JsonSchema): DocumentedSchema<T> {
  return { parse: (value, path) => schema.parse(value, path), jsonSchema };
}

function optionalField<T>(
  schema: DocumentedSchema<T>,
): DocumentedSchema<T> & { readonly optional: true } {
  return { ...optional(schema), jsonSchema: schema.jsonSchema };
}

/** `object` (unknown fields rejected) with `required` and `additionalProperties: false`. */
function record<S extends DocumentedShape>(
  shape: S,
  description?: string,
): DocumentedSchema<InferShape<S>> {
  const keys = Object.keys(shape);
  return documented(object(shape), {
    type: 'object',
    ...(description === undefined ? {} : { description }),
    properties: Object.fromEntries(keys.map((key) => [key, shape[key].jsonSchema])),
    required: keys.filter((key) => shape[key].optional !== true),
    additionalProperties: false,
  });
}

function listOf<T>(
  item: DocumentedSchema<T>,
  options: { minItems?: number; maxItems: number },
): DocumentedSchema<T[]> {
  return documented(array(item, { maxItems: options.maxItems }), {
    type: 'array',
    items: item.jsonSchema,
    ...(options.minItems === undefined ? {} : { minItems: options.minItems }),
    maxItems: options.maxItems,
  });
}

function choice<const V extends readonly string[]>(
  values: V,
  description: string,
): DocumentedSchema<V[number]> {
  return documented(oneOf(values), { type: 'string', enum: [...values], description });
}

const id = (what: string) =>
  documented(
    refine(string({ maxLength: 256 }), (value) => assertId(value, what)),
    {
      type: 'string',
      description: `${what}: ASCII letters, digits and _ : = @ -`,
      pattern: '^[A-Za-z0-9_:=@-]+$',
      minLength: 1,
      maxLength: MAX_ID_LENGTH,
    },
  );
const dnsLabel = (what: string) =>
  documented(
    refine(string({ maxLength: 256 }), (value) => assertDnsLabel(value, what)),
    {
      type: 'string',
      description: `${what}: a DNS label (RFC 1123)`,
      pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$',
    },
  );
const nodeName = documented(
  refine(string({ maxLength: 512 }), (value) => assertDnsSubdomain(value, 'node name')),
  {
    type: 'string',
    description: 'node name: a DNS subdomain (RFC 1123)',
    maxLength: MAX_DNS_SUBDOMAIN_LENGTH,
  },
);
const hostIpv4 = (what: string) =>
  documented(
    refine(string({ maxLength: 64 }), (value) => assertHostIpv4(value, what)),
    { type: 'string', format: 'ipv4', description: `${what}: a unicast IPv4 host address` },
  );
const mac = (what: string) =>
  documented(
    refine(string({ maxLength: 64 }), (value) => parseMac(value, what)),
    {
      type: 'string',
      description: `${what}: unicast, six colon-separated hex octets`,
      pattern: '^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$',
    },
  );
const vni = documented(
  refine(number(), (value) => assertVni(value)),
  { type: 'integer', minimum: MIN_VNI, maximum: MAX_VNI },
);
const timestamp = (what: string) =>
  documented(
    refine(string({ maxLength: 64 }), (value): Timestamp => {
      parseTimestamp(value, what);
      return value;
    }),
    { type: 'string', format: 'date-time', description: `${what}: RFC 3339 UTC` },
  );
const labels = (what: string) =>
  documented<Labels>(
    { parse: (value) => parseLabels(value, what) },
    {
      type: 'object',
      description: `${what}: Kubernetes labels`,
      additionalProperties: { type: 'string', maxLength: 63 },
    },
  );
const subnets = documented(
  refine(array(string({ maxLength: 64 }), { maxItems: 256 }), (value) => parseSubnets(value)),
  {
    type: 'array',
    description: 'IPv4 prefixes, not overlapping each other nor any other segment',
    items: { type: 'string', pattern: '^\\d{1,3}(\\.\\d{1,3}){3}/\\d{1,2}$' },
    minItems: 1,
    maxItems: 256,
  },
);
const portSchema = record({
  protocol: choice(PROTOCOLS, 'TCP or UDP'),
  port: documented(
    refine(number(), (value) => assertPort(value, 'port')),
    { type: 'integer', minimum: 1, maximum: 65535 },
  ),
  targetPort: optionalField(
    documented(
      refine(number(), (value) => assertPort(value, 'target port')),
      { type: 'integer', minimum: 1, maximum: 65535, description: 'default: port' },
    ),
  ),
});
/** Sorted, each (protocol, port) once; a missing target port is the port itself. */
const ports = documented<ServicePort[]>(
  refine(array(portSchema, { maxItems: 256 }), (value) =>
    parsePorts(value.map((port) => ({ ...port, targetPort: port.targetPort ?? port.port }))),
  ),
  { type: 'array', items: portSchema.jsonSchema, minItems: 1, maxItems: 256 },
);
const backends = listOf(id('backend endpoint uid'), { maxItems: 4096 });
const namedPortSchema = record({
  name: documented(string({ maxLength: 64 }), {
    type: 'string',
    description: 'an IANA service name: lowercase letters, digits and -, with a letter',
    pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$',
    maxLength: 15,
  }),
  protocol: choice(POLICY_PROTOCOLS, 'TCP, UDP or SCTP'),
  port: documented(number(), { type: 'integer', minimum: 1, maximum: 65535 }),
});
/** Sorted by name, names unique (the domain's check: InvalidName, InvalidPort). */
const namedPorts = documented<readonly NamedPort[]>(
  refine(array(namedPortSchema, { maxItems: 64 }), (value): readonly NamedPort[] =>
    parseNamedPorts(value),
  ),
  { type: 'array', items: namedPortSchema.jsonSchema, maxItems: 64 },
);

const createSegment = record({
  segmentId: id('segment id'),
  name: dnsLabel('segment name'),
  subnets,
  vni: optionalField({
    ...vni,
    jsonSchema: { ...vni.jsonSchema, description: 'this VNI exactly; default: IPAM picks one' },
  }),
  federated: optionalField(
    documented(boolean(), { type: 'boolean', description: 'spans federated clusters' }),
  ),
});
const segmentRef = record({ segmentId: id('segment id') });

const createEndpoint = record({
  uid: id('endpoint uid'),
  kind: choice(ENDPOINT_KINDS, 'pod (on a node) or external (outside the overlay)'),
  segmentId: id('segment id'),
  node: optionalField(nodeName),
  ip: hostIpv4('endpoint IP'),
  mac: optionalField(mac('MAC address')),
  labels: optionalField(labels('labels')),
  namedPorts: optionalField(namedPorts),
});
const endpointRef = record({ uid: id('endpoint uid') });
const listEndpoints = record({ segmentId: optionalField(id('segment id')) });
const relabelEndpoint = record({ uid: id('endpoint uid'), labels: labels('labels') });
const moveEndpoint = record({ uid: id('endpoint uid'), node: nodeName });

const registerNode = record({
  name: nodeName,
  vtepAddress: hostIpv4('VTEP address'),
  vtepMac: mac('VTEP MAC'),
  at: optionalField(timestamp('registration time')),
});
const nodeRef = record({ name: nodeName });
const heartbeat = record({ name: nodeName, at: optionalField(timestamp('heartbeat time')) });
const markNodeDown = record({
  name: nodeName,
  timeoutMs: documented(integer({ min: 1, max: 86_400_000 }), {
    type: 'integer',
    description:
      "down if no heartbeat was recorded for this long; above the service's heartbeat " +
      'resolution (--heartbeat-resolution-ms, default 10000)',
    minimum: 1,
    maximum: 86_400_000,
  }),
  now: optionalField(timestamp('current time')),
});

const createService = record({
  serviceId: id('service id'),
  name: dnsLabel('service name'),
  vip: optionalField({
    ...hostIpv4('VIP'),
    jsonSchema: { type: 'string', format: 'ipv4', description: 'this VIP exactly; default: any' },
  }),
  vipPool: optionalField(id('VIP pool id')),
  ports,
  selector: optionalField(labels('selector')),
  backends: optionalField(backends),
});
const serviceRef = record({ serviceId: id('service id') });

const createCluster = record({
  clusterId: id('cluster id'),
  name: dnsLabel('cluster name'),
  url: documented(
    refine(string({ maxLength: 512 }), (value) => parseNatsUrl(value, 'cluster URL')),
    {
      type: 'string',
      description: `scheme://host[:port], scheme one of ${NATS_URL_SCHEMES.join(', ')}; no credentials`,
    },
  ),
  link: choice(CLUSTER_LINKS, 'gateway or leaf'),
});
const clusterRef = record({ clusterId: id('cluster id') });
const nothing = record({});

export type CreateSegmentRequest = Infer<typeof createSegment>;
export type SegmentRefRequest = Infer<typeof segmentRef>;
export type CreateEndpointRequest = Infer<typeof createEndpoint>;
export type EndpointRefRequest = Infer<typeof endpointRef>;
export type ListEndpointsRequest = Infer<typeof listEndpoints>;
export type RelabelEndpointRequest = Infer<typeof relabelEndpoint>;
export type MoveEndpointRequest = Infer<typeof moveEndpoint>;
export type RegisterNodeRequest = Infer<typeof registerNode>;
export type NodeRefRequest = Infer<typeof nodeRef>;
export type HeartbeatRequest = Infer<typeof heartbeat>;
export type MarkNodeDownRequest = Infer<typeof markNodeDown>;
export type CreateServiceRequest = Infer<typeof createService>;
export type ServiceRefRequest = Infer<typeof serviceRef>;
export type CreateClusterRequest = Infer<typeof createCluster>;
export type ClusterRefRequest = Infer<typeof clusterRef>;
export type EmptyRequest = Infer<typeof nothing>;

export interface SegmentView {
  readonly segmentId: string;
  readonly name: string;
  readonly vni: number;
  /** Sorted by address. */
  readonly subnets: readonly string[];
  readonly federated: boolean;
}

export interface EndpointView {
  readonly uid: string;
  readonly kind: EndpointKind;
  readonly segmentId: string;
  /** '' for an external endpoint. */
  readonly node: string;
  readonly ip: string;
  /** '' for an external endpoint whose MAC is not known. */
  readonly mac: string;
  readonly labels: Labels;
}

export interface NodeView {
  readonly name: string;
  readonly vtepAddress: string;
  readonly vtepMac: string;
  readonly status: 'ready' | 'down';
  /** The last recorded heartbeat (registration and recovery count). */
  readonly lastHeartbeatAt: Timestamp;
  /** When it was marked down; null while ready. */
  readonly downAt: Timestamp | null;
}

export interface ServiceView {
  readonly serviceId: string;
  readonly name: string;
  readonly vip: string;
  readonly ports: readonly { readonly protocol: Protocol; port: number; targetPort: number }[];
  /** Non-empty: backends are the endpoints it selects; empty: `backends` lists them. */
  readonly selector: Labels;
  readonly backends: readonly string[];
}

export interface ClusterView {
  readonly clusterId: string;
  readonly name: string;
  readonly url: string;
  readonly link: ClusterLink;
  readonly status: 'pending' | 'connected' | 'disconnected';
  /** When the link reached its status; null while pending. */
  readonly since: Timestamp | null;
  /** Why it disconnected; null unless disconnected. */
  readonly reason: string | null;
}

/** The VIP pool a service's VIP comes from when the request names none (IPAM must have it). */
export const DEFAULT_VIP_POOL = 'vips';

/** A spec whose request schema documents itself (for the OpenAPI document). */
export type ConfigCommandSpec<Request, Reply> = CommandSpec<Request, Reply> & {
  readonly request: DocumentedSchema<Request>;
};

const subject = (aggregate: string, verb: string) => commandSubject('config', aggregate, verb);
function spec<Request, Reply>(
  aggregate: string,
  verb: string,
  request: DocumentedSchema<Request>,
): ConfigCommandSpec<Request, Reply> {
  return { ...commandSpec<Request, Reply>(subject(aggregate, verb), request), request };
}

export const CONFIG = {
  createSegment: spec<CreateSegmentRequest, SegmentView>('segment', 'create', createSegment),
  listSegments: spec<EmptyRequest, { readonly segments: readonly SegmentView[] }>(
    'segment',
    'list',
    nothing,
  ),
  getSegment: spec<SegmentRefRequest, SegmentView>('segment', 'get', segmentRef),
  deleteSegment: spec<SegmentRefRequest, { readonly segmentId: string }>(
    'segment',
    'delete',
    segmentRef,
  ),

  createEndpoint: spec<CreateEndpointRequest, EndpointView>('endpoint', 'create', createEndpoint),
  listEndpoints: spec<ListEndpointsRequest, { readonly endpoints: readonly EndpointView[] }>(
    'endpoint',
    'list',
    listEndpoints,
  ),
  getEndpoint: spec<EndpointRefRequest, EndpointView>('endpoint', 'get', endpointRef),
  relabelEndpoint: spec<RelabelEndpointRequest, EndpointView>(
    'endpoint',
    'relabel',
    relabelEndpoint,
  ),
  moveEndpoint: spec<MoveEndpointRequest, EndpointView>('endpoint', 'move', moveEndpoint),
  deleteEndpoint: spec<EndpointRefRequest, { readonly uid: string }>(
    'endpoint',
    'delete',
    endpointRef,
  ),

  registerNode: spec<RegisterNodeRequest, NodeView>('node', 'register', registerNode),
  heartbeat: spec<HeartbeatRequest, NodeView>('node', 'heartbeat', heartbeat),
  /** Sent by the liveness watchdog; down only if silent for `timeoutMs`. */
  markNodeDown: spec<MarkNodeDownRequest, NodeView>('node', 'mark-down', markNodeDown),
  listNodes: spec<EmptyRequest, { readonly nodes: readonly NodeView[] }>('node', 'list', nothing),
  getNode: spec<NodeRefRequest, NodeView>('node', 'get', nodeRef),
  /** Refused (InvalidState) while endpoints are on the node; idempotent once deregistered. */
  deleteNode: spec<NodeRefRequest, { readonly name: string }>('node', 'delete', nodeRef),

  createService: spec<CreateServiceRequest, ServiceView>('service', 'create', createService),
  listServices: spec<EmptyRequest, { readonly services: readonly ServiceView[] }>(
    'service',
    'list',
    nothing,
  ),
  getService: spec<ServiceRefRequest, ServiceView>('service', 'get', serviceRef),
  deleteService: spec<ServiceRefRequest, { readonly serviceId: string }>(
    'service',
    'delete',
    serviceRef,
  ),

  createCluster: spec<CreateClusterRequest, ClusterView>('cluster', 'create', createCluster),
  listClusters: spec<EmptyRequest, { readonly clusters: readonly ClusterView[] }>(
    'cluster',
    'list',
    nothing,
  ),
  getCluster: spec<ClusterRefRequest, ClusterView>('cluster', 'get', clusterRef),
  deleteCluster: spec<ClusterRefRequest, { readonly clusterId: string }>(
    'cluster',
    'delete',
    clusterRef,
  ),
} as const;
