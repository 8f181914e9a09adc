/**
 * A Bloom filter of strings (event ids) in a fixed number of bits: `mightContain` is never
 * false for an id that was added, and true for one that was not with a probability that grows
 * with the ids added: about (1 - e^(-k·n/m))^k for n ids in m bits with k hashes — 1% for
 * n ≈ m / 9.6 at k = 7. Memory stays m / 8 bytes however many ids are added.
 *
 * The k positions come from two 32-bit FNV-1a hashes (different offset bases) combined as
 * h1 + i·h2 (Kirsch and Mitzenmacher), one pass over the string.
 */
export class IdFilter {
  private readonly bits: Uint32Array;
  private readonly mask: number;
  private added = 0;

  constructor(
    /** A power of two, at least 32. */
    readonly sizeBits: number,
    readonly hashes = 7,
  ) {
    if (!Number.isSafeInteger(sizeBits) || sizeBits < 32 || (sizeBits & (sizeBits - 1)) !== 0) {
      throw new RangeError(
        `the filter size must be a power of two of at least 32, got ${sizeBits}`,
      );
    }
    if (!Number.isInteger(hashes) || hashes < 1 || hashes > 32) {
      throw new RangeError(`the number of hashes must be 1-32, got ${hashes}`);
    }
    this.bits = new Uint32Array(sizeBits / 32);
    this.mask = sizeBits - 1;
  }

  /** Ids added so far (with repeats). */
  get count(): number {
    return this.added;
  }

  add(id: string): void {
    const [h1, h2] = hash(id);
    for (let i = 0; i < this.hashes; i++) {
      const bit = (h1 + Math.imul(i, h2)) & this.mask;
      this.bits[bit >>> 5] |= 1 << (bit & 31);
    }
    this.added++;
  }

  mightContain(id: string): boolean {
    const [h1, h2] = hash(id);
    for (let i = 0; i < this.hashes; i++) {
      const bit = (h1 + Math.imul(i, h2)) & this.mask;
      if ((this.bits[bit >>> 5] & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}

const FNV_PRIME = 0x01000193;

function hash(value: string): [number, number] {
  let h1 = 0x811c9dc5;
  let h2 = 0x050c5d1f;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    h1 = Math.imul(h1 ^ code, FNV_PRIME);
    h2 = Math.imul(h2 ^ code, FNV_PRIME);
  }
  // An odd step visits distinct bits for every i (the size is a power of two).
  return [h1 >>> 0, (h2 | 1) >>> 0];
}
