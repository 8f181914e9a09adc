/**
 * The TypeScript side of dataplane/bpf/lib/maps.h: names, byte layouts and enums of every Strata
 * BPF map, as pure encode/decode functions over Buffers. The agent's dataplane Operations write
 * the endpoint and VTEP maps and read the counters and flow records through these; the BPF
 * packet tests use them too, so a layout change that is made on one side only fails there.
 *
 * Byte order as in maps.h: "net" fields big-endian, "host" fields little-endian (every
 * supported node is little-endian).
 */

/** Pinned map names (LIBBPF_PIN_BY_NAME, so the pin path is `<pin root>/<name>`). */
export const MAP_NAMES = {
  locals: 'strata_locals',
  remotes: 'strata_remotes',
  vteps: 'strata_vteps',
  drops: 'strata_drops',
  stats: 'strata_stats',
  traffic: 'strata_traffic',
  flows: 'strata_flows',
  sampler: 'strata_sampler',
  policy: 'strata_policy',
  prefixes: 'strata_prefixes',
  conntrack: 'strata_ct',
  verdicts: 'strata_verdicts',
} as const;

/** The `const volatile` node configuration every object has; pass encodeNodeConfig() as rodata. */
export const CONFIG_VARIABLE = 'strata_config';

/** Object file (under dataplane/bpf/build/) and program name, per attach point. */
export const PROGRAMS = {
  tcPodEgress: { object: 'pod_egress.bpf.o', program: 'tc_pod_egress' },
  tcUnderlayIngress: { object: 'underlay_ingress.bpf.o', program: 'tc_ul_ingress' },
  xdpUnderlayIngress: { object: 'xdp_underlay.bpf.o', program: 'xdp_ul_ingress' },
  xdpPodEgress: { object: 'xdp_pod.bpf.o', program: 'xdp_pod_egress' },
} as const;

export const IPV4_KEY_SIZE = 4;
export const LOCAL_ENDPOINT_SIZE = 16;
export const REMOTE_ENDPOINT_SIZE = 24;
export const VTEP_SIZE = 4;
export const NODE_CONFIG_SIZE = 44;
export const TRAFFIC_KEY_SIZE = 8;
export const TRAFFIC_VALUE_SIZE = 16;
export const COUNTER_VALUE_SIZE = 8;
export const FLOW_RECORD_SIZE = 40;
export const POLICY_KEY_SIZE = 16;
export const POLICY_VALUE_SIZE = 12;
export const PREFIX_KEY_SIZE = 8;
export const PREFIX_VALUE_SIZE = 4;
export const CT_KEY_SIZE = 16;
export const CT_VALUE_SIZE = 8;
export const VERDICT_KEY_SIZE = 8;
export const VERDICT_VALUE_SIZE = 16;

/** enum strata_drop_reason, by value (index). */
export const DROP_REASONS = [
  'unspec',
  'truncated_eth',
  'truncated_ipv4',
  'malformed_ipv4',
  'truncated_udp',
  'truncated_vxlan',
  'malformed_vxlan',
  'unknown_vtep',
  'missing_gbp',
  'vni_mismatch',
  'no_local_ep',
  'inner_not_ipv4',
  'spoofed_ip',
  'spoofed_mac',
  'unsupported_l3',
  'arp_malformed',
  'arp_unanswered',
  'no_segment',
  'segment_mismatch',
  'encap_failed',
  'decap_failed',
  'reply_failed',
  'vxlan_from_pod',
  'policy_denied',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** enum strata_stat, by value: outcomes that are not drops, and the flow recorder's counters. */
export const STATS = [
  'forwarded_local',
  'encapsulated',
  'decapsulated',
  'arp_replied',
  'frag_needed_sent',
  'pass_unknown_dst',
  'pass_ttl_expired',
  'pass_oversize',
  'pass_outer_fragment',
  'pass_not_overlay',
  'flow_recorded',
  'flow_rate_limited',
  'flow_ring_full',
] as const;
export type Stat = (typeof STATS)[number];

/** enum strata_direction. */
export const DIRECTIONS = ['from_pod', 'from_overlay'] as const;
export type Direction = (typeof DIRECTIONS)[number];

/** enum strata_point: which program wrote a flow record. */
export const POINTS = ['tc_pod', 'tc_underlay', 'xdp_pod', 'xdp_underlay'] as const;
export type Point = (typeof POINTS)[number];

/** enum strata_outcome. */
export const OUTCOMES = ['forwarded', 'passed', 'dropped', 'replied'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** enum strata_policy_dir. */
export const POLICY_DIRECTIONS = ['ingress', 'egress'] as const;
export type PolicyDirection = (typeof POLICY_DIRECTIONS)[number];

/** enum strata_verdict. */
export const VERDICTS = ['allow', 'deny'] as const;
export type Verdict = (typeof VERDICTS)[number];

/** enum strata_verdict_kind: what strata_verdicts counts per rule. */
export const VERDICT_KINDS = [
  'allowed',
  'denied',
  'staged_would_deny',
  'staged_would_allow',
] as const;
export type VerdictKind = (typeof VERDICT_KINDS)[number];

/** The `*` peer of strata_policy keys. */
export const POLICY_PEER_ANY = 0xffffffff;
/** Prefix lengths of strata_policy rows: any protocol, one protocol, a port block of 0 bits. */
export const POLICY_PREFIX_ANY_PROTOCOL = 72;
export const POLICY_PREFIX_PROTOCOL = 80;
/** Reserved identity of addresses that are neither endpoints nor prefixes. */
export const IDENTITY_WORLD = 2;

/** strata_vtep.flags: accept VXLAN without GBP from this VTEP (source identity 0). */
export const VTEP_FLAG_NO_GBP = 0x1;

export function dropReasonCode(reason: DropReason): number {
  return DROP_REASONS.indexOf(reason);
}

export function statCode(stat: Stat): number {
  return STATS.indexOf(stat);
}

/** A u32 array index (drops, stats) as a map key. */
export function encodeIndex(index: number): Buffer {
  const key = Buffer.alloc(4);
  key.writeUInt32LE(checkUint(index, 32, 'index'));
  return key;
}

// --- addresses -------------------------------------------------------------------------------

/** Dotted-quad IPv4 to 4 bytes, network order (the endpoint and VTEP map keys). */
export function encodeIpv4(address: string): Buffer {
  const parts = address.split('.');
  const octets = parts.map((part) => (/^(0|[1-9]\d{0,2})$/.test(part) ? Number(part) : NaN));
  if (octets.length !== 4 || octets.some((octet) => !(octet <= 255))) {
    throw new TypeError(`not an IPv4 address: '${address}'`);
  }
  return Buffer.from(octets);
}

export function decodeIpv4(bytes: Buffer, offset = 0): string {
  return [...bytes.subarray(offset, offset + 4)].join('.');
}

/** `aa:bb:cc:dd:ee:ff` to 6 bytes. */
export function encodeMac(mac: string): Buffer {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) throw new TypeError(`not a MAC: '${mac}'`);
  return Buffer.from(mac.replace(/:/g, ''), 'hex');
}

export function decodeMac(bytes: Buffer, offset = 0): string {
  return [...bytes.subarray(offset, offset + 6)]
    .map((byte) => byte.toString(16).padStart(2, '0'))
    .join(':');
}

// --- endpoint and VTEP maps ------------------------------------------------------------------

/** strata_locals value: a pod on this node, keyed by encodeIpv4(pod IP). */
export interface LocalEndpointValue {
  /** Host-side veth. */
  readonly ifindex: number;
  /** Segment VNI; 0 while the segment is unknown (the pod then sends and receives nothing). */
  readonly vni: number;
  /** Security identity (the VXLAN-GBP group policy id); 0 = unknown. */
  readonly identity: number;
  /** The pod's eth0 MAC. */
  readonly mac: string;
}

export function encodeLocalEndpoint(value: LocalEndpointValue): Buffer {
  const out = Buffer.alloc(LOCAL_ENDPOINT_SIZE);
  out.writeUInt32LE(checkUint(value.ifindex, 32, 'ifindex'), 0);
  out.writeUInt32LE(checkUint(value.vni, 24, 'vni'), 4);
  out.writeUInt16LE(checkUint(value.identity, 16, 'identity'), 8);
  encodeMac(value.mac).copy(out, 10);
  return out;
}

export function decodeLocalEndpoint(value: Buffer): LocalEndpointValue {
  checkSize(value, LOCAL_ENDPOINT_SIZE, 'local endpoint');
  return {
    ifindex: value.readUInt32LE(0),
    vni: value.readUInt32LE(4),
    identity: value.readUInt16LE(8),
    mac: decodeMac(value, 10),
  };
}

/** strata_remotes value: a pod behind another node's VTEP, keyed by encodeIpv4(pod IP). */
export interface RemoteEndpointValue {
  readonly vtepAddress: string;
  readonly vni: number;
  /** The pod's identity (the destination identity in the traffic counters). */
  readonly identity: number;
  /** The remote node's underlay MAC: the outer destination when VTEPs are on link. */
  readonly vtepMac: string;
  /** The pod's MAC: the inner destination. */
  readonly mac: string;
}

export function encodeRemoteEndpoint(value: RemoteEndpointValue): Buffer {
  const out = Buffer.alloc(REMOTE_ENDPOINT_SIZE);
  encodeIpv4(value.vtepAddress).copy(out, 0);
  out.writeUInt32LE(checkUint(value.vni, 24, 'vni'), 4);
  out.writeUInt16LE(checkUint(value.identity, 16, 'identity'), 8);
  encodeMac(value.vtepMac).copy(out, 10);
  encodeMac(value.mac).copy(out, 16);
  return out;
}

export function decodeRemoteEndpoint(value: Buffer): RemoteEndpointValue {
  checkSize(value, REMOTE_ENDPOINT_SIZE, 'remote endpoint');
  return {
    vtepAddress: decodeIpv4(value, 0),
    vni: value.readUInt32LE(4),
    identity: value.readUInt16LE(8),
    vtepMac: decodeMac(value, 10),
    mac: decodeMac(value, 16),
  };
}

/** strata_vteps value, keyed by encodeIpv4(VTEP address). */
export interface VtepValue {
  /** VTEP_FLAG_* bits. */
  readonly flags: number;
}

export function encodeVtep(value: VtepValue): Buffer {
  const out = Buffer.alloc(VTEP_SIZE);
  out.writeUInt32LE(checkUint(value.flags, 32, 'flags'));
  return out;
}

export function decodeVtep(value: Buffer): VtepValue {
  checkSize(value, VTEP_SIZE, 'VTEP');
  return { flags: value.readUInt32LE(0) };
}

// --- policy maps -----------------------------------------------------------------------------

/**
 * A strata_policy key. `protocol` '*' is the any-protocol row (prefix 72); a protocol without
 * `port` its protocol row (prefix 80); with `port` and `bits` the block of destination ports
 * whose top `bits` bits equal `port`'s (prefix 80 + bits; port must have no other bits set).
 */
export interface PolicyKey {
  readonly direction: PolicyDirection;
  /** The local endpoint's identity. */
  readonly local: number;
  /** The peer's identity, or '*' for any peer without rows of its own. */
  readonly peer: number | '*';
  readonly protocol: number | '*';
  readonly port?: { readonly start: number; readonly bits: number };
}

export function encodePolicyKey(key: PolicyKey): Buffer {
  const out = Buffer.alloc(POLICY_KEY_SIZE);
  let prefix = POLICY_PREFIX_ANY_PROTOCOL;
  out.writeUInt32BE(checkUint(key.local, 32, 'local identity'), 4);
  out.writeUInt32BE(key.peer === '*' ? POLICY_PEER_ANY : checkUint(key.peer, 32, 'peer'), 8);
  const direction = POLICY_DIRECTIONS.indexOf(key.direction);
  if (direction < 0) throw new RangeError(`unknown policy direction '${String(key.direction)}'`);
  out.writeUInt8(direction, 12);
  if (key.protocol !== '*') {
    out.writeUInt8(checkUint(key.protocol, 8, 'protocol'), 13);
    prefix = POLICY_PREFIX_PROTOCOL;
    if (key.port !== undefined) {
      const { start, bits } = key.port;
      checkUint(start, 16, 'port');
      if (!Number.isInteger(bits) || bits < 0 || bits > 16) {
        throw new RangeError(`port bits must be an integer 0-16, got ${bits}`);
      }
      if (bits < 16 && (start & (0xffff >>> bits)) !== 0) {
        throw new RangeError(`port ${start}/${bits} has bits set beyond its prefix`);
      }
      out.writeUInt16BE(start, 14);
      prefix += bits;
    }
  } else if (key.port !== undefined) {
    throw new RangeError('a port block needs a protocol');
  }
  out.writeUInt32LE(prefix, 0);
  return out;
}

export function decodePolicyKey(key: Buffer): PolicyKey {
  checkSize(key, POLICY_KEY_SIZE, 'policy key');
  const prefix = key.readUInt32LE(0);
  if (prefix < POLICY_PREFIX_ANY_PROTOCOL || prefix > POLICY_PREFIX_PROTOCOL + 16) {
    throw new RangeError(`policy key prefix ${prefix} is not 72, 80 or 81-96`);
  }
  const peer = key.readUInt32BE(8);
  const protocol = key.readUInt8(13);
  const decoded = {
    direction: enumName(POLICY_DIRECTIONS, key.readUInt8(12), 'policy direction'),
    local: key.readUInt32BE(4),
    peer: peer === POLICY_PEER_ANY ? ('*' as const) : peer,
  };
  if (prefix === POLICY_PREFIX_ANY_PROTOCOL) return { ...decoded, protocol: '*' };
  if (prefix === POLICY_PREFIX_PROTOCOL) return { ...decoded, protocol };
  return {
    ...decoded,
    protocol,
    port: { start: key.readUInt16BE(14), bits: prefix - POLICY_PREFIX_PROTOCOL },
  };
}

/** A strata_policy value: the enforced and the staged verdict, and the rules behind them. */
export interface PolicyValue {
  readonly verdict: Verdict;
  readonly rule: number;
  readonly stagedVerdict: Verdict;
  readonly stagedRule: number;
}

export function encodePolicyValue(value: PolicyValue): Buffer {
  const out = Buffer.alloc(POLICY_VALUE_SIZE);
  out.writeUInt8(verdictCode(value.verdict), 0);
  out.writeUInt8(verdictCode(value.stagedVerdict), 1);
  out.writeUInt32LE(checkUint(value.rule, 32, 'rule'), 4);
  out.writeUInt32LE(checkUint(value.stagedRule, 32, 'staged rule'), 8);
  return out;
}

export function decodePolicyValue(value: Buffer): PolicyValue {
  checkSize(value, POLICY_VALUE_SIZE, 'policy value');
  // Any verdict byte but ALLOW denies (as the programs read it).
  const verdict = (byte: number): Verdict => (byte === 0 ? 'allow' : 'deny');
  return {
    verdict: verdict(value.readUInt8(0)),
    rule: value.readUInt32LE(4),
    stagedVerdict: verdict(value.readUInt8(1)),
    stagedRule: value.readUInt32LE(8),
  };
}

/** A strata_prefixes key: an IPv4 block; bits beyond `length` must be zero. */
export interface PrefixKey {
  readonly address: string;
  readonly length: number;
}

export function encodePrefixKey(key: PrefixKey): Buffer {
  const out = Buffer.alloc(PREFIX_KEY_SIZE);
  const { length } = key;
  if (!Number.isInteger(length) || length < 0 || length > 32) {
    throw new RangeError(`prefix length must be an integer 0-32, got ${length}`);
  }
  const address = encodeIpv4(key.address);
  const host = length === 32 ? 0 : 0xffffffff >>> length;
  if ((address.readUInt32BE(0) & host) >>> 0 !== 0) {
    throw new RangeError(`${key.address}/${length} has bits set beyond its prefix`);
  }
  out.writeUInt32LE(length, 0);
  address.copy(out, 4);
  return out;
}

export function decodePrefixKey(key: Buffer): PrefixKey {
  checkSize(key, PREFIX_KEY_SIZE, 'prefix key');
  return { address: decodeIpv4(key, 4), length: key.readUInt32LE(0) };
}

export interface PrefixValue {
  readonly identity: number;
}

export function encodePrefixValue(value: PrefixValue): Buffer {
  const out = Buffer.alloc(PREFIX_VALUE_SIZE);
  out.writeUInt32LE(checkUint(value.identity, 32, 'identity'));
  return out;
}

export function decodePrefixValue(value: Buffer): PrefixValue {
  checkSize(value, PREFIX_VALUE_SIZE, 'prefix value');
  return { identity: value.readUInt32LE(0) };
}

/** A strata_ct key: a connection as the packet that opened it. */
export interface ConnectionKey {
  readonly source: string;
  readonly destination: string;
  /**
   * TCP/UDP/SCTP ports. ICMP echo: the identifier as sourcePort of a request, as
   * destinationPort of a reply (the other one 0). 0 for other protocols, other ICMP messages
   * and non-first fragments.
   */
  readonly sourcePort: number;
  readonly destinationPort: number;
  readonly protocol: number;
}

export function encodeConnectionKey(key: ConnectionKey): Buffer {
  const out = Buffer.alloc(CT_KEY_SIZE);
  encodeIpv4(key.source).copy(out, 0);
  encodeIpv4(key.destination).copy(out, 4);
  out.writeUInt16BE(checkUint(key.sourcePort, 16, 'sourcePort'), 8);
  out.writeUInt16BE(checkUint(key.destinationPort, 16, 'destinationPort'), 10);
  out.writeUInt8(checkUint(key.protocol, 8, 'protocol'), 12);
  return out;
}

export function decodeConnectionKey(key: Buffer): ConnectionKey {
  checkSize(key, CT_KEY_SIZE, 'conntrack key');
  return {
    source: decodeIpv4(key, 0),
    destination: decodeIpv4(key, 4),
    sourcePort: key.readUInt16BE(8),
    destinationPort: key.readUInt16BE(10),
    protocol: key.readUInt8(12),
  };
}

/**
 * decodeConnectionKey for a walk of strata_ct: the same keys, with each distinct address turned
 * into text once (a node's connections share few addresses; formatting them is most of the cost
 * of decoding a key).
 */
export function connectionKeyDecoder(): (key: Buffer) => ConnectionKey {
  const addresses = new Map<number, string>();
  const address = (key: Buffer, offset: number): string => {
    const value = key.readUInt32BE(offset);
    let text = addresses.get(value);
    if (text === undefined) addresses.set(value, (text = decodeIpv4(key, offset)));
    return text;
  };
  return (key) => {
    checkSize(key, CT_KEY_SIZE, 'conntrack key');
    return {
      source: address(key, 0),
      destination: address(key, 4),
      sourcePort: key.readUInt16BE(8),
      destinationPort: key.readUInt16BE(10),
      protocol: key.readUInt8(12),
    };
  };
}

/** A strata_ct value: when a packet of the connection was last seen (bpf_ktime_get_ns). */
export function encodeConnection(lastSeenNs: bigint): Buffer {
  const out = Buffer.alloc(CT_VALUE_SIZE);
  out.writeBigUInt64LE(lastSeenNs);
  return out;
}

export function decodeConnection(value: Buffer): { readonly lastSeenNs: bigint } {
  checkSize(value, CT_VALUE_SIZE, 'conntrack value');
  return { lastSeenNs: value.readBigUInt64LE(0) };
}

/** A strata_verdicts key: one rule, one kind of verdict. */
export interface VerdictKey {
  readonly rule: number;
  readonly kind: VerdictKind;
}

export function encodeVerdictKey(key: VerdictKey): Buffer {
  const out = Buffer.alloc(VERDICT_KEY_SIZE);
  out.writeUInt32LE(checkUint(key.rule, 32, 'rule'), 0);
  const kind = VERDICT_KINDS.indexOf(key.kind);
  if (kind < 0) throw new RangeError(`unknown verdict kind '${String(key.kind)}'`);
  out.writeUInt32LE(kind, 4);
  return out;
}

export function decodeVerdictKey(key: Buffer): VerdictKey {
  checkSize(key, VERDICT_KEY_SIZE, 'verdict key');
  return {
    rule: key.readUInt32LE(0),
    kind: enumName(VERDICT_KINDS, key.readUInt32LE(4), 'verdict kind'),
  };
}

/** A strata_verdicts value (per-CPU), summed. */
export function decodeVerdictCount(value: Buffer): TrafficCount {
  return {
    packets: sumPerCpu(value, VERDICT_VALUE_SIZE, 0),
    bytes: sumPerCpu(value, VERDICT_VALUE_SIZE, 8),
  };
}

function verdictCode(verdict: Verdict): number {
  const code = VERDICTS.indexOf(verdict);
  if (code < 0) throw new RangeError(`unknown verdict '${String(verdict)}'`);
  return code;
}

// --- node configuration (rodata) -------------------------------------------------------------

export interface NodeConfig {
  /** This node's VTEP: outer source, and the only outer destination decapsulated. */
  readonly vtepAddress: string;
  /** Where encapsulated frames leave. */
  readonly underlayIfindex: number;
  /** The underlay interface's MAC: outer and inner source MAC of encapsulated frames. */
  readonly vtepMac: string;
  /** The underlay next hop for every VTEP (routed underlay); null: VTEPs on link. */
  readonly nexthopMac: string | null;
  /** The MAC of every host-side pod veth: ARP answer and source MAC of delivered frames. */
  readonly gatewayMac: string;
  /** The pods' default gateway: source of the ICMP errors sent to pods. */
  readonly gatewayAddress: string;
  readonly vxlanPort: number;
  /** Every pod's MTU: the underlay MTU - 50. */
  readonly podMtu: number;
  /** Record 1 in N packets per CPU in strata_flows; 0 = no records. */
  readonly flowSampleEvery: number;
  /** At most this many records per CPU per second. */
  readonly flowMaxPerSecond: number;
}

/** The defaults compiled into lib/config.h, except for the node-specific fields. */
export const NODE_CONFIG_DEFAULTS = {
  nexthopMac: null,
  gatewayMac: 'ee:ee:ee:ee:ee:ee',
  gatewayAddress: '169.254.1.1',
  vxlanPort: 4789,
  podMtu: 1450,
  flowSampleEvery: 64,
  flowMaxPerSecond: 1024,
} as const satisfies Partial<NodeConfig>;

export type NodeConfigInput = Omit<NodeConfig, keyof typeof NODE_CONFIG_DEFAULTS> &
  Partial<NodeConfig>;

/** struct strata_config, for loadObject(path, { rodata: { [CONFIG_VARIABLE]: ... } }). */
export function encodeNodeConfig(input: NodeConfigInput): Buffer {
  const config: NodeConfig = { ...NODE_CONFIG_DEFAULTS, ...input };
  const out = Buffer.alloc(NODE_CONFIG_SIZE);
  encodeIpv4(config.vtepAddress).copy(out, 0);
  out.writeUInt32LE(checkUint(config.underlayIfindex, 32, 'underlayIfindex'), 4);
  encodeMac(config.vtepMac).copy(out, 8);
  if (config.nexthopMac !== null) encodeMac(config.nexthopMac).copy(out, 14);
  encodeMac(config.gatewayMac).copy(out, 20);
  out.writeUInt16LE(checkUint(config.vxlanPort, 16, 'vxlanPort'), 26);
  encodeIpv4(config.gatewayAddress).copy(out, 28);
  out.writeUInt32LE(checkUint(config.podMtu, 16, 'podMtu'), 32);
  out.writeUInt32LE(checkUint(config.flowSampleEvery, 32, 'flowSampleEvery'), 36);
  out.writeUInt32LE(checkUint(config.flowMaxPerSecond, 32, 'flowMaxPerSecond'), 40);
  return out;
}

export function decodeNodeConfig(value: Buffer): NodeConfig {
  checkSize(value, NODE_CONFIG_SIZE, 'node config');
  const nexthop = decodeMac(value, 14);
  return {
    vtepAddress: decodeIpv4(value, 0),
    underlayIfindex: value.readUInt32LE(4),
    vtepMac: decodeMac(value, 8),
    nexthopMac: nexthop === '00:00:00:00:00:00' ? null : nexthop,
    gatewayMac: decodeMac(value, 20),
    vxlanPort: value.readUInt16LE(26),
    gatewayAddress: decodeIpv4(value, 28),
    podMtu: value.readUInt32LE(32),
    flowSampleEvery: value.readUInt32LE(36),
    flowMaxPerSecond: value.readUInt32LE(40),
  };
}

// --- counters --------------------------------------------------------------------------------

/** Bytes per CPU in a per-CPU map value as the kernel returns it (rounded up to 8). */
export function perCpuStride(valueSize: number): number {
  return Math.ceil(valueSize / 8) * 8;
}

/** The sum over CPUs of the u64 at `offset` in each CPU's slot of a per-CPU value. */
export function sumPerCpu(value: Buffer, valueSize: number, offset = 0): bigint {
  const stride = perCpuStride(valueSize);
  if (value.length % stride !== 0) {
    throw new RangeError(`per-CPU value of ${value.length} bytes is not a multiple of ${stride}`);
  }
  let sum = 0n;
  for (let slot = 0; slot < value.length; slot += stride)
    sum += value.readBigUInt64LE(slot + offset);
  return sum;
}

/** A strata_drops or strata_stats value (per-CPU u64), summed. */
export function decodeCounter(value: Buffer): bigint {
  return sumPerCpu(value, COUNTER_VALUE_SIZE);
}

/** strata_traffic key: one identity pair in one direction. */
export interface TrafficKey {
  readonly srcIdentity: number;
  readonly dstIdentity: number;
  readonly direction: Direction;
}

export interface TrafficCount {
  /** GSO super-packets count their segments. */
  readonly packets: bigint;
  /** Inner frame bytes, Ethernet header included. */
  readonly bytes: bigint;
}

export function encodeTrafficKey(key: TrafficKey): Buffer {
  const out = Buffer.alloc(TRAFFIC_KEY_SIZE);
  out.writeUInt16LE(checkUint(key.srcIdentity, 16, 'srcIdentity'), 0);
  out.writeUInt16LE(checkUint(key.dstIdentity, 16, 'dstIdentity'), 2);
  out.writeUInt8(DIRECTIONS.indexOf(key.direction), 4);
  return out;
}

export function decodeTrafficKey(key: Buffer): TrafficKey {
  checkSize(key, TRAFFIC_KEY_SIZE, 'traffic key');
  return {
    srcIdentity: key.readUInt16LE(0),
    dstIdentity: key.readUInt16LE(2),
    direction: enumName(DIRECTIONS, key.readUInt8(4), 'direction'),
  };
}

/** A strata_traffic value (per-CPU), summed. */
export function decodeTraffic(value: Buffer): TrafficCount {
  return {
    packets: sumPerCpu(value, TRAFFIC_VALUE_SIZE, 0),
    bytes: sumPerCpu(value, TRAFFIC_VALUE_SIZE, 8),
  };
}

// --- flow records ----------------------------------------------------------------------------

/** One strata_flows record: a sampled packet and what became of it. */
export interface FlowRecord {
  /** bpf_ktime_get_ns(): CLOCK_MONOTONIC. */
  readonly timestampNs: bigint;
  /** Inner addresses; the outer ones for VXLAN dropped before the inner header parsed. */
  readonly source: string;
  readonly destination: string;
  /** 0 for fragments and protocols without ports. */
  readonly sourcePort: number;
  /** ICMP: type * 256 + code. */
  readonly destinationPort: number;
  readonly protocol: number;
  readonly point: Point;
  readonly outcome: Outcome;
  /** The drop reason if dropped, else the stat that was counted. */
  readonly code: DropReason | Stat;
  readonly srcIdentity: number;
  readonly dstIdentity: number;
  readonly vni: number;
  readonly bytes: number;
  /** How many packets this record stands for. */
  readonly sampleEvery: number;
}

export function decodeFlowRecord(record: Buffer): FlowRecord {
  checkSize(record, FLOW_RECORD_SIZE, 'flow record');
  const outcome = enumName(OUTCOMES, record.readUInt8(22), 'outcome');
  const code = record.readUInt8(23);
  return {
    timestampNs: record.readBigUInt64LE(0),
    source: decodeIpv4(record, 8),
    destination: decodeIpv4(record, 12),
    sourcePort: record.readUInt16BE(16),
    destinationPort: record.readUInt16BE(18),
    protocol: record.readUInt8(20),
    point: enumName(POINTS, record.readUInt8(21), 'point'),
    outcome,
    code:
      outcome === 'dropped'
        ? enumName(DROP_REASONS, code, 'drop reason')
        : enumName(STATS, code, 'stat'),
    srcIdentity: record.readUInt16LE(24),
    dstIdentity: record.readUInt16LE(26),
    vni: record.readUInt32LE(28),
    bytes: record.readUInt32LE(32),
    sampleEvery: record.readUInt32LE(36),
  };
}

// --- helpers ---------------------------------------------------------------------------------

function checkUint(value: number, bits: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** bits) {
    throw new RangeError(`${what} must be an integer 0-${2 ** bits - 1}, got ${value}`);
  }
  return value;
}

function checkSize(bytes: Buffer, size: number, what: string): void {
  if (bytes.length !== size) {
    throw new RangeError(`${what} is ${size} bytes, got ${bytes.length}`);
  }
}

function enumName<T extends string>(names: readonly T[], value: number, what: string): T {
  const name = names[value];
  if (name === undefined) throw new RangeError(`unknown ${what} ${value}`);
  return name;
}
