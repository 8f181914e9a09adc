import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type {
  EndpointCreated,
  EndpointDeleted,
  NodeRegistered,
  SegmentCreated,
} from '@strata/domain';
import { ifindexOf, openPinnedMap } from '@strata/dataplane';
import {
  copyTables,
  createForwardingState,
  diff,
  digest,
  emptyTables,
  interfaceName,
  sameEntry,
  TABLE_NAMES,
  type ForwardingDelta,
  type ForwardingState,
  type ForwardingTables,
  type LocalEndpointEntry,
  type PolicyEntry,
  type RemoteEndpointEntry,
} from '@strata/forwarding';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  MAP_NAMES,
  decodeConnectionKey,
  decodeIpv4,
  decodeLocalEndpoint,
  decodeRemoteEndpoint,
  decodeVtep,
  encodeConnection,
  encodeConnectionKey,
  encodeIpv4,
  encodeLocalEndpoint,
  encodeRemoteEndpoint,
  encodeVtep,
} from '../../dataplane/bpf/maps';
import { bpfSkipReason, buildObjects } from '../../dataplane/bpf/testing/harness';
import { BpfDataplane, type BpfDataplaneOptions } from '../../services/agent/src/bpf';
import {
  policyMapKey,
  policyMapValue,
  prefixMapKey,
} from '../../services/agent/src/bpf/policy-view';
import { writeDelta } from '../../services/agent/src/dataplane';
import { Reconciler } from '../../services/agent/src/reconciler';

/**
 * The agent's BPF dataplane against the real kernel: its own network namespaces (sta-<pid>-*,
 * deleted by name), its own pins (/sys/fs/bpf/sta-<pid>-node, removed), the Strata programs
 * loaded and attached, desired tables from libs/forwarding written through DataplaneOperations.
 *
 *   pod netns (eth0 10.244.1.2/32) ── veth ── node netns (interfaceName('pod-a'), ul0 .1)
 *                                                 │ ul0 veth
 *   peer netns: ul0 192.168.200.2 + kernel VXLAN-GBP vx42 (10.244.2.2, "pod-b" on node-2)
 */

jest.setTimeout(60_000);

const PREFIX = `sta-${process.pid}`;
const NODE_NS = `${PREFIX}-node`;
const POD_NS = `${PREFIX}-pod`;
const PEER_NS = `${PREFIX}-peer`;
const NAMESPACES = [POD_NS, PEER_NS, NODE_NS];
const NODE_NETNS = `/run/netns/${NODE_NS}`;
const PIN_DIR = `/sys/fs/bpf/${PREFIX}-node`;

const SELF = 'node-1';
const NODE1 = { vtepAddress: '192.168.200.1', vtepMac: '02:00:c0:a8:c8:01' };
const NODE2 = { vtepAddress: '192.168.200.2', vtepMac: '02:00:c0:a8:c8:02' };
const VNI = 42;
const POD_A = { uid: 'pod-a', ip: '10.244.1.2', mac: '0a:58:0a:f4:01:02' };
const POD_B = { uid: 'pod-b', ip: '10.244.2.2', mac: '0a:58:0a:f4:02:02' };
const POD_C = { uid: 'pod-c', ip: '10.244.1.3', mac: '0a:58:0a:f4:01:03' };
const WEB = { app: 'web' };
const DB = { app: 'db' };
/** The identities the allocator gave these label sets, as the endpoint events carry them. */
const identityOf = (labels: typeof WEB): number => (labels === DB ? 301 : 300);
const HOST_A = interfaceName(POD_A.uid);
const HOST_C = interfaceName(POD_C.uid);

const reason = bpfSkipReason();
const suite = reason ? describe.skip : describe;
if (reason) console.warn(`agent BPF dataplane tests skipped: ${reason}`);

// --- the world -----------------------------------------------------------------------------

function run(command: string, ...args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const ip = (...args: string[]) => run('ip', ...args);
const inNetns = (ns: string, ...args: string[]) =>
  run('nsenter', `--net=/run/netns/${ns}`, ...args);

function buildNamespaces(): void {
  for (const ns of NAMESPACES) {
    ip('netns', 'add', ns);
    // Quiet links: no IPv6 chatter in the counters.
    inNetns(ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1');
    inNetns(ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  // Underlay: node ul0 <-> peer ul0.
  ip(
    '-n',
    NODE_NS,
    'link',
    'add',
    'ul0',
    'address',
    NODE1.vtepMac,
    'type',
    'veth',
    'peer',
    'name',
    'ul0',
    'address',
    NODE2.vtepMac,
    'netns',
    PEER_NS,
  );
}

function createPodVeth(pod: typeof POD_A, podNs: string | undefined): void {
  const host = interfaceName(pod.uid);
  const peer = podNs === undefined ? `${host}p` : 'eth0';
  ip(
    '-n',
    NODE_NS,
    'link',
    'add',
    host,
    'address',
    'ee:ee:ee:ee:ee:ee',
    'type',
    'veth',
    'peer',
    'name',
    peer,
    'address',
    pod.mac,
    ...(podNs === undefined ? [] : ['netns', podNs]),
  );
  ip('-n', NODE_NS, 'link', 'set', host, 'up');
  ip('-n', podNs ?? NODE_NS, 'link', 'set', peer, 'up');
}

// --- desired tables from the fold -----------------------------------------------------------

class Log {
  private position = 0;
  private readonly revisions = new Map<string, number>();

  constructor(readonly state: ForwardingState) {}

  append(stream: string, event: { type: string; data: unknown }): this {
    const revision = (this.revisions.get(stream) ?? -1) + 1;
    this.revisions.set(stream, revision);
    this.state.apply({ stream, revision, position: ++this.position, ...event });
    return this;
  }
}

const segment = (): SegmentCreated => ({
  type: 'SegmentCreated',
  data: { segmentId: 'blue', name: 'blue', vni: VNI, subnets: ['10.244.0.0/16'], federated: false },
});
const node = (name: string, vtep: typeof NODE1): NodeRegistered => ({
  type: 'NodeRegistered',
  data: { name, ...vtep, registeredAt: '2024-05-01T12:00:00.000Z' },
});
const pod = (p: typeof POD_A, on: string, labels = WEB): EndpointCreated => ({
  type: 'EndpointCreated',
  data: {
    uid: p.uid,
    segmentId: 'blue',
    node: on,
    ip: p.ip,
    mac: p.mac,
    labels,
    kind: 'pod',
    identity: identityOf(labels),
    namedPorts: [],
  },
});
const podDeleted = (p: typeof POD_A): EndpointDeleted => ({
  type: 'EndpointDeleted',
  data: { uid: p.uid },
});

function desiredLog(): Log {
  return new Log(createForwardingState(SELF))
    .append('segment-blue', segment())
    .append(`node-${SELF}`, node(SELF, NODE1))
    .append('node-node-2', node('node-2', NODE2))
    .append('endpoint-pod-a', pod(POD_A, SELF))
    .append('endpoint-pod-b', pod(POD_B, 'node-2', DB));
}

// --- what the kernel holds ----------------------------------------------------------------

function pinned(name: string): Map<string, Buffer> {
  const map = openPinnedMap(join(PIN_DIR, name));
  try {
    return new Map(map.entries().map(([key, value]) => [decodeIpv4(key), value] as const));
  } finally {
    map.close();
  }
}

function pinnedMapId(name: string): number {
  const map = openPinnedMap(join(PIN_DIR, name));
  try {
    return map.id;
  } finally {
    map.close();
  }
}

function tamper(name: string, change: (map: ReturnType<typeof openPinnedMap>) => void): void {
  const map = openPinnedMap(join(PIN_DIR, name));
  try {
    change(map);
  } finally {
    map.close();
  }
}

/** Programs in the tc filters on dev's clsact ingress, in the node namespace: [name, id]. */
function tcOn(dev: string): Array<[string, number]> {
  const out = run('tc', '-n', NODE_NS, '-j', 'filter', 'show', 'dev', dev, 'ingress');
  const filters = JSON.parse(out.trim() || '[]') as Array<{
    options?: { prog?: { id: number; name: string } };
  }>;
  return filters.flatMap((f) =>
    f.options?.prog ? [[f.options.prog.name, f.options.prog.id]] : [],
  );
}

function xdpOn(dev: string): string | undefined {
  const [link] = JSON.parse(ip('-n', NODE_NS, '-j', 'link', 'show', 'dev', dev)) as Array<{
    xdp?: { prog?: { name: string } };
  }>;
  return link?.xdp?.prog?.name;
}

function ping(from: string, to: string): boolean {
  try {
    inNetns(from, 'ping', '-c', '1', '-W', '5', to);
    return true;
  } catch {
    return false;
  }
}

const pings = new Set<ChildProcess>();

/**
 * Pings every 5 ms from `from` until stopped; resolves once the first reply came back. stop()
 * interrupts it (SIGINT: ping prints its summary) and returns what it sent and got back.
 */
async function startPing(from: string, to: string) {
  const child = spawn('nsenter', [`--net=/run/netns/${from}`, 'ping', '-i', '0.005', to], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  pings.add(child);
  child.once('exit', () => pings.delete(child));
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('bytes from')) resolve();
    });
    child.once('exit', () => reject(new Error(`ping exited before a reply: ${out}`)));
  });
  return {
    async stop(): Promise<{ transmitted: number; received: number }> {
      // 'close': the process exited and its output is all read.
      const exited = new Promise((resolve) => child.once('close', resolve));
      child.kill('SIGINT');
      await exited;
      const summary = /(\d+) packets transmitted, (\d+) received/.exec(out);
      if (summary === null) throw new Error(`no ping summary in: ${out}`);
      return { transmitted: Number(summary[1]), received: Number(summary[2]) };
    },
  };
}

function expectSameTables(actual: ForwardingTables, expected: ForwardingTables): void {
  expect(digest(actual)).toBe(digest(expected));
}

// --- the suite ------------------------------------------------------------------------------

suite(`BpfDataplane in netns ${NODE_NS}`, () => {
  const warnings: string[] = [];
  const options: BpfDataplaneOptions = {
    vtepAddress: NODE1.vtepAddress,
    vtepMac: NODE1.vtepMac,
    underlayInterface: 'ul0',
    netns: NODE_NETNS,
    pinDir: PIN_DIR,
    pendingRetryMs: 0,
    onWarning: (error) => warnings.push(error.message),
  };
  let dataplane: BpfDataplane;
  const opened: BpfDataplane[] = [];
  const open = async (overrides: Partial<BpfDataplaneOptions> = {}) => {
    const next = await BpfDataplane.open({ ...options, ...overrides });
    opened.push(next);
    return next;
  };
  const log = desiredLog();
  const state = log.state;

  beforeAll(async () => {
    buildObjects();
    buildNamespaces();
    createPodVeth(POD_A, POD_NS);
    ip('-n', NODE_NS, 'addr', 'add', `${NODE1.vtepAddress}/24`, 'dev', 'ul0');
    ip('-n', NODE_NS, 'link', 'set', 'ul0', 'up');
    ip('-n', POD_NS, 'addr', 'add', `${POD_A.ip}/32`, 'dev', 'eth0');
    ip('-n', POD_NS, 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link');
    ip('-n', POD_NS, 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0', 'onlink');
    // The remote node: a kernel VXLAN-GBP device that answers as pod-b. fwmark_reflect puts
    // the request's group policy id (skb->mark) on the echo reply, so the reply carries GBP.
    ip('-n', PEER_NS, 'addr', 'add', `${NODE2.vtepAddress}/24`, 'dev', 'ul0');
    ip('-n', PEER_NS, 'link', 'set', 'ul0', 'up');
    ip(
      '-n',
      PEER_NS,
      'link',
      'add',
      'vx42',
      'address',
      POD_B.mac,
      'type',
      'vxlan',
      'id',
      String(VNI),
      'dstport',
      '4789',
      'local',
      NODE2.vtepAddress,
      'remote',
      NODE1.vtepAddress,
      'dev',
      'ul0',
      'gbp',
    );
    ip('-n', PEER_NS, 'link', 'set', 'vx42', 'up');
    ip('-n', PEER_NS, 'addr', 'add', `${POD_B.ip}/32`, 'dev', 'vx42');
    ip('-n', PEER_NS, 'route', 'add', '10.244.1.0/24', 'dev', 'vx42');
    ip(
      '-n',
      PEER_NS,
      'neigh',
      'add',
      POD_A.ip,
      'lladdr',
      POD_A.mac,
      'dev',
      'vx42',
      'nud',
      'permanent',
    );
    inNetns(PEER_NS, 'sysctl', '-q', '-w', 'net.ipv4.fwmark_reflect=1');
    dataplane = await open();
  });

  afterAll(async () => {
    for (const child of pings) child.kill('SIGKILL');
    for (const each of opened) await each.close().catch(() => undefined);
    for (const ns of NAMESPACES) {
      if (existsSync(`/run/netns/${ns}`)) ip('netns', 'del', ns);
    }
    rmSync(PIN_DIR, { recursive: true, force: true });
  });

  it('loads the programs with the node configuration, pins the maps, attaches the underlay', () => {
    expect(dataplane.kind).toBe('bpf');
    expect(dataplane.config).toEqual({
      mode: 'tc',
      netns: NODE_NETNS,
      pinDir: PIN_DIR,
      underlayInterface: 'ul0',
      underlayIfindex: ifindexOf('ul0', { netns: NODE_NETNS }),
      podMtu: 1450, // ul0's 1500 - 50
      idleTimeouts: { tcp: 6 * 3600 * 1000, other: 60 * 1000 },
    });
    for (const name of Object.values(MAP_NAMES)) expect(existsSync(join(PIN_DIR, name))).toBe(true);
    expect(tcOn('ul0').map(([name]) => name)).toEqual(['tc_ul_ingress']);
  });

  it('writes the desired tables through the codecs and attaches to the pod veth', async () => {
    await writeDelta(dataplane, diff(state.tables, emptyTables()));

    const local = state.tables.local.get(POD_A.ip)!;
    expect(decodeLocalEndpoint(pinned(MAP_NAMES.locals).get(POD_A.ip)!)).toEqual({
      ifindex: ifindexOf(HOST_A, { netns: NODE_NETNS }),
      vni: VNI,
      identity: identityOf(WEB),
      mac: POD_A.mac,
    });
    expect(local.interfaceName).toBe(HOST_A);
    expect(decodeRemoteEndpoint(pinned(MAP_NAMES.remotes).get(POD_B.ip)!)).toEqual({
      vtepAddress: NODE2.vtepAddress,
      vni: VNI,
      identity: identityOf(DB),
      vtepMac: NODE2.vtepMac,
      mac: POD_B.mac,
    });
    const vteps = pinned(MAP_NAMES.vteps);
    expect([...vteps.keys()]).toEqual([NODE2.vtepAddress]);
    expect(decodeVtep(vteps.get(NODE2.vtepAddress)!)).toEqual({ flags: 0 });
    expect(tcOn(HOST_A).map(([name]) => name)).toEqual(['tc_pod_egress']);

    // read() gives back exactly the desired tables: the reconciler sees nothing to do.
    const read = await dataplane.read();
    expectSameTables(read, state.tables);
    expect(read.local.get(POD_A.ip)).toBe(local);
  });

  it('encapsulates a ping to a remote pod out of the underlay and delivers the reply', () => {
    const before = dataplane.counters();
    expect(ping(POD_NS, POD_B.ip)).toBe(true);
    const after = dataplane.counters();
    const grew = (stat: 'encapsulated' | 'decapsulated') =>
      (after.stats[stat] ?? 0) - (before.stats[stat] ?? 0);
    expect(grew('encapsulated')).toBeGreaterThanOrEqual(1);
    expect(grew('decapsulated')).toBeGreaterThanOrEqual(1);
    expect(after.traffic).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          srcIdentity: identityOf(WEB),
          dstIdentity: identityOf(DB),
          direction: 'from_pod',
        }),
        expect.objectContaining({
          dstIdentity: identityOf(WEB),
          direction: 'from_overlay',
        }),
      ]),
    );
    expect(after.drops).toEqual(before.drops);
  });

  it('reports drift and stale keys on read, and the reconciler repairs them', async () => {
    tamper(MAP_NAMES.locals, (map) =>
      map.update(
        encodeIpv4(POD_A.ip),
        encodeLocalEndpoint({
          ifindex: ifindexOf(HOST_A, { netns: NODE_NETNS }),
          vni: 43,
          identity: identityOf(WEB),
          mac: POD_A.mac,
        }),
      ),
    );
    tamper(MAP_NAMES.remotes, (map) =>
      map.update(
        encodeIpv4('10.244.9.9'),
        encodeRemoteEndpoint({
          vtepAddress: NODE2.vtepAddress,
          vni: VNI,
          identity: 7,
          vtepMac: NODE2.vtepMac,
          mac: '0a:58:0a:f4:09:09',
        }),
      ),
    );
    tamper(MAP_NAMES.vteps, (map) =>
      map.update(encodeIpv4(NODE2.vtepAddress), encodeVtep({ flags: 1 })),
    );

    const read = await dataplane.read();
    const local = read.local.get(POD_A.ip)!;
    expect(local).toEqual({ ...state.tables.local.get(POD_A.ip), vni: 43 });
    expect(read.remote.get(POD_B.ip)).toBe(state.tables.remote.get(POD_B.ip));
    expect(read.remote.get('10.244.9.9')).toEqual({
      uid: '',
      node: '',
      vtepAddress: NODE2.vtepAddress,
      vtepMac: NODE2.vtepMac,
      mac: '0a:58:0a:f4:09:09',
      vni: VNI,
      identity: 7,
    });
    expect(sameEntry(read.vteps.get('node-2')!, state.tables.vteps.get('node-2')!)).toBe(false);

    // The agent's reconciler: a resync reads, diffs and writes only what is wrong.
    const reconciler = new Reconciler({
      state,
      dataplane,
      onApplied: () => undefined,
      now: Date.now,
    });
    reconciler.requestResync();
    await reconciler.flush();
    reconciler.close();
    expect(reconciler.stats).toMatchObject({ resyncs: 1, updates: 2, deletes: 1, drift: 3 });
    expectSameTables(await dataplane.read(), state.tables);
    expect(decodeLocalEndpoint(pinned(MAP_NAMES.locals).get(POD_A.ip)!).vni).toBe(VNI);
    expect(pinned(MAP_NAMES.remotes).has('10.244.9.9')).toBe(false);
    expect(decodeVtep(pinned(MAP_NAMES.vteps).get(NODE2.vtepAddress)!)).toEqual({ flags: 0 });
  });

  it('re-attaches a program removed behind its back when it reads', async () => {
    run('tc', '-n', NODE_NS, 'filter', 'del', 'dev', HOST_A, 'ingress');
    run('tc', '-n', NODE_NS, 'filter', 'del', 'dev', 'ul0', 'ingress');
    expect(tcOn(HOST_A)).toEqual([]);
    await dataplane.read();
    expect(tcOn(HOST_A).map(([name]) => name)).toEqual(['tc_pod_egress']);
    expect(tcOn('ul0').map(([name]) => name)).toEqual(['tc_ul_ingress']);
  });

  it('parks a local entry until its veth appears, then writes it', async () => {
    const entry: LocalEndpointEntry = {
      uid: POD_C.uid,
      interfaceName: HOST_C,
      mac: POD_C.mac,
      vni: VNI,
      identity: identityOf(WEB),
    };
    await dataplane.update('local', [{ key: POD_C.ip, entry }]);
    expect(dataplane.parkedEntries).toEqual(new Map([[POD_C.ip, HOST_C]]));
    expect(pinned(MAP_NAMES.locals).has(POD_C.ip)).toBe(false);
    expect((await dataplane.read()).local.has(POD_C.ip)).toBe(false);
    expect(warnings.some((w) => w.includes(HOST_C) && w.includes('waits'))).toBe(true);

    createPodVeth(POD_C, undefined);
    expect(await dataplane.retryParked()).toBe(1);
    expect(dataplane.parkedEntries.size).toBe(0);
    expect(decodeLocalEndpoint(pinned(MAP_NAMES.locals).get(POD_C.ip)!).ifindex).toBe(
      ifindexOf(HOST_C, { netns: NODE_NETNS }),
    );
    expect(tcOn(HOST_C).map(([name]) => name)).toEqual(['tc_pod_egress']);
    expect((await dataplane.read()).local.get(POD_C.ip)).toBe(entry);

    // A veth re-created under the same name (new ifindex) is drift: the entry is rewritten.
    ip('-n', NODE_NS, 'link', 'del', HOST_C);
    createPodVeth(POD_C, undefined);
    const drifted = (await dataplane.read()).local.get(POD_C.ip)!;
    expect(drifted.interfaceName).toMatch(/^ifindex:\d+$/);
    await dataplane.update('local', [{ key: POD_C.ip, entry }]);
    expect(decodeLocalEndpoint(pinned(MAP_NAMES.locals).get(POD_C.ip)!).ifindex).toBe(
      ifindexOf(HOST_C, { netns: NODE_NETNS }),
    );
  });

  it('deletes and prunes; a missing key is fine', async () => {
    await dataplane.delete('local', [POD_C.ip, '10.244.1.99']);
    expect(pinned(MAP_NAMES.locals).has(POD_C.ip)).toBe(false);
    await dataplane.delete('remote', ['10.244.9.9']);

    const extra: RemoteEndpointEntry = { ...state.tables.remote.get(POD_B.ip)!, uid: 'pod-x' };
    await dataplane.update('remote', [
      { key: '10.244.2.10', entry: extra },
      { key: '10.244.2.11', entry: extra },
    ]);
    expect(await dataplane.prune('remote', (key) => key === POD_B.ip)).toBe(2);
    expect([...pinned(MAP_NAMES.remotes).keys()]).toEqual([POD_B.ip]);
    expect(await dataplane.prune('remote', (key) => key === POD_B.ip)).toBe(0);
  });

  it('keeps a VTEP address two nodes share until the last of them goes', async () => {
    const shared = { address: NODE2.vtepAddress, mac: NODE2.vtepMac };
    await dataplane.update('vteps', [{ key: 'node-3', entry: shared }]);
    await dataplane.delete('vteps', ['node-2']);
    expect(pinned(MAP_NAMES.vteps).has(NODE2.vtepAddress)).toBe(true);
    expect([...(await dataplane.read()).vteps.keys()]).toEqual(['node-3']);
    await dataplane.delete('vteps', ['node-3']);
    expect(pinned(MAP_NAMES.vteps).size).toBe(0);
    await dataplane.update('vteps', [{ key: 'node-2', entry: state.tables.vteps.get('node-2')! }]);
    expectSameTables(await dataplane.read(), state.tables);
  });

  it('survives a restart: pins, attachments and traffic stay; the resync deletes nothing', async () => {
    const underlayProgram = tcOn('ul0')[0][1];
    const mapIds = Object.values(MAP_NAMES).map(pinnedMapId);
    // Traffic across the whole restart: stop, start, resync.
    const traffic = await startPing(POD_NS, POD_B.ip);
    await dataplane.close();

    // The agent is down: the programs and maps stay, and so does forwarding.
    expect(tcOn('ul0')).toEqual([['tc_ul_ingress', underlayProgram]]);
    expect(ping(POD_NS, POD_B.ip)).toBe(true);

    dataplane = await open();
    expect(Object.values(MAP_NAMES).map(pinnedMapId)).toEqual(mapIds);
    const [name, id] = tcOn('ul0')[0];
    expect(name).toBe('tc_ul_ingress');
    expect(id).not.toBe(underlayProgram); // replaced in place by the new run's program

    // A new shadow: every entry is stale, keyed as the map holds it.
    const read = await dataplane.read();
    expect(read.local.get(POD_A.ip)).toMatchObject({ uid: '', mac: POD_A.mac, vni: VNI });
    expect(read.remote.get(POD_B.ip)).toMatchObject({ uid: '', node: '', mac: POD_B.mac });
    expect([...read.vteps.keys()]).toEqual([`@${NODE2.vtepAddress}`]);

    const reconciler = new Reconciler({
      state,
      dataplane,
      onApplied: () => undefined,
      now: Date.now,
    });
    reconciler.requestResync();
    await reconciler.flush();
    reconciler.close();
    // Everything was rewritten with the value it had; no key was ever removed.
    expect(dataplane.stats.deletes).toBe(0);
    expect(dataplane.stats.updates).toBe(3);
    expectSameTables(await dataplane.read(), state.tables);
    expect(tcOn(HOST_A).map(([n]) => n)).toEqual(['tc_pod_egress']);
    const { transmitted, received } = await traffic.stop();
    expect(transmitted).toBeGreaterThan(10);
    // The one in flight when ping was interrupted may be unanswered; no other is.
    expect(received).toBeGreaterThanOrEqual(transmitted - 1);

    // The orphaned VTEP of a node that left while the agent was down goes after the write.
    tamper(MAP_NAMES.vteps, (map) =>
      map.update(encodeIpv4('192.168.200.9'), encodeVtep({ flags: 0 })),
    );
    const delta = diff(state.tables, await dataplane.read());
    expect(delta.vteps.deletes).toEqual(['@192.168.200.9']);
    await writeDelta(dataplane, delta);
    await dataplane.read(); // the next operation runs after the deferred delete
    expect([...pinned(MAP_NAMES.vteps).keys()]).toEqual([NODE2.vtepAddress]);
  });

  it('follows the fold when an endpoint goes', async () => {
    log.append('endpoint-pod-b', podDeleted(POD_B));
    await writeDelta(dataplane, diff(state.tables, await dataplane.read()));
    expect(pinned(MAP_NAMES.remotes).size).toBe(0);
    expectSameTables(await dataplane.read(), state.tables);
  });

  it('switches to XDP mode, then detaches and unpins everything', async () => {
    await dataplane.close();
    dataplane = await open({ mode: 'xdp' });
    expect(xdpOn('ul0')).toBe('xdp_ul_ingress');
    expect(tcOn('ul0')).toEqual([]);
    await dataplane.update('local', [{ key: POD_A.ip, entry: state.tables.local.get(POD_A.ip)! }]);
    expect(xdpOn(HOST_A)).toBe('xdp_pod_egress');
    // The earlier run's tc program on the veth went when the XDP run opened.
    expect(tcOn(HOST_A)).toEqual([]);

    await dataplane.detachAll();
    expect(xdpOn('ul0')).toBeUndefined();
    expect(xdpOn(HOST_A)).toBeUndefined();
    await dataplane.close();
    dataplane.unpinAll();
    expect(existsSync(PIN_DIR)).toBe(false);
  });
});

// --- policy across two nodes ----------------------------------------------------------------

/**
 * Two nodes, each its own BpfDataplane (TC mode), one pod each, tables written by hand in the
 * formats of libs/forwarding (docs/policy.md): namespaces sbp-<pid>-*, pins /sys/fs/bpf/sbp-*.
 *
 *   pod-a netns (10.244.1.2) ── node-1 netns ── ul0 ═══ ul0 ── node-2 netns ── pod-b netns (10.244.2.2)
 */
const SBP = `sbp-${process.pid}`;
const SBP_NODES = [`${SBP}-n1`, `${SBP}-n2`] as const;
const SBP_PODS = [`${SBP}-a`, `${SBP}-b`] as const;
const SBP_PINS = SBP_NODES.map((ns) => `/sys/fs/bpf/${ns}`);
const SBP_A = { uid: 'sbp-pod-a', ip: '10.244.1.2', mac: '0a:58:0a:f4:01:02', identity: 1000 };
const SBP_B = { uid: 'sbp-pod-b', ip: '10.244.2.2', mac: '0a:58:0a:f4:02:02', identity: 2000 };
const SBP_VTEPS = [
  { address: '192.168.210.1', mac: '02:00:c0:a8:d2:01' },
  { address: '192.168.210.2', mac: '02:00:c0:a8:d2:02' },
] as const;

const allowRule = (rule: number) =>
  ({ verdict: 'allow', rule, stagedVerdict: 'allow', stagedRule: rule }) as const;
const denyRule = (rule: number) =>
  ({ verdict: 'deny', rule, stagedVerdict: 'deny', stagedRule: rule }) as const;

function pingWithin(from: string, to: string, seconds: number): boolean {
  try {
    inNetns(from, 'ping', '-c', '1', '-W', String(seconds), to);
    return true;
  } catch {
    return false;
  }
}

/** A TCP echo server in `ns`; resolves once it listens. stop() ends it (by its PID). */
async function echoServer(ns: string, address: string, port: number) {
  const script =
    `require('net').createServer((s) => s.pipe(s))` +
    `.listen(${port}, '${address}', () => console.log('listening'));`;
  const child = spawn('nsenter', [`--net=/run/netns/${ns}`, process.execPath, '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('listening')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`echo server exited (${code})`)));
  });
  return {
    stop: async () => {
      const exited = new Promise((resolve) => child.once('close', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Connects from `ns` and echoes one message: 'echoed', or why not ('timeout', an errno). */
function tcpEcho(ns: string, address: string, port: number, timeoutMs: number): string {
  const script =
    `const s = require('net').connect(${port}, '${address}');` +
    `s.setTimeout(${timeoutMs}, () => { console.log('timeout'); process.exit(0); });` +
    `s.on('connect', () => s.write('strata'));` +
    `s.on('data', (d) => { console.log(String(d) === 'strata' ? 'echoed' : 'garbled'); s.destroy(); });` +
    `s.on('error', (e) => { console.log(e.code); process.exit(0); });`;
  return inNetns(ns, process.execPath, '-e', script).trim();
}

/** Lines a child prints, and a way to wait for one. */
function lineReader(child: ChildProcess) {
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let rest = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    rest += chunk.toString();
    const parts = rest.split('\n');
    rest = parts.pop()!;
    lines.push(...parts);
    for (const wake of waiters) wake();
  });
  /** The first line `match` accepts, or undefined if none came within `timeoutMs`. */
  const next = (match: (line: string) => boolean, timeoutMs: number) =>
    new Promise<string | undefined>((resolve) => {
      const check = () => {
        const line = lines.find(match);
        if (line === undefined) return;
        finish(line);
      };
      const finish = (line: string | undefined) => {
        clearTimeout(timer);
        waiters.delete(check);
        resolve(line);
      };
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      waiters.add(check);
      check();
    });
  return { lines, next };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('close', resolve));
  child.kill('SIGTERM');
  await exited;
}

/**
 * A long-lived TCP connection from `clientNs` to a server in `serverNs`: the server sends a
 * line when told (`push`), the client prints what it receives. Ends by the children's PIDs.
 */
async function pushConnection(serverNs: string, clientNs: string, address: string, port: number) {
  const serverScript =
    `let sock; require('net').createServer((s) => { sock = s; s.on('error', () => {});` +
    ` console.log('accepted'); }).listen(${port}, '${address}', () => console.log('listening'));` +
    `require('readline').createInterface({ input: process.stdin })` +
    `.on('line', (line) => sock && sock.write(line + '\\n'));`;
  const server = spawn(
    'nsenter',
    [`--net=/run/netns/${serverNs}`, process.execPath, '-e', serverScript],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const serverLines = lineReader(server);
  const clientScript =
    `const s = require('net').connect(${port}, '${address}');` +
    `s.on('connect', () => console.log('port ' + s.localPort)); s.setEncoding('utf8');` +
    `let rest = ''; s.on('data', (d) => { rest += d; let i;` +
    ` while ((i = rest.indexOf('\\n')) >= 0) { console.log('got ' + rest.slice(0, i));` +
    ` rest = rest.slice(i + 1); } });` +
    `s.on('error', (e) => console.log('error ' + e.code)); s.on('close', () => console.log('closed'));`;
  let client: ChildProcess | undefined;
  const stop = async () => {
    if (client !== undefined) await stopChild(client);
    await stopChild(server);
  };
  try {
    if ((await serverLines.next((line) => line === 'listening', 5_000)) === undefined) {
      throw new Error('push server did not listen');
    }
    client = spawn(
      'nsenter',
      [`--net=/run/netns/${clientNs}`, process.execPath, '-e', clientScript],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const clientLines = lineReader(client);
    const connected = await clientLines.next((line) => line.startsWith('port '), 5_000);
    if (
      connected === undefined ||
      (await serverLines.next((l) => l === 'accepted', 5_000)) === undefined
    ) {
      throw new Error(`no connection: ${clientLines.lines.join('; ')}`);
    }
    return {
      clientPort: Number(connected.slice('port '.length)),
      push: (line: string) => server.stdin!.write(`${line}\n`),
      /** Whether the client received `line` within `timeoutMs`. */
      received: async (line: string, timeoutMs: number) =>
        (await clientLines.next((l) => l === `got ${line}`, timeoutMs)) !== undefined,
      receivedSoFar: () => clientLines.lines.filter((l) => l.startsWith('got ')),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Resolves once `condition` holds (checked every 20 ms); false if it did not within `timeoutMs`. */
async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

const sbpSuite = reason ? describe.skip : describe;

sbpSuite(`policy enforced across two nodes (netns ${SBP}-*)`, () => {
  const warnings: string[] = [];
  const dataplanes: BpfDataplane[] = [];

  beforeAll(async () => {
    buildObjects();
    for (const ns of [...SBP_NODES, ...SBP_PODS]) {
      ip('netns', 'add', ns);
      inNetns(ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1');
      inNetns(ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    const [n1, n2] = SBP_NODES;
    // prettier-ignore
    ip(
      '-n', n1, 'link', 'add', 'ul0', 'address', SBP_VTEPS[0].mac, 'type', 'veth',
      'peer', 'name', 'ul0', 'address', SBP_VTEPS[1].mac, 'netns', n2,
    );
    SBP_NODES.forEach((ns, i) => {
      ip('-n', ns, 'addr', 'add', `${SBP_VTEPS[i].address}/24`, 'dev', 'ul0');
      ip('-n', ns, 'link', 'set', 'ul0', 'up');
    });
    [SBP_A, SBP_B].forEach((pod, i) => {
      const host = interfaceName(pod.uid);
      const podNs = SBP_PODS[i];
      // prettier-ignore
      ip(
        '-n', SBP_NODES[i], 'link', 'add', host, 'address', 'ee:ee:ee:ee:ee:ee', 'type', 'veth',
        'peer', 'name', 'eth0', 'address', pod.mac, 'netns', podNs,
      );
      ip('-n', SBP_NODES[i], 'link', 'set', host, 'up');
      ip('-n', podNs, 'link', 'set', 'eth0', 'mtu', '1450', 'up');
      ip('-n', podNs, 'addr', 'add', `${pod.ip}/32`, 'dev', 'eth0');
      ip('-n', podNs, 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link');
      ip('-n', podNs, 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0', 'onlink');
    });
    for (const [i, ns] of SBP_NODES.entries()) {
      dataplanes.push(
        await BpfDataplane.open({
          vtepAddress: SBP_VTEPS[i].address,
          vtepMac: SBP_VTEPS[i].mac,
          underlayInterface: 'ul0',
          netns: `/run/netns/${ns}`,
          pinDir: SBP_PINS[i],
          pendingRetryMs: 0,
          onWarning: (error) => warnings.push(error.message),
        }),
      );
    }
    // Each node: its pod local, the other's remote, the other's VTEP.
    for (const [i, pod] of [SBP_A, SBP_B].entries()) {
      const other = i === 0 ? SBP_B : SBP_A;
      const dataplane = dataplanes[i];
      const { uid, mac, identity } = pod;
      await dataplane.update('local', [
        { key: pod.ip, entry: { uid, interfaceName: interfaceName(uid), mac, vni: VNI, identity } },
      ]);
      await dataplane.update('remote', [
        {
          key: other.ip,
          entry: {
            uid: other.uid,
            node: `node-${2 - i}`,
            vtepAddress: SBP_VTEPS[1 - i].address,
            vtepMac: SBP_VTEPS[1 - i].mac,
            mac: other.mac,
            vni: VNI,
            identity: other.identity,
          },
        },
      ]);
      await dataplane.update('vteps', [{ key: `node-${2 - i}`, entry: SBP_VTEPS[1 - i] }]);
    }
  });

  afterAll(async () => {
    for (const dataplane of dataplanes) await dataplane.close().catch(() => undefined);
    for (const ns of [...SBP_PODS, ...SBP_NODES]) {
      if (existsSync(`/run/netns/${ns}`)) ip('netns', 'del', ns);
    }
    for (const pins of SBP_PINS) rmSync(pins, { recursive: true, force: true });
  });

  it('pings across the nodes while no policy selects either pod', () => {
    expect(pingWithin(SBP_PODS[0], SBP_B.ip, 5)).toBe(true);
    expect(dataplanes[1].policyRules()).toEqual([]);
  });

  it('writes the policy tables into the maps and reads them back; bad keys are rejected', async () => {
    const [, node2] = dataplanes;
    await node2.update('policy', [
      { key: 'i:2000:1000:*', entry: allowRule(4242) },
      { key: 'i:2000:*:*', entry: denyRule(1) },
      { key: 'i:2000:1000:6:08/16', entry: denyRule(1) },
      { key: 'i:2000:*:6:81/12', entry: denyRule(1) },
    ]);
    await node2.update('prefixes', [
      { key: '93.184.216.34/32', entry: { identity: 0x10001 } },
      { key: '10.1.0.1/16', entry: { identity: 0x10002 } },
    ]);
    await node2.update('rules', [
      {
        key: '4242',
        entry: {
          policyId: 'allow-a',
          name: 'allow a',
          tier: 'application',
          direction: 'ingress',
          index: 0,
          action: 'allow',
          staged: false,
        },
      },
    ]);
    expect(warnings.filter((w) => w.includes('rejected'))).toEqual([
      "bpf dataplane: policy i:2000:1000:6:08/16: rejected: port '08' is not an integer 0-65535",
      'bpf dataplane: policy i:2000:*:6:81/12: rejected: port 81 has bits set beyond /12',
      'bpf dataplane: prefixes 10.1.0.1/16: rejected: 10.1.0.1/16 has bits set beyond its prefix',
    ]);
    const read = await node2.read();
    expect([...read.policy.keys()].sort()).toEqual(['i:2000:*:*', 'i:2000:1000:*']);
    expect(read.policy.get('i:2000:1000:*')).toEqual(allowRule(4242));
    expect([...read.prefixes]).toEqual([['93.184.216.34/32', { identity: 0x10001 }]]);
    expect(read.rules.get('4242')).toMatchObject({ policyId: 'allow-a' });
    const policyMap = openPinnedMap(join(SBP_PINS[1], MAP_NAMES.policy));
    try {
      expect(policyMap.keys()).toHaveLength(2);
    } finally {
      policyMap.close();
    }
  });

  it('a ping allowed by the policy, denied after it changes, allowed again', async () => {
    const [, node2] = dataplanes;
    expect(pingWithin(SBP_PODS[0], SBP_B.ip, 5)).toBe(true);
    const allowed = node2.policyRules().find((row) => row.rule === 4242);
    expect(allowed).toMatchObject({ policyId: 'allow-a', tier: 'application', index: 0 });
    expect(allowed!.allowed.packets).toBeGreaterThanOrEqual(1);

    const dropsBefore = node2.counters().drops.policy_denied ?? 0;
    const revoked = node2.stats.connectionsRevoked;
    await node2.update('policy', [{ key: 'i:2000:1000:*', entry: denyRule(1) }]);
    await node2.endBatch();
    // The earlier ping's connection (its identifier) is denied now: gone.
    expect(node2.stats.connectionsRevoked).toBeGreaterThan(revoked);
    expect(pingWithin(SBP_PODS[0], SBP_B.ip, 1)).toBe(false);
    expect(node2.counters().drops.policy_denied ?? 0).toBeGreaterThan(dropsBefore);
    expect(node2.policyRules().find((row) => row.rule === 1)?.denied.packets).toBeGreaterThan(0);
    expect(node2.metrics('node-2')).toMatch(
      /strata_agent_policy_packets_total\{node="node-2",rule="1",policy="",tier="",kind="denied"\} [1-9]/,
    );

    await node2.update('policy', [{ key: 'i:2000:1000:*', entry: allowRule(4242) }]);
    await node2.endBatch();
    expect(pingWithin(SBP_PODS[0], SBP_B.ip, 5)).toBe(true);
  });

  it('the reply of an allowed connection passes a deny-all ingress; the reverse direction is denied', async () => {
    const [node1] = dataplanes;
    // pod-a is isolated for ingress; pod-b still lets pod-a in.
    await node1.update('policy', [{ key: 'i:1000:*:*', entry: denyRule(1) }]);
    const atB = await echoServer(SBP_PODS[1], SBP_B.ip, 7000);
    const atA = await echoServer(SBP_PODS[0], SBP_A.ip, 7001);
    try {
      expect(tcpEcho(SBP_PODS[0], SBP_B.ip, 7000, 5_000)).toBe('echoed');
      const denied = node1.counters().drops.policy_denied ?? 0;
      expect(tcpEcho(SBP_PODS[1], SBP_A.ip, 7001, 1_000)).toBe('timeout');
      expect(node1.counters().drops.policy_denied ?? 0).toBeGreaterThan(denied);
      // And once pod-a's ingress lets pod-b in, the same connection opens.
      await node1.update('policy', [{ key: 'i:1000:2000:*', entry: allowRule(4343) }]);
      expect(tcpEcho(SBP_PODS[1], SBP_A.ip, 7001, 5_000)).toBe('echoed');
    } finally {
      await atA.stop();
      await atB.stop();
    }
  });

  it('a resync finds drift and strays in the policy maps and repairs them', async () => {
    const [, node2] = dataplanes;
    const desired = copyTables(await node2.read());
    expect(desired.policy.get('i:2000:1000:*')).toEqual(allowRule(4242));
    tamper2(MAP_NAMES.policy, (map) => {
      map.update(policyMapKey('i:2000:1000:*'), policyMapValue('', denyRule(1)));
      map.update(policyMapKey('i:2000:3000:*'), policyMapValue('', denyRule(1)));
    });
    tamper2(MAP_NAMES.prefixes, (map) => map.delete(prefixMapKey('93.184.216.34/32')));

    const read = await node2.read();
    expect(read.policy.get('i:2000:1000:*')).toEqual(denyRule(1));
    expect(read.policy.get('i:2000:3000:*')).toEqual(denyRule(1));
    expect(read.prefixes.size).toBe(0);
    const delta = diff(desired, read);
    expect(delta.policy).toEqual({
      updates: [{ key: 'i:2000:1000:*', entry: allowRule(4242) }],
      deletes: ['i:2000:3000:*'],
    });
    expect(delta.prefixes.updates.map(({ key }) => key)).toEqual(['93.184.216.34/32']);
    const walks = node2.stats.conntrackWalks;
    await writeDelta(node2, delta);
    // The batch changed policy: its end re-checked the tracked connections.
    expect(node2.stats.conntrackWalks).toBe(walks + 1);
    expectSameTables(await node2.read(), desired);
    expect(await node2.prune('policy', (key) => key !== 'i:2000:*:*')).toBe(1);
    expect([...(await node2.read()).policy.keys()]).toEqual(['i:2000:1000:*']);
  });

  it('drops the counters of a rule the rules table no longer has', async () => {
    const [, node2] = dataplanes;
    const rules = () => node2.policyRules().map((row) => row.rule);
    expect(rules()).toEqual([1, 4242]);
    await node2.delete('rules', ['4242', '999']);
    expect(rules()).toEqual([1]);
    expect((await node2.read()).rules.size).toBe(0);
  });

  it('an established connection survives an unrelated policy change; one now denied is cut', async () => {
    const [node1, node2] = dataplanes;
    // pod-a is isolated for ingress (a new flow from pod-b is denied at node-1); pod-b lets
    // pod-a in. The connection's replies (pod-b to pod-a) pass node-1 by its strata_ct entry.
    await node1.update('policy', [{ key: 'i:1000:*:*', entry: denyRule(1) }]);
    await node1.delete('policy', ['i:1000:2000:*']);
    await node1.endBatch();
    await node2.update('policy', [{ key: 'i:2000:1000:*', entry: allowRule(4242) }]);
    await node2.endBatch();
    expect(pingWithin(SBP_PODS[1], SBP_A.ip, 1)).toBe(false);

    const connection = await pushConnection(SBP_PODS[1], SBP_PODS[0], SBP_B.ip, 7002);
    try {
      const key = encodeConnectionKey({
        source: SBP_A.ip,
        destination: SBP_B.ip,
        sourcePort: connection.clientPort,
        destinationPort: 7002,
        protocol: 6,
      });
      const tracked = () => conntrackOf(0, (map) => map.lookup(key) !== undefined);
      connection.push('one');
      expect(await connection.received('one', 5_000)).toBe(true);
      expect(tracked()).toBe(true);

      // Unrelated: another rule for pod-a's ingress, from an identity nobody here has.
      const revoked = node1.stats.connectionsRevoked;
      const walks = node1.stats.conntrackWalks;
      await writeDelta(node1, policyDelta({ 'i:1000:3000:*': allowRule(4444) }));
      expect(node1.stats.conntrackWalks).toBe(walks + 1);
      expect(node1.stats.connectionsRevoked).toBe(revoked);
      expect(tracked()).toBe(true);
      // The server speaks first: with its entry gone, its segment would be a new flow into
      // isolated pod-a, dropped (and retransmitted, and dropped) until the client sent again.
      const drops = node1.counters().drops.policy_denied ?? 0;
      connection.push('two');
      expect(await connection.received('two', 5_000)).toBe(true);
      expect(node1.counters().drops.policy_denied ?? 0).toBe(drops);

      // Now pod-a's egress denies pod-b: the connection's opening packet would be denied.
      await writeDelta(node1, policyDelta({ 'e:1000:2000:*': denyRule(5) }));
      expect(tracked()).toBe(false);
      expect(node1.stats.connectionsRevoked).toBeGreaterThan(revoked);
      connection.push('three');
      expect(
        await waitUntil(() => (node1.counters().drops.policy_denied ?? 0) > drops, 5_000),
      ).toBe(true);
      expect(connection.receivedSoFar()).toEqual(['got one', 'got two']);
    } finally {
      await connection.stop();
      await node1.delete('policy', ['e:1000:2000:*', 'i:1000:3000:*']);
      await node1.endBatch();
    }
  });

  it('reaps idle connections at a resync, by protocol; a restarted agent keeps the rest', async () => {
    const [node1] = dataplanes;
    const server = await echoServer(SBP_PODS[1], SBP_B.ip, 7003);
    try {
      expect(tcpEcho(SBP_PODS[0], SBP_B.ip, 7003, 5_000)).toBe('echoed');
    } finally {
      await server.stop();
    }
    expect(pingWithin(SBP_PODS[0], SBP_B.ip, 5)).toBe(true);
    const held = () => conntrackOf(0, (map) => map.keys().map((key) => decodeConnectionKey(key)));
    const tcp = held().filter((c) => c.protocol === 6 && c.destinationPort === 7003);
    const icmp = held().filter((c) => c.protocol === 1 && c.source === SBP_A.ip);
    expect(tcp).toHaveLength(1);
    expect(icmp.length).toBeGreaterThanOrEqual(1);
    // The echo request's identifier is its source port (two pings: two connections).
    expect(icmp.every((c) => c.sourcePort !== 0 && c.destinationPort === 0)).toBe(true);

    // Another run of node-1's agent, over the same pins, with a 1 ms timeout for all but TCP:
    // its first resync (read) finds the entries of the previous run (not stale: its view of the
    // endpoint and policy maps is the maps'), keeps the TCP one and reaps the ping's.
    const restarted = await BpfDataplane.open({
      vtepAddress: SBP_VTEPS[0].address,
      vtepMac: SBP_VTEPS[0].mac,
      underlayInterface: 'ul0',
      netns: `/run/netns/${SBP_NODES[0]}`,
      pinDir: SBP_PINS[0],
      pendingRetryMs: 0,
      idleTimeouts: { other: 1 },
      onWarning: (error) => warnings.push(error.message),
    });
    try {
      await restarted.read();
      expect(restarted.stats.connectionsRevoked).toBe(0);
      expect(restarted.stats.connectionsExpired).toBeGreaterThanOrEqual(icmp.length);
      expect(held()).toEqual(expect.arrayContaining(tcp));
      expect(held().filter((c) => c.protocol === 1)).toEqual([]);
      // TCP idles 6 h by default: a sweep "7 hours later" reaps it.
      const later = process.hrtime.bigint() + 7n * 3600n * 1_000_000_000n;
      expect(await node1.sweepConnections(later)).toMatchObject({ revoked: 0 });
      expect(held()).toEqual([]);
    } finally {
      await restarted.close();
    }
    await expect(
      BpfDataplane.open({
        vtepAddress: SBP_VTEPS[0].address,
        vtepMac: SBP_VTEPS[0].mac,
        underlayInterface: 'ul0',
        netns: `/run/netns/${SBP_NODES[0]}`,
        pinDir: SBP_PINS[0],
        idleTimeouts: { tcp: 0 },
      }),
    ).rejects.toThrow('idle timeout tcp must be a positive number of ms');
  });

  it('re-checks 100,000 tracked connections after a policy change: removes exactly the denied', async () => {
    const [node1] = dataplanes;
    // pod-a isolated for ingress, its egress unselected.
    await node1.update('policy', [{ key: 'i:1000:*:*', entry: denyRule(1) }]);
    await node1.delete('policy', ['i:1000:2000:*', 'e:1000:2000:*']);
    await node1.endBatch();
    const at = (base: string, i: number) => `${base}.${(i >> 8) & 255}.${i & 255}`;
    const keys: Buffer[] = [];
    // 50,000 pod-a opened (its egress has no rows: allowed), on as many destination ports.
    for (let i = 0; i < 50_000; i++) {
      keys.push(
        encodeConnectionKey({
          source: SBP_A.ip,
          destination: SBP_B.ip,
          sourcePort: 1024 + (i % 60_000),
          destinationPort: i % 65_536,
          protocol: i % 2 === 0 ? 6 : 17,
        }),
      );
    }
    // 30,000 pod-b opened over the tunnel: pod-a's ingress now denies them.
    for (let i = 0; i < 30_000; i++) {
      keys.push(
        encodeConnectionKey({
          source: SBP_B.ip,
          destination: SBP_A.ip,
          sourcePort: 1024 + i,
          destinationPort: 8080,
          protocol: 6,
        }),
      );
    }
    // 20,000 between addresses no local pod has (stale).
    for (let i = 0; i < 20_000; i++) {
      keys.push(
        encodeConnectionKey({
          source: at('10.250', i),
          destination: at('10.251', i),
          sourcePort: 40000,
          destinationPort: 53,
          protocol: 17,
        }),
      );
    }
    const now = process.hrtime.bigint();
    conntrackOf(0, (map) => {
      map.deleteBatch(map.keys());
      map.updateBatch(
        keys,
        keys.map(() => encodeConnection(now)),
      );
    });
    expect(conntrackOf(0, (map) => map.keys().length)).toBe(100_000);

    const revoked = node1.stats.connectionsRevoked;
    await writeDelta(node1, policyDelta({ 'i:1000:3001:*': allowRule(4545) }));
    expect(node1.stats.connectionsRevoked - revoked).toBe(50_000);
    const left = conntrackOf(0, (map) => map.keys().map((key) => decodeConnectionKey(key)));
    expect(left).toHaveLength(50_000);
    expect(left.every((c) => c.source === SBP_A.ip && c.destination === SBP_B.ip)).toBe(true);

    // A resync's walk reads the values too (idle times): nothing is idle yet.
    expect(await node1.sweepConnections()).toEqual({ revoked: 0, expired: 0, walked: 50_000 });
    await node1.delete('policy', ['i:1000:3001:*']);
    await node1.endBatch();
  });
});

/** A delta that writes `rows` into the policy table and nothing else. */
function policyDelta(rows: Record<string, PolicyEntry>): ForwardingDelta {
  const delta = Object.fromEntries(
    TABLE_NAMES.map((table) => [table, { updates: [], deletes: [] }]),
  ) as unknown as ForwardingDelta;
  return {
    ...delta,
    policy: {
      updates: Object.entries(rows).map(([key, entry]) => ({ key, entry })),
      deletes: [],
    },
  };
}

function conntrackOf<T>(node: number, read: (map: ReturnType<typeof openPinnedMap>) => T): T {
  const map = openPinnedMap(join(SBP_PINS[node], MAP_NAMES.conntrack));
  try {
    return read(map);
  } finally {
    map.close();
  }
}

function tamper2(name: string, change: (map: ReturnType<typeof openPinnedMap>) => void): void {
  const map = openPinnedMap(join(SBP_PINS[1], name));
  try {
    change(map);
  } finally {
    map.close();
  }
}
