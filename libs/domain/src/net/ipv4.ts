import { DomainError } from '../shared/errors';

/**
 * IPv4 addresses. Strata is IPv4-only for now (pods, VTEPs, VIPs, pools); IPv6 will arrive as
 * new validators and new event fields, not as a change to these.
 *
 * In the domain an address travels as its dotted-quad text (readable in the log); arithmetic
 * uses its value as an unsigned 32-bit integer (`number`, 0 .. 2^32-1).
 */

// Four decimal octets 0-255 without leading zeros: "010.1.1.1" is octal in some parsers and
// decimal in others, so it is rejected rather than guessed.
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

export function isIpv4(value: unknown): value is string {
  return typeof value === 'string' && IPV4.test(value);
}

/** The address as an unsigned 32-bit integer; throws InvalidIp naming `what`. */
export function parseIpv4(value: unknown, what = 'address'): number {
  if (!isIpv4(value)) {
    throw new DomainError(
      'InvalidIp',
      `${what} must be an IPv4 address like 10.0.0.1, got ${JSON.stringify(value)}`,
    );
  }
  return value.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/**
 * An address a single host can use: not in 0.0.0.0/8 ("this network"), 127.0.0.0/8
 * (loopback), 224.0.0.0/4 (multicast) or 240.0.0.0/4 (reserved, broadcast). Pod IPs, VTEPs and
 * VIPs must be host addresses. Returns the canonical text.
 */
export function assertHostIpv4(value: unknown, what: string): string {
  const address = parseIpv4(value, what);
  const first = address >>> 24;
  if (first === 0 || first === 127 || first >= 224) {
    throw new DomainError(
      'InvalidIp',
      `${what} ${formatIpv4(address)} is not a host address (0/8, loopback, multicast and 240/4 are not)`,
    );
  }
  return formatIpv4(address);
}
