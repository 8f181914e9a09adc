import { DomainError } from '../shared/errors';
import { formatIpv4, parseIpv4 } from './ipv4';

/** An IPv4 prefix. `network` has no host bits set; the block is `network .. network+size-1`. */
export interface Cidr {
  readonly network: number;
  readonly prefix: number;
}

/** An inclusive range of addresses as unsigned 32-bit integers. */
export interface AddressRange {
  readonly first: number;
  readonly last: number;
}

/**
 * Parses "a.b.c.d/n". The address must be the network address: "10.0.0.1/24" is rejected
 * (with the prefix it probably meant) instead of silently becoming 10.0.0.0/24.
 */
export function parseCidr(value: unknown, what = 'CIDR'): Cidr {
  const text = typeof value === 'string' ? value : '';
  const slash = text.indexOf('/');
  const prefixText = text.slice(slash + 1);
  if (slash < 0 || !/^(?:[0-9]|[12][0-9]|3[0-2])$/.test(prefixText)) {
    throw new DomainError(
      'InvalidCidr',
      `${what} must be an IPv4 prefix like 10.0.0.0/16, got ${JSON.stringify(value)}`,
    );
  }
  let address: number;
  try {
    address = parseIpv4(text.slice(0, slash));
  } catch {
    throw new DomainError(
      'InvalidCidr',
      `${what} must be an IPv4 prefix like 10.0.0.0/16, got ${JSON.stringify(value)}`,
    );
  }
  const prefix = Number(prefixText);
  const size = 2 ** (32 - prefix);
  if (address % size !== 0) {
    const network = address - (address % size);
    throw new DomainError(
      'InvalidCidr',
      `${what} ${text} has host bits set; did you mean ${formatIpv4(network)}/${prefix}?`,
    );
  }
  return { network: address, prefix };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIpv4(cidr.network)}/${cidr.prefix}`;
}

/** Number of addresses in the block (2^(32-prefix)). */
export function cidrSize(cidr: Cidr): number {
  return 2 ** (32 - cidr.prefix);
}

export function cidrRange(cidr: Cidr): AddressRange {
  return { first: cidr.network, last: cidr.network + cidrSize(cidr) - 1 };
}

export function cidrContains(cidr: Cidr, address: number): boolean {
  const { first, last } = cidrRange(cidr);
  return address >= first && address <= last;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return rangesOverlap(cidrRange(a), cidrRange(b));
}

/** The first pair of overlapping blocks in `cidrs`, if any (duplicates overlap). */
export function findOverlap(cidrs: readonly Cidr[]): [Cidr, Cidr] | undefined {
  for (let i = 0; i < cidrs.length; i++) {
    for (let j = i + 1; j < cidrs.length; j++) {
      if (cidrsOverlap(cidrs[i], cidrs[j])) return [cidrs[i], cidrs[j]];
    }
  }
  return undefined;
}

/** Parses `{ first, last }` address texts into a range; `first` must not be after `last`. */
export function parseAddressRange(
  value: { readonly first: unknown; readonly last: unknown },
  what = 'range',
): AddressRange {
  const first = parseIpv4(value.first, `${what} first address`);
  const last = parseIpv4(value.last, `${what} last address`);
  if (first > last) {
    throw new DomainError(
      'InvalidIp',
      `${what} ${formatIpv4(first)}-${formatIpv4(last)} ends before it starts`,
    );
  }
  return { first, last };
}

export function formatAddressRange(range: AddressRange): { first: string; last: string } {
  return { first: formatIpv4(range.first), last: formatIpv4(range.last) };
}

export function rangesOverlap(a: AddressRange, b: AddressRange): boolean {
  return a.first <= b.last && b.first <= a.last;
}

export function rangeContains(outer: AddressRange, inner: AddressRange): boolean {
  return inner.first >= outer.first && inner.last <= outer.last;
}

/** Sorted, with overlapping and adjacent ranges merged: the canonical form of a range set. */
export function mergeRanges(ranges: readonly AddressRange[]): AddressRange[] {
  const sorted = [...ranges].sort((a, b) => a.first - b.first || a.last - b.last);
  const merged: AddressRange[] = [];
  for (const range of sorted) {
    const previous = merged[merged.length - 1];
    if (previous !== undefined && range.first <= previous.last + 1) {
      merged[merged.length - 1] = {
        first: previous.first,
        last: Math.max(previous.last, range.last),
      };
    } else {
      merged.push(range);
    }
  }
  return merged;
}

/** The part of `range` inside `bounds`, or undefined when they do not overlap. */
export function clipRange(range: AddressRange, bounds: AddressRange): AddressRange | undefined {
  if (!rangesOverlap(range, bounds)) return undefined;
  return { first: Math.max(range.first, bounds.first), last: Math.min(range.last, bounds.last) };
}
