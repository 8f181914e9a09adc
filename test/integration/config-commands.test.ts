import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import {
  CommandClient,
  CONFIG,
  connectAs,
  IPAM,
  type ConfigCommandSpec,
  type NodeView,
} from '@strata/bus';
import { startConfigHarness, type ConfigHarness } from '../support/config-harness';
import {
  data,
  errorCode,
  httpTransport,
  natsTransport,
  type Transport,
} from '../support/config-transports';

// The config service over a real nats-server (every process its own identity) and a real
// SQLite file, with the IPAM service it gets VNIs and VIPs from: every command and every error
// path, over NATS and over HTTP alike. Each bad request gets a typed error, and a good request
// right after it still succeeds.

jest.setTimeout(30_000);

let h: ConfigHarness;

beforeAll(async () => {
  h = await startConfigHarness();
}, 30_000);

afterAll(async () => {
  await h?.close();
});

// Each transport works on its own ids, subnets and VNIs, so both run against one service.
describe.each([
  ['NATS', 'n', 1],
  ['HTTP', 'h', 2],
] as const)('over %s', (_name, prefix, base) => {
  let t: Transport;
  const id = (name: string) => `${prefix}-${name}`;
  const net = (third: number, bits = 24) => `10.${base}.${third}.0/${bits}`;
  const ip = (third: number, fourth: number) => `10.${base}.${third}.${fourth}`;

  beforeAll(() => {
    t = _name === 'NATS' ? natsTransport(h) : httpTransport(h);
  });

  const ok = async <Request, Reply>(spec: ConfigCommandSpec<Request, Reply>, request: Request) =>
    data(await t.call(spec, request));
  const code = async <Request, Reply>(spec: ConfigCommandSpec<Request, Reply>, request: unknown) =>
    errorCode(await t.call(spec, request as Request));

  describe('segments', () => {
    it('creates a segment with a VNI from IPAM, idempotently, and lists and gets it', async () => {
      const created = await ok(CONFIG.createSegment, {
        segmentId: id('blue'),
        name: 'blue',
        subnets: [net(2), net(1)],
      });
      expect(created).toEqual({
        segmentId: id('blue'),
        name: 'blue',
        vni: expect.any(Number),
        subnets: [net(1), net(2)],
        federated: false,
      });
      expect(
        await ok(CONFIG.createSegment, {
          segmentId: id('blue'),
          name: 'blue',
          subnets: [net(1), net(2)],
        }),
      ).toEqual(created);
      expect(await ok(CONFIG.getSegment, { segmentId: id('blue') })).toEqual(created);
      const { segments } = await ok(CONFIG.listSegments, {});
      expect(segments).toContainEqual(created);
      expect(
        await code(CONFIG.createSegment, {
          segmentId: id('blue'),
          name: 'blue',
          subnets: [net(3)],
        }),
      ).toBe('AlreadyExists');
    });

    it('takes a requested VNI; a VNI another segment holds is DuplicateVni', async () => {
      const vni = 5000 + base;
      const green = await ok(CONFIG.createSegment, {
        segmentId: id('green'),
        name: 'green',
        subnets: [net(10)],
        vni,
        federated: true,
      });
      expect(green).toMatchObject({ vni, federated: true });
      expect(
        await code(CONFIG.createSegment, {
          segmentId: id('green2'),
          name: 'green2',
          subnets: [net(11)],
          vni,
        }),
      ).toBe('DuplicateVni');
      const next = await ok(CONFIG.createSegment, {
        segmentId: id('green2'),
        name: 'green2',
        subnets: [net(11)],
        vni: vni + 10,
      });
      expect(next.vni).toBe(vni + 10);
    });

    it('rejects overlapping subnets, with the segment they overlap', async () => {
      await ok(CONFIG.createSegment, {
        segmentId: id('wide'),
        name: 'wide',
        subnets: [net(64, 18)],
      });
      const reply = await t.call(CONFIG.createSegment, {
        segmentId: id('narrow'),
        name: 'narrow',
        subnets: [net(70)],
      });
      expect(errorCode(reply)).toBe('OverlappingCidr');
      expect(!reply.ok && reply.error.message).toContain(id('wide'));
      expect(
        await code(CONFIG.createSegment, {
          segmentId: id('narrow'),
          name: 'narrow',
          subnets: [net(20), net(20, 23)],
        }),
      ).toBe('OverlappingCidr');
      await ok(CONFIG.createSegment, {
        segmentId: id('narrow'),
        name: 'narrow',
        subnets: [net(20)],
      });
    });

    it.each([
      ['an id with a dot', { segmentId: 'a.b', name: 'x', subnets: ['10.9.0.0/24'] }, 'InvalidId'],
      [
        'an uppercase name',
        { segmentId: 'x', name: 'Blue', subnets: ['10.9.0.0/24'] },
        'InvalidName',
      ],
      [
        'a CIDR with host bits',
        { segmentId: 'x', name: 'x', subnets: ['10.9.0.1/24'] },
        'InvalidCidr',
      ],
      [
        'an IP that is not one',
        { segmentId: 'x', name: 'x', subnets: ['10.9.0.256/24'] },
        'InvalidCidr',
      ],
      ['no subnets', { segmentId: 'x', name: 'x', subnets: [] }, 'InvalidCidr'],
      ['VNI 0', { segmentId: 'x', name: 'x', subnets: ['10.9.0.0/24'], vni: 0 }, 'InvalidVni'],
      [
        'a VNI too large',
        { segmentId: 'x', name: 'x', subnets: ['10.9.0.0/24'], vni: 1 << 24 },
        'InvalidVni',
      ],
      [
        'a string VNI',
        { segmentId: 'x', name: 'x', subnets: ['10.9.0.0/24'], vni: '7' },
        'InvalidRequest',
      ],
      ['a missing name', { segmentId: 'x', subnets: ['10.9.0.0/24'] }, 'InvalidRequest'],
      [
        'an unknown field',
        { segmentId: 'x', name: 'x', subnets: ['10.9.0.0/24'], mtu: 1450 },
        'UnknownField',
      ],
    ])('rejects %s, then still serves', async (_case, request, expected) => {
      expect(await code(CONFIG.createSegment, request)).toBe(expected);
      expect(await ok(CONFIG.getSegment, { segmentId: id('blue') })).toMatchObject({
        name: 'blue',
      });
    });

    it('answers NotFound for a segment that does not exist', async () => {
      expect(await code(CONFIG.getSegment, { segmentId: id('nope') })).toBe('NotFound');
      expect(await code(CONFIG.deleteSegment, { segmentId: id('nope') })).toBe('NotFound');
      expect(await code(CONFIG.getSegment, { segmentId: 'a b' })).toBe('InvalidId');
    });

    it('deletes a segment without endpoints and gives its VNI back to IPAM', async () => {
      const vni = 6000 + base;
      await ok(CONFIG.createSegment, {
        segmentId: id('temp'),
        name: 'temp',
        subnets: [net(30)],
        vni,
      });
      await ok(CONFIG.createEndpoint, {
        uid: id('temp-ep'),
        kind: 'external',
        segmentId: id('temp'),
        ip: ip(30, 5),
      });
      expect(await code(CONFIG.deleteSegment, { segmentId: id('temp') })).toBe('InvalidState');
      await ok(CONFIG.deleteEndpoint, { uid: id('temp-ep') });
      expect(await ok(CONFIG.deleteSegment, { segmentId: id('temp') })).toEqual({
        segmentId: id('temp'),
      });
      expect(await code(CONFIG.getSegment, { segmentId: id('temp') })).toBe('NotFound');
      const { segments } = await ok(CONFIG.listSegments, {});
      expect(segments.map((s) => s.segmentId)).not.toContain(id('temp'));
      // Deleting again is a no-op; the id is not reused; the VNI and the subnet are free again.
      await ok(CONFIG.deleteSegment, { segmentId: id('temp') });
      expect(
        await code(CONFIG.createSegment, {
          segmentId: id('temp'),
          name: 'temp',
          subnets: [net(30)],
        }),
      ).toBe('AlreadyExists');
      const reborn = await ok(CONFIG.createSegment, {
        segmentId: id('temp2'),
        name: 'temp2',
        subnets: [net(30)],
        vni,
      });
      expect(reborn.vni).toBe(vni);
    });
  });

  describe('endpoints', () => {
    beforeAll(async () => {
      await ok(CONFIG.createSegment, { segmentId: id('web'), name: 'web', subnets: [net(40)] });
    });

    let goodCount = 0;
    const pod = (uid: string, fourth: number) => ({
      uid: id(uid),
      kind: 'pod' as const,
      segmentId: id('web'),
      node: 'node-1',
      ip: ip(40, fourth),
      mac: '0A:58:0A:00:00:05',
      labels: { app: 'web', tier: 'front' },
    });

    it('creates pod and external endpoints, idempotently; lists by segment; gets', async () => {
      const created = await ok(CONFIG.createEndpoint, pod('pod-1', 10));
      expect(created).toEqual({ ...pod('pod-1', 10), mac: '0a:58:0a:00:00:05' });
      expect(await ok(CONFIG.createEndpoint, pod('pod-1', 10))).toEqual(created);
      const db = await ok(CONFIG.createEndpoint, {
        uid: id('db'),
        kind: 'external',
        segmentId: id('web'),
        ip: ip(40, 200),
      });
      expect(db).toMatchObject({ node: '', mac: '', labels: {} });
      expect(await ok(CONFIG.getEndpoint, { uid: id('pod-1') })).toEqual(created);
      const { endpoints } = await ok(CONFIG.listEndpoints, { segmentId: id('web') });
      expect(endpoints.map((e) => e.uid)).toEqual([id('db'), id('pod-1')]);
      const all = await ok(CONFIG.listEndpoints, {});
      expect(all.endpoints.length).toBeGreaterThanOrEqual(2);
      expect(
        await code(CONFIG.createEndpoint, { ...pod('pod-1', 10), labels: { app: 'other' } }),
      ).toBe('AlreadyExists');
    });

    it.each([
      ['an IP outside the segment', { ip: '10.99.0.1' }, 'InvalidIp'],
      ['an IP that is not one', { ip: '10.0.0.256' }, 'InvalidIp'],
      ['a loopback IP', { ip: '127.0.0.1' }, 'InvalidIp'],
      ['a multicast MAC', { mac: '01:00:5e:00:00:01' }, 'InvalidMac'],
      ['a bad label', { labels: { 'bad key!': 'x' } }, 'InvalidLabels'],
      ['a bad node name', { node: 'Node_1' }, 'InvalidName'],
      ['a pod without node', { node: undefined }, 'InvalidName'],
      ['an unknown kind', { kind: 'vm' }, 'InvalidRequest'],
      ['an unknown segment', { segmentId: 'no-such-segment' }, 'NotFound'],
      ['an unknown field', { zone: 'a' }, 'UnknownField'],
    ])('rejects %s, then still serves', async (_case, change, expected) => {
      const request: Record<string, unknown> = { ...pod('bad', 50), ...change };
      if ('node' in change && change.node === undefined) delete request.node;
      expect(await code(CONFIG.createEndpoint, request)).toBe(expected);
      goodCount++;
      await ok(CONFIG.createEndpoint, pod(`good-${goodCount}`, 100 + goodCount));
    });

    it('refuses an address another endpoint of the segment holds (AddressInUse)', async () => {
      await ok(CONFIG.createEndpoint, pod('holder', 70));
      expect(await code(CONFIG.createEndpoint, pod('thief', 70))).toBe('AddressInUse');
      expect(
        await code(CONFIG.createEndpoint, {
          uid: id('ext-with-node'),
          kind: 'external',
          segmentId: id('web'),
          node: 'node-1',
          ip: ip(40, 71),
        }),
      ).toBe('InvalidArgument');
      await ok(CONFIG.createEndpoint, pod('thief', 72));
    });

    it('relabels and moves endpoints; an external endpoint cannot move', async () => {
      await ok(CONFIG.createEndpoint, pod('mover', 80));
      const relabelled = await ok(CONFIG.relabelEndpoint, {
        uid: id('mover'),
        labels: { app: 'web', tier: 'back' },
      });
      expect(relabelled.labels).toEqual({ app: 'web', tier: 'back' });
      expect(await code(CONFIG.relabelEndpoint, { uid: id('mover'), labels: { '': 'x' } })).toBe(
        'InvalidLabels',
      );
      const moved = await ok(CONFIG.moveEndpoint, { uid: id('mover'), node: 'node-2.rack-1' });
      expect(moved.node).toBe('node-2.rack-1');
      expect(await code(CONFIG.moveEndpoint, { uid: id('mover'), node: '-bad' })).toBe(
        'InvalidName',
      );
      expect(await code(CONFIG.moveEndpoint, { uid: id('db'), node: 'node-1' })).toBe(
        'InvalidState',
      );
      expect(await code(CONFIG.moveEndpoint, { uid: id('ghost'), node: 'node-1' })).toBe(
        'NotFound',
      );
      expect(await code(CONFIG.relabelEndpoint, { uid: id('ghost'), labels: {} })).toBe('NotFound');
      expect(await ok(CONFIG.getEndpoint, { uid: id('mover') })).toMatchObject({
        node: 'node-2.rack-1',
        labels: { app: 'web', tier: 'back' },
      });
    });

    it('deletes endpoints for good; the address is free again', async () => {
      await ok(CONFIG.createEndpoint, pod('gone', 90));
      expect(await ok(CONFIG.deleteEndpoint, { uid: id('gone') })).toEqual({ uid: id('gone') });
      expect(await code(CONFIG.getEndpoint, { uid: id('gone') })).toBe('NotFound');
      await ok(CONFIG.deleteEndpoint, { uid: id('gone') });
      expect(await code(CONFIG.relabelEndpoint, { uid: id('gone'), labels: {} })).toBe('NotFound');
      expect(await code(CONFIG.createEndpoint, pod('gone', 90))).toBe('AlreadyExists');
      expect(await code(CONFIG.deleteEndpoint, { uid: id('never') })).toBe('NotFound');
      await ok(CONFIG.createEndpoint, pod('gone-successor', 90));
    });
  });

  describe('nodes', () => {
    const node = (name: string) => `${prefix}-${name}.example`;
    const T0 = Date.parse('2030-01-01T00:00:00.000Z');
    const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();
    const goodNode = (name: string) => ({
      name,
      vtepAddress: `192.168.${base}.2`,
      vtepMac: '02:00:00:00:00:02',
      at: at(0),
    });

    it('registers nodes, records heartbeats, marks silent nodes down, and recovers them', async () => {
      const registered = await ok(CONFIG.registerNode, {
        name: node('a'),
        vtepAddress: `192.168.${base}.1`,
        vtepMac: '02:00:00:00:00:01',
        at: at(0),
      });
      const expected: NodeView = {
        name: node('a'),
        vtepAddress: `192.168.${base}.1`,
        vtepMac: '02:00:00:00:00:01',
        status: 'ready',
        lastHeartbeatAt: at(0),
        downAt: null,
      };
      expect(registered).toEqual(expected);
      // Below the heartbeat resolution nothing is recorded; above it, it is.
      expect((await ok(CONFIG.heartbeat, { name: node('a'), at: at(5) })).lastHeartbeatAt).toBe(
        at(0),
      );
      expect((await ok(CONFIG.heartbeat, { name: node('a'), at: at(15) })).lastHeartbeatAt).toBe(
        at(15),
      );
      // Not silent long enough: still ready. Silent: down.
      const early = await ok(CONFIG.markNodeDown, {
        name: node('a'),
        timeoutMs: 30_000,
        now: at(30),
      });
      expect(early.status).toBe('ready');
      const down = await ok(CONFIG.markNodeDown, {
        name: node('a'),
        timeoutMs: 30_000,
        now: at(60),
      });
      expect(down).toMatchObject({ status: 'down', downAt: at(60) });
      expect(await ok(CONFIG.getNode, { name: node('a') })).toEqual(down);
      const back = await ok(CONFIG.heartbeat, { name: node('a'), at: at(61) });
      expect(back).toMatchObject({ status: 'ready', lastHeartbeatAt: at(61), downAt: null });
      const { nodes } = await ok(CONFIG.listNodes, {});
      expect(nodes).toContainEqual(back);
      // A heartbeat without a time uses the service's clock.
      expect((await ok(CONFIG.heartbeat, { name: node('a') })).status).toBe('ready');
    });

    it.each([
      ['a loopback VTEP', { vtepAddress: '127.0.0.1' }, 'InvalidIp'],
      ['a VTEP that is not an IP', { vtepAddress: '192.168.1' }, 'InvalidIp'],
      ['a broadcast MAC', { vtepMac: 'ff:ff:ff:ff:ff:ff' }, 'InvalidMac'],
      ['a bad name', { name: 'Node_1' }, 'InvalidName'],
      ['a bad time', { at: '2030-01-01 00:00:00' }, 'InvalidTimestamp'],
      ['an unknown field', { zone: 'a' }, 'UnknownField'],
    ])('rejects registering with %s, then still serves', async (_case, change, expected) => {
      const request = {
        name: node('b'),
        vtepAddress: `192.168.${base}.2`,
        vtepMac: '02:00:00:00:00:02',
        ...change,
      };
      expect(await code(CONFIG.registerNode, request)).toBe(expected);
      expect((await ok(CONFIG.registerNode, goodNode(node('b')))).status).toBe('ready');
    });

    it('rejects heartbeats and mark-downs it cannot apply', async () => {
      expect(await code(CONFIG.heartbeat, { name: node('ghost') })).toBe('NotFound');
      expect(await code(CONFIG.getNode, { name: node('ghost') })).toBe('NotFound');
      expect(await code(CONFIG.markNodeDown, { name: node('ghost'), timeoutMs: 30_000 })).toBe(
        'NotFound',
      );
      await ok(CONFIG.registerNode, goodNode(node('c')));
      expect(await code(CONFIG.markNodeDown, { name: node('c'), timeoutMs: 5_000 })).toBe(
        'InvalidArgument',
      );
      expect(await code(CONFIG.markNodeDown, { name: node('c'), timeoutMs: 1.5 })).toBe(
        'InvalidRequest',
      );
      expect(await code(CONFIG.heartbeat, { name: node('c'), at: 'yesterday' })).toBe(
        'InvalidTimestamp',
      );
      expect((await ok(CONFIG.heartbeat, { name: node('c'), at: at(20) })).lastHeartbeatAt).toBe(
        at(20),
      );
    });

    it('deletes a node only once no endpoint is on it, idempotently; it may register again', async () => {
      await ok(CONFIG.registerNode, goodNode(node('d')));
      await ok(CONFIG.createSegment, { segmentId: id('on-d'), name: 'on-d', subnets: [net(140)] });
      const pod = {
        uid: id('pod-on-d'),
        kind: 'pod' as const,
        segmentId: id('on-d'),
        node: node('d'),
        ip: ip(140, 10),
        mac: '0a:58:0a:00:00:0a',
      };
      await ok(CONFIG.createEndpoint, pod);
      expect(await code(CONFIG.deleteNode, { name: node('d') })).toBe('InvalidState');
      await ok(CONFIG.moveEndpoint, { uid: pod.uid, node: node('c') });

      expect(await ok(CONFIG.deleteNode, { name: node('d') })).toEqual({ name: node('d') });
      expect(await ok(CONFIG.deleteNode, { name: node('d') })).toEqual({ name: node('d') });
      expect(await code(CONFIG.getNode, { name: node('d') })).toBe('NotFound');
      const { nodes } = await ok(CONFIG.listNodes, {});
      expect(nodes.map((n) => n.name)).not.toContain(node('d'));
      expect(await code(CONFIG.heartbeat, { name: node('d') })).toBe('NotFound');
      expect(await code(CONFIG.markNodeDown, { name: node('d'), timeoutMs: 30_000 })).toBe(
        'NotFound',
      );
      expect((await ok(CONFIG.registerNode, goodNode(node('d')))).status).toBe('ready');

      expect(await code(CONFIG.deleteNode, { name: node('ghost') })).toBe('NotFound');
      expect(await code(CONFIG.deleteNode, { name: 'Node_1' })).toBe('InvalidName');
    });
  });

  describe('services', () => {
    const service = (serviceId: string, extra: Record<string, unknown> = {}) => ({
      serviceId: id(serviceId),
      name: 'web',
      ports: [{ protocol: 'TCP' as const, port: 80, targetPort: 8080 }],
      selector: { app: 'web' },
      ...extra,
    });

    it('creates services with a VIP from IPAM, idempotently; lists and gets them', async () => {
      const created = await ok(CONFIG.createService, service('web'));
      expect(created).toEqual({
        serviceId: id('web'),
        name: 'web',
        vip: expect.stringMatching(/^10\.96\.0\.\d+$/),
        ports: [{ protocol: 'TCP', port: 80, targetPort: 8080 }],
        selector: { app: 'web' },
        backends: [],
      });
      expect(await ok(CONFIG.createService, service('web'))).toEqual(created);
      expect(await ok(CONFIG.getService, { serviceId: id('web') })).toEqual(created);
      expect((await ok(CONFIG.listServices, {})).services).toContainEqual(created);
      const listed = await ok(
        CONFIG.createService,
        service('db', {
          selector: undefined,
          backends: [id('b'), id('a'), id('a')],
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 5432 },
          ],
        }),
      );
      expect(listed).toMatchObject({
        selector: {},
        backends: [id('a'), id('b')],
        ports: [
          { protocol: 'TCP', port: 5432, targetPort: 5432 },
          { protocol: 'UDP', port: 53, targetPort: 53 },
        ],
      });
      expect(listed.vip).not.toBe(created.vip);
      expect(await code(CONFIG.createService, service('web', { name: 'other' }))).toBe(
        'AlreadyExists',
      );
    });

    it('takes a requested VIP; one another service holds is AddressInUse', async () => {
      const vip = `10.96.0.${200 + base}`;
      expect((await ok(CONFIG.createService, service('fixed', { vip }))).vip).toBe(vip);
      expect(await code(CONFIG.createService, service('fixed2', { vip }))).toBe('AddressInUse');
      expect(await code(CONFIG.createService, service('fixed2', { vip: '10.97.0.1' }))).toBe(
        'InvalidIp',
      );
      expect((await ok(CONFIG.createService, service('fixed2'))).vip).not.toBe(vip);
    });

    it.each([
      ['both selector and backends', { backends: ['a'] }, 'InvalidArgument'],
      ['neither selector nor backends', { selector: undefined }, 'InvalidArgument'],
      ['an empty selector', { selector: {} }, 'InvalidLabels'],
      ['no ports', { ports: [] }, 'InvalidPort'],
      [
        'a port twice',
        {
          ports: [
            { protocol: 'TCP', port: 80 },
            { protocol: 'TCP', port: 80, targetPort: 81 },
          ],
        },
        'InvalidPort',
      ],
      ['port 70000', { ports: [{ protocol: 'TCP', port: 70000 }] }, 'InvalidPort'],
      ['protocol SCTP', { ports: [{ protocol: 'SCTP', port: 80 }] }, 'InvalidRequest'],
      ['a bad name', { name: 'Web' }, 'InvalidName'],
      ['a bad VIP', { vip: '10.96.0.300' }, 'InvalidIp'],
      ['an unknown VIP pool', { vipPool: 'no-such-pool' }, 'NotFound'],
      ['an unknown field', { sessionAffinity: 'ClientIP' }, 'UnknownField'],
    ])('rejects %s, then still serves', async (_case, change, expected) => {
      const request: Record<string, unknown> = { ...service('bad'), ...change };
      for (const key of Object.keys(request)) if (request[key] === undefined) delete request[key];
      expect(await code(CONFIG.createService, request)).toBe(expected);
      expect(await ok(CONFIG.getService, { serviceId: id('web') })).toMatchObject({ name: 'web' });
    });

    it('a rejected service holds no VIP', async () => {
      const pool = `${prefix}-one-vip`;
      // A /30 keeps two host addresses: room for exactly two services.
      await h.client.execute(IPAM.createPool, {
        poolId: pool,
        kind: 'vip',
        cidr: `10.97.${base}.0/30`,
      });
      expect(await code(CONFIG.createService, service('x1', { vipPool: pool, selector: {} }))).toBe(
        'InvalidLabels',
      );
      await ok(CONFIG.createService, service('x2', { vipPool: pool }));
      await ok(CONFIG.createService, service('x3', { vipPool: pool }));
      expect(await code(CONFIG.createService, service('x4', { vipPool: pool }))).toBe(
        'PoolExhausted',
      );
      await ok(CONFIG.deleteService, { serviceId: id('x2') });
      await ok(CONFIG.createService, service('x4', { vipPool: pool }));
    });

    it('deletes services and gives their VIP back to IPAM', async () => {
      const vip = `10.96.0.${220 + base}`;
      await ok(CONFIG.createService, service('temp', { vip }));
      expect(await ok(CONFIG.deleteService, { serviceId: id('temp') })).toEqual({
        serviceId: id('temp'),
      });
      expect(await code(CONFIG.getService, { serviceId: id('temp') })).toBe('NotFound');
      await ok(CONFIG.deleteService, { serviceId: id('temp') });
      expect(await code(CONFIG.createService, service('temp', { vip }))).toBe('AlreadyExists');
      expect(await code(CONFIG.deleteService, { serviceId: id('never') })).toBe('NotFound');
      expect((await ok(CONFIG.createService, service('temp2', { vip }))).vip).toBe(vip);
    });
  });

  describe('clusters', () => {
    const cluster = (clusterId: string, extra: Record<string, unknown> = {}) => ({
      clusterId: id(clusterId),
      name: 'east',
      url: 'nats://gw.east.example:7222',
      link: 'gateway' as const,
      ...extra,
    });

    it('registers clusters, idempotently; lists, gets and removes them', async () => {
      const created = await ok(CONFIG.createCluster, cluster('east'));
      expect(created).toEqual({
        ...cluster('east'),
        status: 'pending',
        since: null,
        reason: null,
      });
      expect(await ok(CONFIG.createCluster, cluster('east'))).toEqual(created);
      expect(await ok(CONFIG.getCluster, { clusterId: id('east') })).toEqual(created);
      expect((await ok(CONFIG.listClusters, {})).clusters).toContainEqual(created);
      expect(
        await code(CONFIG.createCluster, cluster('east', { url: 'nats://other.example:7222' })),
      ).toBe('AlreadyExists');
      expect(await ok(CONFIG.deleteCluster, { clusterId: id('east') })).toEqual({
        clusterId: id('east'),
      });
      expect(await code(CONFIG.getCluster, { clusterId: id('east') })).toBe('NotFound');
      await ok(CONFIG.deleteCluster, { clusterId: id('east') });
      expect(await code(CONFIG.createCluster, cluster('east'))).toBe('AlreadyExists');
      expect(await code(CONFIG.deleteCluster, { clusterId: id('never') })).toBe('NotFound');
    });

    it.each([
      ['credentials in the URL', { url: 'nats://user:pw@gw.example:7222' }, 'InvalidUrl'],
      ['an http URL', { url: 'http://gw.example' }, 'InvalidUrl'],
      ['an unknown link', { link: 'bridge' }, 'InvalidRequest'],
      ['a bad name', { name: 'East!' }, 'InvalidName'],
      ['a bad id', { clusterId: 'a/b' }, 'InvalidId'],
      ['an unknown field', { region: 'x' }, 'UnknownField'],
    ])('rejects %s, then still serves', async (_case, change, expected) => {
      expect(await code(CONFIG.createCluster, { ...cluster('bad'), ...change })).toBe(expected);
      expect((await ok(CONFIG.createCluster, cluster(`ok-${_case.length}`))).status).toBe(
        'pending',
      );
    });
  });
});

describe('NATS specifics', () => {
  const subject = CONFIG.createSegment.subject;
  let goodCount = 0;
  const good = () => {
    goodCount++;
    return h.client.execute(CONFIG.createSegment, {
      segmentId: `raw-${goodCount}`,
      name: 'raw',
      subnets: [`10.200.${goodCount}.0/24`],
    });
  };
  const rawCode = async (payload: string) => errorCode(await h.client.raw(subject, payload));

  it.each([
    ['bytes that are not JSON', '{"commandId":', 'MalformedPayload'],
    ['an empty body', '', 'MalformedPayload'],
    ['an array', '[1,2]', 'MalformedPayload'],
    ['a string', '"create"', 'MalformedPayload'],
    ['no command id', JSON.stringify({ data: {} }), 'InvalidRequest'],
    ['no data', JSON.stringify({ commandId: 'c1' }), 'InvalidRequest'],
    [
      'an unknown envelope field',
      JSON.stringify({ commandId: 'c2', data: {}, priority: 1 }),
      'UnknownField',
    ],
    ['a __proto__ field', '{"commandId":"c3","data":{"__proto__":{"x":1}}}', 'UnknownField'],
  ])('answers %s with a typed error and keeps serving', async (_case, payload, expected) => {
    expect(await rawCode(payload)).toBe(expected);
    expect((await good()).name).toBe('raw');
  });

  it('lets a node agent register and heartbeat under its own identity', async () => {
    const connection = await connectAs('agent-node-1', {
      dir: h.credentialsDir,
      servers: h.nats.url,
    });
    try {
      const agent = new CommandClient(connection, { actor: 'agent-node-1' });
      const node = await agent.execute(CONFIG.registerNode, {
        name: 'node-1',
        vtepAddress: '192.168.9.1',
        vtepMac: '02:00:00:00:09:01',
      });
      expect(node.status).toBe('ready');
      expect((await agent.execute(CONFIG.heartbeat, { name: 'node-1' })).name).toBe('node-1');
    } finally {
      await connection.close();
    }
  });

  it('carries the actor and correlation id into the events, IPAM events included', async () => {
    const correlationId = `corr-${randomUUID()}`;
    await h.client.execute(
      CONFIG.createSegment,
      { segmentId: 'traced', name: 'traced', subnets: ['10.201.0.0/24'] },
      { correlationId },
    );
    const [created] = await h.store.readStream('segment-traced');
    expect(created).toMatchObject({ type: 'SegmentCreated', actor: 'user:test', correlationId });
    const allocations = [];
    for await (const event of h.store.readAll({
      filter: { categories: ['vnipool'], eventTypes: ['VniAllocated'] },
    })) {
      if (event.correlationId === correlationId) allocations.push(event.type);
    }
    expect(allocations).toEqual(['VniAllocated']);
  });
});
