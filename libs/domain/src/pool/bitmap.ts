/**
 * Fixed-size bit sets over a shard's slice (bit i = the slice's i-th address), copied on write:
 * no function here changes its argument, so evolve stays pure. 1024 addresses take 128 bytes.
 */
export type Bitmap = Uint32Array;

export function emptyBitmap(size: number): Bitmap {
  return new Uint32Array(Math.ceil(size / 32));
}

export function hasBit(bits: Bitmap, i: number): boolean {
  return (bits[i >>> 5] & (1 << (i & 31))) !== 0;
}

export function withBit(bits: Bitmap, i: number): Bitmap {
  const copy = bits.slice();
  copy[i >>> 5] |= 1 << (i & 31);
  return copy;
}

export function withoutBit(bits: Bitmap, i: number): Bitmap {
  const copy = bits.slice();
  copy[i >>> 5] &= ~(1 << (i & 31));
  return copy;
}

/** With bits `from..to` (inclusive) set. */
export function withRange(bits: Bitmap, from: number, to: number): Bitmap {
  const copy = bits.slice();
  for (let i = from; i <= to; i++) copy[i >>> 5] |= 1 << (i & 31);
  return copy;
}

export function allSet(bits: Bitmap, from: number, to: number): boolean {
  for (let i = from; i <= to; i++) if (!hasBit(bits, i)) return false;
  return true;
}

export function countBits(bits: Bitmap): number {
  let count = 0;
  for (const word of bits) {
    let w = word;
    while (w !== 0) {
      w &= w - 1;
      count++;
    }
  }
  return count;
}

/** The lowest index below `size` set in neither `a` nor `b`, or undefined. */
export function firstClearInBoth(a: Bitmap, b: Bitmap, size: number): number | undefined {
  for (let word = 0; word < a.length; word++) {
    const free = ~(a[word] | b[word]);
    if (free !== 0) {
      const i = word * 32 + (31 - Math.clz32(free & -free));
      return i < size ? i : undefined;
    }
  }
  return undefined;
}
