import { DomainError } from '../shared/errors';

const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

/**
 * A unicast Ethernet address as six colon-separated hex octets, case-insensitive; returns it in
 * lowercase (the canonical form stored in events, so comparisons are plain string equality).
 * Multicast and broadcast (low bit of the first octet set) and all-zero are rejected: these are
 * pod and VTEP addresses, which must be unicast.
 */
export function parseMac(value: unknown, what = 'MAC address'): string {
  const mac = typeof value === 'string' ? value.toLowerCase() : '';
  if (!MAC.test(mac)) {
    throw new DomainError(
      'InvalidMac',
      `${what} must look like 0a:58:0a:00:00:05, got ${JSON.stringify(value)}`,
    );
  }
  if ((parseInt(mac.slice(0, 2), 16) & 1) === 1) {
    throw new DomainError('InvalidMac', `${what} ${mac} is multicast or broadcast, not unicast`);
  }
  if (mac === '00:00:00:00:00:00') {
    throw new DomainError('InvalidMac', `${what} must not be all zeros`);
  }
  return mac;
}

export function isMac(value: unknown): boolean {
  try {
    parseMac(value);
    return true;
  } catch {
    return false;
  }
}
