import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  CONFIG,
  DISCOVERY,
  IPAM,
  loadCredentials,
  type CommandSpec,
  type StrataService,
} from '@strata/bus';
import { startDiscoveryService } from '../../services/discovery/src/discovery-service';
import { startConfigHarness, type ConfigHarness } from '../support/config-harness';
import { errorCode, okCall } from '../support/service-harness';

// The discovery service over a real nats-server (every process its own identity) and a real
// SQLite file, beside the config and IPAM services whose events it folds: resolution by id and
// by VIP, selector services kept to their VIP pool's segment, explicit backends, failover when
// a node is marked down, health reports, and every error path — each a typed reply while the
// service keeps serving.

jest.setTimeout(30_000);

let h: ConfigHarness;
let discovery: StrataService;

const ok = <Request, Reply>(spec: CommandSpec<Request, Reply>, data: Request) =>
  okCall(h.client, spec, data);
const code = async <Request, Reply>(spec: CommandSpec<Request, Reply>, data: unknown) =>
  errorCode(await h.client.call(spec, data as Request));
const rawCode = async (subject: string, payload: string) =>
  errorCode(await h.client.raw(subject, payload));

const t = (minute: number) => `2025-03-01T12:${String(minute).padStart(2, '0')}:00.000Z`;
const pod = (uid: string, segmentId: string, node: string, ip: string, app: string) =>
  ok(CONFIG.createEndpoint, {
    uid,
    kind: 'pod',
    segmentId,
    node,
    ip,
    mac: `0a:58:00:00:00:${ip.split('.')[3].padStart(2, '0')}`,
    labels: { app },
  });
const uids = (list: readonly { uid: string }[]) => list.map((item) => item.uid);

beforeAll(async () => {
  h = await startConfigHarness();
  discovery = await startDiscoveryService({
    natsUrl: h.nats.url,
    store: h.store,
    credentials: await loadCredentials(h.credentialsDir, 'discovery'),
    logger: false,
  });
  await ok(IPAM.createPool, {
    poolId: 'blue-vips',
    kind: 'vip',
    cidr: '10.97.0.0/24',
    segmentId: 'blue',
  });
  await ok(CONFIG.createSegment, { segmentId: 'blue', name: 'blue', subnets: ['10.10.0.0/16'] });
  await ok(CONFIG.createSegment, { segmentId: 'red', name: 'red', subnets: ['10.20.0.0/16'] });
  for (const [name, vtep] of [
    ['node-1', '192.168.0.1'],
    ['node-2', '192.168.0.2'],
  ]) {
    await ok(CONFIG.registerNode, {
      name,
      vtepAddress: vtep,
      vtepMac: `52:54:00:00:00:0${name.slice(-1)}`,
      at: t(0),
    });
  }
  await pod('web-1', 'blue', 'node-1', '10.10.0.11', 'web');
  await pod('web-2', 'blue', 'node-2', '10.10.0.12', 'web');
  await pod('web-red', 'red', 'node-1', '10.20.0.13', 'web');
  await pod('db-1', 'blue', 'node-1', '10.10.0.14', 'db');
  await ok(CONFIG.createEndpoint, {
    uid: 'ext-1',
    kind: 'external',
    segmentId: 'blue',
    ip: '10.10.9.9',
  });
  const ports = [
    { protocol: 'TCP', port: 80, targetPort: 8080 },
    { protocol: 'UDP', port: 53, targetPort: 53 },
  ] as const;
  await ok(CONFIG.createService, {
    serviceId: 'web',
    name: 'web',
    vipPool: 'blue-vips',
    ports: [...ports],
    selector: { app: 'web' },
  });
  await ok(CONFIG.createService, {
    serviceId: 'web-any',
    name: 'web-any',
    ports: [...ports],
    selector: { app: 'web' },
  });
  await ok(CONFIG.createService, {
    serviceId: 'db',
    name: 'db',
    ports: [{ protocol: 'TCP', port: 5432, targetPort: 5432 }],
    backends: ['db-1', 'ext-1', 'ghost'],
  });
}, 30_000);

afterAll(async () => {
  await discovery?.close();
  await h?.close();
});

describe('resolve', () => {
  it('resolves a selector service to the matching endpoints of its VIP pool segment', async () => {
    const web = await ok(DISCOVERY.resolveService, { serviceId: 'web' });
    expect(web).toMatchObject({ serviceId: 'web', name: 'web', segmentId: 'blue', excluded: [] });
    expect(web.vip).toMatch(/^10\.97\.0\.\d+$/);
    expect(web.ports).toEqual([
      { protocol: 'TCP', port: 80, targetPort: 8080 },
      { protocol: 'UDP', port: 53, targetPort: 53 },
    ]);
    expect(web.backends).toEqual([
      {
        uid: 'web-1',
        kind: 'pod',
        segmentId: 'blue',
        node: 'node-1',
        ip: '10.10.0.11',
        labels: { app: 'web' },
      },
      expect.objectContaining({ uid: 'web-2', ip: '10.10.0.12', node: 'node-2' }),
    ]);
    expect(await ok(DISCOVERY.resolveService, { vip: web.vip })).toEqual(web);
  });

  it('selects in every segment when the VIP pool serves none', async () => {
    const any = await ok(DISCOVERY.resolveService, { serviceId: 'web-any' });
    expect(any.segmentId).toBe('');
    expect(uids(any.backends)).toEqual(['web-1', 'web-2', 'web-red']);
  });

  it('resolves explicit backends by uid, in any segment; unknown uids are excluded', async () => {
    const db = await ok(DISCOVERY.resolveService, { serviceId: 'db' });
    expect(uids(db.backends)).toEqual(['db-1', 'ext-1']);
    expect(db.backends[1]).toMatchObject({ kind: 'external', node: '' });
    expect(db.excluded).toEqual([{ uid: 'ghost', reason: 'not-found' }]);
  });

  it('narrows to one port, TCP by default; a port the service lacks is NotFound', async () => {
    const dns = await ok(DISCOVERY.resolveService, {
      serviceId: 'web',
      port: 53,
      protocol: 'UDP',
    });
    expect(dns.ports).toEqual([{ protocol: 'UDP', port: 53, targetPort: 53 }]);
    const http = await ok(DISCOVERY.resolveService, { serviceId: 'web', port: 80 });
    expect(http.ports).toEqual([{ protocol: 'TCP', port: 80, targetPort: 8080 }]);
    expect(await code(DISCOVERY.resolveService, { serviceId: 'web', port: 53 })).toBe('NotFound');
  });

  it('follows the log: relabelled and deleted endpoints and services', async () => {
    await ok(CONFIG.relabelEndpoint, { uid: 'web-red', labels: { app: 'api' } });
    expect(uids((await ok(DISCOVERY.resolveService, { serviceId: 'web-any' })).backends)).toEqual([
      'web-1',
      'web-2',
    ]);
    await ok(CONFIG.deleteService, { serviceId: 'web-any' });
    expect(await code(DISCOVERY.resolveService, { serviceId: 'web-any' })).toBe('NotFound');
    const { services } = await ok(DISCOVERY.listServices, {});
    expect(services.map((s) => s.serviceId)).toEqual(['db', 'web']);
    expect(uids(services[1].backends)).toEqual(['web-1', 'web-2']);
  });

  it('fails over: endpoints on a node marked down are excluded until it recovers', async () => {
    await ok(CONFIG.markNodeDown, { name: 'node-2', timeoutMs: 30_000, now: t(5) });
    const down = await ok(DISCOVERY.resolveService, { serviceId: 'web' });
    expect(uids(down.backends)).toEqual(['web-1']);
    expect(down.excluded).toEqual([{ uid: 'web-2', reason: 'node-down' }]);
    await ok(CONFIG.heartbeat, { name: 'node-2', at: t(6) });
    const back = await ok(DISCOVERY.resolveService, { serviceId: 'web' });
    expect(uids(back.backends)).toEqual(['web-1', 'web-2']);
  });
});

describe('backend health', () => {
  it('takes an unhealthy backend out of rotation until it is reported healthy', async () => {
    const report = { serviceId: 'web', backend: 'web-1' } as const;
    expect(
      await ok(DISCOVERY.reportBackendHealth, {
        ...report,
        status: 'unhealthy',
        at: t(10),
        reason: 'http 503',
      }),
    ).toEqual({ ...report, status: 'unhealthy', since: t(10), changed: true });
    const sick = await ok(DISCOVERY.resolveService, { serviceId: 'web' });
    expect(uids(sick.backends)).toEqual(['web-2']);
    expect(sick.excluded).toEqual([{ uid: 'web-1', reason: 'unhealthy' }]);
    // Only for this service: health is per service.
    expect(uids((await ok(DISCOVERY.resolveService, { serviceId: 'db' })).backends)).toEqual([
      'db-1',
      'ext-1',
    ]);

    expect(
      await ok(DISCOVERY.reportBackendHealth, { ...report, status: 'unhealthy', at: t(11) }),
    ).toMatchObject({ status: 'unhealthy', since: t(10), changed: false });
    expect(
      await ok(DISCOVERY.reportBackendHealth, { ...report, status: 'healthy', at: t(9) }),
    ).toMatchObject({ status: 'unhealthy', changed: false });
    expect(
      await ok(DISCOVERY.reportBackendHealth, { ...report, status: 'healthy', at: t(12) }),
    ).toEqual({ ...report, status: 'healthy', since: t(12), changed: true });
    expect(uids((await ok(DISCOVERY.resolveService, { serviceId: 'web' })).backends)).toEqual([
      'web-1',
      'web-2',
    ]);
  });

  it('stamps a report without a time on arrival; a healthy report of an unknown backend changes nothing', async () => {
    const stamped = await ok(DISCOVERY.reportBackendHealth, {
      serviceId: 'db',
      backend: 'ext-1',
      status: 'unhealthy',
    });
    expect(stamped.changed).toBe(true);
    expect(Date.parse(stamped.since as string)).toBeGreaterThan(Date.parse('2025-01-01'));
    expect(
      await ok(DISCOVERY.reportBackendHealth, {
        serviceId: 'db',
        backend: 'db-1',
        status: 'healthy',
      }),
    ).toEqual({ serviceId: 'db', backend: 'db-1', status: 'healthy', since: null, changed: false });
  });

  it('rejects reports for unknown services and bad reports with typed errors', async () => {
    const good = { serviceId: 'web', backend: 'web-1', status: 'healthy' };
    expect(await code(DISCOVERY.reportBackendHealth, { ...good, serviceId: 'nope' })).toBe(
      'NotFound',
    );
    expect(await code(DISCOVERY.reportBackendHealth, { ...good, backend: 'a b' })).toBe(
      'InvalidId',
    );
    expect(await code(DISCOVERY.reportBackendHealth, { ...good, status: 'sick' })).toBe(
      'InvalidRequest',
    );
    expect(await code(DISCOVERY.reportBackendHealth, { ...good, at: 'now' })).toBe(
      'InvalidTimestamp',
    );
    expect(await code(DISCOVERY.reportBackendHealth, { ...good, reason: 'x'.repeat(300) })).toBe(
      'InvalidRequest',
    );
    expect(await code(DISCOVERY.reportBackendHealth, { ...good, probe: 'http' })).toBe(
      'UnknownField',
    );
  });
});

describe('bad requests', () => {
  it.each([
    ['neither serviceId nor vip', {}, 'InvalidArgument'],
    ['both serviceId and vip', { serviceId: 'web', vip: '10.97.0.1' }, 'InvalidArgument'],
    ['a protocol without a port', { serviceId: 'web', protocol: 'UDP' }, 'InvalidArgument'],
    ['a bad service id', { serviceId: 'a.b' }, 'InvalidId'],
    ['a VIP that is not an address', { vip: '10.97.0.300' }, 'InvalidIp'],
    ['a VIP nobody has', { vip: '10.97.0.250' }, 'NotFound'],
    ['an unknown service', { serviceId: 'nope' }, 'NotFound'],
    ['port 0', { serviceId: 'web', port: 0 }, 'InvalidPort'],
    ['SCTP', { serviceId: 'web', port: 80, protocol: 'SCTP' }, 'InvalidRequest'],
    ['an unknown field', { serviceId: 'web', segment: 'blue' }, 'UnknownField'],
  ])('rejects %s, then still serves', async (_case, request, expected) => {
    expect(await code(DISCOVERY.resolveService, request)).toBe(expected);
    expect(await ok(DISCOVERY.resolveService, { serviceId: 'db' })).toMatchObject({
      serviceId: 'db',
    });
  });

  it('answers malformed payloads with typed errors and keeps serving', async () => {
    const subject = DISCOVERY.resolveService.subject;
    expect(await rawCode(subject, '{')).toBe('MalformedPayload');
    expect(await rawCode(subject, '')).toBe('MalformedPayload');
    expect(await rawCode(subject, 'null')).toBe('MalformedPayload');
    expect(await rawCode(subject, JSON.stringify({ commandId: 'c' }))).toBe('InvalidRequest');
    expect(await rawCode(subject, JSON.stringify({ commandId: 'c', data: [] }))).toBe(
      'InvalidRequest',
    );
    expect(await code(DISCOVERY.listServices, { all: true })).toBe('UnknownField');
    expect((await ok(DISCOVERY.listServices, {})).services.length).toBe(2);
  });
});
