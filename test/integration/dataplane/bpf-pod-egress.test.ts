/**
 * Packet table for the pod side of the dataplane: every frame a pod sends, run through
 * BPF_PROG_RUN on tc_pod_egress (TC mode, the default) and xdp_pod_egress (XDP mode). Each row:
 * the frame, the map contents, the verdict, the exact output frame and every counter that moves.
 * Redirect targets are not observable under BPF_PROG_RUN; the output MACs and the identity pair
 * in the traffic counters show which endpoint was chosen.
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
  type SkbContext,
  type TrafficDelta,
} from '../../../dataplane/bpf/testing/harness';
import { expectRow, rowsFor, type PacketRow } from '../../support/packet-table';
import {
  GATEWAY_IP,
  GATEWAY_MAC,
  NODE_CONFIG,
  NODE_VTEP,
  NODE_VTEP_MAC,
  OUTSIDE_IP,
  POD_MTU,
  REMOTE_PODS,
  VTEP2,
  localPods,
  world,
  type Pod,
  type RemotePod,
} from '../../../dataplane/bpf/testing/topology';
import {
  ARP_REPLY,
  ARP_REQUEST,
  ETH_P_ARP,
  ETH_P_IPV4,
  ETH_P_IPV6,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  TCP_SYN,
  arp,
  ethernet,
  fragmentIpv4,
  icmp,
  icmpEcho,
  ipv4,
  parseEthernet,
  parseIcmp,
  parseIpv4,
  parseUdp,
  parseVxlan,
  tcp,
  transportChecksumValid,
  udp,
  vxlan,
  vxlanFrame,
  withTtl,
  type Ipv4Fields,
} from '../../support/packets';

type Verdict = 'redirect' | 'reply' | 'pass' | 'drop';

interface Mode {
  readonly program: 'tcPodEgress' | 'xdpPodEgress';
  /** The veth pod1 sends from (XDP: must exist, so the loopback). */
  readonly pod1Ifindex: number;
  readonly actions: Readonly<Record<Verdict, number>>;
}

const MODES: Readonly<Record<'tc' | 'xdp', Mode>> = {
  tc: {
    program: 'tcPodEgress',
    pod1Ifindex: 101,
    actions: {
      redirect: TC_ACT_REDIRECT,
      reply: TC_ACT_REDIRECT,
      pass: TC_ACT_OK,
      drop: TC_ACT_SHOT,
    },
  },
  xdp: {
    program: 'xdpPodEgress',
    pod1Ifindex: 1,
    actions: { redirect: XDP_REDIRECT, reply: XDP_REDIRECT, pass: XDP_PASS, drop: XDP_DROP },
  },
};

interface Row extends PacketRow<Verdict> {
  /** TC only: GSO fields of the skb. */
  readonly gso?: Pick<SkbContext, 'gsoSegs' | 'gsoSize'>;
}

const PAYLOAD = Buffer.from('strata packet table');

/** An IPv4 packet from `src` (UDP unless told), as the pod's stack sends it. */
function packet(
  src: { readonly ip: string },
  dst: string,
  fields: Partial<Ipv4Fields> = {},
  l4?: Buffer,
): Buffer {
  const ends = { src: fields.src ?? src.ip, dst };
  return ipv4(
    { ...ends, protocol: IPPROTO_UDP, ttl: 64, id: 0x1234, ...fields },
    l4 ?? udp({ ...ends, sport: 40000, dport: 5353 }, PAYLOAD),
  );
}

/** The frame a pod sends: to the gateway MAC, from its own MAC (unless told). */
function fromPod(pod: Pod, ipPacket: Buffer, srcMac = pod.mac, type = ETH_P_IPV4): Buffer {
  return ethernet({ dst: GATEWAY_MAC, src: srcMac, type }, ipPacket);
}

/** What leaves for the underlay: inner frame router -> remote pod, TTL one less. */
function encapsulated(
  ipPacket: Buffer,
  src: Pod,
  dst: RemotePod,
  flow: { sport?: number; dport?: number },
  options: { outerDstMac?: string; tos?: number; padding?: number } = {},
): Buffer {
  const ip = parseIpv4(ipPacket);
  const inner = ethernet(
    { dst: dst.mac, src: NODE_VTEP_MAC, type: ETH_P_IPV4 },
    Buffer.concat([withTtl(ipPacket, ip.ttl - 1), Buffer.alloc(options.padding ?? 0)]),
  );
  return vxlanFrame(
    {
      outerDstMac: options.outerDstMac ?? dst.vtep.mac,
      outerSrcMac: NODE_VTEP_MAC,
      outerSrc: NODE_VTEP,
      outerDst: dst.vtep.ip,
      sport: expectedSourcePort({ src: ip.src, dst: ip.dst, protocol: ip.protocol, ...flow }),
      tos: options.tos ?? 0,
      vxlan: { vni: dst.vni, groupPolicyId: src.identity },
    },
    inner,
  );
}

function fromPodTraffic(src: Pod, dst: { identity: number }, bytes: number): TrafficDelta[] {
  return [
    {
      srcIdentity: src.identity,
      dstIdentity: dst.identity,
      direction: 'from_pod',
      packets: 1,
      bytes,
    },
  ];
}

function rows(pods: ReturnType<typeof localPods>): Row[] {
  const { pod1, pod2, otherSegment, noSegment } = pods;
  const { remote1, behindGateway } = REMOTE_PODS;
  const toRemote = packet(pod1, remote1.ip);
  const tcpSyn = packet(
    pod1,
    remote1.ip,
    { protocol: IPPROTO_TCP, tos: 0xb9 },
    tcp({ src: pod1.ip, dst: remote1.ip, sport: 43210, dport: 443, flags: TCP_SYN, seq: 7 }),
  );
  const echo = packet(pod1, remote1.ip, { protocol: IPPROTO_ICMP }, icmpEcho(7, 1, PAYLOAD));
  const withOptions = packet(pod1, remote1.ip, { options: Buffer.from([1, 1, 1, 0]) });
  const atMtu = packet(
    pod1,
    remote1.ip,
    {},
    udp({ src: pod1.ip, dst: remote1.ip, sport: 40000, dport: 5353 }, Buffer.alloc(POD_MTU - 28)),
  );
  const bigPayload = Buffer.alloc(POD_MTU - 27, 0xab);
  const oversized = packet(
    pod1,
    remote1.ip,
    {},
    udp({ src: pod1.ip, dst: remote1.ip, sport: 40000, dport: 5353 }, bigPayload),
  );
  const [firstFragment, lastFragment] = fragmentIpv4(
    packet(
      pod1,
      remote1.ip,
      { df: false },
      udp({ src: pod1.ip, dst: remote1.ip, sport: 40000, dport: 5353 }, Buffer.alloc(2000, 7)),
    ),
    1400,
  );
  const toLocal = packet(pod1, pod2.ip);
  const vxlanTo = (dst: string) =>
    packet(
      pod1,
      dst,
      {},
      udp({ src: pod1.ip, dst, sport: 40000, dport: 4789 }, vxlan({ vni: 7, groupPolicyId: 1 })),
    );
  const arpRequest = (fields: Partial<Parameters<typeof arp>[0]> = {}, srcMac = pod1.mac) =>
    ethernet(
      { dst: 'ff:ff:ff:ff:ff:ff', src: srcMac, type: ETH_P_ARP },
      arp({
        op: ARP_REQUEST,
        senderMac: pod1.mac,
        senderIp: pod1.ip,
        targetMac: '00:00:00:00:00:00',
        targetIp: GATEWAY_IP,
        ...fields,
      }),
    );
  const arpReply = (target: string) =>
    ethernet(
      { dst: pod1.mac, src: GATEWAY_MAC, type: ETH_P_ARP },
      arp({
        op: ARP_REPLY,
        senderMac: GATEWAY_MAC,
        senderIp: target,
        targetMac: pod1.mac,
        targetIp: pod1.ip,
      }),
    );

  return [
    // --- encapsulation ---
    {
      name: 'UDP to a remote pod: VXLAN-GBP toward its VTEP',
      frame: fromPod(pod1, toRemote),
      verdict: 'redirect',
      output: encapsulated(toRemote, pod1, remote1, { sport: 40000, dport: 5353 }),
      check: (output) => {
        const outer = parseEthernet(output);
        const ip = parseIpv4(outer.payload);
        const outerUdp = parseUdp(ip.payload);
        const vx = parseVxlan(outerUdp.payload);
        expect(outer).toMatchObject({ dst: remote1.vtep.mac, src: NODE_VTEP_MAC });
        expect(ip).toMatchObject({ src: NODE_VTEP, dst: remote1.vtep.ip, ttl: 64, df: true });
        expect(ip.checksumValid).toBe(true);
        expect(outerUdp).toMatchObject({ dport: 4789, checksum: 0, length: ip.totalLength - 20 });
        expect(outerUdp.sport).toBeGreaterThanOrEqual(49152);
        expect(vx).toMatchObject({ gbp: true, vniValid: true, groupPolicyId: 1000, vni: 42 });
        expect(vx.flags >>> 0).toBe(0x880003e8);
        const inner = parseEthernet(vx.payload);
        expect(inner).toMatchObject({ dst: remote1.mac, src: NODE_VTEP_MAC });
        expect(parseIpv4(inner.payload)).toMatchObject({ ttl: 63, checksumValid: true });
        expect(transportChecksumValid(inner.payload)).toBe(true);
      },
      stats: { encapsulated: 1 },
      traffic: fromPodTraffic(pod1, remote1, 14 + toRemote.length),
    },
    {
      name: 'TCP SYN to a remote pod: DSCP copied to the outer header, ECN not',
      frame: fromPod(pod1, tcpSyn),
      verdict: 'redirect',
      output: encapsulated(tcpSyn, pod1, remote1, { sport: 43210, dport: 443 }, { tos: 0xb8 }),
      stats: { encapsulated: 1 },
      traffic: fromPodTraffic(pod1, remote1, 14 + tcpSyn.length),
    },
    {
      name: 'ICMP echo to a remote pod: source port from type and code',
      frame: fromPod(pod1, echo),
      verdict: 'redirect',
      output: encapsulated(echo, pod1, remote1, { dport: 8 << 8 }),
      stats: { encapsulated: 1 },
      traffic: fromPodTraffic(pod1, remote1, 14 + echo.length),
    },
    {
      name: 'IPv4 options: ports read behind them',
      frame: fromPod(pod1, withOptions),
      verdict: 'redirect',
      output: encapsulated(withOptions, pod1, remote1, { sport: 40000, dport: 5353 }),
      stats: { encapsulated: 1 },
      traffic: fromPodTraffic(pod1, remote1, 14 + withOptions.length),
    },
    {
      name: 'exactly the pod MTU: encapsulated',
      frame: fromPod(pod1, atMtu),
      verdict: 'redirect',
      output: encapsulated(atMtu, pod1, remote1, { sport: 40000, dport: 5353 }),
      stats: { encapsulated: 1 },
      traffic: fromPodTraffic(pod1, remote1, 14 + POD_MTU),
    },
    {
      name: 'first fragment: encapsulated, source port without ports',
      frame: fromPod(pod1, firstFragment),
      verdict: 'redirect',
      output: encapsulated(firstFragment, pod1, remote1, {}),
      stats: { encapsulated: 1 },
      traffic: fromPodTraffic(pod1, remote1, 14 + firstFragment.length),
    },
    {
      name: 'non-first fragment: encapsulated, same source port as the first',
      frame: fromPod(pod1, lastFragment),
      verdict: 'redirect',
      output: encapsulated(lastFragment, pod1, remote1, {}),
      stats: { encapsulated: 1 },
      traffic: fromPodTraffic(pod1, remote1, 14 + lastFragment.length),
    },
    {
      name: 'Ethernet padding behind a short packet: carried along',
      frame: Buffer.concat([fromPod(pod1, toRemote), Buffer.alloc(6)]),
      verdict: 'redirect',
      output: encapsulated(toRemote, pod1, remote1, { sport: 40000, dport: 5353 }, { padding: 6 }),
      check: (output) => {
        // The outer lengths cover the padding: the receiver's inner IPv4 length trims it.
        expect(parseIpv4(parseEthernet(output).payload).totalLength).toBe(output.length - 14);
      },
      stats: { encapsulated: 1 },
      traffic: fromPodTraffic(pod1, remote1, 14 + toRemote.length + 6),
    },
    {
      name: 'remote pod behind a kernel VXLAN gateway: still stamped with GBP',
      frame: fromPod(pod1, packet(pod1, behindGateway.ip)),
      verdict: 'redirect',
      output: encapsulated(packet(pod1, behindGateway.ip), pod1, behindGateway, {
        sport: 40000,
        dport: 5353,
      }),
      stats: { encapsulated: 1 },
      traffic: fromPodTraffic(pod1, behindGateway, 14 + packet(pod1, behindGateway.ip).length),
    },

    // --- local delivery ---
    {
      name: 'to a local pod of the same segment: MACs rewritten, TTL decremented',
      frame: fromPod(pod1, toLocal),
      verdict: 'redirect',
      output: ethernet({ dst: pod2.mac, src: GATEWAY_MAC, type: ETH_P_IPV4 }, withTtl(toLocal, 63)),
      stats: { forwarded_local: 1 },
      traffic: fromPodTraffic(pod1, pod2, 14 + toLocal.length),
    },

    // --- segments ---
    {
      name: 'to a local pod of another segment: dropped',
      frame: fromPod(pod1, packet(pod1, otherSegment.ip)),
      verdict: 'drop',
      drops: { segment_mismatch: 1 },
    },
    {
      name: 'to a remote pod of another segment: dropped',
      frame: fromPod(pod1, packet(pod1, REMOTE_PODS.otherSegment.ip)),
      verdict: 'drop',
      drops: { segment_mismatch: 1 },
    },
    {
      name: 'to a local pod without a segment (VNI 0): dropped',
      frame: fromPod(pod1, packet(pod1, noSegment.ip)),
      verdict: 'drop',
      drops: { no_segment: 1 },
    },
    {
      name: 'from a pod without a segment (VNI 0): dropped',
      frame: fromPod(noSegment, packet(noSegment, remote1.ip)),
      world: (standard) => ({
        ...standard,
        locals: {
          ...standard.locals,
          [noSegment.ip]: { ...standard.locals[noSegment.ip], ifindex: pod1.ifindex },
        },
      }),
      verdict: 'drop',
      drops: { no_segment: 1 },
    },

    // --- anti-spoofing ---
    {
      name: 'source IP that is no endpoint: dropped',
      frame: fromPod(pod1, packet(pod1, remote1.ip, { src: '10.244.1.99' })),
      verdict: 'drop',
      drops: { spoofed_ip: 1 },
    },
    {
      name: "another local pod's source IP (its MAC too) on this veth: dropped",
      frame: fromPod(pod1, packet(pod2, remote1.ip), pod2.mac),
      verdict: 'drop',
      drops: { spoofed_ip: 1 },
    },
    {
      name: 'own source IP with a foreign source MAC: dropped',
      frame: fromPod(pod1, toRemote, '0a:58:de:ad:be:ef'),
      verdict: 'drop',
      drops: { spoofed_mac: 1 },
    },

    // --- to the kernel stack ---
    {
      name: 'destination is no endpoint (outside world): kernel stack, unchanged',
      frame: fromPod(pod1, packet(pod1, OUTSIDE_IP)),
      verdict: 'pass',
      stats: { pass_unknown_dst: 1 },
    },
    {
      name: 'UDP to another port of the node: kernel stack, unchanged',
      frame: fromPod(pod1, packet(pod1, NODE_VTEP)),
      verdict: 'pass',
      stats: { pass_unknown_dst: 1 },
    },
    {
      name: "VXLAN to this node's VTEP: dropped (it would forge an identity)",
      frame: fromPod(pod1, vxlanTo(NODE_VTEP)),
      verdict: 'drop',
      drops: { vxlan_from_pod: 1 },
    },
    {
      name: "VXLAN to a known VTEP (through the host's NAT): dropped",
      frame: fromPod(pod1, vxlanTo(VTEP2.ip)),
      verdict: 'drop',
      drops: { vxlan_from_pod: 1 },
    },
    {
      name: 'UDP fragment to a known VTEP (no port to tell): dropped',
      frame: fromPod(pod1, packet(pod1, VTEP2.ip, { df: false, mf: true })),
      verdict: 'drop',
      drops: { vxlan_from_pod: 1 },
    },
    {
      name: 'VXLAN to a remote pod: encapsulated like any UDP',
      frame: fromPod(pod1, vxlanTo(remote1.ip)),
      verdict: 'redirect',
      output: encapsulated(vxlanTo(remote1.ip), pod1, remote1, { sport: 40000, dport: 4789 }),
      stats: { encapsulated: 1 },
      traffic: fromPodTraffic(pod1, remote1, 14 + vxlanTo(remote1.ip).length),
    },
    {
      name: 'TTL 1 to a remote pod: kernel stack (ICMP time exceeded), unchanged',
      frame: fromPod(pod1, packet(pod1, remote1.ip, { ttl: 1 })),
      verdict: 'pass',
      stats: { pass_ttl_expired: 1 },
    },
    {
      name: 'TTL 1 to a local pod: kernel stack, unchanged',
      frame: fromPod(pod1, packet(pod1, pod2.ip, { ttl: 1 })),
      verdict: 'pass',
      stats: { pass_ttl_expired: 1 },
    },
    {
      name: 'TTL 0 to a remote pod: kernel stack, unchanged',
      frame: fromPod(pod1, packet(pod1, remote1.ip, { ttl: 0 })),
      verdict: 'pass',
      stats: { pass_ttl_expired: 1 },
    },

    // --- oversized ---
    {
      name: 'one byte over the pod MTU with DF: ICMP fragmentation needed back to the pod',
      frame: fromPod(pod1, oversized),
      verdict: 'reply',
      output: ethernet(
        { dst: pod1.mac, src: GATEWAY_MAC, type: ETH_P_IPV4 },
        ipv4(
          { src: GATEWAY_IP, dst: pod1.ip, protocol: IPPROTO_ICMP, tos: 0xc0, df: false },
          icmp(
            { type: 3, code: 4, rest: Buffer.from([0, 0, POD_MTU >> 8, POD_MTU & 0xff]) },
            oversized.subarray(0, 28),
          ),
        ),
      ),
      check: (output) => {
        const ip = parseIpv4(parseEthernet(output).payload);
        const message = parseIcmp(ip.payload);
        expect(ip).toMatchObject({ src: GATEWAY_IP, dst: pod1.ip, checksumValid: true });
        expect(message).toMatchObject({ type: 3, code: 4, checksumValid: true });
        expect(message.rest.readUInt16BE(2)).toBe(POD_MTU);
        expect(message.payload.equals(oversized.subarray(0, 28))).toBe(true);
      },
      stats: { frag_needed_sent: 1 },
    },
    {
      name: 'oversized without DF: kernel stack (it fragments), unchanged',
      frame: fromPod(pod1, packet(pod1, remote1.ip, { df: false }, oversized.subarray(20))),
      verdict: 'pass',
      stats: { pass_oversize: 1 },
    },
    {
      name: 'oversized with IP options: kernel stack, unchanged',
      frame: fromPod(
        pod1,
        packet(pod1, remote1.ip, { options: Buffer.from([1, 1, 1, 0]) }, oversized.subarray(20)),
      ),
      verdict: 'pass',
      stats: { pass_oversize: 1 },
    },
    {
      name: 'oversized to a local pod: delivered (same MTU on both veths)',
      frame: fromPod(pod1, packet(pod1, pod2.ip, {}, oversized.subarray(20))),
      verdict: 'redirect',
      output: ethernet(
        { dst: pod2.mac, src: GATEWAY_MAC, type: ETH_P_IPV4 },
        withTtl(packet(pod1, pod2.ip, {}, oversized.subarray(20)), 63),
      ),
      stats: { forwarded_local: 1 },
      traffic: fromPodTraffic(pod1, pod2, 14 + oversized.length),
    },
    // A GSO skb that fits is not in the table: BPF_PROG_RUN cannot set its gso_type, and
    // bpf_skb_adjust_room refuses a GSO skb of no known type. The lab covers that path.
    {
      name: 'GSO super-packet whose segments exceed the pod MTU: kernel stack',
      only: 'tc',
      frame: fromPod(pod1, tcpSyn),
      gso: { gsoSegs: 2, gsoSize: POD_MTU - 40 + 1 },
      verdict: 'pass',
      stats: { pass_oversize: 1 },
    },

    // --- ARP ---
    {
      name: 'ARP request for the gateway: answered with the gateway MAC',
      frame: arpRequest(),
      verdict: 'reply',
      output: arpReply(GATEWAY_IP),
      stats: { arp_replied: 1 },
    },
    {
      name: 'ARP request for another address: answered too (proxy ARP)',
      frame: arpRequest({ targetIp: pod2.ip }),
      verdict: 'reply',
      output: arpReply(pod2.ip),
      stats: { arp_replied: 1 },
    },
    {
      name: 'gratuitous ARP: dropped',
      frame: arpRequest({ targetIp: pod1.ip }),
      verdict: 'drop',
      drops: { arp_unanswered: 1 },
    },
    {
      name: 'ARP probe (sender 0.0.0.0): dropped, so the address counts as free',
      frame: arpRequest({ senderIp: '0.0.0.0', targetIp: pod1.ip }),
      verdict: 'drop',
      drops: { arp_unanswered: 1 },
    },
    {
      name: 'ARP reply from a pod: dropped',
      frame: arpRequest({ op: ARP_REPLY }),
      verdict: 'drop',
      drops: { arp_unanswered: 1 },
    },
    {
      name: "ARP with another pod's sender IP: dropped",
      frame: arpRequest({ senderIp: pod2.ip }),
      verdict: 'drop',
      drops: { spoofed_ip: 1 },
    },
    {
      name: 'ARP with a foreign sender MAC: dropped',
      frame: arpRequest({ senderMac: '0a:58:de:ad:be:ef' }),
      verdict: 'drop',
      drops: { spoofed_mac: 1 },
    },
    {
      name: 'ARP from a foreign Ethernet source: dropped',
      frame: arpRequest({}, '0a:58:de:ad:be:ef'),
      verdict: 'drop',
      drops: { spoofed_mac: 1 },
    },
    {
      name: 'ARP for another protocol than IPv4: dropped',
      frame: arpRequest({ ptype: ETH_P_IPV6 }),
      verdict: 'drop',
      drops: { arp_malformed: 1 },
    },
    {
      name: 'truncated ARP: dropped',
      frame: arpRequest().subarray(0, 14 + 20),
      verdict: 'drop',
      drops: { arp_malformed: 1 },
    },

    // --- other L3 and malformed IPv4 ---
    {
      name: 'IPv6 from a pod: dropped (pods are IPv4-only)',
      frame: fromPod(pod1, Buffer.alloc(40, 0x60), pod1.mac, ETH_P_IPV6),
      verdict: 'drop',
      drops: { unsupported_l3: 1 },
    },
    {
      // BPF_PROG_RUN refuses TC frames with less than an IPv4 header behind an IPv4 type.
      name: 'truncated IPv4 header: dropped',
      only: 'xdp',
      frame: fromPod(pod1, toRemote.subarray(0, 12)),
      verdict: 'drop',
      drops: { truncated_ipv4: 1 },
    },
    {
      name: 'IHL 6 with only 20 header bytes in the frame: dropped',
      frame: fromPod(pod1, packet(pod1, remote1.ip, { ihl: 6 }).subarray(0, 20)),
      verdict: 'drop',
      drops: { truncated_ipv4: 1 },
    },
    {
      name: 'IHL below 5: dropped',
      frame: fromPod(pod1, packet(pod1, remote1.ip, { ihl: 4 })),
      verdict: 'drop',
      drops: { malformed_ipv4: 1 },
    },
    {
      name: 'version 6 in an IPv4 frame: dropped',
      frame: fromPod(pod1, packet(pod1, remote1.ip, { version: 6 })),
      verdict: 'drop',
      drops: { malformed_ipv4: 1 },
    },
    {
      name: 'total length beyond the frame: dropped',
      frame: fromPod(pod1, packet(pod1, remote1.ip, { totalLength: toRemote.length + 1 })),
      verdict: 'drop',
      drops: { malformed_ipv4: 1 },
    },
    {
      name: 'total length below the header length: dropped',
      frame: fromPod(pod1, packet(pod1, remote1.ip, { totalLength: 19 })),
      verdict: 'drop',
      drops: { malformed_ipv4: 1 },
    },
  ];
}

const skipReason = bpfSkipReason();
if (skipReason) console.warn(`BPF pod egress tests skipped: ${skipReason}`);
const suite = skipReason ? describe.skip : describe;

suite('pod egress', () => {
  beforeAll(() => buildObjects());

  describe.each(Object.entries(MODES))('%s mode', (modeName, mode) => {
    const pods = localPods(mode.pod1Ifindex);
    const standard = world(pods);
    let fixture: DataplaneFixture;

    beforeAll(async () => {
      fixture = await DataplaneFixture.load(
        mode.program,
        NODE_CONFIG,
        privatePinRoot(`pod-egress-${modeName}`),
      );
    });
    afterAll(() => fixture?.close());

    const table = rowsFor(rows(pods), modeName);
    test.each(table)('$name', (row) => {
      fixture.setWorld(row.world ? row.world(standard) : standard);
      const result = fixture.run(
        row.frame,
        modeName === 'tc'
          ? { skb: { ingressIfindex: pods.pod1.ifindex, ...row.gso } }
          : { ifindex: pods.pod1.ifindex },
      );

      expectRow(result, row, mode.actions[row.verdict]);
    });

    test('a routed underlay: every VTEP through the configured next hop', async () => {
      const routed = await DataplaneFixture.load(
        mode.program,
        { ...NODE_CONFIG, nexthopMac: '02:00:c0:a8:c8:fe' },
        privatePinRoot(`pod-egress-${modeName}-routed`),
      );
      try {
        routed.setWorld(standard);
        const { remote1 } = REMOTE_PODS;
        const sent = packet(pods.pod1, remote1.ip);
        const result = routed.run(
          fromPod(pods.pod1, sent),
          modeName === 'tc' ? { skb: { ingressIfindex: pods.pod1.ifindex } } : { ifindex: 1 },
        );
        expect(result.action).toBe(mode.actions.redirect);
        expect(result.data.toString('hex')).toBe(
          encapsulated(
            sent,
            pods.pod1,
            remote1,
            { sport: 40000, dport: 5353 },
            { outerDstMac: '02:00:c0:a8:c8:fe' },
          ).toString('hex'),
        );
      } finally {
        routed.close();
      }
    });
  });
});
