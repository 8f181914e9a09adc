import { cidrsOverlap, formatIpv4, parseCidr, parseIpv4, type Cidr } from '@strata/domain';
import { CliError } from '../errors';

/**
 * The lab's address plan, pure: the underlay /24 and the pod /16 are the first candidates that
 * overlap no route of the root namespace (everything lives in namespaces, so nothing could clash;
 * this keeps addresses unambiguous for whoever reads both tables), and the MACs derive from the
 * addresses.
 */

/** 192.168.200.0/24 .. 192.168.254.0/24. */
export const UNDERLAY_CANDIDATES: readonly string[] = range(200, 254).map(
  (x) => `192.168.${x}.0/24`,
);
/** 10.244.0.0/16 .. 10.254.0.0/16. */
export const POD_CANDIDATES: readonly string[] = range(244, 254).map((x) => `10.${x}.0.0/16`);

/**
 * The first candidate that overlaps none of `routes` (destinations as `ip -j route` prints
 * them: `default`, `10.0.0.0/8`, `192.168.1.7`). A default route overlaps nothing: it is where
 * unknown traffic goes, not an address in use.
 */
export function pickSubnet(
  candidates: readonly string[],
  routes: readonly string[],
  what: string,
): string {
  const used = routes.flatMap((route): Cidr[] => {
    if (route === 'default') return [];
    const [address, prefix = '32'] = route.split('/');
    try {
      const value = parseIpv4(address);
      const length = Number(prefix);
      const size = 2 ** (32 - length);
      return [{ network: value - (value % size), prefix: length }];
    } catch {
      return []; // not IPv4 (a multicast or blackhole keyword): not an address block
    }
  });
  for (const candidate of candidates) {
    const cidr = parseCidr(candidate);
    if (!used.some((route) => cidrsOverlap(route, cidr))) return candidate;
  }
  throw new CliError(
    'NoFreeSubnet',
    `every ${what} candidate (${candidates[0]} .. ${candidates[candidates.length - 1]}) overlaps a route of the root namespace`,
  );
}

/** Host `index` of a /24: `192.168.200.0/24`, 3 -> `192.168.200.3`. */
export function hostAddress(subnet: string, index: number): string {
  return formatIpv4(parseCidr(subnet).network + index);
}

/** A locally administered unicast MAC: 02:00 then the four address bytes. */
export function vtepMac(address: string): string {
  return `02:00:${hexBytes(address)}`;
}

/** The CNI convention: 0a:58 then the four address bytes. */
export function podMac(address: string): string {
  return `0a:58:${hexBytes(address)}`;
}

function hexBytes(address: string): string {
  return address
    .split('.')
    .map((octet) => Number(octet).toString(16).padStart(2, '0'))
    .join(':');
}

function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}
