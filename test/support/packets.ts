/**
 * A small, pure packet builder and parser for dataplane tests: Ethernet, ARP, IPv4 (with
 * options, fragments and correct checksums unless told otherwise), UDP, TCP, ICMP and VXLAN-GBP.
 * Builders return Buffers; parsers return plain objects with every field decoded, checksum
 * validity included, so tests can compare fields and exact bytes.
 */

export const ETH_P_IPV4 = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_IPV6 = 0x86dd;

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;

export const ETH_HLEN = 14;
export const VXLAN_PORT = 4789;
export const VXLAN_FLAG_G = 0x80000000;
export const VXLAN_FLAG_I = 0x08000000;

// --- addresses and checksums -----------------------------------------------------------------

export function ipBytes(address: string): Buffer {
  const octets = address.split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) {
    throw new TypeError(`not an IPv4 address: '${address}'`);
  }
  return Buffer.from(octets);
}

export function ipString(bytes: Buffer, offset = 0): string {
  return [...bytes.subarray(offset, offset + 4)].join('.');
}

export function macBytes(mac: string): Buffer {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) throw new TypeError(`not a MAC: '${mac}'`);
  return Buffer.from(mac.replace(/:/g, ''), 'hex');
}

export function macString(bytes: Buffer, offset = 0): string {
  return [...bytes.subarray(offset, offset + 6)]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join(':');
}

/** RFC 1071 checksum over the concatenation of `parts` (complemented, ready to store). */
export function internetChecksum(...parts: Buffer[]): number {
  const data = Buffer.concat(parts);
  let sum = 0;
  for (let i = 0; i + 1 < data.length; i += 2) sum += data.readUInt16BE(i);
  if (data.length % 2 === 1) sum += data[data.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function pseudoHeader(src: string, dst: string, protocol: number, length: number): Buffer {
  const header = Buffer.alloc(12);
  ipBytes(src).copy(header, 0);
  ipBytes(dst).copy(header, 4);
  header[9] = protocol;
  header.writeUInt16BE(length, 10);
  return header;
}

// --- Ethernet --------------------------------------------------------------------------------

export interface EthernetFields {
  readonly dst: string;
  readonly src: string;
  readonly type: number;
}

export function ethernet(fields: EthernetFields, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(ETH_HLEN);
  macBytes(fields.dst).copy(header, 0);
  macBytes(fields.src).copy(header, 6);
  header.writeUInt16BE(fields.type, 12);
  return Buffer.concat([header, payload]);
}

export interface ParsedEthernet extends EthernetFields {
  readonly payload: Buffer;
}

export function parseEthernet(frame: Buffer): ParsedEthernet {
  need(frame, ETH_HLEN, 'Ethernet header');
  return {
    dst: macString(frame, 0),
    src: macString(frame, 6),
    type: frame.readUInt16BE(12),
    payload: frame.subarray(ETH_HLEN),
  };
}

// --- ARP -------------------------------------------------------------------------------------

export interface ArpFields {
  readonly op: number;
  readonly senderMac: string;
  readonly senderIp: string;
  readonly targetMac: string;
  readonly targetIp: string;
  /** Defaults: Ethernet (1), IPv4, 6, 4. */
  readonly htype?: number;
  readonly ptype?: number;
  readonly hlen?: number;
  readonly plen?: number;
}

export function arp(fields: ArpFields): Buffer {
  const out = Buffer.alloc(28);
  out.writeUInt16BE(fields.htype ?? 1, 0);
  out.writeUInt16BE(fields.ptype ?? ETH_P_IPV4, 2);
  out[4] = fields.hlen ?? 6;
  out[5] = fields.plen ?? 4;
  out.writeUInt16BE(fields.op, 6);
  macBytes(fields.senderMac).copy(out, 8);
  ipBytes(fields.senderIp).copy(out, 14);
  macBytes(fields.targetMac).copy(out, 18);
  ipBytes(fields.targetIp).copy(out, 24);
  return out;
}

export function parseArp(packet: Buffer): Required<ArpFields> {
  need(packet, 28, 'ARP');
  return {
    htype: packet.readUInt16BE(0),
    ptype: packet.readUInt16BE(2),
    hlen: packet[4],
    plen: packet[5],
    op: packet.readUInt16BE(6),
    senderMac: macString(packet, 8),
    senderIp: ipString(packet, 14),
    targetMac: macString(packet, 18),
    targetIp: ipString(packet, 24),
  };
}

// --- IPv4 ------------------------------------------------------------------------------------

export interface Ipv4Fields {
  readonly src: string;
  readonly dst: string;
  readonly protocol: number;
  readonly ttl?: number;
  readonly tos?: number;
  readonly id?: number;
  /** Don't fragment; default true (what Linux sends with PMTU discovery). */
  readonly df?: boolean;
  readonly mf?: boolean;
  /** In bytes, a multiple of 8. */
  readonly fragmentOffset?: number;
  /** Padded to a multiple of 4 bytes. */
  readonly options?: Buffer;
  /** Overrides for malformed packets; the checksum is still computed unless given. */
  readonly version?: number;
  readonly ihl?: number;
  readonly totalLength?: number;
  readonly checksum?: number;
}

export function ipv4(fields: Ipv4Fields, payload: Buffer = Buffer.alloc(0)): Buffer {
  const options = fields.options ?? Buffer.alloc(0);
  const paddedOptions = Buffer.concat([options, Buffer.alloc((4 - (options.length % 4)) % 4)]);
  const headerLength = 20 + paddedOptions.length;
  const header = Buffer.alloc(headerLength);
  const offset = fields.fragmentOffset ?? 0;
  if (offset % 8 !== 0) throw new RangeError('fragment offset must be a multiple of 8');
  header[0] = ((fields.version ?? 4) << 4) | (fields.ihl ?? headerLength / 4);
  header[1] = fields.tos ?? 0;
  header.writeUInt16BE(fields.totalLength ?? headerLength + payload.length, 2);
  header.writeUInt16BE(fields.id ?? 0, 4);
  const flags = ((fields.df ?? true) ? 0x4000 : 0) | (fields.mf ? 0x2000 : 0);
  header.writeUInt16BE(flags | (offset / 8), 6);
  header[8] = fields.ttl ?? 64;
  header[9] = fields.protocol;
  ipBytes(fields.src).copy(header, 12);
  ipBytes(fields.dst).copy(header, 16);
  paddedOptions.copy(header, 20);
  header.writeUInt16BE(fields.checksum ?? internetChecksum(header), 10);
  return Buffer.concat([header, payload]);
}

export interface ParsedIpv4 {
  readonly version: number;
  readonly ihl: number;
  readonly tos: number;
  readonly totalLength: number;
  readonly id: number;
  readonly df: boolean;
  readonly mf: boolean;
  readonly fragmentOffset: number;
  readonly ttl: number;
  readonly protocol: number;
  readonly checksum: number;
  readonly checksumValid: boolean;
  readonly src: string;
  readonly dst: string;
  readonly options: Buffer;
  /** Up to totalLength (Ethernet padding removed). */
  readonly payload: Buffer;
}

export function parseIpv4(packet: Buffer): ParsedIpv4 {
  need(packet, 20, 'IPv4 header');
  const ihl = packet[0] & 0x0f;
  need(packet, ihl * 4, 'IPv4 options');
  const totalLength = packet.readUInt16BE(2);
  const flags = packet.readUInt16BE(6);
  return {
    version: packet[0] >> 4,
    ihl,
    tos: packet[1],
    totalLength,
    id: packet.readUInt16BE(4),
    df: (flags & 0x4000) !== 0,
    mf: (flags & 0x2000) !== 0,
    fragmentOffset: (flags & 0x1fff) * 8,
    ttl: packet[8],
    protocol: packet[9],
    checksum: packet.readUInt16BE(10),
    checksumValid: internetChecksum(packet.subarray(0, ihl * 4)) === 0,
    src: ipString(packet, 12),
    dst: ipString(packet, 16),
    options: packet.subarray(20, ihl * 4),
    payload: packet.subarray(ihl * 4, Math.min(totalLength, packet.length)),
  };
}

/** A copy of an IPv4 packet with another TTL and its header checksum recomputed. */
export function withTtl(packet: Buffer, ttl: number): Buffer {
  const copy = Buffer.from(packet);
  const headerLength = (copy[0] & 0x0f) * 4;
  copy[8] = ttl;
  copy.writeUInt16BE(0, 10);
  copy.writeUInt16BE(internetChecksum(copy.subarray(0, headerLength)), 10);
  return copy;
}

/** Splits an IPv4 packet into fragments whose total length is at most `mtu` (RFC 791). */
export function fragmentIpv4(packet: Buffer, mtu: number): Buffer[] {
  const ip = parseIpv4(packet);
  const headerLength = ip.ihl * 4;
  const chunk = Math.floor((mtu - headerLength) / 8) * 8;
  if (chunk <= 0) throw new RangeError(`MTU ${mtu} leaves no room for data`);
  const fragments: Buffer[] = [];
  for (let start = 0; start < ip.payload.length; start += chunk) {
    const data = ip.payload.subarray(start, start + chunk);
    const last = start + chunk >= ip.payload.length;
    fragments.push(
      ipv4(
        {
          src: ip.src,
          dst: ip.dst,
          protocol: ip.protocol,
          ttl: ip.ttl,
          tos: ip.tos,
          id: ip.id,
          df: false,
          mf: !last || ip.mf,
          fragmentOffset: ip.fragmentOffset + start,
          // RFC 791 copies options with the copy bit to every fragment; tests use none.
          options: start === 0 ? ip.options : Buffer.alloc(0),
        },
        data,
      ),
    );
  }
  return fragments;
}

// --- UDP, TCP, ICMP --------------------------------------------------------------------------

/** The addresses a transport checksum covers (its IPv4 pseudo-header). */
export interface Endpoints {
  readonly src: string;
  readonly dst: string;
}

export interface UdpFields extends Endpoints {
  readonly sport: number;
  readonly dport: number;
  /** Default: computed. 0 means "no checksum" for UDP over IPv4. */
  readonly checksum?: number;
  readonly length?: number;
}

export function udp(fields: UdpFields, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(8);
  const length = 8 + payload.length;
  header.writeUInt16BE(fields.sport, 0);
  header.writeUInt16BE(fields.dport, 2);
  header.writeUInt16BE(fields.length ?? length, 4);
  let checksum = fields.checksum;
  if (checksum === undefined) {
    const computed = internetChecksum(
      pseudoHeader(fields.src, fields.dst, IPPROTO_UDP, length),
      header,
      payload,
    );
    checksum = computed === 0 ? 0xffff : computed;
  }
  header.writeUInt16BE(checksum, 6);
  return Buffer.concat([header, payload]);
}

export interface ParsedUdp {
  readonly sport: number;
  readonly dport: number;
  readonly length: number;
  readonly checksum: number;
  readonly payload: Buffer;
}

export function parseUdp(segment: Buffer): ParsedUdp {
  need(segment, 8, 'UDP header');
  return {
    sport: segment.readUInt16BE(0),
    dport: segment.readUInt16BE(2),
    length: segment.readUInt16BE(4),
    checksum: segment.readUInt16BE(6),
    payload: segment.subarray(8),
  };
}

export const TCP_SYN = 0x02;
export const TCP_ACK = 0x10;
export const TCP_PSH = 0x08;

export interface TcpFields extends Endpoints {
  readonly sport: number;
  readonly dport: number;
  readonly seq?: number;
  readonly ack?: number;
  readonly flags?: number;
  readonly window?: number;
}

export function tcp(fields: TcpFields, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(20);
  header.writeUInt16BE(fields.sport, 0);
  header.writeUInt16BE(fields.dport, 2);
  header.writeUInt32BE(fields.seq ?? 0, 4);
  header.writeUInt32BE(fields.ack ?? 0, 8);
  header[12] = 5 << 4;
  header[13] = fields.flags ?? TCP_ACK;
  header.writeUInt16BE(fields.window ?? 65535, 14);
  const pseudo = pseudoHeader(fields.src, fields.dst, IPPROTO_TCP, 20 + payload.length);
  header.writeUInt16BE(internetChecksum(pseudo, header, payload), 16);
  return Buffer.concat([header, payload]);
}

export interface IcmpFields {
  readonly type: number;
  readonly code?: number;
  /** The 4 bytes after the checksum (echo: id and sequence; frag needed: unused and MTU). */
  readonly rest?: Buffer;
}

export function icmp(fields: IcmpFields, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(8);
  header[0] = fields.type;
  header[1] = fields.code ?? 0;
  (fields.rest ?? Buffer.alloc(4)).copy(header, 4);
  header.writeUInt16BE(internetChecksum(header, payload), 2);
  return Buffer.concat([header, payload]);
}

export function icmpEcho(id: number, sequence: number, payload: Buffer): Buffer {
  const rest = Buffer.alloc(4);
  rest.writeUInt16BE(id, 0);
  rest.writeUInt16BE(sequence, 2);
  return icmp({ type: 8, rest }, payload);
}

export interface ParsedIcmp {
  readonly type: number;
  readonly code: number;
  readonly checksum: number;
  readonly checksumValid: boolean;
  readonly rest: Buffer;
  readonly payload: Buffer;
}

export function parseIcmp(message: Buffer): ParsedIcmp {
  need(message, 8, 'ICMP header');
  return {
    type: message[0],
    code: message[1],
    checksum: message.readUInt16BE(2),
    checksumValid: internetChecksum(message) === 0,
    rest: message.subarray(4, 8),
    payload: message.subarray(8),
  };
}

/** Whether the TCP, UDP or ICMP checksum of an IPv4 packet is valid (UDP 0 = none = valid). */
export function transportChecksumValid(packet: Buffer): boolean {
  const ip = parseIpv4(packet);
  switch (ip.protocol) {
    case IPPROTO_ICMP:
      return internetChecksum(ip.payload) === 0;
    case IPPROTO_UDP:
      if (parseUdp(ip.payload).checksum === 0) return true;
      return checksumWithPseudo(ip);
    case IPPROTO_TCP:
      return checksumWithPseudo(ip);
    default:
      throw new RangeError(`no transport checksum for protocol ${ip.protocol}`);
  }
}

function checksumWithPseudo(ip: ParsedIpv4): boolean {
  const pseudo = pseudoHeader(ip.src, ip.dst, ip.protocol, ip.payload.length);
  return internetChecksum(pseudo, ip.payload) === 0;
}

// --- VXLAN-GBP -------------------------------------------------------------------------------

export interface VxlanFields {
  readonly vni: number;
  /** The GBP group policy id (source identity); undefined: no G flag. */
  readonly groupPolicyId?: number;
  /** Overrides the whole flags word (G, I, D, A and the policy id). */
  readonly flags?: number;
}

export function vxlan(fields: VxlanFields, innerFrame: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(8);
  const gbp =
    fields.groupPolicyId === undefined ? 0 : VXLAN_FLAG_G | (fields.groupPolicyId & 0xffff);
  header.writeUInt32BE((fields.flags ?? VXLAN_FLAG_I | gbp) >>> 0, 0);
  header.writeUInt32BE((fields.vni << 8) >>> 0, 4);
  return Buffer.concat([header, innerFrame]);
}

export interface ParsedVxlan {
  readonly flags: number;
  readonly gbp: boolean;
  readonly vniValid: boolean;
  readonly groupPolicyId: number;
  readonly vni: number;
  readonly payload: Buffer;
}

export function parseVxlan(message: Buffer): ParsedVxlan {
  need(message, 8, 'VXLAN header');
  const flags = message.readUInt32BE(0);
  return {
    flags,
    gbp: (flags & VXLAN_FLAG_G) !== 0,
    vniValid: (flags & VXLAN_FLAG_I) !== 0,
    groupPolicyId: flags & 0xffff,
    vni: message.readUInt32BE(4) >>> 8,
    payload: message.subarray(8),
  };
}

/** An Ethernet/IPv4/UDP/VXLAN frame around `innerFrame`, as a VTEP sends it. */
export interface VxlanFrameFields {
  readonly outerDstMac: string;
  readonly outerSrcMac: string;
  readonly outerSrc: string;
  readonly outerDst: string;
  readonly sport: number;
  readonly dport?: number;
  readonly ttl?: number;
  readonly tos?: number;
  readonly vxlan: VxlanFields;
}

export function vxlanFrame(fields: VxlanFrameFields, innerFrame: Buffer): Buffer {
  const endpoints = { src: fields.outerSrc, dst: fields.outerDst };
  return ethernet(
    { dst: fields.outerDstMac, src: fields.outerSrcMac, type: ETH_P_IPV4 },
    ipv4(
      { ...endpoints, protocol: IPPROTO_UDP, ttl: fields.ttl ?? 64, tos: fields.tos ?? 0 },
      udp(
        {
          ...endpoints,
          sport: fields.sport,
          dport: fields.dport ?? VXLAN_PORT,
          checksum: 0,
        },
        vxlan(fields.vxlan, innerFrame),
      ),
    ),
  );
}

function need(bytes: Buffer, length: number, what: string): void {
  if (bytes.length < length) {
    throw new RangeError(`${what} needs ${length} bytes, got ${bytes.length}`);
  }
}
