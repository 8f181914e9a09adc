import { afterAll, describe, expect, it, jest } from '@jest/globals';
import type { AgentStatus } from '@strata/bus';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeLocalEndpoint } from '../../dataplane/bpf/maps';
import type { LabStatus } from '../../services/cli/src/lab/lab-status';
import {
  alive,
  ipKey,
  runFile,
  strata,
  succeeded,
  useLab,
  type Lab,
  type LabProcess,
} from '../support/lab-harness';

// The dataplane issue's end-to-end proofs, in one lab of 3 nodes x 2 pods in TC mode (BPF
// dataplane, a real server and agent per node; see deploy/lab/README.md): every pod reaches
// every pod on another node by ICMP, TCP and UDP while no node namespace has a route to a remote
// pod, and the agents' counters account for the packets; the underlay carries VXLAN-GBP that
// tshark decodes with the sender's identity, the segment's VNI and correct checksums; a deleted
// pod is unreachable everywhere once every agent applied its deletion; an agent killed with -9
// and restarted costs no traffic and its resync rewrites only identical entries. Traffic stays in
// the lab's namespaces. Convergence is waited on through signals (`lab up`, `lab pod delete` and
// `lab agent restart` return once every agent applied the log's head; servers print a ready
// line; ping replies are counted as they arrive), never a sleep. Key figures go to the console.

jest.setTimeout(240_000);

const dataDir = mkdtempSync(join(tmpdir(), 'strata-lab-traffic-'));
const TCP_PORT = 7000;
const UDP_PORT = 7001;
const DATAGRAMS = 5;
const TCP_BYTES = 65_536;
/** The least a TCP echo puts on the wire each way: SYN (or SYN-ACK), then data. */
const TCP_MIN_PACKETS = 2;
const ETH_FRAME_MAX = 1514;

type Pod = LabStatus['pods'][number];
type Node = LabStatus['nodes'][number];

/** Echo servers for TCP and UDP on the pod's address; "listening" once both are bound. */
const ECHO_SERVER = `
const net = require('net'), dgram = require('dgram');
const ip = process.argv[1];
let bound = 0;
const ready = () => { if (++bound === 2) console.log('listening'); };
net.createServer((c) => { c.on('error', () => {}); c.pipe(c); }).listen(${TCP_PORT}, ip, ready);
const udp = dgram.createSocket('udp4');
udp.on('message', (m, from) => udp.send(m, from.port, from.address));
udp.bind(${UDP_PORT}, ip, ready);
setTimeout(() => process.exit(2), 170000).unref();
`;

/**
 * For every target at once: a TCP echo of `bytes` (bytes echoed back), then `count` UDP
 * datagrams echoed (distinct replies received within 5 s). Prints one JSON line.
 */
const ECHO_CLIENT = `
const net = require('net'), dgram = require('dgram');
const targets = JSON.parse(process.argv[1]), bytes = Number(process.argv[2]), count = Number(process.argv[3]);
const tcp = (ip) => new Promise((done) => {
  let n = 0;
  const c = net.connect(${TCP_PORT}, ip, () => c.end(Buffer.alloc(bytes, 7)));
  c.on('data', (d) => { n += d.length; });
  c.on('end', () => done(n));
  c.on('error', () => done(n));
  setTimeout(() => { c.destroy(); done(n); }, 20000).unref();
});
const udp = (ip) => new Promise((done) => {
  const s = dgram.createSocket('udp4'), sent = new Set(), got = new Set();
  const finish = () => { clearTimeout(timer); s.close(); done(got.size); };
  const timer = setTimeout(finish, 5000);
  s.on('message', (m) => { if (sent.has(m.toString())) got.add(m.toString()); if (got.size === count) finish(); });
  s.bind(0, () => { for (let i = 0; i < count; i++) { const m = 'strata-' + ip + '-' + i; sent.add(m); s.send(m, ${UDP_PORT}, ip); } });
});
Promise.all(targets.map(async (ip) => ({ ip, tcp: await tcp(ip), udp: await udp(ip) })))
  .then((results) => console.log(JSON.stringify(results)));
`;

/** ICMP to each address in turn: `ping -c 3`, summaries only. */
const PING_EACH = 'for ip; do ping -q -c 3 -i 0.2 -W 2 "$ip"; done; true';

interface EchoResult {
  readonly ip: string;
  readonly tcp: number;
  readonly udp: number;
}

/** `ping` summaries: address -> [transmitted, received]. */
function pingSummaries(output: string): Map<string, [number, number]> {
  const found = new Map<string, [number, number]>();
  const block = /--- (\S+) ping statistics ---\n(\d+) packets transmitted, (\d+) received/g;
  for (const match of output.matchAll(block)) {
    found.set(match[1], [Number(match[2]), Number(match[3])]);
  }
  return found;
}

/** A stat of an agent's BPF counters (0 when absent: counters at zero are left out). */
function stat(status: AgentStatus | undefined, name: string): number {
  return status?.counters?.stats[name] ?? 0;
}

function drops(status: AgentStatus | undefined): Record<string, number> {
  return { ...(status?.counters?.drops ?? {}) };
}

/** Starts an echo server in each pod and waits until every one listens. */
async function startEchoServers(lab: Lab, pods: readonly Pod[]): Promise<LabProcess[]> {
  const servers = pods.map((pod) =>
    lab.spawn(pod.name, [process.execPath, '-e', ECHO_SERVER, pod.ip]),
  );
  try {
    await Promise.all(servers.map((server) => server.waitFor(/^listening$/m, 60_000)));
  } catch (error) {
    await Promise.all(servers.map((server) => server.stop()));
    throw error;
  }
  return servers;
}

/** The 16-bit one's-complement sum of the TCP pseudo-header: what a partial checksum holds. */
function pseudoHeaderSum(src: string, dst: string, tcpLength: number): number {
  const words = [...Buffer.from([...src.split('.'), ...dst.split('.')].map(Number))];
  let sum = 6 + tcpLength;
  for (let i = 0; i < words.length; i += 2) sum += (words[i] << 8) | words[i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Whether `ip` is inside route destination `dst` (`default`, `10.0.0.0/8`, `10.0.0.1`). */
function routeCovers(dst: string, ip: string): boolean {
  if (dst === 'default') return true;
  const [network, prefix = '32'] = dst.split('/');
  const value = (address: string) =>
    address.split('.').reduce((sum, octet) => sum * 256 + Number(octet), 0);
  const size = 2 ** (32 - Number(prefix));
  return Math.floor(value(network) / size) === Math.floor(value(ip) / size);
}

describe('strata lab traffic, TC mode: 3 nodes x 2 pods on the BPF dataplane', () => {
  const lab = useLab({
    name: `tr${process.pid}`,
    dataDir,
    upFlags: ['--nodes', '3', '--pods', '2', '--mode', 'tc'],
  });

  const node = (status: LabStatus, name: string): Node => {
    const found = status.nodes.find((candidate) => candidate.name === name);
    if (found === undefined) throw new Error(`no node ${name}`);
    return found;
  };
  const pod = (status: LabStatus, name: string): Pod => {
    const found = status.pods.find((candidate) => candidate.name === name);
    if (found === undefined) throw new Error(`no pod ${name} in ${JSON.stringify(status.pods)}`);
    return found;
  };

  it('carries ICMP, TCP and UDP between every pod and every pod on another node, counted by the agents', async () => {
    const status = await lab.status();
    expect(status.pods).toHaveLength(6);
    const remotesOf = (from: Pod) => status.pods.filter((to) => to.node !== from.node);
    const before = await lab.agents();
    expect([...before.keys()].sort()).toEqual(['n1', 'n2', 'n3']);

    const servers = await startEchoServers(lab, status.pods);
    let echoes: EchoResult[][];
    let pings: Map<string, [number, number]>[];
    try {
      [echoes, pings] = await Promise.all([
        Promise.all(
          status.pods.map(async (from) => {
            const targets = JSON.stringify(remotesOf(from).map((to) => to.ip));
            const client = [process.execPath, '-e', ECHO_CLIENT, targets, String(TCP_BYTES)];
            const out = succeeded(
              `echo client in ${from.name}`,
              await lab.exec(from.name, [...client, String(DATAGRAMS)]),
            );
            return JSON.parse(out) as EchoResult[];
          }),
        ),
        Promise.all(
          status.pods.map(async (from) => {
            const ips = remotesOf(from).map((to) => to.ip);
            const out = succeeded(
              `pings from ${from.name}`,
              await lab.exec(from.name, ['sh', '-c', PING_EACH, 'sh', ...ips]),
            );
            return pingSummaries(out);
          }),
        ),
      ]);
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
    }
    const after = await lab.agents();

    // Every ordered cross-node pair, with what it got back.
    const pairs = status.pods.flatMap((from, i) =>
      remotesOf(from).map((to) => {
        const echo = echoes[i].find((result) => result.ip === to.ip);
        const [sent, received] = pings[i].get(to.ip) ?? [0, 0];
        return {
          pair: `${from.name}->${to.name}`,
          nodes: [from.node, to.node] as const,
          ping: `${received}/${sent}`,
          tcp: echo?.tcp ?? 0,
          udp: echo?.udp ?? 0,
        };
      }),
    );
    expect(pairs).toHaveLength(24);
    expect(
      pairs.filter((p) => p.ping !== '3/3' || p.tcp !== TCP_BYTES || p.udp !== DATAGRAMS),
    ).toEqual([]);

    // Each pair's replies crossed the overlay both ways: its two nodes each encapsulated and
    // decapsulated at least the ICMP replies, UDP echoes and the least a TCP echo sends.
    const least = new Map<string, number>(status.nodes.map((n) => [n.name, 0]));
    for (const p of pairs) {
      const packets = 3 + p.udp + TCP_MIN_PACKETS;
      for (const name of p.nodes) least.set(name, (least.get(name) ?? 0) + packets);
    }
    const figures = status.nodes.map((n) => ({
      node: n.name,
      atLeast: least.get(n.name) ?? 0,
      encapsulated:
        stat(after.get(n.name), 'encapsulated') - stat(before.get(n.name), 'encapsulated'),
      decapsulated:
        stat(after.get(n.name), 'decapsulated') - stat(before.get(n.name), 'decapsulated'),
      dropsBefore: drops(before.get(n.name)),
      dropsAfter: drops(after.get(n.name)),
    }));
    console.log(
      `24 cross-node pairs: ping 3/3, TCP ${TCP_BYTES} B echoed, UDP ${DATAGRAMS}/${DATAGRAMS} each\n` +
        figures
          .map(
            (f) =>
              `${f.node}: encapsulated +${f.encapsulated}, decapsulated +${f.decapsulated} ` +
              `(at least ${f.atLeast} each); drops ${JSON.stringify(f.dropsAfter)}`,
          )
          .join('\n'),
    );
    for (const f of figures) {
      expect(f.encapsulated).toBeGreaterThanOrEqual(f.atLeast);
      expect(f.decapsulated).toBeGreaterThanOrEqual(f.atLeast);
      expect(f.dropsAfter).toEqual(f.dropsBefore);
    }
  });

  it('leaves every node namespace without a kernel route to a remote pod', async () => {
    const status = await lab.status();
    for (const n of status.nodes) {
      const routes = JSON.parse(
        succeeded(
          `ip route in ${n.name}`,
          await lab.inNode(n.name, ['ip', '-j', '-4', 'route', 'show', 'table', 'all']),
        ),
      ) as { dst: string }[];
      expect(routes.length).toBeGreaterThan(0);
      for (const remote of status.pods.filter((p) => p.node !== n.name)) {
        const covering = routes.filter((route) => routeCovers(route.dst, remote.ip));
        expect({ node: n.name, pod: remote.name, covering }).toEqual({
          node: n.name,
          pod: remote.name,
          covering: [],
        });
        const lookup = await lab.inNode(n.name, ['ip', 'route', 'get', remote.ip]);
        expect(lookup.code).not.toBe(0);
        expect(lookup.stderr).toContain('unreachable');
      }
    }
  });

  it('puts VXLAN-GBP on the underlay: sender identity, segment VNI, correct checksums', async () => {
    const status = await lab.status();
    const [a1, a2, b1, b2] = ['n1p1', 'n1p2', 'n2p1', 'n2p2'].map((name) => pod(status, name));
    const segment = JSON.parse(
      succeeded('segments show', await lab.client(['segments', 'show', 'lab', '-o', 'json'])),
    ) as { vni: number };
    // Each pod's identity and VNI as its node's agent wrote them (strata_locals).
    const locals = new Map<string, { identity: number; vni: number }>();
    for (const p of [a1, a2, b1, b2]) {
      const value = (await lab.map(p.node, 'strata_locals')).get(ipKey(p.ip));
      if (value === undefined) throw new Error(`${p.name} is not in ${p.node}'s strata_locals`);
      const entry = decodeLocalEndpoint(Buffer.from(value, 'hex'));
      locals.set(p.ip, { identity: entry.identity, vni: entry.vni });
      expect(entry.vni).toBe(segment.vni);
    }

    // The capture: ul0 of n1, where its traffic leaves and arrives.
    const capture = join(dataDir, 'underlay.pcapng');
    const tools = await runFile('sh', ['-c', 'command -v dumpcap && command -v tshark']);
    expect({ tools: tools.code, stderr: tools.stderr }).toEqual({ tools: 0, stderr: '' });
    const capturing = lab.spawnInNode('n1', [
      'dumpcap',
      '-q',
      '-i',
      'ul0',
      '-f',
      'udp port 4789',
      '-a',
      'duration:120',
      '-w',
      capture,
    ]);
    const servers = await startEchoServers(lab, [b1, b2]);
    // a2 and b2 compute TCP checksums in software (tx checksum offload off, so no TSO either):
    // every checksum of their flow is on the wire for tshark to verify. a1 and b1 keep the
    // default offloads: GSO super-packets whose TCP checksums are partial (see below).
    const offload = async (p: Pod, on: 'on' | 'off') =>
      succeeded(
        `ethtool in ${p.name}`,
        await lab.exec(p.name, ['ethtool', '-K', 'eth0', 'tx', on]),
      );
    let transfers: EchoResult[][];
    try {
      await capturing.waitFor(/Capturing on/, 30_000);
      await Promise.all([offload(a2, 'off'), offload(b2, 'off')]);
      const ping = await lab.exec(a1.name, ['ping', '-c', '3', '-i', '0.2', '-W', '2', b1.ip]);
      expect(ping.stdout).toContain('3 received');
      const bytes = String(4 * TCP_BYTES);
      transfers = await Promise.all(
        [
          [a1, b1],
          [a2, b2],
        ].map(async ([from, to]) =>
          JSON.parse(
            succeeded(
              `echo client in ${from.name}`,
              await lab.exec(from.name, [
                process.execPath,
                '-e',
                ECHO_CLIENT,
                JSON.stringify([to.ip]),
                bytes,
                '1',
              ]),
            ),
          ),
        ),
      );
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
      await Promise.all([offload(a2, 'on'), offload(b2, 'on')]).catch(() => undefined);
      await capturing.stop('SIGINT');
    }
    expect(transfers.map((t) => t[0].tcp)).toEqual([4 * TCP_BYTES, 4 * TCP_BYTES]);

    const fields = [
      'frame.len',
      'eth.src',
      'eth.dst',
      'ip.src',
      'ip.dst',
      'ip.len',
      'ip.hdr_len',
      'ip.checksum.status',
      'udp.dstport',
      'vxlan.flag_g',
      'vxlan.gbp',
      'vxlan.vni',
      'tcp.checksum',
      'tcp.checksum.status',
      'icmp.checksum.status',
      '_ws.malformed',
    ];
    const decoded = await runFile('tshark', [
      '-r',
      capture,
      '-o',
      'ip.check_checksum:TRUE',
      '-o',
      'tcp.check_checksum:TRUE',
      '-o',
      'udp.check_checksum:TRUE',
      '-T',
      'json',
      ...fields.flatMap((field) => ['-e', field]),
    ]);
    const frames = (
      JSON.parse(succeeded('tshark', decoded)) as {
        _source: { layers: Record<string, string[] | undefined> };
      }[]
    ).map((frame) => frame._source.layers);
    const all = (frame: Record<string, string[] | undefined>, field: string) => frame[field] ?? [];
    const one = (frame: Record<string, string[] | undefined>, field: string) =>
      all(frame, field)[0] ?? '';

    const vtepOf = (ip: string) => node(status, pod(status, podNameOf(status, ip)).node);
    const problems: unknown[] = [];
    const counts = {
      frames: frames.length,
      icmp: 0,
      tcpVerified: 0,
      tcpPartial: 0,
      superPackets: 0,
    };
    let largestVerified = 0;
    for (const frame of frames) {
      const [outerSrc, innerSrc] = all(frame, 'ip.src');
      const [outerDst, innerDst] = all(frame, 'ip.dst');
      if (innerSrc === undefined || innerDst === undefined) {
        problems.push({ frame, inner: 'no inner IPv4' });
        continue;
      }
      const from = vtepOf(innerSrc);
      const to = vtepOf(innerDst);
      const destination = pod(status, podNameOf(status, innerDst));
      const seen = {
        udpPort: one(frame, 'udp.dstport'),
        gbpFlag: one(frame, 'vxlan.flag_g'),
        groupPolicyId: Number(one(frame, 'vxlan.gbp')),
        vni: Number(one(frame, 'vxlan.vni')),
        outer: [outerSrc, outerDst, all(frame, 'eth.src')[0], all(frame, 'eth.dst')[0]],
        inner: [all(frame, 'eth.src')[1], all(frame, 'eth.dst')[1]],
        ipChecksums: all(frame, 'ip.checksum.status'),
        malformed: frame['_ws.malformed'] !== undefined,
      };
      const want = {
        udpPort: '4789',
        gbpFlag: '1',
        groupPolicyId: locals.get(innerSrc)?.identity,
        vni: segment.vni,
        outer: [from.underlayIp, to.underlayIp, from.vtepMac, to.vtepMac],
        inner: [from.vtepMac, destination.mac],
        ipChecksums: ['1', '1'],
        malformed: false,
      };
      if (JSON.stringify(seen) !== JSON.stringify(want)) problems.push({ frame, seen, want });
      const length = Number(one(frame, 'frame.len'));
      if (length > ETH_FRAME_MAX) counts.superPackets++;
      if (frame['icmp.checksum.status'] !== undefined) {
        counts.icmp++;
        if (one(frame, 'icmp.checksum.status') !== '1') problems.push({ frame, icmp: 'bad' });
      }
      if (frame['tcp.checksum.status'] === undefined) continue;
      const softwareChecksums = innerSrc === a2.ip || innerSrc === b2.ip;
      if (one(frame, 'tcp.checksum.status') === '1') {
        counts.tcpVerified++;
        if (softwareChecksums) largestVerified = Math.max(largestVerified, length);
        continue;
      }
      // Checksum offload: the sender left the pseudo-header sum for the NIC (or GSO) to
      // finish, and no veth finishes it. Correct means exactly that sum, for the packet's length.
      const tcpLength = Number(all(frame, 'ip.len')[1]) - Number(all(frame, 'ip.hdr_len')[1]);
      const partial = pseudoHeaderSum(innerSrc, innerDst, tcpLength);
      if (softwareChecksums || Number(one(frame, 'tcp.checksum')) !== partial) {
        problems.push({ frame, tcpChecksum: one(frame, 'tcp.checksum'), partial });
      } else {
        counts.tcpPartial++;
      }
    }
    console.log(
      `underlay capture on n1/ul0: ${JSON.stringify(counts)}, largest frame of the ` +
        `software-checksum flow ${largestVerified} B; VNI ${segment.vni}, group policy ids ` +
        [a1, a2, b1, b2].map((p) => `${p.name}=${locals.get(p.ip)?.identity}`).join(' '),
    );
    expect(problems.slice(0, 3)).toEqual([]);
    expect(counts.icmp).toBe(6);
    expect(counts.tcpVerified).toBeGreaterThan(0);
    expect(counts.tcpPartial).toBeGreaterThan(0);
    // GSO is kept on the default path; software checksums mean software segmentation.
    expect(counts.superPackets).toBeGreaterThan(0);
    expect(largestVerified).toBeGreaterThan(0);
    expect(largestVerified).toBeLessThanOrEqual(ETH_FRAME_MAX);
  });

  it('keeps forwarding while an agent is killed with -9 and restarted, and resyncs without drift', async () => {
    const status = await lab.status();
    const [from, to] = [pod(status, 'n1p1'), pod(status, 'n2p1')];
    const victim = status.agents.find((agent) => agent.node === to.node);
    if (victim?.pid == null || !victim.alive) throw new Error(`no live agent on ${to.node}`);
    const pid = victim.pid;
    const tables = ['strata_locals', 'strata_remotes', 'strata_vteps'];
    const dump = async () =>
      Object.fromEntries(
        await Promise.all(
          tables.map(async (map) => [map, [...(await lab.map(to.node, map))].sort()] as const),
        ),
      );
    const mapsBefore = await dump();

    // -w bounds it whatever happens to this test.
    const ping = lab.spawn(from.name, ['ping', '-i', '0.01', '-W', '1', '-w', '150', to.ip]);
    const replies = () => [...ping.output().matchAll(/icmp_seq=(\d+) /g)].map((m) => Number(m[1]));
    let phases: { before: number; down: number; restart: number; after: number };
    let restarted: string;
    try {
      await ping.waitForLines(/icmp_seq=/, 50, 30_000);
      const atKill = replies().length;
      process.kill(pid, 'SIGKILL');
      await waitUntil(() => !alive(pid), 10_000, `agent pid ${pid} to die`);
      // Forwarding while no agent runs on n2: 100 more replies (1 s of pings).
      await ping.waitForLines(/icmp_seq=/, atKill + 100, 30_000);
      expect((await lab.status()).agents.find((a) => a.node === to.node)?.alive).toBe(false);
      const atRestart = replies().length;
      restarted = succeeded(
        'lab agent restart',
        await strata(['lab', 'agent', 'restart', ...lab.at, to.node]),
      );
      const atReady = replies().length;
      await ping.waitForLines(/icmp_seq=/, atReady + 100, 30_000);
      phases = {
        before: atKill,
        down: atRestart - atKill,
        restart: atReady - atRestart,
        after: replies().length - atReady,
      };
    } finally {
      await ping.stop('SIGINT');
    }
    const seqs = replies();
    const [transmitted, received] = (
      ping.output().match(/(\d+) packets transmitted, (\d+) received/) ?? []
    )
      .slice(1)
      .map(Number);
    // Lost: sequence numbers missing between the first reply and the last (the one in flight
    // when ping was stopped is not loss).
    const lost = Math.max(...seqs) - Math.min(...seqs) + 1 - new Set(seqs).size;
    console.log(
      `ping ${from.name}->${to.name} every 10 ms across kill -9 and restart of agent ${to.node}: ` +
        `${transmitted} sent, ${received} received, ${lost} lost between first and last reply; ` +
        `replies ${JSON.stringify(phases)}; ${restarted.trim().split('\n').pop()}`,
    );
    expect(lost).toBeLessThanOrEqual(2);
    expect(phases.down).toBeGreaterThanOrEqual(100);

    const agent = (await lab.agents()).get(to.node);
    if (agent === undefined) throw new Error(`the restarted agent of ${to.node} does not answer`);
    const mapsAfter = await dump();
    const { local, remote, vteps } = agent.tables;
    const reconcile = agent.reconcile;
    console.log(
      `agent ${to.node} after restart: resumed from ${agent.resumedFrom}, applied ` +
        `${agent.appliedPosition}, tables ${JSON.stringify(agent.tables)}, reconcile ${JSON.stringify(reconcile)}`,
    );
    expect(agent.resumedFrom).toBeGreaterThan(0);
    expect(agent.appliedDigest).toBe(agent.desiredDigest);
    // Its first resync found every entry stale (written by the previous run) and rewrote each
    // once, plus deleted the placeholder keys of unclaimed VTEP addresses it then claimed
    // (bpf-dataplane.ts): no write came from anything else, none failed, and the maps hold
    // byte for byte what they held before the kill.
    expect(reconcile.failures).toBe(0);
    expect(reconcile.updates).toBe(local + remote + vteps);
    expect(reconcile.deletes).toBeLessThanOrEqual(vteps);
    expect(reconcile.drift).toBe(reconcile.updates + reconcile.deletes);
    expect(mapsAfter).toEqual(mapsBefore);
  });

  it('makes a deleted pod unreachable from every node once every agent applied the deletion', async () => {
    const status = await lab.status();
    const gone = pod(status, 'n3p2');
    const uid = `${lab.name}-${gone.name}`;
    const deleted = succeeded(
      'lab pod delete',
      await strata(['lab', 'pod', 'delete', ...lab.at, gone.name]),
    );
    const head = Number(/applied the log up to (?:position )?(\d+)/.exec(deleted)?.[1]);
    expect(head).toBeGreaterThan(0);

    const after = await lab.status();
    expect(after.pods.map((p) => p.name)).not.toContain(gone.name);
    const agents = await lab.agents();
    for (const n of after.nodes) {
      const agent = agents.get(n.name);
      expect(agent?.appliedPosition).toBeGreaterThanOrEqual(head);
      const pods = after.pods.filter((p) => p.node === n.name).length;
      expect(agent?.tables).toMatchObject({ local: pods, remote: after.pods.length - pods });
      for (const map of ['strata_locals', 'strata_remotes']) {
        expect({
          node: n.name,
          map,
          has: (await lab.map(n.name, map)).has(ipKey(gone.ip)),
        }).toEqual({
          node: n.name,
          map,
          has: false,
        });
      }
    }
    const pings = await Promise.all(
      after.pods.map(async (p) => {
        const result = await lab.exec(p.name, ['ping', '-c', '2', '-i', '0.2', '-W', '1', gone.ip]);
        return {
          from: p.name,
          code: result.code,
          received: /(\d+) received/.exec(result.stdout)?.[1],
        };
      }),
    );
    console.log(
      `pod ${gone.name} (${gone.ip}) deleted, applied everywhere by position ${head}; pings to it: ` +
        pings.map((p) => `${p.from} ${p.received ?? '?'}/2`).join(', '),
    );
    expect(pings.filter((p) => p.code === 0 || p.received !== '0')).toEqual([]);
    // The rest still reach each other across nodes.
    const survivor = pod(after, 'n3p1');
    const alivePing = await lab.exec('n1p1', [
      'ping',
      '-c',
      '2',
      '-i',
      '0.2',
      '-W',
      '2',
      survivor.ip,
    ]);
    expect(alivePing.stdout).toContain('2 received');

    const endpoint = await lab.client(['endpoints', 'show', uid]);
    expect(endpoint.code).not.toBe(0);
    expect(endpoint.stderr).toContain('NotFound');
    const history = JSON.parse(
      succeeded('ipam history', await lab.client(['ipam', 'history', gone.ip, '-o', 'json'])),
    ) as { holders: { owner: string; to: string | null }[] };
    expect(history.holders.find((holder) => holder.owner === uid)?.to).not.toBeNull();
    const namespaces = await runFile('ip', ['netns', 'list']);
    expect(namespaces.stdout).not.toContain(`${lab.prefix}${gone.name}`);
  });
});

function podNameOf(status: LabStatus, ip: string): string {
  const found = status.pods.find((p) => p.ip === ip);
  if (found === undefined) throw new Error(`no pod has ${ip}`);
  return found.name;
}

/** Polls `test` (a cheap /proc read) until it holds; fails after `ms`. */
async function waitUntil(test: () => boolean, ms: number, what: string): Promise<void> {
  for (const deadline = Date.now() + ms; !test();) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});
