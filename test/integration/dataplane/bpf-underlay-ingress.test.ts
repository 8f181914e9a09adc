/**
 * Packet table for the underlay side of the dataplane: frames arriving on the node's underlay
 * interface, run through BPF_PROG_RUN on tc_ul_ingress (TC mode, the default) and
 * xdp_ul_ingress (XDP mode). Each row: the frame, the map contents, the verdict, the exact
 * output frame and every counter that moves.
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
  privatePinRoot,
  type TrafficDelta,
} from '../../../dataplane/bpf/testing/harness';
import { expectRow, rowsFor, type PacketRow } from '../../support/packet-table';
import {
  GATEWAY_MAC,
  NODE_CONFIG,
  NODE_VTEP,
  NODE_VTEP_MAC,
  OUTSIDE_IP,
  REMOTE_PODS,
  UNKNOWN_VTEP,
  VTEP2,
  VTEP3,
  localPods,
  world,
} from '../../../dataplane/bpf/testing/topology';
import {
  ARP_REQUEST,
  ETH_P_ARP,
  ETH_P_IPV4,
  ETH_P_IPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  TCP_ACK,
  TCP_PSH,
  VXLAN_FLAG_G,
  arp,
  ethernet,
  fragmentIpv4,
  ipv4,
  parseEthernet,
  parseIpv4,
  tcp,
  transportChecksumValid,
  udp,
  vxlan,
  vxlanFrame,
  type Ipv4Fields,
  type VxlanFields,
} from '../../support/packets';

type Verdict = 'redirect' | 'pass' | 'drop';

interface Mode {
  readonly program: 'tcUnderlayIngress' | 'xdpUnderlayIngress';
  readonly actions: Readonly<Record<Verdict, number>>;
}

const MODES: Readonly<Record<'tc' | 'xdp', Mode>> = {
  tc: {
    program: 'tcUnderlayIngress',
    actions: { redirect: TC_ACT_REDIRECT, pass: TC_ACT_OK, drop: TC_ACT_SHOT },
  },
  xdp: {
    program: 'xdpUnderlayIngress',
    actions: { redirect: XDP_REDIRECT, pass: XDP_PASS, drop: XDP_DROP },
  },
};

type Row = PacketRow<Verdict>;

const PAYLOAD = Buffer.from('strata packet table');
const { pod1, noSegment } = localPods(101);
const { remote1, behindGateway } = REMOTE_PODS;

/** An IPv4 packet from a remote pod (UDP unless told), TTL already decremented by its node. */
function innerPacket(
  dst: string,
  fields: Partial<Ipv4Fields> = {},
  l4?: Buffer,
  src: string = remote1.ip,
): Buffer {
  const ends = { src, dst };
  return ipv4(
    { ...ends, protocol: IPPROTO_UDP, ttl: 63, id: 0x4321, ...fields },
    l4 ?? udp({ ...ends, sport: 5353, dport: 40000 }, PAYLOAD),
  );
}

/** What a remote Strata node puts inside the tunnel: router MAC -> pod MAC. */
function innerFrame(ipPacket: Buffer, type = ETH_P_IPV4, dstMac = pod1.mac): Buffer {
  return ethernet({ dst: dstMac, src: VTEP2.mac, type }, ipPacket);
}

/** A VXLAN frame from `vtep` to this node (GBP id = remote1's identity unless told). */
function fromVtep(
  inner: Buffer,
  options: {
    vtep?: { ip: string; mac: string };
    vxlan?: VxlanFields;
    outerDst?: string;
    dport?: number;
  } = {},
): Buffer {
  const vtep = options.vtep ?? VTEP2;
  return vxlanFrame(
    {
      outerDstMac: NODE_VTEP_MAC,
      outerSrcMac: vtep.mac,
      outerSrc: vtep.ip,
      outerDst: options.outerDst ?? NODE_VTEP,
      sport: 50123,
      dport: options.dport,
      vxlan: options.vxlan ?? { vni: pod1.vni, groupPolicyId: remote1.identity },
    },
    inner,
  );
}

/** The frame the pod gets: gateway -> pod MAC, inner packet unchanged. */
function delivered(ipPacket: Buffer): Buffer {
  return ethernet({ dst: pod1.mac, src: GATEWAY_MAC, type: ETH_P_IPV4 }, ipPacket);
}

function fromOverlay(srcIdentity: number, ipPacket: Buffer): TrafficDelta[] {
  return [
    {
      srcIdentity,
      dstIdentity: pod1.identity,
      direction: 'from_overlay',
      packets: 1,
      bytes: 14 + ipPacket.length,
    },
  ];
}

/** An outer IPv4 header (and what follows) from VTEP2 to this node, in an Ethernet frame. */
function underlayFrame(fields: Partial<Ipv4Fields>, payload: Buffer): Buffer {
  return ethernet(
    { dst: NODE_VTEP_MAC, src: VTEP2.mac, type: ETH_P_IPV4 },
    ipv4({ src: VTEP2.ip, dst: NODE_VTEP, protocol: IPPROTO_UDP, ...fields }, payload),
  );
}

/** A UDP header to the VXLAN port from VTEP2, with `rest` behind it. */
function vxlanUdp(rest: Buffer): Buffer {
  return udp({ src: VTEP2.ip, dst: NODE_VTEP, sport: 50123, dport: 4789, checksum: 0 }, rest);
}

function rows(): Row[] {
  const toPod = innerPacket(pod1.ip);
  const tcpSegment = innerPacket(
    pod1.ip,
    { protocol: IPPROTO_TCP },
    tcp(
      { src: remote1.ip, dst: pod1.ip, sport: 443, dport: 43210, flags: TCP_ACK | TCP_PSH, seq: 9 },
      PAYLOAD,
    ),
  );
  const [innerFirst, innerLast] = fragmentIpv4(
    innerPacket(
      pod1.ip,
      { df: false },
      udp({ src: remote1.ip, dst: pod1.ip, sport: 5353, dport: 40000 }, Buffer.alloc(2000, 3)),
    ),
    1400,
  );
  const outerIp = parseEthernet(fromVtep(innerFrame(toPod))).payload;
  const [outerFirst, outerLast] = fragmentIpv4(Buffer.from(outerIp), 64);
  const unknownVtepIp = parseEthernet(fromVtep(innerFrame(toPod), { vtep: UNKNOWN_VTEP })).payload;
  const [unknownFirst] = fragmentIpv4(Buffer.from(unknownVtepIp), 64);
  const toNode = (ip: Buffer) =>
    ethernet({ dst: NODE_VTEP_MAC, src: VTEP2.mac, type: ETH_P_IPV4 }, ip);
  const dnsToNode = ipv4(
    { src: OUTSIDE_IP, dst: NODE_VTEP, protocol: IPPROTO_UDP },
    udp({ src: OUTSIDE_IP, dst: NODE_VTEP, sport: 53, dport: 33000 }, Buffer.alloc(1200, 9)),
  );
  const [dnsFirst] = fragmentIpv4(dnsToNode, 600);
  const vxlanHeader = vxlan({ vni: pod1.vni, groupPolicyId: remote1.identity });

  return [
    // --- decapsulation ---
    {
      name: 'VXLAN-GBP from a known VTEP to a local pod: decapsulated and delivered',
      frame: fromVtep(innerFrame(toPod)),
      verdict: 'redirect',
      output: delivered(toPod),
      check: (output) => {
        const frame = parseEthernet(output);
        expect(frame).toMatchObject({ dst: pod1.mac, src: GATEWAY_MAC, type: ETH_P_IPV4 });
        expect(parseIpv4(frame.payload)).toMatchObject({ ttl: 63, checksumValid: true });
      },
      stats: { decapsulated: 1 },
      traffic: fromOverlay(remote1.identity, toPod),
    },
    {
      name: 'TCP inside: inner checksums stay valid',
      frame: fromVtep(innerFrame(tcpSegment)),
      verdict: 'redirect',
      output: delivered(tcpSegment),
      check: (output) => expect(transportChecksumValid(parseEthernet(output).payload)).toBe(true),
      stats: { decapsulated: 1 },
      traffic: fromOverlay(remote1.identity, tcpSegment),
    },
    {
      name: 'inner TTL 1: delivered (the sending node decremented for the whole hop)',
      frame: fromVtep(innerFrame(innerPacket(pod1.ip, { ttl: 1 }))),
      verdict: 'redirect',
      output: delivered(innerPacket(pod1.ip, { ttl: 1 })),
      stats: { decapsulated: 1 },
      traffic: fromOverlay(remote1.identity, innerPacket(pod1.ip, { ttl: 1 })),
    },
    {
      name: 'inner first fragment: delivered',
      frame: fromVtep(innerFrame(innerFirst)),
      verdict: 'redirect',
      output: delivered(innerFirst),
      stats: { decapsulated: 1 },
      traffic: fromOverlay(remote1.identity, innerFirst),
    },
    {
      name: 'inner non-first fragment: delivered',
      frame: fromVtep(innerFrame(innerLast)),
      verdict: 'redirect',
      output: delivered(innerLast),
      stats: { decapsulated: 1 },
      traffic: fromOverlay(remote1.identity, innerLast),
    },
    {
      name: 'GBP from a gateway VTEP: its group policy id is the source identity',
      frame: fromVtep(innerFrame(innerPacket(pod1.ip, {}, undefined, behindGateway.ip)), {
        vtep: VTEP3,
        vxlan: { vni: pod1.vni, groupPolicyId: behindGateway.identity },
      }),
      verdict: 'redirect',
      output: delivered(innerPacket(pod1.ip, {}, undefined, behindGateway.ip)),
      stats: { decapsulated: 1 },
      traffic: fromOverlay(
        behindGateway.identity,
        innerPacket(pod1.ip, {}, undefined, behindGateway.ip),
      ),
    },
    {
      name: 'no GBP from a VTEP allowed to omit it: delivered with source identity 0',
      frame: fromVtep(innerFrame(toPod), { vtep: VTEP3, vxlan: { vni: pod1.vni } }),
      verdict: 'redirect',
      output: delivered(toPod),
      stats: { decapsulated: 1 },
      traffic: fromOverlay(0, toPod),
    },

    // --- VTEP, VNI, GBP and endpoint checks ---
    {
      name: 'wrong VNI for the destination pod: dropped',
      frame: fromVtep(innerFrame(toPod), {
        vxlan: { vni: pod1.vni + 1, groupPolicyId: remote1.identity },
      }),
      verdict: 'drop',
      drops: { vni_mismatch: 1 },
    },
    {
      name: 'destination pod without a segment (VNI 0): dropped',
      frame: fromVtep(innerFrame(innerPacket(noSegment.ip))),
      verdict: 'drop',
      drops: { vni_mismatch: 1 },
    },
    {
      name: 'unknown VTEP: dropped',
      frame: fromVtep(innerFrame(toPod), { vtep: UNKNOWN_VTEP }),
      verdict: 'drop',
      drops: { unknown_vtep: 1 },
    },
    {
      name: 'VTEP removed from the map: dropped',
      frame: fromVtep(innerFrame(toPod)),
      world: (standard) => ({ ...standard, vteps: {} }),
      verdict: 'drop',
      drops: { unknown_vtep: 1 },
    },
    {
      name: 'no GBP from a Strata VTEP: dropped',
      frame: fromVtep(innerFrame(toPod), { vxlan: { vni: pod1.vni } }),
      verdict: 'drop',
      drops: { missing_gbp: 1 },
    },
    {
      name: 'VNI-valid (I) flag missing: dropped',
      frame: fromVtep(innerFrame(toPod), {
        vxlan: { vni: pod1.vni, flags: VXLAN_FLAG_G | remote1.identity },
      }),
      verdict: 'drop',
      drops: { malformed_vxlan: 1 },
    },
    {
      name: 'destination is no local endpoint: dropped',
      frame: fromVtep(innerFrame(innerPacket(remote1.ip))),
      verdict: 'drop',
      drops: { no_local_ep: 1 },
    },
    {
      name: 'inner ARP: dropped',
      frame: fromVtep(
        innerFrame(
          arp({
            op: ARP_REQUEST,
            senderMac: remote1.mac,
            senderIp: remote1.ip,
            targetMac: '00:00:00:00:00:00',
            targetIp: pod1.ip,
          }),
          ETH_P_ARP,
          'ff:ff:ff:ff:ff:ff',
        ),
      ),
      verdict: 'drop',
      drops: { inner_not_ipv4: 1 },
    },
    {
      name: 'inner IPv6: dropped',
      frame: fromVtep(innerFrame(Buffer.alloc(60, 0x60), ETH_P_IPV6)),
      verdict: 'drop',
      drops: { inner_not_ipv4: 1 },
    },

    // --- truncated and malformed ---
    {
      // BPF_PROG_RUN refuses TC frames with less than an IPv4 header behind an IPv4 type.
      name: 'truncated outer IPv4 header: dropped',
      only: 'xdp',
      frame: fromVtep(innerFrame(toPod)).subarray(0, 14 + 12),
      verdict: 'drop',
      drops: { truncated_ipv4: 1 },
    },
    {
      name: 'outer IHL 6 with only 20 header bytes: dropped',
      frame: underlayFrame({ ihl: 6 }, Buffer.alloc(0)),
      verdict: 'drop',
      drops: { truncated_ipv4: 1 },
    },
    {
      name: 'outer IHL below 5: dropped',
      frame: underlayFrame({ ihl: 4 }, vxlanUdp(Buffer.concat([vxlanHeader, innerFrame(toPod)]))),
      verdict: 'drop',
      drops: { malformed_ipv4: 1 },
    },
    {
      name: 'outer total length beyond the frame: dropped',
      frame: fromVtep(innerFrame(toPod)).subarray(0, 14 + 20 + 8 + 8 + 14 + 20),
      verdict: 'drop',
      drops: { malformed_ipv4: 1 },
    },
    {
      name: 'truncated UDP header: dropped',
      frame: underlayFrame({}, vxlanUdp(Buffer.alloc(0)).subarray(0, 4)),
      verdict: 'drop',
      drops: { truncated_udp: 1 },
    },
    {
      name: 'truncated VXLAN header: dropped',
      frame: underlayFrame({}, vxlanUdp(vxlanHeader.subarray(0, 4))),
      verdict: 'drop',
      drops: { truncated_vxlan: 1 },
    },
    {
      name: 'truncated inner Ethernet header: dropped',
      frame: underlayFrame(
        {},
        vxlanUdp(Buffer.concat([vxlanHeader, innerFrame(toPod).subarray(0, 6)])),
      ),
      verdict: 'drop',
      drops: { truncated_vxlan: 1 },
    },
    {
      name: 'truncated inner IPv4 header: dropped',
      frame: underlayFrame(
        {},
        vxlanUdp(Buffer.concat([vxlanHeader, innerFrame(toPod).subarray(0, 14 + 12)])),
      ),
      verdict: 'drop',
      drops: { truncated_ipv4: 1 },
    },
    {
      name: 'inner IHL below 5: dropped',
      frame: fromVtep(innerFrame(innerPacket(pod1.ip, { ihl: 4 }))),
      verdict: 'drop',
      drops: { malformed_ipv4: 1 },
    },
    {
      name: 'inner total length beyond the frame: dropped',
      frame: fromVtep(innerFrame(innerPacket(pod1.ip, { totalLength: toPod.length + 1 }))),
      verdict: 'drop',
      drops: { malformed_ipv4: 1 },
    },
    {
      name: 'UDP length disagreeing with the IPv4 length: dropped',
      frame: underlayFrame(
        {},
        udp(
          { src: VTEP2.ip, dst: NODE_VTEP, sport: 50123, dport: 4789, checksum: 0, length: 40 },
          Buffer.concat([vxlanHeader, innerFrame(toPod)]),
        ),
      ),
      verdict: 'drop',
      drops: { malformed_vxlan: 1 },
    },
    {
      name: 'outer IPv4 options: dropped (no VTEP sends them)',
      frame: underlayFrame(
        { options: Buffer.from([1, 1, 1, 0]) },
        vxlanUdp(Buffer.concat([vxlanHeader, innerFrame(toPod)])),
      ),
      verdict: 'drop',
      drops: { malformed_vxlan: 1 },
    },

    // --- the host's traffic ---
    {
      name: 'UDP to another port of the node: kernel stack, unchanged',
      frame: toNode(dnsToNode),
      verdict: 'pass',
      stats: { pass_not_overlay: 1 },
    },
    {
      name: 'TCP to the node: kernel stack, unchanged',
      frame: toNode(
        ipv4(
          { src: OUTSIDE_IP, dst: NODE_VTEP, protocol: IPPROTO_TCP },
          tcp({ src: OUTSIDE_IP, dst: NODE_VTEP, sport: 443, dport: 33000 }),
        ),
      ),
      verdict: 'pass',
      stats: { pass_not_overlay: 1 },
    },
    {
      name: 'VXLAN to another address: kernel stack, unchanged',
      frame: fromVtep(innerFrame(toPod), { outerDst: '192.168.200.77' }),
      verdict: 'pass',
      stats: { pass_not_overlay: 1 },
    },
    {
      name: 'VXLAN on another UDP port: kernel stack, unchanged',
      frame: fromVtep(innerFrame(toPod), { dport: 8472 }),
      verdict: 'pass',
      stats: { pass_not_overlay: 1 },
    },
    {
      name: 'ARP on the underlay: kernel stack, unchanged',
      frame: ethernet(
        { dst: 'ff:ff:ff:ff:ff:ff', src: VTEP2.mac, type: ETH_P_ARP },
        arp({
          op: ARP_REQUEST,
          senderMac: VTEP2.mac,
          senderIp: VTEP2.ip,
          targetMac: '00:00:00:00:00:00',
          targetIp: NODE_VTEP,
        }),
      ),
      verdict: 'pass',
      stats: { pass_not_overlay: 1 },
    },
    {
      name: 'IPv6 on the underlay: kernel stack, unchanged',
      frame: ethernet({ dst: NODE_VTEP_MAC, src: VTEP2.mac, type: ETH_P_IPV6 }, Buffer.alloc(60)),
      verdict: 'pass',
      stats: { pass_not_overlay: 1 },
    },

    // --- outer fragments ---
    {
      name: 'first outer fragment from a known VTEP: kernel stack (reassembly), unchanged',
      frame: toNode(outerFirst),
      verdict: 'pass',
      stats: { pass_outer_fragment: 1 },
    },
    {
      name: 'non-first outer fragment: kernel stack, unchanged',
      frame: toNode(outerLast),
      verdict: 'pass',
      stats: { pass_outer_fragment: 1 },
    },
    {
      name: 'first outer fragment from an unknown VTEP: dropped (its datagram never reassembles)',
      frame: toNode(unknownFirst),
      verdict: 'drop',
      drops: { unknown_vtep: 1 },
    },
    {
      name: 'first fragment of the host own UDP: kernel stack, unchanged',
      frame: toNode(dnsFirst),
      verdict: 'pass',
      stats: { pass_not_overlay: 1 },
    },
  ];
}

const skipReason = bpfSkipReason();
if (skipReason) console.warn(`BPF underlay ingress tests skipped: ${skipReason}`);
const suite = skipReason ? describe.skip : describe;

suite('underlay ingress', () => {
  beforeAll(() => buildObjects());

  describe.each(Object.entries(MODES))('%s mode', (modeName, mode) => {
    const standard = world(localPods(101));
    let fixture: DataplaneFixture;

    beforeAll(async () => {
      fixture = await DataplaneFixture.load(
        mode.program,
        NODE_CONFIG,
        privatePinRoot(`underlay-${modeName}`),
      );
    });
    afterAll(() => fixture?.close());

    const table = rowsFor(rows(), modeName);
    test.each(table)('$name', (row) => {
      fixture.setWorld(row.world ? row.world(standard) : standard);
      const result = fixture.run(row.frame, modeName === 'tc' ? { skb: {} } : {});

      expectRow(result, row, mode.actions[row.verdict]);
    });
  });
});
