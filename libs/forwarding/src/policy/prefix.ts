import { isIpv4, parseCidr, parseIpv4, type Cidr } from '@strata/domain';

/**
 * IPv4 prefixes and port blocks as the LPM tries see them. Pure arithmetic, no I/O.
 */

/** `a.b.c.d/len` of a parsed prefix, its network as an unsigned 32-bit integer. */
export interface Prefix extends Cidr {
  readonly key: string;
}

/** The prefix of `text`, or undefined when it is not a canonical IPv4 prefix. */
export function toPrefix(text: string): Prefix | undefined {
  try {
    const cidr = parseCidr(text);
    return { ...cidr, key: text };
  } catch {
    return undefined;
  }
}

/** The address as an unsigned 32-bit integer, or undefined when it is not dotted-quad IPv4. */
export function addressValue(text: string): number | undefined {
  return isIpv4(text) ? parseIpv4(text) : undefined;
}

/** The first `length` bits of `address`, the rest zero. */
export function maskAddress(address: number, length: number): number {
  if (length === 0) return 0;
  const size = 2 ** (32 - length);
  return address - (address % size);
}

export function prefixContainsAddress(prefix: Cidr, address: number): boolean {
  return maskAddress(address, prefix.prefix) === prefix.network;
}

/** `outer` contains every address of `inner`. */
export function prefixCovers(outer: Cidr, inner: Cidr): boolean {
  return outer.prefix <= inner.prefix && maskAddress(inner.network, outer.prefix) === outer.network;
}

/**
 * The maximal aligned power-of-two blocks covering the inclusive port range `lo`-`hi`, as
 * `[start, bits]` (the top `bits` of the 16-bit port fixed): 80-81 is `[80, 15]`, 1-3 is
 * `[1, 16], [2, 15]`. A whole 0-65535 range is one block of 0 bits.
 */
export function portBlocks(lo: number, hi: number): [number, number][] {
  const blocks: [number, number][] = [];
  let start = lo;
  while (start <= hi) {
    let size = 1;
    let bits = 16;
    // Grow while the block stays aligned and inside the range.
    while (bits > 0 && start % (size * 2) === 0 && start + size * 2 - 1 <= hi) {
      size *= 2;
      bits--;
    }
    blocks.push([start, bits]);
    start += size;
  }
  return blocks;
}

/** FNV-1a over UTF-16 code units, 32 bits. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}
