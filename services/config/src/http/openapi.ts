import { CONFIG, type JsonSchema } from '@strata/bus';
import type { CommandRouteMetadata } from '../transport/command-route';
import { httpStatusOf } from './http-status';

/**
 * The OpenAPI 3.1 document of the REST API, built from the handlers' `@CommandRoute` metadata:
 * each operation's parameters and body come from the request schema of its command (the very
 * schema requests are validated with), so they cannot drift from what the API accepts. Reply
 * schemas are written here, one per command (the compiler insists every command has one).
 */

export const OPENAPI_PATH = '/v1/openapi.json';

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const listOf = (field: string, item: string): JsonSchema => ({
  type: 'object',
  properties: { [field]: { type: 'array', items: ref(item) } },
  required: [field],
});
const deleted = (field: string): JsonSchema => ({
  type: 'object',
  properties: { [field]: { type: 'string' } },
  required: [field],
});
const text = { type: 'string' };
const nullable = (schema: JsonSchema): JsonSchema => ({ oneOf: [schema, { type: 'null' }] });
const labels = { type: 'object', additionalProperties: text };

const COMPONENTS: Readonly<Record<string, JsonSchema>> = {
  Error: {
    type: 'object',
    properties: {
      error: {
        type: 'object',
        properties: { code: text, message: text },
        required: ['code', 'message'],
      },
    },
    required: ['error'],
  },
  Segment: {
    type: 'object',
    properties: {
      segmentId: text,
      name: text,
      vni: { type: 'integer' },
      subnets: { type: 'array', items: text },
      federated: { type: 'boolean' },
    },
    required: ['segmentId', 'name', 'vni', 'subnets', 'federated'],
  },
  Endpoint: {
    type: 'object',
    properties: {
      uid: text,
      kind: { enum: ['pod', 'external'] },
      segmentId: text,
      node: text,
      ip: { type: 'string', format: 'ipv4' },
      mac: text,
      labels,
    },
    required: ['uid', 'kind', 'segmentId', 'node', 'ip', 'mac', 'labels'],
  },
  Node: {
    type: 'object',
    properties: {
      name: text,
      vtepAddress: { type: 'string', format: 'ipv4' },
      vtepMac: text,
      status: { enum: ['ready', 'down'] },
      lastHeartbeatAt: { type: 'string', format: 'date-time' },
      downAt: nullable({ type: 'string', format: 'date-time' }),
    },
    required: ['name', 'vtepAddress', 'vtepMac', 'status', 'lastHeartbeatAt', 'downAt'],
  },
  Service: {
    type: 'object',
    properties: {
      serviceId: text,
      name: text,
      vip: { type: 'string', format: 'ipv4' },
      ports: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            protocol: { enum: ['TCP', 'UDP'] },
            port: { type: 'integer' },
            targetPort: { type: 'integer' },
          },
          required: ['protocol', 'port', 'targetPort'],
        },
      },
      selector: labels,
      backends: { type: 'array', items: text },
    },
    required: ['serviceId', 'name', 'vip', 'ports', 'selector', 'backends'],
  },
  Cluster: {
    type: 'object',
    properties: {
      clusterId: text,
      name: text,
      url: text,
      link: { enum: ['gateway', 'leaf'] },
      status: { enum: ['pending', 'connected', 'disconnected'] },
      since: nullable({ type: 'string', format: 'date-time' }),
      reason: nullable(text),
    },
    required: ['clusterId', 'name', 'url', 'link', 'status', 'since', 'reason'],
  },
};

const REPLIES: Readonly<Record<keyof typeof CONFIG, JsonSchema>> = {
  createSegment: ref('Segment'),
  listSegments: listOf('segments', 'Segment'),
  getSegment: ref('Segment'),
  deleteSegment: deleted('segmentId'),
  createEndpoint: ref('Endpoint'),
  listEndpoints: listOf('endpoints', 'Endpoint'),
  getEndpoint: ref('Endpoint'),
  relabelEndpoint: ref('Endpoint'),
  moveEndpoint: ref('Endpoint'),
  deleteEndpoint: deleted('uid'),
  registerNode: ref('Node'),
  heartbeat: ref('Node'),
  markNodeDown: ref('Node'),
  listNodes: listOf('nodes', 'Node'),
  getNode: ref('Node'),
  deleteNode: deleted('name'),
  createService: ref('Service'),
  listServices: listOf('services', 'Service'),
  getService: ref('Service'),
  deleteService: deleted('serviceId'),
  createCluster: ref('Cluster'),
  listClusters: listOf('clusters', 'Cluster'),
  getCluster: ref('Cluster'),
  deleteCluster: deleted('clusterId'),
};

/** Error replies every operation may give, by status (see ./http-status.ts). */
const ERRORS: Readonly<Record<string, string>> = {
  [httpStatusOf('InvalidRequest')]:
    'Malformed JSON, unknown field, or an invalid value (InvalidIp, InvalidName, ...)',
  [httpStatusOf('Unauthorized')]: 'No valid bearer token',
  [httpStatusOf('NotFound')]: 'No such resource (or VIP pool)',
  [httpStatusOf('AlreadyExists')]:
    'Conflict: AlreadyExists, OverlappingCidr, DuplicateVni, AddressInUse, InvalidState, PoolExhausted',
  [httpStatusOf('StoreUnavailable')]: 'The event store or IPAM is not answering; retry',
};

/** `/v1/segments/:segmentId` -> `/v1/segments/{segmentId}`. */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function pathParameters(path: string): string[] {
  return [...path.matchAll(/:([A-Za-z0-9_]+)/g)].map((match) => match[1]);
}

function operation(route: CommandRouteMetadata): JsonSchema {
  const schema = route.spec.request.jsonSchema as {
    properties: Record<string, JsonSchema>;
    required: string[];
  };
  const inPath = pathParameters(route.path);
  const rest = Object.keys(schema.properties).filter((name) => !inPath.includes(name));
  const parameters: JsonSchema[] = inPath.map((name) => ({
    name,
    in: 'path',
    required: true,
    schema: schema.properties[name],
  }));
  const isQuery = route.method === 'GET';
  if (isQuery) {
    for (const name of rest) {
      parameters.push({
        name,
        in: 'query',
        required: schema.required.includes(name),
        schema: schema.properties[name],
      });
    }
  } else {
    parameters.push(
      {
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description:
          'The command id: a retry with the same key is applied once. Generated when absent; echoed in the response.',
        schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,128}$' },
      },
      {
        name: 'X-Correlation-Id',
        in: 'header',
        required: false,
        description: 'Ties the events of one change together; default: the command id.',
        schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,128}$' },
      },
    );
  }
  const command = (Object.keys(CONFIG) as (keyof typeof CONFIG)[]).find(
    (key) => CONFIG[key].subject === route.spec.subject,
  );
  if (command === undefined) {
    throw new TypeError(`route ${route.method} ${route.path} has no command of the contract`);
  }
  const body =
    !isQuery && rest.length > 0
      ? {
          requestBody: {
            required: rest.some((name) => schema.required.includes(name)),
            content: {
              'application/json': {
                schema: {
                  ...schema,
                  properties: Object.fromEntries(
                    rest.map((name) => [name, schema.properties[name]]),
                  ),
                  required: schema.required.filter((name) => rest.includes(name)),
                },
              },
            },
          },
        }
      : {};
  return {
    operationId: command,
    summary: route.summary,
    description: `Also over NATS: request/reply on \`${route.spec.subject}\`.`,
    parameters,
    ...body,
    responses: {
      [String(route.status ?? 200)]: {
        description: 'OK',
        content: { 'application/json': { schema: REPLIES[command] } },
      },
      ...Object.fromEntries(
        Object.entries(ERRORS).map(([status, description]) => [
          status,
          { description, content: { 'application/json': { schema: ref('Error') } } },
        ]),
      ),
    },
  };
}

export function buildOpenApiDocument(
  routes: readonly CommandRouteMetadata[],
  info: { title: string; version: string },
): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {
    [OPENAPI_PATH]: {
      get: {
        operationId: 'openapi',
        summary: 'This document (no token needed)',
        security: [],
        responses: { '200': { description: 'OpenAPI 3.1 document' } },
      },
    },
  };
  for (const route of routes) {
    const path = openApiPath(route.path);
    const method = route.method.toLowerCase();
    paths[path] ??= {};
    if (paths[path][method] !== undefined) {
      throw new TypeError(`two handlers for ${route.method} ${route.path}`);
    }
    paths[path][method] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      ...info,
      description:
        'Strata config: segments, endpoints, nodes, services and clusters. Every operation is also a NATS command (request/reply, `{commandId, actor?, correlationId?, data}`), validated by the same schema.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } },
      schemas: COMPONENTS,
    },
  };
}
