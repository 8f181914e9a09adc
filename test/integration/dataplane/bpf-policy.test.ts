/**
 * Packet tables for policy enforcement (docs/policy.md "BPF"; lib/policy.h, lib/conntrack.h):
 * the pod side (tc_pod_egress, xdp_pod_egress) and the underlay side (tc_ul_ingress,
 * xdp_ul_ingress), each row run in TC and XDP mode through BPF_PROG_RUN. Policy rows are written
 * by hand in the `policy` table's key format and parsed as the agent parses them. Each row: the
 * frame, the maps, the verdict, the output where it is forwarded, every counter that moves
 * (drops, stats, traffic, verdicts per rule) and the connections conntrack opened.
 */
import {
  DataplaneFixture,
  TC_ACT_OK,
  TC_ACT_REDIRECT,
  TC_ACT_SHOT,
  XDP_DROP,
  XDP_PASS,
  XDP_REDIRECT,
  bpfSkipReason,
  buildObjects,
  expectedSourcePort,
  privatePinRoot,
  type RunOptions,
  type VerdictDelta,
  type World,
} from '../../../dataplane/bpf/testing/harness';
import {
  GATEWAY_MAC,
  NODE_CONFIG,
  NODE_VTEP,
  NODE_VTEP_MAC,
  OUTSIDE_IP,
  REMOTE_PODS,
  VTEP2,
  VTEP3,
  localPods,
  world,
  type Pod,
  type RemotePod,
} from '../../../dataplane/bpf/testing/topology';
import {
  MAP_NAMES,
  decodeConnection,
  encodeConnection,
  encodeConnectionKey,
  type ConnectionKey,
} from '../../../dataplane/bpf/maps';
import { parsePolicyKey, type PolicyTableEntry } from '../../../services/agent/src/bpf/policy-view';
import { expectRow, rowsFor, type PacketRow } from '../../support/packet-table';
import {
  ETH_P_IPV4,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  TCP_ACK,
  TCP_SYN,
  ethernet,
  fragmentIpv4,
  icmp,
  icmpEcho,
  ipv4,
  parseEthernet,
  parseIpv4,
  parseUdp,
  parseVxlan,
  tcp,
  udp,
  vxlan,
  vxlanFrame,
  withTtl,
} from '../../support/packets';

type Verdict = 'redirect' | 'pass' | 'drop';

// Identities (topology.ts): pod1 1000, pod2 1001, remote1 2000, behind the gateway 3000.
/** CIDR identities are node-local, above the wire's 16 bits. */
const CIDR_HOST = 0x10001;
const CIDR_BLOCK = 0x10002;
const WORLD = 2;

// --- policy rows, by hand --------------------------------------------------------------------

const allow = (rule: number): PolicyTableEntry => ({
  verdict: 'allow',
  rule,
  stagedVerdict: 'allow',
  stagedRule: rule,
});
const deny = (rule: number): PolicyTableEntry => ({
  verdict: 'deny',
  rule,
  stagedVerdict: 'deny',
  stagedRule: rule,
});
const staged = (enforced: PolicyTableEntry, verdict: 'allow' | 'deny', rule: number) => ({
  ...enforced,
  stagedVerdict: verdict,
  stagedRule: rule,
});

interface PolicyWorld {
  readonly policy?: Readonly<Record<string, PolicyTableEntry>>;
  readonly prefixes?: Readonly<Record<string, number>>;
  readonly connections?: readonly ConnectionKey[];
  /** Changes to the endpoint maps. */
  readonly endpoints?: (standard: World) => World;
}

function policyWorld(spec: PolicyWorld): (standard: World) => World {
  return (standard) => ({
    ...(spec.endpoints ? spec.endpoints(standard) : standard),
    policy: Object.entries(spec.policy ?? {}).map(([key, value]) => ({
      key: parsePolicyKey(key),
      value,
    })),
    prefixes: Object.entries(spec.prefixes ?? {}).map(([prefix, identity]) => {
      const [address, length] = prefix.split('/');
      return { key: { address, length: Number(length) }, identity };
    }),
    connections: spec.connections ?? [],
  });
}

/** pod1's egress toward remote1: TCP 443 and 8080-8087 only; any other peer: UDP only. */
const POD1_EGRESS = {
  'e:1000:2000:*': deny(1),
  'e:1000:2000:6': deny(1),
  'e:1000:2000:17': deny(1),
  'e:1000:2000:6:443/16': allow(101),
  'e:1000:2000:6:8080/13': allow(102),
  'e:1000:*:*': deny(103),
  'e:1000:*:17': allow(104),
};

const counted = (
  rule: number,
  kind: VerdictDelta['kind'],
  bytes: number,
  packets = 1,
): VerdictDelta => ({ rule, kind, packets, bytes });

// --- frames ----------------------------------------------------------------------------------

const PAYLOAD = Buffer.from('strata policy table');

function udpPacket(src: string, dst: string, sport = 40000, dport = 5353, ttl = 64): Buffer {
  return ipv4(
    { src, dst, protocol: IPPROTO_UDP, ttl, id: 0x1234 },
    udp({ src, dst, sport, dport }, PAYLOAD),
  );
}

function tcpPacket(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  flags = TCP_SYN,
  ttl = 64,
): Buffer {
  return ipv4(
    { src, dst, protocol: IPPROTO_TCP, ttl, id: 0x1234 },
    tcp({ src, dst, sport, dport, flags, seq: 7 }, PAYLOAD),
  );
}

function echo(src: string, dst: string, id = 7): Buffer {
  return ipv4({ src, dst, protocol: IPPROTO_ICMP, ttl: 64 }, icmpEcho(id, 1, PAYLOAD));
}

function echoReply(src: string, dst: string, id: number): Buffer {
  const rest = Buffer.alloc(4);
  rest.writeUInt16BE(id, 0);
  rest.writeUInt16BE(1, 2);
  return ipv4({ src, dst, protocol: IPPROTO_ICMP, ttl: 64 }, icmp({ type: 0, rest }, PAYLOAD));
}

/** An ICMP message that is no echo (destination unreachable, port unreachable). */
function unreachable(src: string, dst: string): Buffer {
  return ipv4({ src, dst, protocol: IPPROTO_ICMP, ttl: 64 }, icmp({ type: 3, code: 3 }, PAYLOAD));
}

const fromPod = (pod: Pod, ip: Buffer) =>
  ethernet({ dst: GATEWAY_MAC, src: pod.mac, type: ETH_P_IPV4 }, ip);

function encapsulated(
  ip: Buffer,
  src: Pod,
  dst: RemotePod,
  ports: { sport?: number; dport?: number },
): Buffer {
  const parsed = parseIpv4(ip);
  return vxlanFrame(
    {
      outerDstMac: dst.vtep.mac,
      outerSrcMac: NODE_VTEP_MAC,
      outerSrc: NODE_VTEP,
      outerDst: dst.vtep.ip,
      sport: expectedSourcePort({
        src: parsed.src,
        dst: parsed.dst,
        protocol: parsed.protocol,
        ...ports,
      }),
      vxlan: { vni: dst.vni, groupPolicyId: src.identity },
    },
    ethernet({ dst: dst.mac, src: NODE_VTEP_MAC, type: ETH_P_IPV4 }, withTtl(ip, parsed.ttl - 1)),
  );
}

const deliveredLocally = (ip: Buffer, to: Pod) =>
  ethernet({ dst: to.mac, src: GATEWAY_MAC, type: ETH_P_IPV4 }, withTtl(ip, parseIpv4(ip).ttl - 1));

/** A VXLAN frame from `vtep` carrying `inner` from remote1 to pod1, GBP = `identity`. */
function fromVtep(
  ip: Buffer,
  pod: Pod,
  options: { identity?: number; vtep?: { ip: string; mac: string } } = {},
): Buffer {
  const vtep = options.vtep ?? VTEP2;
  return vxlanFrame(
    {
      outerDstMac: NODE_VTEP_MAC,
      outerSrcMac: vtep.mac,
      outerSrc: vtep.ip,
      outerDst: NODE_VTEP,
      sport: 50123,
      vxlan: {
        vni: pod.vni,
        ...(options.identity === undefined ? {} : { groupPolicyId: options.identity }),
      },
    },
    ethernet({ dst: pod.mac, src: vtep.mac, type: ETH_P_IPV4 }, ip),
  );
}

const deliveredFromOverlay = (ip: Buffer, pod: Pod) =>
  ethernet({ dst: pod.mac, src: GATEWAY_MAC, type: ETH_P_IPV4 }, ip);

const connection = (
  source: string,
  destination: string,
  protocol: number,
  sourcePort = 0,
  destinationPort = 0,
): ConnectionKey => ({ source, destination, sourcePort, destinationPort, protocol });

// --- the pod side ----------------------------------------------------------------------------

interface PodMode {
  readonly program: 'tcPodEgress' | 'xdpPodEgress';
  /** The veth the sender sends from (XDP: must exist, so the loopback). */
  readonly senderIfindex: number;
  readonly actions: Readonly<Record<Verdict | 'reply', number>>;
}

const POD_MODES: Readonly<Record<'tc' | 'xdp', PodMode>> = {
  tc: {
    program: 'tcPodEgress',
    senderIfindex: 101,
    actions: {
      redirect: TC_ACT_REDIRECT,
      reply: TC_ACT_REDIRECT,
      pass: TC_ACT_OK,
      drop: TC_ACT_SHOT,
    },
  },
  xdp: {
    program: 'xdpPodEgress',
    senderIfindex: 1,
    actions: { redirect: XDP_REDIRECT, reply: XDP_REDIRECT, pass: XDP_PASS, drop: XDP_DROP },
  },
};

interface PodRow extends PacketRow<Verdict> {
  /** Who sends (default pod1): its veth is the one the frame comes in on. */
  readonly sender?: 'pod1' | 'pod2';
}

function podRows(pods: ReturnType<typeof localPods>): PodRow[] {
  const { pod1, pod2 } = pods;
  const { remote1, behindGateway } = REMOTE_PODS;
  const to443 = tcpPacket(pod1.ip, remote1.ip, 43210, 443);
  const to22 = tcpPacket(pod1.ip, remote1.ip, 43210, 22);
  const to8087 = tcpPacket(pod1.ip, remote1.ip, 43210, 8087);
  const to8088 = tcpPacket(pod1.ip, remote1.ip, 43210, 8088);
  const udpRemote = udpPacket(pod1.ip, remote1.ip);
  const ping = echo(pod1.ip, remote1.ip);
  const udpGateway = udpPacket(pod1.ip, behindGateway.ip);
  const tcpGateway = tcpPacket(pod1.ip, behindGateway.ip, 43210, 443);
  const toPod2 = tcpPacket(pod1.ip, pod2.ip, 43210, 80);
  const reply = tcpPacket(pod2.ip, pod1.ip, 80, 43210, TCP_ACK);
  const reverse = tcpPacket(pod2.ip, pod1.ip, 43211, 80);
  const pingPod2 = echo(pod1.ip, pod2.ip, 4711);
  const secondPing = echo(pod1.ip, pod2.ip, 4712);
  const pongPod1 = echoReply(pod2.ip, pod1.ip, 4711);
  const otherPong = echoReply(pod2.ip, pod1.ip, 4712);
  const pingBack = echo(pod2.ip, pod1.ip, 4711);
  const unreachablePod2 = unreachable(pod1.ip, pod2.ip);
  const toOutside = udpPacket(pod1.ip, OUTSIDE_IP);
  const toBlock = udpPacket(pod1.ip, '93.184.1.1');
  const toWorld = udpPacket(pod1.ip, '198.51.100.7');
  const bytes = (ip: Buffer) => 14 + ip.length;
  const [firstFragment, lastFragment] = fragmentIpv4(
    ipv4(
      { src: pod1.ip, dst: remote1.ip, protocol: IPPROTO_TCP, df: false, id: 9 },
      tcp({ src: pod1.ip, dst: remote1.ip, sport: 43210, dport: 443 }, Buffer.alloc(2000, 1)),
    ),
    1400,
  );
  // pod2 ingress: TCP 80 from pod1 only; pod2 egress: nothing.
  const localPolicy = {
    'e:1000:*:*': allow(110),
    'i:1001:1000:*': deny(1),
    'i:1001:1000:6': deny(1),
    'i:1001:1000:6:80/16': allow(111),
    'i:1001:*:*': deny(1),
    'e:1001:*:*': deny(112),
  };
  const pod2Sends = (standard: World): World => ({
    ...standard,
    locals: {
      ...standard.locals,
      [pod1.ip]: { ...standard.locals[pod1.ip], ifindex: 102 },
      [pod2.ip]: { ...standard.locals[pod2.ip], ifindex: pod1.ifindex },
    },
  });

  return [
    // --- egress, by rule ---
    {
      name: 'egress allowed by a port rule: encapsulated, counted under it, connection opened',
      frame: fromPod(pod1, to443),
      world: policyWorld({ policy: POD1_EGRESS }),
      verdict: 'redirect',
      output: encapsulated(to443, pod1, remote1, { sport: 43210, dport: 443 }),
      stats: { encapsulated: 1 },
      traffic: [
        {
          srcIdentity: pod1.identity,
          dstIdentity: remote1.identity,
          direction: 'from_pod',
          packets: 1,
          bytes: bytes(to443),
        },
      ],
      verdicts: [counted(101, 'allowed', bytes(to443))],
      opened: [connection(pod1.ip, remote1.ip, IPPROTO_TCP, 43210, 443)],
    },
    {
      name: "egress to a port no rule allows: dropped by the protocol row's rule",
      frame: fromPod(pod1, to22),
      world: policyWorld({ policy: POD1_EGRESS }),
      verdict: 'drop',
      drops: { policy_denied: 1 },
      verdicts: [counted(1, 'denied', bytes(to22))],
      opened: [],
    },
    {
      name: 'a port range as a port block: the last port of 8080-8087 allowed',
      frame: fromPod(pod1, to8087),
      world: policyWorld({ policy: POD1_EGRESS }),
      verdict: 'redirect',
      output: encapsulated(to8087, pod1, remote1, { sport: 43210, dport: 8087 }),
      stats: { encapsulated: 1 },
      traffic: [
        {
          srcIdentity: pod1.identity,
          dstIdentity: remote1.identity,
          direction: 'from_pod',
          packets: 1,
          bytes: bytes(to8087),
        },
      ],
      verdicts: [counted(102, 'allowed', bytes(to8087))],
    },
    {
      name: 'a port range as a port block: the port after it denied',
      frame: fromPod(pod1, to8088),
      world: policyWorld({ policy: POD1_EGRESS }),
      verdict: 'drop',
      drops: { policy_denied: 1 },
      verdicts: [counted(1, 'denied', bytes(to8088))],
    },
    {
      name: 'another protocol of a peer with rows: UDP row denies',
      frame: fromPod(pod1, udpRemote),
      world: policyWorld({ policy: POD1_EGRESS }),
      verdict: 'drop',
      drops: { policy_denied: 1 },
      verdicts: [counted(1, 'denied', bytes(udpRemote))],
    },
    {
      name: 'ICMP: the `*` protocol row decides (port 0)',
      frame: fromPod(pod1, ping),
      world: policyWorld({ policy: POD1_EGRESS }),
      verdict: 'drop',
      drops: { policy_denied: 1 },
      verdicts: [counted(1, 'denied', bytes(ping))],
    },
    {
      name: 'first fragment: its own ports (443) decide',
      frame: fromPod(pod1, firstFragment),
      world: policyWorld({ policy: POD1_EGRESS }),
      verdict: 'redirect',
      output: encapsulated(firstFragment, pod1, remote1, {}),
      stats: { encapsulated: 1 },
      traffic: [
        {
          srcIdentity: pod1.identity,
          dstIdentity: remote1.identity,
          direction: 'from_pod',
          packets: 1,
          bytes: bytes(firstFragment),
        },
      ],
      verdicts: [counted(101, 'allowed', bytes(firstFragment))],
      opened: [connection(pod1.ip, remote1.ip, IPPROTO_TCP, 43210, 443)],
    },
    {
      name: 'non-first fragment: no L4 header, checked as port 0 (denied here)',
      frame: fromPod(pod1, lastFragment),
      world: policyWorld({ policy: POD1_EGRESS }),
      verdict: 'drop',
      drops: { policy_denied: 1 },
      verdicts: [counted(1, 'denied', bytes(lastFragment))],
    },

    // --- the `*` peer, and no entry ---
    {
      name: '`*` peer: a peer without rows of its own falls back to it (UDP allowed)',
      frame: fromPod(pod1, udpGateway),
      world: policyWorld({ policy: POD1_EGRESS }),
      verdict: 'redirect',
      output: encapsulated(udpGateway, pod1, behindGateway, { sport: 40000, dport: 5353 }),
      stats: { encapsulated: 1 },
      traffic: [
        {
          srcIdentity: pod1.identity,
          dstIdentity: behindGateway.identity,
          direction: 'from_pod',
          packets: 1,
          bytes: bytes(udpGateway),
        },
      ],
      verdicts: [counted(104, 'allowed', bytes(udpGateway))],
    },
    {
      name: '`*` peer: its `*` protocol row denies TCP',
      frame: fromPod(pod1, tcpGateway),
      world: policyWorld({ policy: POD1_EGRESS }),
      verdict: 'drop',
      drops: { policy_denied: 1 },
      verdicts: [counted(103, 'denied', bytes(tcpGateway))],
    },
    {
      name: 'no entry for the sender (policy only for others): allowed, nothing counted',
      frame: fromPod(pod1, to22),
      world: policyWorld({ policy: { 'e:1001:*:*': deny(112), 'i:2000:*:*': deny(1) } }),
      verdict: 'redirect',
      output: encapsulated(to22, pod1, remote1, { sport: 43210, dport: 22 }),
      stats: { encapsulated: 1 },
      traffic: [
        {
          srcIdentity: pod1.identity,
          dstIdentity: remote1.identity,
          direction: 'from_pod',
          packets: 1,
          bytes: bytes(to22),
        },
      ],
      opened: [connection(pod1.ip, remote1.ip, IPPROTO_TCP, 43210, 22)],
    },

    // --- staged ---
    {
      name: 'staged deny: counted as "would deny", the packet passes',
      frame: fromPod(pod1, to443),
      world: policyWorld({
        policy: { ...POD1_EGRESS, 'e:1000:2000:6:443/16': staged(allow(101), 'deny', 120) },
      }),
      verdict: 'redirect',
      output: encapsulated(to443, pod1, remote1, { sport: 43210, dport: 443 }),
      stats: { encapsulated: 1 },
      traffic: [
        {
          srcIdentity: pod1.identity,
          dstIdentity: remote1.identity,
          direction: 'from_pod',
          packets: 1,
          bytes: bytes(to443),
        },
      ],
      verdicts: [
        counted(101, 'allowed', bytes(to443)),
        counted(120, 'staged_would_deny', bytes(to443)),
      ],
    },
    {
      name: 'staged allow: counted as "would allow", the packet is still dropped',
      frame: fromPod(pod1, to22),
      world: policyWorld({
        policy: { ...POD1_EGRESS, 'e:1000:2000:6': staged(deny(1), 'allow', 121) },
      }),
      verdict: 'drop',
      drops: { policy_denied: 1 },
      verdicts: [
        counted(1, 'denied', bytes(to22)),
        counted(121, 'staged_would_allow', bytes(to22)),
      ],
    },

    // --- peers by prefix ---
    {
      name: 'external address by /32 prefix identity: denied by its rows',
      frame: fromPod(pod1, toOutside),
      world: policyWorld({
        policy: {
          [`e:1000:${CIDR_HOST}:*`]: deny(130),
          [`e:1000:${CIDR_BLOCK}:*`]: deny(131),
          [`e:1000:${WORLD}:*`]: allow(132),
        },
        prefixes: { [`${OUTSIDE_IP}/32`]: CIDR_HOST, '93.184.0.0/16': CIDR_BLOCK },
      }),
      verdict: 'drop',
      drops: { policy_denied: 1 },
      verdicts: [counted(130, 'denied', bytes(toOutside))],
    },
    {
      name: 'address inside a CIDR atom: its identity decides',
      frame: fromPod(pod1, toBlock),
      world: policyWorld({
        policy: {
          [`e:1000:${CIDR_HOST}:*`]: allow(130),
          [`e:1000:${CIDR_BLOCK}:*`]: deny(131),
          [`e:1000:${WORLD}:*`]: allow(132),
        },
        prefixes: { [`${OUTSIDE_IP}/32`]: CIDR_HOST, '93.184.0.0/16': CIDR_BLOCK },
      }),
      verdict: 'drop',
      drops: { policy_denied: 1 },
      verdicts: [counted(131, 'denied', bytes(toBlock))],
    },
    {
      name: 'address in no prefix: world (2), allowed to the kernel stack',
      frame: fromPod(pod1, toWorld),
      world: policyWorld({
        policy: {
          [`e:1000:${CIDR_BLOCK}:*`]: deny(131),
          [`e:1000:${WORLD}:*`]: allow(132),
          'e:1000:*:*': deny(103),
        },
        prefixes: { '93.184.0.0/16': CIDR_BLOCK },
      }),
      verdict: 'pass',
      stats: { pass_unknown_dst: 1 },
      verdicts: [counted(132, 'allowed', bytes(toWorld))],
    },

    // --- local delivery: both ends' policies ---
    {
      name: "local delivery: the sender's egress and the receiver's ingress both allow",
      frame: fromPod(pod1, toPod2),
      world: policyWorld({ policy: localPolicy }),
      verdict: 'redirect',
      output: deliveredLocally(toPod2, pod2),
      stats: { forwarded_local: 1 },
      traffic: [
        {
          srcIdentity: pod1.identity,
          dstIdentity: pod2.identity,
          direction: 'from_pod',
          packets: 1,
          bytes: bytes(toPod2),
        },
      ],
      verdicts: [counted(110, 'allowed', bytes(toPod2)), counted(111, 'allowed', bytes(toPod2))],
      opened: [connection(pod1.ip, pod2.ip, IPPROTO_TCP, 43210, 80)],
    },
    {
      name: "local delivery: egress allows, the receiver's ingress denies",
      frame: fromPod(pod1, tcpPacket(pod1.ip, pod2.ip, 43210, 81)),
      world: policyWorld({ policy: localPolicy }),
      verdict: 'drop',
      drops: { policy_denied: 1 },
      verdicts: [
        counted(1, 'denied', bytes(tcpPacket(pod1.ip, pod2.ip, 43210, 81))),
        counted(110, 'allowed', bytes(tcpPacket(pod1.ip, pod2.ip, 43210, 81))),
      ],
    },
    {
      name: "local delivery: the sender's egress denies, the ingress is not consulted",
      sender: 'pod2',
      frame: fromPod(pod2, reverse),
      world: policyWorld({ policy: localPolicy, endpoints: pod2Sends }),
      verdict: 'drop',
      drops: { policy_denied: 1 },
      verdicts: [counted(112, 'denied', bytes(reverse))],
    },

    // --- conntrack ---
    {
      name: 'the reply of a tracked connection passes both policies unchecked',
      sender: 'pod2',
      frame: fromPod(pod2, reply),
      world: policyWorld({
        policy: localPolicy,
        endpoints: pod2Sends,
        connections: [connection(pod1.ip, pod2.ip, IPPROTO_TCP, 43210, 80)],
      }),
      verdict: 'redirect',
      output: deliveredLocally(reply, pod1),
      stats: { forwarded_local: 1 },
      traffic: [
        {
          srcIdentity: pod2.identity,
          dstIdentity: pod1.identity,
          direction: 'from_pod',
          packets: 1,
          bytes: bytes(reply),
        },
      ],
      opened: [],
    },
    {
      name: 'more of a tracked connection (its own key) passes unchecked',
      frame: fromPod(pod1, to22),
      world: policyWorld({
        policy: POD1_EGRESS,
        connections: [connection(pod1.ip, remote1.ip, IPPROTO_TCP, 43210, 22)],
      }),
      verdict: 'redirect',
      output: encapsulated(to22, pod1, remote1, { sport: 43210, dport: 22 }),
      stats: { encapsulated: 1 },
      traffic: [
        {
          srcIdentity: pod1.identity,
          dstIdentity: remote1.identity,
          direction: 'from_pod',
          packets: 1,
          bytes: bytes(to22),
        },
      ],
    },
    {
      name: 'a new flow in the reverse direction of a tracked one is checked (and denied)',
      sender: 'pod2',
      frame: fromPod(pod2, reverse),
      world: policyWorld({
        policy: localPolicy,
        endpoints: pod2Sends,
        connections: [connection(pod1.ip, pod2.ip, IPPROTO_TCP, 43210, 80)],
      }),
      verdict: 'drop',
      drops: { policy_denied: 1 },
      verdicts: [counted(112, 'denied', bytes(reverse))],
    },

    // --- conntrack keys of ICMP ---
    {
      name: 'ICMP echo request: opens a connection keyed by its identifier (sport), policy on port 0',
      frame: fromPod(pod1, pingPod2),
      world: policyWorld({
        policy: { ...localPolicy, 'i:1001:1000:1': deny(1), 'i:1001:1000:1:0/16': allow(113) },
      }),
      verdict: 'redirect',
      output: deliveredLocally(pingPod2, pod2),
      stats: { forwarded_local: 1 },
      traffic: [
        {
          srcIdentity: pod1.identity,
          dstIdentity: pod2.identity,
          direction: 'from_pod',
          packets: 1,
          bytes: bytes(pingPod2),
        },
      ],
      verdicts: [
        counted(110, 'allowed', bytes(pingPod2)),
        counted(113, 'allowed', bytes(pingPod2)),
      ],
      opened: [connection(pod1.ip, pod2.ip, IPPROTO_ICMP, 4711, 0)],
    },
    {
      name: 'ICMP echo reply with the identifier of a tracked request: its reply, unchecked',
      sender: 'pod2',
      frame: fromPod(pod2, pongPod1),
      world: policyWorld({
        policy: localPolicy,
        endpoints: pod2Sends,
        connections: [connection(pod1.ip, pod2.ip, IPPROTO_ICMP, 4711, 0)],
      }),
      verdict: 'redirect',
      output: deliveredLocally(pongPod1, pod1),
      stats: { forwarded_local: 1 },
      traffic: [
        {
          srcIdentity: pod2.identity,
          dstIdentity: pod1.identity,
          direction: 'from_pod',
          packets: 1,
          bytes: bytes(pongPod1),
        },
      ],
      opened: [],
    },
    {
      name: 'ICMP echo reply with another identifier: no reply of the tracked ping (denied)',
      sender: 'pod2',
      frame: fromPod(pod2, otherPong),
      world: policyWorld({
        policy: localPolicy,
        endpoints: pod2Sends,
        connections: [connection(pod1.ip, pod2.ip, IPPROTO_ICMP, 4711, 0)],
      }),
      verdict: 'drop',
      drops: { policy_denied: 1 },
      verdicts: [counted(112, 'denied', bytes(otherPong))],
    },
    {
      name: "the peer's own echo request with our identifier is no reply of ours (denied)",
      sender: 'pod2',
      frame: fromPod(pod2, pingBack),
      world: policyWorld({
        policy: localPolicy,
        endpoints: pod2Sends,
        connections: [connection(pod1.ip, pod2.ip, IPPROTO_ICMP, 4711, 0)],
      }),
      verdict: 'drop',
      drops: { policy_denied: 1 },
      verdicts: [counted(112, 'denied', bytes(pingBack))],
    },
    {
      name: 'a second ping (another identifier) is a connection of its own',
      frame: fromPod(pod1, secondPing),
      world: policyWorld({
        policy: { 'e:1000:*:*': allow(110) },
        connections: [connection(pod1.ip, pod2.ip, IPPROTO_ICMP, 4711, 0)],
      }),
      verdict: 'redirect',
      output: deliveredLocally(secondPing, pod2),
      stats: { forwarded_local: 1 },
      traffic: [
        {
          srcIdentity: pod1.identity,
          dstIdentity: pod2.identity,
          direction: 'from_pod',
          packets: 1,
          bytes: bytes(secondPing),
        },
      ],
      verdicts: [counted(110, 'allowed', bytes(secondPing))],
      opened: [connection(pod1.ip, pod2.ip, IPPROTO_ICMP, 4712, 0)],
    },
    {
      name: 'other ICMP (destination unreachable): ports 0',
      frame: fromPod(pod1, unreachablePod2),
      world: policyWorld({ policy: { 'e:1000:*:*': allow(110) } }),
      verdict: 'redirect',
      output: deliveredLocally(unreachablePod2, pod2),
      stats: { forwarded_local: 1 },
      traffic: [
        {
          srcIdentity: pod1.identity,
          dstIdentity: pod2.identity,
          direction: 'from_pod',
          packets: 1,
          bytes: bytes(unreachablePod2),
        },
      ],
      verdicts: [counted(110, 'allowed', bytes(unreachablePod2))],
      opened: [connection(pod1.ip, pod2.ip, IPPROTO_ICMP, 0, 0)],
    },

    // --- identity cannot be chosen by the pod ---
    {
      name: "a pod's VXLAN-GBP claiming the host identity travels as payload, stamped with its own",
      frame: fromPod(
        pod1,
        ipv4(
          { src: pod1.ip, dst: remote1.ip, protocol: IPPROTO_UDP, id: 0x1234 },
          udp(
            { src: pod1.ip, dst: remote1.ip, sport: 40000, dport: 4789 },
            vxlan({ vni: 42, groupPolicyId: 1 }, Buffer.alloc(14)),
          ),
        ),
      ),
      world: policyWorld({ policy: { 'e:1000:*:*': allow(104) } }),
      verdict: 'redirect',
      check: (output) => {
        const outer = parseUdp(parseIpv4(parseEthernet(output).payload).payload);
        expect(parseVxlan(outer.payload).groupPolicyId).toBe(pod1.identity);
      },
      stats: { encapsulated: 1 },
      traffic: [
        {
          srcIdentity: pod1.identity,
          dstIdentity: remote1.identity,
          direction: 'from_pod',
          packets: 1,
          bytes: 14 + 20 + 8 + 8 + 14,
        },
      ],
      verdicts: [counted(104, 'allowed', 14 + 20 + 8 + 8 + 14)],
    },
    {
      name: 'VXLAN from a pod to a VTEP address: dropped before policy, even if policy allows',
      frame: fromPod(
        pod1,
        ipv4(
          { src: pod1.ip, dst: VTEP2.ip, protocol: IPPROTO_UDP },
          udp(
            { src: pod1.ip, dst: VTEP2.ip, sport: 40000, dport: 4789 },
            vxlan({ vni: 42, groupPolicyId: 1 }),
          ),
        ),
      ),
      world: policyWorld({ policy: { 'e:1000:*:*': allow(104) } }),
      verdict: 'drop',
      drops: { vxlan_from_pod: 1 },
    },
  ];
}

// --- the underlay side -----------------------------------------------------------------------

interface UnderlayMode {
  readonly program: 'tcUnderlayIngress' | 'xdpUnderlayIngress';
  readonly actions: Readonly<Record<Verdict, number>>;
}

const UNDERLAY_MODES: Readonly<Record<'tc' | 'xdp', UnderlayMode>> = {
  tc: {
    program: 'tcUnderlayIngress',
    actions: { redirect: TC_ACT_REDIRECT, pass: TC_ACT_OK, drop: TC_ACT_SHOT },
  },
  xdp: {
    program: 'xdpUnderlayIngress',
    actions: { redirect: XDP_REDIRECT, pass: XDP_PASS, drop: XDP_DROP },
  },
};

function underlayRows(pods: ReturnType<typeof localPods>): PacketRow<Verdict>[] {
  const { pod1 } = pods;
  const { remote1 } = REMOTE_PODS;
  const dns = udpPacket(remote1.ip, pod1.ip, 5353, 40000, 63);
  const web = tcpPacket(remote1.ip, pod1.ip, 50000, 80, TCP_SYN, 63);
  const inner = (ip: Buffer) => 14 + ip.length;
  // pod1 ingress: TCP 80 from remote1's identity only.
  const ingress = {
    'i:1000:2000:*': deny(1),
    'i:1000:2000:6': deny(1),
    'i:1000:2000:6:80/16': allow(201),
    'i:1000:2001:*': allow(202),
    'i:1000:*:*': deny(203),
  };
  const fromOverlay = (identity: number, ip: Buffer) => [
    {
      srcIdentity: identity,
      dstIdentity: pod1.identity,
      direction: 'from_overlay' as const,
      packets: 1,
      bytes: inner(ip),
    },
  ];

  return [
    {
      name: "ingress allowed by the GBP identity's port rule: delivered, connection opened",
      frame: fromVtep(web, pod1, { identity: remote1.identity }),
      world: policyWorld({ policy: ingress }),
      verdict: 'redirect',
      output: deliveredFromOverlay(web, pod1),
      stats: { decapsulated: 1 },
      traffic: fromOverlay(remote1.identity, web),
      verdicts: [counted(201, 'allowed', inner(web))],
      opened: [connection(remote1.ip, pod1.ip, IPPROTO_TCP, 50000, 80)],
    },
    {
      name: 'ingress denied by the GBP identity: dropped as policy_denied',
      frame: fromVtep(dns, pod1, { identity: remote1.identity }),
      world: policyWorld({ policy: ingress }),
      verdict: 'drop',
      drops: { policy_denied: 1 },
      verdicts: [counted(1, 'denied', inner(dns))],
    },
    {
      name: 'the GBP identity decides, not the inner source address',
      frame: fromVtep(dns, pod1, { identity: 2001 }),
      world: policyWorld({ policy: ingress }),
      verdict: 'redirect',
      output: deliveredFromOverlay(dns, pod1),
      stats: { decapsulated: 1 },
      traffic: fromOverlay(2001, dns),
      verdicts: [counted(202, 'allowed', inner(dns))],
    },
    {
      name: 'an identity without rows: the `*` peer denies',
      frame: fromVtep(web, pod1, { identity: 2002 }),
      world: policyWorld({ policy: ingress }),
      verdict: 'drop',
      drops: { policy_denied: 1 },
      verdicts: [counted(203, 'denied', inner(web))],
    },
    {
      name: 'a gateway VTEP without GBP: identity 0, the `*` peer decides',
      frame: fromVtep(web, pod1, { vtep: VTEP3 }),
      world: policyWorld({ policy: ingress }),
      verdict: 'drop',
      drops: { policy_denied: 1 },
      verdicts: [counted(203, 'denied', inner(web))],
    },
    {
      name: 'no ingress entry for the receiver: delivered, nothing counted',
      frame: fromVtep(dns, pod1, { identity: remote1.identity }),
      world: policyWorld({ policy: { 'i:1001:*:*': deny(1), 'e:1000:*:*': deny(103) } }),
      verdict: 'redirect',
      output: deliveredFromOverlay(dns, pod1),
      stats: { decapsulated: 1 },
      traffic: fromOverlay(remote1.identity, dns),
    },
    {
      name: 'the reply of a connection the local pod opened passes its deny-all ingress',
      frame: fromVtep(dns, pod1, { identity: remote1.identity }),
      world: policyWorld({
        policy: { 'i:1000:*:*': deny(203) },
        connections: [connection(pod1.ip, remote1.ip, IPPROTO_UDP, 40000, 5353)],
      }),
      verdict: 'redirect',
      output: deliveredFromOverlay(dns, pod1),
      stats: { decapsulated: 1 },
      traffic: fromOverlay(remote1.identity, dns),
      opened: [],
    },
    {
      name: 'a new flow from the peer of that connection is denied',
      frame: fromVtep(udpPacket(remote1.ip, pod1.ip, 5353, 40001, 63), pod1, {
        identity: remote1.identity,
      }),
      world: policyWorld({
        policy: { 'i:1000:*:*': deny(203) },
        connections: [connection(pod1.ip, remote1.ip, IPPROTO_UDP, 40000, 5353)],
      }),
      verdict: 'drop',
      drops: { policy_denied: 1 },
      verdicts: [counted(203, 'denied', inner(udpPacket(remote1.ip, pod1.ip, 5353, 40001, 63)))],
    },
    {
      name: 'staged deny on ingress: counted, delivered',
      frame: fromVtep(web, pod1, { identity: remote1.identity }),
      world: policyWorld({
        policy: { ...ingress, 'i:1000:2000:6:80/16': staged(allow(201), 'deny', 220) },
      }),
      verdict: 'redirect',
      output: deliveredFromOverlay(web, pod1),
      stats: { decapsulated: 1 },
      traffic: fromOverlay(remote1.identity, web),
      verdicts: [
        counted(201, 'allowed', inner(web)),
        counted(220, 'staged_would_deny', inner(web)),
      ],
    },
    {
      name: 'VXLAN a pod crafted (outer source: its address, GBP: host): no VTEP, dropped',
      frame: vxlanFrame(
        {
          outerDstMac: NODE_VTEP_MAC,
          outerSrcMac: VTEP2.mac,
          outerSrc: remote1.ip,
          outerDst: NODE_VTEP,
          sport: 40000,
          vxlan: { vni: pod1.vni, groupPolicyId: 1 },
        },
        ethernet({ dst: pod1.mac, src: remote1.mac, type: ETH_P_IPV4 }, web),
      ),
      world: policyWorld({ policy: { 'i:1000:1:*': allow(230), 'i:1000:*:*': deny(203) } }),
      verdict: 'drop',
      drops: { unknown_vtep: 1 },
    },
  ];
}

// --- the suites ------------------------------------------------------------------------------

const skipReason = bpfSkipReason();
if (skipReason) console.warn(`BPF policy tests skipped: ${skipReason}`);
const suite = skipReason ? describe.skip : describe;

suite('policy on the pod side', () => {
  beforeAll(() => buildObjects());

  describe.each(Object.entries(POD_MODES))('%s mode', (modeName, mode) => {
    const pods = localPods(mode.senderIfindex);
    const standard = world(pods);
    let fixture: DataplaneFixture;

    beforeAll(async () => {
      fixture = await DataplaneFixture.load(
        mode.program,
        NODE_CONFIG,
        privatePinRoot(`policy-pod-${modeName}`),
      );
    });
    afterAll(() => fixture?.close());

    test.each(rowsFor(podRows(pods), modeName))('$name', (row) => {
      fixture.setWorld(row.world ? row.world(standard) : standard);
      const options: RunOptions =
        modeName === 'tc'
          ? { skb: { ingressIfindex: mode.senderIfindex } }
          : { ifindex: mode.senderIfindex };
      expectRow(fixture.run(row.frame, options), row, mode.actions[row.verdict]);
    });
  });
});

suite('policy on the underlay side', () => {
  beforeAll(() => buildObjects());

  describe.each(Object.entries(UNDERLAY_MODES))('%s mode', (modeName, mode) => {
    const standard = world(localPods(101));
    let fixture: DataplaneFixture;

    beforeAll(async () => {
      fixture = await DataplaneFixture.load(
        mode.program,
        NODE_CONFIG,
        privatePinRoot(`policy-underlay-${modeName}`),
      );
    });
    afterAll(() => fixture?.close());

    test.each(rowsFor(underlayRows(localPods(101)), modeName))('$name', (row) => {
      fixture.setWorld(row.world ? row.world(standard) : standard);
      expectRow(
        fixture.run(row.frame, modeName === 'tc' ? { skb: {} } : {}),
        row,
        mode.actions[row.verdict],
      );
    });
  });
});

suite('conntrack across the two programs of one node', () => {
  beforeAll(() => buildObjects());

  test.each(['tc', 'xdp'] as const)(
    '%s: a reply comes back through a deny-all ingress; the peer cannot open its own',
    async (modeName) => {
      const pinRoot = privatePinRoot(`policy-ct-${modeName}`);
      const pod = POD_MODES[modeName];
      const underlay = UNDERLAY_MODES[modeName];
      const pods = localPods(pod.senderIfindex);
      const { pod1 } = pods;
      const { remote1 } = REMOTE_PODS;
      const egress = await DataplaneFixture.load(pod.program, NODE_CONFIG, pinRoot);
      const ingress = await DataplaneFixture.load(underlay.program, NODE_CONFIG, pinRoot);
      try {
        egress.setWorld(
          policyWorld({ policy: { 'e:1000:*:*': allow(104), 'i:1000:*:*': deny(203) } })(
            world(pods),
          ),
        );
        const request = udpPacket(pod1.ip, remote1.ip, 40000, 5353);
        const sent = egress.run(
          fromPod(pod1, request),
          modeName === 'tc'
            ? { skb: { ingressIfindex: pod.senderIfindex } }
            : { ifindex: pod.senderIfindex },
        );
        expect(sent.action).toBe(pod.actions.redirect);
        expect(sent.opened).toEqual([connection(pod1.ip, remote1.ip, IPPROTO_UDP, 40000, 5353)]);

        const runUnderlay = (frame: Buffer) =>
          ingress.run(frame, modeName === 'tc' ? { skb: {} } : {});
        const answer = udpPacket(remote1.ip, pod1.ip, 5353, 40000, 63);
        const replied = runUnderlay(fromVtep(answer, pod1, { identity: remote1.identity }));
        expect(replied.action).toBe(underlay.actions.redirect);
        expect(replied.data.toString('hex')).toBe(
          deliveredFromOverlay(answer, pod1).toString('hex'),
        );
        expect(replied.verdicts).toEqual([]);

        const opening = udpPacket(remote1.ip, pod1.ip, 5353, 40001, 63);
        const refused = runUnderlay(fromVtep(opening, pod1, { identity: remote1.identity }));
        expect(refused.action).toBe(underlay.actions.drop);
        expect(refused.drops).toEqual({ policy_denied: 1 });
        expect(refused.verdicts).toEqual([counted(203, 'denied', 14 + opening.length)]);
      } finally {
        egress.close();
        ingress.close();
      }
    },
  );
});

suite('conntrack last-seen (the agent reaps idle entries by it)', () => {
  beforeAll(() => buildObjects());

  test.each(Object.entries(POD_MODES))(
    '%s: an opened entry is stamped now; an old one is refreshed, a fresh one left alone',
    async (modeName, mode) => {
      const fixture = await DataplaneFixture.load(
        mode.program,
        NODE_CONFIG,
        privatePinRoot(`policy-lastseen-${modeName}`),
      );
      try {
        const pods = localPods(mode.senderIfindex);
        const { pod1 } = pods;
        const { remote1 } = REMOTE_PODS;
        fixture.setWorld(policyWorld({ policy: { 'e:1000:*:*': allow(104) } })(world(pods)));
        const ct = fixture.map(MAP_NAMES.conntrack);
        const lastSeen = (key: ConnectionKey) => {
          const value = ct.lookup(encodeConnectionKey(key));
          expect(value).toBeDefined();
          return decodeConnection(value!).lastSeenNs;
        };
        const send = (sport: number) => {
          const result = fixture.run(
            fromPod(pod1, udpPacket(pod1.ip, remote1.ip, sport, 5353)),
            modeName === 'tc'
              ? { skb: { ingressIfindex: mode.senderIfindex } }
              : { ifindex: mode.senderIfindex },
          );
          expect(result.action).toBe(mode.actions.redirect);
          return result;
        };

        const opening = connection(pod1.ip, remote1.ip, IPPROTO_UDP, 40000, 5353);
        const beforeOpen = process.hrtime.bigint();
        expect(send(40000).opened).toEqual([opening]);
        const afterOpen = process.hrtime.bigint();
        expect(lastSeen(opening)).toBeGreaterThanOrEqual(beforeOpen);
        expect(lastSeen(opening)).toBeLessThanOrEqual(afterOpen);

        const old = connection(pod1.ip, remote1.ip, IPPROTO_UDP, 40001, 5353);
        const fresh = connection(pod1.ip, remote1.ip, IPPROTO_UDP, 40002, 5353);
        const seeded = process.hrtime.bigint();
        ct.update(encodeConnectionKey(old), encodeConnection(1n));
        ct.update(encodeConnectionKey(fresh), encodeConnection(seeded));
        expect(send(40001).opened).toEqual([]);
        expect(send(40002).opened).toEqual([]);
        const done = process.hrtime.bigint();
        expect(lastSeen(old)).toBeGreaterThanOrEqual(seeded);
        expect(lastSeen(old)).toBeLessThanOrEqual(done);
        // Refreshed at most once a second: within the second, the stamp stays as it was.
        if (done - seeded < 1_000_000_000n) expect(lastSeen(fresh)).toBe(seeded);
      } finally {
        fixture.close();
      }
    },
  );
});
