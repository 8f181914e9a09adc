import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { CONFIG } from '@strata/bus';
import { startConfigHarness, type ConfigHarness } from '../support/config-harness';

// The config service's REST API in front of real services (nats-server, SQLite, IPAM): the
// token check on every route, the OpenAPI document against the routes actually served, bodies
// and headers that are not what they should be, idempotency keys, and IPAM going away and
// coming back — every failure a typed JSON error, and the API serving on after each.

jest.setTimeout(30_000);

let h: ConfigHarness;

beforeAll(async () => {
  h = await startConfigHarness();
}, 30_000);

afterAll(async () => {
  await h?.close();
});

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: { error?: { code: string; message: string } } & Record<string, unknown>;
}

async function request(
  method: string,
  path: string,
  options: { body?: string; headers?: Record<string, string>; token?: string | null } = {},
): Promise<Answer> {
  const token = options.token === undefined ? h.token : options.token;
  const response = await fetch(`${h.url}${path}`, {
    method,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...options.headers,
    },
    ...(options.body === undefined ? {} : { body: options.body }),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: JSON.parse(text) as Answer['body'],
  };
}

let goodCount = 0;
/** A request that must succeed: a new cluster each time. */
async function stillServes(): Promise<void> {
  goodCount++;
  const created = await request('POST', '/v1/clusters', {
    body: JSON.stringify({
      clusterId: `still-${goodCount}`,
      name: 'still',
      url: `nats://still-${goodCount}.example:7222`,
      link: 'leaf',
    }),
  });
  expect(created.status).toBe(201);
}

function expectError(answer: Answer, status: number, code: string): void {
  expect({ status: answer.status, code: answer.body.error?.code }).toEqual({ status, code });
  expect(answer.body.error?.message.length).toBeGreaterThan(0);
}

interface OpenApiDocument {
  openapi: string;
  paths: Record<
    string,
    Record<
      string,
      {
        operationId: string;
        security?: unknown[];
        parameters?: { name: string; in: string }[];
        requestBody?: { content: { 'application/json': { schema: Record<string, unknown> } } };
      }
    >
  >;
}

/** Every route the HTTP server actually serves, from Express's router. */
function servedRoutes(): { method: string; path: string }[] {
  const express = h.config.http.app.getHttpAdapter().getInstance() as {
    router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] };
  };
  return express.router.stack.flatMap((layer) =>
    layer.route === undefined
      ? []
      : Object.keys(layer.route.methods).map((method) => ({
          method,
          path: layer.route!.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}'),
        })),
  );
}

async function openApi(): Promise<OpenApiDocument> {
  const answer = await request('GET', '/v1/openapi.json', { token: null });
  expect(answer.status).toBe(200);
  return answer.body as unknown as OpenApiDocument;
}

/** A concrete URL for a documented path: every parameter filled in. */
const concrete = (path: string) => path.replace(/\{[^}]+\}/g, 'x1');

describe('the bearer token', () => {
  it('is required on every route but the OpenAPI document (401 with a challenge)', async () => {
    const document = await openApi();
    let checked = 0;
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        if (operation.operationId === 'openapi') continue;
        const url = concrete(path);
        const none = await request(method.toUpperCase(), url, { token: null, body: undefined });
        expectError(none, 401, 'Unauthorized');
        expect(none.headers.get('www-authenticate')).toBe('Bearer realm="strata"');
        const wrong = await request(method.toUpperCase(), url, {
          token: randomBytes(32).toString('base64url'),
        });
        expectError(wrong, 401, 'Unauthorized');
        expect(wrong.headers.get('www-authenticate')).toContain('invalid_token');
        checked++;
      }
    }
    expect(checked).toBe(Object.keys(CONFIG).length);
    const basic = await request('GET', '/v1/segments', {
      token: null,
      headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` },
    });
    expectError(basic, 401, 'Unauthorized');
    expect((await request('GET', '/v1/segments')).status).toBe(200);
  });

  it('refuses a command without a token before it runs', async () => {
    const refused = await request('POST', '/v1/clusters', {
      token: null,
      body: JSON.stringify({ clusterId: 'sneaky', name: 'x', url: 'nats://x:1', link: 'leaf' }),
    });
    expectError(refused, 401, 'Unauthorized');
    expectError(await request('GET', '/v1/clusters/sneaky'), 404, 'NotFound');
  });
});

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 and lists exactly the routes the server serves', async () => {
    const document = await openApi();
    expect(document.openapi).toBe('3.1.0');
    const documented = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const served = servedRoutes().map((route) => `${route.method.toUpperCase()} ${route.path}`);
    expect(served.length).toBe(Object.keys(CONFIG).length + 1);
    expect([...documented].sort()).toEqual([...served].sort());
    expect(document.paths['/v1/openapi.json'].get.security).toEqual([]);
  });

  it('describes each request with the schema requests are validated by', async () => {
    const document = await openApi();
    const create = document.paths['/v1/segments'].post;
    expect(create.operationId).toBe('createSegment');
    expect(create.parameters?.map((p) => p.name)).toEqual(['Idempotency-Key', 'X-Correlation-Id']);
    expect(create.requestBody?.content['application/json'].schema).toMatchObject({
      type: 'object',
      required: ['segmentId', 'name', 'subnets'],
      additionalProperties: false,
      properties: { vni: { type: 'integer', minimum: 1, maximum: 16_777_215 } },
    });
    const relabel = document.paths['/v1/endpoints/{uid}/labels'].put;
    expect(relabel.parameters?.filter((p) => p.in === 'path').map((p) => p.name)).toEqual(['uid']);
    expect(
      Object.keys(relabel.requestBody!.content['application/json'].schema.properties as object),
    ).toEqual(['labels']);
    const list = document.paths['/v1/endpoints'].get;
    expect(list.parameters).toEqual([expect.objectContaining({ name: 'segmentId', in: 'query' })]);
  });
});

describe('bad requests', () => {
  it.each([
    ['malformed JSON', '{"clusterId": "x",', 400, 'MalformedPayload'],
    ['a JSON array', '[]', 400, 'MalformedPayload'],
    ['a JSON string', '"cluster"', 400, 'MalformedPayload'],
    [
      'an unknown field',
      JSON.stringify({ clusterId: 'x', name: 'x', url: 'nats://x:1', link: 'leaf', tls: true }),
      400,
      'UnknownField',
    ],
    [
      'a __proto__ field',
      '{"clusterId":"x","name":"x","url":"nats://x:1","link":"leaf","__proto__":{"a":1}}',
      400,
      'UnknownField',
    ],
    ['a missing field', JSON.stringify({ clusterId: 'x', name: 'x' }), 400, 'InvalidRequest'],
    ['no body', undefined, 400, 'InvalidRequest'],
  ])('answers %s with a typed error and keeps serving', async (_case, body, status, code) => {
    expectError(await request('POST', '/v1/clusters', { body }), status, code);
    await stillServes();
  });

  it('refuses a field given in the path and again in the body or query', async () => {
    const twice = await request('PUT', '/v1/endpoints/a/labels', {
      body: JSON.stringify({ uid: 'b', labels: {} }),
    });
    expectError(twice, 400, 'InvalidRequest');
    expect(twice.body.error?.message).toContain('uid');
    expectError(await request('GET', '/v1/segments/a?segmentId=b'), 400, 'InvalidRequest');
    expectError(await request('GET', '/v1/segments?limit=5'), 400, 'UnknownField');
    expectError(
      await request('GET', '/v1/endpoints?segmentId=a&segmentId=b'),
      400,
      'InvalidRequest',
    );
    await stillServes();
  });

  it('refuses a body over the limit (413) and a bad idempotency key (400)', async () => {
    const huge = JSON.stringify({ clusterId: 'x', name: 'x'.repeat(2 << 20) });
    expectError(await request('POST', '/v1/clusters', { body: huge }), 413, 'PayloadTooLarge');
    expectError(
      await request('POST', '/v1/clusters', {
        body: '{}',
        headers: { 'idempotency-key': 'has spaces' },
      }),
      400,
      'InvalidRequest',
    );
    expectError(
      await request('POST', '/v1/clusters', {
        body: '{}',
        headers: { 'idempotency-key': 'k'.repeat(129) },
      }),
      400,
      'InvalidRequest',
    );
    await stillServes();
  });

  it('answers an unknown route with a typed 404', async () => {
    expectError(await request('GET', '/v1/policies'), 404, 'NotFound');
    expectError(await request('PATCH', '/v1/segments/x'), 404, 'NotFound');
    await stillServes();
  });
});

describe('idempotency keys', () => {
  it('make a retried POST apply once, and are echoed with the correlation id', async () => {
    const body = JSON.stringify({
      segmentId: 'retried',
      name: 'retried',
      subnets: ['10.50.0.0/24'],
    });
    const headers = { 'idempotency-key': 'key-1', 'x-correlation-id': 'change-1' };
    const first = await request('POST', '/v1/segments', { body, headers });
    const retry = await request('POST', '/v1/segments', { body, headers });
    expect(first.status).toBe(201);
    expect(retry).toMatchObject({ status: 201, body: first.body });
    expect(first.headers.get('idempotency-key')).toBe('key-1');
    expect(first.headers.get('x-correlation-id')).toBe('change-1');
    const events = await h.store.readStream('segment-retried');
    expect(events).toEqual([
      expect.objectContaining({ type: 'SegmentCreated', actor: 'http', correlationId: 'change-1' }),
    ]);
    const allocations = [];
    for await (const event of h.store.readAll({
      filter: { categories: ['vnipool'], eventTypes: ['VniAllocated'] },
    })) {
      if (event.correlationId === 'change-1') allocations.push(event.type);
    }
    expect(allocations).toEqual(['VniAllocated']);
  });

  it('are generated and echoed when the client sends none', async () => {
    const created = await request('POST', '/v1/clusters', {
      body: JSON.stringify({ clusterId: 'keyless', name: 'k', url: 'nats://k:1', link: 'leaf' }),
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('idempotency-key')).toMatch(/^[0-9a-f-]{36}$/);
    const read = await request('GET', '/v1/clusters/keyless');
    expect(read.headers.get('idempotency-key')).toBeNull();
  });
});

describe('both transports, one read model', () => {
  it('shows a change made over HTTP to NATS at once, and the other way round', async () => {
    const created = await request('POST', '/v1/segments', {
      body: JSON.stringify({ segmentId: 'shared', name: 'shared', subnets: ['10.51.0.0/24'] }),
    });
    expect(await h.client.execute(CONFIG.getSegment, { segmentId: 'shared' })).toEqual(
      created.body,
    );
    await h.client.execute(CONFIG.createEndpoint, {
      uid: 'shared-ep',
      kind: 'external',
      segmentId: 'shared',
      ip: '10.51.0.9',
    });
    const listed = await request('GET', '/v1/endpoints?segmentId=shared');
    expect(listed.body).toEqual({ endpoints: [expect.objectContaining({ uid: 'shared-ep' })] });
  });
});

describe('IPAM unavailable', () => {
  it('answers 503 while IPAM is gone, serves everything else, and recovers', async () => {
    await h.stopIpam();
    try {
      const segment = await request('POST', '/v1/segments', {
        body: JSON.stringify({ segmentId: 'later', name: 'later', subnets: ['10.52.0.0/24'] }),
      });
      expectError(segment, 503, 'NoResponders');
      const service = await request('POST', '/v1/services', {
        body: JSON.stringify({
          serviceId: 'later',
          name: 'later',
          ports: [{ protocol: 'TCP', port: 80 }],
          backends: [],
        }),
      });
      expectError(service, 503, 'NoResponders');
      expect((await request('GET', '/v1/segments')).status).toBe(200);
      await stillServes();
    } finally {
      await h.startIpam();
    }
    const segment = await request('POST', '/v1/segments', {
      body: JSON.stringify({ segmentId: 'later', name: 'later', subnets: ['10.52.0.0/24'] }),
    });
    expect(segment.status).toBe(201);
  });
});
